#pragma once
// The routing kernel: one team per block, generic over the policy concept
// (include/coreroute/policies.hpp). A team has W workers (Kokkos team threads) of L
// vector lanes each (L = 32 on a GPU, 1 on a host space); a worker takes one token at a
// time and its lanes share the token's M experts. Scores, votes and sums are in double.
// Vote sums, `before` and the weights' sums follow the reference's order; a row's
// softmax sum is a vector reduction (the reference's order on a host's one lane; on a
// GPU its last bits may differ, as any GPU exp does: docs/spec.md section 7's near ties).
//
//   stage 1    tokens in waves of W: a worker scores its token (r = s + bias, in its
//              row of scratch) and selects the token's top-local_k; then each expert's
//              vote is aggregated over the wave's tokens in token order, so after the last
//              wave V_i is the reference's sum (or maximum) exactly
//   coreset    every expert ranked by counting the experts ranked before it (workers
//              over experts, lanes over the others); one thread walks the ranking with
//              policy.keep, summing `before` in rank order as the reference does
//   stage 2    a worker per token: its row again (a block of one wave keeps Stage 1's
//              rows instead), the group limit (lanes over groups), top-K in the coreset,
//              weights summed in slot order
//
// Per-team scratch is O(M + N + W * M), not O(N * M): a block of many tokens fits, and the
// common shapes (M <= 256) stay in a GPU's shared memory (level 0).
//
// A selection (top_k) follows the tie rule: on a host one exact insertion pass, on a GPU
// k rounds of one vector max-reduction of 64-bit keys (see top_k). Lanes read scratch
// that other lanes of their worker wrote only after vector_barrier.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <Kokkos_Core.hpp>

#include <coreroute/config.hpp>
#include <coreroute/detail/groups.hpp>
#include <coreroute/detail/ranking.hpp>
#include <coreroute/detail/scores.hpp>
#include <coreroute/detail/weights.hpp>
#include <coreroute/policies.hpp>
#include <coreroute/kokkos/detail/launch.hpp>
#include <coreroute/kokkos/detail/scratch.hpp>
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

/// Makes the writes of a worker's lanes to scratch visible to all its lanes:
/// Kokkos::single(PerThread) ends with a sync of the worker's lanes on Cuda (__syncwarp
/// over them), and a host space has one lane per worker.
template <class Member>
KOKKOS_INLINE_FUNCTION void vector_barrier(const Member& team) {
  Kokkos::single(Kokkos::PerThread(team), []() {});
}

/// The best `k` of row[0..M) among `eligible(i)` by (value desc, id asc) into out[0..k)
/// in rank order; returns how many (min(k, #eligible)). Called by all lanes of a worker;
/// out is written by one lane and visible to all on return. One lane (a host space):
/// one pass inserting into out, ids in increasing order, so an equal value never moves
/// ahead; exact. Many lanes: k rounds of one vector max-reduction of keys ranked after
/// the last pick.
template <bool OneLane, class Member, class Eligible>
KOKKOS_INLINE_FUNCTION int top_k(const Member& team, const double* row, int M, int k, const Eligible& eligible,
                                 int* out) {
  using coreroute::detail::ranks_before;
  int got = 0;
  if constexpr (OneLane) {
    (void)team;
    if (k <= 0) return 0;  // a raw call's local_k may be 0: no votes (out[k - 1] below needs k >= 1)
    for (int i = 0; i < M; ++i) {
      if (!eligible(i)) continue;
      if (got == k && !ranks_before(row[i], i, row[out[k - 1]], out[k - 1])) continue;
      int pos = got < k ? got++ : k - 1;
      for (; pos > 0 && ranks_before(row[i], i, row[out[pos - 1]], out[pos - 1]); --pos) out[pos] = out[pos - 1];
      out[pos] = i;
    }
  } else {
    // A pick's key: the value's ordered bits with the id (inverted) in the low bits, so
    // one max-reduction applies the tie rule. Values closer than the dropped bits (2^-39
    // relative for M <= 8192) compare as equal and go to the lower id: a near tie by
    // docs/spec.md section 7, whose slack is 1e-6 relative.
    int id_bits = 0;
    while (id_bits < 31 && (int64_t(1) << id_bits) < int64_t(M)) ++id_bits;
    const uint64_t id_mask = (uint64_t(1) << id_bits) - 1;
    uint64_t last = ~uint64_t(0);  // the last pick's key; every key is below "none yet"
    for (; got < k; ++got) {
      uint64_t best = 0;  // no real value's key is 0
      Kokkos::parallel_reduce(
          Kokkos::ThreadVectorRange(team, M),
          [&](int i, uint64_t& m) {
            if (!eligible(i)) return;
            const uint64_t key = (coreroute::detail::ordered_bits(row[i]) & ~id_mask) | (id_mask - uint64_t(i));
            if (key < last && key > m) m = key;
          },
          Kokkos::Max<uint64_t>(best));
      if (best == 0) break;
      Kokkos::single(Kokkos::PerThread(team), [&]() { out[got] = int(id_mask - (best & id_mask)); });
      last = best;
    }
  }
  return got;
}

