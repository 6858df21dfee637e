// Stage 2 (docs/spec.md section 3): group-limited top-K inside a coreset, padding when a
// token has fewer than K eligible experts, and Stage 2 alone with a given coreset.
#include "test_common.hpp"

using namespace crtest;

namespace {
float ln(double w) { return float(std::log(w)); }

// Softmax row with s = w / 20:
//   s = {.35 .05 .05 .05 | .25 .20 .025 .025}   (2 groups of 4)
// Group 0's best single expert (.35) beats group 1's, but group 1's two largest
// sum higher: .45 against .40.
Batch sum_of_two() { return block_of({{ln(7), ln(1), ln(1), ln(1), ln(5), ln(4), ln(0.5), ln(0.5)}}); }

RouterConfig grouped(int M, int K, int n_group, int topk_group) {
  RouterConfig c = config(M, K);
  c.groups = {n_group, topk_group};
  return c;
}

std::vector<uint8_t> mask_of(int M, std::initializer_list<int> experts) {
  std::vector<uint8_t> m(size_t(M), 0);
  for (int e : experts) m[size_t(e)] = 1;
  return m;
}
}  // namespace

TEST_CASE("a group's score is the sum of its two largest selection scores", "[stage2][groups]") {
  const Batch x = sum_of_two();
  const Routing plain = reference::route(x.view(), config(8, 2), VanillaPolicy{});
  CHECK(ids_of(plain, 0, 0) == std::vector<int>{0, 4});
  const Routing R = reference::route(x.view(), grouped(8, 2, 2, 1), VanillaPolicy{});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{4, 5});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.25f, 0.20f}));
}

TEST_CASE("the topk_group best groups bound a token's experts", "[stage2][groups]") {
  // 4 groups of 2, s = {.30 .05 | .15 .125 | .20 .10 | .05 .025}: group sums
  // .35, .275, .30, .075; keep 2 groups: {0, 1} and {4, 5}. Expert 2 (.15) is out.
  const Batch x = block_of({{ln(6), ln(1), ln(3), ln(2.5), ln(4), ln(2), ln(1), ln(0.5)}});
  CHECK(ids_of(reference::route(x.view(), config(8, 3), VanillaPolicy{}), 0, 0) == std::vector<int>{0, 4, 2});
  const Routing R = reference::route(x.view(), grouped(8, 3, 4, 2), VanillaPolicy{});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 4, 5});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.30f, 0.20f, 0.10f}));
}

TEST_CASE("group scores count only experts in the coreset", "[stage2][groups]") {
  // Without expert 5, group 1's two best eligible are .25 + .025 = .275 < .40.
  const Batch x = sum_of_two();
  const auto mask = mask_of(8, {0, 1, 2, 3, 4, 6, 7});
  const Routing R = reference::route_in_coreset(x.view(), grouped(8, 2, 2, 1), mask.data());
  CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 1});  // .05 tie among 1, 2, 3: lowest id
  CHECK_THAT(weights_of(R, 0, 0), approx({0.35f, 0.05f}));
}

TEST_CASE("a group with fewer than two eligible experts ranks below the others", "[stage2][groups]") {
  // Coreset {0, 6, 7}: group 0 holds only expert 0 (.35), group 1 holds 6 and 7
  // (.025 each). Group 1 wins although 0 alone outscores both; K = 3 leaves a pad.
  const Batch x = sum_of_two();
  const auto mask = mask_of(8, {0, 6, 7});
  const Routing R = reference::route_in_coreset(x.view(), grouped(8, 3, 2, 1), mask.data());
  CHECK(ids_of(R, 0, 0) == std::vector<int>{6, 7, -1});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.025f, 0.025f, 0.0f}));
  // Both groups short of two: they tie, group 0 (lower id) is kept.
  const auto thin = mask_of(8, {0, 4});
  const Routing T = reference::route_in_coreset(x.view(), grouped(8, 3, 2, 1), thin.data());
  CHECK(ids_of(T, 0, 0) == std::vector<int>{0, -1, -1});
  CHECK_THAT(weights_of(T, 0, 0), approx({0.35f, 0.0f, 0.0f}));
}

TEST_CASE("fewer eligible experts than K: slots padded with -1 and weight 0", "[stage2][padding]") {
  // s = {.1 .2 .3 .4} (logits ln 1..4), K = 3, coreset {1, 3}.
  const Batch x = block_of({{ln(1), ln(2), ln(3), ln(4)}});
  const auto mask = mask_of(4, {1, 3});
  RouterConfig c = config(4, 3);
  const Routing R = reference::route_in_coreset(x.view(), c, mask.data());
  CHECK(ids_of(R, 0, 0) == std::vector<int>{3, 1, -1});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.4f, 0.2f, 0.0f}));
  c.normalize_weights = true;  // the pad takes no share of the normalisation
  const Routing N = reference::route_in_coreset(x.view(), c, mask.data());
  CHECK_THAT(weights_of(N, 0, 0), approx({0.4f / 0.6f, 0.2f / 0.6f, 0.0f}));
}

TEST_CASE("route_in_coreset routes each block into its own mask", "[stage2]") {
  Batch x(3, 1, 4);
  for (int b = 0; b < 3; ++b) x.set_row(b, 0, {ln(1), ln(2), ln(3), ln(4)});
  const std::vector<uint8_t> masks = {1, 0, 1, 0,   // block 0: {0, 2}
                                      0, 1, 1, 1,   // block 1: {1, 2, 3}
                                      0, 0, 0, 0};  // block 2: empty
  const Routing R = reference::route_in_coreset(x.view(), config(4, 2), masks.data());
  CHECK(R.coreset == masks);
  CHECK(R.coreset_size == std::vector<int32_t>{2, 3, 0});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{2, 0});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.3f, 0.1f}));
  CHECK(ids_of(R, 1, 0) == std::vector<int>{3, 2});
  CHECK(ids_of(R, 2, 0) == std::vector<int>{-1, -1});
  CHECK(weights_of(R, 2, 0) == std::vector<float>{0.0f, 0.0f});
}

TEST_CASE("Stage 2 alone with a policy's coreset reproduces the policy's routing", "[stage2]") {
  RouterConfig c = config(16, 4, ScoreFunction::sigmoid);
  c.groups = {4, 2};
  c.normalize_weights = true;
  c.expert_bias.resize(16);
  for (int i = 0; i < 16; ++i) c.expert_bias[size_t(i)] = 0.03125f * float(i % 5) - 0.0625f;
  for (uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    const Batch x = random_batch(seed, 3, 9, 16);
    const Routing R = reference::route(x.view(), c, SaliencyVotePolicy::with_core(6));
    const Routing S = reference::route_in_coreset(x.view(), c, R.coreset.data());
    CHECK(S.ids == R.ids);
    CHECK(S.weights == R.weights);
    CHECK(S.coreset_size == R.coreset_size);
  }
}
