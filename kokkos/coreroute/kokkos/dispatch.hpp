#pragma once
// The dispatch layout (docs/spec.md section 5, coreroute::DispatchLayout) of a routing, built
// in the execution space, team-parallel: one team per block, counts and the runs of
// (token, slot) pairs over experts, offsets and the compact expert list by team scans
// (see DispatchKernel). Each expert's run is in token, then slot order, as the
// reference's.
#include <cstddef>
#include <cstdint>
#include <string>

#include <Kokkos_Core.hpp>

#include <coreroute/error.hpp>
#include <coreroute/routing.hpp>
#include <coreroute/kokkos/detail/launch.hpp>
#include <coreroute/kokkos/detail/scratch.hpp>
#include <coreroute/kokkos/routing_views.hpp>

namespace coreroute::kokkos {

template <class MemSpace = Kokkos::DefaultExecutionSpace::memory_space>
struct DispatchViews {
  template <class T>
  using View = Kokkos::View<T, Kokkos::LayoutRight, MemSpace>;
  View<int32_t*> num_used;       ///< [B]       T_b
  View<int32_t**> used_experts;  ///< [B, M]    first T_b valid, rest -1
  View<int32_t**> counts;        ///< [B, M]    first T_b valid, rest 0
  View<int32_t**> offsets;       ///< [B, M+1]  exclusive prefix of counts; rest = total
  View<int32_t**> token;         ///< [B, N*K]  first offsets[T_b] valid, rest -1
  View<int32_t**> slot;          ///< [B, N*K]
  int64_t tokens = 0;            ///< N
  int top_k = 0;                 ///< K

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

/// One team per block (docs/spec.md section 5's layout, the reference's order):
///   stage     the block's ids into team scratch, -1 past its valid tokens
///   count     experts over team threads: each counts its assignments
///   scan      two team scans over experts: each expert's first assignment, and its
///             rank among the used experts (the compact index)
///   fill      experts over team threads: each walks the assignments in token, then
///             slot order and writes its own run, so no two threads write one place
/// Every value is an integer count: the layout is exact on any team size.
template <class ExecSpace>
struct DispatchKernel {
  using member_type = typename Kokkos::TeamPolicy<ExecSpace>::member_type;
  using Mem = typename ExecSpace::memory_space;
  using S = Scratch<ExecSpace>;
  RoutingViews<Mem> R;
  DispatchViews<Mem> d;
  int level = 0;

  static size_t scratch_bytes(int64_t N, int M, int K) {
    return S::template bytes<int32_t>(size_t(N) * size_t(K)) + 3 * S::template bytes<int32_t>(size_t(M));
  }

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const int b = team.league_rank();
    const int M = R.experts(), K = R.top_k(), NK = int(R.tokens()) * K, Nv = int(R.valid_tokens(b));
    const auto mem = team.team_scratch(level);
    typename S::template Array<int32_t> ids(mem, size_t(NK)), count(mem, size_t(M)), first(mem, size_t(M)),
        rank(mem, size_t(M));

    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, NK), [&](int a) {
      ids(a) = a / K < Nv ? R.ids(b, a / K, a % K) : -1;
      d.token(b, a) = d.slot(b, a) = -1;
    });
    team.team_barrier();
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, M), [&](int i) {
      int c = 0;
      for (int a = 0; a < NK; ++a) c += ids(a) == i ? 1 : 0;
      count(i) = c;
    });
    team.team_barrier();
    Kokkos::parallel_scan(Kokkos::TeamThreadRange(team, M), [&](int i, int& before, bool final) {
      if (final) first(i) = before;
      before += count(i);
    });
    Kokkos::parallel_scan(Kokkos::TeamThreadRange(team, M), [&](int i, int& before, bool final) {
      if (final) rank(i) = before;
      before += count(i) > 0 ? 1 : 0;
    });
    team.team_barrier();
    const int used = M > 0 ? rank(M - 1) + (count(M - 1) > 0 ? 1 : 0) : 0;
    const int total = M > 0 ? first(M - 1) + count(M - 1) : 0;
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, M), [&](int i) {
      if (count(i) == 0) return;
      const int u = rank(i);
      d.used_experts(b, u) = i;
      d.counts(b, u) = count(i);
      d.offsets(b, u) = first(i);
      int at = first(i);
      for (int a = 0; a < NK; ++a)
        if (ids(a) == i) {
          d.token(b, at) = a / K;
          d.slot(b, at) = a % K;
          ++at;
        }
    });
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, used, M + 1), [&](int u) {
      if (u < M) {
        d.used_experts(b, u) = -1;
        d.counts(b, u) = 0;
      }
      d.offsets(b, u) = total;
    });
    Kokkos::single(Kokkos::PerTeam(team), [&]() { d.num_used(b) = used; });
  }
};
}  // namespace detail

