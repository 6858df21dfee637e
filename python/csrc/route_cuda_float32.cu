#include <coreroute/cuda/metrics.cuh>

#include "route_cuda.cuh"

namespace coreroute::torch_ops {
int launch_float32(const CudaLaunch& l) { return launch_typed<float>(l); }
int launch_metrics(const CudaMetrics& m) {
  cuda::DeviceRouting R, R0;
  R.ids = m.ids;
  R.weights = m.weights;
  R.valid_tokens = m.valid_tokens;
  R.coreset_size = m.coreset_size;
  R.top_k = m.top_k;
  R0.ids = m.ref_ids;
  R0.weights = m.ref_weights;
  R0.valid_tokens = m.valid_tokens;
  R0.top_k = m.ref_top_k;
  cuda::DeviceExpertOutputs Y;
  Y.data = m.outputs;
  Y.stride_block = m.out_stride_block;
  Y.stride_token = m.out_stride_token;
  Y.stride_expert = m.out_stride_expert;
  Y.dim = m.out_dim;
  return int(cuda::launch_metrics(m.blocks, m.tokens, m.experts, R, R0, m.expert_bytes, m.outputs ? &Y : nullptr, m.out,
                                  static_cast<cudaStream_t>(m.stream)));
}

const char* cuda_error_name(int code) { return cudaGetErrorString(cudaError_t(code)); }
}  // namespace coreroute::torch_ops
