#pragma once
// Device output buffers of the CUDA backend (docs/spec.md section 5), all caller-owned.
#include <cstdint>

namespace coreroute::cuda {

/// ids and weights are required; the rest may be null (not written).
struct RouteOutputs {
  int32_t* ids = nullptr;             ///< [B, N, K]; -1 pads slots past |E_n|, unrouted and invalid rows
  float* weights = nullptr;           ///< [B, N, K]; 0 where the id is -1
  uint8_t* coreset = nullptr;         ///< [B, M]; 1 = expert in the block's coreset
  int32_t* coreset_size = nullptr;    ///< [B]
  int32_t* valid_tokens = nullptr;    ///< [B]; rows routed (tokens_per_block or N)
  int32_t* invalid_tokens = nullptr;  ///< [B]; status: rows with NaN/+Inf logits or all -Inf softmax rows
};

/// The dispatch layout of coreroute::DispatchLayout, in device memory. Off when
/// num_used is null; otherwise every pointer must be set.
struct DispatchOutputs {
  int32_t* num_used = nullptr;      ///< [B]
  int32_t* used_experts = nullptr;  ///< [B, M]
  int32_t* counts = nullptr;        ///< [B, M]
  int32_t* offsets = nullptr;       ///< [B, M + 1]
  int32_t* token = nullptr;         ///< [B, N * K]
  int32_t* slot = nullptr;          ///< [B, N * K]
  __host__ __device__ bool enabled() const { return num_used != nullptr; }
};

}  // namespace coreroute::cuda
