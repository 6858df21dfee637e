// The checked CUDA API's own contract: every rejection of DeviceConfig, route,
// route_in_coreset and the adapter's metrics names the parameter and is made before
// any output is written; a valid call gives the reference's routing.
// Tests tagged [host] need no device (checks made before any device work; without a
// device no pointer can be verified as device memory, so it is rejected the same way):
// `test_cuda_api [host]` runs them anywhere. Any other selection exits 77 (ctest:
// skipped) when there is no CUDA device.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime.h>
#include <thrust/copy.h>
#include <thrust/device_vector.h>

#include <cstdint>
#include <iostream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <coreroute/cuda.cuh>
#include <coreroute/cuda/testing.cuh>
#include <coreroute/reference.hpp>
#include <coreroute/testing/bad_policies.hpp>

#include "test_common.hpp"

namespace {

using namespace coreroute;
using crtest::Contains;
using crtest::error_of;
namespace crcuda = coreroute::cuda;  // plain `cuda` also names libcu++'s namespace

template <class T>
T* raw(thrust::device_vector<T>& v) {
  return thrust::raw_pointer_cast(v.data());
}

template <class T>
std::vector<T> to_host(const thrust::device_vector<T>& v) {
  std::vector<T> h(v.size());
  thrust::copy(v.begin(), v.end(), h.begin());
  return h;
}

constexpr int32_t kPoison = -7;  // outputs start here: a rejected call must leave them so

/// A host batch, its device copy and device outputs poisoned, for one config.
struct DeviceCase {
  crtest::Batch host;
  RouterConfig c;
  thrust::device_vector<float> logits;
  thrust::device_vector<int32_t> tokens, ids, coreset_size, valid, invalid;
  thrust::device_vector<float> weights;
  thrust::device_vector<uint8_t> coreset;

  DeviceCase(crtest::Batch x, RouterConfig cfg)
      : host(std::move(x)),
        c(std::move(cfg)),
        logits(host.data.begin(), host.data.end()),
        tokens(host.tokens.begin(), host.tokens.end()),
        ids(size_t(host.B * host.N * c.top_k), kPoison),
        coreset_size(size_t(host.B), kPoison),
        valid(size_t(host.B), kPoison),
        invalid(size_t(host.B), kPoison),
        weights(size_t(host.B * host.N * c.top_k), float(kPoison)),
        coreset(size_t(host.B * host.M), uint8_t(7)) {}

  LogitsView<float> view() {
    return make_logits_view<float>(raw(logits), host.B, host.N, host.M, tokens.empty() ? nullptr : raw(tokens));
  }
  crcuda::RouteOutputs outputs() {
    return {raw(ids), raw(weights), raw(coreset), raw(coreset_size), raw(valid), raw(invalid)};
  }
  /// Every output still holds its poison: nothing was written.
  bool untouched() const {
    for (int32_t v : to_host(ids))
      if (v != kPoison) return false;
    for (int32_t v : to_host(valid))
      if (v != kPoison) return false;
    for (uint8_t v : to_host(coreset))
      if (v != 7) return false;
    return true;
  }
  /// The device results as a host Routing.
  Routing routing() const {
    Routing R;
    R.resize(host.B, host.N, c.num_experts, c.top_k);
    R.ids = to_host(ids);
    R.weights = to_host(weights);
    R.coreset = to_host(coreset);
    R.coreset_size = to_host(coreset_size);
    R.valid_tokens = to_host(valid);
    R.invalid_tokens = to_host(invalid);
    return R;
  }
};

/// LLaDA2.0-mini's shape in small: sigmoid, bias, groups, normalised and scaled weights.
RouterConfig grouped_sigmoid() {
  RouterConfig c = crtest::config(32, 4, ScoreFunction::sigmoid);
  c.expert_bias.resize(32);
  for (int i = 0; i < 32; ++i) c.expert_bias[size_t(i)] = 0.05f * float(i % 7) - 0.1f;
  c.groups = {8, 4};
  c.normalize_weights = true;
  c.scaling = 2.5f;
  return c;
}

const std::string kNotDevice = "must point to device or managed memory";

void require_same(const Routing& got, const Routing& want) {
  CHECK(got.ids == want.ids);  // ids exactly; weights to float rounding
  CHECK_THAT(got.weights, crtest::approx(want.weights, 1e-5f));
  CHECK(got.coreset == want.coreset);
  CHECK(got.coreset_size == want.coreset_size);
  CHECK(got.valid_tokens == want.valid_tokens);
}

}  // namespace

