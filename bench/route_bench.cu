// Routing kernel benchmark: every shape of the two published routers, every built-in
// policy, timed as the median replay of a CUDA graph holding one launch (CUDA events
// around each replay), with rotating input buffers (enough copies to exceed twice the
// L2, at most 64: B = 1 inputs stay in L2, as after a router GEMM). Also times plain
// launches and the metrics kernel, and measures the copy bandwidth (bench/measure.cuh);
// each shape's floor uses the memcpy figure (the kernel reads and writes). Writes JSON
// (argv[1], default stdout) with the run's metadata and settings.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <thrust/device_vector.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <coreroute/cuda.cuh>
#include <coreroute/presets.hpp>

#include "measure.cuh"

namespace cr = coreroute;
namespace mb = coreroute_bench;
using mb::capture_graphs;
using mb::graph_replay_us;
using mb::median_us;

#define CHECK(x)                                                                              \
  do {                                                                                        \
    const cudaError_t e_ = (x);                                                               \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

namespace {

struct Model {
  const char* name;
  cr::RouterConfig config;
  double beta;  // DES-Vote share of M used for this model
};

std::vector<Model> models() {
  cr::RouterConfig moe = cr::find_model_preset("llada-moe")->config;
  cr::RouterConfig mini = cr::find_model_preset("llada2-mini")->config;
  mini.expert_bias.resize(256);
  std::mt19937 g(7);
  for (float& b : mini.expert_bias) b = std::uniform_real_distribution<float>(-0.05f, 0.05f)(g);
  return {{"llada-moe", moe, 0.4}, {"llada2-mini", mini, 0.15}};
}

__global__ void empty_kernel() {}

template <class T>
T from_float(float v);
template <>
float from_float<float>(float v) {
  return v;
}
template <>
__nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

struct Shape {
  const Model* model;
  int64_t B, N;
  const char* dtype;
};

template <class T, class Policy>
std::string bench_one(const Shape& sh, const Policy& pol, const char* policy_name, cudaStream_t s, double bw,
                      size_t l2_bytes, bool with_metrics) {
  const cr::RouterConfig& c = sh.model->config;
  const int M = c.num_experts, K = c.top_k;
  const int64_t B = sh.B, N = sh.N, elems = B * N * M;
  cr::cuda::DeviceConfig dc(c);
  // Rotating inputs: enough copies to exceed twice the L2, at most 64.
  const size_t in_bytes = size_t(elems) * sizeof(T);
  const int copies = int(std::min<size_t>(64, std::max<size_t>(1, (2 * l2_bytes + in_bytes - 1) / in_bytes)));
  std::vector<T> host(static_cast<size_t>(elems));
  std::mt19937 g(11);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<thrust::device_vector<T>> inputs(static_cast<size_t>(copies));
  for (auto& in : inputs) {
    for (T& v : host) v = from_float<T>(nd(g));
    in.assign(host.begin(), host.end());
  }
  thrust::device_vector<int32_t> ids(size_t(B * N * K)), csize(static_cast<size_t>(B)), valid(static_cast<size_t>(B)),
      invalid(static_cast<size_t>(B));
  thrust::device_vector<float> w(size_t(B * N * K));
  thrust::device_vector<uint8_t> core(size_t(B * M));
  cr::cuda::RouteOutputs out{ids.data().get(),   w.data().get(),     core.data().get(),
                             csize.data().get(), valid.data().get(), invalid.data().get()};
  auto view = [&](int r) { return cr::make_logits_view<T>(inputs[size_t(r) % inputs.size()].data().get(), B, N, M); };
  // Checked once (validates everything), then the raw launch is what is timed.
  cr::cuda::route(view(0), dc, pol, out, s);
  CHECK(cudaStreamSynchronize(s));
  const int reps = B >= 1024 ? 1000 : 2000;
  // COREROUTE_BENCH_WARPS=w: warps per CTA instead of the launch's default (tuning runs).
  cr::cuda::LaunchTuning tune;
  if (const char* w = std::getenv("COREROUTE_BENCH_WARPS")) tune.warps = std::atoi(w);
  cr::cuda::LaunchTuning exact = tune;
  exact.exact_only = true;  // every token ranked in double: what the float keys save
  double b2b_us = 0;
  const double graph_us = graph_replay_us(
      capture_graphs([&](int r) { CHECK(cr::cuda::launch_route(view(r), dc.params(), pol, out, s, nullptr, tune)); },
                     copies, s),
      s, reps, &b2b_us);
  const double exact_us = graph_replay_us(
      capture_graphs([&](int r) { CHECK(cr::cuda::launch_route(view(r), dc.params(), pol, out, s, nullptr, exact)); },
                     copies, s),
      s, reps);
  const double launch_us = median_us(
      [&](int r) { CHECK(cr::cuda::launch_route(view(r), dc.params(), pol, out, s, nullptr, tune)); }, s, 20, 500);
  double metrics_us = -1;
  if (with_metrics) {  // R against itself: the same work as against a vanilla R0
    thrust::device_vector<double> m(size_t(B * 7));
    cr::cuda::DeviceRouting R{ids.data().get(), w.data().get(), valid.data().get(), csize.data().get(), K};
    metrics_us = median_us(
        [&](int) { CHECK(cr::cuda::launch_metrics(B, N, M, R, R, 0.0, nullptr, m.data().get(), s)); }, s, 20, 300);
  }
  const double bytes_read = double(in_bytes) + (c.expert_bias.empty() ? 0.0 : 4.0 * M);
  const double bytes_written = double(B * N * K) * 8.0 + double(B * M) + double(B) * 12.0;
  const double floor_us = (bytes_read + bytes_written) / bw * 1e6;
  char buf[768];
  std::snprintf(buf, sizeof buf,
                "{\"model\": \"%s\", \"policy\": \"%s\", \"dtype\": \"%s\", \"M\": %d, \"K\": %d, \"B\": %lld, "
                "\"N\": %lld, \"graph_median_us\": %.3f, \"graph_back_to_back_us\": %.3f, "
                "\"exact_graph_median_us\": %.3f, \"launch_median_us\": %.3f, "
                "\"metrics_median_us\": %.3f, "
                "\"bytes_read\": %.0f, \"bytes_written\": %.0f, \"floor_us\": %.3f, \"input_copies\": %d}",
                sh.model->name, policy_name, sh.dtype, M, K, (long long)B, (long long)N, graph_us, b2b_us, exact_us,
                launch_us, metrics_us, bytes_read, bytes_written, floor_us, copies);
  std::fprintf(
      stderr,
      "%-11s %-9s %-4s B=%-4lld N=%-3lld graph %8.2f us  back-to-back %8.2f us  exact %8.2f us  launch %8.2f us  "
      "floor %7.2f us%s\n",
      sh.model->name, policy_name, sh.dtype, (long long)B, (long long)N, graph_us, b2b_us, exact_us, launch_us,
      floor_us, with_metrics ? (" metrics " + std::to_string(metrics_us) + " us").c_str() : "");
  return buf;
}

/// COREROUTE_BENCH_ONLY="model,policy,B,N" (e.g. "llada2-mini,vote,1024,32") runs one
/// case alone, for a profiler; unset, every case runs.
bool selected(const Shape& sh, const char* policy) {
  const char* only = std::getenv("COREROUTE_BENCH_ONLY");
  if (!only) return true;
  char model[32] = {}, pol[32] = {};
  long long B = 0, N = 0;
  if (std::sscanf(only, "%31[^,],%31[^,],%lld,%lld", model, pol, &B, &N) != 4) return false;
  return std::string(model) == sh.model->name && std::string(pol) == policy && B == sh.B && N == sh.N &&
         std::string(sh.dtype) == "fp32";
}

template <class T>
void bench_shape(const Shape& sh, cudaStream_t s, double bw, size_t l2, std::vector<std::string>& rows) {
  const int M = sh.model->config.num_experts;
  cr::UnionPolicy uni;
  uni.k_local = 2;
  const auto vote = cr::SaliencyVotePolicy::with_beta(sh.model->beta);
  cr::BlockDistributionPolicy dist;
  dist.top_p = 0.6;
  dist.min_experts = std::min(16, M);
  if (selected(sh, "vanilla")) rows.push_back(bench_one<T>(sh, cr::VanillaPolicy{}, "vanilla", s, bw, l2, false));
  if (selected(sh, "union")) rows.push_back(bench_one<T>(sh, uni, "union", s, bw, l2, false));
  if (selected(sh, "vote")) rows.push_back(bench_one<T>(sh, vote, "vote", s, bw, l2, true));
  if (selected(sh, "blockdist")) rows.push_back(bench_one<T>(sh, dist, "blockdist", s, bw, l2, false));
  // vote's coreset size, by the block maximum: every token ranks all M experts in Stage 1
  const auto blockmax = cr::BlockMaxPolicy::with_beta(sh.model->beta);
  if (selected(sh, "blockmax")) rows.push_back(bench_one<T>(sh, blockmax, "blockmax", s, bw, l2, false));
}

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "no CUDA device\n");
    return 77;
  }
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const mb::Bandwidth bw = mb::measure_bandwidth(s);
  std::fprintf(stderr, "%s: read stream %.1f GB/s, memcpy %.1f GB/s (read + write), L2 %d MB\n", prop.name,
               bw.stream_read_bytes_per_s / 1e9, bw.memcpy_bytes_per_s / 1e9, prop.l2CacheSize >> 20);
  // The replay time of a graph of one empty kernel: what every graph timing includes.
  double empty_b2b_us = 0;
  const double empty_us =
      graph_replay_us(capture_graphs([&](int) { empty_kernel<<<1, 32, 0, s>>>(); }, 1, s), s, 2000, &empty_b2b_us);
  std::fprintf(stderr, "empty kernel: graph replay %.2f us, back to back %.2f us\n", empty_us, empty_b2b_us);
  // COREROUTE_BENCH_QUICK=1: N = 32 only (the shapes of bench/routing_table.py).
  const bool quick = std::getenv("COREROUTE_BENCH_QUICK") != nullptr;
  const char* warps = std::getenv("COREROUTE_BENCH_WARPS");
  const char* only = std::getenv("COREROUTE_BENCH_ONLY");
  std::vector<std::string> rows;
  const std::vector<Model> ms = models();
  for (const Model& m : ms)
    for (int64_t B : {1, 64, 1024})
      for (int64_t N : {16, 32, 64, 128})
        if (!quick || N == 32)
          bench_shape<float>({&m, B, N, "fp32"}, s, bw.memcpy_bytes_per_s, size_t(prop.l2CacheSize), rows);
  for (int64_t B : {1, 1024})
    bench_shape<__nv_bfloat16>({&ms[1], B, 32, "bf16"}, s, bw.memcpy_bytes_per_s, size_t(prop.l2CacheSize), rows);
  const std::string settings =
      std::string("{\"quick\": ") + (quick ? "true" : "false") +
      ", \"warps\": " + mb::json_string(warps ? warps : "default") +
      ", \"only\": " + mb::json_string(only ? only : "all") +
      ", \"graph_reps\": \"2000 (1000 at B >= 1024)\", \"graph_warmup\": " + std::to_string(mb::kGraphWarmup) +
      ", \"launch_reps\": 500, \"metrics_reps\": 300, \"input_copies\": \"enough to exceed 2 x L2, at most 64\", "
      "\"logits\": \"N(0, 2)\"}";
  const std::string method =
      "graph us: median of CUDA graph replays (one launch_route per graph, graphs rotated over the input copies), "
      "each timed alone with CUDA events after warm-up replays; back-to-back: median over 20 groups of 50 replays, "
      "per replay; launch us: median of plain launches timed alone; floor: bytes read + written / the memcpy "
      "bandwidth";
  FILE* f = argc > 1 ? std::fopen(argv[1], "w") : stdout;
  if (!f) {
    std::perror(argv[1]);
    return 1;
  }
  std::fprintf(f, "{\n\"meta\": %s,\n\"bandwidth\": %s,\n",
               mb::metadata_json("bench/route_bench", method, settings).c_str(),
               mb::bandwidth_json(bw, "memcpy").c_str());
  std::fprintf(f, "\"empty_graph_us\": %.3f, \"empty_graph_back_to_back_us\": %.3f,\n\"results\": [\n", empty_us,
               empty_b2b_us);
  for (size_t i = 0; i < rows.size(); ++i) std::fprintf(f, "  %s%s\n", rows[i].c_str(), i + 1 < rows.size() ? "," : "");
  std::fprintf(f, "]\n}\n");
  if (f != stdout) std::fclose(f);
  return 0;
}
