// Routing, the dispatch layout and metrics into caller-owned outputs: the same results as
// the allocating calls and the reference, bit for bit, for every built-in policy; reused
// outputs (and a reused BiasBuffer) show the latest input's results, never an earlier
// call's; outputs of the wrong extents are rejected by name before any launch; and the
// into calls allocate nothing (counted through Kokkos's profiling hooks); the parity
// adapter's device path (inputs copied into its kept buffers) passes the harness.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>

#include <coreroute/builtin_policies.hpp>
#include <coreroute/kokkos.hpp>
#include <coreroute/kokkos/testing.hpp>
#include <coreroute/reference.hpp>
#include <coreroute/testing/parity.hpp>

#include "kokkos_test_common.hpp"
#include "random_cases.hpp"
#include "test_common.hpp"

namespace {

using namespace coreroute;
using ExecSpace = Kokkos::DefaultExecutionSpace;
using Mem = ExecSpace::memory_space;
using Catch::Matchers::Contains;
using crtest::error_of;

RouterConfig softmax_plain() {
  RouterConfig c;
  c.num_experts = 24;
  c.top_k = 6;
  return c;
}

/// Logits [B, N, M] from a seed, on the host and in the execution space's memory.
struct Input {
  int64_t B, N;
  int M;
  std::vector<float> host;
  std::vector<int32_t> tokens;  // empty: every block has N
  Kokkos::View<float***, Kokkos::LayoutRight, Mem> logits;
  Kokkos::View<int32_t*, Mem> tokens_dev;

  Input(int64_t b, int64_t n, int m, uint64_t seed, std::vector<int32_t> t = {})
      : B(b),
        N(n),
        M(m),
        host(crkokkos::coarse_logits(seed, size_t(b * n * m))),
        tokens(std::move(t)),
        logits("logits", size_t(b), size_t(n), size_t(m)),
        tokens_dev("tokens", tokens.size()) {
    Kokkos::deep_copy(logits,
                      Kokkos::View<const float***, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
                          host.data(), size_t(b), size_t(n), size_t(m)));
    Kokkos::deep_copy(tokens_dev, Kokkos::View<const int32_t*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
                                      tokens.data(), tokens.size()));
  }
  LogitsView<float> view() const {
    return make_logits_view(host.data(), B, N, M, tokens.empty() ? nullptr : tokens.data());
  }
  /// The raw-pointer form of the device copy.
  LogitsView<float> raw() const {
    return make_logits_view<float>(logits.data(), B, N, M, tokens.empty() ? nullptr : tokens_dev.data());
  }
  kokkos::TokensView<ExecSpace> tokens_view() const { return tokens_dev; }
};

/// Outputs filled with values no routing writes, so an element left unwritten shows.
kokkos::RoutingViews<Mem> stale_outputs(int64_t B, int64_t N, int M, int K) {
  kokkos::RoutingViews<Mem> out(B, N, M, K);
  Kokkos::deep_copy(out.ids, 777);
  Kokkos::deep_copy(out.weights, -9.5f);
  Kokkos::deep_copy(out.coreset, uint8_t(7));
  Kokkos::deep_copy(out.coreset_size, -5);
  Kokkos::deep_copy(out.valid_tokens, -6);
  Kokkos::deep_copy(out.invalid_tokens, -7);
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void require_identical(const Routing& got, const Routing& want) {
  REQUIRE(got.blocks == want.blocks);
  REQUIRE(got.tokens == want.tokens);
  REQUIRE(got.ids == want.ids);
  REQUIRE(same_bits(got.weights, want.weights));
  REQUIRE(got.coreset == want.coreset);
  REQUIRE(got.coreset_size == want.coreset_size);
  REQUIRE(got.valid_tokens == want.valid_tokens);
  REQUIRE(got.invalid_tokens == want.invalid_tokens);
}

/// Against the reference: bit for bit on a host space; on a device space the weights
/// within the parity tolerance (its compiler may contract float operations differently).
void require_reference(const Routing& got, const Routing& want) {
  if constexpr (Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible) {
    require_identical(got, want);
  } else {
    crkokkos::require_close(got, want);
  }
}

void require_identical(const DispatchLayout& got, const DispatchLayout& want) {
  REQUIRE(got.num_used == want.num_used);
  REQUIRE(got.used_experts == want.used_experts);
  REQUIRE(got.counts == want.counts);
  REQUIRE(got.offsets == want.offsets);
  REQUIRE(got.token == want.token);
  REQUIRE(got.slot == want.slot);
}

void require_identical(const std::vector<BlockMetrics>& got, const std::vector<BlockMetrics>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t b = 0; b < got.size(); ++b) {
    CAPTURE(b);
    REQUIRE(std::memcmp(&got[b], &want[b], sizeof(BlockMetrics)) == 0);
  }
}

