#pragma once
// Two more host backends for the parity harness, so that it is exercised without a
// GPU and a user's policy meets other evaluation orders and float arithmetic:
//  - ShuffledReferenceBackend: the reference itself, with each block's tokens routed
//    in a permuted order (votes summed in another order) and the blocks in reverse;
//  - HostFloatBackend: a GPU-style float implementation (float scores, packed
//    64-bit rank keys, max-selection top-K, votes summed in reverse token order,
//    `keep` evaluated for every rank and the prefix taken), so near-ties are real.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include <coreroute/detail/groups.hpp>
#include <coreroute/detail/ranking.hpp>
#include <coreroute/detail/scores.hpp>
#include <coreroute/detail/weights.hpp>
#include <coreroute/reference.hpp>

namespace coreroute::testing {

namespace detail {
/// A fixed permutation of [0, n) for block b (splitmix-driven Fisher-Yates).
inline std::vector<int64_t> block_permutation(int64_t n, int64_t b, uint64_t salt) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  uint64_t h = 0x9E3779B97F4A7C15ull * uint64_t(b + 1) + uint64_t(n) + salt * 0xD1B54A32D192ED03ull;
  for (int64_t i = n - 1; i > 0; --i) {
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    std::swap(perm[size_t(i)], perm[size_t(h % uint64_t(i + 1))]);
  }
  return perm;
}

/// Copies the valid rows of block b into a contiguous single block in `perm` order.
inline std::vector<float> permuted_block(const LogitsView<float>& x, int64_t b, const std::vector<int64_t>& perm) {
  const int64_t M = x.experts;
  std::vector<float> rows(perm.size() * size_t(M));
  for (size_t t = 0; t < perm.size(); ++t)
    for (int64_t i = 0; i < M; ++i) rows[t * size_t(M) + size_t(i)] = x.at(b, perm[t], i);
  return rows;
}

/// Runs `one(view of the permuted block)` per block (in reverse) and scatters its
/// rows back to their tokens.
template <class F>
Routing route_shuffled(const LogitsView<float>& x, const RouterConfig& c, uint64_t salt, F&& one) {
  const int M = c.num_experts, K = c.top_k;
  Routing out;
  out.resize(x.blocks, x.tokens, M, K);
  for (int64_t b = x.blocks - 1; b >= 0; --b) {
    const std::vector<int64_t> perm = block_permutation(x.valid_tokens(b), b, salt);
    const std::vector<float> rows = permuted_block(x, b, perm);
    const Routing r = one(make_logits_view(rows.data(), 1, int64_t(perm.size()), M), b);
    std::copy(r.coreset.begin(), r.coreset.end(), out.coreset.begin() + b * M);
    out.coreset_size[size_t(b)] = r.coreset_size[0];
    out.valid_tokens[size_t(b)] = r.valid_tokens[0];
    out.invalid_tokens[size_t(b)] = r.invalid_tokens[0];
    for (size_t t = 0; t < perm.size(); ++t)
      for (int j = 0; j < K; ++j) {
        out.ids[size_t((b * x.tokens + perm[t]) * K + j)] = r.ids[t * size_t(K) + size_t(j)];
        out.weights[size_t((b * x.tokens + perm[t]) * K + j)] = r.weights[t * size_t(K) + size_t(j)];
      }
  }
  return out;
}
}  // namespace detail

struct ShuffledReferenceBackend {
  static constexpr const char* name = "shuffled-reference";
  static inline uint64_t salt = 0;  ///< picks the token permutations (a metamorphic test varies it)
  template <class Policy>
  static Routing route(const LogitsView<float>& x, const RouterConfig& c, const Policy& p, DispatchLayout* dispatch) {
    reference::validate(x, c, p);
    const RouterParams rp = params_of(c);
    Routing R = detail::route_shuffled(
        x, c, salt, [&](const LogitsView<float>& v, int64_t) { return reference::route_unchecked(v, rp, p); });
    if (dispatch) *dispatch = reference::dispatch_of(R);
    return R;
  }
  static Routing route_in_coreset(const LogitsView<float>& x, const RouterConfig& c, const uint8_t* coreset) {
    reference::route_in_coreset(x, c, coreset);  // validation only
    const RouterParams rp = params_of(c);
    return detail::route_shuffled(x, c, salt, [&](const LogitsView<float>& v, int64_t b) {
      return reference::route_in_coreset_unchecked(v, rp, coreset + b * c.num_experts);
    });
  }
  static std::vector<BlockMetrics> metrics(const Routing& R, const Routing& R0, double expert_bytes,
                                           const ExpertOutputsView* outputs) {
    return reference::metrics(R, R0, expert_bytes, outputs);
  }
};