TEST_CASE("DeviceConfig rejects a bad config, naming the parameter") {
  RouterConfig c = crtest::config(16, 4);
  c.top_k = 0;
  CHECK_THAT(error_of([&] { crcuda::DeviceConfig dc(c); }), Contains("top_k = 0"));
  c.top_k = 17;
  CHECK_THAT(error_of([&] { crcuda::DeviceConfig dc(c); }), Contains("top_k = 17"));
  c = crtest::config(16, 4);
  c.expert_bias.assign(15, 0.0f);
  CHECK_THAT(error_of([&] { crcuda::DeviceConfig dc(c); }), Contains("expert_bias"));
  c.expert_bias.assign(16, 0.0f);
  c.expert_bias[3] = crtest::kNaN;
  CHECK_THAT(error_of([&] { crcuda::DeviceConfig dc(c); }), Contains("expert_bias[3]"));
  c = crtest::config(16, 4);
  c.scaling = 0.0f;
  CHECK_THAT(error_of([&] { crcuda::DeviceConfig dc(c); }), Contains("scaling = 0"));
  c = crtest::config(16, 4);
  c.groups = {3, 1};
  CHECK_THAT(error_of([&] { crcuda::DeviceConfig dc(c); }), Contains("groups.n_group = 3"));
  CHECK(error_of([&] { crcuda::DeviceConfig dc(grouped_sigmoid()); }) == "<no coreroute::invalid_argument thrown>");
}

TEST_CASE("route rejects groups.n_group above the CUDA backend's limit") {
  RouterConfig c = crtest::config(256, 8, ScoreFunction::sigmoid);
  c.groups = {128, 4};  // valid for the reference: 2 experts per group
  DeviceCase in(crtest::random_batch(1, 1, 4, 256), c);
  const crcuda::DeviceConfig dc(c);
  CHECK_THAT(
      error_of([&] { crcuda::route(in.view(), dc, VanillaPolicy{}, in.outputs()); }),
      Contains("groups.n_group = 128: must be <= " + std::to_string(crcuda::kMaxGroups) + " on the CUDA backend"));
  CHECK_THAT(error_of([&] { crcuda::route_in_coreset(in.view(), dc, raw(in.coreset), in.outputs()); }),
             Contains("groups.n_group = 128"));
  CHECK(in.untouched());
}

TEST_CASE("route rejects a bad policy") {
  DeviceCase in(crtest::random_batch(2, 2, 4, 16), crtest::config(16, 4));
  const crcuda::DeviceConfig dc(in.c);
  CHECK_THAT(error_of([&] { crcuda::route(in.view(), dc, UnionPolicy{5}, in.outputs()); }),
             Contains("UnionPolicy.k_local = 5"));
  CHECK_THAT(error_of([&] { crcuda::route(in.view(), dc, SaliencyVotePolicy::with_core(17), in.outputs()); }),
             Contains("SaliencyVotePolicy.core = 17"));
  CHECK(in.untouched());
}

