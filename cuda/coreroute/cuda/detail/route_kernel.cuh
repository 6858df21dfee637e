#pragma once
// The fused routing kernel: one CTA per block of tokens (grid-stride over blocks), or,
// for a few blocks, one cluster of CTAs per block whose lead CTA ranks the coreset; one
// warp per token (docs/performance.md, "The kernel's design"). Logits -> scores -> each
// token's local top-k -> votes -> the coreset (any policy of the policy concept) -> group
// selection -> constrained top-K -> weights, and optionally the dispatch layout, in one
// pass over global memory (Stage 2 re-reads the block's logits, which are then in L1/L2;
// of a coreset of at most 64 experts it reads only the coreset's, with the row stats
// Stage 1 kept). Each token's ranking is tried in certified float first (fast_token.cuh),
// else done in double (token.cuh).
#include <cstdint>
#include <type_traits>

#include <coreroute/config.hpp>
#include <coreroute/cuda/detail/fast_token.cuh>
#include <coreroute/cuda/detail/layout.cuh>
#include <coreroute/cuda/detail/token.cuh>
#include <coreroute/cuda/detail/tuning.cuh>
#include <coreroute/cuda/detail/warp.cuh>
#include <coreroute/cuda/outputs.cuh>
#include <coreroute/detail/groups.hpp>
#include <coreroute/detail/ranking.hpp>
#include <coreroute/detail/weights.hpp>
#include <coreroute/policies.hpp>
#include <coreroute/views.hpp>

