// The shared rules of include/coreroute/detail/ (weights, group limit, metric edge
// cases), which the reference, Kokkos and CUDA all call, and the CUDA fast path's own
// forms of the group limit pinned to them on the host: CI has no GPU, so this is where
// a drift of the fast path from the rule shows.
#include <cstdint>
#include <random>
#include <vector>

#include <coreroute/detail/groups.hpp>
#include <coreroute/detail/metric_rules.hpp>
#include <coreroute/detail/weights.hpp>

#include "test_common.hpp"

namespace {

using coreroute::GroupScoreRule;
using coreroute::RouterParams;
using namespace coreroute::detail;
using crtest::kInf;

RouterParams params(bool normalize, float scaling) {
  RouterParams p;
  p.normalize_weights = normalize;
  p.scaling = scaling;
  return p;
}

}  // namespace

TEST_CASE("token_weight: normalise by the selected sum (0 when it is 0), then scale", "[rules][weights]") {
  CHECK(token_weight(0.25, 0.5, params(true, 2.0f)) == 1.0);
  CHECK(token_weight(0.25, 0.5, params(false, 2.0f)) == 0.5);
  CHECK(token_weight(0.0, 0.0, params(true, 3.0f)) == 0.0);
  CHECK(token_weight(0.25f, 0.0f, params(true, 1.0f)) == 0.0f);
  // The operation order (divide, then multiply by the double of the float scaling) is
  // the reference's, so every backend rounds the same: 0.1 / 0.3 * double(2.5f).
  CHECK(token_weight(0.1, 0.3, params(true, 2.5f)) == 0.1 / 0.3 * double(2.5f));
}

TEST_CASE("group_rank: tiers by eligible count (2+, 1, 0), then the two largest r or the one, ties to the lower id",
          "[rules][groups]") {
  const std::vector<double> r = {0.5, 0.9, 0.9, 0.1, /* group 1 */ 0.7, 0.2, 0.3, 0.4};
  const auto all = [](int) { return true; };
  const GroupRank<double> g0 = group_rank(r.data(), 0, 4, GroupScoreRule::top2, all);
  CHECK(g0.tier == 2);
  CHECK(g0.score == 0.9 + 0.9);
  const GroupRank<double> g1 = group_rank(r.data(), 1, 4, GroupScoreRule::top2, [](int i) { return i == 6; });
  CHECK(g1.tier == 1);
  CHECK(g1.score == 0.3);
  const GroupRank<double> g1_empty = group_rank(r.data(), 1, 4, GroupScoreRule::top2, [](int) { return false; });
  CHECK(g1_empty.tier == 0);
  CHECK(g1_empty.score == 0.0);
  TwoBest best;
  for (int i = 0; i < 4; ++i) best.offer(r.data(), i);
  CHECK(best.first == 1);
  CHECK(best.second == 2);
  // Two before one before none whatever the scores, then the larger score, then the lower id.
  CHECK(group_ranks_before(GroupRank<double>{2, -5.0}, 3, GroupRank<double>{1, 4.0}, 0));
  CHECK(group_ranks_before(GroupRank<double>{2, -5.0}, 3, GroupRank<double>{0, 0.0}, 0));
  CHECK(group_ranks_before(GroupRank<double>{1, -5.0}, 3, GroupRank<double>{0, 0.0}, 0));
  CHECK_FALSE(group_ranks_before(GroupRank<double>{0, 0.0}, 0, GroupRank<double>{1, -5.0}, 3));
  CHECK(group_ranks_before(GroupRank<double>{1, 0.5}, 3, GroupRank<double>{1, 0.25}, 0));
  CHECK(group_ranks_before(GroupRank<double>{1, 0.5}, 0, GroupRank<double>{1, 0.5}, 1));
  CHECK(group_ranks_before(GroupRank<double>{2, 1.0}, 3, GroupRank<double>{2, 0.5}, 0));
  CHECK(group_ranks_before(GroupRank<double>{2, 1.0}, 0, GroupRank<double>{2, 1.0}, 1));
  CHECK_FALSE(group_ranks_before(GroupRank<double>{2, 1.0}, 1, GroupRank<double>{2, 1.0}, 0));
  CHECK(group_ranks_before(GroupRank<double>{0, 0.0}, 0, GroupRank<double>{0, 0.0}, 1));
  CHECK_FALSE(group_ranks_before(GroupRank<double>{0, 0.0}, 1, GroupRank<double>{0, 0.0}, 0));
}

