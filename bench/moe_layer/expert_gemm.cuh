#pragma once
// The hand-written grouped expert GEMM of the MoE layer (bf16 in, fp32 accumulate,
// mma.sync m16n8k16 tensor-core instructions), driven by the routing's dispatch layout
// in device memory: no host synchronisation, no alignment pass, capturable in a graph.
//
// One launch covers every used expert of the block (and the shared expert, as one more
// work item). A work item is (expert u, a tile of output columns); CTAs walk the items
// grid-stride. The weights are streamed once per item through a 3-stage cp.async
// pipeline while the expert's few token rows (<= N) stay in shared memory beside them:
// at N = 32 the layer is bound by reading the weights, not by arithmetic.
//   SwiGLU pass: act[row, i] = silu(x W_gate[i]) * (x W_up[i]), rows gathered from X
//                by the layout's token list, written in assignment order.
//   Down pass:   y[token * K + slot, h] = w[token, slot] * (act[row] W_down[h]).
// A combine kernel then sums each token's K rows (fixed order: deterministic).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace moe_bench {

using bf16 = __nv_bfloat16;

struct ExpertGemmParams {
  const bf16* a = nullptr;         ///< activation rows (X [N, kdim] or act [N*K + N, kdim])
  bool gather = false;             ///< rows of routed experts come through token[] (the SwiGLU pass)
  const bf16* w = nullptr;         ///< [M, rows, kdim]: one layer's weights of every expert
  int64_t w_expert_stride = 0;     ///< elements between experts
  const bf16* w_shared = nullptr;  ///< the shared expert's [rows, kdim], or null
  int kdim = 0;                    ///< H (SwiGLU pass) or I (down pass); multiple of 64
  int inter = 0;                   ///< I: the up rows start at row I of an expert (SwiGLU pass)
  int col_tiles = 0;               ///< I / 32 (SwiGLU pass) or H / 64 (down pass)
  // The block's dispatch layout (device).
  const int32_t* num_used = nullptr;
  const int32_t* used_experts = nullptr;
  const int32_t* offsets = nullptr;
  const int32_t* token = nullptr;
  const int32_t* slot = nullptr;
  int tokens = 0, top_k = 0;       ///< N, K; rows N*K.. of act / y belong to the shared expert
  const float* weights = nullptr;  ///< routing weights [N, K] (down pass)
  bf16* act = nullptr;             ///< SwiGLU output [N*K + N, I]
  float* y = nullptr;              ///< down output [N*K + N, H]
  int out_cols = 0;                ///< H (down pass)
};

namespace detail {

constexpr int kWarps = 4, kThreads = kWarps * 32, kChunk = 64, kStages = 3, kTileRows = 64;

__device__ inline uint32_t smem_addr(const void* p) { return uint32_t(__cvta_generic_to_shared(p)); }

/// 16-byte async copy; src_bytes = 0 zero-fills (rows past the expert's count).
__device__ inline void cp_async16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes));
}
__device__ inline void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ inline void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ inline void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

__device__ inline void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/// Rows of 64 bf16 (eight 16-byte chunks); the chunk index is XOR-swizzled with the
/// row so that ldmatrix's eight rows at one chunk column hit eight different banks.
__device__ inline int swz(int row, int chunk) { return row * kChunk + ((chunk ^ (row & 7)) << 3); }

__device__ inline float silu(float v) { return v / (1.0f + __expf(-v)); }

}  // namespace detail

/// Shared memory of one CTA for MT 16-row tiles of tokens.
template <int MT>
constexpr size_t expert_gemm_smem() {
  return size_t(detail::kStages) * (detail::kTileRows + MT * 16) * detail::kChunk * sizeof(bf16) +
         size_t(MT) * 16 * (sizeof(int32_t) + sizeof(float));
}

