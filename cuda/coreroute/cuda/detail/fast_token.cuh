#pragma once
// The fast path of one token's rankings (register rows, M <= 512): selection scores in
// float, ranked through 32-bit keys that a lane sorts once and the warp pops K + 1
// times, then a certificate that the float ranking is the double-precision one.
//
// Why it is exact. Every float r_f below is within E = 4.2e-7 + 6e-8 |r| of the
// double r: softmax s is the double s rounded once; sigmoid s = rcp_rn(1 + t) with
// t = __expf(-x) off by (2 + 1.17 |x|) ulp, which moves s by s (1 - s) times that,
// under 8e-8 for every x, plus two roundings. A key drops the 4 low bits of the value
// (another 2^-19 |r|). If each of the first `need` winners beats the next winner by
// more than tol = 4e-6 (1 + max|bias|) >= 2 E + 2^-19 |r|, the float order of the
// winners and the set beyond the boundary are the double order and set, so ids equal
// the double path's. Otherwise the caller reruns the token in double
// (route_kernel.cuh). Winners' s and r are then recomputed in double by the double
// path's own formulas: weights and votes are bit-identical to it. Group scores (sums
// of two r) are certified the same way with twice the tolerance.
#include <cmath>
#include <cstdint>

#include <coreroute/config.hpp>
#include <coreroute/cuda/detail/token.cuh>
#include <coreroute/cuda/detail/warp.cuh>
#include <coreroute/detail/ranking.hpp>
#include <coreroute/detail/scores.hpp>