namespace coreroute::cuda::detail {

using coreroute::detail::GroupKey;
using coreroute::detail::key_index;
using coreroute::detail::key_less;
using coreroute::detail::key_value;
using coreroute::detail::ranks_before;
using coreroute::detail::wide_key;

/// One more vote into an expert's slot of a vote row, by the policy's aggregation.
template <class Policy>
__device__ __forceinline__ void cast_vote(double& slot, double vote) {
  slot = coreroute::detail::add_vote(vote_aggregation_v<Policy>, slot, vote);
}

/// This lane's items inside a row of M experts, as bits (item k: expert lane + 32 k).
template <int VPT>
__device__ uint32_t row_items(int M) {
  uint32_t items = 0;
#pragma unroll
  for (int k = 0; k < VPT; ++k) items |= int(threadIdx.x & 31) + 32 * k < M ? 1u << k : 0u;
  return items;
}

/// Stage 1 of one token on the fast path (fast_token.cuh): lane j < kq gets the j-th
/// winner's expert id (-1: none) and its vote; `stat`, where given, the row's stats
/// ({0, 0}: an invalid token). `items`: this lane's items inside the row. False where the
/// token needs the double path (its stats are written all the same: the double path's).
template <int VPT, class T, class Policy>
__device__ bool fast_votes(const T* row, int64_t stride_expert, const RouterParams& p, const float* bias,
                           uint32_t items, const Policy& pol, int kq, float tol, double2* stat, int& id, double& vote) {
  const int lane = int(threadIdx.x & 31);
  uint32_t key[VPT];
  FastStats fs;
  const bool scored = fast_keys<VPT>(row, stride_expert, p, bias, items, nullptr, key, fs);
  if (stat && lane == 0) *stat = scored ? token_stat(fs.st) : double2{0.0, 0.0};
  if (!scored) return false;
  id = pop_best(key, kq + 1);
  const float b = id >= 0 && bias ? bias[id] : 0.0f;
  double s = 0.0;
  const float r_win = id >= 0 ? fs.winner(to_float(row[int64_t(id) * stride_expert]), b, s) : 0.0f;
  if (!certified(id, r_win, kq, tol)) return false;
  vote = lane < kq && id >= 0 ? pol.vote(s + double(b), lane) : 0.0;  // the double path's r
  return true;
}

/// The ids and weights of one token from its winners (lane j < K: the j-th winner's
/// expert id or -1, its float r and double s; lane K: the first loser), as
/// route_token_exact writes them, once the certificate holds; false otherwise.
__device__ inline bool fast_finish(int id, float r_win, double s, const RouterParams& p, float tol, int32_t* ids,
                                   float* wts) {
  const int K = p.top_k, lane = int(threadIdx.x & 31);
  if (!certified(id, r_win, K, tol)) return false;
  const bool mine = lane < K && id >= 0;
  if (!mine) s = 0.0;
  const int got = __popc(__ballot_sync(kFullMask, mine));
  double sum = 0.0;  // in slot order, as the double path
  for (int j = 0; j < got; ++j) sum += __shfl_sync(kFullMask, s, j);
  if (lane < K) {
    ids[lane] = mine ? id : -1;
    wts[lane] = mine ? float(coreroute::detail::token_weight(s, sum, p)) : 0.0f;
  }
  return true;
}

/// Stage 2's items of a lane on the fast path: the whole row (item k: expert lane + 32 k,
/// ranked where in the coreset), its softmax stats computed from the row's logits.
template <int VPT>
struct RowItems {
  uint32_t in_core = 0;  ///< the items in the coreset, as bits
  static constexpr int count = VPT;
  /// fast_keys: r goes to `r_row` (for the group limit), not to `r`.
  template <class T>
  __device__ bool keys(const T* row, int64_t stride_expert, const RouterParams& p, const float* bias, float* r_row,
                       float (&)[VPT], uint32_t (&key)[VPT], FastStats& fs) const {
    return fast_keys<VPT>(row, stride_expert, p, bias, in_core, r_row, key, fs);
  }
  /// The group limit from the row: fast_groups.
  __device__ bool choose_groups(const float (&)[VPT], float* r_row, const RouterParams& p, const GroupLane& gl,
                                float tol, uint32_t& chosen) const {
    __syncwarp();  // every lane's r in r_row
    return fast_groups(r_row, p, gl, tol, chosen);
  }
  /// The items inside the chosen groups (bit g), as bits.
  __device__ uint32_t in_groups(uint32_t chosen, const GroupLane& gl) const {
    const int lane = int(threadIdx.x & 31);
    uint32_t in = 0;
    for (uint32_t c = chosen; c; c &= c - 1) {
      // The chosen group g's experts [g per, (g + 1) per) are this lane's items [k_lo, k_hi).
      const int g = __ffs(c) - 1, k_lo = (g * gl.per - lane + 31) >> 5, k_hi = ((g + 1) * gl.per - lane + 31) >> 5;
      in |= (1u << k_hi) - (1u << k_lo);
    }
    return in;
  }
  __device__ int expert(int q) const { return q; }
};

/// Stage 2's items of a lane on the fast path for a coreset of at most 32 CV experts, when
/// Stage 1 kept each token's row stats: item c is the coreset's (lane + 32 c)-th expert by id
/// (-1 past its end), so only the coreset's logits are read; ranked by coreset position,
/// which is expert order, the results equal RowItems' bit for bit.
template <int CV>
struct CoreItems {
  int e[CV];
  float b[CV];
  int g[CV];
  const int* list;  ///< the coreset's experts in id order
  static constexpr int count = CV;
  __device__ CoreItems(const int* core_list, int size, const float* bias, const RouterParams& p) : list(core_list) {
    const int lane = int(threadIdx.x & 31), per = p.groups.enabled() ? p.num_experts / p.groups.n_group : 1;
#pragma unroll
    for (int c = 0; c < CV; ++c) {
      const int q = lane + 32 * c;
      e[c] = q < size ? core_list[q] : -1;
      b[c] = e[c] >= 0 && bias ? bias[e[c]] : 0.0f;
      g[c] = e[c] >= 0 ? e[c] / per : 0;
    }
  }
  /// As fast_keys, with `fs` given; r stays in registers (`r`).
  template <class T>
  __device__ bool keys(const T* row, int64_t stride_expert, const RouterParams&, const float*, float*, float (&r)[CV],
                       uint32_t (&key)[CV], const FastStats& fs) const {
#pragma unroll
    for (int c = 0; c < CV; ++c) {
      r[c] = e[c] >= 0 ? fs.score(to_float(row[int64_t(e[c]) * stride_expert])) + b[c] : -INFINITY;
      key[c] = e[c] >= 0 ? fast_key(r[c], c) : 0u;
    }
    return true;
  }
  /// The group limit, as fast_groups chooses it from the row: each group's two largest r
  /// among the coreset's experts, kept by shared-memory atomics on ordered bits (the
  /// maximum, and the maximum of min(displaced, new), which is exactly the second largest
  /// whatever the order of the updates; a slot stays 0 while its group has no such expert,
  /// read as -Inf: the key's tier), ranked and certified by pick_groups. The warp's row
  /// memory holds the 64 slots.
  __device__ bool choose_groups(const float (&r)[CV], float* r_row, const RouterParams& p, const GroupLane&, float tol,
                                uint32_t& chosen) const {
    const int G = p.groups.n_group, lane = int(threadIdx.x & 31);
    if (G > 32) return false;
    uint32_t* slots = reinterpret_cast<uint32_t*>(r_row);  // group g: largest at [g], second at [32 + g]
    slots[lane] = slots[lane + 32] = 0u;
    __syncwarp();
#pragma unroll
    for (int c = 0; c < CV; ++c)
      if (e[c] >= 0) {
        const uint32_t k = coreroute::detail::ordered_bits(r[c]);  // > 0 for every float
        const uint32_t old = atomicMax(&slots[g[c]], k);
        atomicMax(&slots[32 + g[c]], min(old, k));
      }
    __syncwarp();
    const uint32_t b1 = slots[lane], b2 = slots[lane + 32];  // b2 = 0: fewer than two; b1 = 0: none
    __syncwarp();                                            // the slots are cleared by the next token
    const float v1 = b1 ? from_ordered(b1) : -INFINITY, v2 = b2 ? from_ordered(b2) : -INFINITY;
    const uint64_t v = lane < G ? coreroute::detail::fast_group_key(v1, v2, p.groups.group_score) : 0u;
    return pick_groups(v, p.groups.topk_group, 0, tol, chosen);
  }
  __device__ uint32_t in_groups(uint32_t chosen, const GroupLane&) const {
    uint32_t in = 0;
#pragma unroll
    for (int c = 0; c < CV; ++c) in |= ((chosen >> g[c]) & 1u) << c;
    return in;
  }
  __device__ int expert(int q) const { return list[q]; }
};

/// Stage 2 of one valid token on the fast path: its `items` ranked in float (within the
/// group limit), ids and weights as route_token_exact writes them once the certificate
/// holds; false otherwise. `r_row`: the warp's M floats for the group limit (the items'
/// choose_groups: the one rule of coreroute/detail/groups.hpp, certified by pick_groups).
/// `fs`: the row's stats where the items do not compute them (CoreItems).
template <class T, class Items>
__device__ bool fast_route(const T* row, int64_t stride_expert, const RouterParams& p, const float* bias,
                           const Items& items, FastStats fs, const GroupLane& gl, float* r_row, float tol, int32_t* ids,
                           float* wts) {
  const bool groups = p.groups.enabled();
  uint32_t key[Items::count];
  float r[Items::count];  // CoreItems' selection scores (RowItems' go to r_row)
  if (!items.keys(row, stride_expert, p, bias, groups ? r_row : nullptr, r, key, fs)) return false;
  if (groups) {
    uint32_t chosen = 0;
    if (!items.choose_groups(r, r_row, p, gl, tol, chosen)) return false;
    const uint32_t in = items.in_groups(chosen, gl);
#pragma unroll
    for (int k = 0; k < Items::count; ++k) key[k] = (in >> k) & 1u ? key[k] : 0u;
  }
  const int q = pop_best(key, p.top_k + 1);
  const int id = q >= 0 ? items.expert(q) : -1;
  double s = 0.0;
  const float r_win = id >= 0 ? fs.winner(to_float(row[int64_t(id) * stride_expert]), bias ? bias[id] : 0.0f, s) : 0.0f;
  return fast_finish(id, r_win, s, p, tol, ids, wts);
}

/// Stage 1 of one token in double (the fast path's fallback, and rows beyond it).
/// Not inlined: its register rows would otherwise crowd the fast path's registers.
template <int VPT, class T, class Policy>
__device__ __noinline__ void vote_token_exact(const T* row, int64_t stride_expert, const RouterParams& p,
                                              const float* bias, const Policy& pol, int kq, double* my_votes,
                                              double* my_rows, double2* stat) {
  const int M = p.num_experts, lane = int(threadIdx.x & 31);
  Row<VPT> s(my_rows), r(my_rows + padded_row(M));
  RowStats st;
  const bool ok = score_row(row, stride_expert, p, s, st);
  if (stat && lane == 0) *stat = ok ? token_stat(st) : double2{0.0, 0.0};
  if (!ok) return;  // casts no vote
  selection_scores(s, bias, M, r);
  if constexpr (!vote_uses_position_v<Policy>) {
    if (kq >= M) {  // every expert votes and its rank does not matter: no ranking (lanes own distinct experts)
#pragma unroll
      for (int k = 0; k < Row<VPT>::count(M); ++k) {
        const int i = lane + 32 * k;
        if (i < M) cast_vote<Policy>(my_votes[i], pol.vote(r[k], 0));
      }
      return;
    }
  }
  WideKey prev = top_key();
  for (int q = 0; q < kq; ++q) {
    double sv;
    const WideKey w = next_best(
        s, r, M, prev, [](int, int) { return true; }, sv);
    if (!w.value) break;
    if (lane == 0) cast_vote<Policy>(my_votes[key_index(w)], pol.vote(key_value(w), q));
    prev = w;
  }
}

/// Stage 1: token n casts its votes into vote row n % R (layout.cuh's vote_rows), each
/// row filled by one warp in token order: the sums (or maxima) are deterministic and the
/// same for any number of warps. Where `stats` is given, token n's row stats go to stats[n].
template <int VPT, class T, class Policy>
__device__ void vote_tokens(const LogitsView<T>& x, const T* block, int64_t valid, const RouterParams& p,
                            const float* bias, const Policy& pol, float tol, double* votes, int R, double* my_rows,
                            double2* stats) {
  const int M = p.num_experts, warps = int(blockDim.x >> 5), lane = int(threadIdx.x & 31);
  const int kq = coreroute::detail::votes_per_token(pol, p);
  const bool fast = VPT > 0 && tol > 0.0f && kq < 32;
  const uint32_t items = row_items<VPT>(M);
  const int64_t step = int64_t(R) * x.stride_token;
  for (int r = int(threadIdx.x >> 5); r < R; r += warps) {
    double* my_votes = votes + size_t(r) * M;
    const T* row = block + r * x.stride_token;
    for (int64_t n = r; n < valid; n += R, row += step, __syncwarp()) {  // a vote row has many writers
      double2* stat = stats ? stats + n : nullptr;
      if constexpr (VPT > 0) {
        int id = -1;
        double vote = 0.0;
        if (fast && fast_votes<VPT>(row, x.stride_expert, p, bias, items, pol, kq, tol, stat, id, vote)) {
          if (lane < kq && id >= 0)  // distinct ids in distinct lanes
            cast_vote<Policy>(my_votes[id], vote);
          continue;
        }
      }
      vote_token_exact<VPT>(row, x.stride_expert, p, bias, pol, kq, my_votes, my_rows, fast ? nullptr : stat);
    }
  }
}

/// A token's slot in the tally whose double path is the lead CTA's to run.
inline constexpr int kRedoVotes = -2;

/// Stage 1 of a block spread over its cluster (fast path only, kq < 32): token n, on CTA
/// n % team.size (one warp, as in Stage 2), writes its votes into slot n of the lead CTA's
/// tally (`ids`, `votes`: 32 entries a token, in distributed shared memory), or marks the
/// slot for the double path; its row stats go to this CTA's stats[n], where Stage 2 reads them.
template <int VPT, class T, class Policy>
__device__ void tally_tokens(const LogitsView<T>& x, const T* block, int64_t valid, const RouterParams& p,
                             const float* bias, const Policy& pol, float tol, const BlockTeam& team, int* ids,
                             double* votes, double2* stats) {
  if constexpr (VPT > 0) {
    const int M = p.num_experts, lane = int(threadIdx.x & 31), stride = team.size * int(blockDim.x >> 5);
    const int kq = coreroute::detail::votes_per_token(pol, p);
    const uint32_t items = row_items<VPT>(M);
    for (int64_t n = team.rank + team.size * int64_t(threadIdx.x >> 5); n < valid; n += stride) {
      int id = -1;
      double vote = 0.0;
      const bool fast = fast_votes<VPT>(block + n * x.stride_token, x.stride_expert, p, bias, items, pol, kq, tol,
                                        stats ? stats + n : nullptr, id, vote);
      if (lane < kq) {
        ids[n * 32 + lane] = fast ? id : kRedoVotes;
        votes[n * 32 + lane] = vote;
      }
    }
  }
}

/// The lead CTA's part of a spread Stage 1: the tally into the vote rows, row n % R by one
/// warp in token order, as vote_tokens casts them (the same sums); a marked token runs the
/// double path here.
template <int VPT, class T, class Policy>
__device__ void cast_tally(const LogitsView<T>& x, const T* block, int64_t valid, const RouterParams& p,
                           const float* bias, const Policy& pol, double* votes, int R, double* my_rows, const int* ids,
                           const double* tally) {
  const int M = p.num_experts, warps = int(blockDim.x >> 5), lane = int(threadIdx.x & 31);
  const int kq = coreroute::detail::votes_per_token(pol, p);
  for (int r = int(threadIdx.x >> 5); r < R; r += warps) {
    double* my_votes = votes + size_t(r) * M;
    for (int64_t n = r; n < valid; n += R, __syncwarp()) {
      if (ids[n * 32] == kRedoVotes) {
        vote_token_exact<VPT>(block + n * x.stride_token, x.stride_expert, p, bias, pol, kq, my_votes, my_rows,
                              nullptr);
        continue;
      }
      const int id = lane < kq ? ids[n * 32 + lane] : -1;
      if (id >= 0) cast_vote<Policy>(my_votes[id], tally[n * 32 + lane]);
    }
  }
}

/// Stage 1, block part: V = the R vote rows aggregated in order (double; the policy's
/// sum or maximum), rank by the tie rule, prefix sums in rank order (an expert without
/// votes counts 0), `keep` for every rank in parallel; the coreset is the prefix.
template <class Policy>
__device__ void coreset_from_votes(const Policy& pol, int M, int R, const SharedStorage& sh) {
  constexpr VoteAggregation agg = vote_aggregation_v<Policy>;
  const double none = Policy::needs_votes ? coreroute::detail::no_vote<double>(agg) : 0.0;
  double *totals = sh.totals, *sorted = sh.sorted, *before = sh.before;
  int* rank = sh.rank;
  int* size = &sh.control->size;
  const int t = int(threadIdx.x), T = int(blockDim.x);
  for (int i = t; i < M; i += T) {
    double v = none;
    if (Policy::needs_votes)
#pragma unroll 4
      for (int r = 0; r < R; ++r) v = coreroute::detail::add_vote(agg, v, sh.votes[size_t(r) * M + i]);
    totals[i] = v;
    rank[i] = Policy::needs_votes ? 0 : i;  // no votes: all 0, so the ranking is by id
  }
  __syncthreads();
  if (Policy::needs_votes) {
    // rank[i] = #experts that rank before i. Experts with no votes tie at `none` (0 for a
    // sum, -Inf for a maximum) and go by id (after the larger totals, before any smaller
    // one), so only the P other totals are compared, with each other: P^2 instead of M^2
    // (P <= N * local_k).
    int* list = sh.list;           // the experts with votes, any order
    double* list_totals = sorted;  // their totals, in list order (`sorted` is free until the ranking ends)
    const int lane = t & 31;
    for (int w = t - lane; w < M; w += T) {  // a warp at a time: one atomic per warp, not per expert
      const int i = w + lane;
      const bool voted = i < M && totals[i] != none, positive = i < M && totals[i] > none;
      if (i < M) rank[i] = voted ? 0 : 1;
      const uint32_t voters = __ballot_sync(kFullMask, voted), gainers = __ballot_sync(kFullMask, positive);
      int at = 0;
      if (lane == 0 && voters) at = atomicAdd(&sh.control->voted, __popc(voters));
      if (lane == 0 && gainers) atomicAdd(&sh.control->positive, __popc(gainers));
      at = __shfl_sync(kFullMask, at, 0) + __popc(voters & ((1u << lane) - 1u));
      if (voted) {
        list[at] = i;
        list_totals[at] = totals[i];
      }
    }
    __syncthreads();
    const int Z = block_exclusive_scan(rank, M, static_cast<int*>(sh.scratch)), P = M - Z;
    const int positive = sh.control->positive;
    for (int i = t; i < M; i += T) rank[i] = totals[i] == none ? positive + rank[i] : totals[i] < none ? Z : 0;
    __syncthreads();
    const int parts = P > 0 && T >= 2 * P ? T / P : 1, chunk = (P + parts - 1) / parts;  // split j when T > P
    for (int idx = t; idx < P * parts; idx += T) {
      const int i = list[idx % P], lo = (idx / P) * chunk, hi = min(P, lo + chunk);
      const double v = totals[i];
      int c = 0;
#pragma unroll 4
      for (int b = lo; b < hi; ++b) c += ranks_before(list_totals[b], list[b], v, i) ? 1 : 0;
      if (c) atomicAdd(&rank[i], c);
    }
    __syncthreads();
  }
  for (int i = t; i < M; i += T) {
    sorted[rank[i]] = totals[i];
    before[rank[i]] = totals[i] == none ? 0.0 : totals[i];  // an expert without votes adds 0
  }
  __syncthreads();
  // One warp, in a fixed order: the sums, and so each `keep`, are the same for any block size.
  double* total_slot = static_cast<double*>(sh.scratch);
  if (t < 32) {
    const double sum = warp_exclusive_scan(before, M);
    if (t == 0) *total_slot = sum;
  }
  __syncthreads();
  const double total = *total_slot;
  for (int w = t & ~31; w < M; w += T) {  // the first rank not kept, a warp at a time
    const int q = w + (t & 31);
    const uint32_t dropped = __ballot_sync(kFullMask, q < M && !pol.keep(q, sorted[q], before[q], total, M));
    if ((t & 31) == 0 && dropped) atomicMin(size, w + __ffs(dropped) - 1);
  }
  __syncthreads();
  for (int i = t; i < M; i += T) sh.mask[i] = rank[i] < *size ? 1 : 0;
}

/// Warp maximum of group keys: the tier, then the wide key among the lanes of that tier.
__device__ __forceinline__ GroupKey warp_max_group_key(const GroupKey& k) {
  const uint32_t tier = warp_max_u32(k.tier);
  return {tier, warp_max_key(k.tier == tier ? k.key : WideKey{})};
}

/// Stage 2 group limit: the `topk_group` best groups of this token as a bitmask
/// (n_group <= 64), by the rule of coreroute/detail/groups.hpp (group_rank, ranked
/// through group_key by a warp max-reduction).
__device__ inline uint64_t select_groups(const double* r_row, const uint8_t* mask, const RouterParams& p) {
  const int M = p.num_experts, G = p.groups.n_group, per = M / G, lane = int(threadIdx.x & 31);
  __syncwarp();
  GroupKey gk[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int g = lane + 32 * h;
    if (g >= G) continue;
    const auto rank =
        coreroute::detail::group_rank(r_row, g, per, p.groups.group_score, [&](int i) { return mask[i] != 0; });
    gk[h] = coreroute::detail::group_key(rank, g);
  }
  __syncwarp();  // the row is rewritten by the next token
  uint64_t selected = 0;
  GroupKey prev{~0u, top_key()};
  for (int q = 0; q < p.groups.topk_group; ++q) {
    GroupKey best;
#pragma unroll
    for (int h = 0; h < 2; ++h)
      if (key_less(gk[h], prev) && key_less(best, gk[h])) best = gk[h];
    prev = warp_max_group_key(best);
    selected |= 1ull << key_index(prev.key);
  }
  return selected;
}

/// Stage 2 of one token in double: ids and weights, and the invalid count (the fast
/// path's fallback, invalid tokens, padding rows and rows beyond the fast path). Weights
/// follow the reference's formula in double: s of the chosen experts, summed in slot
/// order (every lane sums the broadcast values in the same order). Not inlined, as
/// vote_token_exact.
template <int VPT, class T>
__device__ __noinline__ void route_token_exact(const T* row, int64_t stride_expert, bool is_valid,
                                               const RouterParams& p, const float* bias, const uint8_t* mask,
                                               double* my_rows, int32_t* ids, float* wts, int* invalid) {
  const int M = p.num_experts, K = p.top_k, lane = int(threadIdx.x & 31);
  Row<VPT> s(my_rows), r(my_rows + padded_row(M));
  RowStats st;
  const bool ok = is_valid && score_row(row, stride_expert, p, s, st);
  if (!ok) {
    if (is_valid && lane == 0) atomicAdd(invalid, 1);
    for (int j = lane; j < K; j += 32) {
      ids[j] = -1;
      wts[j] = 0.0f;
    }
    return;
  }
  selection_scores(s, bias, M, r);
  uint64_t groups = ~0ull;
  const int per = p.groups.enabled() ? M / p.groups.n_group : M;
  if (p.groups.enabled()) {
    double* r_row = Row<VPT>::in_registers ? my_rows : my_rows + padded_row(M);
    if (Row<VPT>::in_registers) {
#pragma unroll
      for (int k = 0; k < Row<VPT>::count(M); ++k)
        if (lane + 32 * k < M) r_row[lane + 32 * k] = r[k];
    }
    groups = select_groups(r_row, mask, p);
  }
  uint32_t elig = 0;  // register rows: eligibility of this lane's items as bits
  if (Row<VPT>::in_registers) {
#pragma unroll
    for (int k = 0; k < Row<VPT>::count(M); ++k) {
      const int i = lane + 32 * k;
      if (i < M && mask[i] && ((groups >> (i / per)) & 1)) elig |= 1u << k;
    }
  }
  auto eligible = [&](int k, int i) {
    return Row<VPT>::in_registers ? ((elig >> k) & 1u) != 0 : (mask[i] && ((groups >> (i / per)) & 1));
  };
  double my_s = 0.0, sum = 0.0;
  int got = 0;
  int32_t my_id = -1;
  WideKey prev = top_key();
  for (int j = 0; j < K; ++j) {
    double sv;
    const WideKey w = next_best(s, r, M, prev, eligible, sv);
    if (!w.value) break;  // fewer than K eligible experts: the rest stay -1 / 0
    ++got;
    prev = w;
    sum += sv;
    if (lane == (j & 31)) {
      if (j < 32) {
        my_id = key_index(w);
        my_s = sv;
      } else
        ids[j] = key_index(w);  // slot j >= 32 is this lane's: s recomputed below
    }
  }
  auto weight = [&](double sj) { return float(coreroute::detail::token_weight(sj, sum, p)); };
  if (lane < K) {
    ids[lane] = my_id;
    wts[lane] = lane < got ? weight(my_s) : 0.0f;
  }
  for (int j = 32 + lane; j < K; j += 32) {
    if (j < got)
      wts[j] = weight(st(to_float(row[int64_t(ids[j]) * stride_expert])));
    else {
      ids[j] = -1;
      wts[j] = 0.0f;
    }
  }
}

/// The coreset's experts in id order, from its mask (one warp; the list holds M ints).
__device__ inline void list_coreset(const uint8_t* mask, int M, int* list) {
  const int lane = int(threadIdx.x & 31);
  int base = 0;
  for (int k = 0; 32 * k < M; ++k) {
    const int i = lane + 32 * k;
    const bool in = i < M && mask[i];
    const uint32_t ballot = __ballot_sync(kFullMask, in);
    if (in) list[base + __popc(ballot & ((1u << lane) - 1u))] = i;
    base += __popc(ballot);
  }
}

/// The lead CTA's coreset, once its vote rows are filled: the ranking, and the list of a
/// coreset small enough for Stage 2 to rank alone, where Stage 1 kept the row stats.
template <int VPT, class Policy>
__device__ void lead_coreset(const Policy& pol, int M, int R, const SharedStorage& sh, bool with_stats) {
  __syncthreads();  // the vote rows complete
  coreset_from_votes(pol, M, R, sh);
  __syncthreads();
  if (threadIdx.x < 32 && VPT > kCoreItems && with_stats && sh.control->size <= 32 * kCoreItems)
    list_coreset(sh.mask, M, sh.list);
}

/// What Stage 2 of one block shares between its tokens.
struct Stage2 {
  const float* bias;     ///< shared, zero padded; null without bias
  const uint8_t* mask;   ///< the coreset
  float tol;             ///< the fast path's certificate tolerance; 0: the double path only
  const double2* stats;  ///< Stage 1's row stats per token, or null
  const int* core_list;  ///< the coreset's experts in id order, where it has at most 32 kCoreItems
  int core_size;
  int* invalid;  ///< the block's invalid count (CTA 0's)
};

/// Stage 2 for this CTA's tokens of one block (token n: CTA n % team.size, one warp):
/// ids, weights, and the invalid count. Where Stage 1 left each token's row stats and
/// the coreset is small (Stage2), valid tokens rank the coreset alone.
template <int VPT, class T>
__device__ void route_tokens(const LogitsView<T>& x, const T* block, int64_t valid, const RouterParams& p,
                             const Stage2& s2, const BlockTeam& team, double* my_rows, int32_t* ids_b, float* w_b) {
  const int M = p.num_experts, K = p.top_k, lane = int(threadIdx.x & 31), warps = int(blockDim.x >> 5);
  const float* bias = s2.bias;
  const uint8_t* mask = s2.mask;
  const float tol = s2.tol;
  RowItems<VPT> whole_row;  // the fast path's items: the whole row, or the small coreset alone
#pragma unroll
  for (int k = 0; k < VPT; ++k) whole_row.in_core |= lane + 32 * k < M && mask[lane + 32 * k] ? 1u << k : 0u;
  const bool small_core = VPT > kCoreItems && s2.stats && s2.core_size <= 32 * kCoreItems;
  const CoreItems<kCoreItems> core(s2.core_list, small_core ? s2.core_size : 0, bias, p);
  const GroupLane gl = group_lane(p);
  float* r_row = reinterpret_cast<float*>(my_rows);
  const int stride = team.size * warps;  // tokens apart of one warp's consecutive tokens
  const int64_t first = team.rank + team.size * int64_t(threadIdx.x >> 5), step = int64_t(stride) * x.stride_token;
  const T* row = block + first * x.stride_token;
  int32_t* ids = ids_b + first * K;
  float* wts = w_b + first * K;
  for (int64_t n = first; n < x.tokens; n += stride, row += step, ids += stride * K, wts += stride * K) {
    if constexpr (VPT > 0) {
      if (tol > 0.0f && K < 32 && n < valid) {
        FastStats fs;
        bool routed;
        if (small_core) {
          const double2 stat = s2.stats[n];  // Stage 1's (max, sum); sum 0: an invalid token
          fs.st.score = p.score;
          fs.st.max = stat.x;
          fs.st.sum = stat.y;
          fs.inv_sum = 1.0 / fs.st.sum;  // as fast_keys has it
          routed = stat.y != 0.0 && fast_route(row, x.stride_expert, p, bias, core, fs, gl, r_row, tol, ids, wts);
        } else {
          routed = fast_route(row, x.stride_expert, p, bias, whole_row, fs, gl, r_row, tol, ids, wts);
        }
        if (routed) continue;
      }
    }
    route_token_exact<VPT>(row, x.stride_expert, n < valid, p, bias, mask, my_rows, ids, wts, s2.invalid);
  }
}

/// The dispatch layout of block b from its ids (already written by this CTA).
__device__ inline void dispatch_block(int64_t b, int64_t N, int64_t valid, int M, int K, const int32_t* ids_b,
                                      const DispatchOutputs& d, const SharedStorage& sh, int words) {
  int *count = sh.counts, *used = sh.used, *offset = sh.offsets;
  uint32_t* bits = sh.bits;  // [M][words]: tokens that chose e
  int* scratch = static_cast<int*>(sh.scratch);
  const int t = int(threadIdx.x), T = int(blockDim.x);
  const int64_t entries = valid * K, cap = N * K;
  for (int i = t; i < M; i += T) count[i] = 0;
  for (int i = t; i < M * words; i += T) bits[i] = 0;
  __syncthreads();
  for (int64_t e = t; e < entries; e += T) {
    const int id = ids_b[e];
    const int64_t n = e / K;
    if (id < 0) continue;
    atomicAdd(&count[id], 1);
    atomicOr(&bits[size_t(id) * words + size_t(n >> 5)], 1u << (n & 31));
  }
  __syncthreads();
  for (int i = t; i < M; i += T) {
    used[i] = count[i] > 0 ? 1 : 0;
    offset[i] = count[i];
  }
  __syncthreads();
  const int num_used = block_exclusive_scan(used, M, scratch);
  const int total = block_exclusive_scan(offset, M, scratch);
  int32_t* ue = d.used_experts + b * M;
  int32_t* uc = d.counts + b * M;
  int32_t* uo = d.offsets + b * (M + 1);
  for (int i = t; i < M; i += T)
    if (count[i] > 0) {
      ue[used[i]] = i;
      uc[used[i]] = count[i];
      uo[used[i]] = offset[i];
    }
  for (int u = num_used + t; u < M; u += T) {
    ue[u] = -1;
    uc[u] = 0;
  }
  for (int u = num_used + t; u <= M; u += T) uo[u] = total;
  if (t == 0) d.num_used[b] = num_used;
  // Expert-major, then token, then slot: an entry's place is its expert's offset
  // plus the earlier tokens that chose the same expert (each token takes it once).
  for (int64_t e = t; e < entries; e += T) {
    const int id = ids_b[e];
    if (id < 0) continue;
    const int64_t n = e / K;
    const uint32_t* row = bits + size_t(id) * words;
    int pos = offset[id] + __popc(row[n >> 5] & ((1u << (n & 31)) - 1u));
    for (int64_t w = 0; w < (n >> 5); ++w) pos += __popc(row[w]);
    d.token[b * cap + pos] = int32_t(n);
    d.slot[b * cap + pos] = int32_t(e % K);
  }
  for (int64_t e = total + t; e < cap; e += T) {
    d.token[b * cap + e] = -1;
    d.slot[b * cap + e] = -1;
  }
}

/// `Spread`: Stage 1 spreads over the launch's clusters (tally_tokens), as the host
/// decides (launch.cuh: a tally in the layout, the fast path, 0 < local_k < 32); a kernel of
/// its own, so that the other launches carry none of its registers.
template <class T, class Policy, int VPT, bool Spread>
__global__ void __launch_bounds__(COREROUTE_CUDA_MAX_THREADS)
    route_kernel(LogitsView<T> x, RouterParams p, Policy pol, const uint8_t* coreset_in, RouteOutputs out,
                 DispatchOutputs dispatch, RouteLayout L, int cluster, bool fast) {
  extern __shared__ __align__(16) unsigned char smem[];
  const SharedStorage sh = shared_storage(smem, L, p.bias != nullptr);
  // A cluster's CTAs route one block together (the grid has one cluster per block);
  // without one, CTAs grid-stride over blocks.
  const BlockTeam team = block_team(cluster);
  const bool lead = team.rank == 0;     // writes the block's coreset, counts and dispatch
  if constexpr (Spread) team.arrive();  // tally_tokens writes into the lead CTA, which must have started (wait below)
  const int M = p.num_experts, K = p.top_k, t = int(threadIdx.x), nt = int(blockDim.x);
  const int warp = t >> 5;
  float* bias = sh.bias;
  for (int i = t; bias && i < padded_row(M); i += nt) bias[i] = i < M ? p.bias[i] : 0.0f;  // fast path: no bounds
  __syncthreads();  // the tolerance reads the shared copy: one global read of the bias per CTA
  double* my_rows = sh.rows + size_t(warp) * L.rows_per_warp * padded_row(M);
  BlockControl* ctl = sh.control;
  const bool stage1 = Policy::needs_votes && coreset_in == nullptr;
  // The lead CTA ranks the coreset (from Stage 1's votes, or from none: a policy that does
  // not vote ranks by id) and the other CTAs of a cluster copy it.
  const bool lead_ranks = coreset_in == nullptr && !std::is_same_v<Policy, VanillaPolicy>;
  const float tol = fast && VPT > 0 ? fast_tolerance(bias, M) : 0.0f;  // 0: double path only
  // Stage 1's row stats for Stage 2 on a small coreset (fast path only).
  double2* stats = stage1 && L.stat_tokens > 0 && tol > 0.0f ? sh.stats : nullptr;
  if constexpr (Spread) team.wait();
  const int64_t first_block = cluster > 1 ? blockIdx.x / unsigned(cluster) : blockIdx.x;
  const int64_t block_step = cluster > 1 ? x.blocks : gridDim.x;
  for (int64_t b = first_block; b < x.blocks; b += block_step) {
    const int64_t valid = x.valid_tokens(b);
    const T* block = x.data + b * x.stride_block;
    if (t == 0) *ctl = BlockControl{coreset_in ? 0 : M, 0, 0, 0};
    for (int i = t; stage1 && lead && i < L.vote_rows * M; i += nt)
      sh.votes[i] = coreroute::detail::no_vote<double>(vote_aggregation_v<Policy>);
    __syncthreads();
    // The block's coreset: the given one, or every expert, in each CTA; else ranked in the
    // lead CTA alone (from Stage 1's vote rows, the block's), which the others then copy.
    if (coreset_in) {
      for (int i = t; i < M; i += nt) {
        sh.mask[i] = coreset_in[b * M + i] ? 1 : 0;
        if (sh.mask[i]) atomicAdd(&ctl->size, 1);
      }
    } else if constexpr (std::is_same_v<Policy, VanillaPolicy>) {
      for (int i = t; i < M; i += nt) sh.mask[i] = 1;  // every expert: no ranking to do
    } else if constexpr (Spread) {                     // Stage 1 over the cluster, then the lead's rows and ranking
      tally_tokens<VPT>(x, block, valid, p, bias, pol, tol, team, team.at(sh.tally_ids, 0), team.at(sh.tally_votes, 0),
                        stats);
      team.sync();
      if (lead) {
        cast_tally<VPT>(x, block, valid, p, bias, pol, sh.votes, L.vote_rows, my_rows, sh.tally_ids, sh.tally_votes);
        lead_coreset<VPT>(pol, M, L.vote_rows, sh, stats != nullptr);
      }
    } else if (lead) {
      vote_tokens<VPT>(x, block, valid, p, bias, pol, tol, sh.votes, L.vote_rows, my_rows, stats);
      lead_coreset<VPT>(pol, M, L.vote_rows, sh, stats != nullptr);
    }
    team.sync();  // the coreset, and the lead's list and row stats, complete; CTA 0's counts zeroed before any CTA
                  // counts a token
    const int core_size = team.at(ctl, 0)->size;
    if (lead_ranks && !lead) {
      const uint8_t* lead_mask = team.at(sh.mask, 0);
      for (int i = t; i < M; i += nt) sh.mask[i] = lead_mask[i];
    }
    for (int i = t; lead && out.coreset && i < M; i += nt) out.coreset[b * M + i] = sh.mask[i];
    if (lead && t == 0 && out.coreset_size) out.coreset_size[b] = core_size;
    __syncthreads();
    int32_t* ids_b = out.ids + b * x.tokens * K;
    // Row stats: this CTA's own tokens' where Stage 1 was spread, else the lead's.
    const Stage2 s2{bias,
                    sh.mask,
                    tol,
                    stats && !Spread ? team.at(stats, 0) : stats,
                    team.at(sh.list, 0),
                    core_size,
                    team.at(&ctl->invalid, 0)};
    route_tokens<VPT>(x, block, valid, p, s2, team, my_rows, ids_b, out.weights + b * x.tokens * K);
    team.sync();  // CTA 0's invalid count complete; every CTA's ids written before the dispatch reads them
    if (lead && t == 0 && out.valid_tokens) out.valid_tokens[b] = int32_t(valid);
    if (lead && t == 0 && out.invalid_tokens) out.invalid_tokens[b] = ctl->invalid;
    if (lead && dispatch.enabled()) dispatch_block(b, x.tokens, valid, M, K, ids_b, dispatch, sh, L.words);
    __syncthreads();
  }
}

}  // namespace coreroute::cuda::detail
