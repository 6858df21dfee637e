#include "options.hpp"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include <coreroute/error.hpp>

#include "hf_config.hpp"
#include "npy.hpp"
#include "policy_flags.hpp"
#include "synth.hpp"

namespace coreroute::cli {

using coreroute::detail::fail;
using coreroute::detail::require;

void add_router_options(CLI::App& app, RouterOptions& o) {
  app.add_option("--trace", o.trace, "Router logits .npy, float32 or float16, shape [B,N,M] or [N,M]")
      ->required()
      ->type_name("FILE");
  CLI::Option* preset = app.add_option("--preset", o.preset,
                                       "Use a model's router settings: " + preset_names() + " (flags below override)")
                            ->type_name("NAME");
  app.add_option("--hf-config", o.hf_config,
                 "Use the router settings of a Hugging Face config.json (flags below override)")
      ->type_name("FILE")
      ->excludes(preset);
  o.top_k_opt = app.add_option("--top-k", o.top_k, "K, experts per token (default 8)")->type_name("K");
  o.model_top_k_opt =
      app.add_option("--model-top-k", o.model_top_k,
                     "K of the vanilla routing metrics compare against (default: --top-k; the model's K for a "
                     "top-k baseline)")
          ->type_name("K");
  o.score_opt =
      app.add_option("--score", o.score, "Router score function")->check(CLI::IsMember({"softmax", "sigmoid"}));
  app.add_option("--bias", o.bias, "Expert bias .npy [M] (selection only)")->type_name("FILE");
  o.groups_opt =
      app.add_option("--groups", o.groups, "Group-limited routing: n_group:topk_group, e.g. 8:4")->type_name("G:T");
  o.group_score_opt = app.add_option("--group-score", o.group_score,
                                     "Group score of group-limited routing: top2 (sum of the two best, DeepSeek-V3; "
                                     "default) or max (the best, DeepSeek-V2)")
                          ->check(CLI::IsMember({"top2", "max"}));
  o.normalize_opt = app.add_flag("--normalize,!--no-normalize", o.normalize, "Normalize the K weights to sum 1");
  o.scaling_opt = app.add_option("--scaling", o.scaling, "Multiply the weights by s (> 0)")->type_name("s");
  app.add_option("--tokens", o.tokens, "Valid tokens per block .npy [B] int32/int64 (default: all N)")
      ->type_name("FILE");
  app.add_option("--outputs", o.outputs, "Expert outputs .npy [B,N,M,d] for the output reconstruction loss")
      ->type_name("FILE");
  o.bytes_opt =
      app.add_option("--expert-bytes", o.expert_bytes, "Bytes of one expert's weights (metrics)")->type_name("BYTES");
  o.cost_ratio_opt = app.add_option("--cost-ratio", o.cost_ratio,
                                    "a/b of the generic cost model b*T + a*N*K, instead of a preset's measured fit "
                                    "(default without one: an H100's bandwidth / bf16 FLOP rate)")
                         ->type_name("r");
  app.add_option("--backend", o.backend, "Routing backend")->type_name("reference|kokkos|cuda");
  app.add_option("--max-memory", o.max_memory,
                 "Refuse a run whose arrays would take more than this many bytes (suffix K, M, G; default 2G)")
      ->type_name("BYTES");
}

double parse_bytes(const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    fail("--max-memory", text, "must be a number of bytes, optionally with K, M or G (e.g. 8G)");
  }
  const std::string unit = text.substr(used);
  const double scale = unit.empty() ? 1 : unit == "K" ? 0x1p10 : unit == "M" ? 0x1p20 : unit == "G" ? 0x1p30 : -1;
  require(scale > 0 && std::isfinite(v) && v > 0, "--max-memory", text,
          "must be a positive number of bytes, optionally with K, M or G (e.g. 8G)");
  return v * scale;
}

Routing route_checked(const Workload& w, const RouterConfig& c, const AnyPolicy& p) {
  try {
    return route_with(w.backend, w.view(), c, p);
  } catch (const coreroute::invalid_argument& e) {
    std::string what = e.what();
    what.erase(0, std::string("coreroute: ").size());
    throw npy_error((w.trace_path.empty() ? std::string("trace") : w.trace_path) + ": " + what);
  }
}

void add_policy_options(CLI::App& app, PolicyOptions& o) {
  std::string help = "Coreset policy:";
  for_each_builtin([&](const auto& e) {
    help += std::string("\n  ") + std::decay_t<decltype(e)>::policy_type::name + ": " + e.summary;
  });
  app.add_option("--policy", o.policy, help)->check(CLI::IsMember(builtin_policy_list()))->type_name("NAME");
  // One flag per parameter field; a field several policies share is one flag.
  std::map<std::string, std::string> helps;
  std::vector<std::string> order;
  for_each_builtin([&](const auto& e) {
    const std::string name = std::decay_t<decltype(e)>::policy_type::name;
    for_each_param(e, [&](const auto& p) {
      if (!helps.count(p.field)) order.push_back(p.field);
      helps[p.field] += (helps[p.field].empty() ? "" : "; ") + name + ": " + p.help;
    });
  });
  for (const std::string& field : order)
    o.options[field] = app.add_option(flag_of(field), o.values[field], helps[field])->type_name("v");
}

