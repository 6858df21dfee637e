#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include <coreroute/error.hpp>

#include "commands.hpp"

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
  return {label_of("union", "k", k_local), "union", double(k_local), u, 0};
}

Run vote_beta_run(double beta) {
  return {label_of("vote", "beta", beta), "vote", beta, SaliencyVotePolicy::with_beta(beta), 0};
}

Run vote_core_run(int core) {
  return {label_of("vote", "core", core), "vote", double(core), SaliencyVotePolicy::with_core(core), 0};
}

Run blockdist_run(double top_p, int min_experts) {
  BlockDistributionPolicy b;
  b.top_p = top_p;
  b.min_experts = min_experts;
  return {label_of("blockdist", "p", top_p), "blockdist", top_p, b, 0};
}

Run run_of(const AnyPolicy& p, int top_k) {
  Run r;
  if (const auto* u = std::get_if<UnionPolicy>(&p)) r = union_run(u->k_local);
  else if (const auto* v = std::get_if<SaliencyVotePolicy>(&p)) r = v->core > 0 ? vote_core_run(v->core) : vote_beta_run(v->beta);
  else if (const auto* b = std::get_if<BlockDistributionPolicy>(&p)) r = blockdist_run(b->top_p, b->min_experts);
  else r = vanilla_run(top_k);
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
}  // namespace

std::vector<Run> demo_runs(const Preset& p) {
  const int K = p.config.top_k;
  std::vector<Run> runs = {vanilla_run(K), topk_run(4), union_run(2), union_run(3)};
  for (double beta : p.vote_betas) runs.push_back(vote_beta_run(beta));
  runs.push_back(blockdist_run(0.6, std::min(16, p.config.num_experts)));
  return with_k(runs, K);
}

std::vector<Run> sweep_runs(const SweepRanges& r, int M, int K) {
  const auto has = [&](const char* f) { return std::find(r.families.begin(), r.families.end(), f) != r.families.end(); };
  std::vector<int> upto_k;
  for (int k = 1; k <= K; ++k) upto_k.push_back(k);
  std::vector<Run> runs = {vanilla_run(K)};
  if (has("top-k"))
    for (int k : r.top_ks.empty() ? upto_k : r.top_ks)
      if (k != K) runs.push_back(topk_run(k));
  if (has("union"))
    for (int k : r.k_locals.empty() ? upto_k : r.k_locals) runs.push_back(union_run(k));
  if (has("vote"))
    for (double b : r.betas) runs.push_back(vote_beta_run(b));
  if (has("blockdist"))
    for (double p : r.top_ps) runs.push_back(blockdist_run(p, r.min_experts >= 0 ? r.min_experts : std::min(16, M)));
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

void make_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir, ec))
    coreroute::detail::fail("--out", dir, "cannot create the output folder" + (ec ? " (" + ec.message() + ")" : ""));
}

}  // namespace coreroute::cli