TEST_CASE("the CUDA double path's group_key orders groups as group_ranks_before", "[rules][groups][cuda]") {
  std::mt19937 g(7);
  std::uniform_int_distribution<int> pick(0, 5), tier_of(0, 2);
  const double values[] = {-1.5, -0.0, 0.0, 0.25, 0.25, 3.0};
  int compared = 0, by_tier[3] = {0, 0, 0};
  for (int t = 0; t < 20000; ++t) {
    const int ta = tier_of(g), tb = tier_of(g);
    const GroupRank<double> ra{ta, ta ? values[pick(g)] : 0.0}, rb{tb, tb ? values[pick(g)] : 0.0};
    const int ga = pick(g), gb = pick(g);
    if (ga == gb) continue;
    INFO("a = (" << ra.tier << ", " << ra.score << ", " << ga << "), b = (" << rb.tier << ", " << rb.score << ", " << gb
                 << ")");
    REQUIRE(key_less(group_key(rb, gb), group_key(ra, ga)) == group_ranks_before(ra, ga, rb, gb));
    REQUIRE(key_less(GroupKey{}, group_key(ra, ga)));  // every group's key beats "no key"
    if (ta == tb) ++by_tier[ta];
    ++compared;
  }
  CHECK(compared > 10000);
  CHECK(by_tier[0] > 1000);  // same-tier comparisons of every tier were exercised
  CHECK(by_tier[1] > 1000);
  CHECK(by_tier[2] > 1000);
}

TEST_CASE("the CUDA fast path's two-largest scan and group key agree with group_rank", "[rules][groups][cuda]") {
  // Random rows of float r with exact ties and ineligible experts (-Inf, as the fast
  // path's row holds them); each group scanned as the fast path does, in lane-strided
  // shares merged pairwise, against the shared rule on the same values in double, by
  // both group-score rules (odd rows: max).
  std::mt19937 gen(11);
  std::uniform_int_distribution<int> level(0, 12), coin(0, 3), groups_of(1, 8), per_of(1, 8), step_of(0, 3);
  int rows = 0, ties = 0, by_tier[3] = {0, 0, 0}, same_tier_ties[3] = {0, 0, 0}, max_rule_ties = 0;
  for (int t = 0; t < 6000; ++t) {
    const GroupScoreRule rule = t % 2 ? GroupScoreRule::max : GroupScoreRule::top2;
    const int G = groups_of(gen), per = per_of(gen), step = 1 << step_of(gen), M = G * per;
    std::vector<float> r(static_cast<size_t>(M));
    std::vector<double> rd(static_cast<size_t>(M));
    std::vector<bool> eligible(static_cast<size_t>(M));
    for (int i = 0; i < M; ++i) {
      eligible[size_t(i)] = coin(gen) != 0;
      const float v = float(level(gen) - 4) * 0.125f;  // few levels: many exact ties
      r[size_t(i)] = eligible[size_t(i)] ? v : -kInf;
      rd[size_t(i)] = double(v);
    }
    std::vector<uint64_t> key(static_cast<size_t>(G));
    std::vector<GroupRank<double>> rank(static_cast<size_t>(G));
    for (int g = 0; g < G; ++g) {
      std::vector<float> v1(static_cast<size_t>(step), -kInf), v2(static_cast<size_t>(step), -kInf);
      for (int part = 0; part < step; ++part)  // lane `part` of the group scans every step-th expert
        for (int i = g * per + part; i < (g + 1) * per; i += step)
          keep_two_largest(v1[size_t(part)], v2[size_t(part)], r[size_t(i)]);
      for (int d = 1; d < step; d <<= 1)  // merged pairwise, as the shuffle butterfly does
        for (int part = 0; part < step; part += 2 * d)
          merge_two_largest(v1[size_t(part)], v2[size_t(part)], v1[size_t(part + d)], v2[size_t(part + d)]);
      rank[size_t(g)] = group_rank(rd.data(), g, per, rule, [&](int i) { return eligible[size_t(i)]; });
      key[size_t(g)] = fast_group_key(v1[0], v2[0], rule);
      INFO("G = " << G << ", per = " << per << ", step = " << step << ", group " << g);
      REQUIRE(fast_group_tier(key[size_t(g)]) == rank[size_t(g)].tier);
      REQUIRE(key[size_t(g)] > 0u);  // above "no key"
      TwoBest best;
      for (int i = g * per; i < (g + 1) * per; ++i)
        if (eligible[size_t(i)]) best.offer(rd.data(), i);
      REQUIRE(double(v1[0]) == (best.first >= 0 ? rd[size_t(best.first)] : -kInf));
      REQUIRE(double(v2[0]) == (best.second >= 0 ? rd[size_t(best.second)] : -kInf));
      ++by_tier[rank[size_t(g)].tier];
    }
    // The fast path picks the largest key, equal keys to the lower group: that order is
    // group_ranks_before's wherever the float sums are exact (they are here: dyadic values).
    for (int a = 0; a < G; ++a)
      for (int b = 0; b < G; ++b) {
        if (a == b) continue;
        const bool fast_before = key[size_t(a)] > key[size_t(b)] || (key[size_t(a)] == key[size_t(b)] && a < b);
        INFO("G = " << G << ", groups " << a << " and " << b);
        REQUIRE(fast_before == group_ranks_before(rank[size_t(a)], a, rank[size_t(b)], b));
        ties += key[size_t(a)] == key[size_t(b)] ? 1 : 0;
        if (key[size_t(a)] == key[size_t(b)])
          ++(rule == GroupScoreRule::max ? max_rule_ties : same_tier_ties[rank[size_t(a)].tier]);
      }
    ++rows;
  }
  CHECK(rows == 6000);
  CHECK(by_tier[0] > 100);  // groups with 0, 1 and 2+ eligible experts, and exact ties
  CHECK(by_tier[1] > 100);  // within each tier, were exercised
  CHECK(by_tier[2] > 100);
  CHECK(ties > 100);
  CHECK(same_tier_ties[0] > 100);
  CHECK(same_tier_ties[1] > 100);
  CHECK(same_tier_ties[2] > 100);
  CHECK(max_rule_ties > 100);
}

