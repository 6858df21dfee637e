// GPU parity of the CUDA backend against the CPU reference (docs/spec.md section 7), through
// the parity harness: one policy and one score function per run, random configs and
// adversarial inputs, plus bf16/fp16 inputs (must match fp32 bit for bit when their
// values are exact) and the raw path's invalid-token status.
//
//   test_cuda_parity <policy> <softmax|sigmoid>[-near-ties] [cases] [seed]
//   test_cuda_parity --list      the policies: every registered built-in one, user and
//                                user-novote (RankDecayPolicy, FirstExpertsPolicy: user_policy.hpp)
// The -near-ties runs use logits 1e-7 apart only: where s + bias cancels, only double
// scores resolve them to docs/spec.md section 7's relative slack (see docs/performance.md).
//   test_cuda_parity raw [cases] [seed]
// Every valid case is also routed with the double path alone (LaunchTuning::exact_only):
// the certified float path must give the same ids, weights and coreset bit for bit.
// Exit codes: 0 parity holds, 1 a failure (the case is printed), 77 no GPU (skipped).
// Every policy and score function in turn, in chunks, with a time limit: parity_all.sh.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <type_traits>

#include <thrust/host_vector.h>

#include <coreroute/cuda.cuh>
#include <coreroute/cuda/testing.cuh>
#include <coreroute/reference.hpp>
#include <coreroute/builtin_policies.hpp>
#include <coreroute/testing/parity.hpp>
#include <coreroute/testing/random_policy.hpp>

#include "gen.hpp"
#include "user_policy.hpp"

