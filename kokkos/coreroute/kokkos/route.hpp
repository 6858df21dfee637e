#pragma once
// Kokkos routing (docs/spec.md sections 3-4) on any execution space, for every policy type of
// include/coreroute/policies.hpp. Inputs are Views (any layout, any memory space the
// execution space can read) or raw pointers; results are RoutingViews in the
// execution space's memory space.
//
//   route(exec, logits, tokens, config, policy)           checked, then Stage 1 + 2
//   route_unchecked(...)                                  raw: invalid tokens get ids -1
//                                                         and are counted, nothing thrown
//   route_in_coreset(exec, logits, tokens, config, mask)  Stage 2 alone, checked
//
// `logits` is a rank-3 View [B, N, M] (float or double); `tokens` a rank-1 View of B
// int32 (rows routed per block), or an empty View: every block has N tokens.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>

#include <coreroute/config.hpp>
#include <coreroute/error.hpp>
#include <coreroute/policies.hpp>
#include <coreroute/views.hpp>
#include <coreroute/kokkos/detail/block_router.hpp>
#include <coreroute/kokkos/detail/launch.hpp>
#include <coreroute/kokkos/detail/validate.hpp>
#include <coreroute/kokkos/routing_views.hpp>

namespace coreroute::kokkos {

template <class ExecSpace>
using TokensView = Kokkos::View<const int32_t*, typename ExecSpace::memory_space>;
template <class ExecSpace>
using CoresetView = Kokkos::View<const uint8_t**, Kokkos::LayoutRight, typename ExecSpace::memory_space>;

namespace detail {

/// The config's bias in the execution space's memory (empty without a bias).
template <class ExecSpace>
Kokkos::View<float*, typename ExecSpace::memory_space> device_bias(const RouterConfig& c) {
  Kokkos::View<float*, typename ExecSpace::memory_space> bias("coreroute::bias", c.expert_bias.size());
  if (!c.expert_bias.empty())
    Kokkos::deep_copy(bias, Kokkos::View<const float*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
                                c.expert_bias.data(), c.expert_bias.size()));
  return bias;
}

template <class ExecSpace, class Policy, class LogitsV, class TokensV, class CoresetV>
RoutingViews<typename ExecSpace::memory_space> launch(const ExecSpace& exec, const LogitsV& x, const TokensV& tokens,
                                                      const CoresetV& coreset, const RouterConfig& c, const Policy& pol,
                                                      TeamTuning tuning) {
  const int64_t B = int64_t(x.extent(0)), N = int64_t(x.extent(1));
  RoutingViews<typename ExecSpace::memory_space> out(B, N, c.num_experts, c.top_k);
  if (B == 0) return out;
  const auto bias = device_bias<ExecSpace>(c);
  const RouterParams p = params_of(c, bias.data());
  BlockShape shape;
  shape.N = int(N);
  shape.M = c.num_experts;
  shape.K = c.top_k;
  if constexpr (!std::is_same_v<Policy, GivenCoreset>)
    if (Policy::needs_votes) shape.local_k = std::clamp(pol.local_k(p), 0, c.num_experts);
  shape.groups = c.groups.enabled() ? c.groups.n_group : 0;

  using Functor = BlockRouter<ExecSpace, LogitsV, TokensV, CoresetV, Policy>;
  const size_t bytes = Functor::scratch_bytes(shape);
  const Functor f{x, tokens, coreset, p, pol, shape, out, Scratch<ExecSpace>::level_for(bytes, "logits.tokens")};
  for_each_block("coreroute::kokkos::route", exec, int(B), f.level, bytes, tuning, f);
  return out;
}

template <class ExecSpace, class LogitsV, class TokensV, class Policy>
void validate(const ExecSpace& exec, const LogitsV& x, const TokensV& tokens, const RouterConfig& c,
              const Policy& pol) {
  static_assert(is_policy_v<Policy>, "Policy does not satisfy the coreroute policy concept (policies.hpp)");
  static_check_view<ExecSpace, LogitsV, 3>();
  static_check_view<ExecSpace, TokensV, 1>();
  coreroute::validate(c);
  pol.validate(c);
  coreroute::detail::require_valid_local_k(pol, c);
  const std::vector<int32_t> host = host_tokens(tokens, int64_t(x.extent(0)));
  validate_shape(x, c, host);
  validate_logits(exec, x, tokens, c);
}

template <class MemSpace>
Kokkos::View<const float***, Kokkos::LayoutStride, MemSpace, Kokkos::MemoryUnmanaged> wrap(const LogitsView<float>& x) {
  const Kokkos::LayoutStride layout(size_t(x.blocks), size_t(x.stride_block), size_t(x.tokens), size_t(x.stride_token),
                                    size_t(x.experts), size_t(x.stride_expert));
  return Kokkos::View<const float***, Kokkos::LayoutStride, MemSpace, Kokkos::MemoryUnmanaged>(x.data, layout);
}

template <class MemSpace>
Kokkos::View<const int32_t*, MemSpace, Kokkos::MemoryUnmanaged> wrap_tokens(const LogitsView<float>& x) {
  return Kokkos::View<const int32_t*, MemSpace, Kokkos::MemoryUnmanaged>(x.tokens_per_block,
                                                                         x.tokens_per_block ? size_t(x.blocks) : 0);
}

}  // namespace detail

