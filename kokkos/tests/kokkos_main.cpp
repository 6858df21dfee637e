// Catch2 main for the Kokkos tests: Kokkos is initialized around the session (its
// --kokkos-* arguments are taken out first). COREROUTE_KOKKOS_TEAM_SIZE sets the team
// size of every launch (0 or unset: Kokkos::AUTO), to run teams larger than one.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>

#include <Kokkos_Core.hpp>

#include <coreroute/kokkos/testing.hpp>

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard kokkos(argc, argv);
  if (const char* t = std::getenv("COREROUTE_KOKKOS_TEAM_SIZE")) {
    coreroute::kokkos::testing::Backend<>::tuning.team_size = std::atoi(t);
    coreroute::kokkos::testing::Backend<Kokkos::DefaultHostExecutionSpace>::tuning.team_size = std::atoi(t);
  }
  return Catch::Session().run(argc, argv);
}