/// Kokkos allocations and kernel launches while `f` runs, through the profiling hooks
/// (they fire once any hook is set, with or without a tool library). An allocation of 0
/// bytes is no allocation: Kokkos::Cuda (4.6) reports one for the level-1 team scratch of
/// every team launch that asks for none, and allocates nothing.
struct Counts {
  int allocations = 0, launches = 0;
};
Counts* counting = nullptr;

template <class F>
Counts count_during(F&& f) {
  namespace kt = Kokkos::Tools::Experimental;
  Counts c;
  counting = &c;
  kt::set_allocate_data_callback([](Kokkos::Profiling::SpaceHandle, const char*, const void*, uint64_t bytes) {
    counting->allocations += bytes > 0 ? 1 : 0;
  });
  const auto launch = [](const char*, uint32_t, uint64_t*) { ++counting->launches; };
  kt::set_begin_parallel_for_callback(launch);
  kt::set_begin_parallel_reduce_callback(launch);
  kt::set_begin_parallel_scan_callback(launch);
  f();
  Kokkos::fence();
  kt::set_allocate_data_callback(nullptr);
  kt::set_begin_parallel_for_callback(nullptr);
  kt::set_begin_parallel_reduce_callback(nullptr);
  kt::set_begin_parallel_scan_callback(nullptr);
  counting = nullptr;
  return c;
}

}  // namespace

TEST_CASE("Routing into caller-owned outputs equals the allocating call and the reference, every policy", "[into]") {
  uint64_t seed = 100;
  for (const RouterConfig& c : {crkokkos::llada2_like(), softmax_plain()}) {
    coreroute::for_each_builtin([&](const auto& entry) {
      using P = typename std::decay_t<decltype(entry)>::policy_type;
      crkokkos::Rng g(++seed);
      const P pol = crkokkos::random_policy<P>(g, c);
      CAPTURE(pol.describe(), c.num_experts);
      const Input in(3, 13, c.num_experts, seed, {13, 0, 5});
      const Routing want = reference::route(in.view(), c, pol);
      const Routing allocated = kokkos::to_host(kokkos::route(ExecSpace(), in.logits, in.tokens_view(), c, pol));
      require_reference(allocated, want);

      kokkos::BiasBuffer<Mem> bias;
      const auto out = stale_outputs(3, 13, c.num_experts, c.top_k);
      kokkos::route(ExecSpace(), in.logits, in.tokens_view(), c, pol, out, bias);
      require_identical(kokkos::to_host(out), allocated);

      const auto raw_out = stale_outputs(3, 13, c.num_experts, c.top_k);
      kokkos::route(ExecSpace(), in.raw(), c, pol, raw_out, bias);
      require_reference(kokkos::to_host(raw_out), want);

      const auto unchecked = stale_outputs(3, 13, c.num_experts, c.top_k);
      kokkos::route_unchecked(ExecSpace(), in.logits, in.tokens_view(), c, pol, unchecked, bias);
      require_identical(kokkos::to_host(unchecked),
                        kokkos::to_host(kokkos::route_unchecked(ExecSpace(), in.raw(), c, pol)));
      require_reference(kokkos::to_host(unchecked), want);
    });
    // Stage 2 alone, the given mask being the policy-free case.
    const Input in(2, 9, c.num_experts, ++seed);
    std::vector<uint8_t> mask(size_t(2 * c.num_experts));
    for (size_t i = 0; i < mask.size(); ++i) mask[i] = (i * 7 + 3) % 5 < 2 ? 1 : 0;
    Kokkos::View<uint8_t**, Kokkos::LayoutRight, Mem> dmask("mask", 2, size_t(c.num_experts));
    Kokkos::deep_copy(dmask,
                      Kokkos::View<const uint8_t**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
                          mask.data(), 2, size_t(c.num_experts)));
    const Routing want = reference::route_in_coreset(in.view(), c, mask.data());
    kokkos::BiasBuffer<Mem> bias;
    const auto out = stale_outputs(2, 9, c.num_experts, c.top_k);
    kokkos::route_in_coreset(ExecSpace(), in.logits, in.tokens_view(), c, dmask, out, bias);
    require_reference(kokkos::to_host(out), want);
    require_identical(kokkos::to_host(kokkos::route_in_coreset(ExecSpace(), in.logits, in.tokens_view(), c, dmask)),
                      want);
    const auto raw_out = stale_outputs(2, 9, c.num_experts, c.top_k);
    kokkos::route_in_coreset(ExecSpace(), in.raw(), c, dmask.data(), raw_out, bias);
    require_reference(kokkos::to_host(raw_out), want);
  }
}

