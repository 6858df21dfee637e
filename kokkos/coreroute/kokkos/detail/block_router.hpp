#pragma once
// The routing kernel: one team per block, generic over the policy concept
// (include/coreroute/policies.hpp). Scores, votes and sums are in double and follow
// the reference's order of operations, so on the host results agree bit for bit.
//
//   scores     tokens over team threads: row max / softmax sum, r = s + bias (scratch)
//   votes      tokens over team threads: each token's top-local_k; then one thread adds
//              the votes in token order (a parallel sum would make exact ties inexact)
//   coreset    experts with a nonzero vote ranked over team threads by counting, zero
//              votes placed by id; one thread walks the ranking with policy.keep
//   stage 2    tokens over team threads: group limit, top-K in the coreset, weights
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <Kokkos_Core.hpp>

#include <coreroute/config.hpp>
#include <coreroute/detail/ranking.hpp>
#include <coreroute/detail/scores.hpp>
#include <coreroute/detail/weights.hpp>
#include <coreroute/policies.hpp>
#include <coreroute/kokkos/detail/scratch.hpp>
#include <coreroute/kokkos/detail/select.hpp>
#include <coreroute/kokkos/routing_views.hpp>

namespace coreroute::kokkos {

/// Stands in for a policy when Stage 1 is skipped: the coreset is given per block.
struct GivenCoreset {};

namespace detail {

struct BlockShape {
  int N = 0, M = 0, K = 0;
  int local_k = 0;  ///< 0 when the policy casts no votes
  int groups = 0;   ///< n_group, 0 without group limit
  KOKKOS_INLINE_FUNCTION int slots() const { return K > local_k ? K : local_k; }
};

template <class ExecSpace, class LogitsV, class TokensV, class CoresetV, class Policy>
struct BlockRouter {
  using member_type = typename Kokkos::TeamPolicy<ExecSpace>::member_type;
  using S = Scratch<ExecSpace>;
  template <class T>
  using Array = typename S::template Array<T>;
  static constexpr bool given = std::is_same_v<Policy, GivenCoreset>;

  LogitsV x;         // [B, N, M]
  TokensV tokens;    // [B], or empty: every block has N tokens
  CoresetV coreset;  // [B, M], read when `given`
  RouterParams p;    // bias points into the execution space's memory
  Policy policy;
  BlockShape shape;
  RoutingViews<typename ExecSpace::memory_space> out;
  int level = 0;

  static size_t scratch_bytes(const BlockShape& s) {
    const size_t N = size_t(s.N), M = size_t(s.M), G = size_t(s.groups);
    return S::template bytes<double>(N * M) + 2 * S::template bytes<double>(N) + S::template bytes<int>(N) +
           S::template bytes<int>(N * size_t(s.slots())) + S::template bytes<double>(M) +
           4 * S::template bytes<int>(M) + S::template bytes<double>(N * G) + S::template bytes<int>(N * G) +
           S::template bytes<int>(3) + S::template bytes<double>(1);
  }

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const int b = team.league_rank();
    const int N = shape.N, M = shape.M, slots = shape.slots(), G = shape.groups;
    const int Nv = tokens.extent(0) ? int(tokens(b)) : N;
    const auto mem = team.team_scratch(level);
    Array<double> r(mem, size_t(N) * M), row_max(mem, N), row_sum(mem, N), votes(mem, M);
    Array<int> valid(mem, N), sel(mem, size_t(N) * slots), rank(mem, M), order(mem, M), nonzero(mem, M),
        in_core(mem, M), group_keep(mem, size_t(N) * G), counts(mem, 3);
    Array<double> group_score(mem, size_t(N) * G), total(mem, 1);

    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, Nv),
                         [&](int n) { valid(n) = score_row(b, n, r.data() + size_t(n) * M, row_max(n), row_sum(n)); });
    team.team_barrier();

