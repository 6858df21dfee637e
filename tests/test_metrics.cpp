// Metrics of docs/spec.md section 5, each computed by hand on routings written out
// literally (so the metric code is tested apart from routing).
#include "test_common.hpp"

#include <cmath>

using namespace crtest;

namespace {
/// A routing of one block given row by row; rows at or past `valid` are garbage
/// that no metric may read.
Routing literal(int M, int K, std::vector<std::vector<int>> ids, std::vector<std::vector<float>> w, int valid,
                int coreset_size) {
  Routing R;
  R.resize(1, int64_t(ids.size()), M, K);
  for (size_t n = 0; n < ids.size(); ++n)
    for (int j = 0; j < K; ++j) {
      R.ids[n * size_t(K) + size_t(j)] = ids[n][size_t(j)];
      R.weights[n * size_t(K) + size_t(j)] = w[n][size_t(j)];
    }
  R.valid_tokens[0] = valid;
  R.coreset_size[0] = coreset_size;
  return R;
}

// R0: token 0 -> {0: .6, 1: .4}, token 1 -> {2: .5, 0: .5}
// R : token 0 -> {0: .7, 2: .3}, token 1 -> {2: 1}, one slot padded
Routing reference_routing() { return literal(4, 2, {{0, 1}, {2, 0}}, {{0.6f, 0.4f}, {0.5f, 0.5f}}, 2, 4); }
Routing candidate_routing() { return literal(4, 2, {{0, 2}, {2, -1}}, {{0.7f, 0.3f}, {1.0f, 0.0f}}, 2, 3); }

// Expert outputs Y[n, i, :] of dimension 2 for the two routings above.
const std::vector<float> kOutputs = {1, 0, 0, 1, 1, 1, 9, 9,   // token 0, experts 0..3
                                     2, 0, 5, 5, 0, 2, 7, 7};  // token 1
}  // namespace

TEST_CASE("unique experts, coreset size and bytes read", "[metrics]") {
  const BlockMetrics m = reference::metrics(candidate_routing(), reference_routing(), 100.0)[0];
  CHECK(m.unique_experts == 2);  // {0, 2}
  CHECK(m.coreset_size == 3);
  CHECK(m.expert_bytes_read == 200.0);
  CHECK(reference::metrics(reference_routing(), reference_routing(), 100.0)[0].unique_experts == 3);
}

TEST_CASE("top-K hit rate counts the reference's choices that were kept", "[metrics]") {
  // token 0 keeps 0 of {0, 1}; token 1 keeps 2 of {2, 0}: 2 of 4.
  CHECK(reference::metrics(candidate_routing(), reference_routing())[0].topk_hit_rate == 0.5);
  // Swapped: the candidate's 3 real choices are the reference; token 0's expert 2 is missed.
  CHECK(reference::metrics(reference_routing(), candidate_routing())[0].topk_hit_rate == Approx(2.0 / 3.0));
}

TEST_CASE("gate reconstruction loss is the mean squared distance of dense gates", "[metrics]") {
  // token 0: g - g0 = {.1, -.4, .3, 0} -> .26; token 1: {-.5, 0, .5, 0} -> .5.
  const double loss = reference::metrics(candidate_routing(), reference_routing())[0].gate_reconstruction_loss;
  CHECK(loss == Approx((0.26 + 0.5) / 2).epsilon(1e-6));
}

TEST_CASE("hit cosine compares per-expert selection counts", "[metrics]") {
  // counts R = {1, 0, 2, 0}, R0 = {2, 1, 1, 0}: 4 / (sqrt 5 * sqrt 6).
  const double cosine = reference::metrics(candidate_routing(), reference_routing())[0].hit_cosine;
  CHECK(cosine == Approx(4.0 / std::sqrt(30.0)).epsilon(1e-12));
}

