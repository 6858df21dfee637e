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

TEST_CASE("group score max (DeepSeek-V2): a group ranks by its best eligible expert alone", "[group_ranking][max]") {
  // The last case by the max rule: group 3's expert 6 (logit 3) beats group 0's best
  // (logit 0), so the token keeps group 3 and gets 6, then -1 (one eligible expert).
  std::vector<uint8_t> mask(8, 0);
  mask[0] = mask[1] = mask[6] = 1;
  const Batch one = block_of({{0, 0, 0, 0, 0, 0, 3, 0}});
  RouterConfig c = grouped(2, 4, 1);
  c.groups.group_score = GroupScoreRule::max;
  const Routing R = reference::route_in_coreset(one.view(), c, mask.data());
  CHECK(ids_of(R, 0, 0) == std::vector<int>{6, -1});
  CHECK_THAT(weights_of(R, 0, 0), approx({1.0f, 0.0f}, 1e-6f));
}

TEST_CASE("group score max against top2 on vanilla routing, hand-computed", "[group_ranking][max]") {
  // Groups {0..3} {4..7}, keep 1, K = 2, softmax. Group 0 has logits 2.0 and 1.9, group 1
  // has 2.5 and -5: top2 sums e^2 + e^1.9 = 14.08 > e^2.5 + e^-5 = 12.19 (over the row's
  // sum), so group 0; max compares e^2 = 7.39 < e^2.5 = 12.18, so group 1. Then expert
  // 4, and 5 (logit -5 ties 6 and 7: the lower id).
  const Batch x = block_of({{2.0f, 1.9f, -5.0f, -5.0f, 2.5f, -5.0f, -5.0f, -5.0f}});
  RouterConfig c = config(8, 2);
  c.groups = {2, 1};
  CHECK(ids_of(reference::route(x.view(), c, VanillaPolicy{}), 0, 0) == std::vector<int>{0, 1});
  c.groups.group_score = GroupScoreRule::max;
  const Routing R = reference::route(x.view(), c, VanillaPolicy{});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{4, 5});
  // Unnormalised weights: the softmax scores e^2.5 / Z and e^-5 / Z, Z the row's sum.
  const double Z = std::exp(2.0) + std::exp(1.9) + std::exp(2.5) + 5 * std::exp(-5.0);
  CHECK_THAT(weights_of(R, 0, 0), approx({float(std::exp(2.5) / Z), float(std::exp(-5.0) / Z)}));
  // Equal maxima in two groups: the lower group id.
  const Batch tie = block_of({{1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.9f, 0.9f, 0.9f}});
  CHECK(ids_of(reference::route(tie.view(), c, VanillaPolicy{}), 0, 0) == std::vector<int>{0, 1});
}

TEST_CASE("group score: checked, and only top2 or max", "[group_ranking][max]") {
  RouterConfig c = config(8, 2);
  c.groups = {2, 1};
  c.groups.group_score = static_cast<GroupScoreRule>(7);
  CHECK_THAT(error_of([&] { validate(c); }), Contains("groups.group_score = 7: must be top2 or max"));
}
