// The group-ranking rule of docs/spec.md section 3, hand-computed: a group with two or
// more eligible experts ranks by the sum of its two largest r; below all of those, a
// group with one eligible expert ranks by that expert's r; an empty group ranks last;
// remaining ties go to the lower group id. So an expert of the coreset is never made
// ineligible by an empty group. docs/algorithms.md ("When groups run short") walks
// through the first case.
//
// Before this rule every group with fewer than two eligible experts ranked by the lower
// group id alone, and the first two cases failed.
#include "test_common.hpp"

using namespace crtest;

namespace {
// Softmax logits x; both tokens put experts 4, 5 and 6 first (logits 3, 2, 1 or 2, 3, 1),
// every other expert at logit 0.
Batch two_tokens() {
  return block_of({{0, 0, 0, 0, 3, 2, 1, 0},  //
                   {0, 0, 0, 0, 2, 3, 1, 0}});
}

RouterConfig grouped(int K, int n_group, int topk_group) {
  RouterConfig c = config(8, K);
  c.groups = {n_group, topk_group};
  c.normalize_weights = true;
  return c;
}
}  // namespace

TEST_CASE("a one-expert group ranks above an empty group", "[group_ranking]") {
  // M = 8 in groups {0, 1} {2, 3} {4, 5} {6, 7}, keep 2 per token, K = 3. DES-Vote
  // core = 3: votes go to 4, 5, 6 only, so C = {4, 5, 6}. Group 2 holds two experts of
  // C and ranks first; group 3 holds one (6) and must rank above the empty groups 0
  // and 1. Each token gets all of C: no -1.
  const Batch x = two_tokens();
  const Routing R = reference::route(x.view(), grouped(3, 4, 2), SaliencyVotePolicy::with_core(3));
  CHECK(coreset_of(R, 0) == std::vector<int>{4, 5, 6});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{4, 5, 6});
  CHECK(ids_of(R, 0, 1) == std::vector<int>{5, 4, 6});
  // Normalised weights = softmax over the logits 3, 2, 1: e^3, e^2, e^1 over their sum
  // 30.1929: 0.6652, 0.2447, 0.0900.
  CHECK_THAT(weights_of(R, 0, 0), approx({0.6652f, 0.2447f, 0.0900f}, 1e-4f));
  CHECK_THAT(weights_of(R, 0, 1), approx({0.6652f, 0.2447f, 0.0900f}, 1e-4f));
}

TEST_CASE("one-expert groups rank among themselves by their expert's r", "[group_ranking]") {
  // C = {0, 2, 4}: groups 0, 1, 2 hold one expert each, group 3 none; keep 2, K = 2.
  // Token 0's r: expert 4 (logit 3) > 2 (logit 2) > 0 (logit 0), so groups 2 and 1:
  // ids 4, 2 (not 0 and 2, the two lowest group ids).
  std::vector<uint8_t> mask(8, 0);
  mask[0] = mask[2] = mask[4] = 1;
  const Batch one = block_of({{0, 0, 2, 0, 3, 0, 0, 0}});
  const Routing R = reference::route_in_coreset(one.view(), grouped(2, 4, 2), mask.data());
  CHECK(ids_of(R, 0, 0) == std::vector<int>{4, 2});
  // softmax over logits 3 and 2: 1 / (1 + e^-1) = 0.7311.
  CHECK_THAT(weights_of(R, 0, 0), approx({0.7311f, 0.2689f}, 1e-4f));
}

TEST_CASE("a one-expert group still ranks below every group with two", "[group_ranking]") {
  // C = {0, 1, 6}, keep 1 group, K = 2. Token 0's r: expert 6 alone (logit 3) outscores
  // experts 0 + 1 (logits 0 each) by far, yet group 0 has two eligible experts and wins.
  std::vector<uint8_t> mask(8, 0);
  mask[0] = mask[1] = mask[6] = 1;
  const Batch one = block_of({{0, 0, 0, 0, 0, 0, 3, 0}});
  const Routing R = reference::route_in_coreset(one.view(), grouped(2, 4, 1), mask.data());
  CHECK(ids_of(R, 0, 0) == std::vector<int>{0, 1});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.5f, 0.5f}, 1e-6f));
}
