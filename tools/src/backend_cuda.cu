// --backend cuda: the CUDA backend's adapter, compiled by nvcc only when the
// project is configured with the CUDA part.
#include <stdexcept>

#include <coreroute/cuda/testing.cuh>

#include "backend.hpp"

namespace coreroute::cli {

Routing route_cuda(const LogitsView<float>& x, const RouterConfig& c, const AnyPolicy& p) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
    throw std::runtime_error("--backend cuda: no CUDA device is available on this machine");
  return std::visit([&](const auto& q) { return cuda::testing::Backend::route(x, c, q, nullptr); }, p);
}

}  // namespace coreroute::cli
