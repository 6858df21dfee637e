#pragma once
// The cuBLAS side of the comparison: the same SwiGLU expert layer through
// cublasGemmGroupedBatchedEx (bf16 in and out, fp32 accumulate), one group per used
// expert (plus the shared one). cuBLAS takes the group sizes as host arrays, so this
// path needs the layout's counts on the host (a device-to-host copy and a sync per
// layer in a real model; the benchmark times that copy apart) and a gather of the
// tokens' rows into expert order that the hand-written kernel does on the fly.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "expert_gemm.cuh"

namespace moe_bench {

/// Xg[a] = X[token[a]] for the block's assignments; pos[token * K + slot] = a.
__global__ void gather_rows_kernel(const bf16* x, const int32_t* offsets, const int32_t* token, const int32_t* slot,
                                   int M, int K, int H, bf16* xg, int32_t* pos) {
  const int a = int(blockIdx.x);
  if (a >= offsets[M]) return;
  const int n = token[a];
  if (threadIdx.x == 0) pos[n * K + slot[a]] = a;
  const uint4* src = reinterpret_cast<const uint4*>(x + int64_t(n) * H);
  uint4* dst = reinterpret_cast<uint4*>(xg + int64_t(a) * H);
  for (int i = int(threadIdx.x); i < H / 8; i += int(blockDim.x)) dst[i] = src[i];
}

/// Device pointer arrays of both grouped GEMMs, from the device layout and one layer's
/// weights: six arrays of `groups` pointers each, packed in `ptrs`.
struct GroupPointers {
  const bf16* w_gu;   // [M, 2I, H] routed gate/up of the layer
  const bf16* w_d;    // [M, H, I]
  const bf16* sh_gu;  // shared expert or null
  const bf16* sh_d;
  const bf16* x;   // [N, H]
  const bf16* xg;  // [N*K, H]
  bf16* h1;        // [N*K + N, 2I]
  bf16* act;       // [N*K + N, I]
  bf16* y;         // [N*K + N, H]
  int N, K, H, I;
};

__global__ void group_pointers_kernel(GroupPointers g, const int32_t* num_used, const int32_t* used,
                                      const int32_t* offsets, const void** ptrs, int stride) {
  const int u = int(threadIdx.x) + int(blockIdx.x) * int(blockDim.x);
  const int T = *num_used;
  const bool shared = u == T && g.sh_gu;
  if (u > T || (u == T && !shared)) return;
  const int64_t gu = int64_t(2) * g.I * g.H, d = int64_t(g.H) * g.I;
  const int row = shared ? g.N * g.K : offsets[u];
  ptrs[0 * stride + u] = shared ? g.sh_gu : g.w_gu + used[u] * gu;
  ptrs[1 * stride + u] = shared ? g.x : g.xg + int64_t(row) * g.H;
  ptrs[2 * stride + u] = g.h1 + int64_t(row) * 2 * g.I;
  ptrs[3 * stride + u] = shared ? g.sh_d : g.w_d + used[u] * d;
  ptrs[4 * stride + u] = g.act + int64_t(row) * g.I;
  ptrs[5 * stride + u] = g.y + int64_t(row) * g.H;
}

/// act[r, i] = silu(h1[r, i]) * h1[r, I + i] over the assignment rows and the shared rows.
__global__ void swiglu_rows_kernel(const bf16* h1, const int32_t* offsets, int M, int NK, int N, int I, bf16* act) {
  const int r = int(blockIdx.x);
  if (r >= offsets[M] && r < NK) return;
  if (r >= NK + N) return;
  for (int i = int(threadIdx.x); i < I; i += int(blockDim.x)) {
    const float gv = __bfloat162float(h1[int64_t(r) * 2 * I + i]);
    const float uv = __bfloat162float(h1[int64_t(r) * 2 * I + I + i]);
    act[int64_t(r) * I + i] = __float2bfloat16_rn(gv / (1.0f + __expf(-gv)) * uv);
  }
}

/// out[n] = sum_j w[n, j] * y[pos[n*K + j]] (+ y[N*K + n]); y in bf16.
__global__ void combine_bf16_kernel(const bf16* y, const int32_t* ids, const int32_t* pos, const float* weights, int N,
                                    int K, int H, bool shared, bf16* out) {
  const int n = int(blockIdx.x);
  for (int h = int(threadIdx.x) * 2; h < H; h += int(blockDim.x) * 2) {
    float2 s = make_float2(0.f, 0.f);
    if (shared) s = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(y + int64_t(N * K + n) * H + h));
    for (int j = 0; j < K; ++j) {
      if (ids[n * K + j] < 0) continue;
      const float w = weights[n * K + j];
      const float2 v =
          __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(y + int64_t(pos[n * K + j]) * H + h));
      s.x += w * v.x;
      s.y += w * v.y;
    }
    *reinterpret_cast<__nv_bfloat162*>(out + int64_t(n) * H + h) = __floats2bfloat162_rn(s.x, s.y);
  }
}