TEST_CASE("route rejects wrong shapes, strides and tokens per block") {
  DeviceCase in(crtest::random_batch(3, 2, 4, 16), crtest::config(16, 4));
  const crcuda::DeviceConfig dc(in.c);
  const auto pol = SaliencyVotePolicy::with_core(6);
  auto route_view = [&](const LogitsView<float>& x) { crcuda::route(x, dc, pol, in.outputs()); };
  LogitsView<float> x = in.view();
  x.experts = 8;
  CHECK_THAT(error_of([&] { route_view(x); }), Contains("logits.experts = 8: must equal num_experts = 16"));
  x = in.view();
  x.blocks = -1;
  CHECK_THAT(error_of([&] { route_view(x); }), Contains("logits.blocks = -1"));
  x = in.view();
  x.tokens = -2;
  CHECK_THAT(error_of([&] { route_view(x); }), Contains("logits.tokens = -2"));
  x = in.view();
  x.stride_expert = 0;
  CHECK_THAT(error_of([&] { route_view(x); }), Contains("logits.stride_expert = 0"));
  x = in.view();
  x.stride_token = 0;
  CHECK_THAT(error_of([&] { route_view(x); }), Contains("logits.stride_token = 0"));
  x = in.view();
  x.stride_block = 0;
  CHECK_THAT(error_of([&] { route_view(x); }), Contains("logits.stride_block = 0"));
  x = in.view();
  x.data = nullptr;
  CHECK_THAT(error_of([&] { route_view(x); }), Contains("logits.data = null"));

  thrust::device_vector<int32_t> short_block(std::vector<int32_t>{4, 5});
  x = in.view();
  x.tokens_per_block = raw(short_block);
  CHECK_THAT(error_of([&] { route_view(x); }), Contains("tokens_per_block[1] = 5: must be in [0, tokens = 4]"));
  thrust::device_vector<int32_t> negative(std::vector<int32_t>{-1, 0});
  x.tokens_per_block = raw(negative);
  CHECK_THAT(error_of([&] { route_view(x); }), Contains("tokens_per_block[0] = -1"));
  CHECK(in.untouched());
}

TEST_CASE("route rejects null outputs and null dispatch buffers") {
  DeviceCase in(crtest::random_batch(4, 2, 4, 16), crtest::config(16, 4));
  const crcuda::DeviceConfig dc(in.c);
  crcuda::RouteOutputs out = in.outputs();
  out.ids = nullptr;
  CHECK_THAT(error_of([&] { crcuda::route(in.view(), dc, VanillaPolicy{}, out); }), Contains("out.ids = null"));
  out = in.outputs();
  out.weights = nullptr;
  CHECK_THAT(error_of([&] { crcuda::route(in.view(), dc, VanillaPolicy{}, out); }), Contains("out.weights = null"));

  thrust::device_vector<int32_t> d(size_t(2 * 17 + 2 * 4 * 4 * 2), 0);
  crcuda::DispatchOutputs dispatch{raw(d), raw(d), nullptr, raw(d), raw(d), raw(d)};
  CHECK_THAT(error_of([&] { crcuda::route(in.view(), dc, VanillaPolicy{}, in.outputs(), nullptr, &dispatch); }),
             Contains("dispatch.counts = null: must be set when num_used is"));
  dispatch = {raw(d), raw(d), raw(d), raw(d), raw(d), nullptr};
  CHECK_THAT(
      error_of([&] { crcuda::route_in_coreset(in.view(), dc, raw(in.coreset), in.outputs(), nullptr, &dispatch); }),
      Contains("dispatch.slot = null"));
  CHECK_THAT(error_of([&] { crcuda::route_in_coreset(in.view(), dc, nullptr, in.outputs()); }),
             Contains("coreset = null"));
  CHECK(in.untouched());
}