TEST_CASE("Reused outputs and bias buffer give the latest input's routing, never an earlier call's", "[into]") {
  const RouterConfig c1 = crkokkos::llada2_like();
  RouterConfig c2 = c1;  // same M, other bias values: the bias buffer must copy them
  for (int i = 0; i < 32; ++i) c2.expert_bias[size_t(i)] = float((i * 7) % 11) * 0.3f;
  const Input first(3, 13, 32, 1);
  const Input second(3, 13, 32, 2, {4, 13, 0});
  const UnionPolicy pol{2};
  const Routing want1 = reference::route(first.view(), c1, pol);
  const Routing want2 = reference::route(second.view(), c2, pol);
  // The test has power: the two routings differ, and so would the second with a stale bias.
  REQUIRE(want1.ids != want2.ids);
  REQUIRE(reference::route(second.view(), c1, pol).ids != want2.ids);

  kokkos::BiasBuffer<Mem> bias;
  const kokkos::RoutingViews<Mem> out(3, 13, 32, 4);
  kokkos::route(ExecSpace(), first.logits, first.tokens_view(), c1, pol, out, bias);
  require_reference(kokkos::to_host(out), want1);
  kokkos::route(ExecSpace(), second.logits, second.tokens_view(), c2, pol, out, bias);
  require_reference(kokkos::to_host(out), want2);
  kokkos::route_unchecked(ExecSpace(), first.raw(), c1, pol, out, bias);
  require_reference(kokkos::to_host(out), want1);
  // A config without a bias after one with: no bias is read.
  RouterConfig none = c1;
  none.expert_bias.clear();
  kokkos::route(ExecSpace(), second.raw(), none, pol, out, bias);
  require_reference(kokkos::to_host(out), reference::route(second.view(), none, pol));

  SECTION("the dispatch layout and metrics, reused") {
    const kokkos::DispatchViews<Mem> d(3, 13, 32, 4);
    Kokkos::deep_copy(d.token, 555);
    const Kokkos::View<BlockMetrics*, Mem> m("m", 3);
    const kokkos::RoutingViews<Mem> vanilla(3, 13, 32, 4);
    for (const Input* in : {&first, &second}) {
      const RouterConfig& c = in == &first ? c1 : c2;
      kokkos::route(ExecSpace(), in->logits, in->tokens_view(), c, pol, out, bias);
      kokkos::route(ExecSpace(), in->logits, in->tokens_view(), c, VanillaPolicy{}, vanilla, bias);
      const Routing R = kokkos::to_host(out), R0 = kokkos::to_host(vanilla);
      kokkos::dispatch_of(ExecSpace(), out, d);
      require_identical(kokkos::to_host(d), reference::dispatch_of(R));
      require_identical(kokkos::to_host(d), kokkos::to_host(kokkos::dispatch_of(ExecSpace(), out)));
      kokkos::metrics(ExecSpace(), out, vanilla, m, kLlada2MiniExpertBytes);
      const auto got = kokkos::to_host(m);
      require_identical(got, kokkos::to_host(kokkos::metrics(ExecSpace(), out, vanilla, kLlada2MiniExpertBytes)));
      const auto want = reference::metrics(R, R0, kLlada2MiniExpertBytes, nullptr);
      REQUIRE(got.size() == want.size());
      for (size_t b = 0; b < got.size(); ++b) {
        CHECK(got[b].unique_experts == want[b].unique_experts);
        CHECK(got[b].topk_hit_rate == want[b].topk_hit_rate);
        CHECK(got[b].gate_reconstruction_loss == want[b].gate_reconstruction_loss);
      }
    }
  }
}

