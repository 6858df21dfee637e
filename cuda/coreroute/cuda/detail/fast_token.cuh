#pragma once
// The fast path of one token's rankings (register rows, M <= 512): selection scores in
// float, ranked through 32-bit keys that a lane sorts once and the warp pops K + 1
// times, then a certificate that the float ranking is the double-precision one.
//
// Why it is exact. Every float r_f below is within E = 4.2e-7 + 6e-8 |r| of the
// double r: softmax s is the double s rounded once; sigmoid s = rcp(1 + t) with
// t = ex2(-x log2 e), both the hardware's flush-to-zero approximations: t is off by
// at most 2 ulp plus |x| 2^-23 relative (the rounded argument), which moves s by
// s (1 - s) times that, under 8e-8 for every x; rounding 1 + t and the reciprocal's
// 1 ulp add 1.8e-7, the bias add another rounding (6e-8 |r|). A key drops the 4 low
// bits of the value (another 2^-19 |r|). If each of the first `need` winners beats
// the next winner by more than tol = 4e-6 (1 + max|bias|) >= 2 E + 2^-19 |r|, the
// float order of the winners and the set beyond the boundary are the double order
// and set, so ids equal the double path's. Otherwise the caller reruns the token in
// double (route_kernel.cuh). Winners' s and r are then recomputed in double by the
// double path's own formulas: weights and votes are bit-identical to it. Group scores
// are certified the same way: sums of two r with twice the tolerance, a group with one
// eligible expert by its r with tol, and the tiers (how many eligible) are exact.
#include <cmath>
#include <cstdint>

#include <coreroute/config.hpp>
#include <coreroute/cuda/detail/token.cuh>
#include <coreroute/cuda/detail/warp.cuh>
#include <coreroute/detail/groups.hpp>
#include <coreroute/detail/ranking.hpp>
#include <coreroute/detail/scores.hpp>

namespace coreroute::cuda::detail {

/// Largest items per lane of the fast path: a key keeps 4 bits for the item.
inline constexpr int kFastMaxItems = 16;

/// Float s of the fast path; every caller uses these, so a recomputed r is bit-identical.
__device__ __forceinline__ float sigmoid_f(float x) {
  float t, s;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(t) : "f"(x * -1.4426950408889634f));
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(s) : "f"(1.0f + t));
  return s;
}
__device__ __forceinline__ float softmax_f(double e, double inv_sum) { return float(e * inv_sum); }

/// What recomputing one score needs: the row's softmax max and sum, as the double path.
struct FastStats {
  RowStats st;
  double inv_sum = 1.0;
  /// The winner's float r (for the certificate) and its double s, as RowStats makes it.
  __device__ float winner(float x, float b, double& s) const {
    if (st.score == ScoreFunction::sigmoid) {
      s = st(x);
      return sigmoid_f(x) + b;
    }
    const double e = exp(double(x) - st.max);  // RowStats' expression: the same s, one exp
    s = e / st.sum;
    return softmax_f(e, inv_sum) + b;
  }
  /// The float s of logit x, bit for bit the one fast_keys computes.
  __device__ float score(float x) const {
    return st.score == ScoreFunction::sigmoid ? sigmoid_f(x) : softmax_f(exp(double(x) - st.max), inv_sum);
  }
};

/// The ordering tolerance of the certificate (see the header comment).
__device__ __forceinline__ float fast_tolerance(const float* bias, int M) {
  float b = 0.0f;
  for (int i = int(threadIdx.x & 31); bias && i < M; i += 32) b = fmaxf(b, fabsf(bias[i]));
  return 4e-6f * (1.0f + warp_max_float(b));
}

/// A lane's sort key of item k: ordered value bits, the low 4 replaced by 15 - k, so a
/// larger key ranks first and equal values fall to the lower index. 0: not eligible.
__device__ __forceinline__ uint32_t fast_key(float r, int k) {
  return (coreroute::detail::ordered_bits(r) & ~0xFu) | uint32_t(15 - k);
}

