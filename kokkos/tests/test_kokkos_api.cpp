// The Kokkos API's own contract: Views of any layout and value type, the raw-pointer
// and unchecked paths, the errors of the checked entry points (the reference's
// messages), empty batches, a K-override baseline's metrics, and launch tuning.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>

#include <coreroute/kokkos.hpp>
#include <coreroute/reference.hpp>
#include <coreroute/testing/bad_policies.hpp>

#include "kokkos_test_common.hpp"
#include "random_cases.hpp"
#include "test_common.hpp"

namespace {

using namespace coreroute;
using ExecSpace = Kokkos::DefaultExecutionSpace;
using Mem = ExecSpace::memory_space;
using crtest::error_of;

/// A host batch with a given config, filled from a seed.
struct Batch {
  RouterConfig c;
  int64_t B, N;
  std::vector<float> x;
  Batch(const RouterConfig& cfg, int64_t b, int64_t n, uint64_t seed)
      : c(cfg), B(b), N(n), x(crkokkos::coarse_logits(seed, size_t(b * n * cfg.num_experts))) {}
  LogitsView<float> view(const int32_t* tokens = nullptr) const {
    return make_logits_view(x.data(), B, N, c.num_experts, tokens);
  }
  /// The same logits in a device View of layout L and value type T.
  template <class T, class L>
  Kokkos::View<T***, L, Mem> device() const {
    Kokkos::View<T***, L, Mem> v("logits", size_t(B), size_t(N), size_t(c.num_experts));
    auto h = Kokkos::create_mirror_view(v);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < N; ++n)
        for (int i = 0; i < c.num_experts; ++i) h(b, n, i) = T(x[size_t((b * N + n) * c.num_experts + i)]);
    Kokkos::deep_copy(v, h);
    return v;
  }
  /// The raw-pointer form, its data in the execution space's memory (a GPU space must
  /// not be given host pointers); `data` keeps it alive.
  struct Raw {
    Kokkos::View<float***, Kokkos::LayoutRight, Mem> data;
    LogitsView<float> view;
  };
  Raw raw() const {
    const auto d = device<float, Kokkos::LayoutRight>();
    return {d, make_logits_view<float>(d.data(), B, N, c.num_experts)};
  }
};

using crkokkos::llada2_like;

Kokkos::View<const int32_t*, Mem> device_tokens(const std::vector<int32_t>& t) {
  Kokkos::View<int32_t*, Mem> v("tokens", t.size());
  Kokkos::deep_copy(v, Kokkos::View<const int32_t*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(t.data(), t.size()));
  return v;
}

}  // namespace

TEST_CASE("Views of any layout and value type route as the reference", "[api]") {
  const Batch in(llada2_like(), 3, 13, 7);
  const std::vector<int32_t> tokens = {13, 0, 5};
  const auto pol = SaliencyVotePolicy::with_core(9);
  const Routing want = reference::route(in.view(tokens.data()), in.c, pol);
  const auto t = device_tokens(tokens);
  crkokkos::require_close(
      kokkos::to_host(kokkos::route(ExecSpace(), in.device<float, Kokkos::LayoutRight>(), t, in.c, pol)), want);
  crkokkos::require_close(
      kokkos::to_host(kokkos::route(ExecSpace(), in.device<float, Kokkos::LayoutLeft>(), t, in.c, pol)), want);
  // double logits: the values are exact in float, so the routing is the same.
  crkokkos::require_close(
      kokkos::to_host(kokkos::route(ExecSpace(), in.device<double, Kokkos::LayoutLeft>(), t, in.c, pol)), want);
}

TEST_CASE("A strided subview routes as the reference", "[api]") {
  const Batch in(llada2_like(), 2, 6, 11);
  const auto full = in.device<float, Kokkos::LayoutRight>();
  // Every other token of each block: a LayoutStride view with token stride 2M.
  const auto sub = Kokkos::subview(full, Kokkos::ALL, std::make_pair(size_t(0), size_t(6)), Kokkos::ALL);
  Kokkos::View<const float***, Kokkos::LayoutStride, Mem> strided(
      sub.data(), Kokkos::LayoutStride(2, size_t(6 * 32), 3, size_t(2 * 32), 32, 1));
  std::vector<float> host;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t n = 0; n < 6; n += 2)
      for (int i = 0; i < 32; ++i) host.push_back(in.x[size_t((b * 6 + n) * 32 + i)]);
  const BlockDistributionPolicy pol{};
  const Routing want = reference::route(make_logits_view(host.data(), 2, 3, 32), in.c, pol);
  crkokkos::require_close(
      kokkos::to_host(kokkos::route(ExecSpace(), strided, kokkos::TokensView<ExecSpace>(), in.c, pol)), want);
}

