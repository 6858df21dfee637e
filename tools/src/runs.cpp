#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include <coreroute/error.hpp>

#include "commands.hpp"
#include "policy_flags.hpp"

namespace coreroute::cli {

std::string label_of(const std::string& family, const char* name, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %s=%g", family.c_str(), name, v);
  return buf;
}

Run vanilla_run(int top_k) { return {"vanilla", "vanilla", double(top_k), VanillaPolicy{}, top_k}; }

Run topk_run(int top_k) { return {"top-" + std::to_string(top_k), "top-k", double(top_k), VanillaPolicy{}, top_k}; }

Run union_run(int k_local) {
  UnionPolicy u;
  u.k_local = k_local;
  return run_of(u, 0);
}

Run vote_beta_run(double beta) { return run_of(SaliencyVotePolicy::with_beta(beta), 0); }

Run vote_core_run(int core) { return run_of(SaliencyVotePolicy::with_core(core), 0); }

Run blockdist_run(double top_p, int min_experts) {
  BlockDistributionPolicy b;
  b.top_p = top_p;
  b.min_experts = min_experts;
  return run_of(b, 0);
}

Run run_of(const AnyPolicy& p, int top_k) {
  Run r = vanilla_run(top_k);
  // The label shows the first labelled parameter that is set (non-zero).
  for_each_builtin([&](const auto& e) {
    using P = typename std::decay_t<decltype(e)>::policy_type;
    const P* q = std::get_if<P>(&p);
    if (!q || std::is_same_v<P, VanillaPolicy>) return;
    r.family = P::name;
    r.label = P::name;
    bool labelled = false;
    for_each_param(e, [&](const auto& param) {
      const double v = double(q->*(param.member));
      if (labelled || !param.label || v == 0) return;
      r.label = label_of(P::name, param.label, v);
      r.param = v;
      labelled = true;
    });
  });
  r.policy = p;
  r.top_k = top_k;
  return r;
}

namespace {
std::vector<Run> with_k(std::vector<Run> runs, int top_k) {
  for (Run& r : runs)
    if (r.top_k == 0) r.top_k = top_k;
  return runs;
}

/// "0.1,0.2" -> {0.1, 0.2}; "1..K" -> {1, ..., K}.
std::vector<double> default_values(const std::string& spec, int K) {
  std::vector<double> v;
  if (spec == "1..K") {
    for (int k = 1; k <= K; ++k) v.push_back(k);
    return v;
  }
  size_t at = 0;
  while (at < spec.size()) {
    const size_t comma = std::min(spec.find(',', at), spec.size());
    v.push_back(std::stod(spec.substr(at, comma - at)));
    at = comma + 1;
  }
  return v;
}
}  // namespace

std::vector<Run> demo_runs(const Preset& p) {
  const int K = p.config.top_k;
  std::vector<Run> runs = {vanilla_run(K), topk_run(4), union_run(2), union_run(3)};
  for (double beta : p.vote_betas) runs.push_back(vote_beta_run(beta));
  runs.push_back(blockdist_run(0.6, std::min(16, p.config.num_experts)));
  for (double beta : p.vote_betas) runs.push_back(run_of(BlockMaxPolicy::with_beta(beta), 0));  // vote's sizes
  return with_k(runs, K);
}

std::vector<std::string> sweep_families() {
  std::vector<std::string> f = {"top-k"};
  for_each_builtin([&](const auto& e) {
    bool swept = false;
    for_each_param(e, [&](const auto& p) { swept = swept || p.sweep; });
    if (swept) f.push_back(std::decay_t<decltype(e)>::policy_type::name);
  });
  return f;
}

std::vector<Run> sweep_runs(const SweepRanges& r, const RouterConfig& c) {
  using coreroute::detail::require;
  const int M = c.num_experts, K = c.top_k;
  const auto has = [&](const std::string& f) {
    return r.families.empty() || std::find(r.families.begin(), r.families.end(), f) != r.families.end();
  };
  std::vector<Run> runs = {vanilla_run(K)};
  if (has("top-k")) {
    std::vector<int> ks = r.top_ks;
    if (ks.empty())
      for (int k = 1; k <= K; ++k) ks.push_back(k);
    for (int k : ks) {
      require(k >= 1 && k <= M, "--top-ks", k, "must be in [1, M = " + std::to_string(M) + "]");
      if (k != K) runs.push_back(topk_run(k));
    }
  }
  for_each_builtin([&](const auto& e) {
    using P = typename std::decay_t<decltype(e)>::policy_type;
    if (!has(P::name)) return;
    for_each_param(e, [&](const auto& swept) {
      if (!swept.sweep) return;
      const auto given = r.lists.find(swept.field);
      const std::vector<double> values = given != r.lists.end() ? given->second : default_values(swept.sweep, K);
      for (double v : values) {
        P policy{};
        for_each_param(e, [&](const auto& p) {  // the other parameters: given, or their defaults
          const auto fixed = r.fixed.find(p.field);
          if (fixed != r.fixed.end())
            set_param(policy, p, fixed->second, flag_of(p.field));
          else if (p.default_for)
            policy.*(p.member) = p.default_for(c);
        });
        set_param(policy, swept, v, flag_of(swept.field) + "s");
        validate_as_flags(e, policy, c, swept.field);
        runs.push_back(run_of(policy, K));
      }
    });
  });
  return with_k(runs, K);
}

std::vector<Result> evaluate_all(const Evaluator& ev, const std::vector<Run>& runs, const std::string& what) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const bool tty = isatty(fileno(stderr)) != 0;
  bool shown = false;
  std::vector<Result> out;
  for (size_t i = 0; i < runs.size(); ++i) {
    out.push_back(ev.evaluate(runs[i]));
    const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
    if (tty && (shown || elapsed > 0.5)) {
      const int width = 30, done = int(double(width) * double(i + 1) / double(runs.size()));
      std::fprintf(stderr, "\r%s [%s%s] %zu/%zu %-24s", what.c_str(), std::string(size_t(done), '#').c_str(),
                   std::string(size_t(width - done), ' ').c_str(), i + 1, runs.size(), runs[i].label.c_str());
      shown = true;
    }
  }
  if (shown) std::fprintf(stderr, "\r%*s\r", 100, "");
  return out;
}

}  // namespace coreroute::cli