namespace {

void parse_groups(const std::string& text, GroupLimit& g) {
  const size_t colon = text.find(':');
  size_t used_a = 0, used_b = 0;
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no colon");
    g.n_group = std::stoi(text.substr(0, colon), &used_a);
    g.topk_group = std::stoi(text.substr(colon + 1), &used_b);
  } catch (const std::exception&) {
    fail("--groups", text, "must be n_group:topk_group, two integers, e.g. 8:4");
  }
  require(used_a == colon && used_b == text.size() - colon - 1, "--groups", text,
          "must be n_group:topk_group, two integers, e.g. 8:4");
}

}  // namespace

LogitsView<float> Workload::view() const {
  return make_logits_view(trace.logits.data(), trace.blocks, trace.tokens, trace.experts,
                          tokens.empty() ? nullptr : tokens.data());
}

ExpertOutputsView Workload::outputs_view() const {
  return make_expert_outputs_view(outputs.data(), trace.tokens, trace.experts, output_dim);
}

ModelPreset model_of(const std::string& preset, const std::string& hf_config, std::string* flag) {
  if (!hf_config.empty()) {
    *flag = "--hf-config " + hf_config;
    return read_hf_config(hf_config);
  }
  *flag = "--preset " + preset;
  return find_preset(preset);
}

LayerCostFit cost_model(const ModelPreset* model, double ratio, bool ratio_given) {
  if (model && model->layer_cost.measured() && !ratio_given) return model->layer_cost;
  LayerCostFit generic;
  generic.b = 1;
  generic.a = ratio;
  return generic;
}

std::string describe_cost(const LayerCostFit& cost) {
  char line[256];
  if (!cost.gpu.empty())
    std::snprintf(line, sizeof line, "the fit measured on an %s (%s): L = %.4g + %.4g*T + %.4g*N*K us",
                  cost.gpu.c_str(), cost.source.c_str(), cost.c, cost.b, cost.a);
  else
    std::snprintf(line, sizeof line, "the generic L = b*T + a*N*K with a/b = %.4g (--cost-ratio)", cost.a / cost.b);
  return line;
}

Workload load_workload(const RouterOptions& o, const MemoryPlan& plan) {
  Workload w;
  w.backend = parse_backend(o.backend);  // before the files: an unusable backend fails fast
  RouterConfig& c = w.config;
  std::string model_flag;
  const bool has_model = !o.preset.empty() || !o.hf_config.empty();
  const ModelPreset model = has_model ? model_of(o.preset, o.hf_config, &model_flag) : ModelPreset{};
  if (has_model) {
    c = model.config;
    w.expert_bytes = model.expert_bytes;
  } else {
    c.top_k = 8;
  }
  const auto given = [](const CLI::Option* opt) { return opt && opt->count() > 0; };
  if (given(o.top_k_opt)) c.top_k = o.top_k;
  if (given(o.score_opt)) c.score = o.score == "sigmoid" ? ScoreFunction::sigmoid : ScoreFunction::softmax;
  if (given(o.groups_opt)) parse_groups(o.groups, c.groups);
  if (given(o.group_score_opt)) {
    require(c.groups.enabled(), "--group-score", o.group_score,
            "needs group-limited routing (--groups G:T, or a model with groups)");
    c.groups.group_score = o.group_score == "max" ? GroupScoreRule::max : GroupScoreRule::top2;
  }
  if (given(o.normalize_opt)) c.normalize_weights = o.normalize;
  if (given(o.scaling_opt)) c.scaling = float(o.scaling);
  if (given(o.bytes_opt)) w.expert_bytes = o.expert_bytes;
  require(w.expert_bytes >= 0 && std::isfinite(w.expert_bytes), "--expert-bytes", w.expert_bytes,
          "must be finite and >= 0");
  require(o.cost_ratio >= 0 && std::isfinite(o.cost_ratio), "--cost-ratio", o.cost_ratio, "must be finite and >= 0");
  w.cost = cost_model(has_model ? &model : nullptr, o.cost_ratio, given(o.cost_ratio_opt));

  // Shapes first, from the headers alone: nothing is allocated before the bound.
  const TraceShape shape = trace_shape(o.trace);
  if (has_model)
    require(shape.experts == model.config.num_experts, model_flag.substr(0, model_flag.find(' ')),
            model_flag.substr(model_flag.find(' ') + 1),
            "has M = " + std::to_string(model.config.num_experts) +
                " experts but the trace has M = " + std::to_string(shape.experts));
  c.num_experts = int(shape.experts);
  int dim = 0, dim_itemsize = 0;
  if (!o.outputs.empty()) dim = outputs_dim(o.outputs, shape, &dim_itemsize);
  coreroute::validate(c);
  w.model_top_k = given(o.model_top_k_opt) ? o.model_top_k : c.top_k;
  require(w.model_top_k >= 1 && w.model_top_k <= c.num_experts, "--model-top-k", w.model_top_k,
          "must be in [1, M = " + std::to_string(c.num_experts) + "]");
  if (c.groups.enabled()) {
    const int most = c.groups.topk_group * (c.num_experts / c.groups.n_group);
    require(w.model_top_k <= most, "--model-top-k", w.model_top_k,
            "must be <= topk_group * M / n_group = " + std::to_string(most));
  }
  const double cap = parse_bytes(o.max_memory);
  const double need = planned_bytes(shape, dim, dim_itemsize, c.top_k, w.model_top_k, plan);
  if (need > cap) {
    std::ostringstream os;
    os << o.trace << ": a trace of shape (" << shape.blocks << ", " << shape.tokens << ", " << shape.experts << ")"
       << (dim ? " with outputs of d = " + std::to_string(dim) : std::string()) << " needs about "
       << std::setprecision(3) << need / 0x1p30 << " GiB (" << std::fixed << std::setprecision(0) << need
       << " bytes) for this command, over --max-memory = " << o.max_memory
       << "; raise --max-memory if the machine has it";
    throw npy_error(os.str());
  }

  w.trace_path = o.trace;
  w.trace = load_trace(o.trace);
  if (!o.bias.empty()) c.expert_bias = load_bias(o.bias, w.trace.experts);
  if (!o.tokens.empty()) w.tokens = load_tokens(o.tokens, w.trace.blocks, w.trace.tokens);
  if (!o.outputs.empty()) w.outputs = load_outputs(o.outputs, w.trace, &w.output_dim);
  coreroute::validate(c);  // with the bias
  if (has_model && model.expert_bias && o.bias.empty())
    std::cerr << "coreroute: warning: " << model_flag
              << " routes with a learned expert bias, and no --bias was given: routing without one\n";
  return w;
}

