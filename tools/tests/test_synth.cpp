// The synthetic generator: calibrated to the published vanilla expert counts,
// deterministic, and prefix-stable in the number of blocks.
#include <catch2/catch.hpp>

#include <coreroute/reference.hpp>

#include "synth.hpp"

using namespace coreroute;
using namespace coreroute::cli;

namespace {
double vanilla_unique(const Synthetic& s) {
  const auto x = make_logits_view(s.trace.logits.data(), s.trace.blocks, s.trace.tokens, s.trace.experts);
  const Routing R = reference::route(x, s.config, VanillaPolicy{});
  return mean_metrics(reference::metrics(R, R)).unique_experts;
}
}  // namespace

TEST_CASE("vanilla unique experts are within 10% of the published figures") {
  // llada-moe: 59 (DES); llada2-mini: 70 (dMoE) to 84 (DES).
  for (uint64_t seed : {1, 2, 3}) {
    CAPTURE(seed);
    const double moe = vanilla_unique(generate(find_preset("llada-moe"), 64, seed, false));
    const double mini = vanilla_unique(generate(find_preset("llada2-mini"), 64, seed, false));
    CAPTURE(moe, mini);
    CHECK(moe >= 0.9 * 59);
    CHECK(moe <= 1.1 * 59);
    CHECK(mini >= 0.9 * 70);
    CHECK(mini <= 1.1 * 84);
  }
}

TEST_CASE("the generator is deterministic and a shorter trace is a prefix of a longer one") {
  for (const Preset& p : presets()) {
    CAPTURE(p.name);
    const Synthetic a = generate(p, 3, 7, true), b = generate(p, 5, 7, true), c = generate(p, 3, 8, false);
    REQUIRE(a.trace.logits.size() == size_t(3 * p.tokens * p.config.num_experts));
    CHECK(std::equal(a.trace.logits.begin(), a.trace.logits.end(), b.trace.logits.begin()));
    CHECK(std::equal(a.outputs.begin(), a.outputs.end(), b.outputs.begin()));
    CHECK(a.trace.logits != c.trace.logits);
    CHECK(a.config.expert_bias == b.config.expert_bias);
    CHECK(a.config.expert_bias.size() == (p.bias_std > 0 ? size_t(p.config.num_experts) : 0));
    CHECK(a.outputs.size() == size_t(3 * p.tokens * p.config.num_experts * p.output_dim));
    CHECK_NOTHROW(coreroute::validate(a.config));
  }
}

TEST_CASE("unknown preset names are rejected naming the known ones") {
  CHECK_THROWS_WITH(find_preset("gpt"), Catch::Contains("llada-moe|llada2-mini"));
}
