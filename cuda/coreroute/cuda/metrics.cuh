#pragma once
// Metrics of docs/spec.md section 5 on the GPU: a separate kernel, so routing never pays for
// it. One CTA per block, double accumulators (the reference's precision).
#include <cuda_runtime.h>

#include <cstdint>

#include <coreroute/detail/metric_rules.hpp>
#include <coreroute/metrics.hpp>

namespace coreroute::cuda {

/// A routing in device memory, as written by launch_route.
struct DeviceRouting {
  const int32_t* ids = nullptr;           ///< [B, N, K]
  const float* weights = nullptr;         ///< [B, N, K]
  const int32_t* valid_tokens = nullptr;  ///< [B]
  const int32_t* coreset_size = nullptr;  ///< [B] (may be null: 0)
  int top_k = 0;
};

/// Expert outputs Y[b, n, i, :] in device memory (ExpertOutputsView's layout).
struct DeviceExpertOutputs {
  const float* data = nullptr;
  int64_t stride_block = 0, stride_token = 0, stride_expert = 0;
  int dim = 0;
};

namespace detail {

constexpr int kMetricFields = 7;  // BlockMetrics, in declaration order

__global__ void metrics_kernel(int64_t B, int64_t N, int M, DeviceRouting R, DeviceRouting R0, double expert_bytes,
                               DeviceExpertOutputs Y, double* out) {
  extern __shared__ __align__(16) unsigned char smem[];
  int* count = reinterpret_cast<int*>(smem);
  int* count0 = count + M;
  double* acc = reinterpret_cast<double*>(smem + ((size_t(2 * M) * 4 + 15) & ~size_t(15)));  // hits, gate, num, den
  const int t = int(threadIdx.x), T = int(blockDim.x);
  for (int64_t b = blockIdx.x; b < B; b += gridDim.x) {
    for (int i = t; i < M; i += T) count[i] = count0[i] = 0;
    if (t < 4) acc[t] = 0.0;
    __syncthreads();
    const int64_t valid = R.valid_tokens[b];
    double hits = 0, gate = 0, num = 0, den = 0;
    for (int64_t n = t; n < valid; n += T) {  // counts, hits and the gate loss per token
      const int32_t* id = R.ids + (b * N + n) * R.top_k;
      const float* w = R.weights + (b * N + n) * R.top_k;
      const int32_t* id0 = R0.ids + (b * N + n) * R0.top_k;
      const float* w0 = R0.weights + (b * N + n) * R0.top_k;
      for (int j = 0; j < R.top_k; ++j) {
        if (id[j] < 0) continue;
        atomicAdd(&count[id[j]], 1);
        double g0 = 0;
        for (int j0 = 0; j0 < R0.top_k; ++j0) g0 += id0[j0] == id[j] ? double(w0[j0]) : 0.0;
        gate += (double(w[j]) - g0) * (double(w[j]) - g0);
      }
      for (int j0 = 0; j0 < R0.top_k; ++j0) {
        if (id0[j0] < 0) continue;
        atomicAdd(&count0[id0[j0]], 1);
        bool in_r = false;
        for (int j = 0; j < R.top_k; ++j) in_r |= id[j] == id0[j0];
        hits += in_r ? 1.0 : 0.0;
        if (!in_r) gate += double(w0[j0]) * double(w0[j0]);
      }
    }
    if (Y.data) {  // output loss: threads over (token, dimension)
      for (int64_t nd = t; nd < valid * Y.dim; nd += T) {
        const int64_t n = nd / Y.dim, d = nd % Y.dim;
        const float* y = Y.data + b * Y.stride_block + n * Y.stride_token + d;
        double mine = 0, base = 0;
        for (int j = 0; j < R.top_k; ++j) {
          const int32_t e = R.ids[(b * N + n) * R.top_k + j];
          if (e >= 0) mine += double(R.weights[(b * N + n) * R.top_k + j]) * double(y[e * Y.stride_expert]);
        }
        for (int j0 = 0; j0 < R0.top_k; ++j0) {
          const int32_t e = R0.ids[(b * N + n) * R0.top_k + j0];
          if (e >= 0) base += double(R0.weights[(b * N + n) * R0.top_k + j0]) * double(y[e * Y.stride_expert]);
        }
        num += (mine - base) * (mine - base);
        den += base * base;
      }
    }
    atomicAdd(&acc[0], hits);
    atomicAdd(&acc[1], gate);
    atomicAdd(&acc[2], num);
    atomicAdd(&acc[3], den);
    __syncthreads();
    if (t < 32) {  // unique experts, expected hits and the cosine, one warp
      double unique = 0, dot = 0, norm = 0, norm0 = 0, expected = 0;
      for (int i = t; i < M; i += 32) {
        const double c = count[i], c0 = count0[i];
        unique += c > 0 ? 1 : 0;
        dot += c * c0;
        norm += c * c;
        norm0 += c0 * c0;
        expected += c0;
      }
      for (int d = 16; d > 0; d >>= 1) {
        unique += __shfl_xor_sync(0xFFFFFFFFu, unique, d);
        dot += __shfl_xor_sync(0xFFFFFFFFu, dot, d);
        norm += __shfl_xor_sync(0xFFFFFFFFu, norm, d);
        norm0 += __shfl_xor_sync(0xFFFFFFFFu, norm0, d);
        expected += __shfl_xor_sync(0xFFFFFFFFu, expected, d);
      }
      if (t == 0) {
        double* o = out + b * kMetricFields;
        o[0] = unique;
        o[1] = R.coreset_size ? R.coreset_size[b] : 0;
        o[2] = coreroute::detail::topk_hit_rate(acc[0], expected);
        o[3] = coreroute::detail::gate_reconstruction_loss(acc[1], double(valid));
        o[4] = coreroute::detail::output_reconstruction_loss(Y.data != nullptr, acc[2], acc[3]);
        o[5] = coreroute::detail::hit_cosine(dot, norm, norm0);
        o[6] = unique * expert_bytes;
      }
    }
    __syncthreads();
  }
}

}  // namespace detail

/// Per-block metrics of R against R0 into out[B * 7] (BlockMetrics field order).
inline cudaError_t launch_metrics(int64_t B, int64_t N, int M, const DeviceRouting& R, const DeviceRouting& R0,
                                  double expert_bytes, const DeviceExpertOutputs* outputs, double* out,
                                  cudaStream_t stream = nullptr) {
  if (B == 0) return cudaSuccess;
  const size_t smem = ((size_t(2 * M) * 4 + 15) & ~size_t(15)) + 4 * sizeof(double);
  if (smem > 48 * 1024) {
    const cudaError_t e =
        cudaFuncSetAttribute(detail::metrics_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    if (e != cudaSuccess) return e;
  }
  const int grid = int(B < 65535 ? B : 65535);
  detail::metrics_kernel<<<grid, 256, smem, stream>>>(B, N, M, R, R0, expert_bytes,
                                                      outputs ? *outputs : DeviceExpertOutputs{}, out);
  return cudaGetLastError();
}

}  // namespace coreroute::cuda
