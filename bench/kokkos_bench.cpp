// Kokkos vs reference routing throughput (blocks per second) on this machine's CPU:
// the two presets (LLaDA-MoE: M = 64, K = 8, softmax; LLaDA2.0-mini: M = 256, K = 8,
// sigmoid + bias + groups 8/4), N = 32, every policy. Each timing is one call on a
// batch of B blocks, Kokkos fenced: "checked" is the validating entry point, "raw" the
// unchecked one (routing alone), both allocating their results (and a bias copy) per
// call; "into" the unchecked call into outputs and a BiasBuffer kept from call to call
// (kernel + fence only: what a GPU user who keeps buffers pays). Medians over the
// repetitions; ratio = reference time / backend time, from the same run (the reference
// has no into call: its "into" ratio is against its raw time).
// Before timing, each Kokkos result (allocating and into) is compared with the
// reference's (ids and coreset). A device space (Kokkos::Cuda) gets the logits in its
// memory first. CSV: times in microseconds; into_us is empty for the reference.
//   kokkos_bench [--blocks B] [--reps R] [--team-size T] [--csv FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>

#include <coreroute/kokkos.hpp>
#include <coreroute/presets.hpp>
#include <coreroute/reference.hpp>

namespace {

using namespace coreroute;

struct Preset {
  const char* name;
  RouterConfig config;
};

std::vector<Preset> presets() {
  RouterConfig moe = find_model_preset("llada-moe")->config;
  RouterConfig mini = find_model_preset("llada2-mini")->config;
  for (int i = 0; i < 256; ++i) mini.expert_bias.push_back(0.01f * float((i * 37) % 11) - 0.05f);
  return {{"llada-moe M=64", moe}, {"llada2-mini M=256", mini}};
}

/// Logits ~ a sum of uniforms (roughly normal, sd 2), from a fixed seed.
std::vector<float> make_logits(int64_t count, uint64_t seed) {
  std::vector<float> x(static_cast<size_t>(count));
  uint64_t s = seed;
  auto next = [&s] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return double(s >> 11) * 0x1.0p-53;
  };
  for (float& v : x) v = float((next() + next() + next() + next() - 2.0) * 3.4);
  return x;
}

