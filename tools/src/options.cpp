#include "options.hpp"

#include <algorithm>

#include <CLI/CLI.hpp>

#include <coreroute/error.hpp>

#include "synth.hpp"

namespace coreroute::cli {

using coreroute::detail::fail;
using coreroute::detail::require;

void add_router_options(CLI::App& app, RouterOptions& o) {
  app.add_option("--trace", o.trace, "Router logits .npy, float32 or float16, shape [B,N,M] or [N,M]")
      ->required()
      ->type_name("FILE");
  app.add_option("--preset", o.preset, "Use a model's router settings: " + preset_names() + " (flags below override)")
      ->type_name("NAME");
  o.top_k_opt = app.add_option("--top-k", o.top_k, "K, experts per token (default 8)")->type_name("K");
  app.add_option("--model-top-k", o.model_top_k,
                 "K of the vanilla routing metrics compare against (default: --top-k; the model's K for a "
                 "top-k baseline)")
      ->type_name("K");
  o.score_opt = app.add_option("--score", o.score, "Router score function")
                    ->check(CLI::IsMember({"softmax", "sigmoid"}));
  app.add_option("--bias", o.bias, "Expert bias .npy [M] (selection only)")->type_name("FILE");
  o.groups_opt = app.add_option("--groups", o.groups, "Group-limited routing: n_group:topk_group, e.g. 8:4")
                     ->type_name("G:T");
  o.normalize_opt = app.add_flag("--normalize,!--no-normalize", o.normalize, "Normalize the K weights to sum 1");
  o.scaling_opt = app.add_option("--scaling", o.scaling, "Multiply the weights by s (> 0)")->type_name("s");
  app.add_option("--tokens", o.tokens, "Valid tokens per block .npy [B] int32/int64 (default: all N)")
      ->type_name("FILE");
  app.add_option("--outputs", o.outputs, "Expert outputs .npy [B,N,M,d] for the output reconstruction loss")
      ->type_name("FILE");
  o.bytes_opt = app.add_option("--expert-bytes", o.expert_bytes, "Bytes of one expert's weights (metrics)")
                    ->type_name("BYTES");
  app.add_option("--cost-ratio", o.cost_ratio,
                 "a/b of the cost model b*T + a*N*K (default: an H100's bandwidth / bf16 FLOP rate)")
      ->type_name("r");
  app.add_option("--backend", o.backend, "Routing backend")->type_name("reference|kokkos|cuda");
}

void add_policy_options(CLI::App& app, PolicyOptions& o) {
  app.add_option("--policy", o.policy, "Coreset policy (vanilla: token-level routing)")
      ->check(CLI::IsMember({"vanilla", "union", "vote", "blockdist"}));
  o.k_local_opt = app.add_option("--k-local", o.k_local, "union (DES-Seq): each token's top-k into the union")
                      ->type_name("k");
  o.core_opt = app.add_option("--core", o.core, "vote (DES-Vote): coreset size c")->type_name("c");
  o.beta_opt = app.add_option("--beta", o.beta, "vote (DES-Vote): coreset size max(1, floor(beta*M))")
                   ->type_name("b")
                   ->excludes(o.core_opt);
  o.top_p_opt = app.add_option("--top-p", o.top_p, "blockdist (dMoE): top-p of the block distribution (0.6)")
                    ->type_name("p");
  o.min_experts_opt =
      app.add_option("--min-experts", o.min_experts, "blockdist (dMoE): coreset floor (default min(16, M))")
          ->type_name("m");
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

Workload load_workload(const RouterOptions& o) {
  Workload w;
  w.backend = parse_backend(o.backend);  // before the files: an unusable backend fails fast
  RouterConfig& c = w.config;
  const Preset* preset = o.preset.empty() ? nullptr : &find_preset(o.preset);
  if (preset) {
    c = preset->config;
    w.expert_bytes = preset->expert_bytes;
  } else {
    c.top_k = 8;
  }
  const auto given = [](const CLI::Option* opt) { return opt && opt->count() > 0; };
  if (given(o.top_k_opt)) c.top_k = o.top_k;
  if (given(o.score_opt)) c.score = o.score == "sigmoid" ? ScoreFunction::sigmoid : ScoreFunction::softmax;
  if (given(o.groups_opt)) parse_groups(o.groups, c.groups);
  if (given(o.normalize_opt)) c.normalize_weights = o.normalize;
  if (given(o.scaling_opt)) c.scaling = float(o.scaling);
  if (given(o.bytes_opt)) w.expert_bytes = o.expert_bytes;
  require(w.expert_bytes >= 0 && std::isfinite(w.expert_bytes), "--expert-bytes", w.expert_bytes,
          "must be finite and >= 0");
  require(o.cost_ratio >= 0 && std::isfinite(o.cost_ratio), "--cost-ratio", o.cost_ratio, "must be finite and >= 0");
  w.cost_ratio = o.cost_ratio;

  w.trace = load_trace(o.trace);
  if (preset)
    require(w.trace.experts == preset->config.num_experts, "--preset", o.preset,
            "has M = " + std::to_string(preset->config.num_experts) + " experts but the trace has M = " +
                std::to_string(w.trace.experts));
  c.num_experts = int(w.trace.experts);
  if (!o.bias.empty()) c.expert_bias = load_bias(o.bias, w.trace.experts);
  if (!o.tokens.empty()) w.tokens = load_tokens(o.tokens, w.trace.blocks, w.trace.tokens);
  if (!o.outputs.empty()) w.outputs = load_outputs(o.outputs, w.trace, &w.output_dim);
  coreroute::validate(c);
  w.model_top_k = o.model_top_k > 0 ? o.model_top_k : c.top_k;
  require(o.model_top_k >= 0, "--model-top-k", o.model_top_k, "must be >= 1");
  require(w.model_top_k <= c.num_experts, "--model-top-k", w.model_top_k,
          "must be in [1, M = " + std::to_string(c.num_experts) + "]");
  if (c.groups.enabled()) {
    const int most = c.groups.topk_group * (c.num_experts / c.groups.n_group);
    require(w.model_top_k <= most, "--model-top-k", w.model_top_k,
            "must be <= topk_group * M / n_group = " + std::to_string(most));
  }
  return w;
}

AnyPolicy make_policy(const PolicyOptions& o, const RouterConfig& c) {
  const auto given = [](const CLI::Option* opt) { return opt && opt->count() > 0; };
  // A flag of another policy is almost certainly a mistake: say so.
  const auto only_for = [&](const CLI::Option* opt, const char* flag, const char* policy) {
    if (given(opt) && o.policy != policy)
      fail(flag, opt->as<std::string>(), std::string("applies only to --policy ") + policy);
  };
  only_for(o.k_local_opt, "--k-local", "union");
  only_for(o.core_opt, "--core", "vote");
  only_for(o.beta_opt, "--beta", "vote");
  only_for(o.top_p_opt, "--top-p", "blockdist");
  only_for(o.min_experts_opt, "--min-experts", "blockdist");

  AnyPolicy p;
  if (o.policy == "union") {
    require(given(o.k_local_opt), "--k-local", "(missing)", "is required with --policy union");
    require(o.k_local >= 1 && o.k_local <= c.top_k, "--k-local", o.k_local,
            "must be in [1, --top-k = " + std::to_string(c.top_k) + "]");
    UnionPolicy u;
    u.k_local = o.k_local;
    p = u;
  } else if (o.policy == "vote") {
    require(given(o.core_opt) || given(o.beta_opt), "--core/--beta", "(missing)",
            "one of them is required with --policy vote");
    if (given(o.core_opt)) {
      require(o.core >= 1 && o.core <= c.num_experts, "--core", o.core,
              "must be in [1, M = " + std::to_string(c.num_experts) + "]");
      p = SaliencyVotePolicy::with_core(o.core);
    } else {
      require(o.beta > 0 && o.beta <= 1, "--beta", o.beta, "must be in (0, 1]");
      p = SaliencyVotePolicy::with_beta(o.beta);
    }
  } else if (o.policy == "blockdist") {
    BlockDistributionPolicy b;
    require(o.top_p > 0 && o.top_p <= 1, "--top-p", o.top_p, "must be in (0, 1]");
    b.top_p = o.top_p;
    b.min_experts = given(o.min_experts_opt) ? o.min_experts : std::min(16, c.num_experts);
    require(b.min_experts >= 0 && b.min_experts <= c.num_experts, "--min-experts", b.min_experts,
            "must be in [0, M = " + std::to_string(c.num_experts) + "]");
    p = b;
  }
  std::visit([&](const auto& q) { q.validate(c); }, p);
  return p;
}

}  // namespace coreroute::cli
