#pragma once
// Coreset policies (docs/spec.md section 4) and the policy concept every backend runs.
//
// A policy is a small value type holding only its parameters. Stage 1 (the coreset)
// is the same for all of them and lives in the backends:
//   1. each valid token takes the top-`local_k` experts of r[n,:] over all M experts
//      (plain top-K, no groups; ties: lower id); the expert at position q of that list
//      receives `vote(r, q)` from the token; votes are summed over the block: V[i];
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
// `keep` must be monotone in q (once false, false at every later rank): backends
// evaluate it for all ranks in parallel and take the prefix. `vote` should be >= 0.
// A policy written this way runs unchanged on the reference, Kokkos and CUDA.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>

#include "config.hpp"
#include "error.hpp"
#include "macros.hpp"

namespace coreroute {

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

  /// floor(beta * M), with a 1e-9 allowance so that decimal betas land where they
  /// read: 0.29 * 100 is 28.999999999999996 in double, and means 29.
  CR_HD int core_for(int num_experts) const {
    if (core > 0) return core;
    const int c = static_cast<int>(floor(beta * num_experts + 1e-9));
    return c < 1 ? 1 : c;
  }
  template <class T>
  CR_HD bool keep(int q, T, T, T, int M) const {
    return q < core_for(M);
  }
  void validate(const RouterConfig& c) const {
    if (core != 0) {
      if (!(core >= 1 && core <= c.num_experts))
        detail::fail("SaliencyVotePolicy.core", core,
                     "must be in [1, num_experts = " + std::to_string(c.num_experts) + "]");
      detail::require(beta == 0, "SaliencyVotePolicy.beta", beta, "must be 0 when core is set");
    } else {
      detail::require(beta > 0 && beta <= 1, "SaliencyVotePolicy.beta", beta,
                      "must be in (0, 1] (or set core in [1, num_experts])");
    }
  }
  std::string describe() const {
    std::ostringstream os;
    if (core > 0)
      os << "vote(core=" << core << ")";
    else
      os << "vote(beta=" << beta << ")";
    return os.str();
  }
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
    std::ostringstream os;
    os << "blockdist(top_p=" << top_p << ",min_experts=" << min_experts << ")";
    return os.str();
  }
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

/// A vote must be finite and >= 0: a negative vote would make `before` decrease, a NaN
/// would let its bit pattern decide the coreset order. Names block and token.
template <class P>
void require_valid_vote(double v, double r, int q, int64_t block, int64_t token) {
  if (v >= 0 && v < std::numeric_limits<double>::infinity()) return;
  std::ostringstream os;
  os << P::name << ".vote(r = " << r << ", q = " << q << ") [block " << block << ", token " << token << "]";
  fail(os.str(), v, "a vote must be finite and >= 0");
}
}  // namespace detail

static_assert(is_policy_v<VanillaPolicy> && is_policy_v<UnionPolicy> && is_policy_v<SaliencyVotePolicy> &&
              is_policy_v<BlockDistributionPolicy>);

}  // namespace coreroute