TEST_CASE("route rejects host pointers where device pointers are required") {
  DeviceCase in(crtest::random_batch(5, 2, 4, 16), crtest::config(16, 4));
  const crcuda::DeviceConfig dc(in.c);
  const auto pol = SaliencyVotePolicy::with_core(6);
  std::vector<int32_t> host_ints(256, 0);
  std::vector<float> host_floats(256, 0.0f);
  std::vector<uint8_t> host_mask(32, 1);

  CHECK_THAT(error_of([&] { crcuda::route(in.host.view(), dc, pol, in.outputs()); }),
             Contains("logits.data = ") && Contains(kNotDevice));
  LogitsView<float> x = in.view();
  const std::vector<int32_t> host_tokens = {4, 4};
  x.tokens_per_block = host_tokens.data();
  CHECK_THAT(error_of([&] { crcuda::route(x, dc, pol, in.outputs()); }),
             Contains("logits.tokens_per_block = ") && Contains(kNotDevice));

  const std::pair<const char*, crcuda::RouteOutputs> outputs[] = {
      {"out.ids = ",
       {host_ints.data(), raw(in.weights), raw(in.coreset), raw(in.coreset_size), raw(in.valid), raw(in.invalid)}},
      {"out.weights = ",
       {raw(in.ids), host_floats.data(), raw(in.coreset), raw(in.coreset_size), raw(in.valid), raw(in.invalid)}},
      {"out.coreset = ",
       {raw(in.ids), raw(in.weights), host_mask.data(), raw(in.coreset_size), raw(in.valid), raw(in.invalid)}},
      {"out.coreset_size = ",
       {raw(in.ids), raw(in.weights), raw(in.coreset), host_ints.data(), raw(in.valid), raw(in.invalid)}},
      {"out.valid_tokens = ",
       {raw(in.ids), raw(in.weights), raw(in.coreset), raw(in.coreset_size), host_ints.data(), raw(in.invalid)}},
      {"out.invalid_tokens = ",
       {raw(in.ids), raw(in.weights), raw(in.coreset), raw(in.coreset_size), raw(in.valid), host_ints.data()}}};
  for (const auto& named : outputs) {
    const std::string name = named.first;
    CAPTURE(name);
    CHECK_THAT(error_of([&] { crcuda::route(in.view(), dc, pol, named.second); }),
               Contains(name) && Contains(kNotDevice));
  }

  thrust::device_vector<int32_t> d(size_t(2 * 17 + 2 * 4 * 4 * 2), 0);
  const crcuda::DispatchOutputs dispatch{raw(d), raw(d), host_ints.data(), raw(d), raw(d), raw(d)};
  CHECK_THAT(error_of([&] { crcuda::route(in.view(), dc, pol, in.outputs(), nullptr, &dispatch); }),
             Contains("dispatch.counts = ") && Contains(kNotDevice));
  CHECK_THAT(error_of([&] { crcuda::route_in_coreset(in.view(), dc, host_mask.data(), in.outputs()); }),
             Contains("coreset = ") && Contains(kNotDevice));
  CHECK(in.untouched());
}

TEST_CASE("route rejects NaN and +Inf logits, naming block, token and expert") {
  const auto pol = SaliencyVotePolicy::with_core(6);
  SECTION("NaN, softmax") {
    crtest::Batch x = crtest::random_batch(6, 3, 4, 16);
    x.at(1, 2, 13) = crtest::kNaN;
    DeviceCase in(x, crtest::config(16, 4));
    const crcuda::DeviceConfig dc(in.c);
    const std::string got = error_of([&] { crcuda::route(in.view(), dc, pol, in.outputs()); });
    CHECK_THAT(got, Contains("logits[block 1, token 2, expert 13]") && Contains("NaN and +Inf logits are invalid"));
    CHECK_THAT(error_of([&] { reference::route(in.host.view(), in.c, pol); }),
               Contains("logits[block 1, token 2, expert 13]"));
    CHECK_THAT(error_of([&] { crcuda::route_in_coreset(in.view(), dc, raw(in.coreset), in.outputs()); }),
               Contains("logits[block 1, token 2, expert 13]"));
    CHECK(in.untouched());
  }
  SECTION("+Inf, sigmoid; the first bad logit is named") {
    crtest::Batch x = crtest::random_batch(7, 3, 4, 32);
    x.at(2, 3, 31) = crtest::kInf;
    x.at(2, 1, 30) = crtest::kInf;
    x.at(2, 1, 7) = crtest::kNaN;
    DeviceCase in(x, grouped_sigmoid());
    const crcuda::DeviceConfig dc(in.c);
    CHECK_THAT(error_of([&] { crcuda::route(in.view(), dc, pol, in.outputs()); }),
               Contains("logits[block 2, token 1, expert 7]"));
    CHECK(in.untouched());
  }
  SECTION("a bad logit in a row past tokens_per_block is never read") {
    crtest::Batch x = crtest::random_batch(8, 2, 4, 16);
    x.at(1, 3, 5) = crtest::kNaN;
    x.tokens = {4, 3};
    DeviceCase in(x, crtest::config(16, 4));
    const crcuda::DeviceConfig dc(in.c);
    crcuda::route(in.view(), dc, pol, in.outputs());
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    require_same(in.routing(), reference::route(in.host.view(), in.c, pol));
  }
}

