// MoE-layer benchmark: a bf16 SwiGLU expert layer run for one block of N tokens routed
// by each policy, reading only the experts the routing uses, driven by the routing's
// dispatch layout. Two implementations side by side (the hand-written tensor-core
// kernel of expert_gemm.cuh and cuBLAS grouped GEMM), both checked on every block
// against a float reference (the worst per-token relative error); weights of several
// layers cycled so that L2 cannot hold them. Routing comes from the synthetic preset
// traces (include/coreroute/synthetic.hpp), the CPU reference (its dispatch layout
// drives the layer) and the CUDA backend (its layout compared with the reference's, and
// its kernel timed on every block by route_bench's method, bench/measure.cuh, so that
// the layer is reported with and without routing). Writes JSON (argv[1]) with the run's
// metadata; bench/moe_layer/summarize.py fits, checks the targets and plots it.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <coreroute/cuda.cuh>
#include <coreroute/presets.hpp>
#include <coreroute/reference.hpp>
#include <coreroute/synthetic.hpp>

#include "../measure.cuh"
#include "cublas_layer.cuh"
#include "expert_gemm.cuh"
#include "reference_layer.cuh"

namespace cr = coreroute;
namespace mb = coreroute_bench;
using moe_bench::bf16;

// While a graph is being captured a failure only marks the capture as failed (the
// timing then falls back to plain launches); anywhere else it ends the program.
bool g_capturing = false, g_capture_failed = false;

inline void fail_or_mark(const char* file, int line, const char* what, const char* why) {
  if (g_capturing) {
    g_capture_failed = true;
    return;
  }
  std::fprintf(stderr, "%s:%d %s: %s\n", file, line, what, why);
  std::exit(1);
}
#define CHECK(x)                                                                         \
  do {                                                                                   \
    const cudaError_t e_ = (x);                                                          \
    if (e_ != cudaSuccess) fail_or_mark(__FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
  } while (0)
#define CHECK_BLAS(x)                                                                            \
  do {                                                                                           \
    const cublasStatus_t s_ = (x);                                                               \
    if (s_ != CUBLAS_STATUS_SUCCESS) fail_or_mark(__FILE__, __LINE__, #x, "cublas call failed"); \
  } while (0)

namespace {

constexpr int kBlocks = 16;          // blocks of each trace, each timed alone
constexpr int kReplays = 9;          // timed graph replays per block (median)
constexpr int kRouteReps = 500;      // timed routing graph replays per block (median)
constexpr double kMaxRelErr = 1e-2;  // per token: ||out_t - ref_t|| / ||ref_t||

struct Shape {
  const char* preset;
  int hidden, inter;
  bool shared_expert;
  int layers;  // weight copies cycled so that consecutive layers never share weights
};

__global__ void fill_random(bf16* p, size_t n, uint64_t seed, float scale) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    uint64_t z = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    p[i] = __float2bfloat16_rn(scale * (float(z >> 40) * 0x1.0p-23f - 1.0f));  // uniform in [-scale, scale)
  }
}

void randomize(bf16* p, size_t n, uint64_t seed, float scale) {
  fill_random<<<1024, 256>>>(p, n, seed, scale);
  CHECK(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());  // the benchmark's stream does not wait for the legacy stream
}

template <class V>
V* device_alloc(size_t n) {
  V* p = nullptr;
  CHECK(cudaMalloc(&p, std::max<size_t>(1, n) * sizeof(V)));
  return p;
}
template <class V>
V* upload(const std::vector<V>& h) {
  V* p = device_alloc<V>(h.size());
  CHECK(cudaMemcpy(p, h.data(), h.size() * sizeof(V), cudaMemcpyHostToDevice));
  CHECK(cudaDeviceSynchronize());  // a pageable copy may return before its DMA lands
  return p;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}
double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / double(v.size());
}

/// Microseconds per call: `calls` back-to-back calls captured in one graph, median of
/// kReplays replays. Falls back to plain launches when capture fails; `graphed` says which.
double time_calls(const std::function<void(int)>& call, int calls, cudaStream_t s, bool* graphed) {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  bool ok = cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) == cudaSuccess;
  if (ok) {
    g_capturing = true;
    g_capture_failed = false;
    for (int c = 0; c < calls; ++c) call(c);
    g_capturing = false;
    const bool ended = cudaStreamEndCapture(s, &graph) == cudaSuccess && graph;
    ok = ended && !g_capture_failed && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
  }
  if (!ok) cudaGetLastError();
  if (graphed) *graphed = ok;
  auto run = [&] {
    if (ok)
      CHECK(cudaGraphLaunch(exec, s));
    else
      for (int c = 0; c < calls; ++c) call(c);
  };
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int w = 0; w < 2; ++w) run();
  std::vector<double> t;
  for (int r = 0; r < kReplays; ++r) {
    CHECK(cudaEventRecord(a, s));
    run();
    CHECK(cudaEventRecord(b, s));
    CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(double(ms) * 1000.0 / calls);
  }
  CHECK(cudaGetLastError());
  CHECK(cudaEventDestroy(a));
  CHECK(cudaEventDestroy(b));
  if (exec) CHECK(cudaGraphExecDestroy(exec));
  if (graph) CHECK(cudaGraphDestroy(graph));
  return median(t);
}