TEST_CASE("A user policy's local_k and a view's extent are checked as the reference does", "[api]") {
  Batch in(llada2_like(), 2, 4, 3);
  const auto none = kokkos::TokensView<ExecSpace>();
  for (int k : {-3, 0, 33}) {
    const std::string want = error_of([&] { reference::route(in.view(), in.c, testing::BadLocalK{k}); });
    CHECK_THAT(want, Catch::Matchers::Contains("bad_local_k.local_k() = " + std::to_string(k)));
    CHECK(error_of([&] {
            kokkos::route(ExecSpace(), in.device<float, Kokkos::LayoutRight>(), none, in.c, testing::BadLocalK{k});
          }) == want);
    CHECK(error_of([&] { kokkos::route(ExecSpace(), in.view(), in.c, testing::BadLocalK{k}); }) == want);
  }
  LogitsView<float> v = in.view();
  v.extent = int64_t(in.x.size()) - 1;  // one element short of what the shape addresses
  const std::string want = error_of([&] { reference::route(v, in.c, UnionPolicy{2}); });
  CHECK_THAT(want, Catch::Matchers::Contains("logits.extent = " + std::to_string(v.extent)));
  CHECK(error_of([&] { kokkos::route(ExecSpace(), v, in.c, UnionPolicy{2}); }) == want);
}

TEST_CASE("Errors name the parameter as the reference does, before any work", "[api]") {
  Batch in(llada2_like(), 2, 4, 3);
  const auto none = kokkos::TokensView<ExecSpace>();
  const UnionPolicy pol{2};
  SECTION("NaN and +Inf logits name block, token and expert") {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      in.x[size_t((1 * 4 + 2) * 32 + 17)] = bad;
      const std::string want = error_of([&] { reference::route(in.view(), in.c, pol); });
      CHECK_THAT(want, Catch::Matchers::Contains("logits[block 1, token 2, expert 17]"));
      CHECK(error_of([&] { kokkos::route(ExecSpace(), in.device<float, Kokkos::LayoutLeft>(), none, in.c, pol); }) ==
            want);
      CHECK(error_of([&] { kokkos::route(ExecSpace(), in.raw().view, in.c, pol); }) == want);
    }
  }
  SECTION("an all -Inf softmax row") {
    in.c = llada2_like();
    in.c.score = ScoreFunction::softmax;
    for (int i = 0; i < 32; ++i) in.x[size_t((0 * 4 + 3) * 32 + i)] = -std::numeric_limits<float>::infinity();
    const std::string want = error_of([&] { reference::route(in.view(), in.c, pol); });
    CHECK_THAT(want, Catch::Matchers::Contains("logits[block 0, token 3, :]"));
    CHECK(error_of([&] { kokkos::route(ExecSpace(), in.device<float, Kokkos::LayoutRight>(), none, in.c, pol); }) ==
          want);
  }
  SECTION("a NaN in a row that is not routed is never read") {
    in.x[size_t((1 * 4 + 3) * 32 + 5)] = std::numeric_limits<float>::quiet_NaN();
    const std::vector<int32_t> tokens = {4, 3};
    crkokkos::require_close(kokkos::to_host(kokkos::route(ExecSpace(), in.device<float, Kokkos::LayoutRight>(),
                                                          device_tokens(tokens), in.c, pol)),
                            reference::route(in.view(tokens.data()), in.c, pol));
  }
  SECTION("config, policy, tokens and coreset mask") {
    const auto x = in.device<float, Kokkos::LayoutRight>();
    RouterConfig c = in.c;
    c.top_k = 33;
    CHECK_THAT(error_of([&] { kokkos::route(ExecSpace(), x, none, c, VanillaPolicy{}); }),
               Catch::Matchers::Contains("top_k = 33"));
    CHECK_THAT(error_of([&] { kokkos::route(ExecSpace(), x, none, in.c, UnionPolicy{5}); }),
               Catch::Matchers::Contains("UnionPolicy.k_local = 5"));
    CHECK_THAT(error_of([&] { kokkos::route(ExecSpace(), x, device_tokens({4}), in.c, pol); }),
               Catch::Matchers::Contains("tokens_per_block.extent(0) = 1"));
    CHECK_THAT(error_of([&] {
                 kokkos::route(ExecSpace(), x, device_tokens({4, 5}), in.c, pol);
               }),
               Catch::Matchers::Contains("tokens_per_block[1] = 5"));
    RouterConfig wrong_m = in.c;
    wrong_m.num_experts = 16;
    wrong_m.expert_bias.resize(16);
    CHECK_THAT(error_of([&] { kokkos::route(ExecSpace(), x, none, wrong_m, pol); }),
               Catch::Matchers::Contains("logits.experts = 32"));
    Kokkos::View<uint8_t**, Kokkos::LayoutRight, Mem> mask("mask", 2, 32);
    Kokkos::deep_copy(mask, 2);
    CHECK_THAT(error_of([&] { kokkos::route_in_coreset(ExecSpace(), x, none, in.c, mask); }),
               Catch::Matchers::Contains("coreset[0] = 2"));
  }
}

