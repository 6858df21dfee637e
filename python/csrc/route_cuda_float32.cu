#include "route_cuda.cuh"

namespace coreroute::torch_ops {
int launch_float32(const CudaLaunch& l) { return launch_typed<float>(l); }
const char* cuda_error_name(int code) { return cudaGetErrorString(cudaError_t(code)); }
}  // namespace coreroute::torch_ops