template <class ExecSpace, class LogitsV, class TokensV, class CoresetV, class Policy>
struct BlockRouter {
  using member_type = typename Kokkos::TeamPolicy<ExecSpace>::member_type;
  using S = Scratch<ExecSpace>;
  template <class T>
  using Array = typename S::template Array<T>;
  static constexpr bool given = std::is_same_v<Policy, GivenCoreset>;
  static constexpr bool one_lane = one_lane_v<ExecSpace>;
  static constexpr bool votes_needed = [] {
    if constexpr (given)
      return false;
    else
      return Policy::needs_votes;
  }();

  LogitsV x;         // [B, N, M]
  TokensV tokens;    // [B], or empty: every block has N tokens
  CoresetV coreset;  // [B, M], read when `given`
  RouterParams p;    // bias points into the execution space's memory
  Policy policy;
  BlockShape shape;
  RoutingViews<typename ExecSpace::memory_space> out;
  int level = 0;

  /// Scratch of one team of `workers` workers.
  static size_t scratch_bytes(const BlockShape& s, int workers) {
    const size_t N = size_t(s.N), M = size_t(s.M), G = size_t(s.groups), W = size_t(workers);
    return S::template bytes<double>(M) + 3 * S::template bytes<int>(M) + S::template bytes<int>(N) +
           S::template bytes<int>(1) + S::template bytes<double>(W * M) +
           S::template bytes<int>(W * size_t(s.slots())) + S::template bytes<double>(W * G) +
           2 * S::template bytes<int>(W * G);
  }

  /// A worker's scored token: valid, and the row's maximum and softmax sum (score_of).
  struct Scored {
    bool ok = false;
    double mx = 0, sum = 0;
  };

  /// One worker's scratch: its token's row r, its picks, its group ranks.
  struct Worker {
    double* row;
    int* picks;
    double* group_score;
    int* group_tier;
    int* group_keep;
  };

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const int b = team.league_rank(), W = team.team_size();
    const int N = shape.N, M = shape.M, G = shape.groups;
    const size_t w = size_t(team.team_rank()), slots = size_t(shape.slots());
    const int Nv = tokens.extent(0) ? int(tokens(b)) : N;
    const auto mem = team.team_scratch(level);
    Array<double> votes(mem, M);
    Array<int> rank(mem, M), order(mem, M), in_core(mem, M), valid(mem, N), kept(mem, 1);
    Array<double> rows(mem, W * size_t(M)), group_score(mem, W * size_t(G));
    Array<int> picks(mem, W * slots), group_tier(mem, W * size_t(G)), group_keep(mem, W * size_t(G));
    const Worker me{rows.data() + w * M, picks.data() + w * slots, group_score.data() + w * G,
                    group_tier.data() + w * G, group_keep.data() + w * G};