/// One shape's weights for every layer, and the scratch of one block of up to N tokens.
struct Model {
  Shape shape;
  int M = 0, H = 0, I = 0, L = 0;
  bf16 *gu = nullptr, *d = nullptr, *sh_gu = nullptr, *sh_d = nullptr;
  int64_t gu_expert() const { return int64_t(2) * I * H; }
  int64_t d_expert() const { return int64_t(H) * I; }
  const bf16* gu_layer(int l) const { return gu + int64_t(l) * M * gu_expert(); }
  const bf16* d_layer(int l) const { return d + int64_t(l) * M * d_expert(); }
  const bf16* sh_gu_layer(int l) const { return sh_gu ? sh_gu + int64_t(l) * gu_expert() : nullptr; }
  const bf16* sh_d_layer(int l) const { return sh_d ? sh_d + int64_t(l) * d_expert() : nullptr; }
};

/// A routed trace on the device, with the scratch buffers both layer paths use.
struct Block {
  int N = 0, K = 0, M = 0;
  int32_t *ids, *num_used, *used, *counts, *offsets, *token, *slot, *pos;
  float* weights;
  bf16 *x, *act, *xg, *h1, *y16, *out;
  float *y, *ract, *ref;
  void** ptrs;
};

struct Hand {
  int grid_swiglu = 0, grid_down = 0;
  size_t smem = 0;
};

template <int MT>
Hand prepare_hand() {
  Hand h;
  h.smem = moe_bench::expert_gemm_smem<MT>();
  int dev = 0, sms = 0, per_sm = 0;
  CHECK(cudaGetDevice(&dev));
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  CHECK(cudaFuncSetAttribute(moe_bench::expert_gemm_kernel<MT, true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(h.smem)));
  CHECK(cudaFuncSetAttribute(moe_bench::expert_gemm_kernel<MT, false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(h.smem)));
  CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, moe_bench::expert_gemm_kernel<MT, true>, 128, h.smem));
  h.grid_swiglu = sms * std::max(1, per_sm);
  CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, moe_bench::expert_gemm_kernel<MT, false>, 128, h.smem));
  h.grid_down = sms * std::max(1, per_sm);
  return h;
}

template <int MT>
void hand_layer_mt(const Model& m, const Block& bk, int b, int l, cudaStream_t s) {
  static const Hand h = prepare_hand<MT>();
  const int N = bk.N, K = bk.K, M = bk.M;
  moe_bench::ExpertGemmParams p;
  p.num_used = bk.num_used + b;
  p.used_experts = bk.used + int64_t(b) * M;
  p.offsets = bk.offsets + int64_t(b) * (M + 1);
  p.token = bk.token + int64_t(b) * N * K;
  p.slot = bk.slot + int64_t(b) * N * K;
  p.tokens = N;
  p.top_k = K;
  p.weights = bk.weights + int64_t(b) * N * K;
  p.act = bk.act;
  p.y = bk.y;
  p.out_cols = m.H;
  p.inter = m.I;

  p.a = bk.x + int64_t(b) * N * m.H;
  p.gather = true;
  p.w = m.gu_layer(l);
  p.w_expert_stride = m.gu_expert();
  p.w_shared = m.sh_gu_layer(l);
  p.kdim = m.H;
  p.col_tiles = m.I / 32;
  moe_bench::expert_gemm_kernel<MT, true><<<h.grid_swiglu, 128, h.smem, s>>>(p);
  CHECK(cudaGetLastError());

  p.a = bk.act;
  p.gather = false;
  p.w = m.d_layer(l);
  p.w_expert_stride = m.d_expert();
  p.w_shared = m.sh_d_layer(l);
  p.kdim = m.I;
  p.col_tiles = m.H / 64;
  moe_bench::expert_gemm_kernel<MT, false><<<h.grid_down, 128, h.smem, s>>>(p);
  CHECK(cudaGetLastError());

  moe_bench::combine_kernel<<<N, 128, 0, s>>>(bk.y, bk.ids + int64_t(b) * N * K, nullptr, nullptr, N, K, m.H,
                                              m.sh_gu != nullptr, bk.out);
  CHECK(cudaGetLastError());
}