TEST_CASE("output reconstruction loss is relative to the reference output", "[metrics][outputs]") {
  // token 0: R out .7*(1,0) + .3*(1,1) = (1, .3); R0 out .6*(1,0) + .4*(0,1) = (.6, .4);
  //          diff (.4, -.1) -> .17, |R0 out|^2 = .52.
  // token 1: R out 1*(0,2) = (0, 2); R0 out .5*(2,0) + .5*(0,2) = (1, 1); diff -> 2, base 2.
  const ExpertOutputsView y = make_expert_outputs_view(kOutputs.data(), 2, 4, 2);
  const BlockMetrics m = reference::metrics(candidate_routing(), reference_routing(), 0.0, &y)[0];
  CHECK(m.output_reconstruction_loss == Approx((0.17 + 2.0) / (0.52 + 2.0)).epsilon(1e-6));
  CHECK(reference::metrics(reference_routing(), reference_routing(), 0.0, &y)[0].output_reconstruction_loss == 0.0);
}

TEST_CASE("output loss without outputs is NaN; with a zero reference output 0 or +Inf", "[metrics][outputs]") {
  CHECK(std::isnan(reference::metrics(candidate_routing(), reference_routing())[0].output_reconstruction_loss));
  // Y = 0 except expert 3 of token 0. R0 never reads it: its output is 0.
  std::vector<float> y(16, 0.0f);
  y[6] = 1.0f;
  const ExpertOutputsView view = make_expert_outputs_view(y.data(), 2, 4, 2);
  const Routing zero = literal(4, 2, {{0, 1}, {2, 0}}, {{0.5f, 0.5f}, {0.5f, 0.5f}}, 2, 4);
  const Routing same = literal(4, 2, {{1, 0}, {0, 2}}, {{0.5f, 0.5f}, {0.5f, 0.5f}}, 2, 4);
  const Routing off = literal(4, 2, {{3, 0}, {2, 0}}, {{0.5f, 0.5f}, {0.5f, 0.5f}}, 2, 4);
  CHECK(reference::metrics(same, zero, 0.0, &view)[0].output_reconstruction_loss == 0.0);
  CHECK(reference::metrics(off, zero, 0.0, &view)[0].output_reconstruction_loss == INFINITY);
}

TEST_CASE("a block without tokens: T 0, hit rate 1, losses 0, cosine 1", "[metrics][empty]") {
  const Routing R = literal(4, 2, {{0, 1}}, {{0.5f, 0.5f}}, 0, 2);
  const Routing R0 = literal(4, 2, {{2, 3}}, {{0.5f, 0.5f}}, 0, 4);
  const std::vector<float> y(8, 1.0f);
  const ExpertOutputsView view = make_expert_outputs_view(y.data(), 1, 4, 2);
  const BlockMetrics m = reference::metrics(R, R0, 50.0, &view)[0];
  CHECK(m.unique_experts == 0);
  CHECK(m.expert_bytes_read == 0);
  CHECK(m.coreset_size == 2);
  CHECK(m.topk_hit_rate == 1);
  CHECK(m.gate_reconstruction_loss == 0);
  CHECK(m.output_reconstruction_loss == 0);
  CHECK(m.hit_cosine == 1);
}

TEST_CASE("cosine against a routing that selected nothing is 0", "[metrics]") {
  const Routing none = literal(4, 2, {{-1, -1}}, {{0.0f, 0.0f}}, 1, 0);
  const Routing R0 = literal(4, 2, {{1, 2}}, {{0.25f, 0.5f}}, 1, 4);
  const BlockMetrics m = reference::metrics(none, R0)[0];
  CHECK(m.hit_cosine == 0);
  CHECK(m.topk_hit_rate == 0);
  CHECK(m.unique_experts == 0);
  CHECK(m.gate_reconstruction_loss == Approx(0.25 * 0.25 + 0.5 * 0.5));
  CHECK(reference::metrics(none, none)[0].hit_cosine == 1);  // both empty
}

