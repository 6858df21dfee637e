// docs/spec.md section 7 for the Kokkos backend: for every policy, COREROUTE_PROP_CASES
// (default 1000) seeded random cases through the parity harness, which checks the
// coreset, ids, weights, vanilla routing, dispatch layout, Stage 2 alone and every
// metric against the reference (and that bad input is rejected by both).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>
#include <sstream>

#include <Kokkos_Core.hpp>

#include <coreroute/kokkos/testing.hpp>
#include <coreroute/testing/parity.hpp>

#include "random_cases.hpp"

namespace {

using Backend = coreroute::kokkos::testing::Backend<>;
using ExecSpace = Kokkos::DefaultExecutionSpace;

int cases_per_policy() {
  const char* v = std::getenv("COREROUTE_PROP_CASES");
  return v && std::atoi(v) > 0 ? std::atoi(v) : 1000;
}

/// The team size a launch of the routing kernel gets (the request clamped as route does).
int effective_team_size() {
  Kokkos::TeamPolicy<ExecSpace> probe(ExecSpace(), 1, Kokkos::AUTO);
  const auto body = KOKKOS_LAMBDA(const Kokkos::TeamPolicy<ExecSpace>::member_type& team, int& size) {
    size = team.team_size();
  };
  const int request = Backend::tuning.team_size;
  const int max = probe.team_size_max(body, Kokkos::ParallelReduceTag());
  int size = 0;
  if (request > 0)
    Kokkos::parallel_reduce(Kokkos::TeamPolicy<ExecSpace>(ExecSpace(), 1, std::min(request, max)), body,
                            Kokkos::Max<int>(size));
  else
    Kokkos::parallel_reduce(probe, body, Kokkos::Max<int>(size));
  return size;
}

template <class MakePolicy>
void run_parity(const char* policy, uint64_t seed_base, MakePolicy make) {
  const int cases = cases_per_policy();
  int checked = 0, rejected = 0, coreset_ties = 0, id_ties = 0;
  for (int i = 0; i < cases; ++i) {
    const uint64_t seed = seed_base + uint64_t(i);
    crkokkos::Rng g(seed);
    const coreroute::testing::Case k = crkokkos::random_case(g);
    const auto pol = make(g, k.config);
    coreroute::testing::ParityOptions opt;
    opt.seed = seed;
    const coreroute::testing::ParityReport r = coreroute::testing::check_parity<Backend>(k.view(), k.config, pol, opt);
    if (!r.ok()) {
      std::ostringstream os;
      os << "seed " << seed << ", " << pol.describe() << "\n" << r.summary() << "\n" << k;
      FAIL(os.str());
    }
    ++checked;
    rejected += r.rejected ? 1 : 0;
    coreset_ties += r.coreset_near_ties;
    id_ties += r.id_near_ties;
  }
  std::cout << "kokkos parity, " << policy << ": " << checked << " cases (" << rejected
            << " invalid, rejected by both), near-ties accepted: " << coreset_ties << " coresets, " << id_ties
            << " token rows; execution space " << ExecSpace::name() << ", concurrency " << ExecSpace().concurrency()
            << ", team size " << effective_team_size() << "\n";
  REQUIRE(checked == cases);
}

}  // namespace

TEST_CASE("vanilla policy vs reference", "[parity]") { run_parity("vanilla", 1000000, crkokkos::random_vanilla); }
TEST_CASE("union policy vs reference", "[parity]") { run_parity("union", 2000000, crkokkos::random_union); }
TEST_CASE("vote policy vs reference", "[parity]") { run_parity("vote", 3000000, crkokkos::random_vote); }
TEST_CASE("blockdist policy vs reference", "[parity]") { run_parity("blockdist", 4000000, crkokkos::random_blockdist); }
