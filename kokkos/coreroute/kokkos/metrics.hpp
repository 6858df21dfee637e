#pragma once
// Metrics of docs/spec.md section 5 on any execution space: a routing R against a reference
// routing R0 (same B, N, M and valid tokens; K may differ), one team per block, in
// double. Per-token terms are computed by the token's thread and summed in token
// order by one thread; the per-expert counts likewise (O(N * K) per block).
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <Kokkos_Core.hpp>

#include <coreroute/detail/metric_rules.hpp>
#include <coreroute/error.hpp>
#include <coreroute/metrics.hpp>
#include <coreroute/kokkos/detail/scratch.hpp>
#include <coreroute/kokkos/routing_views.hpp>

namespace coreroute::kokkos {

/// Expert outputs Y[b, n, i, :] as a rank-4 View, or an empty View: no output loss.
template <class MemSpace>
using ExpertOutputs = Kokkos::View<const float****, Kokkos::LayoutRight, MemSpace>;

namespace detail {

template <class ExecSpace, class OutputsV>
struct BlockMetricsKernel {
  using member_type = typename Kokkos::TeamPolicy<ExecSpace>::member_type;
  using S = Scratch<ExecSpace>;
  using Mem = typename ExecSpace::memory_space;
  RoutingViews<Mem> R, R0;
  OutputsV Y;
  double expert_bytes;
  Kokkos::View<BlockMetrics*, Mem> out;
  int level = 0;

  enum Term { hits, expected, gate, out_num, out_den, terms };

  static size_t scratch_bytes(int N, int M) {
    return S::template bytes<double>(size_t(N) * terms) + 2 * S::template bytes<double>(size_t(M));
  }

  /// R0's weight for expert e in token n's row, or 0.
  KOKKOS_INLINE_FUNCTION static double weight_of(const RoutingViews<Mem>& X, int b, int n, int e) {
    for (int j = 0; j < X.top_k(); ++j)
      if (X.ids(b, n, j) == e) return double(X.weights(b, n, j));
    return 0.0;
  }

  KOKKOS_INLINE_FUNCTION void token_terms(int b, int n, double* t) const {
    const int K = R.top_k(), K0 = R0.top_k();
    for (int k = 0; k < terms; ++k) t[k] = 0;
    // The dense gate difference g - g0 is nonzero only on the two rows' experts:
    // R's experts first, then R0's not in R (the reference's order).
    for (int j = 0; j < K; ++j) {
      const int e = R.ids(b, n, j);
      if (e < 0) continue;
      const double g = double(R.weights(b, n, j)) - weight_of(R0, b, n, e);
      t[gate] += g * g;
    }
    for (int j0 = 0; j0 < K0; ++j0) {
      const int e0 = R0.ids(b, n, j0);
      if (e0 < 0) continue;
      t[expected] += 1;
      bool in_R = false;
      for (int j = 0; j < K; ++j) in_R = in_R || R.ids(b, n, j) == e0;
      t[hits] += in_R ? 1 : 0;
      if (!in_R) t[gate] += double(R0.weights(b, n, j0)) * double(R0.weights(b, n, j0));
    }
    if (Y.extent(0) == 0) return;
    for (int d = 0; d < int(Y.extent(3)); ++d) {
      double delta = 0, base = 0;
      for (int j = 0; j < K; ++j) {
        const int e = R.ids(b, n, j);
        if (e >= 0) delta += (double(R.weights(b, n, j)) - weight_of(R0, b, n, e)) * double(Y(b, n, e, d));
      }
      for (int j0 = 0; j0 < K0; ++j0) {
        const int e0 = R0.ids(b, n, j0);
        if (e0 < 0) continue;
        const double w0 = double(R0.weights(b, n, j0));
        if (!in_row(R, b, n, e0)) delta += -w0 * double(Y(b, n, e0, d));
        base += w0 * double(Y(b, n, e0, d));
      }
      t[out_num] += delta * delta;
      t[out_den] += base * base;
    }
  }

  KOKKOS_INLINE_FUNCTION static bool in_row(const RoutingViews<Mem>& X, int b, int n, int e) {
    for (int j = 0; j < X.top_k(); ++j)
      if (X.ids(b, n, j) == e) return true;
    return false;
  }

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const int b = team.league_rank();
    const int N = int(R.valid_tokens(b)), M = R.experts();
    const auto mem = team.team_scratch(level);
    typename S::template Array<double> t(mem, size_t(N) * terms), count(mem, M), count0(mem, M);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, N),
                         [&](int n) { token_terms(b, n, t.data() + size_t(n) * terms); });
    team.team_barrier();
    Kokkos::single(Kokkos::PerTeam(team), [&]() {
      double sum[terms] = {0, 0, 0, 0, 0};
      for (int n = 0; n < N; ++n)
        for (int k = 0; k < terms; ++k) sum[k] += t(size_t(n) * terms + k);
      for (int i = 0; i < M; ++i) count(i) = count0(i) = 0;
      for (int n = 0; n < N; ++n) {
        for (int j = 0; j < R.top_k(); ++j)
          if (R.ids(b, n, j) >= 0) count(R.ids(b, n, j)) += 1;
        for (int j = 0; j < R0.top_k(); ++j)
          if (R0.ids(b, n, j) >= 0) count0(R0.ids(b, n, j)) += 1;
      }
      BlockMetrics m;
      double dot = 0, norm = 0, norm0 = 0;
      for (int i = 0; i < M; ++i) {
        m.unique_experts += count(i) > 0 ? 1 : 0;
        dot += count(i) * count0(i);
        norm += count(i) * count(i);
        norm0 += count0(i) * count0(i);
      }
      m.coreset_size = R.coreset_size(b);
      m.topk_hit_rate = coreroute::detail::topk_hit_rate(sum[hits], sum[expected]);
      m.gate_reconstruction_loss = coreroute::detail::gate_reconstruction_loss(sum[gate], double(N));
      m.hit_cosine = coreroute::detail::hit_cosine(dot, norm, norm0);
      m.output_reconstruction_loss =
          coreroute::detail::output_reconstruction_loss(Y.extent(0) != 0, sum[out_num], sum[out_den]);
      m.expert_bytes_read = m.unique_experts * expert_bytes;
      out(b) = m;
    });
  }
};

