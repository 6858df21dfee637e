#pragma once
// The body of the three route_cuda_<dtype>.cu files: one dtype per translation unit,
// so that nvcc compiles the kernel instances in parallel.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <coreroute/cuda/launch.cuh>

#include "launch.hpp"

namespace coreroute::torch_ops {

template <class T>
int launch_typed(const CudaLaunch& l) {
  LogitsView<T> x;
  x.data = static_cast<const T*>(l.logits);
  x.blocks = l.blocks;
  x.tokens = l.tokens;
  x.experts = l.experts;
  x.stride_block = l.stride_block;
  x.stride_token = l.stride_token;
  x.stride_expert = l.stride_expert;
  x.tokens_per_block = l.tokens_per_block;
  cuda::RouteOutputs out;
  out.ids = l.ids;
  out.weights = l.weights;
  out.coreset = l.coreset;
  out.coreset_size = l.coreset_size;
  out.valid_tokens = l.valid_tokens;
  out.invalid_tokens = l.invalid_tokens;
  cuda::DispatchOutputs d;
  d.num_used = l.num_used;
  d.used_experts = l.used_experts;
  d.counts = l.counts;
  d.offsets = l.offsets;
  d.token = l.token;
  d.slot = l.slot;
  const cuda::DispatchOutputs* dispatch = d.enabled() ? &d : nullptr;
  const auto stream = static_cast<cudaStream_t>(l.stream);
  if (l.coreset_in) return int(cuda::launch_route_in_coreset(x, l.params, l.coreset_in, out, stream, dispatch));
  return std::visit([&](const auto& pol) { return int(cuda::launch_route(x, l.params, pol, out, stream, dispatch)); },
                    l.policy);
}

}  // namespace coreroute::torch_ops
