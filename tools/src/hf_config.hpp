#pragma once
// A model's router from its Hugging Face config.json (--hf-config), so a user does
// not translate the fields by hand. Read: num_experts / n_routed_experts,
// num_experts_per_tok, n_group, topk_group, routed_scaling_factor, scoring_func /
// score_function, norm_topk_prob, topk_method, moe_router_enable_expert_bias, and
// hidden_size with moe_intermediate_size for the expert size. Every other key is
// the model's, not the router's, and is not read. A value of the wrong type, an
// unknown value (a score function or top-k method the library does not route
// with) or two fields that disagree is an error naming the file and the field.
#include <stdexcept>
#include <string>

#include <coreroute/presets.hpp>

namespace coreroute::cli {

class config_error : public std::runtime_error {
 public:
  explicit config_error(const std::string& what) : std::runtime_error(what) {}
};

/// The router of `path` as a preset: its config (no bias), whether the model
/// routes with a learned expert bias, its expert size, and the synthetic
/// generator's calibration of the built-in preset with the same score function.
ModelPreset read_hf_config(const std::string& path);

/// The same from the text of a config.json (`path` names it in errors).
ModelPreset parse_hf_config(const std::string& text, const std::string& path);

}  // namespace coreroute::cli
