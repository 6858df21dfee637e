#pragma once
// The CPU reference backend: docs/spec.md sections 3 and 4, serial, in double precision.
// It is the oracle every other backend is tested against, so it favours the
// obvious formulation over speed (but never allocates per token).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <coreroute/config.hpp>
#include <coreroute/detail/groups.hpp>
#include <coreroute/detail/ranking.hpp>
#include <coreroute/detail/scores.hpp>
#include <coreroute/detail/weights.hpp>
#include <coreroute/error.hpp>
#include <coreroute/policies.hpp>
#include <coreroute/routing.hpp>
#include <coreroute/views.hpp>

namespace coreroute::reference {

using coreroute::detail::ranks_before;

/// A group's rank in Stage 2 (coreroute::detail::group_ranks_before) and its id.
struct GroupScore {
  coreroute::detail::GroupRank<double> rank;
  int id;
};

/// One block's scores, computed once: s and r = s + bias per token row, in double.
struct BlockScores {
  int experts = 0;
  std::vector<double> s, r;    // [N, M]
  std::vector<uint8_t> valid;  // [N]; 0: NaN/+Inf logit, or a softmax row of all -Inf
  const double* s_row(int64_t n) const { return s.data() + n * experts; }
  const double* r_row(int64_t n) const { return r.data() + n * experts; }
};

/// Scratch space reused across tokens and blocks.
struct Workspace {
  BlockScores scores;
  std::vector<double> votes;
  std::vector<int> order, eligible;
  std::vector<int32_t> chosen;
  std::vector<GroupScore> groups;
};

/// Writes the `k` best of `cand` by (v desc, id asc) to out[0..k), in that order;
/// returns how many there were (min(k, cand.size())). Reorders `cand`.
inline int top_k(const double* v, std::vector<int>& cand, int k, int32_t* out) {
  k = std::min<int>(k, int(cand.size()));
  std::partial_sort(cand.begin(), cand.begin() + k, cand.end(),
                    [v](int a, int b) { return ranks_before(v[a], a, v[b], b); });
  std::copy(cand.begin(), cand.begin() + k, out);
  return k;
}

/// Scores s and selection scores r = s + bias of one token. Returns false for an
/// invalid token (NaN or +Inf logit; softmax row of all -Inf).
template <class T>
bool score_token(const LogitsView<T>& x, int64_t b, int64_t n, const RouterParams& p, double* s, double* r) {
  const int M = p.num_experts;
  double row_max = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < M; ++i) {
    const double xi = double(x.at(b, n, i));
    if (coreroute::detail::invalid_logit(xi)) return false;
    row_max = std::max(row_max, xi);
  }
  double row_sum = 0;
  if (p.score == ScoreFunction::softmax) {
    if (std::isinf(row_max)) return false;  // every logit is -Inf
    for (int i = 0; i < M; ++i) row_sum += std::exp(double(x.at(b, n, i)) - row_max);
  }
  for (int i = 0; i < M; ++i) {
    s[i] = coreroute::detail::score_of(p.score, double(x.at(b, n, i)), row_max, row_sum);
    r[i] = s[i] + double(p.bias_of(i));
  }
  return true;
}

template <class T>
void score_block(const LogitsView<T>& x, int64_t b, const RouterParams& p, BlockScores& out) {
  const int64_t N = x.valid_tokens(b);
  out.experts = p.num_experts;
  out.s.resize(size_t(N * p.num_experts));
  out.r.resize(size_t(N * p.num_experts));
  out.valid.resize(size_t(N));
  for (int64_t n = 0; n < N; ++n)
    out.valid[size_t(n)] = score_token(x, b, n, p, out.s.data() + n * p.num_experts, out.r.data() + n * p.num_experts);
}

/// Stage 1 votes: V[i] aggregated (the policy's sum or maximum) over a block's valid
/// tokens in token order (all 0 if !needs_votes). With `check_block` >= 0 (the checked
/// path, block check_block) every vote is checked as it is cast (finite; >= 0 when
/// summed). The raw path clamps local_k to [0, M].
template <class Policy>
void block_votes(const BlockScores& sc, const RouterParams& p, const Policy& pol, Workspace& ws, double* votes,
                 int64_t check_block = -1) {
  const int M = p.num_experts;
  constexpr VoteAggregation agg = vote_aggregation_v<Policy>;
  std::fill(votes, votes + M, Policy::needs_votes ? coreroute::detail::no_vote<double>(agg) : 0.0);
  if (!Policy::needs_votes) return;
  const int k = coreroute::detail::votes_per_token(pol, p);
  ws.chosen.resize(size_t(M));
  for (size_t n = 0; n < sc.valid.size(); ++n) {
    if (!sc.valid[n]) continue;  // an invalid token casts no vote
    const double* r = sc.r_row(int64_t(n));
    ws.eligible.resize(size_t(M));
    for (int i = 0; i < M; ++i) ws.eligible[size_t(i)] = i;
    const int got = top_k(r, ws.eligible, k, ws.chosen.data());
    for (int q = 0; q < got; ++q) {
      const int e = ws.chosen[size_t(q)];
      const double v = pol.vote(r[e], q);
      if (check_block >= 0) {
        coreroute::detail::require_valid_vote<Policy>(v, r[e], q, check_block, int64_t(n));
        if (!vote_uses_position_v<Policy> && !(v == pol.vote(r[e], 0)))
          coreroute::detail::fail(std::string(Policy::name) + ".vote(r = " + coreroute::detail::to_text(r[e]) +
                                      ", q = " + coreroute::detail::to_text(q) + ")",
                                  v, "differs from the vote at q = 0, but the policy says vote_uses_position = false");
      }
      votes[e] = coreroute::detail::add_vote(agg, votes[e], v);
    }
  }
}

