// The CUDA part of the consumer: the same routing on the GPU through the checked API,
// compared with the reference. Exits 77 (skipped) where there is no CUDA device.
#include <coreroute/cuda.cuh>
#include <coreroute/reference.hpp>

#include <cstdint>
#include <cstdio>
#include <vector>

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("consumer_cuda: SKIPPED, no CUDA device on this machine\n");
    return 77;
  }
  coreroute::RouterConfig config;
  config.num_experts = 4;
  config.top_k = 2;
  const std::vector<float> logits = {0.0f, 1.0f, 3.0f, 0.5f, 0.0f, 0.5f, 2.0f, 1.0f};
  const auto policy = coreroute::SaliencyVotePolicy::with_core(1);
  const auto want = coreroute::reference::route(coreroute::make_logits_view(logits.data(), 1, 2, 4), config, policy);
  float* x = nullptr;
  int32_t* ids = nullptr;
  float* weights = nullptr;
  std::vector<int32_t> got(want.ids.size(), -7);
  bool ok = cudaMalloc(&x, logits.size() * sizeof(float)) == cudaSuccess &&
            cudaMalloc(&ids, got.size() * sizeof(int32_t)) == cudaSuccess &&
            cudaMalloc(&weights, got.size() * sizeof(float)) == cudaSuccess &&
            cudaMemcpy(x, logits.data(), logits.size() * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess;
  if (ok) {
    const coreroute::cuda::DeviceConfig device_config(config);
    const coreroute::cuda::RouteOutputs out{ids, weights, nullptr, nullptr, nullptr, nullptr};
    coreroute::cuda::route(coreroute::make_logits_view(x, 1, 2, 4), device_config, policy, out);
    ok = cudaMemcpy(got.data(), ids, got.size() * sizeof(int32_t), cudaMemcpyDeviceToHost) == cudaSuccess &&
         got == want.ids;
  }
  cudaFree(x);
  cudaFree(ids);
  cudaFree(weights);
  std::printf(ok ? "consumer_cuda: ok\n" : "consumer_cuda: the GPU routing differs from the reference\n");
  return ok ? 0 : 1;
}
