#pragma once
// One team per block, the way every Kokkos kernel of the backend is launched: the
// team's scratch at the level that holds it, the team size Kokkos::AUTO picks or the
// one requested (clamped to what the execution space allows for this functor).
#include <algorithm>
#include <cstddef>

#include <Kokkos_Core.hpp>

namespace coreroute::kokkos {

/// Launch tuning; never changes results. team_size 0: Kokkos::AUTO; larger than the
/// execution space allows: clamped to its maximum.
struct TeamTuning {
  int team_size = 0;
};

namespace detail {

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

}  // namespace detail
}  // namespace coreroute::kokkos