/// Stage 1 coreset from votes: rank experts by V (desc, ties lower id) and keep the
/// longest prefix the policy's `keep` accepts (`before` and `total` count an expert
/// without votes as 0). Returns |C|.
template <class Policy>
int coreset_from_votes(const double* votes, int M, const Policy& pol, std::vector<int>& order, uint8_t* mask) {
  constexpr VoteAggregation agg = vote_aggregation_v<Policy>;
  const auto counted = [](double v) { return Policy::needs_votes ? coreroute::detail::counted_vote(agg, v) : v; };
  order.resize(size_t(M));
  for (int i = 0; i < M; ++i) order[size_t(i)] = i;
  std::sort(order.begin(), order.end(), [votes](int a, int b) { return ranks_before(votes[a], a, votes[b], b); });
  double total = 0;
  for (int i = 0; i < M; ++i) total += counted(votes[i]);
  std::fill(mask, mask + M, uint8_t(0));
  double before = 0;
  int size = 0;
  for (int q = 0; q < M && pol.keep(q, votes[order[size_t(q)]], before, total, M); ++q) {
    mask[order[size_t(q)]] = 1;
    before += counted(votes[order[size_t(q)]]);
    ++size;
  }
  return size;
}

/// Stage 2 experts a token may take: the coreset, then (with groups) only inside
/// its `topk_group` best groups, ranked by coreroute/detail/groups.hpp's rule.
inline void eligible_experts(const RouterParams& p, const double* r, const uint8_t* mask, Workspace& ws) {
  const int M = p.num_experts;
  ws.eligible.clear();
  if (!p.groups.enabled()) {
    for (int i = 0; i < M; ++i)
      if (mask[i]) ws.eligible.push_back(i);
    return;
  }
  const int G = p.groups.n_group, per = M / G;
  ws.groups.resize(size_t(G));
  // A functor, not a lambda: group_rank is __host__ __device__ under nvcc, which warns
  // about a host lambda called from it when a Kokkos::Cuda build compiles this file.
  struct InMask {
    const uint8_t* mask;
    CR_HD bool operator()(int i) const { return mask[i] != 0; }
  };
  for (int g = 0; g < G; ++g)
    ws.groups[size_t(g)] = {coreroute::detail::group_rank(r, g, per, p.groups.group_score, InMask{mask}), g};
  std::partial_sort(ws.groups.begin(), ws.groups.begin() + p.groups.topk_group, ws.groups.end(),
                    [](const GroupScore& a, const GroupScore& b) {
                      return coreroute::detail::group_ranks_before(a.rank, a.id, b.rank, b.id);
                    });
  for (int t = 0; t < p.groups.topk_group; ++t) {
    const int g = ws.groups[size_t(t)].id;
    for (int i = g * per; i < (g + 1) * per; ++i)
      if (mask[i]) ws.eligible.push_back(i);
  }
}

/// Stage 2 for one token: S_n = top-K of r over E_n; weights from the unbiased s.
/// Slots past |E_n| must already hold -1 / 0.
inline void route_token(const RouterParams& p, const double* s, const double* r, const uint8_t* mask, Workspace& ws,
                        int32_t* ids, float* weights) {
  eligible_experts(p, r, mask, ws);
  const int got = top_k(r, ws.eligible, p.top_k, ids);
  double sum = 0;
  for (int j = 0; j < got; ++j) sum += s[ids[j]];
  for (int j = 0; j < got; ++j) weights[j] = float(coreroute::detail::token_weight(s[ids[j]], sum, p));
}

/// Stage 2 for every valid token of block b of an already sized `out`.
inline void route_block_in_coreset(const BlockScores& sc, int64_t b, const RouterParams& p, const uint8_t* mask,
                                   Workspace& ws, Routing& out) {
  const int K = p.top_k;
  const int64_t N = int64_t(sc.valid.size());
  out.valid_tokens[size_t(b)] = int32_t(N);
  for (int64_t n = 0; n < N; ++n) {
    const size_t row = size_t((b * out.tokens + n) * K);
    if (!sc.valid[size_t(n)]) {
      ++out.invalid_tokens[size_t(b)];
      continue;
    }
    route_token(p, sc.s_row(n), sc.r_row(n), mask, ws, &out.ids[row], &out.weights[row]);
  }
}

