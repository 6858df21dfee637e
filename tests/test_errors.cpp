// Bad input of docs/spec.md section 6: shapes, tokens per block, invalid logits (checked
// API: an error naming block, token and expert; raw path: a status count).
#include "test_common.hpp"

using namespace crtest;

namespace {
template <class Policy = VanillaPolicy>
std::string route_error(const LogitsView<float>& x, const RouterConfig& c, const Policy& p = {}) {
  return error_of([&] { reference::route(x, c, p); });
}
}  // namespace

TEST_CASE("logits.experts must equal num_experts", "[errors]") {
  const Batch x(1, 2, 4);
  CHECK_THAT(route_error(x.view(), config(8, 2)), Contains("logits.experts = 4") && Contains("num_experts = 8"));
}

TEST_CASE("negative batch sizes are rejected", "[errors]") {
  const Batch x(1, 2, 4);
  LogitsView<float> v = x.view();
  v.blocks = -1;
  CHECK_THAT(route_error(v, config(4, 2)), Contains("logits.blocks = -1"));
  v = x.view();
  v.tokens = -2;
  CHECK_THAT(route_error(v, config(4, 2)), Contains("logits.tokens = -2"));
}

TEST_CASE("a non-empty batch needs data and positive strides", "[errors]") {
  const Batch x(2, 3, 4);
  LogitsView<float> v = x.view();
  v.data = nullptr;
  CHECK_THAT(route_error(v, config(4, 2)), Contains("logits.data"));
  v = x.view();
  v.stride_expert = 0;
  CHECK_THAT(route_error(v, config(4, 2)), Contains("logits.stride_expert = 0"));
  v = x.view();
  v.stride_token = 0;
  CHECK_THAT(route_error(v, config(4, 2)), Contains("logits.stride_token = 0"));
  v = x.view();
  v.stride_block = -12;
  CHECK_THAT(route_error(v, config(4, 2)), Contains("logits.stride_block = -12"));
}

TEST_CASE("tokens_per_block entries must be in [0, N]", "[errors][tokens]") {
  Batch x(2, 3, 4);
  x.tokens = {2, 4};
  CHECK_THAT(route_error(x.view(), config(4, 2)), Contains("tokens_per_block[1] = 4"));
  x.tokens = {-1, 3};
  CHECK_THAT(route_error(x.view(), config(4, 2)), Contains("tokens_per_block[0] = -1"));
  x.tokens = {0, 3};
  CHECK_NOTHROW(reference::route(x.view(), config(4, 2), VanillaPolicy{}));
}

TEST_CASE("a NaN logit is rejected naming block, token and expert", "[errors][invalid]") {
  Batch x(2, 3, 4);
  x.at(1, 2, 3) = kNaN;
  CHECK_THAT(route_error(x.view(), config(4, 2)), Contains("logits[block 1, token 2, expert 3] = nan"));
  CHECK_THAT(route_error(x.view(), config(4, 2), SaliencyVotePolicy::with_core(2)),
             Contains("logits[block 1, token 2, expert 3]"));
}

TEST_CASE("a +Inf logit is rejected naming block, token and expert", "[errors][invalid]") {
  Batch x(2, 3, 4);
  x.at(0, 1, 0) = kInf;
  CHECK_THAT(route_error(x.view(), config(4, 2, ScoreFunction::sigmoid)),
             Contains("logits[block 0, token 1, expert 0] = inf"));
}

TEST_CASE("a softmax row of all -Inf is rejected naming block and token", "[errors][invalid]") {
  Batch x(2, 3, 4);
  for (int i = 0; i < 4; ++i) x.at(1, 0, i) = -kInf;
  CHECK_THAT(route_error(x.view(), config(4, 2)), Contains("logits[block 1, token 0, :]"));
  // Under sigmoid the same row is legal: every score is 0, ties go to the lower id.
  const Routing R = reference::route(x.view(), config(4, 2, ScoreFunction::sigmoid), VanillaPolicy{});
  CHECK(ids_of(R, 1, 0) == std::vector<int>{0, 1});
  CHECK(weights_of(R, 1, 0) == std::vector<float>{0.0f, 0.0f});
}

TEST_CASE("minus-infinity logits are legal and score 0", "[errors][invalid]") {
  // softmax over {ln 1, -inf, ln 3, -inf} = {1/4, 0, 3/4, 0}
  const Batch x = block_of({{0.0f, -kInf, float(std::log(3.0)), -kInf}});
  const Routing R = reference::route(x.view(), config(4, 3), VanillaPolicy{});
  CHECK(ids_of(R, 0, 0) == std::vector<int>{2, 0, 1});
  CHECK_THAT(weights_of(R, 0, 0), approx({0.75f, 0.25f, 0.0f}));
  CHECK(R.invalid_tokens[0] == 0);
}

