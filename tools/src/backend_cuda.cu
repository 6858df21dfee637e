// --backend cuda: the CUDA backend's checked public API (cuda/coreroute/cuda/route.cuh),
// compiled by nvcc only when the project is configured with the CUDA part. The
// trace is copied to the device, routed, and the outputs copied back into a Routing.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <coreroute/cuda/route.cuh>

#include "backend.hpp"

namespace coreroute::cli {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("--backend cuda: ") + what + ": " + cudaGetErrorString(e));
}

/// A device array of n elements, freed on scope exit.
template <class T>
struct DeviceArray {
  T* ptr = nullptr;
  size_t n = 0;
  explicit DeviceArray(size_t count) : n(count) { check(cudaMalloc(&ptr, (n > 0 ? n : 1) * sizeof(T)), "cudaMalloc"); }
  ~DeviceArray() { cudaFree(ptr); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  void upload(const T* host) {
    if (n > 0) check(cudaMemcpy(ptr, host, n * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy");
  }
  void download(std::vector<T>& host) const {
    if (n > 0) check(cudaMemcpy(host.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy");
  }
};

}  // namespace

Routing route_cuda(const LogitsView<float>& x, const RouterConfig& c, const AnyPolicy& p) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
    throw std::runtime_error("--backend cuda: no CUDA device is available on this machine");
  // The CLI's traces are contiguous [B, N, M] (Workload::view).
  const size_t B = size_t(x.blocks), N = size_t(x.tokens), M = size_t(x.experts), K = size_t(c.top_k);
  DeviceArray<float> logits(B * N * M);
  logits.upload(x.data);
  DeviceArray<int32_t> tokens(x.tokens_per_block ? B : 0);
  if (x.tokens_per_block) tokens.upload(x.tokens_per_block);
  LogitsView<float> dx = x;
  dx.data = B * N * M > 0 ? logits.ptr : nullptr;
  dx.tokens_per_block = x.tokens_per_block ? tokens.ptr : nullptr;

  DeviceArray<int32_t> ids(B * N * K), coreset_size(B), valid(B), invalid(B);
  DeviceArray<float> weights(B * N * K);
  DeviceArray<uint8_t> coreset(B * M);
  const cuda::RouteOutputs out{ids.ptr, weights.ptr, coreset.ptr, coreset_size.ptr, valid.ptr, invalid.ptr};
  const cuda::DeviceConfig dc(c);
  std::visit([&](const auto& q) { cuda::route(dx, dc, q, out); }, p);
  check(cudaDeviceSynchronize(), "route");

  Routing R;
  R.resize(x.blocks, x.tokens, c.num_experts, c.top_k);
  ids.download(R.ids);
  weights.download(R.weights);
  coreset.download(R.coreset);
  coreset_size.download(R.coreset_size);
  valid.download(R.valid_tokens);
  invalid.download(R.invalid_tokens);
  return R;
}

}  // namespace coreroute::cli
