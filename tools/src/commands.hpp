#pragma once
// One file per subcommand; each registers itself on the app and runs from its callback.
#include <map>
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

/// What a sweep runs: vanilla (always), the top-k baseline and every built-in policy
/// with a swept parameter (include/coreroute/builtin_policies.hpp), each over its
/// values: given (`lists`, by field) or the registry's defaults ("1..K": 1 to K).
/// `fixed` holds values given for a family's other parameters (by field).
struct SweepRanges {
  std::vector<std::string> families;  // empty: every family
  std::vector<int> top_ks;            // empty: 1..K
  std::map<std::string, std::vector<double>> lists;
  std::map<std::string, double> fixed;
};
/// The families a sweep knows: "top-k" and the built-in policies with a swept parameter.
std::vector<std::string> sweep_families();
/// Builds (and validates, naming the sweep's flags) every run of the sweep.
std::vector<Run> sweep_runs(const SweepRanges& r, const RouterConfig& c);

/// Runs every run with a progress bar on stderr (when it is a terminal and the
/// work takes more than a moment).
std::vector<Result> evaluate_all(const Evaluator& ev, const std::vector<Run>& runs, const std::string& what);

}  // namespace coreroute::cli