void hand_layer(const Model& m, const Block& bk, int b, int l, cudaStream_t s) {
  if (bk.N <= 16) return hand_layer_mt<1>(m, bk, b, l, s);
  if (bk.N <= 32) return hand_layer_mt<2>(m, bk, b, l, s);
  if (bk.N <= 64) return hand_layer_mt<4>(m, bk, b, l, s);
  return hand_layer_mt<8>(m, bk, b, l, s);
}

void cublas_layer(const Model& m, const Block& bk, const moe_bench::GroupedShapes& shapes, cublasHandle_t handle, int b,
                  int l, cudaStream_t s) {
  const int N = bk.N, K = bk.K, M = bk.M, H = m.H, I = m.I;
  const int32_t* offsets = bk.offsets + int64_t(b) * (M + 1);
  const bf16* x = bk.x + int64_t(b) * N * H;
  moe_bench::gather_rows_kernel<<<N * K, 128, 0, s>>>(x, offsets, bk.token + int64_t(b) * N * K,
                                                      bk.slot + int64_t(b) * N * K, M, K, H, bk.xg, bk.pos);
  CHECK(cudaGetLastError());
  moe_bench::GroupPointers g{
      m.gu_layer(l), m.d_layer(l), m.sh_gu_layer(l), m.sh_d_layer(l), x, bk.xg, bk.h1, bk.act, bk.y16, N, K, H, I};
  moe_bench::group_pointers_kernel<<<(M + 1 + 127) / 128, 128, 0, s>>>(
      g, bk.num_used + b, bk.used + int64_t(b) * M, offsets, const_cast<const void**>(bk.ptrs), M + 1);
  CHECK(cudaGetLastError());
  CHECK_BLAS(moe_bench::grouped_gemms(handle, shapes, bk.ptrs, M + 1));
  moe_bench::swiglu_rows_kernel<<<N * K + N, 128, 0, s>>>(bk.h1, offsets, M, N * K, m.sh_gu ? N : 0, I, bk.act);
  CHECK(cudaGetLastError());
  CHECK_BLAS(moe_bench::grouped_gemm_down(handle, shapes, bk.ptrs, M + 1));
  moe_bench::combine_bf16_kernel<<<N, 128, 0, s>>>(bk.y16, bk.ids + int64_t(b) * N * K, bk.pos,
                                                   bk.weights + int64_t(b) * N * K, N, K, H, m.sh_gu != nullptr,
                                                   bk.out);
  CHECK(cudaGetLastError());
}

