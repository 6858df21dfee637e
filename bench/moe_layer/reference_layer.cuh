#pragma once
// The float reference of the expert layer: plain fp32 dot products, one warp per
// output, driven by the token-major routing (ids, weights) rather than the dispatch
// layout, so that a wrong layout cannot hide behind a reference that shares it.
// The intermediate activation stays in fp32 (the fast paths round it to bf16).
#include <cuda_bf16.h>

#include <cstdint>

namespace moe_bench {

__device__ inline float warp_dot(const __nv_bfloat16* a, const __nv_bfloat16* b, int len) {
  float s = 0.f;
  for (int k = int(threadIdx.x & 31); k < len; k += 32) s += __bfloat162float(a[k]) * __bfloat162float(b[k]);
  for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  return s;
}

/// ract[row, i], rows n*K + j (routed slot) and N*K + n (shared expert); one warp per i.
__global__ void reference_act_kernel(const __nv_bfloat16* x, const int32_t* ids, const __nv_bfloat16* w_gu,
                                     const __nv_bfloat16* sh_gu, int N, int K, int H, int I, float* ract) {
  const int row = int(blockIdx.x);
  const bool shared = row >= N * K;
  const int n = shared ? row - N * K : row / K;
  const int e = shared ? 0 : ids[row];
  if (e < 0) return;
  const __nv_bfloat16* w = shared ? sh_gu : w_gu + int64_t(e) * 2 * I * H;
  for (int i = int(threadIdx.x >> 5); i < I; i += int(blockDim.x >> 5)) {
    const float g = warp_dot(x + int64_t(n) * H, w + int64_t(i) * H, H);
    const float u = warp_dot(x + int64_t(n) * H, w + int64_t(I + i) * H, H);
    if ((threadIdx.x & 31) == 0) ract[int64_t(row) * I + i] = g / (1.0f + expf(-g)) * u;
  }
}

__device__ inline float warp_dot_f(const float* a, const __nv_bfloat16* b, int len) {
  float s = 0.f;
  for (int k = int(threadIdx.x & 31); k < len; k += 32) s += a[k] * __bfloat162float(b[k]);
  for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  return s;
}

/// ref[n, h] = sum_j w[n, j] * (ract[n*K + j] . W_down[e][h]) (+ the shared expert's).
__global__ void reference_out_kernel(const float* ract, const int32_t* ids, const float* weights,
                                     const __nv_bfloat16* w_d, const __nv_bfloat16* sh_d, int N, int K, int H, int I,
                                     float* ref) {
  const int n = int(blockIdx.x);
  for (int h = int(threadIdx.x >> 5); h < H; h += int(blockDim.x >> 5)) {
    float s = 0.f;
    for (int j = 0; j < K; ++j) {
      const int e = ids[n * K + j];
      if (e < 0) continue;
      s += weights[n * K + j] * warp_dot_f(ract + int64_t(n * K + j) * I, w_d + (int64_t(e) * H + h) * I, I);
    }
    if (sh_d) s += warp_dot_f(ract + int64_t(N * K + n) * I, sh_d + int64_t(h) * I, I);
    if ((threadIdx.x & 31) == 0) ref[int64_t(n) * H + h] = s;
  }
}

}  // namespace moe_bench