namespace coreroute::cuda_test {
namespace {

int cases_from(int argc, char** argv, int at) {
  if (argc > at) return std::atoi(argv[at]);
  const char* env = std::getenv("COREROUTE_CUDA_CASES");
  return env ? std::atoi(env) : 20000;
}

/// A random policy of a case: any registered built-in policy from its registered
/// parameters (random_policy.hpp), or the tuned draw below where one exists.
template <class Policy>
Policy random_policy(Rng& g, const RouterConfig& c) {
  return testing::random_registered_policy<Policy>([&g] { return unit(g); }, c);
}
template <>
VanillaPolicy random_policy(Rng&, const RouterConfig&) {
  return {};
}
template <>
UnionPolicy random_policy(Rng& g, const RouterConfig& c) {
  UnionPolicy p;
  p.k_local = uniform(g, 1, c.top_k);
  return p;
}
template <>
SaliencyVotePolicy random_policy(Rng& g, const RouterConfig& c) {
  return unit(g) < 0.5 ? SaliencyVotePolicy::with_core(uniform(g, 1, c.num_experts))
                       : SaliencyVotePolicy::with_beta(std::max(1e-3, unit(g)));
}
template <>
BlockDistributionPolicy random_policy(Rng& g, const RouterConfig& c) {
  BlockDistributionPolicy p;
  p.top_p = unit(g) < 0.1 ? 1.0 : std::max(1e-3, unit(g));
  p.min_experts = unit(g) < 0.3 ? 0 : uniform(g, 0, std::min(c.num_experts, 24));
  return p;
}
template <>
RankDecayPolicy random_policy(Rng& g, const RouterConfig& c) {
  RankDecayPolicy p;
  p.k_local = uniform(g, 1, c.top_k);
  p.floor = uniform(g, 0, std::min(c.num_experts, 8));
  p.share = float(unit(g) * 0.2);
  return p;
}
template <>
FirstExpertsPolicy random_policy(Rng& g, const RouterConfig& c) {
  FirstExpertsPolicy p;
  p.count = uniform(g, 1, c.num_experts);
  return p;
}

/// bf16 and fp16 inputs: when every logit is exactly representable, the routing must
/// equal the fp32 routing bit for bit (upcast on load is exact).
template <class Half, class Policy>
bool same_as_fp32(const testing::Case& k, const Policy& pol, Half (*convert)(float), std::string& why) {
  const LogitsView<float> x = k.view();
  cuda::DeviceConfig dc(k.config);
  thrust::host_vector<Half> h(k.logits.size());
  for (size_t i = 0; i < h.size(); ++i) h[i] = convert(std::isnan(k.logits[i]) ? 0.0f : k.logits[i]);
  thrust::device_vector<Half> dh = h;
  cuda::detail::DeviceLogits<float> df(x);
  LogitsView<Half> xh{dh.data().get(), x.blocks,       x.tokens,        x.experts,
                      x.stride_block,  x.stride_token, x.stride_expert, df.view.tokens_per_block};
  cuda::detail::DeviceResult a(x.blocks, x.tokens, x.experts, k.config.top_k), b = a;
  cuda::route(df.view, dc, pol, a.outputs());
  cuda::route(xh, dc, pol, b.outputs());
  cudaDeviceSynchronize();
  const Routing ra = a.routing(), rb = b.routing();
  if (ra.ids != rb.ids || ra.weights != rb.weights || ra.coreset != rb.coreset) {
    why = "16-bit input routed differently from the same values in fp32";
    return false;
  }
  return true;
}

/// The fast path (certified float keys) and the double path alone route identically,
/// and the launch shape changes nothing: the fast path runs without clusters and with the
/// default launch (clusters at small B, Stage 1 spread over them where the tally fits),
/// the double path with `warps` warps (1 to 7, so vote rows are shared out unevenly) in
/// clusters of `cluster` CTAs (1: none), its Stage 1 in the lead CTA.
template <class Policy>
bool fast_equals_exact(const testing::Case& k, const Policy& pol, int warps, int cluster, std::string& why) {
  cuda::DeviceConfig dc(k.config);
  cuda::detail::DeviceLogits<float> dx(k.view());
  cuda::detail::DeviceResult fast(k.blocks, k.tokens, k.config.num_experts, k.config.top_k), exact = fast,
                                                                                             clustered = fast;
  cuda::LaunchTuning unclustered, only_double;
  unclustered.cluster = 1;
  only_double.exact_only = true;
  only_double.warps = warps;
  only_double.cluster = cluster;
  const cudaError_t e1 = cuda::launch_route(dx.view, dc.params(), pol, fast.outputs(), nullptr, nullptr, unclustered);
  const cudaError_t e2 = cuda::launch_route(dx.view, dc.params(), pol, exact.outputs(), nullptr, nullptr, only_double);
  const cudaError_t e3 = cuda::launch_route(dx.view, dc.params(), pol, clustered.outputs());
  const Routing a = fast.routing(), b = exact.routing(), c = clustered.routing();
  const auto same = [](const Routing& x, const Routing& y) {
    return x.ids == y.ids && x.weights == y.weights && x.coreset == y.coreset && x.coreset_size == y.coreset_size &&
           x.invalid_tokens == y.invalid_tokens;
  };
  if (e1 == cudaSuccess && e2 == cudaSuccess && e3 == cudaSuccess && same(a, b) && same(a, c)) return true;
  why = "the float fast path without clusters, the double path (" + std::to_string(warps) + " warps, clusters of " +
        std::to_string(cluster) + ") and the default launch routed differently (" + cudaGetErrorString(e1) + ", " +
        cudaGetErrorString(e2) + ", " + cudaGetErrorString(e3) + "; double path " + (same(a, b) ? "same" : "differs") +
        ", default launch " + (same(a, c) ? "same" : "differs") + ")";
  return false;
}

__nv_bfloat16 to_bf16(float v) { return __float2bfloat16_rn(v); }
__half to_fp16(float v) { return __float2half_rn(v); }

/// `near_ties_only`: every case uses Values::near_ties (logits 1e-7 apart); otherwise
/// every other kind of values.
template <class Policy>
int run_policy(ScoreFunction score, int cases, uint64_t seed, bool near_ties_only) {
  int near_core = 0, near_ids = 0, rejected = 0, half_checked = 0;
  for (int c = 0; c < cases; ++c) {
    Rng g(seed * 1000003u + uint64_t(c));
    const RouterConfig config = random_config(g, score);
    auto mode = Values(uniform(g, 0, int(Values::count) - 2));
    if (mode == Values::near_ties) mode = Values::equal_rows;
    if (near_ties_only) mode = Values::near_ties;
    const testing::Case k = random_case(g, config, mode);
    const Policy pol = random_policy<Policy>(g, config);
    testing::ParityOptions opt;
    opt.seed = seed + uint64_t(c);
    opt.check_without_dispatch = c % 8 == 0;  // each extra pass costs a launch; sampled
    const testing::ParityReport r = testing::check_parity<cuda::testing::Backend>(k.view(), config, pol, opt);
    std::string why;
    bool ok = r.ok() && (r.rejected || fast_equals_exact(k, pol, 1 + c % 7, 1 << (c % 4), why));
    if (ok && !r.rejected && (mode == Values::bf16 || mode == Values::small_ints)) {
      ok = same_as_fp32(k, pol, to_bf16, why) && (mode != Values::small_ints || same_as_fp32(k, pol, to_fp16, why));
      ++half_checked;
    }
    if (!ok) {
      std::cout << "FAILED case " << c << " (seed " << seed << ", values " << to_string(mode) << ", policy "
                << pol.describe() << ")\n"
                << r.summary() << "\n"
                << why << "\n"
                << k << std::endl;
      return 1;
    }
    near_core += r.coreset_near_ties;
    near_ids += r.id_near_ties;
    rejected += r.rejected ? 1 : 0;
  }
  std::cout << Policy::name << "/" << to_string(score) << (near_ties_only ? " near-ties" : "") << ": " << cases
            << " cases passed (seed " << seed << "; near-ties accepted: " << near_core << " coresets, " << near_ids
            << " token rows; " << rejected << " rejected inputs; " << half_checked << " cases also in bf16/fp16)"
            << std::endl;
  return 0;
}

/// The raw launch on invalid logits: the reference's route_unchecked semantics.
int run_raw(int cases, uint64_t seed) {
  int bad_tokens = 0;
  for (int c = 0; c < cases; ++c) {
    Rng g(seed * 7919u + uint64_t(c));
    const RouterConfig config = random_config(g, unit(g) < 0.5 ? ScoreFunction::softmax : ScoreFunction::sigmoid);
    testing::Case k = random_case(g, config, Values::normal);
    for (int64_t b = 0; b < k.blocks; ++b)
      for (int64_t n = 0; n < k.tokens; ++n) {
        const double u = unit(g);
        if (u < 0.1)
          k.at(b, n, uniform(g, 0, config.num_experts - 1)) = NAN;
        else if (u < 0.2)
          k.at(b, n, uniform(g, 0, config.num_experts - 1)) = INFINITY;
        else if (u < 0.3)
          for (int i = 0; i < config.num_experts; ++i) k.at(b, n, i) = -INFINITY;
      }
    const SaliencyVotePolicy pol = SaliencyVotePolicy::with_core(uniform(g, 1, config.num_experts));
    const Routing want = reference::route_unchecked(k.view(), params_of(config), pol);
    cuda::DeviceConfig dc(config);
    cuda::detail::DeviceLogits<float> dx(k.view());
    cuda::detail::DeviceResult out(k.blocks, k.tokens, config.num_experts, config.top_k);
    const cudaError_t e = cuda::launch_route(dx.view, dc.params(), pol, out.outputs());
    const Routing got = out.routing();
    bool ok = e == cudaSuccess && got.invalid_tokens == want.invalid_tokens && got.valid_tokens == want.valid_tokens;
    for (int64_t b = 0; ok && b < k.blocks; ++b)
      for (int64_t n = 0; n < k.valid_tokens(b); ++n) {
        bool invalid = false;  // invalid rows: -1 / 0 exactly; valid rows are the parity tests' business
        reference::Workspace ws;
        std::vector<double> s(size_t(config.num_experts)), r(s.size());
        invalid = !reference::score_token(k.view(), b, n, params_of(config), s.data(), r.data());
        for (int j = 0; invalid && j < config.top_k; ++j)
          ok = ok && got.id(b, n, j) == -1 && got.weight(b, n, j) == 0.0f;
        bad_tokens += invalid ? 1 : 0;
      }
    if (!ok) {
      std::cout << "FAILED raw case " << c << " (seed " << seed << "): " << cudaGetErrorString(e) << "\n"
                << k << std::endl;
      return 1;
    }
  }
  std::cout << "raw: " << cases << " cases passed (" << bad_tokens << " invalid tokens reported)" << std::endl;
  return 0;
}

}  // namespace
}  // namespace coreroute::cuda_test

