#pragma once
// Coreset policies (docs/spec.md section 4) and the policy concept every backend runs.
//
// A policy is a small value type holding only its parameters. Stage 1 (the coreset)
// is the same for all of them and lives in the backends:
//   1. each valid token takes the top-`local_k` experts of r[n,:] over all M experts
//      (plain top-K, no groups; ties: lower id); the expert at position q of that list
//      receives `vote(r, q)` from the token; the votes an expert receives over the block
//      are aggregated by the policy's `aggregation`, into V[i]: summed (the default; an
//      expert without votes has V = 0) or their maximum (an expert without votes has
//      V = -Inf and adds 0 to `before` and `total`);
//   2. experts are ranked by V (larger first, ties: lower id); walking that ranking,
//      the coreset is the longest prefix whose every rank q has
//      `keep(q, V[e_q], sum_{q'<q} V[e_q'], sum_i V[i], M)` true.
// So a policy must provide (checked by `static_assert(is_policy_v<P>)`):
//   static constexpr bool needs_votes;   // false: skip step 1, all votes are 0
//   static constexpr const char* name;
//   CR_HD int local_k(const RouterParams&) const;
//   template <class T> CR_HD T vote(T r, int q) const;          // T = double | float
//   template <class T> CR_HD bool keep(int q, T v, T before, T total, int M) const;
//   void validate(const RouterConfig&) const;                   // host; throws
//   std::string describe() const;                               // host
// and may provide
//   static constexpr VoteAggregation aggregation;               // default: sum
//   static constexpr bool vote_uses_position;                   // default: true
// (false promises that vote(r, q) does not depend on q: a backend may then skip ranking
// a token's experts when local_k = M; the reference's checked path verifies the promise)
// `keep` must be monotone in q (once false, false at every later rank): backends
// evaluate it for all ranks in parallel and take the prefix. A vote must be finite,
// and >= 0 when summed. A policy written this way runs unchanged on the reference,
// Kokkos and CUDA.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "config.hpp"
#include "error.hpp"
#include "macros.hpp"

namespace coreroute {

/// How Stage 1 aggregates the votes an expert receives over a block (docs/spec.md section 4).
enum class VoteAggregation : int { sum = 0, max = 1 };

inline const char* to_string(VoteAggregation a) { return a == VoteAggregation::sum ? "sum" : "max"; }

namespace detail {
template <class P, class = void>
struct aggregation_of {
  static constexpr VoteAggregation value = VoteAggregation::sum;
};
template <class P>
struct aggregation_of<P, std::void_t<decltype(P::aggregation)>> {
  static constexpr VoteAggregation value = P::aggregation;
};

/// V of an expert that no token voted for: the aggregation's identity.
template <class T>
CR_HD inline T no_vote(VoteAggregation a) {
  return a == VoteAggregation::max ? -T(INFINITY) : T(0);
}

/// V after one more vote v. A maximum takes v only when v is larger, so a NaN vote
/// (never produced by a valid policy) cannot decide it; equal values keep the earlier
/// one, which is the same number: the maximum does not depend on the order of votes.
template <class T>
CR_HD inline T add_vote(VoteAggregation a, T acc, T v) {
  return a == VoteAggregation::sum ? acc + v : (v > acc ? v : acc);
}

/// What V adds to `before` and `total`: V, or 0 for an expert that no token voted for.
template <class T>
CR_HD inline T counted_vote(VoteAggregation a, T v) {
  return v == no_vote<T>(a) ? T(0) : v;
}

/// The coreset size of a fixed-size policy, given directly (`fixed` > 0) or as a fraction
/// beta of M: max(1, floor(beta * M)), with a 1e-9 allowance so that decimal betas land
/// where they read (0.29 * 100 is 28.999999999999996 in double, and means 29).
CR_HD inline int fixed_size_for(int fixed, double beta, int num_experts) {
  if (fixed > 0) return fixed;
  const int c = static_cast<int>(floor(beta * num_experts + 1e-9));
  return c < 1 ? 1 : c;
}

/// The parameter check of a fixed-size policy: exactly one of `fixed` (in [1, M]) and
/// `beta` (in (0, 1]) is set. `what` is the policy's type name, for the message.
inline void require_fixed_size(const char* what, const char* fixed_name, int fixed, double beta,
                               const RouterConfig& c) {
  // Names and rules are built only on failure (checks run on every call).
  const auto name = [&](const char* field) { return std::string(what) + "." + field; };
  if (fixed != 0) {
    if (!(fixed >= 1 && fixed <= c.num_experts))
      fail(name(fixed_name), fixed, "must be in [1, num_experts = " + std::to_string(c.num_experts) + "]");
    if (beta != 0) fail(name("beta"), beta, std::string("must be 0 when ") + fixed_name + " is set");
  } else if (!(beta > 0 && beta <= 1)) {
    fail(name("beta"), beta, std::string("must be in (0, 1] (or set ") + fixed_name + " in [1, num_experts])");
  }
}

/// describe() of a fixed-size policy: "name(field=fixed)" or "name(beta=b)".
inline std::string describe_fixed_size(const char* name, const char* fixed_name, int fixed, double beta) {
  return std::string(name) + "(" + (fixed > 0 ? fixed_name + ("=" + to_text(fixed)) : "beta=" + to_text(beta)) + ")";
}
}  // namespace detail

/// The vote aggregation of policy P: P::aggregation, or sum where P does not say.
template <class P>
inline constexpr VoteAggregation vote_aggregation_v = detail::aggregation_of<P>::value;

namespace detail {
template <class P, class = void>
struct uses_position {
  static constexpr bool value = true;
};
template <class P>
struct uses_position<P, std::void_t<decltype(P::vote_uses_position)>> {
  static constexpr bool value = P::vote_uses_position;
};
}  // namespace detail

/// Whether P's vote(r, q) may depend on the position q: P::vote_uses_position, or true.
template <class P>
inline constexpr bool vote_uses_position_v = detail::uses_position<P>::value;

/// Token-level routing: the coreset is every expert.
struct VanillaPolicy {
  static constexpr bool needs_votes = false;
  static constexpr const char* name = "vanilla";
  CR_HD int local_k(const RouterParams& p) const { return p.top_k; }
  template <class T>
  CR_HD T vote(T, int) const {
    return T(0);
  }
  template <class T>
  CR_HD bool keep(int, T, T, T, int) const {
    return true;
  }
  void validate(const RouterConfig&) const {}
  std::string describe() const { return "vanilla"; }
};

/// DES-Seq: the union over tokens of each token's top-`k_local` experts.
struct UnionPolicy {
  static constexpr bool needs_votes = true;
  static constexpr const char* name = "union";
  int k_local = 1;

