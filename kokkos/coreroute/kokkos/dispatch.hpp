#pragma once
// The dispatch layout (docs/spec.md section 5, coreroute::DispatchLayout) of a routing, built
// in the execution space: one team per block; one thread counts, a team range writes
// the used-expert list, one thread fills the (token, slot) pairs in token-major order
// so each expert's run is in token, then slot order.
#include <cstdint>

#include <Kokkos_Core.hpp>

#include <coreroute/routing.hpp>
#include <coreroute/kokkos/routing_views.hpp>

namespace coreroute::kokkos {

template <class MemSpace = Kokkos::DefaultExecutionSpace::memory_space>
struct DispatchViews {
  template <class T>
  using View = Kokkos::View<T, Kokkos::LayoutRight, MemSpace>;
  View<int32_t*> num_used;        ///< [B]       T_b
  View<int32_t**> used_experts;   ///< [B, M]    first T_b valid, rest -1
  View<int32_t**> counts;         ///< [B, M]    first T_b valid, rest 0
  View<int32_t**> offsets;        ///< [B, M+1]  exclusive prefix of counts; rest = total
  View<int32_t**> token;          ///< [B, N*K]  first offsets[T_b] valid, rest -1
  View<int32_t**> slot;           ///< [B, N*K]
  int64_t tokens = 0;              ///< N
  int top_k = 0;                   ///< K

  DispatchViews() = default;
  DispatchViews(int64_t B, int64_t N, int M, int K)
      : num_used(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::num_used"), B),
        used_experts(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::used_experts"), B, M),
        counts(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::counts"), B, M),
        offsets(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::offsets"), B, M + 1),
        token(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::token"), B, N * K),
        slot(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::slot"), B, N * K),
        tokens(N),
        top_k(K) {}
};

namespace detail {
template <class ExecSpace>
struct DispatchKernel {
  using member_type = typename Kokkos::TeamPolicy<ExecSpace>::member_type;
  using Mem = typename ExecSpace::memory_space;
  RoutingViews<Mem> R;
  DispatchViews<Mem> d;

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const int b = team.league_rank();
    const int M = R.experts(), K = R.top_k(), NK = int(R.tokens()) * K, N = int(R.valid_tokens(b));
    // counts(b, i) first holds expert i's count, then (after the compaction) the
    // compact counts; offsets(b, i) holds expert i's next free assignment meanwhile.
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, NK), [&](int a) { d.token(b, a) = d.slot(b, a) = -1; });
    team.team_barrier();
    Kokkos::single(Kokkos::PerTeam(team), [&]() {
      for (int i = 0; i < M; ++i) d.counts(b, i) = 0;
      for (int n = 0; n < N; ++n)
        for (int j = 0; j < K; ++j)
          if (R.ids(b, n, j) >= 0) d.counts(b, R.ids(b, n, j)) += 1;
      int used = 0, offset = 0;
      for (int i = 0; i < M; ++i) {
        const int c = d.counts(b, i);
        d.offsets(b, i) = offset;  // expert i's first assignment, by expert id
        if (c == 0) continue;
        d.used_experts(b, used++) = i;
        offset += c;
      }
      d.num_used(b) = used;
      for (int n = 0; n < N; ++n)
        for (int j = 0; j < K; ++j) {
          const int e = R.ids(b, n, j);
          if (e < 0) continue;
          const int at = d.offsets(b, e)++;
          d.token(b, at) = n;
          d.slot(b, at) = j;
        }
      // offsets(b, e) now ends expert e's run; rewrite both arrays by used rank.
      int start = 0;
      for (int u = 0; u < used; ++u) {
        const int e = d.used_experts(b, u), end = d.offsets(b, e);
        d.counts(b, u) = end - start;
        d.offsets(b, u) = start;
        start = end;
      }
      for (int u = used; u < M; ++u) {
        d.used_experts(b, u) = -1;
        d.counts(b, u) = 0;
      }
      for (int u = used; u <= M; ++u) d.offsets(b, u) = offset;
    });
  }
};
}  // namespace detail

/// The dispatch layout of R, in the execution space's memory.
template <class ExecSpace, class MemSpace>
DispatchViews<MemSpace> dispatch_of(const ExecSpace& exec, const RoutingViews<MemSpace>& R) {
  static_assert(Kokkos::SpaceAccessibility<ExecSpace, MemSpace>::accessible,
                "coreroute::kokkos::dispatch_of: the routing's memory space is not accessible from the execution space");
  DispatchViews<MemSpace> d(R.blocks(), R.tokens(), R.experts(), R.top_k());
  if (R.blocks() == 0) return d;
  Kokkos::parallel_for("coreroute::kokkos::dispatch", Kokkos::TeamPolicy<ExecSpace>(exec, int(R.blocks()), Kokkos::AUTO),
                       detail::DispatchKernel<ExecSpace>{R, d});
  return d;
}

template <class MemSpace>
DispatchLayout to_host(const DispatchViews<MemSpace>& v) {
  DispatchLayout d;
  d.resize(int64_t(v.num_used.extent(0)), v.tokens, int(v.used_experts.extent(1)), v.top_k);
  detail::copy_to_vector(v.num_used, d.num_used);
  detail::copy_to_vector(v.used_experts, d.used_experts);
  detail::copy_to_vector(v.counts, d.counts);
  detail::copy_to_vector(v.offsets, d.offsets);
  detail::copy_to_vector(v.token, d.token);
  detail::copy_to_vector(v.slot, d.slot);
  return d;
}

}  // namespace coreroute::kokkos
