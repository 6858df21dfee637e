#pragma once
// Model presets: the routers of published MoE models (docs/spec.md section 2's RouterConfig,
// without the learned bias), the block size and expert size used for the metrics,
// the synthetic generator's calibration (include/coreroute/synthetic.hpp) and the
// papers' figures. One list, used by the `coreroute` CLI and the benchmarks.
#include <string>
#include <vector>

#include "config.hpp"
#include "metrics.hpp"

namespace coreroute {

/// A figure from a paper, shown beside ours.
struct PublishedFigure {
  std::string label;  ///< the row it belongs to, e.g. "vote beta=0.15"
  std::string value;  ///< e.g. "38" or "84 / 70"
  std::string source;
};

/// A measured fit of one MoE layer's time on one GPU (docs/performance.md):
/// L = c + b * T + a * N * K microseconds, T unique experts of a block, N its tokens,
/// K experts per token. The CLI's modeled time uses it where a preset has one.
struct LayerCostFit {
  double c = 0, b = 0, a = 0;  ///< microseconds: constant, per expert, per token-slot
  std::string gpu;             ///< the GPU measured, e.g. "H100"
  std::string source;          ///< the results file of the fit
  bool measured() const { return b > 0; }
};

struct ModelPreset {
  std::string name, model;
  RouterConfig config;       ///< without the bias (drawn by the generator, or given by the user)
  bool expert_bias = false;  ///< the model routes with a learned expert bias (selection only)
  int tokens = 32;           ///< N, the block size
  double expert_bytes = 0;   ///< one expert's weights, for the bytes-read metric
  LayerCostFit layer_cost;   ///< the measured MoE-layer fit, where one exists
  // Synthetic generator model (include/coreroute/synthetic.hpp).
  int hidden = 32, output_dim = 8;
  double shared = 0, temperature = 1, bias_std = 0;
  // Paper settings and figures.
  std::vector<double> vote_betas;  ///< DES-Vote betas the papers report
  std::vector<PublishedFigure> published;
};

namespace detail {
inline std::vector<ModelPreset> make_model_presets() {
  ModelPreset moe;
  moe.name = "llada-moe";
  moe.model = "LLaDA-MoE-7B (M=64, K=8, softmax)";
  moe.config.num_experts = 64;
  moe.config.top_k = 8;
  moe.config.score = ScoreFunction::softmax;
  moe.expert_bytes = kLladaMoeExpertBytes;
  // bench/results/moe_layer-h100.md: hand-written kernels, 560 blocks, N = 8..128.
  moe.layer_cost = {21.27, 4.081, 0.0539, "H100", "bench/results/moe_layer-h100.md"};
  // Calibrated: vanilla touches ~59 distinct experts per block of 32 (seeds 1-3).
  moe.shared = 0.10;
  moe.temperature = 1.5;
  moe.vote_betas = {0.6, 0.4};
  moe.published = {{"vanilla", "59", "DES"}, {"vote beta=0.6", "38", "DES"}, {"vote beta=0.4", "25", "DES"}};

  ModelPreset mini;
  mini.name = "llada2-mini";
  mini.model = "LLaDA2.0-mini (M=256, K=8, sigmoid+bias, groups 8/4)";
  mini.config.num_experts = 256;
  mini.config.top_k = 8;
  mini.config.score = ScoreFunction::sigmoid;
  mini.config.groups = {8, 4};
  mini.config.normalize_weights = true;
  mini.config.scaling = 2.5f;
  mini.expert_bias = true;
  mini.expert_bytes = kLlada2MiniExpertBytes;
  // The same runs; c includes the model's shared expert.
  mini.layer_cost = {9.38, 2.298, 0.0702, "H100", "bench/results/moe_layer-h100.md"};
  // Calibrated: vanilla ~77 (the published 70-84), DES-Seq k=2/3 ~27/37.
  mini.shared = 0.50;
  mini.temperature = 1.0;
  mini.bias_std = 0.02;
  mini.vote_betas = {0.15, 0.10};
  mini.published = {{"vanilla", "84 / 70", "DES / dMoE"}, {"union k=3", "45", "DES"},
                    {"union k=2", "34", "DES"},           {"vote beta=0.15", "38", "DES"},
                    {"vote beta=0.1", "25", "DES"},       {"blockdist p=0.6", "~14.5", "dMoE, tuned"}};

  // DeepSeek-V3's router (n_routed_experts 256, num_experts_per_tok 8, n_group 8,
  // topk_group 4, sigmoid, noaux_tc bias, norm_topk_prob, routed_scaling_factor 2.5);
  // experts of hidden 7168 x moe_intermediate 2048. No block-level figures
  // are published for it: the generator reuses LLaDA2.0-mini's calibration.
  ModelPreset v3 = mini;
  v3.name = "deepseek-v3";
  v3.model = "DeepSeek-V3-style (M=256, K=8, sigmoid+bias, groups 8/4, scaling 2.5)";
  v3.expert_bytes = 3.0 * 7168 * 2048 * 2;  // 88 MB in bf16, as the other presets (the released FP8 weights: half)
  v3.published.clear();
  v3.layer_cost = {};  // not measured: other expert sizes than LLaDA2.0-mini's
  return {moe, mini, v3};
}
}  // namespace detail

/// The built-in presets, in the order the CLI lists them.
inline const std::vector<ModelPreset>& model_presets() {
  static const std::vector<ModelPreset> all = detail::make_model_presets();
  return all;
}

/// The preset called `name`, or null.
inline const ModelPreset* find_model_preset(const std::string& name) {
  for (const ModelPreset& p : model_presets())
    if (p.name == name) return &p;
  return nullptr;
}

/// "llada-moe|llada2-mini|deepseek-v3".
inline std::string model_preset_names() {
  std::string s;
  for (const ModelPreset& p : model_presets()) s += (s.empty() ? "" : "|") + p.name;
  return s;
}

}  // namespace coreroute