/// The raw path (no validation): invalid tokens get ids -1, weight 0, cast no vote
/// and are counted in `invalid_tokens`, as on the GPU. Inputs must satisfy the
/// checked API's rules otherwise.
template <class Policy, class T>
Routing route_unchecked(const LogitsView<T>& x, const RouterParams& p, const Policy& pol, bool check_votes = false) {
  const int M = p.num_experts;
  Routing out;
  out.resize(x.blocks, x.tokens, M, p.top_k);
  Workspace ws;
  ws.votes.resize(size_t(M));
  for (int64_t b = 0; b < x.blocks; ++b) {
    score_block(x, b, p, ws.scores);
    block_votes(ws.scores, p, pol, ws, ws.votes.data(), check_votes ? b : -1);
    uint8_t* mask = &out.coreset[size_t(b * M)];
    out.coreset_size[size_t(b)] = coreset_from_votes(ws.votes.data(), M, pol, ws.order, mask);
    route_block_in_coreset(ws.scores, b, p, mask, ws, out);
  }
  return out;
}

/// Stage 2 alone, raw: routes every block into a given coreset mask [B, M].
template <class T>
Routing route_in_coreset_unchecked(const LogitsView<T>& x, const RouterParams& p, const uint8_t* coreset) {
  const int M = p.num_experts;
  Routing out;
  out.resize(x.blocks, x.tokens, M, p.top_k);
  std::copy(coreset, coreset + x.blocks * M, out.coreset.begin());
  Workspace ws;
  for (int64_t b = 0; b < x.blocks; ++b) {
    const uint8_t* mask = &out.coreset[size_t(b * M)];
    out.coreset_size[size_t(b)] = int32_t(std::count(mask, mask + M, uint8_t(1)));
    score_block(x, b, p, ws.scores);
    route_block_in_coreset(ws.scores, b, p, mask, ws, out);
  }
  return out;
}

/// Rejects NaN and +Inf logits and all -Inf softmax rows, naming block, token, expert.
template <class T>
void validate_logits(const LogitsView<T>& x, const RouterConfig& c) {
  const auto where = [](int64_t b, int64_t n, const std::string& expert) {
    return "logits[block " + std::to_string(b) + ", token " + std::to_string(n) + ", " + expert + "]";
  };
  for (int64_t b = 0; b < x.blocks; ++b)
    for (int64_t n = 0; n < x.valid_tokens(b); ++n) {
      bool all_neg_inf = true;
      for (int64_t i = 0; i < x.experts; ++i) {
        const double v = double(x.at(b, n, i));
        if (coreroute::detail::invalid_logit(v))
          coreroute::detail::fail(where(b, n, "expert " + std::to_string(i)), v, "NaN and +Inf logits are invalid");
        all_neg_inf = all_neg_inf && std::isinf(v);
      }
      if (c.score == ScoreFunction::softmax && x.experts > 0 && all_neg_inf)
        coreroute::detail::fail(where(b, n, ":"), "-inf", "a softmax row of all -Inf logits is invalid");
    }
}

/// Every check of docs/spec.md section 6 for a host-memory batch, before any work.
template <class Policy, class T>
void validate(const LogitsView<T>& x, const RouterConfig& c, const Policy& pol) {
  static_assert(is_policy_v<Policy>, "Policy does not satisfy the coreroute policy concept (policies.hpp)");
  coreroute::validate(c);
  pol.validate(c);
  coreroute::detail::require_valid_local_k(pol, c);
  coreroute::detail::validate_shape(x, c, x.tokens_per_block);
  validate_logits(x, c);
}

/// The checked entry point: validates everything, then routes (Stage 1 + Stage 2),
/// checking every vote the policy casts (finite, >= 0) as it is cast.
template <class Policy, class T>
Routing route(const LogitsView<T>& x, const RouterConfig& c, const Policy& pol) {
  validate(x, c, pol);
  return route_unchecked(x, params_of(c), pol, /*check_votes=*/true);
}

/// Checked Stage 2 alone: routes every token into a given coreset mask [B, M]
/// (1 = in the set), e.g. an expert set chosen outside this library.
template <class T>
Routing route_in_coreset(const LogitsView<T>& x, const RouterConfig& c, const uint8_t* coreset) {
  validate(x, c, VanillaPolicy{});
  coreroute::detail::require(coreset != nullptr || x.blocks == 0, "coreset", "null", "must point to B*M flags");
  for (int64_t i = 0; i < x.blocks * x.experts; ++i)
    if (coreset[i] > 1)
      coreroute::detail::fail("coreset[" + std::to_string(i) + "]", int(coreset[i]), "must be 0 or 1");
  return route_in_coreset_unchecked(x, params_of(c), coreset);
}

}  // namespace coreroute::reference