/// The worst per-token relative error ||out_t - ref_t|| / ||ref_t|| of one layer call on
/// block b at layer l; NaN if any output is not finite. Every buffer the call writes is
/// poisoned (NaN) first.
double check_layer(const Model& m, const Block& bk, int b, int l, const std::function<void()>& call, cudaStream_t s) {
  const int N = bk.N, K = bk.K, H = m.H, I = m.I, rows = N * K + N;
  CHECK(cudaMemsetAsync(bk.out, 0xFF, size_t(N) * H * sizeof(bf16), s));
  CHECK(cudaMemsetAsync(bk.act, 0xFF, size_t(rows) * I * sizeof(bf16), s));
  CHECK(cudaMemsetAsync(bk.y, 0xFF, size_t(rows) * H * sizeof(float), s));
  CHECK(cudaMemsetAsync(bk.y16, 0xFF, size_t(rows) * H * sizeof(bf16), s));
  CHECK(cudaMemsetAsync(bk.h1, 0xFF, size_t(rows) * 2 * I * sizeof(bf16), s));
  call();
  const int32_t* ids = bk.ids + int64_t(b) * N * K;
  moe_bench::reference_act_kernel<<<N * K + (m.sh_gu ? N : 0), 256, 0, s>>>(
      bk.x + int64_t(b) * N * H, ids, m.gu_layer(l), m.sh_gu_layer(l), N, K, H, I, bk.ract);
  CHECK(cudaGetLastError());
  moe_bench::reference_out_kernel<<<N, 256, 0, s>>>(bk.ract, ids, bk.weights + int64_t(b) * N * K, m.d_layer(l),
                                                    m.sh_d_layer(l), N, K, H, I, bk.ref);
  CHECK(cudaGetLastError());
  std::vector<bf16> out(size_t(N) * H);
  std::vector<float> ref(size_t(N) * H);
  CHECK(cudaMemcpyAsync(out.data(), bk.out, out.size() * sizeof(bf16), cudaMemcpyDeviceToHost, s));
  CHECK(cudaMemcpyAsync(ref.data(), bk.ref, ref.size() * sizeof(float), cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  double worst = 0;
  for (int t = 0; t < N; ++t) {
    double num = 0, den = 0;
    for (int h = 0; h < H; ++h) {
      const size_t i = size_t(t) * H + h;
      const double o = double(__bfloat162float(out[i])), r = double(ref[i]);
      if (!std::isfinite(o) || !std::isfinite(r)) return NAN;
      num += (o - r) * (o - r);
      den += r * r;
    }
    if (!(den > 0)) return NAN;  // a zero reference row: the inputs are broken
    worst = std::max(worst, std::sqrt(num / den));
  }
  return worst;
}

/// Blocks whose CUDA-backend dispatch layout equals the reference's exactly.
int layouts_equal(const cr::DispatchLayout& d, const std::vector<int32_t>& nu, const std::vector<int32_t>& ue,
                  const std::vector<int32_t>& of, const std::vector<int32_t>& tk, const std::vector<int32_t>& sl) {
  const int M = d.experts;
  const int64_t NK = d.tokens * d.top_k;
  int equal = 0;
  for (int64_t b = 0; b < d.blocks; ++b) {
    bool same = nu[size_t(b)] == d.num_used[size_t(b)];
    const int T = d.num_used[size_t(b)];
    for (int u = 0; same && u < T; ++u) same = ue[size_t(b * M + u)] == d.used_experts[size_t(b * M + u)];
    for (int u = 0; same && u <= T; ++u) same = of[size_t(b * (M + 1) + u)] == d.offsets[size_t(b * (M + 1) + u)];
    const int total = same ? d.offsets[size_t(b * (M + 1) + T)] : 0;
    for (int a = 0; same && a < total; ++a)
      same =
          tk[size_t(b * NK + a)] == d.token[size_t(b * NK + a)] && sl[size_t(b * NK + a)] == d.slot[size_t(b * NK + a)];
    equal += same ? 1 : 0;
  }
  return equal;
}

struct Context {
  cudaStream_t stream;
  cublasHandle_t blas;
  std::ostringstream json;
  bool first_run = true;
  bool all_checks_pass = true;
  int cublas_graphed = 0, cublas_plain = 0;
};

template <class Policy>
void run_policy(Context& ctx, const Model& m, Block& bk, const cr::Synthetic& syn, const float* d_logits,
                const std::string& label, cr::RouterConfig cfg, int top_k, const Policy& pol, uint64_t seed) {
  const int N = int(syn.trace.tokens), M = m.M;
  cfg.top_k = top_k;
  const int K = top_k;
  bk.K = K;
  const cr::LogitsView<float> view = cr::make_logits_view(syn.trace.logits.data(), kBlocks, N, M);
  const cr::Routing R = cr::reference::route(view, cfg, pol);
  const cr::DispatchLayout D = cr::reference::dispatch_of(R);

  CHECK(cudaMemcpy(bk.ids, R.ids.data(), R.ids.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(bk.weights, R.weights.data(), R.weights.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(bk.num_used, D.num_used.data(), D.num_used.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(bk.used, D.used_experts.data(), D.used_experts.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(bk.counts, D.counts.data(), D.counts.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(bk.offsets, D.offsets.data(), D.offsets.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(bk.token, D.token.data(), D.token.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(bk.slot, D.slot.data(), D.slot.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaDeviceSynchronize());
  randomize(bk.x, size_t(kBlocks) * N * m.H, seed, 1.0f);  // fresh inputs for every run

  // The CUDA backend's routing of the same trace: its layout against the reference's,
  // and each block's routing time, dispatch layout included (what the layer consumes),
  // by route_bench's method: a graph of one launch, replays each timed alone.
  int cuda_equal = -1;  // -1: the CUDA backend refused or failed (reported, not fatal)
  std::vector<double> route_us;
  try {
    cr::cuda::DeviceConfig dc(cfg);
    CHECK(cudaDeviceSynchronize());
    const size_t NK = size_t(kBlocks) * N * K;
    int32_t *c_ids = device_alloc<int32_t>(NK), *c_cs = device_alloc<int32_t>(kBlocks),
            *c_valid = device_alloc<int32_t>(kBlocks), *c_inv = device_alloc<int32_t>(kBlocks);
    float* c_w = device_alloc<float>(NK);
    uint8_t* c_core = device_alloc<uint8_t>(size_t(kBlocks) * M);
    int32_t *c_nu = device_alloc<int32_t>(kBlocks), *c_ue = device_alloc<int32_t>(size_t(kBlocks) * M),
            *c_ct = device_alloc<int32_t>(size_t(kBlocks) * M),
            *c_of = device_alloc<int32_t>(size_t(kBlocks) * (M + 1)), *c_tk = device_alloc<int32_t>(NK),
            *c_sl = device_alloc<int32_t>(NK);
    const cr::cuda::RouteOutputs ro{c_ids, c_w, c_core, c_cs, c_valid, c_inv};
    const cr::cuda::DispatchOutputs dout{c_nu, c_ue, c_ct, c_of, c_tk, c_sl};
    const cr::LogitsView<float> dview = cr::make_logits_view(d_logits, kBlocks, N, M);
    cr::cuda::route(dview, dc, pol, ro, ctx.stream, &dout);
    CHECK(cudaStreamSynchronize(ctx.stream));
    auto back = [](const int32_t* p, size_t n) {
      std::vector<int32_t> h(n);
      CHECK(cudaMemcpy(h.data(), p, n * 4, cudaMemcpyDeviceToHost));
      return h;
    };
    cuda_equal = layouts_equal(D, back(c_nu, kBlocks), back(c_ue, size_t(kBlocks) * M),
                               back(c_of, size_t(kBlocks) * (M + 1)), back(c_tk, NK), back(c_sl, NK));
    for (int b = 0; b < kBlocks; ++b) {
      const cr::LogitsView<float> one = cr::make_logits_view(d_logits + int64_t(b) * N * M, 1, N, M);
      route_us.push_back(mb::graph_replay_us(
          mb::capture_graphs([&](int) { CHECK(cr::cuda::launch_route(one, dc.params(), pol, ro, ctx.stream, &dout)); },
                             1, ctx.stream),
          ctx.stream, kRouteReps));
    }
    for (void* p :
         std::initializer_list<void*>{c_ids, c_cs, c_valid, c_inv, c_w, c_core, c_nu, c_ue, c_ct, c_of, c_tk, c_sl})
      CHECK(cudaFree(p));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "CUDA routing of %s failed: %s\n", label.c_str(), e.what());
  }

  // Host group sizes for cuBLAS, per block.
  std::vector<moe_bench::GroupedShapes> shapes(kBlocks);
  std::vector<double> T(kBlocks);
  for (int b = 0; b < kBlocks; ++b) {
    const int used = D.num_used[size_t(b)];
    std::vector<int> counts(D.counts.begin() + int64_t(b) * M, D.counts.begin() + int64_t(b) * M + used);
    shapes[size_t(b)].build(counts, m.sh_gu != nullptr, N, m.H, m.I);
    T[size_t(b)] = used;
  }

  // Correctness: every block, both paths, block b at layer b % L (every layer's weights).
  double err_hand = 0, err_blas = 0;
  for (int b = 0; b < kBlocks; ++b) {
    const int l = b % m.L;
    const double eh = check_layer(
        m, bk, b, l, [&] { hand_layer(m, bk, b, l, ctx.stream); }, ctx.stream);
    const double ec = check_layer(
        m, bk, b, l, [&] { cublas_layer(m, bk, shapes[size_t(b)], ctx.blas, b, l, ctx.stream); }, ctx.stream);
    err_hand = std::isnan(eh) ? eh : std::max(err_hand, eh);
    err_blas = std::isnan(ec) ? ec : std::max(err_blas, ec);
    if (std::isnan(eh) || std::isnan(ec)) break;
  }
  const bool pass =
      !(err_hand > kMaxRelErr) && !(err_blas > kMaxRelErr) && !std::isnan(err_hand) && !std::isnan(err_blas);
  ctx.all_checks_pass = ctx.all_checks_pass && pass;

  // Timing: per block, every layer once in a graph (consecutive calls never share weights).
  std::vector<double> hand_us(kBlocks), blas_us(kBlocks);
  for (int b = 0; b < kBlocks; ++b) {
    hand_us[size_t(b)] = time_calls([&](int l) { hand_layer(m, bk, b, l, ctx.stream); }, m.L, ctx.stream, nullptr);
    bool graphed = false;
    blas_us[size_t(b)] = time_calls([&](int l) { cublas_layer(m, bk, shapes[size_t(b)], ctx.blas, b, l, ctx.stream); },
                                    m.L, ctx.stream, &graphed);
    (graphed ? ctx.cublas_graphed : ctx.cublas_plain) += 1;
  }

  auto arr = [](const std::vector<double>& v) {
    std::ostringstream o;
    o << "[";
    for (size_t i = 0; i < v.size(); ++i) o << (i ? ", " : "") << v[i];
    return o.str() + "]";
  };
  ctx.json << (ctx.first_run ? "" : ",\n") << "    {\"shape\": \"" << m.shape.preset << "\", \"policy\": \"" << label
           << "\", \"describe\": \"" << pol.describe() << "\", \"N\": " << N << ", \"K\": " << K
           << ", \"T_mean\": " << mean(T) << ", \"hand_us_mean\": " << mean(hand_us)
           << ", \"cublas_us_mean\": " << mean(blas_us)
           << ", \"route_us_mean\": " << (route_us.empty() ? std::string("null") : std::to_string(mean(route_us)))
           << ", \"err_hand\": " << (std::isnan(err_hand) ? std::string("null") : std::to_string(err_hand))
           << ", \"err_cublas\": " << (std::isnan(err_blas) ? std::string("null") : std::to_string(err_blas))
           << ", \"check_pass\": " << (pass ? "true" : "false") << ", \"cuda_layout_equal_blocks\": " << cuda_equal
           << ", \"T\": " << arr(T) << ", \"hand_us\": " << arr(hand_us) << ", \"cublas_us\": " << arr(blas_us)
           << ", \"route_us\": " << (route_us.empty() ? std::string("null") : arr(route_us)) << "}";
  ctx.first_run = false;
  std::fprintf(stderr,
               "%-12s N=%3d %-22s T=%6.1f hand %8.1f us (with routing %8.1f)  cublas %8.1f us  route %5.1f us  "
               "err %.2e/%.2e %s  cuda layout %d/%d\n",
               m.shape.preset, N, label.c_str(), mean(T), mean(hand_us), mean(hand_us) + mean(route_us), mean(blas_us),
               route_us.empty() ? -1.0 : mean(route_us), err_hand, err_blas, pass ? "ok" : "FAIL", cuda_equal, kBlocks);
}

/// The policies of the issue, in table order: fn(label, K, policy).
template <class Fn>
void for_each_policy(const cr::ModelPreset& preset, Fn&& fn) {
  const int K = preset.config.top_k;
  fn("vanilla", K, cr::VanillaPolicy{});
  fn("top-4", 4, cr::VanillaPolicy{});
  for (int k : {3, 2}) {
    cr::UnionPolicy u;
    u.k_local = k;
    fn("des-seq k=" + std::to_string(k), K, u);
  }
  for (double beta : preset.vote_betas) {
    std::ostringstream name;
    name << "des-vote beta=" << beta;
    fn(name.str(), K, cr::SaliencyVotePolicy::with_beta(beta));
  }
  cr::BlockDistributionPolicy dmoe;
  dmoe.top_p = 0.6;
  dmoe.min_experts = 16;
  fn("dmoe p=0.6", K, dmoe);
}

/// Mean unique experts T per policy and block size, on the host alone (no GPU): what
/// the bandwidth model predicts from, and the T column of the measured runs.
int routing_only(const std::vector<int>& sizes) {
  std::printf("{\"blocks_per_run\": %d, \"runs\": [\n", kBlocks);
  bool first = true;
  for (const char* name : {"llada2-mini", "llada-moe"}) {
    const cr::ModelPreset& preset = *cr::find_model_preset(name);
    for (int N : sizes) {
      cr::ModelPreset p = preset;
      p.tokens = N;
      const cr::Synthetic syn = cr::generate_synthetic(p, kBlocks, 1, false);
      const cr::LogitsView<float> view =
          cr::make_logits_view(syn.trace.logits.data(), kBlocks, N, p.config.num_experts);
      for_each_policy(preset, [&](const std::string& label, int K, const auto& pol) {
        cr::RouterConfig c = syn.config;
        c.top_k = K;
        const cr::DispatchLayout D = cr::reference::dispatch_of(cr::reference::route(view, c, pol));
        double T = 0;
        for (int32_t t : D.num_used) T += t;
        std::printf("%s  {\"shape\": \"%s\", \"policy\": \"%s\", \"N\": %d, \"K\": %d, \"T_mean\": %.3f}",
                    first ? "" : ",\n", name, label.c_str(), N, K, T / kBlocks);
        first = false;
      });
    }
  }
  std::printf("\n]}\n");
  return 0;
}

void run_shape(Context& ctx, const Shape& shape, const std::vector<int>& block_sizes) {
  const cr::ModelPreset& preset = *cr::find_model_preset(shape.preset);
  Model m;
  m.shape = shape;
  m.M = preset.config.num_experts;
  m.H = shape.hidden;
  m.I = shape.inter;
  m.L = shape.layers;
  const size_t gu_n = size_t(m.L) * m.M * m.gu_expert(), d_n = size_t(m.L) * m.M * m.d_expert();
  m.gu = device_alloc<bf16>(gu_n);
  m.d = device_alloc<bf16>(d_n);
  // Uniform weights of variance 1/fan_in keep every activation O(1).
  randomize(m.gu, gu_n, 11, std::sqrt(3.0f / float(m.H)));
  randomize(m.d, d_n, 12, std::sqrt(3.0f / float(m.I)));
  if (shape.shared_expert) {
    m.sh_gu = device_alloc<bf16>(size_t(m.L) * m.gu_expert());
    m.sh_d = device_alloc<bf16>(size_t(m.L) * m.d_expert());
    randomize(m.sh_gu, size_t(m.L) * m.gu_expert(), 13, std::sqrt(3.0f / float(m.H)));
    randomize(m.sh_d, size_t(m.L) * m.d_expert(), 14, std::sqrt(3.0f / float(m.I)));
  }
  std::fprintf(stderr, "%s: M=%d H=%d I=%d, %d layers, %.2f GB of expert weights\n", shape.preset, m.M, m.H, m.I, m.L,
               double(gu_n + d_n) * 2 / 1e9);

  uint64_t seed = 100;
  for (int N : block_sizes) {
    cr::ModelPreset p = preset;
    p.tokens = N;
    const cr::Synthetic syn = cr::generate_synthetic(p, kBlocks, 1, false);
    float* d_logits = upload(syn.trace.logits);
    const int Kmax = p.config.top_k, rows = N * Kmax + N, M = m.M;
    Block bk;
    bk.N = N;
    bk.M = M;
    bk.ids = device_alloc<int32_t>(size_t(kBlocks) * N * Kmax);
    bk.weights = device_alloc<float>(size_t(kBlocks) * N * Kmax);
    bk.num_used = device_alloc<int32_t>(kBlocks);
    bk.used = device_alloc<int32_t>(size_t(kBlocks) * M);
    bk.counts = device_alloc<int32_t>(size_t(kBlocks) * M);
    bk.offsets = device_alloc<int32_t>(size_t(kBlocks) * (M + 1));
    bk.token = device_alloc<int32_t>(size_t(kBlocks) * N * Kmax);
    bk.slot = device_alloc<int32_t>(size_t(kBlocks) * N * Kmax);
    bk.pos = device_alloc<int32_t>(size_t(N) * Kmax);
    bk.x = device_alloc<bf16>(size_t(kBlocks) * N * m.H);
    bk.act = device_alloc<bf16>(size_t(rows) * m.I);
    bk.xg = device_alloc<bf16>(size_t(N) * Kmax * m.H);
    bk.h1 = device_alloc<bf16>(size_t(rows) * 2 * m.I);
    bk.y16 = device_alloc<bf16>(size_t(rows) * m.H);
    bk.out = device_alloc<bf16>(size_t(N) * m.H);
    bk.y = device_alloc<float>(size_t(rows) * m.H);
    bk.ract = device_alloc<float>(size_t(rows) * m.I);
    bk.ref = device_alloc<float>(size_t(N) * m.H);
    bk.ptrs = device_alloc<void*>(size_t(6) * (M + 1));

    for_each_policy(preset, [&](const std::string& label, int K, const auto& pol) {
      run_policy(ctx, m, bk, syn, d_logits, label, syn.config, K, pol, ++seed);
    });

    for (void* q : std::initializer_list<void*>{
             d_logits, bk.ids, bk.weights, bk.num_used, bk.used, bk.counts, bk.offsets, bk.token, bk.slot, bk.pos,
             bk.x,     bk.act, bk.xg,      bk.h1,       bk.y16,  bk.out,    bk.y,       bk.ract,  bk.ref,  bk.ptrs})
      CHECK(cudaFree(q));
  }
  for (void* q : std::initializer_list<void*>{m.gu, m.d, m.sh_gu, m.sh_d}) CHECK(cudaFree(q));
}

/// Microseconds of the device-to-host copy of a block's counts plus the host sync that
/// the cuBLAS path needs before it can call the grouped GEMM (median of 200).
double counts_sync_us(cudaStream_t s, int M) {
  int32_t* d = device_alloc<int32_t>(size_t(M) + 1);
  int32_t* h = nullptr;
  CHECK(cudaMallocHost(&h, (size_t(M) + 1) * 4));
  std::vector<double> t;
  for (int r = 0; r < 220; ++r) {
    const auto a = std::chrono::steady_clock::now();
    CHECK(cudaMemcpyAsync(h, d, (size_t(M) + 1) * 4, cudaMemcpyDeviceToHost, s));
    CHECK(cudaStreamSynchronize(s));
    const auto b = std::chrono::steady_clock::now();
    if (r >= 20) t.push_back(std::chrono::duration<double, std::micro>(b - a).count());
  }
  CHECK(cudaFreeHost(h));
  CHECK(cudaFree(d));
  return median(t);
}

}  // namespace

int main(int argc, char** argv) {
  // argv: [OUT.json | --routing-only] [N]
  const char* path = argc > 1 ? argv[1] : nullptr;
  std::vector<int> sizes = {8, 16, 32, 64, 128};
  if (argc > 2) sizes = {std::atoi(argv[2])};  // a quick single-size run
  if (path && std::string(path) == "--routing-only") return routing_only(sizes);
  Context ctx;
  CHECK(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
  CHECK_BLAS(cublasCreate(&ctx.blas));
  CHECK_BLAS(cublasSetStream(ctx.blas, ctx.stream));
  void* workspace = device_alloc<char>(size_t(64) << 20);
  CHECK_BLAS(cublasSetWorkspace(ctx.blas, workspace, size_t(64) << 20));

  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  const mb::Bandwidth bw = mb::measure_bandwidth(ctx.stream);
  const double sync_us = counts_sync_us(ctx.stream, 256);
  std::fprintf(stderr,
               "%s: %d SMs, L2 %.0f MB, read stream %.0f GB/s, memcpy %.0f GB/s (read + write), counts copy + sync "
               "%.1f us\n",
               prop.name, prop.multiProcessorCount, prop.l2CacheSize / 1e6, bw.stream_read_bytes_per_s / 1e9,
               bw.memcpy_bytes_per_s / 1e9, sync_us);
  std::ostringstream settings;
  settings << "{\"block_sizes\": [";
  for (size_t i = 0; i < sizes.size(); ++i) settings << (i ? ", " : "") << sizes[i];
  settings << "], \"blocks_per_run\": " << kBlocks << ", \"layer_replays\": " << kReplays
           << ", \"layer_warmup\": 2, \"route_reps\": " << kRouteReps << ", \"route_warmup\": " << mb::kGraphWarmup
           << ", \"max_rel_err\": " << kMaxRelErr << ", \"trace_seed\": 1}";
  const char* method =
      "layer: per block, a CUDA graph of one call per layer (consecutive calls never share weights), median of the "
      "timed replays / calls; routing: per block, launch_route with the dispatch layout in a graph of one launch, "
      "median of replays each timed alone (logits of one block, in L2); with routing = layer + routing; check: the "
      "worst per-token relative error over every block, both paths, against a float reference (NaN fails)";

  ctx.json
      << "{\n  \"meta\": " << mb::metadata_json("bench/moe_layer/moe_layer_bench", method, settings.str())
      << ",\n  \"bandwidth\": " << mb::bandwidth_json(bw, "stream_read") << ",\n  \"device\": \"" << prop.name
      << "\", \"sms\": " << prop.multiProcessorCount << ", \"l2_bytes\": " << prop.l2CacheSize
      << ", \"counts_sync_us\": " << sync_us << ", \"blocks_per_run\": " << kBlocks
      << ", \"max_rel_err\": " << kMaxRelErr << ",\n  \"shapes\": {"
      << "\"llada-moe\": {\"M\": 64, \"H\": 2048, \"I\": 1024, \"K\": 8, \"shared_expert\": false, \"layers\": 16, "
         "\"expert_bytes\": "
      << cr::kLladaMoeExpertBytes << "}, "
      << "\"llada2-mini\": {\"M\": 256, \"H\": 2048, \"I\": 512, \"K\": 8, \"shared_expert\": true, \"layers\": 8, "
         "\"expert_bytes\": "
      << cr::kLlada2MiniExpertBytes << "}},\n  \"runs\": [\n";
  // LLaDA-MoE: 64 x 12.6 MB per layer; LLaDA2.0-mini: 256 x 6.3 MB + a shared expert.
  run_shape(ctx, {"llada2-mini", 2048, 512, true, 8}, sizes);
  run_shape(ctx, {"llada-moe", 2048, 1024, false, 16}, sizes);
  ctx.json << "\n  ],\n  \"cublas_timed_in_graph\": " << ctx.cublas_graphed
           << ", \"cublas_timed_plain\": " << ctx.cublas_plain
           << ", \"all_checks_pass\": " << (ctx.all_checks_pass ? "true" : "false") << "\n}\n";

  if (path) {
    FILE* f = std::fopen(path, "w");
    if (!f) {
      std::perror(path);
      return 1;
    }
    std::fputs(ctx.json.str().c_str(), f);
    std::fclose(f);
  } else {
    std::fputs(ctx.json.str().c_str(), stdout);
  }
  CHECK_BLAS(cublasDestroy(ctx.blas));
  CHECK(cudaFree(workspace));
  std::fprintf(stderr, "all checks %s\n", ctx.all_checks_pass ? "passed" : "FAILED");
  return ctx.all_checks_pass ? 0 : 2;
}