  CR_HD int local_k(const RouterParams&) const { return k_local; }
  template <class T>
  CR_HD T vote(T, int) const {
    return T(1);
  }  // V counts the tokens that chose the expert
  template <class T>
  CR_HD bool keep(int, T v, T, T, int) const {
    return v > T(0);
  }
  void validate(const RouterConfig& c) const {
    if (!(k_local >= 1 && k_local <= c.top_k))
      detail::fail("UnionPolicy.k_local", k_local, "must be in [1, top_k = " + std::to_string(c.top_k) + "]");
  }
  std::string describe() const { return "union(k_local=" + std::to_string(k_local) + ")"; }
};

/// Votes of docs/spec.md section 4: V_i = sum_n max(r[n,i], 0) over tokens with i in their top-K.
struct SaliencyVotes {
  CR_HD int local_k(const RouterParams& p) const { return p.top_k; }
  template <class T>
  CR_HD T vote(T r, int) const {
    return r > T(0) ? r : T(0);
  }
};

/// DES-Vote: the `core` experts with the largest votes; `core` given directly or as
/// beta, core = max(1, floor(beta * M)). Exactly one of the two is set.
struct SaliencyVotePolicy : SaliencyVotes {
  static constexpr bool needs_votes = true;
  static constexpr const char* name = "vote";
  int core = 0;     ///< > 0: fixed coreset size
  double beta = 0;  ///< used when core == 0

  static SaliencyVotePolicy with_core(int c) {
    SaliencyVotePolicy p;
    p.core = c;
    return p;
  }
  static SaliencyVotePolicy with_beta(double b) {
    SaliencyVotePolicy p;
    p.beta = b;
    return p;
  }

  /// max(1, floor(beta * M)) (detail::fixed_size_for).
  CR_HD int core_for(int num_experts) const { return detail::fixed_size_for(core, beta, num_experts); }
  template <class T>
  CR_HD bool keep(int q, T, T, T, int M) const {
    return q < core_for(M);
  }
  void validate(const RouterConfig& c) const {
    detail::require_fixed_size("SaliencyVotePolicy", "core", core, beta, c);
  }
  std::string describe() const { return detail::describe_fixed_size(name, "core", core, beta); }
};

/// dMoE: top-p of P = V / sum V (the expert that first makes the kept sum exceed
/// top_p is kept, no later one), then at least `min_experts` experts.
struct BlockDistributionPolicy : SaliencyVotes {
  static constexpr bool needs_votes = true;
  static constexpr const char* name = "blockdist";
  double top_p = 0.6;
  int min_experts = 16;

  template <class T>
  CR_HD bool keep(int q, T v, T before, T total, int) const {
    // v > 0 implies total > 0; `before / total` is the cumulative P of the kept ones.
    return q < min_experts || (v > T(0) && before / total <= T(top_p));
  }
  void validate(const RouterConfig& c) const {
    detail::require(top_p > 0 && top_p <= 1, "BlockDistributionPolicy.top_p", top_p, "must be in (0, 1]");
    if (!(min_experts >= 0 && min_experts <= c.num_experts))
      detail::fail("BlockDistributionPolicy.min_experts", min_experts,
                   "must be in [0, num_experts = " + std::to_string(c.num_experts) + "]");
  }
  std::string describe() const {
    return std::string(name) + "(top_p=" + detail::to_text(top_p) + ",min_experts=" + detail::to_text(min_experts) +
           ")";
  }
};

/// Block-maximum routing (SGLang's block top-K for LLaDA2.2): every token votes for every
/// expert with its r; an expert's block score is the maximum over the block's tokens;
/// the coreset is the `capacity` best (ties: lower id). `capacity` given directly or as
/// beta, capacity = max(1, floor(beta * M)), as SaliencyVotePolicy; exactly one is set.
struct BlockMaxPolicy {
  static constexpr bool needs_votes = true;
  static constexpr VoteAggregation aggregation = VoteAggregation::max;
  static constexpr bool vote_uses_position = false;  // every expert gets its r, whatever its rank
  static constexpr const char* name = "blockmax";
  int capacity = 0;  ///< > 0: fixed coreset size
  double beta = 0;   ///< used when capacity == 0