namespace detail {
/// Float Stage 1 + Stage 2, the way a GPU kernel would do it (one block).
struct FloatRouter {
  const RouterParams& p;
  int M, K;
  std::vector<float> x, s, r;  // [N, M]
  std::vector<uint8_t> valid;

  FloatRouter(const RouterParams& params, const LogitsView<float>& logits, int64_t b)
      : p(params), M(params.num_experts), K(params.top_k) {
    const int64_t N = logits.valid_tokens(b);
    x.resize(size_t(N * M));
    s.resize(size_t(N * M));
    r.resize(size_t(N * M));
    valid.assign(size_t(N), 1);
    for (int64_t n = 0; n < N; ++n) {
      float mx = -INFINITY;
      for (int i = 0; i < M; ++i) {
        if (coreroute::detail::invalid_logit(logits.at(b, n, i))) valid[size_t(n)] = 0;
        mx = std::max(mx, logits.at(b, n, i));
      }
      if (p.score == ScoreFunction::softmax && std::isinf(mx)) valid[size_t(n)] = 0;
      if (!valid[size_t(n)]) continue;
      double sum = 0;  // a compensated-accuracy row sum, as a careful kernel does
      if (p.score == ScoreFunction::softmax)
        for (int i = 0; i < M; ++i) sum += double(std::exp(logits.at(b, n, i) - mx));
      for (int i = 0; i < M; ++i) {
        x[size_t(n * M + i)] = logits.at(b, n, i);
        s[size_t(n * M + i)] = coreroute::detail::score_of(p.score, logits.at(b, n, i), mx, float(sum));
        r[size_t(n * M + i)] = s[size_t(n * M + i)] + p.bias_of(i);
      }
    }
  }

  /// Top-k of v over experts with allowed[i], by repeated max of the packed key.
  int top_k(const float* v, const uint8_t* allowed, int k, int32_t* out) const {
    std::vector<uint8_t> used(static_cast<size_t>(M), 0);
    int got = 0;
    for (; got < k; ++got) {
      uint64_t best = 0;
      bool any = false;
      for (int i = 0; i < M; ++i)
        if ((!allowed || allowed[i]) && !used[size_t(i)]) {
          const uint64_t key = coreroute::detail::rank_key(v[i], i);
          if (!any || key > best) {
            best = key;
            any = true;
          }
        }
      if (!any) break;
      out[got] = coreroute::detail::key_index(best);
      used[size_t(out[got])] = 1;
    }
    return got;
  }

  template <class Policy>
  int coreset(const Policy& pol, uint8_t* mask) const {
    constexpr VoteAggregation agg = vote_aggregation_v<Policy>;
    const float none = Policy::needs_votes ? coreroute::detail::no_vote<float>(agg) : 0.0f;
    std::vector<float> votes(static_cast<size_t>(M), none);
    std::vector<int32_t> chosen(static_cast<size_t>(M));
    if (Policy::needs_votes)
      for (int64_t n = int64_t(valid.size()) - 1; n >= 0; --n) {
        if (!valid[size_t(n)]) continue;
        const float* rn = &r[size_t(n * M)];
        const int got = top_k(rn, nullptr, pol.local_k(p), chosen.data());
        for (int q = 0; q < got; ++q) {
          float& v = votes[size_t(chosen[size_t(q)])];
          v = coreroute::detail::add_vote(agg, v, pol.vote(rn[chosen[size_t(q)]], q));
        }
      }
    std::vector<uint64_t> keys(static_cast<size_t>(M));
    for (int i = 0; i < M; ++i) keys[size_t(i)] = coreroute::detail::rank_key(votes[size_t(i)], i);
    std::sort(keys.begin(), keys.end(), [](uint64_t a, uint64_t b) { return a > b; });
    const auto counted = [&](float v) { return v == none ? 0.0f : v; };  // an expert without votes adds 0
    std::vector<float> before(static_cast<size_t>(M) + 1, 0.0f);         // exclusive scan, as a block scan would
    for (int q = 0; q < M; ++q)
      before[size_t(q) + 1] = before[size_t(q)] + counted(coreroute::detail::key_value(keys[size_t(q)]));
    float total = 0.0f;
    for (float v : votes) total += counted(v);
    std::fill(mask, mask + M, uint8_t(0));
    int size = 0;
    while (size < M && pol.keep(size, coreroute::detail::key_value(keys[size_t(size)]), before[size_t(size)], total, M))
      mask[coreroute::detail::key_index(keys[size_t(size++)])] = 1;
    return size;
  }

