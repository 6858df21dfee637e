#pragma once
// Options shared by route / eval / sweep: where the trace is, how the model routes
// (RouterConfig), which policy, which backend. Flags map one to one onto
// docs/spec.md sections 2 and 4; a --preset fills the router's flags with a model's values.
#include <map>
#include <string>
#include <vector>

#include <coreroute/config.hpp>
#include <coreroute/policies.hpp>
#include <coreroute/views.hpp>

#include "arrays.hpp"
#include "backend.hpp"
#include "memory.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace coreroute::cli {

/// Everything the router flags say, before the trace (and so M) is known.
struct RouterOptions {
  std::string trace, preset, hf_config, score = "softmax", bias, groups, group_score = "top2", tokens, outputs,
                                        backend = "reference";
  int top_k = 8, model_top_k = 0;
  bool normalize = false;
  double scaling = 1.0, expert_bytes = 0, cost_ratio = 3.35 / 989.0;
  std::string max_memory = "2G";
  // Set when given on the command line, so they override a preset.
  CLI::Option *score_opt = nullptr, *groups_opt = nullptr, *normalize_opt = nullptr, *scaling_opt = nullptr,
              *top_k_opt = nullptr, *bytes_opt = nullptr, *model_top_k_opt = nullptr, *cost_ratio_opt = nullptr,
              *group_score_opt = nullptr;
};

/// --policy and one flag per parameter of the built-in policies
/// (include/coreroute/builtin_policies.hpp), keyed by the parameter's field name.
struct PolicyOptions {
  std::string policy = "vanilla";
  std::map<std::string, double> values;
  std::map<std::string, CLI::Option*> options;
};

void add_router_options(CLI::App& app, RouterOptions& o);
void add_policy_options(CLI::App& app, PolicyOptions& o);

/// "2G", "512M", "1000000" -> bytes; throws naming --max-memory.
double parse_bytes(const std::string& text);

/// The loaded inputs of a routing run, with a checked RouterConfig.
struct Workload {
  std::string trace_path;
  Trace trace;
  std::vector<int32_t> tokens;  // empty: every block has N tokens
  std::vector<float> outputs;   // empty: no output loss
  int output_dim = 0;
  RouterConfig config;  // the model's router (K = --top-k)
  int model_top_k = 0;  // K of the reference routing metrics compare against
  double expert_bytes = 0;
  LayerCostFit cost;  // the modeled time's c, b, a (cost_model says which)
  Backend backend = Backend::reference;

  LogitsView<float> view() const;
  ExpertOutputsView outputs_view() const;
};

/// The modeled time of a workload: a preset's measured fit, unless --cost-ratio is
/// given; else the generic c = 0, b = 1, a = a/b (`ratio`).
LayerCostFit cost_model(const ModelPreset* model, double ratio, bool ratio_given);
/// One line saying which model the time column uses.
std::string describe_cost(const LayerCostFit& cost);

/// Loads the files and builds the config; every bad value throws one clear line.
/// A model that routes with a learned bias but no --bias prints one warning line.
/// Refuses, before any array is allocated, a run `plan` says would take more than
/// --max-memory.
Workload load_workload(const RouterOptions& o, const MemoryPlan& plan);

/// Routes the workload; config and policy are checked first, so what the library
/// still rejects is the trace's content: an error naming the file (exit status 1).
Routing route_checked(const Workload& w, const RouterConfig& c, const AnyPolicy& p);

/// The model of --preset NAME or --hf-config FILE (one of them non-empty); `flag`
/// names it in messages ("--preset llada2-mini").
ModelPreset model_of(const std::string& preset, const std::string& hf_config, std::string* flag);

/// The policy of the flags, validated against the config.
AnyPolicy make_policy(const PolicyOptions& o, const RouterConfig& c);

}  // namespace coreroute::cli
