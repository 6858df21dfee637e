// --hf-config: a model's config.json gives the router of the matching preset;
// bad, unknown or contradictory fields are one clear error naming the field.
#include <catch2/catch.hpp>

#include <string>

#include "hf_config.hpp"

using namespace coreroute;
using namespace coreroute::cli;

namespace {
std::string config(const std::string& name) { return std::string(COREROUTE_HF_CONFIGS) + "/" + name + ".json"; }

void same_router(const ModelPreset& got, const ModelPreset& want) {
  CHECK(got.config.num_experts == want.config.num_experts);
  CHECK(got.config.top_k == want.config.top_k);
  CHECK(got.config.score == want.config.score);
  CHECK(got.config.groups.n_group == want.config.groups.n_group);
  CHECK(got.config.groups.topk_group == want.config.groups.topk_group);
  CHECK(got.config.groups.group_score == want.config.groups.group_score);
  CHECK(got.config.normalize_weights == want.config.normalize_weights);
  CHECK(got.config.scaling == want.config.scaling);
  CHECK(got.config.expert_bias.empty());
  CHECK(got.expert_bias == want.expert_bias);
  CHECK(got.expert_bytes == want.expert_bytes);
}
}  // namespace

TEST_CASE("config.json files of DeepSeek-V3, LLaDA2.0-mini and LLaDA-MoE give the presets' routers") {
  for (const char* name : {"deepseek-v3", "llada2-mini", "llada-moe"}) {
    CAPTURE(name);
    same_router(read_hf_config(config(name)), *find_model_preset(name));
  }
}

TEST_CASE("the DeepSeek-V3 preset is 256 experts, top-8, 8 groups keeping 4, sigmoid with bias, scaling 2.5") {
  const ModelPreset& v3 = *find_model_preset("deepseek-v3");
  CHECK(v3.config.num_experts == 256);
  CHECK(v3.config.top_k == 8);
  CHECK(v3.config.groups.n_group == 8);
  CHECK(v3.config.groups.topk_group == 4);
  CHECK(v3.config.score == ScoreFunction::sigmoid);
  CHECK(v3.config.scaling == 2.5f);
  CHECK(v3.config.normalize_weights);
  CHECK(v3.expert_bias);
}

TEST_CASE("DeepSeek-V2's group_limited_greedy is group-limited routing with groups scored by their maximum") {
  const ModelPreset v2 = read_hf_config(config("deepseek-v2"));
  CHECK(v2.config.num_experts == 160);
  CHECK(v2.config.top_k == 6);
  CHECK(v2.config.groups.n_group == 8);
  CHECK(v2.config.groups.topk_group == 3);
  CHECK(v2.config.groups.group_score == GroupScoreRule::max);
  CHECK(v2.config.score == ScoreFunction::softmax);
  CHECK_FALSE(v2.expert_bias);
  CHECK(read_hf_config(config("deepseek-v3")).config.groups.group_score == GroupScoreRule::top2);
}

TEST_CASE("bad config.json files are one error naming the file and the field") {
  const struct {
    const char* file;
    const char* says;
  } cases[] = {
      {"bad-contradictory-experts", "num_experts = 64: contradicts n_routed_experts = 256"},
      {"bad-score", "scoring_func = \"relu\": unknown score function"},
      {"bad-group-half", "n_group = 8: n_group and topk_group must be given together"},
      {"bad-v2-no-groups", "topk_method = \"group_limited_greedy\": group_limited_greedy needs n_group > 1"},
      {"bad-type", "num_experts_per_tok = \"8\": must be an integer"},
      {"bad-not-moe", "no num_experts or n_routed_experts"},
      {"bad-json", "not valid JSON"},
      {"does-not-exist", "no such file"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    CHECK_THROWS_WITH(read_hf_config(config(c.file)), Catch::Contains(config(c.file)) && Catch::Contains(c.says));
  }
}

TEST_CASE("a config.json whose router is invalid names the rule it breaks") {
  CHECK_THROWS_WITH(parse_hf_config(R"({"num_experts": 8, "num_experts_per_tok": 9})", "c.json"),
                    Catch::Contains("c.json: the router it describes is invalid: top_k = 9"));
  CHECK_THROWS_WITH(
      parse_hf_config(R"({"num_experts": 8, "num_experts_per_tok": 2, "n_group": 3, "topk_group": 1})", "c.json"),
      Catch::Contains("groups.n_group = 3: must divide num_experts = 8"));
  CHECK_THROWS_WITH(parse_hf_config(R"({"num_experts": 8, "num_experts_per_tok": 2, "n_group": 4, "topk_group": 2,
                                       "topk_method": "greedy"})",
                                    "c.json"),
                    Catch::Contains("topk_method = \"greedy\": greedy contradicts n_group = 4"));
  CHECK_THROWS_WITH(
      parse_hf_config(R"({"num_experts": 8, "num_experts_per_tok": 2, "routed_scaling_factor": 0})", "c.json"),
      Catch::Contains("routed_scaling_factor = 0: must be > 0"));
  CHECK_THROWS_WITH(parse_hf_config(R"({"num_experts": 8, "num_experts_per_tok": 2, "scoring_func": "sigmoid",
                                       "score_function": "softmax"})",
                                    "c.json"),
                    Catch::Contains("score_function = \"softmax\": contradicts scoring_func = \"sigmoid\""));
}