template <class MemSpace>
void require_comparable(const RoutingViews<MemSpace>& R, const RoutingViews<MemSpace>& R0) {
  using coreroute::detail::require;
  require(R.blocks() == R0.blocks(), "routing.blocks", R.blocks(),
          "must equal the reference's " + std::to_string(R0.blocks()));
  require(R.tokens() == R0.tokens(), "routing.tokens", R.tokens(),
          "must equal the reference's " + std::to_string(R0.tokens()));
  require(R.experts() == R0.experts(), "routing.experts", R.experts(),
          "must equal the reference's " + std::to_string(R0.experts()));
  std::vector<int32_t> v, v0;  // host vectors, not Kokkos mirrors: no Kokkos allocation per call
  copy_to_vector(R.valid_tokens, v);
  copy_to_vector(R0.valid_tokens, v0);
  for (size_t b = 0; b < v.size(); ++b)
    require(v[b] == v0[b], "routing.valid_tokens[" + std::to_string(b) + "]", v[b],
            "must equal the reference's " + std::to_string(v0[b]));
}

}  // namespace detail

/// Per-block metrics of R against R0 into caller-owned `out` [B] (checked before the
/// launch): allocates nothing on the device. `outputs` is [B, N, M, d] or empty
/// (output_reconstruction_loss is then NaN: not computed).
template <class ExecSpace, class MemSpace>
void metrics(const ExecSpace& exec, const RoutingViews<MemSpace>& R, const RoutingViews<MemSpace>& R0,
             const Kokkos::View<BlockMetrics*, MemSpace>& out, double expert_bytes = 0,
             const std::common_type_t<ExpertOutputs<MemSpace>>& outputs = {}) {
  static_assert(Kokkos::SpaceAccessibility<ExecSpace, MemSpace>::accessible,
                "coreroute::kokkos::metrics: the routings' memory space is not accessible from the execution space");
  using coreroute::detail::require;
  detail::require_comparable(R, R0);
  if (outputs.extent(0) != 0) {
    require(outputs.extent(0) == size_t(R.blocks()) && outputs.extent(1) == size_t(R.tokens()) &&
                outputs.extent(2) == size_t(R.experts()),
            "outputs.extents",
            std::to_string(outputs.extent(0)) + "x" + std::to_string(outputs.extent(1)) + "x" +
                std::to_string(outputs.extent(2)),
            "must be blocks x tokens x experts x dim of the routing");
  }
  if (int64_t(out.extent(0)) != R.blocks())
    coreroute::detail::fail("out.extent(0)", out.extent(0), "must equal blocks = " + std::to_string(R.blocks()));
  if (R.blocks() == 0) return;
  using Kernel = detail::BlockMetricsKernel<ExecSpace, ExpertOutputs<MemSpace>>;
  const size_t bytes = Kernel::scratch_bytes(int(R.tokens()), R.experts());
  const Kernel k{R, R0, outputs, expert_bytes, out, detail::Scratch<ExecSpace>::level_for(bytes, "routing.tokens")};
  Kokkos::TeamPolicy<ExecSpace> policy(exec, int(R.blocks()), Kokkos::AUTO);
  Kokkos::parallel_for("coreroute::kokkos::metrics", policy.set_scratch_size(k.level, Kokkos::PerTeam(bytes)), k);
}

/// Per-block metrics of R against R0 in a new View of the execution space's memory.
template <class ExecSpace, class MemSpace>
Kokkos::View<BlockMetrics*, MemSpace> metrics(const ExecSpace& exec, const RoutingViews<MemSpace>& R,
                                              const RoutingViews<MemSpace>& R0, double expert_bytes = 0,
                                              const std::common_type_t<ExpertOutputs<MemSpace>>& outputs = {}) {
  const Kokkos::View<BlockMetrics*, MemSpace> out(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::metrics"),
                                                  R.blocks());
  metrics(exec, R, R0, out, expert_bytes, outputs);
  return out;
}

/// Host copy of per-block metrics (fences).
template <class MemSpace>
std::vector<BlockMetrics> to_host(const Kokkos::View<BlockMetrics*, MemSpace>& m) {
  std::vector<BlockMetrics> out(m.extent(0));
  Kokkos::View<BlockMetrics*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> h(out.data(), out.size());
  Kokkos::deep_copy(h, m);
  return out;
}

}  // namespace coreroute::kokkos
