// How every GPU benchmark of bench/ measures (route_bench, moe_layer_bench): one copy
// of each rule.
//   - median_us: the median of `reps` calls, each timed alone with CUDA events on the
//     stream after `warmup` untimed calls.
//   - capture_graphs / graph_replay_us: route_bench's method for a kernel, a CUDA graph
//     holding one launch per input copy, replays rotated over the copies, each timed alone.
//   - measure_bandwidth: the copy bandwidth, by two methods timed the same way (median_us,
//     plain stream work, no graph): a read-only streaming kernel (bytes read) and a
//     device-to-device cudaMemcpyAsync (bytes read + written). Both are recorded in every
//     result file; each benchmark names the one it uses as its roofline.
//   - metadata_json: device, driver, CUDA versions, commit, date, written by the tool.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace coreroute_bench {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

/// Median microseconds of `reps` calls of run(r), each timed alone with CUDA events
/// after `warmup` untimed calls.
template <class F>
double median_us(F&& run, cudaStream_t s, int warmup, int reps) {
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "cudaEventCreate");
  check(cudaEventCreate(&b), "cudaEventCreate");
  for (int w = 0; w < warmup; ++w) run(w);
  std::vector<float> t(static_cast<size_t>(reps));
  for (int r = 0; r < reps; ++r) {
    check(cudaEventRecord(a, s), "cudaEventRecord");
    run(r);
    check(cudaEventRecord(b, s), "cudaEventRecord");
    check(cudaEventSynchronize(b), "cudaEventSynchronize");
    check(cudaEventElapsedTime(&t[size_t(r)], a, b), "cudaEventElapsedTime");
  }
  check(cudaEventDestroy(a), "cudaEventDestroy");
  check(cudaEventDestroy(b), "cudaEventDestroy");
  std::sort(t.begin(), t.end());
  return t.empty() ? 0.0 : double(t[t.size() / 2]) * 1000.0;
}

/// One graph per input copy, each holding the single launch launch(r).
template <class F>
std::vector<cudaGraphExec_t> capture_graphs(F&& launch, int copies, cudaStream_t s) {
  std::vector<cudaGraphExec_t> graphs(static_cast<size_t>(copies));
  for (int r = 0; r < copies; ++r) {
    cudaGraph_t graph;
    check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    launch(r);
    check(cudaStreamEndCapture(s, &graph), "cudaStreamEndCapture");
    check(cudaGraphInstantiate(&graphs[size_t(r)], graph, 0), "cudaGraphInstantiate");
    check(cudaGraphDestroy(graph), "cudaGraphDestroy");
  }
  return graphs;
}

constexpr int kGraphWarmup = 50;  // untimed replays before the timed ones

/// Graph replay times (rotating over the graphs), then frees them: the median of `reps`
/// replays each timed alone (what one call costs, launch included), and in `back_to_back`
/// the median over 20 groups of 50 replays issued back to back, per replay (what a call
/// costs amid others, as inside a model's graph: launch latency overlapped).
inline double graph_replay_us(std::vector<cudaGraphExec_t> graphs, cudaStream_t s, int reps,
                              double* back_to_back = nullptr) {
  auto replay = [&](int r) { check(cudaGraphLaunch(graphs[size_t(r) % graphs.size()], s), "cudaGraphLaunch"); };
  const double us = median_us(replay, s, kGraphWarmup, reps);
  if (back_to_back)
    *back_to_back = median_us(
                        [&](int r) {
                          for (int i = 0; i < 50; ++i) replay(50 * r + i);
                        },
                        s, 2, 20) /
                    50;
  for (auto& g : graphs) check(cudaGraphExecDestroy(g), "cudaGraphExecDestroy");
  return us;
}

/// Reads every 16-byte word of x once through the read-only path; one sum per CTA goes
/// to sink so the loads cannot be dropped.
__global__ void stream_read_kernel(const int4* __restrict__ x, size_t n, int* sink) {
  int acc = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const int4 v = __ldg(x + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x7fffffff) sink[blockIdx.x] = acc;  // practically never taken; keeps the loads
}

struct Bandwidth {
  static constexpr size_t kBytes = size_t(1) << 30;  // 1 GiB per buffer, far above any L2
  static constexpr int kWarmup = 5, kReps = 30;
  double stream_read_bytes_per_s = 0;  // read-only kernel: bytes read / time
  double memcpy_bytes_per_s = 0;       // cudaMemcpyAsync device to device: bytes read + written / time
  int stream_grid = 0;
};