namespace coreroute::cuda::detail {

/// Largest items per lane of the fast path: a key keeps 4 bits for the item.
inline constexpr int kFastMaxItems = 16;

/// Float s of the fast path; every caller uses these, so a recomputed r is bit-identical.
__device__ __forceinline__ float sigmoid_f(float x) { return __frcp_rn(1.0f + __expf(-x)); }
__device__ __forceinline__ float softmax_f(double e, double inv_sum) { return float(e * inv_sum); }

/// What recomputing one score needs: the row's softmax max and sum, as the double path.
struct FastStats {
  RowStats st;
  double inv_sum = 1.0;
  /// The winner's float r (for the certificate) and its double s, as RowStats makes it.
  __device__ float winner(float x, float b, double& s) const {
    s = st(x);
    if (st.score == ScoreFunction::sigmoid) return sigmoid_f(x) + b;
    return softmax_f(exp(double(x) - st.max), inv_sum) + b;
  }
};

/// The ordering tolerance of the certificate (see the header comment).
__device__ __forceinline__ float fast_tolerance(const float* bias, int M) {
  float b = 0.0f;
  for (int i = int(threadIdx.x & 31); bias && i < M; i += 32) b = fmaxf(b, fabsf(bias[i]));
  return 4e-6f * (1.0f + warp_max_float(b));
}

/// Float selection scores of one row and its stats. Returns false, in every lane, for
/// an invalid token (the double path then reports it).
template <int VPT, class T>
__device__ bool fast_scores(const T* row, int64_t stride_expert, const RouterParams& p, const float* bias,
                            float (&r)[VPT], FastStats& fs) {
  static_assert(VPT >= 1 && VPT <= kFastMaxItems, "a key holds the item index in 4 bits");
  const int M = p.num_experts, lane = int(threadIdx.x & 31);
  float x[VPT];
  bool bad = false;
  float mx = -INFINITY;
  const T* at = row + int64_t(lane) * stride_expert;
#pragma unroll
  for (int k = 0; k < VPT; ++k, at += 32 * stride_expert) {
    const int i = lane + 32 * k;
    x[k] = i < M ? to_float(*at) : -INFINITY;
    bad |= coreroute::detail::invalid_logit(x[k]);
    mx = fmaxf(mx, x[k]);
  }
  if (__any_sync(kFullMask, bad)) return false;
  fs.st.score = p.score;
  if (p.score == ScoreFunction::sigmoid) {  // two loops: one score function per row, no selects
#pragma unroll
    for (int k = 0; k < VPT; ++k) {
      const int i = lane + 32 * k;
      r[k] = sigmoid_f(x[k]) + (bias && i < M ? bias[i] : 0.0f);
    }
    return true;
  }
  const float m = warp_max_float(mx);  // softmax: max and sum exactly as score_row has them
  if (m == -INFINITY) return false;
  fs.st.max = double(m);
  double e[VPT], sum = 0.0;
#pragma unroll
  for (int k = 0; k < VPT; ++k) {
    e[k] = exp(double(x[k]) - fs.st.max);
    sum += e[k];
  }
  fs.st.sum = warp_sum(sum);
  fs.inv_sum = 1.0 / fs.st.sum;
#pragma unroll
  for (int k = 0; k < VPT; ++k) {
    const int i = lane + 32 * k;
    r[k] = softmax_f(e[k], fs.inv_sum) + (bias && i < M ? bias[i] : 0.0f);
  }
  return true;
}

/// A lane's sort key of item k: ordered value bits, the low 4 replaced by 15 - k, so a
/// larger key ranks first and equal values fall to the lower index. 0: not eligible.
__device__ __forceinline__ uint32_t fast_key(float r, int k) {
  return (coreroute::detail::ordered_bits(r) & ~0xFu) | uint32_t(15 - k);
}

/// Bitonic sort, largest first, of a lane's keys (unrolled: registers only).
template <int N>
__device__ __forceinline__ void sort_desc(uint32_t (&a)[N]) {
#pragma unroll
  for (int size = 2; size <= N; size <<= 1)
#pragma unroll
    for (int stride = size / 2; stride > 0; stride >>= 1)
#pragma unroll
      for (int i = 0; i < N; ++i) {
        const int j = i ^ stride;
        if (j > i) {
          const uint32_t hi = max(a[i], a[j]), lo = min(a[i], a[j]);
          const bool down = (i & size) == 0;
          a[i] = down ? hi : lo;
          a[j] = down ? lo : hi;
        }
      }
}

/// Sorts the lanes' keys and pops the warp's best `rounds` (<= 32) of them; lane j gets
/// the expert id of the j-th winner, or -1 when fewer were eligible.
template <int VPT>
__device__ int pop_best(uint32_t (&a)[VPT], int rounds) {
  sort_desc(a);
  const int lane = int(threadIdx.x & 31);
  int mine = -1;
  for (int j = 0; j < rounds; ++j) {
    const uint32_t win = warp_max_u32(a[0]);
    if (win == 0) break;
    const int from = __ffs(__ballot_sync(kFullMask, a[0] == win)) - 1;  // lowest lane: lowest index
    if (lane == j) mine = from + 32 * (15 - int(win & 0xFu));
    if (lane == from) {
#pragma unroll
      for (int q = 0; q + 1 < VPT; ++q) a[q] = a[q + 1];
      a[VPT - 1] = 0;
    }
  }
  return mine;
}

/// The certificate: lanes j < need hold winners (id >= 0, float r), lane `need` the
/// first loser; true when every winner beats the next entry by more than tol.
__device__ __forceinline__ bool certified(int id, float r, int need, float tol) {
  const int lane = int(threadIdx.x & 31);
  const float r_next = __shfl_down_sync(kFullMask, r, 1);
  const int id_next = __shfl_down_sync(kFullMask, id, 1);
  const bool ok = lane >= need || id < 0 || id_next < 0 || double(r) - double(r_next) > double(tol);
  return __all_sync(kFullMask, ok);
}

/// Stage 2 group limit on float scores: the `topk_group` best groups as a bitmask, or
/// false when the boundary between the last chosen and the first other group is too
/// close to certify (a group's score is within 2 E of the double one). `r_row` is this
/// warp's row of M floats in shared memory holding r where eligible, -Inf elsewhere.
/// A group's score is the sum of its two largest values, whichever experts hold them.
__device__ inline bool fast_groups(const float* r_row, const RouterParams& p, float tol, uint64_t& selected) {
  const int M = p.num_experts, G = p.groups.n_group, per = M / G, lane = int(threadIdx.x & 31);
  const int lanes = G <= 32 ? 1 << (31 - __clz(32 / G)) : 1;  // lanes per group, a power of 2
  uint64_t gk[2] = {0, 0};
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int g = G <= 32 ? lane / lanes : lane + 32 * h, part = G <= 32 ? lane % lanes : 0;
    float v1 = -INFINITY, v2 = -INFINITY;  // the two largest, -Inf while absent
    if (g < G && (h == 0 || G > 32))
      for (int i = g * per + part; i < (g + 1) * per; i += lanes) {
        const float v = r_row[i];
        v2 = fmaxf(v2, fminf(v1, v));
        v1 = fmaxf(v1, v);
      }
    for (int d = 1; d < lanes; d <<= 1) {
      const float w1 = __shfl_xor_sync(kFullMask, v1, d), w2 = __shfl_xor_sync(kFullMask, v2, d);
      v2 = fmaxf(fmaxf(v2, w2), fminf(v1, w1));
      v1 = fmaxf(v1, w1);
    }
    if (g < G && part == 0 && (h == 0 || G > 32)) {
      const bool valid = v2 != -INFINITY;  // invalid groups (< 2 eligible): value bits 0, below all, by id
      const float score = valid ? float(double(v1) + double(v2)) : 0.0f;
      gk[h] = (valid ? uint64_t(coreroute::detail::ordered_bits(score)) << 32 : 0) | (0xFFFFFFFFu - uint32_t(g));
    }
  }
  __syncwarp();  // the row is rewritten by the next token
  if (gk[0] < gk[1]) { const uint64_t t = gk[0]; gk[0] = gk[1]; gk[1] = t; }
  selected = 0;
  uint64_t last = 0, next = 0;
  for (int q = 0; q <= p.groups.topk_group; ++q) {
    const uint64_t win = warp_max_key(gk[0]);
    if (win == 0) break;
    if (gk[0] == win) { gk[0] = gk[1]; gk[1] = 0; }
    if (q < p.groups.topk_group) { selected |= 1ull << coreroute::detail::key_index(win); last = win; }
    else next = win;
  }
  if (next >> 32 == 0) return true;  // no valid group beyond the boundary: discrete
  const double a = coreroute::detail::key_value(last), b = coreroute::detail::key_value(next);
  return a - b > 2.0 * double(tol) + 1.2e-7 * fmax(fabs(a), fabs(b));
}

}  // namespace coreroute::cuda::detail