TEST_CASE("route rejects a softmax row of all -Inf logits") {
  crtest::Batch x = crtest::random_batch(9, 2, 4, 16);
  for (int i = 0; i < 16; ++i) x.at(0, 3, i) = -crtest::kInf;
  DeviceCase in(x, crtest::config(16, 4));
  const crcuda::DeviceConfig dc(in.c);
  const auto pol = SaliencyVotePolicy::with_core(6);
  CHECK_THAT(error_of([&] { crcuda::route(in.view(), dc, pol, in.outputs()); }),
             Contains("logits[block 0, token 3, :] = -inf: a softmax row of all -Inf logits is invalid"));
  CHECK(in.untouched());

  SECTION("under sigmoid the same row is valid") {
    DeviceCase sig(x, crtest::config(16, 4, ScoreFunction::sigmoid));
    const crcuda::DeviceConfig dcs(sig.c);
    crcuda::route(sig.view(), dcs, pol, sig.outputs());
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    require_same(sig.routing(), reference::route(sig.host.view(), sig.c, pol));
  }
}

TEST_CASE("route_in_coreset rejects coreset values other than 0 and 1") {
  DeviceCase in(crtest::random_batch(10, 2, 4, 16), crtest::config(16, 4));
  const crcuda::DeviceConfig dc(in.c);
  std::vector<uint8_t> mask(32, 0);
  for (int i : {1, 4, 9, 18, 20, 27}) mask[size_t(i)] = 1;
  mask[21] = 2;
  thrust::device_vector<uint8_t> bad(mask);
  CHECK_THAT(error_of([&] { crcuda::route_in_coreset(in.view(), dc, raw(bad), in.outputs()); }),
             Contains("coreset[21] = 2: must be 0 or 1"));
  mask[21] = 255;
  bad = mask;
  CHECK_THAT(error_of([&] { crcuda::route_in_coreset(in.view(), dc, raw(bad), in.outputs()); }),
             Contains("coreset[21] = 255"));
  CHECK(in.untouched());

  mask[21] = 1;
  thrust::device_vector<uint8_t> good(mask);
  crcuda::route_in_coreset(in.view(), dc, raw(good), in.outputs());
  CHECK(cudaDeviceSynchronize() == cudaSuccess);
  const Routing want = reference::route_in_coreset(in.host.view(), in.c, mask.data());
  const Routing got = in.routing();
  CHECK(got.ids == want.ids);
  CHECK_THAT(got.weights, crtest::approx(want.weights, 1e-5f));
}

TEST_CASE("the adapter's metrics reject routings that do not match") {
  crtest::Batch x = crtest::random_batch(11, 2, 4, 16);
  const RouterConfig c = crtest::config(16, 4);
  const Routing R0 = reference::route(x.view(), c, VanillaPolicy{});
  const Routing R = reference::route(x.view(), c, SaliencyVotePolicy::with_core(6));
  const crtest::Batch fewer = crtest::random_batch(11, 1, 4, 16);
  CHECK_THAT(error_of([&] {
               crcuda::testing::Backend::metrics(reference::route(fewer.view(), c, VanillaPolicy{}), R0, 1.0, nullptr);
             }),
             Contains("routing.shape = 1: must match the reference routing's [B, N, M]"));
  x.tokens = {4, 2};
  const Routing short_block = reference::route(x.view(), c, SaliencyVotePolicy::with_core(6));
  CHECK_THAT(error_of([&] { crcuda::testing::Backend::metrics(short_block, R0, 1.0, nullptr); }),
             Contains("routing.valid_tokens[1] = 2: must equal the reference's"));

  const std::vector<BlockMetrics> got = crcuda::testing::Backend::metrics(R, R0, 3.0, nullptr);
  const std::vector<BlockMetrics> want = reference::metrics(R, R0, 3.0, nullptr);
  REQUIRE(got.size() == want.size());
  for (size_t b = 0; b < got.size(); ++b) {
    CHECK(got[b].unique_experts == want[b].unique_experts);
    CHECK(got[b].topk_hit_rate == Approx(want[b].topk_hit_rate));
  }
}

