#pragma once
// One token's row, held by one warp: expert i lives in lane i % 32, item i / 32.
// Row<VPT> keeps VPT items per lane in registers (M <= 32 * VPT); Row<0> keeps them
// in a per-warp slice of shared memory (the general path, any M). This is the double
// path, as in the reference: in plain float, exp(-200) underflows to 0 and s + bias
// cancels, so float alone cannot keep the order docs/spec.md section 7 asks for. Register rows
// try fast_token.cuh's certified float ranking first and fall back to this.
#include <cmath>
#include <cstdint>

#include <coreroute/config.hpp>
#include <coreroute/cuda/detail/warp.cuh>
#include <coreroute/detail/ranking.hpp>
#include <coreroute/detail/scores.hpp>

namespace coreroute::cuda::detail {

using coreroute::detail::WideKey;

template <int VPT>
struct Row {
  static constexpr bool in_registers = true;
  double v[VPT];
  __device__ explicit Row(double*) {}
  __device__ static constexpr int count(int) { return VPT; }
  __device__ double& operator[](int k) { return v[k]; }
  __device__ double operator[](int k) const { return v[k]; }
};

template <>
struct Row<0> {
  static constexpr bool in_registers = false;
  double* v;  // this lane's first item; item k at v[32 k]
  __device__ explicit Row(double* warp_row) : v(warp_row + (threadIdx.x & 31)) {}
  __device__ static int count(int M) { return (M + 31) / 32; }
  __device__ double& operator[](int k) { return v[32 * k]; }
  __device__ double operator[](int k) const { return v[32 * k]; }
};

/// What the score of one more logit of the row needs: its max and sum (softmax).
struct RowStats {
  ScoreFunction score = ScoreFunction::softmax;
  double max = 0.0, sum = 1.0;
  /// s of logit x, bit for bit the value score_row computed for it.
  __device__ double operator()(float x) const {
    return score == ScoreFunction::sigmoid ? 1.0 / (1.0 + exp(-double(x))) : exp(double(x) - max) / sum;
  }
};

/// What Stage 2 keeps of a row Stage 1 scored: (max, sum) of RowStats; sum 0 marks an
/// invalid token (a valid row's sum is >= 1: its maximum contributes exp(0)).
__device__ inline double2 token_stat(const RowStats& st) { return double2{st.max, st.sum}; }

/// Scores s of one token row (upcast on load). Returns false, in every lane, for an
/// invalid token: a NaN or +Inf logit, or a softmax row of all -Inf (docs/spec.md section 6).
template <class RowT, class T>
__device__ bool score_row(const T* row, int64_t stride_expert, const RouterParams& p, RowT& s, RowStats& st) {
  const int M = p.num_experts, lane = int(threadIdx.x & 31);
  bool bad = false;
  float mx = -INFINITY;
#pragma unroll
  for (int k = 0; k < RowT::count(M); ++k) {
    const int i = lane + 32 * k;
    const float x = i < M ? to_float(row[int64_t(i) * stride_expert]) : -INFINITY;
    bad |= coreroute::detail::invalid_logit(x);
    mx = fmaxf(mx, x);
    s[k] = x;
  }
  if (__any_sync(kFullMask, bad)) return false;
  st.score = p.score;
  if (p.score == ScoreFunction::sigmoid) {
#pragma unroll
    for (int k = 0; k < RowT::count(M); ++k) s[k] = st(float(s[k]));  // padding: -Inf -> 0
    return true;
  }
  const float m = warp_max_float(mx);
  if (m == -INFINITY) return false;
  st.max = double(m);
  double sum = 0.0;
#pragma unroll
  for (int k = 0; k < RowT::count(M); ++k) {
    const double e = exp(s[k] - st.max);  // padding: exp(-Inf) = 0
    s[k] = e;
    sum += e;
  }
  st.sum = warp_sum(sum);
#pragma unroll
  for (int k = 0; k < RowT::count(M); ++k) s[k] = s[k] / st.sum;
  return true;
}

/// r = s + bias, the selection score (bias from shared memory, or none).
template <class RowT>
__device__ void selection_scores(const RowT& s, const float* bias, int M, RowT& r) {
  const int lane = int(threadIdx.x & 31);
#pragma unroll
  for (int k = 0; k < RowT::count(M); ++k) {
    const int i = lane + 32 * k;
    r[k] = s[k] + double(bias && i < M ? bias[i] : 0.0f);
  }
}

/// A key larger than every real one: where a top-K walk starts.
__device__ __forceinline__ WideKey top_key() { return {~0ull, 0xFFFFFFFFu}; }

/// The warp's next top-K element: the largest rank key below `prev` among eligible
/// experts (eligible(k, i) for this lane's item k, expert i). Returns an empty key
/// (value 0) when none is left; `s_of` receives the winner's unbiased s, in every lane.
template <class RowT, class Eligible>
__device__ WideKey next_best(const RowT& s, const RowT& r, int M, WideKey prev, Eligible eligible, double& s_of) {
  const int lane = int(threadIdx.x & 31);
  WideKey best;
  double best_s = 0.0;
#pragma unroll
  for (int k = 0; k < RowT::count(M); ++k) {
    const int i = lane + 32 * k;
    if (i < M && eligible(k, i)) {
      const WideKey key = coreroute::detail::wide_key(r[k], i);
      if (coreroute::detail::key_less(key, prev) && coreroute::detail::key_less(best, key)) {
        best = key;
        best_s = s[k];
      }
    }
  }
  const WideKey win = warp_max_key(best);
  s_of = __shfl_sync(kFullMask, best_s, win.value ? coreroute::detail::key_index(win) & 31 : 0);
  return win;
}

}  // namespace coreroute::cuda::detail