    if constexpr (given) {
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, M), [&](int i) { in_core(i) = coreset(b, i) ? 1 : 0; });
      team.team_barrier();
      Kokkos::single(Kokkos::PerTeam(team), [&]() {
        int size = 0;
        for (int i = 0; i < M; ++i) {
          size += in_core(i);
          out.coreset(b, i) = uint8_t(in_core(i));
        }
        out.coreset_size(b) = size;
      });
    } else {
      select_coreset(team, Nv, r, valid, sel, votes, rank, order, nonzero, in_core, counts, total);
    }
    team.team_barrier();

    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, N), [&](int n) {
      int* ids = sel.data() + size_t(n) * slots;
      int got = 0;
      if (n < Nv && valid(n))
        got = route_token(r.data() + size_t(n) * M, in_core.data(), group_score.data() + size_t(n) * G,
                          group_keep.data() + size_t(n) * G, ids);
      double sum = 0;
      for (int j = 0; j < got; ++j) sum += score_of(b, n, ids[j], row_max(n), row_sum(n));
      for (int j = 0; j < shape.K; ++j) {
        out.ids(b, n, j) = j < got ? ids[j] : -1;
        const double s = j < got ? score_of(b, n, ids[j], row_max(n), row_sum(n)) : 0.0;
        out.weights(b, n, j) = j < got ? float(coreroute::detail::token_weight(s, sum, p)) : 0.0f;
      }
    });
    Kokkos::single(Kokkos::PerTeam(team), [&]() {
      int invalid = 0;
      for (int n = 0; n < Nv; ++n) invalid += valid(n) ? 0 : 1;
      out.invalid_tokens(b) = invalid;
      out.valid_tokens(b) = Nv;
    });
  }

  KOKKOS_INLINE_FUNCTION double score_of(int b, int n, int i, double mx, double sum) const {
    return coreroute::detail::score_of(p.score, double(x(b, n, i)), mx, sum);
  }

  /// r = s + bias of one token; false for an invalid token (NaN/+Inf logit, softmax
  /// row of all -Inf), as the reference's score_token.
  KOKKOS_INLINE_FUNCTION int score_row(int b, int n, double* r, double& mx, double& sum) const {
    using std::exp;
    const int M = shape.M;
    mx = -double(INFINITY);
    sum = 0;
    for (int i = 0; i < M; ++i) {
      const double xi = double(x(b, n, i));
      if (coreroute::detail::invalid_logit(xi)) return 0;
      mx = xi > mx ? xi : mx;
    }
    if (p.score == ScoreFunction::softmax) {
      if (!(mx > -double(INFINITY))) return 0;
      for (int i = 0; i < M; ++i) sum += exp(double(x(b, n, i)) - mx);
    }
    for (int i = 0; i < M; ++i) r[i] = score_of(b, n, i, mx, sum) + double(p.bias_of(i));
    return 1;
  }

  /// Stage 1 (see the file comment). Writes in_core, out.coreset and out.coreset_size.
  KOKKOS_INLINE_FUNCTION void select_coreset(const member_type& team, int Nv, const Array<double>& r,
                                             const Array<int>& valid, const Array<int>& sel, const Array<double>& votes,
                                             const Array<int>& rank, const Array<int>& order, const Array<int>& nonzero,
                                             const Array<int>& in_core, const Array<int>& counts,
                                             const Array<double>& total) const {
    const int b = team.league_rank();
    const int M = shape.M, slots = shape.slots(), k = shape.local_k;
    if constexpr (Policy::needs_votes) {
      // A vote that ignores its position, cast for every expert: no ranking needed (the
      // votes land per expert in token order either way).
      constexpr bool unranked = !vote_uses_position_v<Policy>;
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, Nv), [&](int n) {
        if (!valid(n)) return;
        int* chosen = sel.data() + size_t(n) * slots;
        if (unranked && k >= M)
          for (int i = 0; i < M; ++i) chosen[i] = i;
        else
          top_k(
              r.data() + size_t(n) * M, M, k, [](int) { return true; }, chosen);
      });
      team.team_barrier();
    }
    // One thread aggregates the votes in token order (exactly the reference's sums or
    // maxima), lists the experts whose V is not the no-vote value (0 for a sum, -Inf for
    // a maximum) and places the others by id; counts(0..2) = listed, listed above the
    // no-vote value, not listed; total(0) = sum of the counted votes in id order.
    constexpr VoteAggregation agg = vote_aggregation_v<Policy>;
    const double none = Policy::needs_votes ? coreroute::detail::no_vote<double>(agg) : 0.0;
    Kokkos::single(Kokkos::PerTeam(team), [&]() {
      for (int i = 0; i < M; ++i) votes(i) = none;
      if (Policy::needs_votes)
        for (int n = 0; n < Nv; ++n) {
          if (!valid(n)) continue;
          const int* chosen = sel.data() + size_t(n) * slots;
          for (int q = 0; q < k; ++q) {
            const double v = policy.vote(r(size_t(n) * M + chosen[q]), q);
            votes(chosen[q]) = coreroute::detail::add_vote(agg, votes(chosen[q]), v);
          }
        }
      int nz = 0, positive = 0, zero = 0;
      double sum = 0;
      for (int i = 0; i < M; ++i) {
        sum += votes(i) != none ? votes(i) : 0.0;
        if (votes(i) != none) {
          nonzero(nz++) = i;
          positive += votes(i) > none ? 1 : 0;
        } else {
          rank(i) = zero++;
        }
      }
      counts(0) = nz;
      counts(1) = positive;
      counts(2) = zero;
      total(0) = sum;
    });
    team.team_barrier();
    const int n_nonzero = counts(0), n_positive = counts(1), n_zero = counts(2);
    // No-vote experts rank after the larger votes and before the smaller ones (tie rule).
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, n_nonzero), [&](int u) {
      const int i = nonzero(u);
      int before = 0;
      for (int w = 0; w < n_nonzero; ++w) {
        const int j = nonzero(w);
        before += coreroute::detail::ranks_before(votes(j), j, votes(i), i) ? 1 : 0;
      }
      rank(i) = before + (votes(i) < none ? n_zero : 0);
    });
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, M), [&](int i) {
      if (votes(i) == none) rank(i) += n_positive;
    });
    team.team_barrier();
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, M), [&](int i) { order(rank(i)) = i; });
    team.team_barrier();
    Kokkos::single(Kokkos::PerTeam(team), [&]() {
      double before = 0;
      int size = 0;
      for (; size < M && policy.keep(size, votes(order(size)), before, total(0), M); ++size)
        before += votes(order(size)) != none ? votes(order(size)) : 0.0;
      for (int q = 0; q < M; ++q) {
        in_core(order(q)) = q < size ? 1 : 0;
        out.coreset(b, order(q)) = q < size ? 1 : 0;
      }
      out.coreset_size(b) = size;
    });
  }

  /// Stage 2 for one valid token: ids into out[0..got), returns got.
  KOKKOS_INLINE_FUNCTION int route_token(const double* r, const int* in_core, double* group_score, int* group_keep,
                                         int* out_ids) const {
    const int M = shape.M;
    if (!p.groups.enabled())
      return top_k(
          r, M, shape.K, [in_core](int i) { return in_core[i] != 0; }, out_ids);
    const int per = M / p.groups.n_group;
    best_groups(r, in_core, p.groups.n_group, per, p.groups.topk_group, p.groups.group_score, group_score, group_keep);
    return top_k(
        r, M, shape.K, [in_core, group_keep, per](int i) { return in_core[i] != 0 && group_keep[i / per] != 0; },
        out_ids);
  }
};

}  // namespace detail
}  // namespace coreroute::kokkos
