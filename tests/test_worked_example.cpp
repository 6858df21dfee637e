// Worked examples 1 and 3 of docs/algorithms.md, number by number, through the public API.
// The expected values are hand-computed (4 decimals), independently of the document:
// the document's tables are rendered from the code (tests/docs_examples.cpp, test
// docs_worked_examples), so code, document and these values cannot drift apart
// unnoticed. N = 4 tokens, M = 8 experts, K = 2, softmax, normalised weights.
#include "test_common.hpp"

#include <algorithm>

using namespace crtest;

namespace {
const float kLogits[4][8] = {
    {2.0f, 1.0f, 0.0f, 0.0f, 0.5f, 0.0f, 0.0f, -1.0f},
    {1.5f, 0.0f, 2.0f, 0.0f, 0.0f, 0.0f, 0.5f, 0.0f},
    {0.0f, 1.0f, 0.0f, 2.0f, 0.0f, 0.0f, 0.0f, 0.5f},
    {1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 2.0f, 1.0f, 0.0f},
};
constexpr double kTol = 1e-4;  // the document rounds to 4 decimals

Batch example() {
  Batch x(1, 4, 8);
  for (int n = 0; n < 4; ++n)
    for (int i = 0; i < 8; ++i) x.at(0, n, i) = kLogits[n][i];
  return x;
}

RouterConfig example_config() {
  RouterConfig c = config(8, 2);
  c.normalize_weights = true;
  return c;
}

struct Token {
  std::vector<int> ids;
  std::vector<float> weights;
};

struct Expected {
  std::vector<int> coreset;
  Token tokens[4];
  double unique_experts, hit_rate, gate_loss, cosine;
};

template <class Policy>
void check_policy(const Policy& policy, const Expected& e) {
  CAPTURE(policy.describe());
  const Batch x = example();
  const Routing R = reference::route(x.view(), example_config(), policy);
  CHECK(coreset_of(R, 0) == e.coreset);
  for (int n = 0; n < 4; ++n) {
    CAPTURE(n);
    CHECK(ids_of(R, 0, n) == e.tokens[n].ids);
    CHECK_THAT(weights_of(R, 0, n), approx(e.tokens[n].weights, float(kTol)));
  }
  const Routing V = reference::route(x.view(), example_config(), VanillaPolicy{});
  const BlockMetrics m = reference::metrics(R, V, kLladaMoeExpertBytes)[0];
  CHECK(m.unique_experts == e.unique_experts);
  CHECK(m.coreset_size == double(e.coreset.size()));
  CHECK(m.topk_hit_rate == Approx(e.hit_rate).margin(kTol));
  CHECK(m.gate_reconstruction_loss == Approx(e.gate_loss).margin(kTol));
  CHECK(m.hit_cosine == Approx(e.cosine).margin(kTol));
  CHECK(m.expert_bytes_read == e.unique_experts * kLladaMoeExpertBytes);
}
}  // namespace

TEST_CASE("worked example: softmax scores", "[worked_example]") {
  const double s[4][8] = {
      {0.4583, 0.1686, 0.0620, 0.0620, 0.1023, 0.0620, 0.0620, 0.0228},
      {0.2420, 0.0540, 0.3990, 0.0540, 0.0540, 0.0540, 0.0890, 0.0540},
      {0.0597, 0.1622, 0.0597, 0.4410, 0.0597, 0.0597, 0.0597, 0.0984},
      {0.1525, 0.0561, 0.0561, 0.0561, 0.0561, 0.4145, 0.1525, 0.0561},
  };
  const Batch x = example();
  reference::BlockScores scores;
  reference::score_block(x.view(), 0, params_of(example_config()), scores);
  for (int n = 0; n < 4; ++n)
    for (int i = 0; i < 8; ++i) {
      CAPTURE(n, i);
      CHECK(scores.s_row(n)[i] == Approx(s[n][i]).margin(kTol));
      CHECK(scores.r_row(n)[i] == scores.s_row(n)[i]);  // no bias
    }
}

TEST_CASE("worked example: saliency votes and their distribution", "[worked_example]") {
  const double V[8] = {0.8528, 0.3308, 0.3990, 0.4410, 0, 0.4145, 0, 0};
  const double P[8] = {0.3498, 0.1357, 0.1637, 0.1809, 0, 0.1700, 0, 0};
  const Batch x = example();
  const RouterParams p = params_of(example_config());
  reference::Workspace ws;
  reference::score_block(x.view(), 0, p, ws.scores);
  std::vector<double> votes(8);
  reference::block_votes(ws.scores, p, SaliencyVotePolicy::with_core(2), ws, votes.data());
  double total = 0;
  for (double v : votes) total += v;
  CHECK(total == Approx(2.4381).margin(kTol));
  for (int i = 0; i < 8; ++i) {
    CAPTURE(i);
    CHECK(votes[size_t(i)] == Approx(V[i]).margin(kTol));
    CHECK(votes[size_t(i)] / total == Approx(P[i]).margin(kTol));
  }
  // BlockDist's running sums over the ranking 0, 3, 5, 2: the cumulative P before each
  // rank (exact sums, so 0.5306, not the 0.5307 of adding the rounded P values).
  const int ranking[4] = {0, 3, 5, 2};
  const double before[4] = {0, 0.3498, 0.5306, 0.7007};
  double running = 0;
  for (int q = 0; q < 4; ++q) {
    CAPTURE(q);
    CHECK(running / total == Approx(before[q]).margin(kTol / 2));
    running += votes[size_t(ranking[q])];
  }
  // Union votes count the tokens whose top-1 is the expert: 0, 2, 3, 5 once each.
  reference::block_votes(ws.scores, p, UnionPolicy{1}, ws, votes.data());
  CHECK(votes == std::vector<double>{1, 0, 1, 1, 0, 1, 0, 0});
}

