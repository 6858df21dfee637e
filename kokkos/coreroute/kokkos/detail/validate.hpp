#pragma once
// Checks of the host API (docs/spec.md section 6) for Views in any memory space: shapes and
// tokens on the host (B ints), logits by one reduction in the execution space that
// finds the first invalid entry in the reference's order, then names it.
#include <cstdint>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>

#include <coreroute/config.hpp>
#include <coreroute/detail/scores.hpp>
#include <coreroute/error.hpp>
#include <coreroute/views.hpp>

namespace coreroute::kokkos::detail {

/// What "checks Views' rank and memory space up front" means at compile time.
template <class ExecSpace, class V, unsigned Rank>
void static_check_view() {
  static_assert(Kokkos::is_view<V>::value, "coreroute::kokkos: expected a Kokkos::View");
  static_assert(unsigned(V::rank) == Rank, "coreroute::kokkos: the View has the wrong rank");
  static_assert(Kokkos::SpaceAccessibility<ExecSpace, typename V::memory_space>::accessible,
                "coreroute::kokkos: the View's memory space is not accessible from the execution space");
}

/// Host copy of tokens_per_block, or empty when the view is empty (every block has N).
template <class TokensV>
std::vector<int32_t> host_tokens(const TokensV& tokens, int64_t B) {
  using coreroute::detail::require;
  require(tokens.extent(0) == 0 || int64_t(tokens.extent(0)) == B, "tokens_per_block.extent(0)", tokens.extent(0),
          "must be 0 (every block has N tokens) or blocks = " + std::to_string(B));
  std::vector<int32_t> h(tokens.extent(0));
  Kokkos::View<int32_t*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> hv(h.data(), h.size());
  Kokkos::deep_copy(hv, tokens);
  return h;
}

/// Shape checks shared with the reference (same parameter names in the messages).
template <class LogitsV>
void validate_shape(const LogitsV& x, const RouterConfig& c, const std::vector<int32_t>& tokens) {
  using T = typename LogitsV::non_const_value_type;
  LogitsView<T> shape{x.data(),
                      int64_t(x.extent(0)),
                      int64_t(x.extent(1)),
                      int64_t(x.extent(2)),
                      int64_t(x.stride(0)),
                      int64_t(x.stride(1)),
                      int64_t(x.stride(2)),
                      nullptr};
  coreroute::detail::validate_shape(shape, c, tokens.empty() ? nullptr : tokens.data());
}

/// NaN / +Inf logits and all -Inf softmax rows, named as the reference names them.
template <class ExecSpace, class LogitsV, class TokensV>
void validate_logits(const ExecSpace& exec, const LogitsV& x, const TokensV& tokens, const RouterConfig& c) {
  const int64_t B = int64_t(x.extent(0)), N = int64_t(x.extent(1)), M = int64_t(x.extent(2));
  if (B == 0 || N == 0 || M == 0) return;
  const bool softmax = c.score == ScoreFunction::softmax;
  const bool per_block = tokens.extent(0) != 0;
  // Code row * (M + 1) + i: expert i is invalid; i = M: the row is all -Inf (softmax).
  int64_t first = INT64_MAX;
  Kokkos::parallel_reduce(
      "coreroute::kokkos::validate_logits", Kokkos::RangePolicy<ExecSpace>(exec, 0, B * N),
      KOKKOS_LAMBDA(const int64_t row, int64_t& best) {
        const int64_t b = row / N, n = row % N;
        if (n >= (per_block ? int64_t(tokens(b)) : N)) return;
        bool all_neg_inf = true;
        for (int64_t i = 0; i < M; ++i) {
          const double v = double(x(b, n, i));
          if (coreroute::detail::invalid_logit(v)) {
            const int64_t code = row * (M + 1) + i;
            best = code < best ? code : best;
            return;
          }
          all_neg_inf = all_neg_inf && !(v > -double(INFINITY));
        }
        if (softmax && all_neg_inf) best = row * (M + 1) + M < best ? row * (M + 1) + M : best;
      },
      Kokkos::Min<int64_t>(first));
  if (first == INT64_MAX) return;
  const int64_t row = first / (M + 1), i = first % (M + 1), b = row / N, n = row % N;
  const std::string where = "logits[block " + std::to_string(b) + ", token " + std::to_string(n);
  coreroute::detail::require(i != M, where + ", :]", "-inf", "a softmax row of all -Inf logits is invalid");
  const auto v = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), Kokkos::subview(x, b, n, i));
  coreroute::detail::fail(where + ", expert " + std::to_string(i) + "]", double(v()),
                          "NaN and +Inf logits are invalid");
}

}  // namespace coreroute::kokkos::detail
