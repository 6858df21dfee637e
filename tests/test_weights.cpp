// Weights (docs/spec.md section 3, step 4): both score functions, normalisation (and its
// zero-sum case), scaling, and the bias, which moves selection but never weights.
#include "test_common.hpp"

using namespace crtest;

namespace {
float ln(double w) { return float(std::log(w)); }

// softmax(ln 1, ln 2, ln 3, ln 4) = {.1 .2 .3 .4}
Batch softmax_row() { return block_of({{ln(1), ln(2), ln(3), ln(4)}}); }
// sigmoid scores {.2 .5 .8 .6}
Batch sigmoid_row() {
  return block_of({{sigmoid_logit(0.2), sigmoid_logit(0.5), sigmoid_logit(0.8), sigmoid_logit(0.6)}});
}

Routing vanilla(const Batch& x, const RouterConfig& c) { return reference::route(x.view(), c, VanillaPolicy{}); }
}  // namespace

TEST_CASE("softmax weights are the scores over all M experts", "[weights][softmax]") {
  const Routing R = vanilla(softmax_row(), config(4, 2));
  CHECK(ids_of(R, 0, 0) == std::vector<int>{3, 2});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.4f, 0.3f}));
}

TEST_CASE("softmax + normalize is a softmax over the selected logits", "[weights][softmax]") {
  RouterConfig c = config(4, 2);
  c.normalize_weights = true;
  CHECK_THAT(weights_of(vanilla(softmax_row(), c), 0, 0), approx({0.4f / 0.7f, 0.3f / 0.7f}));
  // logits {1, 0, 2, -1}: top-2 {2, 0}, weights 1 / (1 + e^-1) and 1 / (1 + e).
  const Routing R = vanilla(block_of({{1.0f, 0.0f, 2.0f, -1.0f}}), c);
  CHECK(ids_of(R, 0, 0) == std::vector<int>{2, 0});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.7310586f, 0.2689414f}));
}

TEST_CASE("sigmoid weights are the sigmoid scores, normalised on request", "[weights][sigmoid]") {
  RouterConfig c = config(4, 2, ScoreFunction::sigmoid);
  const Routing R = vanilla(sigmoid_row(), c);
  CHECK(ids_of(R, 0, 0) == std::vector<int>{2, 3});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.8f, 0.6f}));
  c.normalize_weights = true;
  CHECK_THAT(weights_of(vanilla(sigmoid_row(), c), 0, 0), approx({0.8f / 1.4f, 0.6f / 1.4f}));
}

TEST_CASE("scaling multiplies the weights, after normalisation", "[weights]") {
  RouterConfig c = config(4, 2);
  c.scaling = 2.0f;
  CHECK_THAT(weights_of(vanilla(softmax_row(), c), 0, 0), approx({0.8f, 0.6f}));
  c.normalize_weights = true;
  c.scaling = 2.5f;
  CHECK_THAT(weights_of(vanilla(softmax_row(), c), 0, 0), approx({2.5f * 4 / 7, 2.5f * 3 / 7}));
  RouterConfig s = config(4, 2, ScoreFunction::sigmoid);
  s.scaling = 2.5f;
  CHECK_THAT(weights_of(vanilla(sigmoid_row(), s), 0, 0), approx({2.0f, 1.5f}));
}

TEST_CASE("the bias moves selection only, never the weights", "[weights][bias]") {
  SECTION("sigmoid: r = {.9 .5 .8 .6} selects 0 and 2, weighted by s = .2 and .8") {
    RouterConfig c = config(4, 2, ScoreFunction::sigmoid);
    c.expert_bias = {0.7f, 0.0f, 0.0f, 0.0f};
    const Routing R = vanilla(sigmoid_row(), c);
    CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 2});
    CHECK_THAT(weights_of(R, 0, 0), approx({0.2f, 0.8f}));
    c.normalize_weights = true;  // .2 + .8 = 1: unchanged
    CHECK_THAT(weights_of(vanilla(sigmoid_row(), c), 0, 0), approx({0.2f, 0.8f}));
  }
  SECTION("softmax: r = {.45 .2 .3 .4} selects 0 and 3, weighted by s = .1 and .4") {
    RouterConfig c = config(4, 2);
    c.expert_bias = {0.35f, 0.0f, 0.0f, 0.0f};
    c.normalize_weights = true;
    const Routing R = vanilla(softmax_row(), c);
    CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 3});
    CHECK_THAT(weights_of(R, 0, 0), approx({0.2f, 0.8f}));
  }
  SECTION("a negative bias can push every r below 0: Stage 2 still takes the top-K") {
    RouterConfig c = config(4, 2, ScoreFunction::sigmoid);
    c.expert_bias = {-1.0f, -1.0f, -1.0f, -0.25f};
    const Routing R = vanilla(sigmoid_row(), c);  // r = {-.8 -.5 -.2 .35}
    CHECK(ids_of(R, 0, 0) == std::vector<int>{3, 2});
    CHECK_THAT(weights_of(R, 0, 0), approx({0.6f, 0.8f}));
  }
}

TEST_CASE("normalising a zero sum gives zero weights, not NaN", "[weights]") {
  // Sigmoid of -inf is 0: the bias picks experts 2 and 3, whose scores are both 0.
  RouterConfig c = config(4, 2, ScoreFunction::sigmoid);
  c.expert_bias = {0.0f, 0.0f, 1.0f, 0.5f};
  c.normalize_weights = true;
  c.scaling = 2.5f;
  const Routing R = vanilla(block_of({{-kInf, -kInf, -kInf, -kInf}}), c);
  CHECK(ids_of(R, 0, 0) == std::vector<int>{2, 3});
  CHECK(weights_of(R, 0, 0) == std::vector<float>{0.0f, 0.0f});
}

TEST_CASE("weights follow the slot order of S_n", "[weights]") {
  // K = 4 of s = {.1 .2 .3 .4}: ids by decreasing score, each weight its own score.
  const Routing R = vanilla(softmax_row(), config(4, 4));
  CHECK(ids_of(R, 0, 0) == std::vector<int>{3, 2, 1, 0});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.4f, 0.3f, 0.2f, 0.1f}));
}