TEST_CASE("group_rank by the max rule (DeepSeek-V2): the largest eligible r, empty groups last", "[rules][groups]") {
  const std::vector<double> r = {0.5, 0.9, 0.8, 0.1, /* group 1 */ 0.95, 0.2, 0.3, 0.4};
  const auto all = [](int) { return true; };
  // top2 ranks group 0 first (0.9 + 0.8 = 1.7 > 0.95 + 0.4 = 1.35); max ranks group 1 first (0.95 > 0.9).
  const GroupRank<double> t0 = group_rank(r.data(), 0, 4, GroupScoreRule::top2, all),
                          t1 = group_rank(r.data(), 1, 4, GroupScoreRule::top2, all);
  CHECK(group_ranks_before(t0, 0, t1, 1));
  const GroupRank<double> m0 = group_rank(r.data(), 0, 4, GroupScoreRule::max, all),
                          m1 = group_rank(r.data(), 1, 4, GroupScoreRule::max, all);
  CHECK(m0.tier == 1);
  CHECK(m0.score == 0.9);
  CHECK(m1.tier == 1);
  CHECK(m1.score == 0.95);
  CHECK(group_ranks_before(m1, 1, m0, 0));
  // One eligible expert is a full group by the max rule: group 1 with only expert 4
  // (0.95) still beats group 0's four (max 0.9); an empty group ranks last.
  const GroupRank<double> one = group_rank(r.data(), 1, 4, GroupScoreRule::max, [](int i) { return i == 4; });
  CHECK(one.tier == 1);
  CHECK(group_ranks_before(one, 1, m0, 0));
  const GroupRank<double> none = group_rank(r.data(), 1, 4, GroupScoreRule::max, [](int) { return false; });
  CHECK(none.tier == 0);
  CHECK(group_ranks_before(m0, 0, none, 1));
  // Equal maxima: the lower group id.
  const std::vector<double> tie = {0.7, 0.1, 0.7, 0.6};
  const GroupRank<double> a = group_rank(tie.data(), 0, 2, GroupScoreRule::max, all),
                          b = group_rank(tie.data(), 1, 2, GroupScoreRule::max, all);
  CHECK(a.score == b.score);
  CHECK(group_ranks_before(a, 0, b, 1));
  CHECK_FALSE(group_ranks_before(b, 1, a, 0));
  // The fast path's key: the largest value alone by the max rule, the sum of two by top2.
  CHECK(fast_group_tier(fast_group_key(0.9f, 0.8f, GroupScoreRule::max)) == 1);
  CHECK(fast_group_key(0.9f, 0.8f, GroupScoreRule::max) == fast_group_key(0.9f, -kInf, GroupScoreRule::top2));
  CHECK(fast_group_tier(fast_group_key(0.9f, 0.8f, GroupScoreRule::top2)) == 2);
  CHECK(fast_group_key(-kInf, -kInf, GroupScoreRule::max) == 1u);
}

TEST_CASE("metric edge cases: empty blocks, zero count vectors, zero reference outputs", "[rules][metrics]") {
  CHECK(topk_hit_rate(0, 0) == 1.0);
  CHECK(topk_hit_rate(3, 4) == 0.75);
  CHECK(gate_reconstruction_loss(2.0, 0) == 0.0);
  CHECK(gate_reconstruction_loss(2.0, 4) == 0.5);
  CHECK(hit_cosine(0, 0, 0) == 1.0);
  CHECK(hit_cosine(0, 0, 5) == 0.0);
  CHECK(hit_cosine(0, 5, 0) == 0.0);
  CHECK(hit_cosine(2, 4, 1) == 1.0);
  CHECK(std::isnan(output_reconstruction_loss(false, 1, 1)));
  CHECK(output_reconstruction_loss(true, 0, 0) == 0.0);
  CHECK(output_reconstruction_loss(true, 1, 0) == kInf);
  CHECK(output_reconstruction_loss(true, 1, 4) == 0.25);
}