/// Sort keys of one row's float selection scores r (for the `items` bits of this lane,
/// a subset of the row's; the others get 0) and the row's stats. `bias` is the shared copy,
/// padded_row(M) floats (zero padded): where 32 * VPT > padded_row(M) the last items read past
/// it, into the next array of the CTA's storage (layout.cuh), for experts >= M, which are
/// never in `items`: their key is 0 and r_row -Inf whatever they read.
/// Where `r_row` is given, r goes there too (-Inf outside `items`), for the group limit.
/// Returns false, in every lane, for an invalid token (the double path reports it).
template <int VPT, class T>
__device__ bool fast_keys(const T* row, int64_t stride_expert, const RouterParams& p, const float* bias, uint32_t items,
                          float* r_row, uint32_t (&key)[VPT], FastStats& fs) {
  static_assert(VPT >= 1 && VPT <= kFastMaxItems, "a key holds the item index in 4 bits");
  const int M = p.num_experts, lane = int(threadIdx.x & 31);
  float x[VPT];
  bool bad = false;
  float mx = -INFINITY;
  const T* at = row + int64_t(lane) * stride_expert;
#pragma unroll
  for (int k = 0; k < VPT; ++k, at += 32 * stride_expert) {
    x[k] = lane + 32 * k < M ? to_float(*at) : -INFINITY;  // every logit counts, not only `items`
    bad |= coreroute::detail::invalid_logit(x[k]);
    mx = fmaxf(mx, x[k]);
  }
  if (__any_sync(kFullMask, bad)) return false;
  fs.st.score = p.score;
  auto finish = [&](int k, float r) {
    key[k] = (items >> k) & 1u ? fast_key(r, k) : 0u;
    if (r_row) r_row[lane + 32 * k] = (items >> k) & 1u ? r : -INFINITY;
  };
  if (p.score == ScoreFunction::sigmoid) {  // two loops: one score function per row, no selects
#pragma unroll
    for (int k = 0; k < VPT; ++k) finish(k, sigmoid_f(x[k]) + (bias ? bias[lane + 32 * k] : 0.0f));
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
  for (int k = 0; k < VPT; ++k) finish(k, softmax_f(e[k], fs.inv_sum) + (bias ? bias[lane + 32 * k] : 0.0f));
  return true;
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
/// the expert id of the j-th winner, or -1 when fewer were eligible. Once the keys run
/// out every lane holds 0 and lane 0 pops zeros: no branch per round.
template <int VPT>
__device__ int pop_best(uint32_t (&a)[VPT], int rounds) {
  sort_desc(a);
  const int lane = int(threadIdx.x & 31);
  int mine = -1;
  for (int j = 0; j < rounds; ++j) {
    const uint32_t win = warp_max_u32(a[0]);
    const int from = __ffs(__ballot_sync(kFullMask, a[0] == win)) - 1;  // lowest lane: lowest index
    if (lane == j && win) mine = from + 32 * (15 - int(win & 0xFu));
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

/// This lane's share of the group limit, fixed for a kernel (no division per token):
/// each of the n_group <= 32 groups gets `step` lanes (a power of 2); this lane scans
/// r_row[lo, hi) by `step`, and the group's first lane (`leader`) holds its score.
struct GroupLane {
  int lo = 0, hi = 0, step = 1, shift = 0, per = 1;
  bool leader = false;
};

__device__ inline GroupLane group_lane(const RouterParams& p) {
  GroupLane gl;
  const int G = p.groups.n_group, lane = int(threadIdx.x & 31);
  if (!p.groups.enabled() || G > 32) return gl;
  gl.shift = 31 - __clz(32 / G);
  gl.step = 1 << gl.shift;
  gl.per = p.num_experts / G;
  const int g = lane >> gl.shift, part = lane & (gl.step - 1);
  gl.leader = g < G && part == 0;
  gl.lo = g < G ? g * gl.per + part : 0;
  gl.hi = g < G ? (g + 1) * gl.per : 0;
  return gl;
}

/// The float of ordered bits (coreroute::detail::ordered_bits' inverse).
__device__ __forceinline__ float from_ordered(uint32_t bits) {
  return coreroute::detail::key_value(uint64_t(bits) << 32);
}

/// The `topk_group` best groups as bits (bit g) from their keys: lane g << shift holds
/// group g's (fast_group_key), other lanes 0; equal keys go to the lowest lane, the lowest
/// group. False when the boundary between the last chosen and the first other group
/// is too close to certify. Tiers (eligible counts) are exact, so a boundary between
/// tiers, or between empty groups (ordered by id), is certain; between groups of two
/// it compares sums of two r (each within 2 E of the double one), between groups of
/// one a single r (within E, as a top-K boundary: tol).
__device__ inline bool pick_groups(uint64_t v, int topk_group, int shift, float tol, uint32_t& chosen) {
  const int lane = int(threadIdx.x & 31);
  uint64_t last = 0, next = 0;
  chosen = 0;
  for (int q = 0; q <= topk_group; ++q) {
    const uint64_t win = warp_max_key(v);
    const int from = __ffs(__ballot_sync(kFullMask, v == win)) - 1;
    if (lane == from) v = 0;
    if (q == topk_group) {
      next = win;
      break;
    }
    last = win;
    chosen |= 1u << (from >> shift);
  }
  const int tier = coreroute::detail::fast_group_tier(next);
  if (tier == 0 || tier != coreroute::detail::fast_group_tier(last)) return true;  // discrete
  const double a = from_ordered(uint32_t(last)), b = from_ordered(uint32_t(next));
  return tier == 1 ? a - b > double(tol) : a - b > 2.0 * double(tol) + 1.2e-7 * fmax(fabs(a), fabs(b));
}

/// Stage 2 group limit on a row's float scores: `chosen` gets the `topk_group`
/// best groups (bit g). False where pick_groups cannot certify the choice, or n_group > 32
/// (then the double path ranks the groups). `r_row`: this warp's M floats in shared memory,
/// r where eligible, -Inf elsewhere. A group ranks by its tier, then the sum of its two
/// largest values (tier 2) or its one value (tier 1).
__device__ inline bool fast_groups(const float* r_row, const RouterParams& p, const GroupLane& gl, float tol,
                                   uint32_t& chosen) {
  if (p.groups.n_group > 32) return false;
  float v1 = -INFINITY, v2 = -INFINITY;  // the two largest, -Inf while absent
  for (int i = gl.lo; i < gl.hi; i += gl.step) coreroute::detail::keep_two_largest(v1, v2, r_row[i]);
  for (int d = 1; d < gl.step; d <<= 1) {
    const float w1 = __shfl_xor_sync(kFullMask, v1, d), w2 = __shfl_xor_sync(kFullMask, v2, d);
    coreroute::detail::merge_two_largest(v1, v2, w1, w2);
  }
  __syncwarp();  // the row is rewritten by the next token
  const uint64_t key = gl.leader ? coreroute::detail::fast_group_key(v1, v2, p.groups.group_score) : 0u;
  return pick_groups(key, p.groups.topk_group, gl.shift, tol, chosen);
}

}  // namespace coreroute::cuda::detail