TEST_CASE("The unchecked path counts invalid tokens as the reference does", "[api]") {
  Batch in(llada2_like(), 2, 5, 5);
  in.x[size_t((0 * 5 + 1) * 32 + 3)] = std::numeric_limits<float>::quiet_NaN();
  in.x[size_t((1 * 5 + 4) * 32 + 0)] = std::numeric_limits<float>::infinity();
  const SaliencyVotePolicy pol = SaliencyVotePolicy::with_beta(0.25);
  const Routing want = reference::route_unchecked(in.view(), params_of(in.c), pol);
  REQUIRE(want.invalid_tokens == std::vector<int32_t>{1, 1});
  crkokkos::require_close(kokkos::to_host(kokkos::route_unchecked(ExecSpace(), in.raw().view, in.c, pol)), want);
  crkokkos::require_close(kokkos::to_host(kokkos::route_unchecked(ExecSpace(), in.device<float, Kokkos::LayoutLeft>(),
                                                                  kokkos::TokensView<ExecSpace>(), in.c, pol)),
                          want);
}

TEST_CASE("The unchecked path with no votes to cast (local_k = 0) routes as the reference's", "[api]") {
  // The raw path clamps local_k to [0, M]: a token then casts no vote, so no expert has one.
  RouterConfig c;
  c.num_experts = 64;
  c.top_k = 4;
  const Batch in(c, 4, 32, 11);
  const UnionPolicy pol{0};
  const Routing want = reference::route_unchecked(in.view(), params_of(in.c), pol);
  crkokkos::require_close(kokkos::to_host(kokkos::route_unchecked(ExecSpace(), in.raw().view, in.c, pol)), want);
}

TEST_CASE("A requested team size is clamped before the scratch is sized", "[api]") {
  // 50,000 workers of M = 4096 rows would need far more than any team scratch; clamped
  // to what the space allows first, the call routes.
  RouterConfig c;
  c.num_experts = 4096;
  c.top_k = 4;
  const Batch in(c, 2, 3, 5);
  const Routing want = reference::route(in.view(), in.c, VanillaPolicy{});
  crkokkos::require_close(
      kokkos::to_host(kokkos::route(ExecSpace(), in.raw().view, in.c, VanillaPolicy{}, kokkos::TeamTuning{50000})),
      want);
}

TEST_CASE("Empty batches succeed and launch nothing harmful", "[api]") {
  for (int64_t B : {0, 3})
    for (int64_t N : {int64_t(0), int64_t(2)}) {
      CAPTURE(B, N);
      const Batch in(llada2_like(), B, N, 1);
      const UnionPolicy pol{1};
      const Routing want = reference::route(in.view(), in.c, pol);
      const auto R = kokkos::route(ExecSpace(), in.device<float, Kokkos::LayoutRight>(),
                                   kokkos::TokensView<ExecSpace>(), in.c, pol);
      crkokkos::require_close(kokkos::to_host(R), want);
      const auto m = kokkos::to_host(kokkos::metrics(ExecSpace(), R, R, 1.0));
      REQUIRE(m.size() == size_t(B));
      for (const BlockMetrics& b : m) {
        CHECK(b.topk_hit_rate == 1.0);
        CHECK(b.hit_cosine == 1.0);
      }
    }
}