/// Checked: validates config, policy, shapes, tokens and logits before any work.
template <class ExecSpace, class LogitsV, class TokensV, class Policy>
RoutingViews<typename ExecSpace::memory_space> route(const ExecSpace& exec, const LogitsV& x, const TokensV& tokens,
                                                     const RouterConfig& c, const Policy& pol, TeamTuning t = {}) {
  detail::validate(exec, x, tokens, c, pol);
  return detail::launch(exec, x, tokens, CoresetView<ExecSpace>(), c, pol, t);
}

/// Raw path: config and policy must be valid; NaN/+Inf tokens are counted, not thrown.
template <class ExecSpace, class LogitsV, class TokensV, class Policy>
RoutingViews<typename ExecSpace::memory_space> route_unchecked(const ExecSpace& exec, const LogitsV& x,
                                                               const TokensV& tokens, const RouterConfig& c,
                                                               const Policy& pol, TeamTuning t = {}) {
  return detail::launch(exec, x, tokens, CoresetView<ExecSpace>(), c, pol, t);
}

/// Checked Stage 2 alone: routes every token into the given coreset mask [B, M] (0/1).
template <class ExecSpace, class LogitsV, class TokensV>
RoutingViews<typename ExecSpace::memory_space> route_in_coreset(const ExecSpace& exec, const LogitsV& x,
                                                                const TokensV& tokens, const RouterConfig& c,
                                                                const CoresetView<ExecSpace>& coreset,
                                                                TeamTuning t = {}) {
  detail::validate(exec, x, tokens, c, VanillaPolicy{});
  using coreroute::detail::require;
  require(int64_t(coreset.extent(0)) == int64_t(x.extent(0)), "coreset.extent(0)", coreset.extent(0),
          "must equal blocks = " + std::to_string(x.extent(0)));
  require(int64_t(coreset.extent(1)) == c.num_experts, "coreset.extent(1)", coreset.extent(1),
          "must equal num_experts = " + std::to_string(c.num_experts));
  const auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), coreset);
  for (size_t b = 0; b < host.extent(0); ++b)
    for (size_t i = 0; i < host.extent(1); ++i)
      require(host(b, i) <= 1, "coreset[" + std::to_string(b * host.extent(1) + i) + "]", int(host(b, i)),
              "must be 0 or 1");
  return detail::launch(exec, x, tokens, coreset, c, GivenCoreset{}, t);
}

namespace detail {
/// A raw view that carries its buffer's size (x.extent >= 0) is proven in bounds before
/// it is wrapped, after the config and policy checks (the reference's order of errors).
template <class Policy>
void require_in_extent(const LogitsView<float>& x, const RouterConfig& c, const Policy& pol) {
  if (x.extent < 0) return;
  coreroute::validate(c);
  pol.validate(c);
  coreroute::detail::require_valid_local_k(pol, c);
  coreroute::detail::validate_shape(x, c, nullptr);  // tokens_per_block: checked after the wrap
}
}  // namespace detail

/// Raw-pointer overloads: x.data and x.tokens_per_block point to memory the execution
/// space can read (host pointers for host spaces, device pointers for a GPU space).
template <class ExecSpace, class Policy>
RoutingViews<typename ExecSpace::memory_space> route(const ExecSpace& exec, const LogitsView<float>& x,
                                                     const RouterConfig& c, const Policy& pol, TeamTuning t = {}) {
  coreroute::detail::require(x.blocks >= 0 && x.tokens >= 0 && x.experts >= 0, "logits.shape", x.blocks,
                             "extents must be >= 0");
  detail::require_in_extent(x, c, pol);
  using Mem = typename ExecSpace::memory_space;
  return route(exec, detail::wrap<Mem>(x), detail::wrap_tokens<Mem>(x), c, pol, t);
}

template <class ExecSpace, class Policy>
RoutingViews<typename ExecSpace::memory_space> route_unchecked(const ExecSpace& exec, const LogitsView<float>& x,
                                                               const RouterConfig& c, const Policy& pol,
                                                               TeamTuning t = {}) {
  using Mem = typename ExecSpace::memory_space;
  return route_unchecked(exec, detail::wrap<Mem>(x), detail::wrap_tokens<Mem>(x), c, pol, t);
}

/// `coreset` points to B*M flags the execution space can read.
template <class ExecSpace>
RoutingViews<typename ExecSpace::memory_space> route_in_coreset(const ExecSpace& exec, const LogitsView<float>& x,
                                                                const RouterConfig& c, const uint8_t* coreset,
                                                                TeamTuning t = {}) {
  coreroute::detail::require(x.blocks >= 0 && x.tokens >= 0 && x.experts >= 0, "logits.shape", x.blocks,
                             "extents must be >= 0");
  coreroute::detail::require(coreset != nullptr || x.blocks == 0, "coreset", "null", "must point to B*M flags");
  detail::require_in_extent(x, c, VanillaPolicy{});
  using Mem = typename ExecSpace::memory_space;
  const Kokkos::View<const uint8_t**, Kokkos::LayoutRight, Mem, Kokkos::MemoryUnmanaged> mask(coreset, size_t(x.blocks),
                                                                                              size_t(x.experts));
  return route_in_coreset(exec, detail::wrap<Mem>(x), detail::wrap_tokens<Mem>(x), c, CoresetView<ExecSpace>(mask), t);
}

}  // namespace coreroute::kokkos
