#pragma once
// The registry of the built-in policies: one entry per policy of policies.hpp, with
// the parameters a front end (the `coreroute` CLI, the test kit) shows and sets.
// Everything that lists the built-in policies derives from `builtin_policies()`:
// the CLI's --policy choices, flags and help, its policy variant, sweep families,
// and labels. Adding a built-in policy is its struct in policies.hpp plus one entry
// below (docs/custom-policy.md, section 5).
//
// A parameter is a member of the policy struct, named by its C++ field: the CLI
// flag is the field with '_' as '-' (k_local -> --k-local). Its range is checked by
// the policy's validate() alone; front ends only map "Policy.field" in validate's
// message onto their own spelling of the parameter.
#include <algorithm>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "config.hpp"
#include "policies.hpp"

namespace coreroute {

/// A pointer to a policy's member (an alias: nvcc's host pass rewrites `T P::*m`
/// with parentheses that g++ -Werror rejects).
template <class P, class T>
using member_ptr = T P::*;

/// One parameter of a built-in policy. `T` is int or double.
template <class P, class T>
struct PolicyParam {
  using policy_type = P;
  using value_type = T;
  const char* field;  ///< the C++ member's name, e.g. "k_local"
  member_ptr<P, T> member;
  const char* help;
  const char* label = nullptr;                      ///< short name in run labels ("k" -> "union k=2"); null: not shown
  bool required = false;                            ///< must be given (the struct's default is no choice)
  const char* sweep = nullptr;                      ///< the family's swept parameter: default values "a,b,c" or "1..K"
  T (*default_for)(const RouterConfig&) = nullptr;  ///< default depending on the router (else the struct's)
};

/// A built-in policy: its type (P::name is its CLI name), a one-line summary and
/// its parameters.
template <class P, class... Params>
struct BuiltinPolicy {
  using policy_type = P;
  static_assert(is_policy_v<P>, "a built-in policy must satisfy the policy concept (policies.hpp)");
  const char* summary;
  std::tuple<Params...> params;
};

template <class P, class T>
constexpr PolicyParam<P, T> param(const char* field, member_ptr<P, T> member, const char* help) {
  return {field, member, help};
}

template <class P, class... Params>
constexpr BuiltinPolicy<P, Params...> builtin(const char* summary, Params... params) {
  return {summary, std::tuple<Params...>(params...)};
}

namespace detail {
template <class P, class T>
constexpr PolicyParam<P, T> with(PolicyParam<P, T> p, const char* label, bool required, const char* sweep,
                                 T (*default_for)(const RouterConfig&) = nullptr) {
  p.label = label;
  p.required = required;
  p.sweep = sweep;
  p.default_for = default_for;
  return p;
}
inline int min_experts_default(const RouterConfig& c) { return std::min(16, c.num_experts); }
}  // namespace detail

/// The built-in policies, in the order front ends list them. One entry per policy.
inline auto builtin_policies() {
  using detail::with;
  return std::make_tuple(
      builtin<VanillaPolicy>("token-level routing: the coreset is every expert"),
      builtin<UnionPolicy>("DES-Seq: the union of each token's top-k_local experts",
                           with(param("k_local", &UnionPolicy::k_local, "each token's top-k experts go into the union"),
                                "k", true, "1..K")),
      builtin<SaliencyVotePolicy>(
          "DES-Vote: the experts with the largest saliency votes",
          with(param("core", &SaliencyVotePolicy::core, "coreset size c"), "core", false, nullptr),
          with(param("beta", &SaliencyVotePolicy::beta, "coreset size max(1, floor(beta*M))"), "beta", false,
               "0.05,0.1,0.15,0.2,0.3,0.4,0.5,0.6,0.8")),
      builtin<BlockDistributionPolicy>(
          "dMoE: top-p of the block's vote distribution, at least min_experts",
          with(param("top_p", &BlockDistributionPolicy::top_p, "top-p of the block's vote distribution (default 0.6)"),
               "p", false, "0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"),
          with(param("min_experts", &BlockDistributionPolicy::min_experts, "coreset floor (default min(16, M))"),
               nullptr, false, nullptr, &detail::min_experts_default)),
      builtin<BlockMaxPolicy>(
          "block maximum (SGLang's block top-K): the experts with the largest maximum r over the block",
          with(param("capacity", &BlockMaxPolicy::capacity, "coreset size c"), "capacity", false, nullptr),
          with(param("beta", &BlockMaxPolicy::beta, "coreset size max(1, floor(beta*M))"), "beta", false,
               "0.05,0.1,0.15,0.2,0.3,0.4,0.5,0.6,0.8")));
}

using BuiltinPolicies = decltype(builtin_policies());

namespace detail {
template <class Tuple>
struct variant_of_builtins;
template <class... E>
struct variant_of_builtins<std::tuple<E...>> {
  using type = std::variant<typename E::policy_type...>;
};
}  // namespace detail

/// A value of any built-in policy.
using AnyBuiltinPolicy = typename detail::variant_of_builtins<BuiltinPolicies>::type;

/// Calls f(entry) for every built-in policy, in order.
template <class F>
void for_each_builtin(F&& f) {
  std::apply([&](const auto&... e) { (f(e), ...); }, builtin_policies());
}

namespace detail {
template <class P, class Tuple>
struct builtin_index_of;
template <class P, class... E>
struct builtin_index_of<P, std::tuple<E...>> {
  static constexpr std::size_t value = [] {
    constexpr bool is_p[] = {std::is_same_v<P, typename E::policy_type>..., false};
    std::size_t i = 0;
    while (i < sizeof...(E) && !is_p[i]) ++i;
    return i;
  }();
};
}  // namespace detail

/// True when P is a registered built-in policy.
template <class P>
inline constexpr bool is_builtin_v =
    detail::builtin_index_of<P, BuiltinPolicies>::value < std::tuple_size_v<BuiltinPolicies>;

/// The position of P's entry in builtin_policies().
template <class P>
constexpr std::size_t builtin_index() {
  static_assert(is_builtin_v<P>, "P is not registered in builtin_policies()");
  return detail::builtin_index_of<P, BuiltinPolicies>::value;
}

/// Calls f(param) for every parameter of one entry.
template <class Entry, class F>
void for_each_param(const Entry& e, F&& f) {
  std::apply([&](const auto&... p) { (f(p), ...); }, e.params);
}

}  // namespace coreroute
