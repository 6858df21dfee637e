#include "route_cuda.cuh"

namespace coreroute::torch_ops {
// torch.bfloat16 and __nv_bfloat16 share their bit layout.
int launch_bfloat16(const CudaLaunch& l) { return launch_typed<__nv_bfloat16>(l); }
}  // namespace coreroute::torch_ops