TEST_CASE("invalid logits in rows past tokens_per_block are never read", "[errors][tokens]") {
  Batch x(1, 3, 4);
  x.tokens = {2};
  x.at(0, 2, 1) = kNaN;
  x.at(0, 2, 2) = kInf;
  const Routing R = reference::route(x.view(), config(4, 2), VanillaPolicy{});
  CHECK(ids_of(R, 0, 2) == std::vector<int>{-1, -1});
  CHECK(R.invalid_tokens[0] == 0);
}

TEST_CASE("route_in_coreset rejects a null or non-0/1 coreset mask", "[errors][stage2]") {
  const Batch x(2, 1, 4);
  CHECK_THAT(error_of([&] { reference::route_in_coreset(x.view(), config(4, 2), nullptr); }),
             Contains("coreset = null"));
  const std::vector<uint8_t> mask = {1, 1, 0, 0, 1, 2, 0, 0};
  CHECK_THAT(error_of([&] { reference::route_in_coreset(x.view(), config(4, 2), mask.data()); }),
             Contains("coreset[5] = 2"));
  CHECK_THAT(error_of([&] { reference::route_in_coreset(x.view(), config(4, 5), mask.data()); }),
             Contains("top_k = 5"));
}

TEST_CASE("metrics reject routings that cannot be compared", "[errors][metrics]") {
  const RouterConfig c = config(4, 2);
  Batch x1(1, 3, 4), x2(2, 3, 4), x3(1, 2, 4);
  const Routing R1 = reference::route(x1.view(), c, VanillaPolicy{});
  const Routing R2 = reference::route(x2.view(), c, VanillaPolicy{});
  const Routing R3 = reference::route(x3.view(), c, VanillaPolicy{});
  CHECK_THAT(error_of([&] { reference::metrics(R1, R2); }), Contains("routing.blocks = 1"));
  CHECK_THAT(error_of([&] { reference::metrics(R1, R3); }), Contains("routing.tokens = 3"));
  x1.tokens = {2};
  const Routing R1short = reference::route(x1.view(), c, VanillaPolicy{});
  CHECK_THAT(error_of([&] { reference::metrics(R1short, R1); }), Contains("routing.valid_tokens[0] = 2"));
  const Routing R8 = reference::route(Batch(1, 3, 8).view(), config(8, 2), VanillaPolicy{});
  CHECK_THAT(error_of([&] { reference::metrics(R8, R1); }), Contains("routing.experts = 8"));
}

TEST_CASE("raw path: an invalid token casts no vote, gets -1 / 0 and is counted", "[errors][invalid][raw]") {
  // Union of top-1s. Block 0: tokens pick 1, (NaN row that would pick 3), 2.
  // Block 1: a +Inf row, a row picking 0, an all -Inf softmax row.
  Batch x(2, 3, 4);
  x.set_row(0, 0, {0.0f, 2.0f, 1.0f, 0.0f});
  x.set_row(0, 1, {kNaN, 0.0f, 0.0f, 5.0f});
  x.set_row(0, 2, {0.0f, 0.0f, 2.0f, 1.0f});
  x.set_row(1, 0, {0.0f, kInf, 0.0f, 9.0f});
  x.set_row(1, 1, {3.0f, 1.0f, 0.0f, 0.0f});
  x.set_row(1, 2, {-kInf, -kInf, -kInf, -kInf});
  const RouterConfig c = config(4, 2);
  const Routing R = reference::route_unchecked(x.view(), params_of(c), UnionPolicy{1});
  CHECK(R.invalid_tokens == std::vector<int32_t>{1, 2});
  CHECK(coreset_of(R, 0) == std::vector<int>{1, 2});
  CHECK(coreset_of(R, 1) == std::vector<int>{0});
  for (auto [b, n] : {std::pair{0, 1}, std::pair{1, 0}, std::pair{1, 2}}) {
    CAPTURE(b, n);
    CHECK(ids_of(R, b, n) == std::vector<int>{-1, -1});
    CHECK(weights_of(R, b, n) == std::vector<float>{0.0f, 0.0f});
  }
  CHECK(ids_of(R, 0, 0) == std::vector<int>{1, 2});
  CHECK(ids_of(R, 1, 1) == std::vector<int>{0, -1});
  // The checked API refuses the same batch instead.
  CHECK_THAT(error_of([&] { reference::route(x.view(), c, UnionPolicy{1}); }),
             Contains("logits[block 0, token 1, expert 0] = nan"));
}