TEST_CASE("Outputs of the wrong extents are rejected by name before any launch", "[into]") {
  const RouterConfig c = crkokkos::llada2_like();  // M = 32, K = 4
  const Input in(3, 13, 32, 5);
  const UnionPolicy pol{2};
  kokkos::BiasBuffer<Mem> bias;
  struct Wrong {
    kokkos::RoutingViews<Mem> out;
    const char* name;  // the parameter the message must name
    const char* rule;
  };
  const Wrong wrong[] = {
      {kokkos::RoutingViews<Mem>(2, 13, 32, 4), "out.ids.extent(0) = 2",
       "must be blocks x tokens x top_k = 3 x 13 x 4"},
      {kokkos::RoutingViews<Mem>(3, 12, 32, 4), "out.ids.extent(1) = 12", "out.ids is 3 x 12 x 4"},
      {kokkos::RoutingViews<Mem>(3, 13, 31, 4), "out.coreset.extent(1) = 31", "must be blocks x num_experts = 3 x 32"},
      {kokkos::RoutingViews<Mem>(3, 13, 32, 5), "out.ids.extent(2) = 5",
       "must be blocks x tokens x top_k = 3 x 13 x 4"},
      {kokkos::RoutingViews<Mem>(), "out.ids.extent(0) = 0", "out.ids is 0 x 0 x 0"},
  };
  for (const Wrong& w : wrong) {
    CAPTURE(w.name);
    Counts n = count_during([&] {
      const auto expect = [&](const std::string& e) { CHECK_THAT(e, Contains(w.name) && Contains(w.rule)); };
      expect(error_of([&] { kokkos::route(ExecSpace(), in.logits, in.tokens_view(), c, pol, w.out, bias); }));
      expect(error_of([&] { kokkos::route(ExecSpace(), in.raw(), c, pol, w.out, bias); }));
      expect(error_of([&] { kokkos::route_unchecked(ExecSpace(), in.logits, in.tokens_view(), c, pol, w.out, bias); }));
      expect(error_of([&] {
        kokkos::route_in_coreset(ExecSpace(), in.logits, in.tokens_view(), c, kokkos::CoresetView<ExecSpace>(), w.out,
                                 bias);
      }));
    });
    CHECK(n.launches == 0);
  }
  CHECK_THROWS_AS(kokkos::route(ExecSpace(), in.logits, in.tokens_view(), c, pol, wrong[0].out, bias),
                  std::invalid_argument);
  // One View of a hand-assembled RoutingViews off: named too.
  kokkos::RoutingViews<Mem> mixed(3, 13, 32, 4);
  mixed.invalid_tokens = Kokkos::View<int32_t*, Kokkos::LayoutRight, Mem>("short", 2);
  CHECK_THAT(error_of([&] { kokkos::route_unchecked(ExecSpace(), in.raw(), c, pol, mixed, bias); }),
             Contains("out.invalid_tokens.extent(0) = 2") && Contains("must be blocks = 3"));
  // An invalid config is named first, as on the allocating path.
  RouterConfig bad = c;
  bad.top_k = 0;
  CHECK_THAT(error_of([&] { kokkos::route(ExecSpace(), in.logits, in.tokens_view(), bad, pol, wrong[0].out, bias); }),
             Contains("top_k = 0"));

  const kokkos::RoutingViews<Mem> R = kokkos::route(ExecSpace(), in.logits, in.tokens_view(), c, pol);
  CHECK_THAT(error_of([&] { kokkos::dispatch_of(ExecSpace(), R, kokkos::DispatchViews<Mem>(4, 13, 32, 4)); }),
             Contains("out.num_used.extent(0) = 4") && Contains("blocks = 3"));
  CHECK_THAT(error_of([&] { kokkos::dispatch_of(ExecSpace(), R, kokkos::DispatchViews<Mem>(3, 13, 16, 4)); }),
             Contains("out.used_experts.extent(1) = 16") && Contains("num_experts = 32"));
  CHECK_THAT(error_of([&] { kokkos::dispatch_of(ExecSpace(), R, kokkos::DispatchViews<Mem>(3, 12, 32, 4)); }),
             Contains("out.token.extent(1) = 48") && Contains("tokens x top_k = 52"));
  CHECK_THAT(error_of([&] { kokkos::dispatch_of(ExecSpace(), R, kokkos::DispatchViews<Mem>(3, 26, 32, 2)); }),
             Contains("out.tokens = 26") && Contains("tokens = 13"));
  CHECK_THAT(error_of([&] { kokkos::metrics(ExecSpace(), R, R, Kokkos::View<BlockMetrics*, Mem>("m", 2)); }),
             Contains("out.extent(0) = 2") && Contains("blocks = 3"));
}