/// MT: 16-row token tiles held per expert (ceil(N / 16), rounded up); SWIGLU: which pass.
template <int MT, bool SWIGLU>
__global__ void __launch_bounds__(detail::kThreads) expert_gemm_kernel(const ExpertGemmParams p) {
  using namespace detail;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* s_w = reinterpret_cast<bf16*>(smem_raw);                                  // [stages][64][64]
  bf16* s_a = s_w + kStages * kTileRows * kChunk;                                 // [stages][MT*16][64]
  int32_t* s_row = reinterpret_cast<int32_t*>(s_a + kStages * MT * 16 * kChunk);  // source / destination row
  float* s_scale = reinterpret_cast<float*>(s_row + MT * 16);

  const int tid = int(threadIdx.x), warp = tid >> 5, lane = tid & 31;
  const int used = *p.num_used;
  const int items = (used + (p.w_shared ? 1 : 0)) * p.col_tiles;
  const int nk = p.kdim / kChunk;
  const int assignments = p.tokens * p.top_k;

  for (int item = int(blockIdx.x); item < items; item += int(gridDim.x)) {
    const int u = item / p.col_tiles, tile = item % p.col_tiles;
    const bool shared = u == used;
    const bf16* w = shared ? p.w_shared : p.w + int64_t(p.used_experts[u]) * p.w_expert_stride;
    const int off = shared ? 0 : p.offsets[u];
    const int count = shared ? p.tokens : p.offsets[u + 1] - off;
    const int mtiles = (count + 15) >> 4;
    // SwiGLU pass: s_row = the source row of X (gathered); down pass: the destination
    // row of y and the routing weight that scales it.
    for (int r = tid; r < MT * 16; r += kThreads) {
      int row = -1;
      float scale = 1.0f;
      if (r < count && SWIGLU) row = shared ? r : (p.gather ? p.token[off + r] : off + r);
      if (r < count && !SWIGLU) {
        row = shared ? assignments + r : p.token[off + r] * p.top_k + p.slot[off + r];
        if (!shared) scale = p.weights[row];
      }
      s_row[r] = row;
      s_scale[r] = scale;
    }
    __syncthreads();

    // Weight row of shared-memory tile row s (warp s/16, fragment (s/8)&1, row s%8).
    auto w_row = [&](int s) -> int {
      if (SWIGLU) return ((s >> 3) & 1) * p.inter + tile * 32 + (s >> 4) * 8 + (s & 7);
      return tile * kTileRows + s;
    };
    auto a_row = [&](int r) -> int {
      if (SWIGLU) return s_row[r];
      return shared ? assignments + r : off + r;
    };
    auto load_stage = [&](int stage, int kt) {
      const int k0 = kt * kChunk;
      bf16* sw = s_w + stage * kTileRows * kChunk;
#pragma unroll
      for (int i = 0; i < kTileRows * 8 / kThreads; ++i) {
        const int c = tid + i * kThreads, row = c >> 3, ch = c & 7;
        cp_async16(sw + swz(row, ch), w + int64_t(w_row(row)) * p.kdim + k0 + ch * 8, 16);
      }
      bf16* sa = s_a + stage * MT * 16 * kChunk;
#pragma unroll
      for (int i = 0; i < MT; ++i) {
        const int c = tid + i * kThreads, row = c >> 3, ch = c & 7;
        if (row >= mtiles * 16) break;
        const bool real = row < count;
        const bf16* src = real ? p.a + int64_t(a_row(row)) * p.kdim + k0 + ch * 8 : p.a;
        cp_async16(sa + swz(row, ch), src, real ? 16 : 0);
      }
    };

    float acc[MT][2][4];
#pragma unroll
    for (int m = 0; m < MT; ++m)
#pragma unroll
      for (int f = 0; f < 2; ++f)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[m][f][e] = 0.0f;

#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < nk) load_stage(s, s);
      cp_async_commit();
    }
    for (int kt = 0; kt < nk; ++kt) {
      cp_async_wait<kStages - 2>();
      __syncthreads();
      const int next = kt + kStages - 1;
      if (next < nk) load_stage(next % kStages, next);
      cp_async_commit();
      const bf16* sw = s_w + (kt % kStages) * kTileRows * kChunk;
      const bf16* sa = s_a + (kt % kStages) * MT * 16 * kChunk;
#pragma unroll
      for (int ks = 0; ks < kChunk / 16; ++ks) {
        uint32_t b[4];
        const int q = lane >> 3;
        ldmatrix_x4(b, sw + swz((warp * 2 + (q >> 1)) * 8 + (lane & 7), ks * 2 + (q & 1)));
#pragma unroll
        for (int m = 0; m < MT; ++m) {
          if (m >= mtiles) break;
          uint32_t a[4];
          ldmatrix_x4(a, sa + swz(m * 16 + (lane & 15), ks * 2 + (lane >> 4)));
          mma_bf16(acc[m][0], a, b[0], b[1]);
          mma_bf16(acc[m][1], a, b[2], b[3]);
        }
      }
    }
    cp_async_wait<0>();

    // Epilogue: thread holds rows g, g+8 and columns 2t, 2t+1 of each 16x8 fragment.
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int m = 0; m < MT; ++m) {
      if (m >= mtiles) break;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = m * 16 + g + 8 * h;
        if (r >= count) continue;
        if (SWIGLU) {
          const int dst = shared ? assignments + r : off + r;
          const int col = tile * 32 + warp * 8 + 2 * t;
          const __nv_bfloat162 v = __floats2bfloat162_rn(silu(acc[m][0][2 * h]) * acc[m][1][2 * h],
                                                         silu(acc[m][0][2 * h + 1]) * acc[m][1][2 * h + 1]);
          *reinterpret_cast<__nv_bfloat162*>(p.act + int64_t(dst) * p.inter + col) = v;
        } else {
          const float sc = s_scale[r];
          float* yrow = p.y + int64_t(s_row[r]) * p.out_cols;
#pragma unroll
          for (int f = 0; f < 2; ++f) {
            const int col = tile * kTileRows + warp * 16 + f * 8 + 2 * t;
            *reinterpret_cast<float2*>(yrow + col) = make_float2(sc * acc[m][f][2 * h], sc * acc[m][f][2 * h + 1]);
          }
        }
      }
    }
    __syncthreads();  // shared memory is refilled by the next item
  }
}