/// Host-side arguments of the two grouped GEMMs of one block (sizes per group).
struct GroupedShapes {
  int groups = 0;
  std::vector<cublasOperation_t> ta, tb;
  std::vector<int> m1, n1, k1, lda1, ldb1, ldc1, m2, n2, k2, lda2, ldb2, ldc2, size;
  std::vector<float> alpha, beta;

  /// counts: the T used experts' token counts (host copy of the layout).
  void build(const std::vector<int>& counts, bool shared, int N, int H, int I) {
    groups = int(counts.size()) + (shared ? 1 : 0);
    auto all = [&](std::vector<int>& v, int x) { v.assign(size_t(groups), x); };
    ta.assign(size_t(groups), CUBLAS_OP_T);
    tb.assign(size_t(groups), CUBLAS_OP_N);
    all(m1, 2 * I);
    all(k1, H);
    all(lda1, H);
    all(ldb1, H);
    all(ldc1, 2 * I);
    all(m2, H);
    all(k2, I);
    all(lda2, I);
    all(ldb2, I);
    all(ldc2, H);
    all(size, 1);
    n1 = counts;
    if (shared) n1.push_back(N);
    n2 = n1;
    alpha.assign(size_t(groups), 1.0f);
    beta.assign(size_t(groups), 0.0f);
  }
};

/// The two grouped GEMMs; `ptrs` as written by group_pointers_kernel (stride M + 1).
inline cublasStatus_t grouped_gemms(cublasHandle_t h, const GroupedShapes& s, void** ptrs, int stride) {
  const void* const* P = const_cast<const void* const*>(ptrs);
  cublasStatus_t st = cublasGemmGroupedBatchedEx(
      h, s.ta.data(), s.tb.data(), s.m1.data(), s.n1.data(), s.k1.data(), s.alpha.data(), P + 0 * stride, CUDA_R_16BF,
      s.lda1.data(), P + 1 * stride, CUDA_R_16BF, s.ldb1.data(), s.beta.data(), ptrs + 2 * stride, CUDA_R_16BF,
      s.ldc1.data(), s.groups, s.size.data(), CUBLAS_COMPUTE_32F);
  return st;
}

inline cublasStatus_t grouped_gemm_down(cublasHandle_t h, const GroupedShapes& s, void** ptrs, int stride) {
  const void* const* P = const_cast<const void* const*>(ptrs);
  return cublasGemmGroupedBatchedEx(h, s.ta.data(), s.tb.data(), s.m2.data(), s.n2.data(), s.k2.data(), s.alpha.data(),
                                    P + 3 * stride, CUDA_R_16BF, s.lda2.data(), P + 4 * stride, CUDA_R_16BF,
                                    s.ldb2.data(), s.beta.data(), ptrs + 5 * stride, CUDA_R_16BF, s.ldc2.data(),
                                    s.groups, s.size.data(), CUBLAS_COMPUTE_32F);
}

}  // namespace moe_bench
