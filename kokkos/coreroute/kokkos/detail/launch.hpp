#pragma once
// One team per block, the way every Kokkos kernel of the backend is launched: the
// team's scratch at the level that holds it, the team size Kokkos::AUTO picks or the
// one requested (clamped to what the execution space allows for this functor); the
// routing kernel's teams are workers of vector lanes (for_each_block_of_workers).
#include <algorithm>
#include <cstddef>

#include <Kokkos_Core.hpp>

#include <coreroute/error.hpp>
#include <coreroute/kokkos/detail/scratch.hpp>

namespace coreroute::kokkos {

/// Launch tuning; never changes results. team_size 0: Kokkos::AUTO; larger than the
/// execution space allows: clamped to its maximum.
struct TeamTuning {
  int team_size = 0;
};

namespace detail {

/// A host space runs a worker as one lane; a device space as a warp's lanes.
template <class ExecSpace>
inline constexpr bool one_lane_v =
    Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename ExecSpace::memory_space>::accessible;

template <class ExecSpace, class Functor>
void for_each_block(const char* name, const ExecSpace& exec, int blocks, int level, size_t bytes, TeamTuning tuning,
                    const Functor& f) {
  using TeamPolicy = Kokkos::TeamPolicy<ExecSpace>;
  TeamPolicy probe(exec, blocks, Kokkos::AUTO);
  probe.set_scratch_size(level, Kokkos::PerTeam(bytes));
  if (tuning.team_size > 0) {
    const int max_team = probe.team_size_max(f, Kokkos::ParallelForTag());
    TeamPolicy policy(exec, blocks, std::min(tuning.team_size, max_team));
    Kokkos::parallel_for(name, policy.set_scratch_size(level, Kokkos::PerTeam(bytes)), f);
  } else {
    Kokkos::parallel_for(name, probe, f);
  }
}

/// The router's launch bound: none by default; COREROUTE_KOKKOS_ROUTER_MAX_THREADS=n
/// caps a team at n threads (on Cuda, more registers per thread below 1024; for measuring).
#ifdef COREROUTE_KOKKOS_ROUTER_MAX_THREADS
using RouterBounds = Kokkos::LaunchBounds<COREROUTE_KOKKOS_ROUTER_MAX_THREADS, 1>;
#else
using RouterBounds = Kokkos::LaunchBounds<>;
#endif

/// One team per block of `workers` team threads of `lanes` vector lanes, for a kernel
/// whose scratch grows with its workers (f.level and bytes_for(workers)); `tokens` is
/// the block's N. Lanes: 32 on a device space (a warp per worker on Cuda), 1 on a host
/// space. Workers: the requested team size (clamped to what the space allows); by
/// default, on a device, one per token up to 32 (a wave of 32 tokens), halved until the
/// scratch fits level 0 (GPU shared memory), clamped to what the space allows and then
/// evened out so that the block's waves of tokens are equal; on a host the team size
/// Kokkos recommends.
template <class ExecSpace, class Functor, class BytesFor>
void for_each_block_of_workers(const char* name, const ExecSpace& exec, int blocks, int tokens, TeamTuning tuning,
                               Functor f, const BytesFor& bytes_for, const char* what) {
  using TeamPolicy = Kokkos::TeamPolicy<ExecSpace, RouterBounds>;
  constexpr bool host = one_lane_v<ExecSpace>;
  const int lanes = host ? 1 : std::min(32, int(TeamPolicy::vector_length_max()));
  TeamPolicy one(exec, blocks, 1, lanes);  // a team of one is valid everywhere; larger may abort
  int workers = tuning.team_size;
  if (workers <= 0)
    workers = host ? TeamPolicy(exec, blocks, Kokkos::AUTO).team_size_recommended(f, Kokkos::ParallelForTag())
                   : std::max(1, std::min(32, tokens));
  else  // a request is clamped first to what the kernel allows without scratch, so its scratch is sized for that
    workers = std::min(workers, std::max(1, one.team_size_max(f, Kokkos::ParallelForTag())));
  for (;;) {
    const size_t bytes = bytes_for(workers);
    if (tuning.team_size <= 0 && workers > 1 && bytes > size_t(TeamPolicy::scratch_size_max(0))) {
      workers /= 2;
      continue;
    }
    f.level = Scratch<ExecSpace>::level_for(bytes, what);
    const int max_workers =
        one.set_scratch_size(f.level, Kokkos::PerTeam(bytes)).team_size_max(f, Kokkos::ParallelForTag());
    coreroute::detail::require(max_workers >= 1, what, bytes,
                               "bytes of per-block scratch leave no room for a team on this execution space");
    if (workers > max_workers) {
      workers = max_workers;
      continue;
    }
    if (tuning.team_size <= 0 && !host) {
      // Waves of equal size: 32 tokens on at most 24 workers run as two waves of 16, not
      // 24 and 8 (the idle workers of a short wave wait at its barrier).
      const int n = std::max(1, tokens), waves = (n + workers - 1) / workers, even = (n + waves - 1) / waves;
      if (even < workers) {
        workers = even;
        continue;
      }
    }
    TeamPolicy policy(exec, blocks, workers, lanes);
    policy.set_scratch_size(f.level, Kokkos::PerTeam(bytes));
    Kokkos::parallel_for(name, policy, f);
    return;
  }
}

}  // namespace detail
}  // namespace coreroute::kokkos