/// out[n, :] = sum over real slots j of y[pos(n, j), :] * scale(n, j)  (+ y[N*K + n, :]
/// with a shared expert). pos = n*K + j unless `pos` is given; scale = 1 unless
/// `weights` is given (the hand-written path applies the weight in its epilogue).
__global__ void combine_kernel(const float* y, const int32_t* ids, const int32_t* pos, const float* weights, int N,
                               int K, int H, bool shared, bf16* out) {
  const int n = int(blockIdx.x);
  for (int h = int(threadIdx.x) * 4; h < H; h += int(blockDim.x) * 4) {
    float4 s = shared ? *reinterpret_cast<const float4*>(y + int64_t(N * K + n) * H + h) : make_float4(0, 0, 0, 0);
    for (int j = 0; j < K; ++j) {
      if (ids[n * K + j] < 0) continue;  // no row was written for an empty slot
      const int row = pos ? pos[n * K + j] : n * K + j;
      const float w = weights ? weights[n * K + j] : 1.0f;
      const float4 v = *reinterpret_cast<const float4*>(y + int64_t(row) * H + h);
      s.x += w * v.x;
      s.y += w * v.y;
      s.z += w * v.z;
      s.w += w * v.w;
    }
    __nv_bfloat162* o = reinterpret_cast<__nv_bfloat162*>(out + int64_t(n) * H + h);
    o[0] = __floats2bfloat162_rn(s.x, s.y);
    o[1] = __floats2bfloat162_rn(s.z, s.w);
  }
}

}  // namespace moe_bench