TEST_CASE("rows past the valid tokens count in no metric", "[metrics][tokens]") {
  // Row 1 of R is garbage that would change every metric if it were counted.
  // Row 0: same experts, weights {.8, .2} against {.6, .4}: gate loss .04 + .04.
  const Routing R = literal(4, 2, {{0, 1}, {3, 2}}, {{0.8f, 0.2f}, {9.0f, 9.0f}}, 1, 4);
  const Routing R0 = literal(4, 2, {{0, 1}, {0, 1}}, {{0.6f, 0.4f}, {0.5f, 0.5f}}, 1, 4);
  const BlockMetrics m = reference::metrics(R, R0, 1.0)[0];
  CHECK(m.unique_experts == 2);
  CHECK(m.topk_hit_rate == 1);
  CHECK(m.gate_reconstruction_loss == Approx(0.08).epsilon(1e-6));  // divided by 1 valid token, not 2
  CHECK(m.hit_cosine == Approx(1.0));
}

TEST_CASE("a K-override baseline is measured against the model's own K", "[metrics][baseline]") {
  // s = {.1 .2 .3 .4}. Top-1 routing: {3: .4}; the model's top-2: {3: .4, 2: .3}.
  const Batch x = block_of({{0.0f, float(std::log(2.0)), float(std::log(3.0)), float(std::log(4.0))}});
  const Routing top1 = reference::route(x.view(), config(4, 1), VanillaPolicy{});
  const Routing model = reference::route(x.view(), config(4, 2), VanillaPolicy{});
  const BlockMetrics m = reference::metrics(top1, model)[0];
  CHECK(m.unique_experts == 1);
  CHECK(m.coreset_size == 4);
  CHECK(m.topk_hit_rate == 0.5);
  CHECK(m.gate_reconstruction_loss == Approx(0.09).epsilon(1e-6));
  CHECK(m.hit_cosine == Approx(1.0 / std::sqrt(2.0)).epsilon(1e-12));
  // Against itself (same K) nothing is lost.
  CHECK(reference::metrics(top1, top1)[0].topk_hit_rate == 1.0);
}

TEST_CASE("a trace's metrics are the mean over blocks, each weighing the same", "[metrics][trace]") {
  BlockMetrics a, b;
  a.unique_experts = 10;
  b.unique_experts = 20;
  a.coreset_size = 12;
  b.coreset_size = 16;
  a.topk_hit_rate = 1.0;
  b.topk_hit_rate = 0.5;
  a.gate_reconstruction_loss = 0.0;
  b.gate_reconstruction_loss = 0.2;
  a.output_reconstruction_loss = 0.1;
  b.output_reconstruction_loss = 0.3;
  a.hit_cosine = 0.9;
  b.hit_cosine = 0.7;
  a.expert_bytes_read = 100;
  b.expert_bytes_read = 300;
  const BlockMetrics m = mean_metrics({a, b});
  CHECK(m.unique_experts == 15);
  CHECK(m.coreset_size == 14);
  CHECK(m.topk_hit_rate == 0.75);
  CHECK(m.gate_reconstruction_loss == Approx(0.1));
  CHECK(m.output_reconstruction_loss == Approx(0.2));
  CHECK(m.hit_cosine == Approx(0.8));
  CHECK(m.expert_bytes_read == 200);
  const BlockMetrics empty = mean_metrics({});
  CHECK(empty.unique_experts == 0);
  CHECK(empty.topk_hit_rate == 1);
  CHECK(empty.hit_cosine == 1);
}

TEST_CASE("bytes read use the published expert sizes", "[metrics]") {
  CHECK(kLladaMoeExpertBytes == 3.0 * 2048 * 1024 * 2);
  CHECK(kLlada2MiniExpertBytes == 3.0 * 2048 * 512 * 2);
  const Routing R = reference_routing();
  CHECK(reference::metrics(R, R, kLladaMoeExpertBytes)[0].expert_bytes_read == 3 * kLladaMoeExpertBytes);
}