  void route_token(int64_t n, const uint8_t* mask, int32_t* ids, float* w) const {
    const float* rn = &r[size_t(n * M)];
    std::vector<uint8_t> eligible(mask, mask + M);
    if (p.groups.enabled()) {
      // The shared group rule (coreroute/detail/groups.hpp) on float scores, groups
      // picked by repeated max-selection as a GPU would.
      const int G = p.groups.n_group, per = M / G;
      std::vector<coreroute::detail::GroupRank<float>> rank(static_cast<size_t>(G));
      for (int g = 0; g < G; ++g)
        rank[size_t(g)] =
            coreroute::detail::group_rank(rn, g, per, p.groups.group_score, [&](int i) { return mask[i] != 0; });
      std::vector<uint8_t> keep_group(static_cast<size_t>(G), 0);
      for (int t = 0; t < p.groups.topk_group; ++t) {
        int best = -1;
        for (int g = 0; g < G; ++g)
          if (!keep_group[size_t(g)] &&
              (best < 0 || coreroute::detail::group_ranks_before(rank[size_t(g)], g, rank[size_t(best)], best)))
            best = g;
        keep_group[size_t(best)] = 1;
      }
      for (int i = 0; i < M; ++i) eligible[size_t(i)] = eligible[size_t(i)] && keep_group[size_t(i / per)];
    }
    const int got = top_k(rn, eligible.data(), K, ids);
    if (got > 0 && p.score == ScoreFunction::softmax && p.normalize_weights) {
      // Softmax + normalise = softmax over the selected logits: no float underflow
      // where the double reference still has a positive sum. Its sum is 0 (weights 0)
      // only when every selected logit is more than ~745 below the row's maximum.
      const float* xn = &x[size_t(n * M)];
      float row_max = -INFINITY, sel_max = -INFINITY, sum = 0;
      for (int i = 0; i < M; ++i) row_max = std::max(row_max, xn[i]);
      for (int j = 0; j < got; ++j) sel_max = std::max(sel_max, xn[ids[j]]);
      const bool underflow = double(sel_max) - double(row_max) < -745.13;
      for (int j = 0; j < got; ++j) sum += std::exp(xn[ids[j]] - sel_max);
      for (int j = 0; j < got; ++j) w[j] = underflow ? 0.0f : std::exp(xn[ids[j]] - sel_max) / sum * p.scaling;
      return;
    }
    float sum = 0;
    for (int j = 0; j < got; ++j) sum += s[size_t(n * M + ids[j])];
    for (int j = 0; j < got; ++j) w[j] = coreroute::detail::token_weight(s[size_t(n * M + ids[j])], sum, p);
  }
};

template <class MaskOf>
Routing route_float(const LogitsView<float>& x, const RouterConfig& c, MaskOf&& mask_of) {
  const RouterParams p = params_of(c);
  Routing out;
  out.resize(x.blocks, x.tokens, c.num_experts, c.top_k);
  for (int64_t b = 0; b < x.blocks; ++b) {
    const FloatRouter fr(p, x, b);
    uint8_t* mask = &out.coreset[size_t(b * c.num_experts)];
    out.coreset_size[size_t(b)] = mask_of(fr, b, mask);
    out.valid_tokens[size_t(b)] = int32_t(fr.valid.size());
    for (int64_t n = 0; n < int64_t(fr.valid.size()); ++n) {
      if (!fr.valid[size_t(n)]) {
        ++out.invalid_tokens[size_t(b)];
        continue;
      }
      const size_t row = size_t((b * x.tokens + n) * c.top_k);
      fr.route_token(n, mask, &out.ids[row], &out.weights[row]);
    }
  }
  return out;
}
}  // namespace detail

struct HostFloatBackend {
  static constexpr const char* name = "host-float";
  template <class Policy>
  static Routing route(const LogitsView<float>& x, const RouterConfig& c, const Policy& p, DispatchLayout* dispatch) {
    reference::validate(x, c, p);
    Routing R = detail::route_float(
        x, c, [&](const detail::FloatRouter& fr, int64_t, uint8_t* mask) { return fr.coreset(p, mask); });
    if (dispatch) *dispatch = reference::dispatch_of(R);
    return R;
  }
  static Routing route_in_coreset(const LogitsView<float>& x, const RouterConfig& c, const uint8_t* coreset) {
    reference::route_in_coreset(x, c, coreset);  // validation only
    return detail::route_float(x, c, [&](const detail::FloatRouter&, int64_t b, uint8_t* mask) {
      std::copy(coreset + b * c.num_experts, coreset + (b + 1) * c.num_experts, mask);
      return int(std::count(mask, mask + c.num_experts, uint8_t(1)));
    });
  }
  static std::vector<BlockMetrics> metrics(const Routing& R, const Routing& R0, double expert_bytes,
                                           const ExpertOutputsView* outputs) {
    return reference::metrics(R, R0, expert_bytes, outputs);
  }
};

}  // namespace coreroute::testing
