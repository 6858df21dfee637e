#pragma once
// The conformance kit: test a coreset policy (a built-in one or your own) with the
// generic invariants, its definition (an oracle, optional) and cross-backend parity,
// over generated inputs. Needs rapidcheck.
//
//   #include <coreroute/testing/kit.hpp>
//   int main() {
//     coreroute::testing::PropertySuite suite("my policy");
//     coreroute::testing::check_policy<MyPolicy>(suite, "my", my_policy_gen, my_oracle);
//     return suite.finish();          // 0 when every property held
//   }
//
// check_policy runs these properties, each on `property_cases()` generated cases:
//   <name>: invariants            Stage 2 invariants (invariants.hpp) of the reference's routing
//   <name>: coreset = oracle      the reference's coreset is the oracle's, up to verified near-ties
//   <name>: parity, <backend>     check_parity for each backend (default: the shuffled
//                                 reference, i.e. permuted tokens, and the host float backend)
//   <name>: bad input             NaN/+Inf/all -Inf rows are rejected by every backend, naming
//                                 block, token and expert; the raw path skips exactly those tokens
// Case counts: COREROUTE_PROP_CASES (default 1000); a max_success in RC_PARAMS wins.
// RC_PARAMS="seed=..." reproduces a run.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <iostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <rapidcheck.h>

#include <coreroute/builtin_policies.hpp>
#include <coreroute/testing/backends.hpp>
#include <coreroute/testing/generators.hpp>
#include <coreroute/testing/invariants.hpp>
#include <coreroute/testing/oracles.hpp>
#include <coreroute/testing/parity.hpp>

namespace coreroute {
/// rapidcheck prints a policy of a counterexample by its describe().
template <class P, std::enable_if_t<is_policy_v<P>, int> = 0>
void showValue(const P& p, std::ostream& os) {
  os << p.describe();
}
}  // namespace coreroute

namespace coreroute::testing {

/// Cases per property: RC_PARAMS' max_success if set, else COREROUTE_PROP_CASES, else 1000.
inline int property_cases() {
  const char* rc_params = std::getenv("RC_PARAMS");
  if (rc_params && std::string(rc_params).find("max_success") != std::string::npos)
    return rc::detail::configuration().testParams.maxSuccess;
  const char* env = std::getenv("COREROUTE_PROP_CASES");
  const int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : 1000;
}

/// Runs properties with the configured case count, prints one line per property
/// and a summary; finish() is the process exit code.
class PropertySuite {
 public:
  explicit PropertySuite(std::string name) : name_(std::move(name)) {}

  /// The property must hold on every case.
  template <class Testable>
  bool check(const std::string& what, Testable&& t) {
    const bool held = run(what, std::forward<Testable>(t));
    record(what, held, held ? "holds" : "FALSIFIED");
    return held;
  }

  /// The property must be falsified (mutation checks: the kit must catch the bug).
  template <class Testable>
  bool expect_falsified(const std::string& what, Testable&& t) {
    std::cerr << "(expected to be falsified: a deliberately broken variant)\n";
    const bool held = run(what, std::forward<Testable>(t));
    record(what, !held, held ? "NOT CAUGHT" : "caught");
    return !held;
  }

  /// Records a verdict computed elsewhere (e.g. "this sub-suite failed", for mutants).
  void expect(bool ok, const std::string& what, const char* verdict) {
    seconds_ = 0;
    record(what, ok, verdict);
  }

  int failures() const { return failed_; }
  int finish() const {
    std::cerr << "\n"
              << name_ << ": " << results_.size() - size_t(failed_) << " of " << results_.size()
              << " properties passed, " << property_cases() << " cases each\n";
    for (const std::string& r : results_) std::cerr << "  " << r << "\n";
    return failed_ == 0 && !results_.empty() ? 0 : 1;
  }

