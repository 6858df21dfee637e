// Batch shapes: empty batches (N = 0, B = 0), variable tokens per block, and
// strided (non-contiguous) views giving exactly the contiguous result.
#include "test_common.hpp"

#include <algorithm>

using namespace crtest;

TEST_CASE("N = 0 is a valid empty batch", "[tokens][empty]") {
  const Batch x(2, 0, 6);
  const Routing V = reference::route(x.view(), config(6, 2), VanillaPolicy{});
  CHECK(V.blocks == 2);
  CHECK(V.ids.empty());
  CHECK(V.weights.empty());
  CHECK(V.valid_tokens == std::vector<int32_t>{0, 0});
  CHECK(V.coreset_size == std::vector<int32_t>{6, 6});  // vanilla: every expert
  const Routing U = reference::route(x.view(), config(6, 2), UnionPolicy{1});
  CHECK(U.coreset_size == std::vector<int32_t>{0, 0});  // no token, no vote
  const auto m = reference::metrics(U, V);
  REQUIRE(m.size() == 2);
  CHECK(m[1].unique_experts == 0);
  CHECK(m[1].topk_hit_rate == 1);
  CHECK(m[1].gate_reconstruction_loss == 0);
  CHECK(m[1].hit_cosine == 1);
}

TEST_CASE("B = 0 is a valid empty batch, even without data", "[tokens][empty]") {
  LogitsView<float> x;
  x.experts = 6;
  x.tokens = 32;
  const Routing R = reference::route(x, config(6, 2), SaliencyVotePolicy::with_core(2));
  CHECK(R.blocks == 0);
  CHECK(R.ids.empty());
  CHECK(R.coreset.empty());
  CHECK(reference::metrics(R, R).empty());
  CHECK(reference::dispatch_of(R).num_used.empty());
  CHECK(reference::route_in_coreset(x, config(6, 2), nullptr).blocks == 0);
}

TEST_CASE("rows past tokens_per_block get -1 / 0 and cast no vote", "[tokens]") {
  // Block 1 has one valid token (top-1: expert 0). Its other rows would vote for
  // expert 3 by a wide margin, and row 2 even holds a NaN: none of it is read.
  Batch x(2, 3, 4);
  x.tokens = {3, 1};
  x.set_row(0, 0, {0, 3, 0, 0});
  x.set_row(0, 1, {0, 0, 3, 0});
  x.set_row(0, 2, {0, 3, 1, 0});
  x.set_row(1, 0, {2, 0, 1, 0});
  x.set_row(1, 1, {0, 0, 0, 9});
  x.set_row(1, 2, {kNaN, 0, 0, 9});
  const Routing R = reference::route(x.view(), config(4, 2), UnionPolicy{1});
  CHECK(R.valid_tokens == std::vector<int32_t>{3, 1});
  CHECK(coreset_of(R, 0) == std::vector<int>{1, 2});
  CHECK(coreset_of(R, 1) == std::vector<int>{0});
  CHECK(ids_of(R, 1, 0) == std::vector<int>{0, -1});
  for (int n : {1, 2}) {
    CAPTURE(n);
    CHECK(ids_of(R, 1, n) == std::vector<int>{-1, -1});
    CHECK(weights_of(R, 1, n) == std::vector<float>{0.0f, 0.0f});
  }
}

TEST_CASE("a block with zero valid tokens routes nothing and keeps the policy's empty coreset", "[tokens]") {
  Batch x(2, 2, 4, 1.0f);
  x.tokens = {0, 2};
  const Routing R = reference::route(x.view(), config(4, 2), SaliencyVotePolicy::with_core(2));
  CHECK(coreset_of(R, 0) == std::vector<int>{0, 1});  // no votes: the lowest ids
  CHECK(std::all_of(R.ids.begin(), R.ids.begin() + 4, [](int32_t id) { return id == -1; }));
  CHECK(ids_of(R, 1, 0) == std::vector<int>{0, 1});
  const auto m = reference::metrics(R, reference::route(x.view(), config(4, 2), VanillaPolicy{}), 10.0);
  CHECK(m[0].unique_experts == 0);
  CHECK(m[0].expert_bytes_read == 0);
  CHECK(m[0].coreset_size == 2);
  CHECK(m[0].topk_hit_rate == 1);
  CHECK(m[0].hit_cosine == 1);
}

namespace {
// Copies `x` into a layout with the given strides (in elements); every element
// the view does not address holds NaN, so reading one would make routing fail.
struct Strided {
  std::vector<float> storage;
  LogitsView<float> view;
};

Strided restride(const Batch& x, int64_t sb, int64_t st, int64_t se) {
  Strided out;
  const int64_t last = (x.B - 1) * sb + (x.N - 1) * st + (x.M - 1) * se;
  out.storage.assign(size_t(last + 1), kNaN);
  for (int64_t b = 0; b < x.B; ++b)
    for (int64_t n = 0; n < x.N; ++n)
      for (int64_t i = 0; i < x.M; ++i)
        out.storage[size_t(b * sb + n * st + i * se)] = x.data[size_t((b * x.N + n) * x.M + i)];
  out.view = {out.storage.data(), x.B, x.N, x.M, sb, st, se, x.tokens.empty() ? nullptr : x.tokens.data()};
  return out;
}

template <class Policy>
void check_same_routing(const Batch& x, const RouterConfig& c, const Policy& p) {
  const Routing expected = reference::route(x.view(), c, p);
  const int64_t B = x.B, N = x.N, M = x.M;
  const std::pair<const char*, Strided> layouts[] = {
      {"padded rows and blocks", restride(x, N * (M + 3) + 5, M + 3, 1)},
      {"every other element", restride(x, 2 * N * M + 1, 2 * M, 2)},
      {"token-minor [B, M, N]", restride(x, N * M, 1, N)},
      {"block-minor [N, M, B]", restride(x, 1, M * B, B)},
  };
  for (const auto& [name, s] : layouts) {
    CAPTURE(name, p.describe());
    const Routing R = reference::route(s.view, c, p);
    CHECK(R.ids == expected.ids);
    CHECK(R.weights == expected.weights);
    CHECK(R.coreset == expected.coreset);
  }
}
}  // namespace

TEST_CASE("strided views route exactly like contiguous ones", "[tokens][strided]") {
  Batch x = random_batch(11, 3, 5, 8);
  x.tokens = {5, 2, 4};
  RouterConfig c = config(8, 2);
  check_same_routing(x, c, VanillaPolicy{});
  check_same_routing(x, c, UnionPolicy{1});
  check_same_routing(x, c, SaliencyVotePolicy::with_core(3));
  BlockDistributionPolicy p;
  p.top_p = 0.6;
  p.min_experts = 2;
  RouterConfig g = config(8, 2, ScoreFunction::sigmoid);
  g.groups = {4, 2};
  g.expert_bias = {0.1f, 0.0f, -0.1f, 0.2f, 0.0f, 0.05f, 0.0f, -0.2f};
  g.normalize_weights = true;
  check_same_routing(x, g, p);
}

TEST_CASE("one block or one token may have a zero stride", "[tokens][strided]") {
  const Batch x = random_batch(5, 1, 1, 6);
  LogitsView<float> v = x.view();
  v.stride_block = 0;
  v.stride_token = 0;
  const Routing R = reference::route(v, config(6, 2), VanillaPolicy{});
  CHECK(R.ids == reference::route(x.view(), config(6, 2), VanillaPolicy{}).ids);
}
