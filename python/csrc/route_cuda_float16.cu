#include "route_cuda.cuh"

namespace coreroute::torch_ops {
// torch.float16 and __half share their bit layout.
int launch_float16(const CudaLaunch& l) { return launch_typed<__half>(l); }
}  // namespace coreroute::torch_ops