TEST_CASE("Metrics against a K-override baseline match the reference", "[api][metrics]") {
  const Batch in(llada2_like(), 3, 9, 21);
  RouterConfig top2 = in.c;
  top2.top_k = 2;
  const auto x = in.device<float, Kokkos::LayoutRight>();
  const auto none = kokkos::TokensView<ExecSpace>();
  const auto R = kokkos::route(ExecSpace(), x, none, top2, VanillaPolicy{});
  const auto R0 = kokkos::route(ExecSpace(), x, none, in.c, VanillaPolicy{});
  const Routing hR = kokkos::to_host(R), hR0 = kokkos::to_host(R0);
  Kokkos::View<float****, Kokkos::LayoutRight, Mem> y("y", 3, 9, 32, 5);
  auto hy = Kokkos::create_mirror_view(y);
  crkokkos::Rng g(5);
  for (size_t i = 0; i < hy.span(); ++i) hy.data()[i] = float(g.unit() * 2 - 1);
  Kokkos::deep_copy(y, hy);
  const ExpertOutputsView yv = make_expert_outputs_view(hy.data(), 9, 32, 5);
  const auto got = kokkos::to_host(kokkos::metrics(ExecSpace(), R, R0, kLlada2MiniExpertBytes, y));
  const auto want = reference::metrics(hR, hR0, kLlada2MiniExpertBytes, &yv);
  REQUIRE(got.size() == want.size());
  for (size_t b = 0; b < got.size(); ++b) {
    CAPTURE(b);
    CHECK(want[b].topk_hit_rate < 1.0);  // the baseline really differs
    CHECK(testing::close(got[b].unique_experts, want[b].unique_experts));
    CHECK(testing::close(got[b].topk_hit_rate, want[b].topk_hit_rate));
    CHECK(testing::close(got[b].gate_reconstruction_loss, want[b].gate_reconstruction_loss));
    CHECK(testing::close(got[b].output_reconstruction_loss, want[b].output_reconstruction_loss));
    CHECK(testing::close(got[b].hit_cosine, want[b].hit_cosine));
    CHECK(testing::close(got[b].expert_bytes_read, want[b].expert_bytes_read));
  }
  CHECK_THAT(error_of([&] { kokkos::metrics(ExecSpace(), R, kokkos::RoutingViews<Mem>(2, 9, 32, 8)); }),
             Catch::Matchers::Contains("routing.blocks = 3"));
}

TEST_CASE("Any team size gives the same routing", "[api]") {
  const Batch in(llada2_like(), 4, 32, 9);
  const BlockDistributionPolicy pol{};
  const Routing want = reference::route(in.view(), in.c, pol);
  for (int team : {0, 1, 2, 3, 4, 1000}) {
    CAPTURE(team);
    crkokkos::require_close(
        kokkos::to_host(kokkos::route(ExecSpace(), in.raw().view, in.c, pol, kokkos::TeamTuning{team})), want);
  }
}

TEST_CASE("A block too large for team scratch is rejected by name", "[api]") {
  // The routing kernel's scratch is O(M + N + workers * M) doubles: a million experts
  // exceed the 20 MiB team scratch of host spaces, a block of many tokens does not.
  RouterConfig c;
  c.num_experts = 1 << 20;
  c.top_k = 8;
  std::vector<float> x(size_t(c.num_experts), 0.0f);
  CHECK_THAT(error_of([&] {
               kokkos::route(Kokkos::DefaultHostExecutionSpace(), make_logits_view(x.data(), 1, 1, c.num_experts), c,
                             VanillaPolicy{});
             }),
             Catch::Matchers::Contains("logits.experts"));
}

TEST_CASE("Both selections of the routing kernel pick the tie rule's best", "[api]") {
  // The insertion pass (host spaces) and the key rounds (GPU lanes), run here on one host
  // lane, against a sort by (value desc, id asc): rows with repeated values, -0 and +0,
  // and eligibility masks. Distinct values differ by far more than the keys' dropped bits.
  using Host = Kokkos::DefaultHostExecutionSpace;
  using Member = Kokkos::TeamPolicy<Host>::member_type;
  std::mt19937_64 g(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int M = 1 + int(g() % 300), k = 1 + int(g() % std::min(M, 12));
    std::vector<double> row(static_cast<size_t>(M));
    std::vector<int> eligible(static_cast<size_t>(M));
    for (int i = 0; i < M; ++i) {
      const int level = int(g() % 9);  // few levels: many exact ties
      row[size_t(i)] = level == 0 ? (g() % 2 ? 0.0 : -0.0) : (level - 4) * 0.37;
      eligible[size_t(i)] = g() % 4 != 0;
    }
    std::vector<int> order;
    for (int i = 0; i < M; ++i)
      if (eligible[size_t(i)]) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return row[size_t(a)] > row[size_t(b)]; });
    order.resize(std::min(order.size(), size_t(k)));
    for (const bool one_lane : {true, false}) {
      CAPTURE(trial, M, k, one_lane);
      std::vector<int> got(static_cast<size_t>(k), -1);
      int n = -1;
      struct IsEligible {  // not a lambda: top_k is __host__ __device__ in a Cuda build
        const int* flags;
        KOKKOS_INLINE_FUNCTION bool operator()(int i) const { return flags[i] != 0; }
      };
      const IsEligible is_eligible{eligible.data()};
      Kokkos::parallel_for(Kokkos::TeamPolicy<Host>(Host(), 1, 1), [&](const Member& team) {
        n = one_lane ? kokkos::detail::top_k<true>(team, row.data(), M, k, is_eligible, got.data())
                     : kokkos::detail::top_k<false>(team, row.data(), M, k, is_eligible, got.data());
      });
      got.resize(size_t(std::max(n, 0)));
      CHECK(got == order);
    }
  }
}
