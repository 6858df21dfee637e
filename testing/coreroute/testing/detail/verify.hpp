#pragma once
// The near-tie verification behind the parity harness (docs/spec.md section 7). Each check
// takes what a backend returned and decides, from the reference's double-precision
// values, whether every difference from the reference is explained by near-ties.
// They never skip: an unexplained difference is reported with the values involved.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <coreroute/reference/route.hpp>
#include <coreroute/testing/tolerance.hpp>

namespace coreroute::testing::detail {

/// One group's Stage 2 rank key: (valid, score), -Inf score when invalid.
struct GroupKey {
  int tier = 0;                 // eligible experts, up to 2 by the top2 rule, 1 by max (coreroute/detail/groups.hpp)
  double score = 0;             // tier 2: r[first] + r[second]; tier 1: r[first]
  int first = -1, second = -1;  // its two best eligible experts
};

/// Whether experts a and c have the same input (logit and bias) in token n of
/// block b: only such ties are input ties, which every backend must break by the
/// tie rule; values that are equal only by coincidence of rounding are near-ties.
struct SameInput {
  const LogitsView<float>& x;
  const RouterParams& p;
  int64_t b = 0, n = 0;
  bool operator()(int a, int c) const { return x.at(b, n, a) == x.at(b, n, c) && p.bias_of(a) == p.bias_of(c); }
};

template <class Same>
bool group_must_precede(const GroupKey& a, int ia, const GroupKey& b, int ib, bool strict, const Same& same) {
  if (a.tier != b.tier) return a.tier > b.tier;
  const bool input_tie = a.tier == 0 || (same(a.first, b.first) && (a.tier == 1 || same(a.second, b.second)));
  return must_precede(a.score, ia, b.score, ib, strict && input_tie);
}

inline std::vector<GroupKey> group_keys(const RouterParams& p, const double* r, const uint8_t* mask) {
  const int G = p.groups.n_group, per = p.num_experts / G;
  std::vector<GroupKey> keys(static_cast<size_t>(G));
  for (int g = 0; g < G; ++g) {
    int first = -1, second = -1;
    for (int i = g * per; i < (g + 1) * per; ++i) {
      if (!mask[i]) continue;
      if (first < 0 || reference::ranks_before(r[i], i, r[first], first)) {
        second = first;
        first = i;
      } else if (second < 0 || reference::ranks_before(r[i], i, r[second], second))
        second = i;
    }
    if (second >= 0 && p.groups.group_score == GroupScoreRule::top2)
      keys[size_t(g)] = {2, r[first] + r[second], first, second};
    else if (first >= 0)
      keys[size_t(g)] = {1, r[first], first, -1};
  }
  return keys;
}

inline std::string show_ids(const int32_t* ids, int K) {
  std::ostringstream os;
  os << "[";
  for (int j = 0; j < K; ++j) os << (j ? " " : "") << ids[j];
  os << "]";
  return os.str();
}

/// Stage 2 of one token: `got` (K ids) against the reference's `want` for the same
/// coreset `mask`. Returns "" when they are equal or every difference is a near-tie
/// (then sets `near_tie`); else what is wrong.
template <class Same>
std::string verify_token(const RouterParams& p, const double* r, const uint8_t* mask, const int32_t* got,
                         const int32_t* want, bool strict, const Same& same, bool& tie) {
  auto may_rank_before = [&](int a, int c) { return may_precede(r[a], a, r[c], c, strict && same(a, c)); };
  const int M = p.num_experts, K = p.top_k;
  if (std::equal(got, got + K, want)) return "";
  std::ostringstream why;
  why << "ids " << show_ids(got, K) << ", reference " << show_ids(want, K) << ": ";
  int m = 0;
  while (m < K && got[m] >= 0) ++m;
  for (int j = m; j < K; ++j)
    if (got[j] != -1) return why.str() + "slot " + std::to_string(j) + " follows a -1 slot but is not -1";
  std::vector<uint8_t> taken(static_cast<size_t>(M), 0);
  for (int j = 0; j < m; ++j) {
    const int e = got[j];
    if (e >= M) return why.str() + "id " + std::to_string(e) + " out of range";
    if (!mask[e]) return why.str() + "expert " + std::to_string(e) + " is not in the coreset";
    if (taken[size_t(e)]) return why.str() + "expert " + std::to_string(e) + " appears twice";
    taken[size_t(e)] = 1;
  }
  // Experts that are eligible whatever the backend decided at group near-ties.
  std::vector<uint8_t> sure(mask, mask + M);
  if (p.groups.enabled()) {
    const int G = p.groups.n_group, per = M / G, keep = p.groups.topk_group;
    const std::vector<GroupKey> keys = group_keys(p, r, mask);
    std::vector<uint8_t> touched(static_cast<size_t>(G), 0);
    for (int j = 0; j < m; ++j) touched[size_t(got[j] / per)] = 1;
    int n_touched = 0, spare = 0;
    for (int g = 0; g < G; ++g) {
      int must_before = 0, may_before = 0;
      for (int h = 0; h < G; ++h) {
        if (h == g) continue;
        must_before += group_must_precede(keys[size_t(h)], h, keys[size_t(g)], g, strict, same) ? 1 : 0;
        may_before += group_must_precede(keys[size_t(g)], g, keys[size_t(h)], h, strict, same) ? 0 : 1;
      }
      const bool surely_out = must_before >= keep, surely_in = may_before < keep;
      if (touched[size_t(g)] && surely_out)
        return why.str() + "group " + std::to_string(g) + " (score " + std::to_string(keys[size_t(g)].score) +
               ") is not among the top " + std::to_string(keep) + " groups, beyond a near-tie";
      n_touched += touched[size_t(g)];
      const int members = int(std::count(mask + g * per, mask + (g + 1) * per, uint8_t(1)));
      spare += (!touched[size_t(g)] && members == 0 && !surely_out) ? 1 : 0;
      if (!surely_in && !touched[size_t(g)]) std::fill(sure.begin() + g * per, sure.begin() + (g + 1) * per, 0);
    }
    if (n_touched > keep) return why.str() + "ids span more than topk_group groups";
    if (m < K && n_touched + spare < keep)
      return why.str() + "fewer than K ids, yet the selected groups must hold more eligible experts";
  }
  for (int j = 0; j + 1 < m; ++j)
    if (!may_rank_before(got[j], got[j + 1]))
      return why.str() + "slot order: expert " + std::to_string(got[j]) + " (r " + std::to_string(r[got[j]]) +
             ") before " + std::to_string(got[j + 1]) + " (r " + std::to_string(r[got[j + 1]]) + ") is not a near-tie";
  for (int e = 0; e < M; ++e) {
    if (!sure[size_t(e)] || taken[size_t(e)]) continue;
    if (m < K) return why.str() + "eligible expert " + std::to_string(e) + " left out while a slot is empty";
    for (int j = 0; j < m; ++j)
      if (!may_rank_before(got[j], e)) {
        std::ostringstream os;
        os.precision(17);
        os << why.str() << "expert " << e << " (r " << r[e] << ") left out for " << got[j] << " (r " << r[got[j]]
           << "), not a near-tie";
        return os.str();
      }
  }
  tie = true;
  return "";
}

/// Vote bounds of one block: for each expert the reference's vote and the range it
/// can take when the backend resolves each token's near-tied top-K boundary (and the
/// order inside it) differently, aggregated as the policy aggregates (a sum or a
/// maximum of the per-token bounds). `exact` = no near-tie touched the expert.
/// `parts[e]` lists e's vote from each valid token: two experts with equal votes tie
/// exactly on every backend only when their parts are equal, or all integers (exact
/// in float); otherwise the equality is a rounding coincidence, a near-tie.
struct VoteBounds {
  std::vector<double> ref, lo, hi;
  std::vector<uint8_t> exact, integral;
  std::vector<std::vector<double>> parts;
  bool input_tie(int e, int f) const {
    return exact[size_t(e)] && exact[size_t(f)] && ref[size_t(e)] == ref[size_t(f)] &&
           ((integral[size_t(e)] && integral[size_t(f)]) || parts[size_t(e)] == parts[size_t(f)]);
  }
};

template <class Policy>
VoteBounds vote_bounds(const LogitsView<float>& x, int64_t blk, const reference::BlockScores& sc, const RouterParams& p,
                       const Policy& pol, bool strict) {
  const int M = p.num_experts;
  const size_t Ms = static_cast<size_t>(M);
  VoteBounds v{std::vector<double>(Ms, 0.0), std::vector<double>(Ms, 0.0), std::vector<double>(Ms, 0.0),
               std::vector<uint8_t>(Ms, 1),  std::vector<uint8_t>(Ms, 1),  std::vector<std::vector<double>>(Ms)};
  if (!Policy::needs_votes) return v;
  constexpr VoteAggregation agg = vote_aggregation_v<Policy>;
  const double none = coreroute::detail::no_vote<double>(agg);  // a token's "no vote"
  for (std::vector<double>* w : {&v.ref, &v.lo, &v.hi}) std::fill(w->begin(), w->end(), none);
  const int k = std::min(pol.local_k(p), M);
  std::vector<int> o(static_cast<size_t>(M));
  for (size_t n = 0; n < sc.valid.size(); ++n) {
    if (!sc.valid[n]) continue;
    const double* r = sc.r_row(int64_t(n));
    const SameInput same{x, p, blk, int64_t(n)};
    for (auto& part : v.parts) part.push_back(0.0);
    std::iota(o.begin(), o.end(), 0);
    std::sort(o.begin(), o.end(), [r](int a, int b) { return reference::ranks_before(r[a], a, r[b], b); });
    for (int a = 0; a < k;) {
      int b = a;  // [a, b]: a run of positions any two neighbours of which may swap
      while (b + 1 < M && may_precede(r[o[size_t(b + 1)]], o[size_t(b + 1)], r[o[size_t(b)]], o[size_t(b)],
                                      strict && same(o[size_t(b)], o[size_t(b + 1)])))
        ++b;
      for (int u = a; u <= b; ++u) {
        const int e = o[size_t(u)];
        const double mine = u < k ? pol.vote(r[e], u) : none;
        double lo = b >= k ? none : mine, hi = lo;
        for (int q = a; q <= std::min(b, k - 1); ++q) {
          lo = std::min(lo, pol.vote(r[e], q));
          hi = std::max(hi, pol.vote(r[e], q));
        }
        v.ref[size_t(e)] = coreroute::detail::add_vote(agg, v.ref[size_t(e)], mine);
        v.parts[size_t(e)].back() = mine;
        if (mine != std::floor(mine)) v.integral[size_t(e)] = 0;
        v.lo[size_t(e)] = coreroute::detail::add_vote(agg, v.lo[size_t(e)], lo);
        v.hi[size_t(e)] = coreroute::detail::add_vote(agg, v.hi[size_t(e)], hi);
        if (lo != hi) v.exact[size_t(e)] = 0;
      }
      a = b + 1;
    }
  }
  return v;
}

inline double slack(double x) { return 1e-6 * std::fabs(x) + 1e-9; }

/// Stage 1 of one block: the backend's coreset `got` against the reference's `want`.
/// A differing coreset must be the kept prefix of some ranking that every near-tie
/// allows, with each `keep` decision along it reachable within the near-tie slack.
template <class Policy>
std::string verify_coreset(const LogitsView<float>& x, int64_t blk, const reference::BlockScores& sc,
                           const RouterParams& p, const Policy& pol, const uint8_t* got, const uint8_t* want,
                           bool strict, bool& tie) {
  const int M = p.num_experts;
  if (std::equal(got, got + M, want)) return "";
  for (int i = 0; i < M; ++i)
    if (got[i] > 1) return "coreset[" + std::to_string(i) + "] = " + std::to_string(int(got[i])) + " is not 0 or 1";
  const VoteBounds v = vote_bounds(x, blk, sc, p, pol, strict);
  auto may_rank_before = [&](int e, int f) {
    if (v.input_tie(e, f)) return !strict || e < f;
    return v.hi[size_t(e)] > v.lo[size_t(f)] || near_tie(v.hi[size_t(e)], v.lo[size_t(f)]);
  };
  std::vector<int> rank(static_cast<size_t>(M));
  std::iota(rank.begin(), rank.end(), 0);
  std::sort(rank.begin(), rank.end(), [&](int a, int b) {
    return got[a] != got[b] ? got[a] > got[b] : reference::ranks_before(v.ref[size_t(a)], a, v.ref[size_t(b)], b);
  });
  const int size = int(std::count(got, got + M, uint8_t(1)));
  std::ostringstream why;
  why.precision(17);
  for (int q = 0; q < size; ++q)
    for (int t = size; t < M; ++t)
      if (!may_rank_before(rank[size_t(q)], rank[size_t(t)])) {
        why << "coreset keeps expert " << rank[size_t(q)] << " (vote " << v.ref[size_t(rank[size_t(q)])]
            << ") but drops expert " << rank[size_t(t)] << " (vote " << v.ref[size_t(rank[size_t(t)])]
            << "), not a near-tie";
        return why.str();
      }
  // `before` and `total` count an expert without votes as 0 (policies.hpp).
  const auto counted = [](double w) {
    return Policy::needs_votes ? coreroute::detail::counted_vote(vote_aggregation_v<Policy>, w) : w;
  };
  double total[3] = {0, 0, 0};
  for (int i = 0; i < M; ++i) {
    total[0] += counted(v.lo[size_t(i)]);
    total[1] += counted(v.ref[size_t(i)]);
    total[2] += counted(v.hi[size_t(i)]);
  }
  double before[3] = {0, 0, 0};
  for (int q = 0; q <= size && q < M; ++q) {
    const int e = rank[size_t(q)];
    const bool keep_wanted = q < size;
    const double lo = v.lo[size_t(e)], hi = v.hi[size_t(e)];  // -Inf (no vote, a maximum) stays -Inf
    const double vs[3] = {std::isfinite(lo) ? lo - slack(lo) : lo, v.ref[size_t(e)],
                          std::isfinite(hi) ? hi + slack(hi) : hi};
    const double bs[3] = {before[0] - slack(before[0]), before[1], before[2] + slack(before[2])};
    bool reachable = false;
    for (double vv : vs)
      for (double bb : bs)
        for (double tt : total) reachable = reachable || pol.keep(q, vv, bb, tt, M) == keep_wanted;
    if (!reachable) {
      why << "coreset of size " << size << " (reference " << std::count(want, want + M, uint8_t(1)) << "): at rank "
          << q << " (expert " << e << ", vote " << v.ref[size_t(e)] << ", cumulative " << before[1] << " of "
          << total[1] << ") keep must be " << (keep_wanted ? "true" : "false") << ", which no near-tie allows";
      return why.str();
    }
    before[0] += counted(v.lo[size_t(e)]);
    before[1] += counted(v.ref[size_t(e)]);
    before[2] += counted(v.hi[size_t(e)]);
  }
  tie = true;
  return "";
}

}  // namespace coreroute::testing::detail
