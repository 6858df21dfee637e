#include "hf_config.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include <coreroute/error.hpp>

namespace coreroute::cli {

namespace {

using json = nlohmann::json;

struct Reader {
  const json& j;
  const std::string& path;

  [[noreturn]] void bad(const std::string& field, const std::string& rule) const {
    const auto it = j.find(field);
    throw config_error(path + ": " + field + (it != j.end() ? " = " + it->dump() : "") + ": " + rule);
  }
  /// Present and not null (HF writes null for "not used").
  bool has(const std::string& field) const {
    const auto it = j.find(field);
    return it != j.end() && !it->is_null();
  }
  int integer(const std::string& field) const {
    const json& v = j.at(field);
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > (1 << 20))
      bad(field, "must be an integer in [0, 2^20]");
    return int(v.get<int64_t>());
  }
  double number(const std::string& field) const {
    const json& v = j.at(field);
    if (!v.is_number() || !std::isfinite(v.get<double>())) bad(field, "must be a finite number");
    return v.get<double>();
  }
  bool boolean(const std::string& field) const {
    const json& v = j.at(field);
    if (!v.is_boolean()) bad(field, "must be true or false");
    return v.get<bool>();
  }
  std::string text(const std::string& field) const {
    const json& v = j.at(field);
    if (!v.is_string()) bad(field, "must be a string");
    return v.get<std::string>();
  }
  /// The value of whichever of two synonyms is present; both present must agree.
  template <class Get>
  auto either(const std::string& a, const std::string& b, Get get) const {
    if (has(a) && has(b) && get(a) != get(b))
      bad(b, "contradicts " + a + " = " + j.at(a).dump() + " (give one, or equal values)");
    return get(has(a) ? a : b);
  }
};

}  // namespace

ModelPreset parse_hf_config(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw config_error(path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  if (!j.is_object()) throw config_error(path + ": not a config.json (the top level must be an object)");
  const Reader r{j, path};
  const auto integer = [&](const std::string& f) { return r.integer(f); };
  const auto text_of = [&](const std::string& f) { return r.text(f); };

  if (!r.has("num_experts") && !r.has("n_routed_experts"))
    throw config_error(path + ": no num_experts or n_routed_experts: not the config of an MoE model");
  if (!r.has("num_experts_per_tok")) throw config_error(path + ": no num_experts_per_tok (the router's K)");

  ModelPreset p;
  p.name = "hf-config";
  p.model = path;
  p.config.num_experts = r.either("n_routed_experts", "num_experts", integer);
  p.config.top_k = r.integer("num_experts_per_tok");

  std::string score = "softmax";  // the transformers default of every MoE without the field
  if (r.has("scoring_func") || r.has("score_function")) score = r.either("scoring_func", "score_function", text_of);
  if (score == "sigmoid")
    p.config.score = ScoreFunction::sigmoid;
  else if (score == "softmax")
    p.config.score = ScoreFunction::softmax;
  else
    r.bad(r.has("scoring_func") ? "scoring_func" : "score_function", "unknown score function (softmax|sigmoid)");

  // Group-limited routing: both fields or neither; n_group 1 is no limit.
  if (r.has("n_group") != r.has("topk_group"))
    r.bad(r.has("n_group") ? "n_group" : "topk_group", "n_group and topk_group must be given together");
  const int n_group = r.has("n_group") ? r.integer("n_group") : 1;
  const int topk_group = r.has("topk_group") ? r.integer("topk_group") : 1;
  if (n_group > 1)
    p.config.groups = {n_group, topk_group};
  else if (n_group == 1 && topk_group != 1)
    r.bad("topk_group", "must be 1 when n_group = 1");
  else if (n_group < 1)
    r.bad("n_group", "must be >= 1");

  // topk_method (DeepSeek): noaux_tc (V3) ranks groups by their two best biased scores
  // (group score top2); group_limited_greedy (V2) by their best expert (group score max);
  // greedy has no groups.
  bool bias = false;
  if (r.has("topk_method")) {
    const std::string m = r.text("topk_method");
    if (m == "noaux_tc")
      bias = true;
    else if (m == "greedy") {
      if (n_group > 1)
        r.bad("topk_method", "greedy contradicts n_group = " + std::to_string(n_group) + " (greedy has no groups)");
    } else if (m == "group_limited_greedy") {
      if (n_group <= 1) r.bad("topk_method", "group_limited_greedy needs n_group > 1 (it limits tokens to groups)");
      p.config.groups.group_score = GroupScoreRule::max;
    } else {
      r.bad("topk_method", "unknown top-k method (noaux_tc|group_limited_greedy|greedy)");
    }
  }
  if (r.has("moe_router_enable_expert_bias")) {
    const bool b = r.boolean("moe_router_enable_expert_bias");
    if (r.has("topk_method") && b != bias)
      r.bad("moe_router_enable_expert_bias", "contradicts topk_method = " + j.at("topk_method").dump());
    bias = b;
  }
  p.expert_bias = bias;
  if (r.has("norm_topk_prob")) p.config.normalize_weights = r.boolean("norm_topk_prob");
  if (r.has("routed_scaling_factor")) {
    const double s = r.number("routed_scaling_factor");
    if (!(s > 0)) r.bad("routed_scaling_factor", "must be > 0");
    p.config.scaling = float(s);
  }
  if (r.has("hidden_size") && r.has("moe_intermediate_size"))  // gate, up, down; bf16
    p.expert_bytes = 3.0 * r.integer("hidden_size") * r.integer("moe_intermediate_size") * 2;

  try {
    coreroute::validate(p.config);
  } catch (const coreroute::invalid_argument& e) {
    std::string what = e.what();
    what.erase(0, std::string("coreroute: ").size());
    throw config_error(path + ": the router it describes is invalid: " + what);
  }
  // The generator's calibration: the built-in preset of the same kind of router.
  const ModelPreset& like = *find_model_preset(p.config.score == ScoreFunction::sigmoid ? "llada2-mini" : "llada-moe");
  p.tokens = like.tokens;
  p.hidden = like.hidden;
  p.output_dim = like.output_dim;
  p.shared = like.shared;
  p.temperature = like.temperature;
  p.bias_std = bias ? (like.bias_std > 0 ? like.bias_std : 0.02) : 0.0;
  p.vote_betas = like.vote_betas;
  return p;
}

ModelPreset read_hf_config(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw config_error(path + ": no such file (or not a regular file)");
  std::ifstream f(path);
  if (!f) throw config_error(path + ": cannot open the config file");
  std::ostringstream text;
  text << f.rdbuf();
  if (!f && !f.eof()) throw config_error(path + ": read error");
  return parse_hf_config(text.str(), path);
}

}  // namespace coreroute::cli