  static BlockMaxPolicy with_capacity(int c) {
    BlockMaxPolicy p;
    p.capacity = c;
    return p;
  }
  static BlockMaxPolicy with_beta(double b) {
    BlockMaxPolicy p;
    p.beta = b;
    return p;
  }

  CR_HD int local_k(const RouterParams& p) const { return p.num_experts; }  // every expert
  template <class T>
  CR_HD T vote(T r, int) const {
    return r;  // any sign: a maximum needs no clamp
  }
  CR_HD int capacity_for(int num_experts) const { return detail::fixed_size_for(capacity, beta, num_experts); }
  template <class T>
  CR_HD bool keep(int q, T, T, T, int M) const {
    return q < capacity_for(M);
  }
  void validate(const RouterConfig& c) const {
    detail::require_fixed_size("BlockMaxPolicy", "capacity", capacity, beta, c);
  }
  std::string describe() const { return detail::describe_fixed_size(name, "capacity", capacity, beta); }
};

namespace detail {
template <class P, class = void>
struct is_policy : std::false_type {};
template <class P>
struct is_policy<P, std::void_t<decltype(bool{P::needs_votes}), decltype(static_cast<const char*>(P::name)),
                                decltype(int{std::declval<const P&>().local_k(std::declval<const RouterParams&>())}),
                                decltype(double{std::declval<const P&>().vote(0.0, 0)}),
                                decltype(float{std::declval<const P&>().vote(0.0f, 0)}),
                                decltype(bool{std::declval<const P&>().keep(0, 0.0, 0.0, 0.0, 0)}),
                                decltype(bool{std::declval<const P&>().keep(0, 0.0f, 0.0f, 0.0f, 0)}),
                                decltype(std::declval<const P&>().validate(std::declval<const RouterConfig&>())),
                                decltype(std::string{std::declval<const P&>().describe()})>>
    : std::is_trivially_copyable<P> {};
}  // namespace detail

/// True when P satisfies the policy concept above (and is trivially copyable, so it
/// can be passed by value to a kernel).
template <class P>
inline constexpr bool is_policy_v = detail::is_policy<P>::value;

namespace detail {
/// What the checked entry points require of a policy's own answers (a user policy's
/// included), beyond its validate(): local_k in [1, num_experts] when it votes.
template <class P>
void require_valid_local_k(const P& pol, const RouterConfig& c) {
  if (!P::needs_votes) return;
  const int k = pol.local_k(params_of(c));
  if (!(k >= 1 && k <= c.num_experts))
    fail(std::string(P::name) + ".local_k()", k, "must be in [1, num_experts = " + std::to_string(c.num_experts) + "]");
}

/// How many experts each valid token votes for: local_k clamped to [0, M] (the checked
/// entry points require [1, M] of it: require_valid_local_k; the raw path clamps).
template <class P>
CR_HD inline int votes_per_token(const P& pol, const RouterParams& p) {
  const int k = pol.local_k(p);
  return k < 0 ? 0 : (k > p.num_experts ? p.num_experts : k);
}

/// A vote must be finite, and >= 0 when votes are summed: a negative summed vote would
/// make `before` decrease, a NaN would let its bit pattern decide the coreset order.
/// Names block and token.
template <class P>
void require_valid_vote(double v, double r, int q, int64_t block, int64_t token) {
  constexpr bool summed = vote_aggregation_v<P> == VoteAggregation::sum;
  const double inf = std::numeric_limits<double>::infinity();
  if ((summed ? v >= 0 : v > -inf) && v < inf) return;
  fail(std::string(P::name) + ".vote(r = " + to_text(r) + ", q = " + to_text(q) + ") [block " + to_text(block) +
           ", token " + to_text(token) + "]",
       v, summed ? "a vote must be finite and >= 0" : "a vote must be finite");
}
}  // namespace detail

static_assert(is_policy_v<VanillaPolicy> && is_policy_v<UnionPolicy> && is_policy_v<SaliencyVotePolicy> &&
              is_policy_v<BlockDistributionPolicy> && is_policy_v<BlockMaxPolicy>);
static_assert(vote_aggregation_v<SaliencyVotePolicy> == VoteAggregation::sum &&
              vote_aggregation_v<BlockMaxPolicy> == VoteAggregation::max);
static_assert(vote_uses_position_v<SaliencyVotePolicy> && !vote_uses_position_v<BlockMaxPolicy>);

}  // namespace coreroute