namespace detail {
/// `d` must have the extents of R's layout: the kernel writes each of its Views in full.
template <class MemSpace>
void require_extents(const DispatchViews<MemSpace>& d, const RoutingViews<MemSpace>& R) {
  const int64_t B = R.blocks(), M = R.experts(), NK = R.tokens() * R.top_k();
  const auto check = [](const char* name, int64_t given, int64_t want, const char* rule) {
    if (given != want)
      coreroute::detail::fail(std::string("out.") + name, given,
                              std::string("must equal ") + rule + " = " + std::to_string(want) + " of the routing");
  };
  check("num_used.extent(0)", int64_t(d.num_used.extent(0)), B, "blocks");
  check("used_experts.extent(0)", int64_t(d.used_experts.extent(0)), B, "blocks");
  check("used_experts.extent(1)", int64_t(d.used_experts.extent(1)), M, "num_experts");
  check("counts.extent(0)", int64_t(d.counts.extent(0)), B, "blocks");
  check("counts.extent(1)", int64_t(d.counts.extent(1)), M, "num_experts");
  check("offsets.extent(0)", int64_t(d.offsets.extent(0)), B, "blocks");
  check("offsets.extent(1)", int64_t(d.offsets.extent(1)), M + 1, "num_experts + 1");
  check("token.extent(0)", int64_t(d.token.extent(0)), B, "blocks");
  check("token.extent(1)", int64_t(d.token.extent(1)), NK, "tokens x top_k");
  check("slot.extent(0)", int64_t(d.slot.extent(0)), B, "blocks");
  check("slot.extent(1)", int64_t(d.slot.extent(1)), NK, "tokens x top_k");
  check("tokens", d.tokens, R.tokens(), "tokens");
  check("top_k", d.top_k, R.top_k(), "top_k");
}
}  // namespace detail

/// The dispatch layout of R into caller-owned `out` (extents of DispatchViews(B, N, M, K)
/// of R's shape, checked before the launch): allocates nothing, for repeated calls on a GPU.
/// `tuning` sets the team size (never the result).
template <class ExecSpace, class MemSpace>
void dispatch_of(const ExecSpace& exec, const RoutingViews<MemSpace>& R, const DispatchViews<MemSpace>& out,
                 TeamTuning tuning = {}) {
  static_assert(
      Kokkos::SpaceAccessibility<ExecSpace, MemSpace>::accessible,
      "coreroute::kokkos::dispatch_of: the routing's memory space is not accessible from the execution space");
  detail::require_extents(out, R);
  if (R.blocks() == 0) return;
  using Kernel = detail::DispatchKernel<ExecSpace>;
  const size_t bytes = Kernel::scratch_bytes(R.tokens(), R.experts(), R.top_k());
  const Kernel f{R, out, detail::Scratch<ExecSpace>::level_for(bytes, "routing.tokens")};
  detail::for_each_block("coreroute::kokkos::dispatch", exec, int(R.blocks()), f.level, bytes, tuning, f);
}

/// The dispatch layout of R, in new Views of the execution space's memory.
template <class ExecSpace, class MemSpace>
DispatchViews<MemSpace> dispatch_of(const ExecSpace& exec, const RoutingViews<MemSpace>& R, TeamTuning tuning = {}) {
  const DispatchViews<MemSpace> d(R.blocks(), R.tokens(), R.experts(), R.top_k());
  dispatch_of(exec, R, d, tuning);
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