TEST_CASE("a valid call succeeds and equals the reference") {
  SECTION("softmax, saliency votes, every output") {
    DeviceCase in(crtest::random_batch(12, 3, 8, 16), crtest::config(16, 4));
    const crcuda::DeviceConfig dc(in.c);
    const auto pol = SaliencyVotePolicy::with_core(6);
    crcuda::route(in.view(), dc, pol, in.outputs());
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    const Routing want = reference::route(in.host.view(), in.c, pol);
    require_same(in.routing(), want);
    CHECK(in.routing().invalid_tokens == std::vector<int32_t>(3, 0));
  }
  SECTION("sigmoid, bias, groups, tokens per block") {
    crtest::Batch x = crtest::random_batch(13, 4, 8, 32);
    x.tokens = {8, 0, 5, 1};
    DeviceCase in(x, grouped_sigmoid());
    const crcuda::DeviceConfig dc(in.c);
    BlockDistributionPolicy pol;
    pol.top_p = 0.5;
    crcuda::route(in.view(), dc, pol, in.outputs());
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    require_same(in.routing(), reference::route(in.host.view(), in.c, pol));
  }
}

namespace {

RouterConfig host_config(int M, int K) {
  RouterConfig c;
  c.num_experts = M;
  c.top_k = K;
  return c;
}

crcuda::RouteOutputs no_outputs() { return {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr}; }

}  // namespace

TEST_CASE("host checks: DeviceConfig names the bad parameter", "[host]") {
  CHECK_THAT(error_of([] { crcuda::DeviceConfig dc(host_config(8, 9)); }), Contains("top_k = 9"));
  RouterConfig c = host_config(8, 2);
  c.expert_bias = {0.0f, 1.0f};
  CHECK_THAT(error_of([&] { crcuda::DeviceConfig dc(c); }), Contains("expert_bias.size() = 2"));
}

TEST_CASE("host checks: route names the policy parameter", "[host]") {
  const crcuda::DeviceConfig dc(host_config(8, 2));
  const auto x = make_logits_view<float>(nullptr, 1, 4, 8);
  CHECK_THAT(error_of([&] { crcuda::route(x, dc, SaliencyVotePolicy::with_core(9), no_outputs()); }),
             Contains("SaliencyVotePolicy.core = 9"));
  UnionPolicy u;
  u.k_local = 3;
  CHECK_THAT(error_of([&] { crcuda::route(x, dc, u, no_outputs()); }), Contains("UnionPolicy.k_local = 3"));
}

TEST_CASE("host checks: route rejects a user policy's local_k outside [1, num_experts]", "[host]") {
  const crcuda::DeviceConfig dc(host_config(8, 2));
  const auto x = make_logits_view<float>(nullptr, 1, 4, 8);
  for (int k : {-3, 0, 9})
    CHECK_THAT(error_of([&] { crcuda::route(x, dc, coreroute::testing::BadLocalK{k}, no_outputs()); }),
               Contains("bad_local_k.local_k() = " + std::to_string(k)) && Contains("[1, num_experts = 8]"));
}

TEST_CASE("host checks: route rejects more groups than the group mask holds", "[host]") {
  RouterConfig c = host_config(130, 2);
  c.groups = {65, 1};
  const crcuda::DeviceConfig dc(c);
  const auto x = make_logits_view<float>(nullptr, 1, 4, 130);
  CHECK_THAT(error_of([&] { crcuda::route(x, dc, VanillaPolicy{}, no_outputs()); }),
             Contains("groups.n_group = 65") && Contains("CUDA backend"));
}