inline Bandwidth measure_bandwidth(cudaStream_t s) {
  Bandwidth bw;
  void *x, *y;
  int* sink;
  check(cudaMalloc(&x, Bandwidth::kBytes), "cudaMalloc");
  check(cudaMalloc(&y, Bandwidth::kBytes), "cudaMalloc");
  check(cudaMalloc(&sink, sizeof(int) * 65536), "cudaMalloc");
  check(cudaMemset(x, 1, Bandwidth::kBytes), "cudaMemset");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  int dev = 0, sms = 0, per_sm = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, stream_read_kernel, 256, 0), "occupancy");
  bw.stream_grid = std::min(65536, sms * std::max(1, per_sm));
  const size_t words = Bandwidth::kBytes / sizeof(int4);
  const double read_us = median_us(
      [&](int) {
        stream_read_kernel<<<bw.stream_grid, 256, 0, s>>>(static_cast<const int4*>(x), words, sink);
        check(cudaGetLastError(), "stream_read_kernel");
      },
      s, Bandwidth::kWarmup, Bandwidth::kReps);
  const double copy_us = median_us(
      [&](int) { check(cudaMemcpyAsync(y, x, Bandwidth::kBytes, cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync"); }, s,
      Bandwidth::kWarmup, Bandwidth::kReps);
  check(cudaFree(x), "cudaFree");
  check(cudaFree(y), "cudaFree");
  check(cudaFree(sink), "cudaFree");
  bw.stream_read_bytes_per_s = double(Bandwidth::kBytes) / (read_us * 1e-6);
  bw.memcpy_bytes_per_s = 2.0 * double(Bandwidth::kBytes) / (copy_us * 1e-6);
  return bw;
}

/// The "bandwidth" object of a result file; `roofline` is "stream_read" or "memcpy".
inline std::string bandwidth_json(const Bandwidth& bw, const char* roofline) {
  std::ostringstream o;
  o.precision(15);
  o << "{\"stream_read_bytes_per_s\": " << bw.stream_read_bytes_per_s
    << ", \"memcpy_bytes_per_s\": " << bw.memcpy_bytes_per_s << ", \"roofline\": \"" << roofline
    << "\", \"method\": \"median of " << Bandwidth::kReps << " calls after " << Bandwidth::kWarmup
    << " warm-ups, each timed alone with CUDA events, plain stream work (no graph), " << (Bandwidth::kBytes >> 20)
    << " MiB buffers; stream_read: a read-only kernel (" << bw.stream_grid
    << " CTAs x 256 threads, 16-byte __ldg loads), bytes read; memcpy: cudaMemcpyAsync device to device, "
       "bytes read + written\"}";
  return o.str();
}

/// A string with JSON's special characters escaped.
inline std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) o += c;
  }
  return o + "\"";
}

/// The kernel driver's release (e.g. 580.159.04) from /proc/driver/nvidia/version, or
/// "not recorded" where that file is absent.
inline std::string driver_release() {
  std::ifstream f("/proc/driver/nvidia/version");
  std::string line;
  if (!std::getline(f, line)) return "not recorded";
  std::istringstream words(line);
  std::string w, found = "not recorded";
  while (words >> w)  // the first word of the form digits.digits[.digits]
    if (found == "not recorded" && w.find('.') != std::string::npos &&
        w.find_first_not_of("0123456789.") == std::string::npos)
      found = w;
  return found;
}

/// The "meta" object of a result file: what ran where and when. The commit comes from
/// COREROUTE_COMMIT (the runner sets it from git), else "not recorded"; `settings` is a
/// JSON object of the tool's own settings.
inline std::string metadata_json(const char* tool, const std::string& method, const std::string& settings) {
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  int driver = 0, runtime = 0;
  check(cudaDriverGetVersion(&driver), "cudaDriverGetVersion");
  check(cudaRuntimeGetVersion(&runtime), "cudaRuntimeGetVersion");
  const char* commit = std::getenv("COREROUTE_COMMIT");
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::ostringstream o;
  o << "{\"tool\": " << json_string(tool) << ", \"device\": " << json_string(prop.name)
    << ", \"sms\": " << prop.multiProcessorCount << ", \"l2_bytes\": " << prop.l2CacheSize
    << ", \"memory_bytes\": " << prop.totalGlobalMem << ", \"driver\": " << json_string(driver_release())
    << ", \"cuda_driver\": " << driver << ", \"cuda_runtime\": " << runtime
    << ", \"commit\": " << json_string(commit && *commit ? commit : "not recorded") << ", \"date\": \"" << date
    << "\", \"method\": " << json_string(method) << ", \"settings\": " << settings << "}";
  return o.str();
}

}  // namespace coreroute_bench