TEST_CASE("worked example: vanilla routing", "[worked_example]") {
  check_policy(VanillaPolicy{}, {iota(0, 8),
                                 {{{0, 1}, {0.7311f, 0.2689f}},
                                  {{2, 0}, {0.6225f, 0.3775f}},
                                  {{3, 1}, {0.7311f, 0.2689f}},
                                  {{5, 0}, {0.7311f, 0.2689f}}},
                                 5,
                                 1.0,
                                 0.0,
                                 1.0});
}

TEST_CASE("worked example: UnionPolicy k_local = 1", "[worked_example]") {
  check_policy(UnionPolicy{1}, {{0, 2, 3, 5},
                                {{{0, 2}, {0.8808f, 0.1192f}},
                                 {{2, 0}, {0.6225f, 0.3775f}},
                                 {{3, 0}, {0.8808f, 0.1192f}},
                                 {{5, 0}, {0.7311f, 0.2689f}}},
                                4,
                                0.75,
                                0.0545,
                                0.8528});
}

TEST_CASE("worked example: SaliencyVotePolicy beta = 0.25", "[worked_example]") {
  check_policy(SaliencyVotePolicy::with_beta(0.25), {{0, 3},
                                                     {{{0, 3}, {0.8808f, 0.1192f}},
                                                      {{0, 3}, {0.8176f, 0.1824f}},
                                                      {{3, 0}, {0.8808f, 0.1192f}},
                                                      {{0, 3}, {0.7311f, 0.2689f}}},
                                                     2,
                                                     0.5,
                                                     0.4132,
                                                     0.7071});
}

TEST_CASE("worked example: BlockDistributionPolicy top_p = 0.6", "[worked_example]") {
  BlockDistributionPolicy p;
  p.top_p = 0.6;
  p.min_experts = 2;
  const Expected three = {{0, 3, 5},
                          {{{0, 3}, {0.8808f, 0.1192f}},
                           {{0, 3}, {0.8176f, 0.1824f}},
                           {{3, 0}, {0.8808f, 0.1192f}},
                           {{5, 0}, {0.7311f, 0.2689f}}},
                          3,
                          0.625,
                          0.2081,
                          0.7845};
  check_policy(p, three);
  // With a floor of 4 the next expert by P (2, P = .1637) joins: Union's routing.
  p.min_experts = 4;
  check_policy(p, {{0, 2, 3, 5},
                   {{{0, 2}, {0.8808f, 0.1192f}},
                    {{2, 0}, {0.6225f, 0.3775f}},
                    {{3, 0}, {0.8808f, 0.1192f}},
                    {{5, 0}, {0.7311f, 0.2689f}}},
                   4,
                   0.75,
                   0.0545,
                   0.8528});
}

TEST_CASE("worked example 3: block maxima, their ranking and the capacity-3 and capacity-4 coresets",
          "[worked_example][blockmax]") {
  // docs/algorithms.md, worked example 3: B = each expert's column maximum of s (r = s).
  const Batch x = example();
  const RouterConfig c = example_config();
  reference::BlockScores sc;
  reference::score_block(x.view(), 0, params_of(c), sc);
  const double B[8] = {0.4583, 0.1686, 0.3990, 0.4410, 0.1023, 0.4145, 0.1525, 0.0984};
  for (int i = 0; i < 8; ++i) {
    double best = -1;
    for (int n = 0; n < 4; ++n) best = std::max(best, sc.r_row(n)[i]);
    CAPTURE(i);
    CHECK(std::fabs(best - B[i]) < kTol);
  }
  const Routing R3 = reference::route(x.view(), c, BlockMaxPolicy::with_capacity(3));
  const Routing R4 = reference::route(x.view(), c, BlockMaxPolicy::with_capacity(4));
  const Routing R5 = reference::route(x.view(), c, BlockMaxPolicy::with_capacity(5));
  const Routing R6 = reference::route(x.view(), c, BlockMaxPolicy::with_capacity(6));
  CHECK(coreset_of(R3, 0) == std::vector<int>{0, 3, 5});
  CHECK(coreset_of(R4, 0) == std::vector<int>{0, 2, 3, 5});
  CHECK(coreset_of(R5, 0) == std::vector<int>{0, 1, 2, 3, 5});
  CHECK(coreset_of(R6, 0) == std::vector<int>{0, 1, 2, 3, 5, 6});  // e6 (0.1525) before e4 (0.1023)
  BlockDistributionPolicy bd;
  bd.top_p = 0.6;
  bd.min_experts = 2;
  CHECK(R3.ids == reference::route(x.view(), c, bd).ids);
  CHECK(R4.ids == reference::route(x.view(), c, UnionPolicy{1}).ids);
}
