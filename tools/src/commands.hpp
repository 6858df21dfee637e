#pragma once
// One file per subcommand; each registers itself on the app and runs from its callback.
#include <string>
#include <vector>

#include "evaluate.hpp"
#include "synth.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace coreroute::cli {

void add_demo(CLI::App& app);
void add_gen(CLI::App& app);
void add_route(CLI::App& app);
void add_eval(CLI::App& app);
void add_sweep(CLI::App& app);

/// Runs shared by demo, eval and sweep.
std::string label_of(const std::string& family, const char* name, double v);
Run vanilla_run(int top_k);
Run topk_run(int top_k);  // the papers' "top-4" baseline: vanilla with K overridden
Run union_run(int k_local);
Run vote_beta_run(double beta);
Run vote_core_run(int core);
Run blockdist_run(double top_p, int min_experts);
/// The run of a policy given on the command line, labelled like the ones above.
Run run_of(const AnyPolicy& p, int top_k);

/// The demo's rows for a preset: vanilla, top-4, DES-Seq k=2/3, DES-Vote at the
/// papers' betas, dMoE top_p = 0.6 (min_experts 16).
std::vector<Run> demo_runs(const Preset& p);

/// Parameter ranges of a sweep; families: vanilla (always), top-k, union, vote, blockdist.
struct SweepRanges {
  std::vector<std::string> families = {"top-k", "union", "vote", "blockdist"};
  std::vector<int> top_ks, k_locals;  // empty: 1..K
  std::vector<double> betas = {0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8};
  std::vector<double> top_ps = {0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  int min_experts = -1;  // -1: min(16, M)
};
std::vector<Run> sweep_runs(const SweepRanges& r, int num_experts, int top_k);

/// Runs every run with a progress bar on stderr (when it is a terminal and the
/// work takes more than a moment).
std::vector<Result> evaluate_all(const Evaluator& ev, const std::vector<Run>& runs, const std::string& what);

/// Creates DIR (and parents); one clear error when it cannot.
void make_dir(const std::string& dir);

}  // namespace coreroute::cli