TEST_CASE("host checks: route rejects pointers it cannot verify as device memory", "[host]") {
  const crcuda::DeviceConfig dc(host_config(8, 2));
  const std::vector<float> host(32, 0.0f);
  const auto x = make_logits_view(host.data(), 1, 4, 8);
  CHECK_THAT(error_of([&] { crcuda::route(x, dc, VanillaPolicy{}, no_outputs()); }),
             Contains("logits.data") && Contains("device or managed memory"));
  std::vector<uint8_t> mask(8, 1);
  CHECK_THAT(error_of([&] { crcuda::route_in_coreset(x, dc, mask.data(), no_outputs()); }), Contains("logits.data"));
}

TEST_CASE("host checks: route names the view's bad shape", "[host]") {
  const crcuda::DeviceConfig dc(host_config(8, 2));
  const auto route_view = [&](int64_t B, int64_t M) {
    return error_of(
        [&] { crcuda::route(make_logits_view<float>(nullptr, B, 4, M), dc, VanillaPolicy{}, no_outputs()); });
  };
  CHECK_THAT(route_view(1, 7), Contains("logits.experts = 7"));
  CHECK_THAT(route_view(-1, 8), Contains("logits.blocks = -1"));
}

TEST_CASE("host checks: the routing kernel's shared-memory layout", "[host]") {
  using crcuda::detail::route_layout;
  for (int M : {8, 64, 65, 256, 512, 1000})
    for (int64_t N : {1, 32, 256, 257})
      for (int bits = 0; bits < 16; ++bits) {
        const bool votes = bits & 1, groups = bits & 2, dispatch = bits & 4, spread = bits & 8;
        const bool general = M > crcuda::kFastPathExperts;
        const auto one = route_layout(M, N, 1, true, votes, general, groups, dispatch, spread);
        for (int warps : {1, 8, 32}) {
          CAPTURE(M, N, votes, groups, dispatch, spread, warps);
          const auto L = route_layout(M, N, warps, true, votes, general, groups, dispatch, spread);
          // What decides a result must not depend on the launch's warps (vote rows), and
          // Stage 1 keeps row stats exactly where Stage 2 may rank the coreset alone.
          CHECK(L.vote_rows == one.vote_rows);
          CHECK(L.stat_tokens ==
                (votes && !general && M > 32 * crcuda::detail::kCoreItems && N <= crcuda::detail::kStatTokens ? N : 0));
          // A spread Stage 1's tally: where the launch has clusters, for blocks of at most kTallyTokens.
          CHECK(L.tally_tokens == (votes && !general && spread && N <= crcuda::detail::kTallyTokens ? N : 0));
          const size_t in_order[] = {L.bias,   L.votes,   L.totals, L.rank,      L.list,        L.sorted,
                                     L.before, L.mask,    L.stats,  L.tally_ids, L.tally_votes, L.counts,
                                     L.used,   L.offsets, L.bits,   L.scratch,   L.control,     L.bytes};
          for (size_t i = 0; i + 1 < std::size(in_order); ++i) {
            CHECK(in_order[i] % 16 == 0);
            CHECK(in_order[i] <= in_order[i + 1]);
          }
          CHECK(L.tally_ids - L.stats >= size_t(L.stat_tokens) * 16);  // each region ends before the next
          CHECK(L.tally_votes - L.tally_ids >= size_t(L.tally_tokens) * 32 * 4);
          CHECK(L.counts - L.tally_votes >= size_t(L.tally_tokens) * 32 * 8);
          if (general)
            CHECK((L.votes <= L.rows && L.rows <= L.totals));  // rows of their own
          else
            CHECK(L.rows == L.votes);  // register rows share the vote rows
        }
      }
}