double median_seconds(int reps, const std::function<void()>& f) {
  std::vector<double> t;
  f();  // warm-up
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Timing {
  double checked, raw, into;  // median seconds per call; into < 0: none (the reference)
};

std::FILE* csv = nullptr;  // --csv: one line per row, times in microseconds

template <class ExecSpace, class Policy>
Timing bench_kokkos(const LogitsView<float>& x, const RouterConfig& c, const Policy& pol, const Routing& want, int reps,
                    kokkos::TeamTuning tuning) {
  using Mem = typename ExecSpace::memory_space;
  const kokkos::RoutingViews<Mem> out(x.blocks, x.tokens, c.num_experts, c.top_k);
  kokkos::BiasBuffer<Mem> bias;
  kokkos::route_unchecked(ExecSpace(), x, c, pol, out, bias, tuning);
  for (const Routing& got : {kokkos::to_host(kokkos::route(ExecSpace(), x, c, pol, tuning)), kokkos::to_host(out)})
    if (got.ids != want.ids || got.coreset != want.coreset) {
      std::fprintf(stderr, "kokkos (%s) and reference disagree on %s: not timing garbage\n", ExecSpace::name(),
                   pol.describe().c_str());
      std::exit(1);
    }
  Timing t;
  t.checked = median_seconds(reps, [&] {
    const auto R = kokkos::route(ExecSpace(), x, c, pol, tuning);
    Kokkos::fence();
  });
  t.raw = median_seconds(reps, [&] {
    const auto R = kokkos::route_unchecked(ExecSpace(), x, c, pol, tuning);
    Kokkos::fence();
  });
  t.into = median_seconds(reps, [&] {
    kokkos::route_unchecked(ExecSpace(), x, c, pol, out, bias, tuning);
    Kokkos::fence();
  });
  return t;
}

template <class Policy>
void run(const Preset& preset, const LogitsView<float>& x, const Policy& pol, int reps, kokkos::TeamTuning tuning) {
  const Routing want = reference::route(x, preset.config, pol);
  const double B = double(x.blocks);
  const RouterParams p = params_of(preset.config);
  const Timing ref{median_seconds(reps, [&] { const Routing R = reference::route(x, preset.config, pol); }),
                   median_seconds(reps, [&] { const Routing R = reference::route_unchecked(x, p, pol); }), -1};
  auto row = [&](const char* name, const Timing& t) {
    char into_us[32] = "", into_bs[32] = "-", into_ratio[32] = "-";
    if (t.into >= 0) {
      std::snprintf(into_us, sizeof into_us, "%.3f", t.into * 1e6);
      std::snprintf(into_bs, sizeof into_bs, "%.0f", B / t.into);
      std::snprintf(into_ratio, sizeof into_ratio, "%.2f", ref.raw / t.into);
    }
    if (csv)
      std::fprintf(csv, "\"%s\",\"%s\",%s,%lld,%lld,%.3f,%.3f,%s\n", preset.name, pol.describe().c_str(), name,
                   (long long)x.blocks, (long long)x.tokens, t.checked * 1e6, t.raw * 1e6, into_us);
    std::printf("%-22s %-36s %-10s %12.0f %12.0f %12s %8.2f %8.2f %8s\n", preset.name, pol.describe().c_str(), name,
                B / t.checked, B / t.raw, into_bs, ref.checked / t.checked, ref.raw / t.raw, into_ratio);
  };
  row("reference", ref);
#if defined(KOKKOS_ENABLE_SERIAL)
  row("serial", bench_kokkos<Kokkos::Serial>(x, preset.config, pol, want, reps, tuning));
#endif
#if defined(KOKKOS_ENABLE_OPENMP)
  row("openmp", bench_kokkos<Kokkos::OpenMP>(x, preset.config, pol, want, reps, tuning));
#endif
#if defined(KOKKOS_ENABLE_THREADS)
  row("threads", bench_kokkos<Kokkos::Threads>(x, preset.config, pol, want, reps, tuning));
#endif
#if defined(KOKKOS_ENABLE_CUDA)
  {
    Kokkos::View<float***, Kokkos::LayoutRight, Kokkos::CudaSpace> dev("logits", size_t(x.blocks), size_t(x.tokens),
                                                                       size_t(x.experts));
    Kokkos::deep_copy(dev,
                      Kokkos::View<const float***, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
                          x.data, size_t(x.blocks), size_t(x.tokens), size_t(x.experts)));
    const LogitsView<float> xd = make_logits_view<float>(dev.data(), x.blocks, x.tokens, x.experts);
    row("cuda", bench_kokkos<Kokkos::Cuda>(xd, preset.config, pol, want, reps, tuning));
  }
#endif
}

}  // namespace

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);
  int64_t blocks = 512;
  int reps = 15;
  kokkos::TeamTuning tuning;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--blocks"))
      blocks = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps"))
      reps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--team-size"))
      tuning.team_size = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--csv")) {
      if (!(csv = std::fopen(argv[i + 1], "w"))) {
        std::fprintf(stderr, "cannot write %s\n", argv[i + 1]);
        return 2;
      }
      std::fprintf(csv, "preset,policy,backend,B,N,checked_us,raw_us,into_us\n");
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (blocks < 1 || reps < 1) {
    std::fprintf(stderr, "--blocks and --reps must be >= 1\n");
    return 2;
  }
  const int64_t N = 32;
  std::printf(
      "Kokkos %d.%d.%d, default host space %s (concurrency %d), team size %s; B = %lld blocks of N = %lld "
      "tokens per call, median of %d calls; presets: llada-moe = softmax, K = 8; llada2-mini = sigmoid + bias + "
      "groups 8/4, K = 8\n",
      KOKKOS_VERSION / 10000, KOKKOS_VERSION / 100 % 100, KOKKOS_VERSION % 100,
      Kokkos::DefaultHostExecutionSpace::name(), Kokkos::DefaultHostExecutionSpace().concurrency(),
      tuning.team_size > 0 ? std::to_string(tuning.team_size).c_str() : "auto", (long long)blocks, (long long)N, reps);
  std::printf("%-22s %-36s %-10s %12s %12s %12s %8s %8s %8s\n", "preset", "policy", "backend", "checked b/s", "raw b/s",
              "into b/s", "ratio ck", "ratio raw", "ratio in");
  for (const Preset& p : presets()) {
    const std::vector<float> logits = make_logits(blocks * N * p.config.num_experts, 42);
    const LogitsView<float> x = make_logits_view(logits.data(), blocks, N, p.config.num_experts);
    run(p, x, VanillaPolicy{}, reps, tuning);
    run(p, x, UnionPolicy{2}, reps, tuning);
    run(p, x, SaliencyVotePolicy::with_beta(p.config.num_experts == 64 ? 0.4 : 0.15), reps, tuning);
    run(p, x, BlockDistributionPolicy{}, reps, tuning);
  }
  if (csv) std::fclose(csv);
  return 0;
}