int main(int argc, char** argv) {
  using namespace coreroute;
  using namespace coreroute::cuda_test;
  const std::string what = argc > 1 ? argv[1] : "vote";
  std::string names;
  for_each_builtin([&](const auto& e) { names += std::string(std::decay_t<decltype(e)>::policy_type::name) + "\n"; });
  names += "user\nuser-novote\n";
  if (what == "--list") {
    std::cout << names;
    return 0;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::cout << "SKIPPED: no CUDA device on this machine; the GPU parity tests need one" << std::endl;
    return 77;
  }
  try {
    const uint64_t seed_arg = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
    if (what == "raw") return run_raw(cases_from(argc, argv, 2), seed_arg);
    const std::string how = argc > 2 ? argv[2] : "softmax";
    const ScoreFunction score = how.rfind("sigmoid", 0) == 0 ? ScoreFunction::sigmoid : ScoreFunction::softmax;
    const bool near = how.find("near") != std::string::npos;  // e.g. "softmax-near-ties"
    const int cases = cases_from(argc, argv, 3);
    const uint64_t seed = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1 + uint64_t(score);
    int status = -1;
    for_each_builtin([&](const auto& e) {
      using P = typename std::decay_t<decltype(e)>::policy_type;
      if (status < 0 && what == P::name) status = run_policy<P>(score, cases, seed, near);
    });
    if (what == "user") status = run_policy<RankDecayPolicy>(score, cases, seed, near);
    if (what == "user-novote") status = run_policy<FirstExpertsPolicy>(score, cases, seed, near);
    if (status >= 0) return status;
  } catch (const std::exception& e) {
    std::cout << "FAILED: " << e.what() << std::endl;
    return 1;
  }
  std::cout << "unknown policy " << what << "; the policies are (--list):\n" << names;
  return 2;
}