    Scored scored;  // with votes, the worker's token of Stage 1's last wave
    if constexpr (given) {
      Kokkos::parallel_for(Kokkos::TeamVectorRange(team, M), [&](int i) {
        in_core(i) = coreset(b, i) ? 1 : 0;
        out.coreset(b, i) = uint8_t(in_core(i));
      });
      team.team_barrier();
      Kokkos::single(Kokkos::PerTeam(team), [&]() {
        int size = 0;
        for (int i = 0; i < M; ++i) size += in_core(i);
        out.coreset_size(b) = size;
      });
    } else {
      if constexpr (votes_needed) scored = stage1_votes(team, Nv, me, rows, picks, valid, votes);
      select_coreset(team, votes, rank, order, in_core, kept);
    }
    team.team_barrier();

    // Stage 2: worker w routes tokens w, w + W, ... A block of one wave (Nv <= W) routes
    // the rows Stage 1 left: worker w's row is token w's r, unchanged since.
    const bool rows_kept = votes_needed && Nv <= W;
    for (int n = int(w); n < N; n += W) {
      int got = 0;
      double mx = 0, sum = 0;
      if (n < Nv) {
        bool ok = scored.ok;
        if (rows_kept) {
          mx = scored.mx, sum = scored.sum;
        } else {
          ok = score_row(team, b, n, me.row, mx, sum);
          if constexpr (!votes_needed) Kokkos::single(Kokkos::PerThread(team), [&]() { valid(n) = ok ? 1 : 0; });
        }
        if (ok) got = route_token(team, me, in_core.data());
      }
      // Weights: s of the picks summed in slot order, by every lane (got <= K terms).
      double picked = 0;
      for (int j = 0; j < got; ++j) picked += score_of(b, n, me.picks[j], mx, sum);
      Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, shape.K), [&](int j) {
        out.ids(b, n, j) = j < got ? me.picks[j] : -1;
        out.weights(b, n, j) =
            j < got ? float(coreroute::detail::token_weight(score_of(b, n, me.picks[j], mx, sum), picked, p)) : 0.0f;
      });
    }
    team.team_barrier();
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

  /// r = s + bias of one token into row[0..M), by the worker's lanes (visible to all of
  /// them on return); false for an invalid token (NaN/+Inf logit, softmax row of all
  /// -Inf), as the reference's score_token.
  KOKKOS_INLINE_FUNCTION bool score_row(const member_type& team, int b, int n, double* row, double& mx,
                                        double& sum) const {
    const int M = shape.M;
    // One max-reduction finds invalid logits (NaN and +Inf count as +Inf) and the row's
    // maximum; Kokkos::Max starts at -DBL_MAX, so a row whose maximum reads -DBL_MAX or
    // -Inf is counted to tell "all -Inf" from a real -DBL_MAX.
    mx = -double(INFINITY);
    Kokkos::parallel_reduce(
        Kokkos::ThreadVectorRange(team, M),
        [&](int i, double& m) {
          const double xi = double(x(b, n, i));
          const double v = coreroute::detail::invalid_logit(xi) ? double(INFINITY) : xi;
          if (v > m) m = v;
        },
        Kokkos::Max<double>(mx));
    if (mx == double(INFINITY)) return false;
    const bool softmax = p.score == ScoreFunction::softmax;
    if (softmax && mx <= -DBL_MAX) {
      int above = 0;
      Kokkos::parallel_reduce(
          Kokkos::ThreadVectorRange(team, M), [&](int i, int& c) { c += double(x(b, n, i)) > -double(INFINITY); },
          above);
      if (above == 0) return false;  // all -Inf
    }
    sum = 0;
    if (softmax)
      Kokkos::parallel_reduce(
          Kokkos::ThreadVectorRange(team, M), [&](int i, double& s) { s += std::exp(double(x(b, n, i)) - mx); }, sum);
    Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, M),
                         [&](int i) { row[i] = score_of(b, n, i, mx, sum) + double(p.bias_of(i)); });
    vector_barrier(team);
    return true;
  }

  /// Stage 1's votes: V_i aggregated over the valid tokens in token order; writes valid().
  /// Returns the worker's token of the last wave (scored, its r in me.row).
  KOKKOS_INLINE_FUNCTION Scored stage1_votes(const member_type& team, int Nv, const Worker& me,
                                             const Array<double>& rows, const Array<int>& picks,
                                             const Array<int>& valid, const Array<double>& votes) const {
    const int b = team.league_rank(), W = team.team_size(), M = shape.M, k = shape.local_k;
    const size_t slots = size_t(shape.slots());
    constexpr VoteAggregation agg = vote_aggregation_v<Policy>;
    // A vote that ignores its position, cast for every expert, needs no selection: each
    // token's vote for expert i is policy.vote(r_i, .) (the reference's order of votes per
    // expert is token order either way).
    const bool every_expert = !vote_uses_position_v<Policy> && k >= M;
    Kokkos::parallel_for(Kokkos::TeamVectorRange(team, M),
                         [&](int i) { votes(i) = coreroute::detail::no_vote<double>(agg); });
    Scored mine;
    for (int wave = 0; wave < Nv; wave += W) {
      const int n = wave + team.team_rank();
      mine = Scored{};
      if (n < Nv) {
        mine.ok = score_row(team, b, n, me.row, mine.mx, mine.sum);
        const bool ok = mine.ok;
        Kokkos::single(Kokkos::PerThread(team), [&]() { valid(n) = ok ? 1 : 0; });
        if (ok && !every_expert)
          top_k<one_lane>(
              team, me.row, M, k, [](int) { return true; }, me.picks);
      }
      team.team_barrier();
      const int wave_end = Nv < wave + W ? Nv : wave + W;
      Kokkos::parallel_for(Kokkos::TeamVectorRange(team, M), [&](int i) {
        double v = votes(i);
        for (int t = wave; t < wave_end; ++t) {
          if (!valid(t)) continue;
          const double* r = rows.data() + size_t(t - wave) * M;
          if (every_expert) {
            v = coreroute::detail::add_vote(agg, v, policy.vote(r[i], i));
          } else {
            const int* chosen = picks.data() + size_t(t - wave) * slots;
            for (int q = 0; q < k; ++q)
              if (chosen[q] == i) v = coreroute::detail::add_vote(agg, v, policy.vote(r[i], q));
          }
        }
        votes(i) = v;
      });
      team.team_barrier();
    }
    return mine;
  }

  /// The coreset from V (see the file comment). Writes in_core, out.coreset and out.coreset_size.
  KOKKOS_INLINE_FUNCTION void select_coreset(const member_type& team, const Array<double>& votes,
                                             const Array<int>& rank, const Array<int>& order, const Array<int>& in_core,
                                             const Array<int>& kept) const {
    const int b = team.league_rank(), M = shape.M;
    const double none = votes_needed ? coreroute::detail::no_vote<double>(vote_aggregation_v<Policy>) : 0.0;
    if constexpr (!votes_needed)
      Kokkos::parallel_for(Kokkos::TeamVectorRange(team, M), [&](int i) { votes(i) = none; });
    team.team_barrier();
    // Tiers: votes above the no-vote value, then experts without a vote (by id), then
    // votes below it; within a tier, ranks_before. (The tie rule puts V = none, a value
    // like any other, between the larger and the smaller votes, lower id first.)
    if constexpr (!votes_needed) {
      Kokkos::parallel_for(Kokkos::TeamVectorRange(team, M), [&](int i) { rank(i) = i; });  // no votes: by id
    } else {
      const auto tier = [none](double v) { return v > none ? 0 : v == none ? 1 : 2; };
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, M), [&](int i) {
        const double vi = votes(i);
        const int ti = tier(vi);
        int before = 0;
        Kokkos::parallel_reduce(
            Kokkos::ThreadVectorRange(team, M),
            [&](int j, int& c) {
              const int tj = tier(votes(j));
              c += (tj < ti || (tj == ti && coreroute::detail::ranks_before(votes(j), j, vi, i))) ? 1 : 0;
            },
            before);
        Kokkos::single(Kokkos::PerThread(team), [&]() { rank(i) = before; });
      });
    }
    team.team_barrier();
    Kokkos::parallel_for(Kokkos::TeamVectorRange(team, M), [&](int i) { order(rank(i)) = i; });
    team.team_barrier();
    Kokkos::single(Kokkos::PerTeam(team), [&]() {
      int size = 0;
      if constexpr (votes_needed) {
        double total = 0, before = 0;
        for (int i = 0; i < M; ++i) total += votes(i) != none ? votes(i) : 0.0;
        for (; size < M && policy_keep(size, votes(order(size)), before, total, M); ++size)
          before += votes(order(size)) != none ? votes(order(size)) : 0.0;
      } else {
        while (size < M && policy_keep(size, none, 0.0, 0.0, M)) ++size;  // no votes: V = 0, sums 0
      }
      kept(0) = size;
      out.coreset_size(b) = size;
    });
    team.team_barrier();
    const int size = kept(0);
    Kokkos::parallel_for(Kokkos::TeamVectorRange(team, M), [&](int i) {
      in_core(i) = rank(i) < size ? 1 : 0;
      out.coreset(b, i) = uint8_t(in_core(i));
    });
  }

  KOKKOS_INLINE_FUNCTION bool policy_keep(int q, double v, double before, double total, int M) const {
    if constexpr (given)
      return true;
    else
      return policy.keep(q, v, before, total, M);
  }

  /// Stage 2 for one valid token (its row in me.row): picks into me.picks[0..got),
  /// returns got.
  KOKKOS_INLINE_FUNCTION int route_token(const member_type& team, const Worker& me, const int* in_core) const {
    const int M = shape.M;
    if (!p.groups.enabled())
      return top_k<one_lane>(
          team, me.row, M, shape.K, [in_core](int i) { return in_core[i] != 0; }, me.picks);
    // The group limit (docs/spec.md section 3, coreroute/detail/groups.hpp): a lane per
    // group ranks it from the row, then a lane per group counts the groups before it.
    using coreroute::detail::GroupRank;
    const int G = p.groups.n_group, per = M / G, keep_groups = p.groups.topk_group;
    const GroupScoreRule rule = p.groups.group_score;
    Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, G), [&](int g) {
      const GroupRank<double> gr =
          coreroute::detail::group_rank(me.row, g, per, rule, [in_core](int i) { return in_core[i] != 0; });
      me.group_tier[g] = gr.tier;
      me.group_score[g] = gr.score;
    });
    vector_barrier(team);
    Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, G), [&](int g) {
      const GroupRank<double> mine{me.group_tier[g], me.group_score[g]};
      int before = 0;
      for (int h = 0; h < G; ++h)
        before +=
            coreroute::detail::group_ranks_before(GroupRank<double>{me.group_tier[h], me.group_score[h]}, h, mine, g)
                ? 1
                : 0;
      me.group_keep[g] = before < keep_groups ? 1 : 0;
    });
    vector_barrier(team);
    // Experts outside the kept groups or the coreset leave the row as -Inf (a real r =
    // s + bias is finite), so the K rounds of the selection test one value, not a group.
    const int* keep = me.group_keep;
    Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, M), [&](int i) {
      if (!(in_core[i] != 0 && keep[i / per] != 0)) me.row[i] = -double(INFINITY);
    });
    vector_barrier(team);
    const double* row = me.row;
    return top_k<one_lane>(
        team, me.row, M, shape.K, [row](int i) { return row[i] > -double(INFINITY); }, me.picks);
  }
};

}  // namespace detail
}  // namespace coreroute::kokkos