namespace {

/// The policy named --policy, built from its flags (given, or the router-dependent
/// default, or the struct's default) and checked by its validate() alone.
template <class Entry>
AnyPolicy build_policy(const Entry& e, const PolicyOptions& o, const RouterConfig& c) {
  using P = typename Entry::policy_type;
  const auto given = [&](const std::string& field) {
    const auto it = o.options.find(field);
    return it != o.options.end() && it->second->count() > 0;
  };
  P policy{};
  bool any = false;
  std::string flags;
  for_each_param(e, [&](const auto& p) {
    const std::string flag = flag_of(p.field);
    flags += (flags.empty() ? "" : ", ") + flag;
    if (given(p.field)) {
      set_param(policy, p, o.values.at(p.field), flag);
      any = true;
    } else if (p.required) {
      fail(flag, "(missing)", std::string("is required with --policy ") + P::name);
    } else if (p.default_for) {
      policy.*(p.member) = p.default_for(c);
    }
  });
  try {
    validate_as_flags(e, policy, c);
  } catch (const coreroute::invalid_argument& err) {
    if (any) throw;
    // Nothing given and the defaults are no choice (vote: --core or --beta).
    std::string what = err.what();
    what.erase(0, std::string("coreroute: ").size());
    fail("--policy", P::name, "needs a value of " + flags + " (" + what + ")");
  }
  return policy;
}

}  // namespace

AnyPolicy make_policy(const PolicyOptions& o, const RouterConfig& c) {
  // A flag of another policy is almost certainly a mistake: say so.
  for (const auto& entry : o.options) {  // no structured binding: clang 14 cannot capture one
    const std::string& field = entry.first;
    const CLI::Option* opt = entry.second;
    if (opt->count() == 0) continue;
    std::string users;
    bool ours = false;
    for_each_builtin([&](const auto& e) {
      const std::string name = std::decay_t<decltype(e)>::policy_type::name;
      for_each_param(e, [&](const auto& p) {
        if (p.field != field) return;
        users += (users.empty() ? "" : "|") + name;
        ours = ours || name == o.policy;
      });
    });
    if (!ours) fail(flag_of(field), opt->as<std::string>(), "applies only to --policy " + users);
  }
  std::optional<AnyPolicy> p;
  for_each_builtin([&](const auto& e) {
    if (std::decay_t<decltype(e)>::policy_type::name == o.policy) p = build_policy(e, o, c);
  });
  if (!p) fail("--policy", o.policy, "unknown policy (" + builtin_policy_names() + ")");
  return *p;
}

}  // namespace coreroute::cli