TEST_CASE("host checks: a launch that cannot fit says why before it is made", "[host]") {
  coreroute::RouterConfig c;
  c.num_experts = 256;
  c.top_k = 8;
  const coreroute::RouterParams p = coreroute::params_of(c);
  const crcuda::detail::DeviceInfo small{132, 1024}, h200{132, 232448};
  const size_t one_warp = crcuda::detail::layout_of<coreroute::SaliencyVotePolicy>(32, p, false, false, 1).bytes;
  REQUIRE(one_warp > 1024);
  const std::string why =
      crcuda::detail::launch_problem<coreroute::SaliencyVotePolicy>(1, 32, p, false, false, {}, small);
  CAPTURE(why);
  CHECK(why.find("num_experts = 256") != std::string::npos);
  CHECK(why.find(std::to_string(one_warp) + " bytes of shared memory") != std::string::npos);
  CHECK(why.find("more than the 1024") != std::string::npos);
  CHECK(crcuda::detail::launch_problem<coreroute::SaliencyVotePolicy>(1, 32, p, false, false, {}, h200).empty());
  // Where the plan fits, the launch's own plan agrees (the two never disagree).
  CHECK(crcuda::detail::plan<coreroute::SaliencyVotePolicy>(1, 32, p, false, false, {}, small).warps == 0);
  CHECK(crcuda::detail::plan<coreroute::SaliencyVotePolicy>(1, 32, p, false, false, {}, h200).warps > 0);
}

TEST_CASE("host checks: a few blocks spread over clusters of CTAs, many blocks do not", "[host]") {
  coreroute::RouterConfig c;
  c.num_experts = 256;
  c.top_k = 8;
  const coreroute::RouterParams p = coreroute::params_of(c);
  const crcuda::detail::DeviceInfo h200{132, 232448, true}, no_clusters{132, 232448, false};
  using V = coreroute::VanillaPolicy;
  const auto lp = [&](int64_t B, int64_t N, const crcuda::detail::DeviceInfo& dev, crcuda::LaunchTuning t = {}) {
    return crcuda::detail::plan<V>(B, N, p, false, false, t, dev);
  };
  CHECK(lp(1, 32, h200).cluster == crcuda::detail::kMaxCluster);
  CHECK(lp(1, 32, h200).grid == crcuda::detail::kMaxCluster);
  CHECK(lp(1, 32, h200).warps == 4);  // one warp per token of a CTA's share
  CHECK(lp(1024, 32, h200).warps == crcuda::detail::kManyBlocks.warps);
  CHECK(lp(1, 8, h200).cluster == 2);    // at least 4 tokens per CTA
  CHECK(lp(64, 32, h200).cluster == 2);  // B * cluster within the SMs
  CHECK(lp(64, 32, h200).grid == 128);
  CHECK(lp(1024, 32, h200).cluster == 1);
  CHECK(lp(1024, 32, h200).grid == 1024);
  CHECK(lp(4096, 32, h200).grid == 132 * 16);  // grid-stride beyond 16 CTAs per SM
  CHECK(lp(1, 32, no_clusters).cluster == 1);
  crcuda::LaunchTuning forced;
  forced.cluster = 4;
  CHECK(lp(1024, 32, h200, forced).cluster == 4);
  CHECK(lp(1024, 32, h200, forced).grid == 4096);
  forced.cluster = 7;  // powers of 2 only
  CHECK(lp(1, 32, h200, forced).cluster == 4);
  forced.cluster = 1;
  CHECK(lp(1, 32, h200, forced).cluster == 1);
  // A block that votes clusters too; its lead CTA has a warp per vote row for Stage 1.
  using Vote = coreroute::SaliencyVotePolicy;
  const crcuda::detail::LaunchPlan voting = crcuda::detail::plan<Vote>(1, 32, p, false, false, {}, h200);
  CHECK(voting.cluster == crcuda::detail::kMaxCluster);
  CHECK(voting.warps == crcuda::detail::vote_rows(256, 32));
  CHECK(voting.warps == 16);
  CHECK(voting.layout.tally_tokens == 32);  // its Stage 1 may spread over the cluster
  CHECK(crcuda::detail::plan<Vote>(1, 32, p, true, false, {}, h200).warps == 4);  // given its coreset: no Stage 1
  CHECK(crcuda::detail::plan<Vote>(1024, 32, p, false, false, {}, h200).cluster == 1);
}

int main(int argc, char** argv) {
  int devices = 0;
  const bool host_only = argc == 2 && std::string(argv[1]) == "[host]";
  if (!host_only && (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)) {
    std::cout << "SKIPPED: no CUDA device on this machine; the checked-API tests need one" << std::endl;
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