 private:
  template <class Testable>
  bool run(const std::string& what, Testable&& t) {
    rc::detail::TestParams params = rc::detail::configuration().testParams;
    params.maxSuccess = property_cases();
    rc::detail::TestMetadata meta;
    meta.id = meta.description = what;
    std::cerr << "\n- " << what << std::endl;
    const auto start = std::chrono::steady_clock::now();
    const auto result = rc::detail::checkTestable(std::forward<Testable>(t), meta, params);
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rc::detail::printResultMessage(result, std::cerr);
    std::cerr << std::endl;
    return result.template is<rc::detail::SuccessResult>();
  }
  void record(const std::string& what, bool ok, const char* verdict) {
    char t[32];
    std::snprintf(t, sizeof t, "%.1f s", seconds_);
    results_.push_back(std::string(ok ? "ok   " : "FAIL ") + what + ": " + verdict + " (" + t + ")");
    failed_ += ok ? 0 : 1;
  }
  std::string name_;
  std::vector<std::string> results_;
  int failed_ = 0;
  double seconds_ = 0;
};

template <class Policy>
using PolicyGen = std::function<rc::Gen<Policy>(const RouterConfig&)>;

/// The coreset a policy must produce for one block, from its definition.
template <class Policy>
using CoresetOracle = std::function<oracle::Mask(const reference::BlockScores&, const RouterParams&, const Policy&)>;

struct KitOptions {
  gen::CaseOptions cases;
  bool check_bad_input = true;
};

/// Accumulated near-ties accepted by parity checks, printed by check_policy.
struct NearTieTally {
  long coresets = 0, rows = 0, cases = 0;
};

namespace detail {

/// Differences between the reference's coresets for x and the oracle's that are not
/// verified near-ties ("" when none).
template <class Policy>
std::string oracle_mismatch(const Case& k, const Policy& pol, const CoresetOracle<Policy>& oracle) {
  const LogitsView<float> x = k.view();
  const RouterParams p = params_of(k.config);
  const Routing R = reference::route(x, k.config, pol);
  reference::BlockScores sc;
  for (int64_t b = 0; b < x.blocks; ++b) {
    reference::score_block(x, b, p, sc);
    const oracle::Mask want = oracle(sc, p, pol);
    const uint8_t* got = &R.coreset[size_t(b * p.num_experts)];
    if (want.size() != size_t(p.num_experts)) return "the oracle returned a mask of the wrong size";
    bool tie = false;
    // The oracle's answer must be one the policy's own near-ties allow.
    const std::string why = verify_coreset(x, b, sc, p, pol, want.data(), got, true, tie);
    if (!why.empty()) return "block " + std::to_string(b) + ": oracle vs reference: " + why;
  }
  return "";
}

/// The raw path on invalid input: exactly the invalid tokens are skipped (ids -1,
/// counted, no vote): same coreset and rows as the checked path on the valid rows.
template <class Policy>
std::string raw_path_mismatch(const Case& k, const Policy& pol) {
  const RouterParams p = params_of(k.config);
  const Routing raw = reference::route_unchecked(k.view(), p, pol);
  Case good = k;  // valid rows first (in order), invalid rows after, unrouted
  good.tokens_per_block.assign(size_t(k.blocks), 0);
  reference::BlockScores sc;
  std::vector<std::vector<int64_t>> rows(size_t(k.blocks));
  for (int64_t b = 0; b < k.blocks; ++b) {
    reference::score_block(k.view(), b, p, sc);
    for (int64_t n = 0; n < k.valid_tokens(b); ++n)
      if (sc.valid[size_t(n)]) rows[size_t(b)].push_back(n);
    if (raw.invalid_tokens[size_t(b)] != k.valid_tokens(b) - int64_t(rows[size_t(b)].size()))
      return "block " + std::to_string(b) + ": invalid_tokens = " + std::to_string(raw.invalid_tokens[size_t(b)]);
    good.tokens_per_block[size_t(b)] = int32_t(rows[size_t(b)].size());
    for (size_t t = 0; t < rows[size_t(b)].size(); ++t)
      for (int i = 0; i < k.experts(); ++i) good.at(b, int64_t(t), i) = k.at(b, rows[size_t(b)][t], i);
  }
  const Routing R = reference::route(good.view(), good.config, pol);
  const int K = k.config.top_k, M = k.experts();
  for (int64_t b = 0; b < k.blocks; ++b) {
    if (!std::equal(&raw.coreset[size_t(b * M)], &raw.coreset[size_t((b + 1) * M)], &R.coreset[size_t(b * M)]))
      return "block " + std::to_string(b) + ": an invalid token changed the coreset";
    size_t t = 0;
    for (int64_t n = 0; n < k.valid_tokens(b); ++n) {
      const bool ok_row = t < rows[size_t(b)].size() && rows[size_t(b)][t] == n;
      for (int j = 0; j < K; ++j) {
        const int32_t want = ok_row ? R.id(b, int64_t(t), j) : -1;
        if (raw.id(b, n, j) != want || (!ok_row && raw.weight(b, n, j) != 0.0f))
          return "block " + std::to_string(b) + ", token " + std::to_string(n) + ": raw path row differs";
      }
      t += ok_row ? 1 : 0;
    }
  }
  return "";
}

template <class Policy, class... Backends>
struct BackendList {};

}  // namespace detail

/// The kit: every property above for policies drawn by `policies`, checked on the
/// listed backends. Returns true when all held.
template <class Policy, class... Backends>
bool check_policy_on(PropertySuite& suite, const std::string& name, PolicyGen<Policy> policies,
                     CoresetOracle<Policy> oracle = nullptr, const KitOptions& o = {}) {
  static_assert(is_policy_v<Policy>, "Policy does not satisfy the coreroute policy concept (policies.hpp)");
  bool ok = suite.check(name + ": invariants", [=] {
    const Case k = *gen::valid_case(o.cases);
    const Policy pol = *policies(k.config);
    const Routing R = reference::route(k.view(), k.config, pol);
    const std::string bad = join(check_invariants(k.view(), k.config, R));
    if (!bad.empty()) RC_FAIL(pol.describe() + ": " + bad);
  });
  if (oracle)
    ok = suite.check(name + ": coreset = oracle", [=] {
      const Case k = *gen::valid_case(o.cases);
      const Policy pol = *policies(k.config);
      const std::string bad = detail::oracle_mismatch(k, pol, oracle);
      if (!bad.empty()) RC_FAIL(pol.describe() + ": " + bad);
    }) && ok;
  auto parity = [&](auto backend_tag) {
    using Backend = decltype(backend_tag);
    auto tally = std::make_shared<NearTieTally>();
    const bool held = suite.check(name + ": parity, " + Backend::name, [=] {
      const Case k = *gen::valid_case(o.cases);
      const Policy pol = *policies(k.config);
      const ParityReport rep = check_parity<Backend>(k.view(), k.config, pol);
      if (!rep.ok()) RC_FAIL(rep.summary());
      tally->coresets += rep.coreset_near_ties;
      tally->rows += rep.id_near_ties;
      tally->cases += 1;
    });
    std::cerr << "  near-ties accepted on " << Backend::name
              << " (over every run, shrinking included): " << tally->coresets << " coresets, " << tally->rows
              << " token rows in " << tally->cases << " cases\n";
    return held;
  };
  ok = (parity(Backends{}) && ... && true) && ok;
  if (o.check_bad_input)
    ok = suite.check(name + ": bad input", [=] {
      const Case k = *gen::invalid_case(o.cases);
      const Policy pol = *policies(k.config);
      try {
        reference::route(k.view(), k.config, pol);
        RC_FAIL("the reference accepted invalid logits");
      } catch (const invalid_argument& e) {
        if (std::string(e.what()).find("logits[block ") == std::string::npos)
          RC_FAIL(std::string("the message does not name block and token: ") + e.what());
      }
      const ParityReport reps[] = {check_parity<Backends>(k.view(), k.config, pol)...};
      for (const ParityReport& r : reps)
        if (!r.ok() || !r.rejected) RC_FAIL(r.summary());
      const std::string raw = detail::raw_path_mismatch(k, pol);
      if (!raw.empty()) RC_FAIL(raw);
    }) && ok;
  return ok;
}

/// check_policy_on with the host backends: the shuffled reference and the float backend.
template <class Policy>
bool check_policy(PropertySuite& suite, const std::string& name, PolicyGen<Policy> policies,
                  CoresetOracle<Policy> oracle = nullptr, const KitOptions& o = {}) {
  return check_policy_on<Policy, ShuffledReferenceBackend, HostFloatBackend>(suite, name, std::move(policies),
                                                                             std::move(oracle), o);
}

/// True when oracles.hpp has a hand-written oracle for exactly Policy (a policy derived
/// from one of the built-in ones does not inherit its base's oracle).
template <class Policy, class = void>
struct has_builtin_oracle : std::false_type {};
template <class Policy>
struct has_builtin_oracle<
    Policy, std::void_t<decltype(static_cast<oracle::Mask (*)(const reference::BlockScores&, const RouterParams&,
                                                              const Policy&)>(&oracle::coreset))>> : std::true_type {};

/// The hand-written oracle of a built-in policy (oracles.hpp) as a CoresetOracle, or
/// an empty one (no "coreset = oracle" property) when the policy has none.
template <class Policy>
CoresetOracle<Policy> builtin_oracle() {
  if constexpr (has_builtin_oracle<Policy>::value)
    return [](const reference::BlockScores& sc, const RouterParams& p, const Policy& pol) {
      return oracle::coreset(sc, p, pol);
    };
  else
    return nullptr;
}

/// The kit on a registered built-in policy (builtin_policies.hpp): its generator
/// (gen::builtin_policy), its oracle where oracles.hpp has one, the host backends.
/// A policy without an oracle is still checked for invariants, parity and bad input.
template <class Policy>
bool check_builtin_policy(PropertySuite& suite, const KitOptions& o = {}) {
  static_assert(is_builtin_v<Policy>, "check_builtin_policy: Policy is not registered in builtin_policies()");
  if (!has_builtin_oracle<Policy>::value)
    std::cerr << "note: " << Policy::name
              << " has no hand-written oracle in oracles.hpp: its coreset is not checked against its definition,"
                 " only the invariants, backend parity and bad input\n";
  if (!gen::has_tuned_policy<Policy>::value)
    std::cerr << "note: " << Policy::name << " is drawn from its registered parameters (gen::registered_policy)\n";
  return check_policy<Policy>(suite, Policy::name, gen::builtin_policy<Policy>, builtin_oracle<Policy>(), o);
}

}  // namespace coreroute::testing