TEST_CASE("Calls into kept outputs allocate nothing, the allocating calls do", "[into]") {
  const RouterConfig c = crkokkos::llada2_like();
  const Input in(3, 13, 32, 9, {13, 2, 7});
  const SaliencyVotePolicy pol = SaliencyVotePolicy::with_beta(0.3);
  kokkos::BiasBuffer<Mem> bias;
  const kokkos::RoutingViews<Mem> out(3, 13, 32, 4), vanilla(3, 13, 32, 4);
  const kokkos::DispatchViews<Mem> d(3, 13, 32, 4);
  const Kokkos::View<BlockMetrics*, Mem> m("m", 3);
  const auto calls = [&] {
    kokkos::route(ExecSpace(), in.logits, in.tokens_view(), c, pol, out, bias);
    kokkos::route_unchecked(ExecSpace(), in.raw(), c, VanillaPolicy{}, vanilla, bias);
    kokkos::dispatch_of(ExecSpace(), out, d);
    kokkos::metrics(ExecSpace(), out, vanilla, m, 1.0);
  };
  calls();  // the bias's one copy, and whatever a space sizes on first use (e.g. scratch)
  const Counts into = count_during([&] {
    for (int rep = 0; rep < 3; ++rep) calls();
  });
  CHECK(into.launches >= 3 * 4);  // the hooks see these calls
  CHECK(into.allocations == 0);
  const Counts allocating = count_during([&] {
    const auto R = kokkos::route(ExecSpace(), in.logits, in.tokens_view(), c, pol);
    const auto D = kokkos::dispatch_of(ExecSpace(), R);
    const auto M = kokkos::metrics(ExecSpace(), R, R, 1.0);
  });
  CHECK(allocating.allocations >= 6 + 1 + 6 + 1);  // outputs, bias, layout, metrics
}

TEST_CASE("The parity adapter's device path, with its kept buffers, passes the harness for every policy", "[into]") {
  // Inputs copied into the adapter's buffers as on a GPU; 60 cases of many shapes per
  // policy reuse and replace them (a few shapes are kept per role).
  using Copying = kokkos::testing::Backend<ExecSpace, true>;
  static_assert(!Copying::host_readable);
  coreroute::for_each_builtin([&](const auto& entry) {
    using P = typename std::decay_t<decltype(entry)>::policy_type;
    int rejected = 0;
    for (uint64_t seed = 1; seed <= 60; ++seed) {
      crkokkos::Rng g(seed * 7919 + coreroute::builtin_index<P>());
      coreroute::testing::Case k = crkokkos::random_case(g);
      const P pol = crkokkos::random_policy<P>(g, k.config);
      coreroute::testing::ParityOptions opt;
      opt.seed = seed;
      const auto r = coreroute::testing::check_parity<Copying>(k.view(), k.config, pol, opt);
      INFO(P::name << " seed " << seed << "\n" << r.summary());
      REQUIRE(r.ok());
      rejected += r.rejected ? 1 : 0;
    }
    CHECK(rejected < 30);  // most cases are routed, not rejected
  });
}
