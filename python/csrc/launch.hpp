#pragma once
// The boundary between the Torch op (ops.cpp, host compiler) and the CUDA backend's
// raw launch (route_cuda_*.cu, nvcc). Plain structs only, so that neither side
// compiles the other's headers: the .cu files never see Torch, ops.cpp never sees
// a kernel.
#include <cstdint>
#include <variant>

#include <coreroute/config.hpp>
#include <coreroute/policies.hpp>

namespace coreroute::torch_ops {

using AnyPolicy = std::variant<VanillaPolicy, UnionPolicy, SaliencyVotePolicy, BlockDistributionPolicy, BlockMaxPolicy>;

enum class Dtype : int { float32 = 0, bfloat16 = 1, float16 = 2 };

/// One launch: device pointers, strides in elements, the current stream.
struct CudaLaunch {
  Dtype dtype = Dtype::float32;
  const void* logits = nullptr;
  int64_t blocks = 0, tokens = 0, experts = 0;
  int64_t stride_block = 0, stride_token = 0, stride_expert = 1;
  const int32_t* tokens_per_block = nullptr;  ///< null: every block has `tokens` rows
  RouterParams params;                        ///< params.bias: device floats or null
  AnyPolicy policy;
  const uint8_t* coreset_in = nullptr;  ///< non-null: Stage 2 alone into this mask
  // Outputs (device): ids, weights, coreset, coreset_size, valid_tokens, invalid_tokens.
  int32_t* ids = nullptr;
  float* weights = nullptr;
  uint8_t* coreset = nullptr;
  int32_t *coreset_size = nullptr, *valid_tokens = nullptr, *invalid_tokens = nullptr;
  // Dispatch layout (all null: not written).
  int32_t *num_used = nullptr, *used_experts = nullptr, *counts = nullptr, *offsets = nullptr;
  int32_t *token = nullptr, *slot = nullptr;
  void* stream = nullptr;  ///< cudaStream_t
};

/// One metrics launch (coreroute::cuda::launch_metrics): routings [B, N, K] contiguous
/// (rows past valid_tokens[b] are never read), device pointers, the current stream.
struct CudaMetrics {
  int64_t blocks = 0, tokens = 0;
  int experts = 0;
  const int32_t *ids = nullptr, *ref_ids = nullptr, *valid_tokens = nullptr, *coreset_size = nullptr;
  const float *weights = nullptr, *ref_weights = nullptr;
  int top_k = 0, ref_top_k = 0;
  double expert_bytes = 0;
  const float* outputs = nullptr;  ///< null: no output reconstruction loss (NaN)
  int64_t out_stride_block = 0, out_stride_token = 0, out_stride_expert = 0;
  int out_dim = 0;
  double* out = nullptr;  ///< [B, 7]
  void* stream = nullptr;
};

int launch_metrics(const CudaMetrics& m);

/// Largest n_group of the CUDA kernel (launch.cuh, kMaxGroups).
inline constexpr int kCudaMaxGroups = 64;

/// Launches coreroute::cuda::launch_route / launch_route_in_coreset; returns the
/// cudaError_t as int (0: success). No synchronisation, no allocation.
int launch_float32(const CudaLaunch& l);
int launch_bfloat16(const CudaLaunch& l);
int launch_float16(const CudaLaunch& l);
const char* cuda_error_name(int code);

}  // namespace coreroute::torch_ops
