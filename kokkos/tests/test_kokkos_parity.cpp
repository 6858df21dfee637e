// docs/spec.md section 7 for the Kokkos backend: for every policy, COREROUTE_PROP_CASES
// (default 1000) seeded random cases through the parity harness, which checks the
// coreset, ids, weights, vanilla routing, dispatch layout, Stage 2 alone and every
// metric against the reference (and that bad input is rejected by both).
//
// Environment, for long runs in chunks (kokkos/tests/parity_all.sh):
//   COREROUTE_KOKKOS_SCORE=softmax|sigmoid  every case uses that score function
//   COREROUTE_KOKKOS_SEED=s                 case i uses seed base + s + i (default 0)
//   COREROUTE_KOKKOS_SPACE=host             run on Kokkos::DefaultHostExecutionSpace
//                                           (e.g. OpenMP in a Cuda build), not the default
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>

#include <Kokkos_Core.hpp>

#include <coreroute/builtin_policies.hpp>

#include <coreroute/kokkos/testing.hpp>
#include <coreroute/testing/parity.hpp>

#include "random_cases.hpp"

namespace {

using coreroute::ScoreFunction;

int cases_per_policy() {
  const char* v = std::getenv("COREROUTE_PROP_CASES");
  return v && std::atoi(v) > 0 ? std::atoi(v) : 1000;
}

uint64_t seed_offset() {
  const char* v = std::getenv("COREROUTE_KOKKOS_SEED");
  return v ? std::strtoull(v, nullptr, 10) : 0;
}

/// The score function every case is forced to, if COREROUTE_KOKKOS_SCORE names one.
std::optional<ScoreFunction> forced_score() {
  const char* v = std::getenv("COREROUTE_KOKKOS_SCORE");
  if (!v || !*v) return std::nullopt;
  if (std::strcmp(v, "softmax") == 0) return ScoreFunction::softmax;
  if (std::strcmp(v, "sigmoid") == 0) return ScoreFunction::sigmoid;
  FAIL("COREROUTE_KOKKOS_SCORE must be softmax or sigmoid, got '" << v << "'");
  return std::nullopt;
}

bool on_host_space() {
  const char* v = std::getenv("COREROUTE_KOKKOS_SPACE");
  if (!v || !*v) return false;
  if (std::strcmp(v, "host") != 0) FAIL("COREROUTE_KOKKOS_SPACE must be host or unset, got '" << v << "'");
  return true;
}

/// The team size a launch of the routing kernel gets (the request clamped as route does).
template <class ExecSpace>
int effective_team_size() {
  Kokkos::TeamPolicy<ExecSpace> probe(ExecSpace(), 1, Kokkos::AUTO);
  const auto body = KOKKOS_LAMBDA(const typename Kokkos::TeamPolicy<ExecSpace>::member_type& team, int& size) {
    size = team.team_size();
  };
  const int request = coreroute::kokkos::testing::Backend<ExecSpace>::tuning.team_size;
  const int max = probe.team_size_max(body, Kokkos::ParallelReduceTag());
  int size = 0;
  if (request > 0)
    Kokkos::parallel_reduce(Kokkos::TeamPolicy<ExecSpace>(ExecSpace(), 1, std::min(request, max)), body,
                            Kokkos::Max<int>(size));
  else
    Kokkos::parallel_reduce(probe, body, Kokkos::Max<int>(size));
  return size;
}

template <class ExecSpace, class MakePolicy>
void run_parity_on(const char* policy, uint64_t seed_base, MakePolicy make) {
  using Backend = coreroute::kokkos::testing::Backend<ExecSpace>;
  const int cases = cases_per_policy();
  const uint64_t first = seed_base + seed_offset();
  const std::optional<ScoreFunction> score = forced_score();
  int checked = 0, rejected = 0, coreset_ties = 0, id_ties = 0;
  for (int i = 0; i < cases; ++i) {
    const uint64_t seed = first + uint64_t(i);
    crkokkos::Rng g(seed);
    coreroute::testing::Case k = crkokkos::random_case(g);
    if (score) k.config.score = *score;
    const auto pol = make(g, k.config);
    coreroute::testing::ParityOptions opt;
    opt.seed = seed;
    const coreroute::testing::ParityReport r = coreroute::testing::check_parity<Backend>(k.view(), k.config, pol, opt);
    if (!r.ok()) {
      std::ostringstream os;
      os << "seed " << seed << (score ? std::string(", score ") + coreroute::to_string(*score) : std::string()) << ", "
         << pol.describe() << "\n"
         << r.summary() << "\n"
         << k;
      FAIL(os.str());
    }
    ++checked;
    rejected += r.rejected ? 1 : 0;
    coreset_ties += r.coreset_near_ties;
    id_ties += r.id_near_ties;
  }
  std::cout << "kokkos parity, " << policy << "/" << (score ? coreroute::to_string(*score) : "any score") << ": "
            << checked << " cases passed (seeds " << first << ".." << first + uint64_t(cases) - 1 << "; " << rejected
            << " invalid, rejected by both), near-ties accepted: " << coreset_ties << " coresets, " << id_ties
            << " token rows; execution space " << ExecSpace::name() << ", concurrency " << ExecSpace().concurrency()
            << ", team size " << effective_team_size<ExecSpace>() << "\n";
  REQUIRE(checked == cases);
}

template <class MakePolicy>
void run_parity(const char* policy, uint64_t seed_base, MakePolicy make) {
  if (on_host_space())
    run_parity_on<Kokkos::DefaultHostExecutionSpace>(policy, seed_base, make);
  else
    run_parity_on<Kokkos::DefaultExecutionSpace>(policy, seed_base, make);
}

/// One test case per registered built-in policy (builtin_policies.hpp), named
/// "<name> policy vs reference" (parity_all.sh runs them by name); policy i's seeds
/// start at (i + 1) * 1000000.
template <class P>
void parity_test() {
  run_parity(P::name, 1000000 * (uint64_t(coreroute::builtin_index<P>()) + 1), crkokkos::random_policy<P>);
}

const bool parity_tests_registered = [] {
  static std::deque<std::string> names;  // Catch keeps references to the names
  coreroute::for_each_builtin([](const auto& e) {
    using P = typename std::decay_t<decltype(e)>::policy_type;
    names.push_back(std::string(P::name) + " policy vs reference");
    const Catch::AutoReg reg(Catch::makeTestInvoker(&parity_test<P>), CATCH_INTERNAL_LINEINFO, Catch::StringRef(),
                             Catch::NameAndTags{names.back(), "[parity]"});
  });
  return true;
}();

}  // namespace
