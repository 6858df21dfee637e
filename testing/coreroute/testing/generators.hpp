#pragma once
// rapidcheck generators of configs, logits, cases and the built-in policies. Only
// this header (and kit.hpp) needs rapidcheck; parity.hpp and invariants.hpp do not.
//
// Sizes: most cases are small (N <= 32, M <= 64); one in `large_one_in` is large
// (N <= 128, M <= 512). Logits come in styles: block-correlated (the tokens of a
// block share a preference over experts, as a diffusion LLM's router does), the same
// rounded to bf16 (exact ties), a small grid of values (many exact ties), equal rows,
// and extremes (huge, tiny, denormal, -0, -Inf). Everything is drawn from integers,
// so shrinking ends at small, readable counterexamples.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include <rapidcheck.h>

#include <coreroute/builtin_policies.hpp>
#include <coreroute/config.hpp>
#include <coreroute/error.hpp>
#include <coreroute/policies.hpp>
#include <coreroute/testing/case.hpp>

namespace coreroute::testing::gen {

enum class Logits { correlated, bf16, grid, equal_rows, extreme };

struct CaseOptions {
  int max_blocks = 3;
  int small_tokens = 32, small_experts = 64;
  int large_tokens = 128, large_experts = 512;
  int large_one_in = 10;  ///< 0: never large
  std::vector<Logits> styles = {Logits::correlated, Logits::bf16, Logits::grid, Logits::equal_rows, Logits::extreme};
  bool allow_groups = true, allow_bias = true;
  bool allow_tokens_per_block = true, allow_strides = true;
  int min_tokens = 0;
};

inline float round_to_bf16(float v) {
  if (!std::isfinite(v)) return v;
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;  // round to nearest even
  std::memcpy(&v, &u, sizeof v);
  return v;
}

/// A valid RouterConfig with M experts (K, score, bias, groups, normalisation, scaling).
inline rc::Gen<RouterConfig> config(int M, const CaseOptions& o = {}) {
  return rc::gen::exec([M, o] {
    RouterConfig c;
    c.num_experts = M;
    const int k_cap = *rc::gen::weightedElement<int>({{4, std::min(M, 9)}, {1, M}});
    c.top_k = *rc::gen::inRange(1, k_cap + 1);
    c.score = *rc::gen::element(ScoreFunction::softmax, ScoreFunction::sigmoid);
    c.normalize_weights = *rc::gen::element(false, true);
    c.scaling = *rc::gen::weightedElement<float>({{4, 1.0f}, {1, 2.5f}, {1, 0.5f}});
    if (o.allow_bias && *rc::gen::element(false, true)) {
      const int step = *rc::gen::element(1, 250);  // 250: a coarse grid, so biases tie
      for (int v : *rc::gen::container<std::vector<int>>(size_t(M), rc::gen::inRange(-1000 / step, 1000 / step + 1)))
        c.expert_bias.push_back(float(v * step) / 1000.0f);
    }
    std::vector<int> n_groups;  // divisors of M leaving >= 2 experts per group
    for (int g = 1; g <= M / 2; ++g)
      if (M % g == 0) n_groups.push_back(g);
    if (o.allow_groups && !n_groups.empty() && *rc::gen::weightedElement<int>({{2, 0}, {1, 1}})) {
      const int G = *rc::gen::elementOf(n_groups), per = M / G;
      c.groups.n_group = G;
      c.groups.topk_group = *rc::gen::inRange((c.top_k + per - 1) / per, G + 1);
      c.groups.group_score = *rc::gen::element(GroupScoreRule::top2, GroupScoreRule::max);
    }
    return c;
  });
}

/// Logits of one block [N, M] (row stride M) in the given style.
inline rc::Gen<std::vector<float>> block_logits(Logits style, int N, int M) {
  return rc::gen::exec([style, N, M] {
    const size_t count = size_t(N) * size_t(M);
    std::vector<float> out(count);
    switch (style) {
      case Logits::correlated:
      case Logits::bf16: {
        const auto pref = *rc::gen::container<std::vector<int>>(size_t(M), rc::gen::inRange(-4000, 4001));
        const int spread = *rc::gen::element(0, 100, 500, 1000, 3000);  // token noise, in thousandths
        const auto noise = *rc::gen::container<std::vector<int>>(count, rc::gen::inRange(-1000, 1001));
        for (size_t t = 0; t < count; ++t)
          out[t] = float(pref[t % size_t(M)]) / 1000.0f + float(noise[t]) * float(spread) / 1.0e6f;
        if (style == Logits::bf16) std::transform(out.begin(), out.end(), out.begin(), round_to_bf16);
        break;
      }
      case Logits::grid: {
        const auto v = *rc::gen::container<std::vector<float>>(
            count, rc::gen::element(0.0f, 1.0f, -1.0f, 0.5f, 2.0f, -0.5f, 0.25f, -2.0f));
        out = v;
        break;
      }
      case Logits::equal_rows: {
        const auto row = *rc::gen::container<std::vector<int>>(size_t(N), rc::gen::inRange(-8, 9));
        for (size_t t = 0; t < count; ++t) out[t] = float(row[t / size_t(M)]) * 0.5f;
        break;
      }
      case Logits::extreme: {
        const float inf = std::numeric_limits<float>::infinity();
        out = *rc::gen::container<std::vector<float>>(
            count, rc::gen::element(0.0f, -0.0f, 1.0f, -1.0f, 1e30f, -1e30f, 3e38f, -3e38f, 1e-40f, -1e-40f, 1e-30f,
                                    80.0f, -80.0f, -inf));
        break;
      }
    }
    return out;
  });
}

/// A valid case: config, shape, logits, maybe strides and tokens per block.
inline rc::Gen<Case> valid_case(const CaseOptions& o = {}) {
  return rc::gen::resize(
      100, rc::gen::exec([o] {
        const bool large = o.large_one_in > 0 && *rc::gen::inRange(0, o.large_one_in) == 0;
        const int M = large ? *rc::gen::inRange(o.small_experts + 1, o.large_experts + 1)
                            : *rc::gen::weightedOneOf<int>(
                                  {{3, rc::gen::inRange(1, 17)}, {2, rc::gen::inRange(1, o.small_experts + 1)}});
        const int n_max = large ? o.large_tokens : o.small_tokens;
        const int N = *rc::gen::weightedOneOf<int>(
            {{1, rc::gen::just(std::max(1, o.min_tokens))}, {6, rc::gen::inRange(o.min_tokens, n_max + 1)}});
        const int B = large ? 1 : *rc::gen::inRange(1, o.max_blocks + 1);
        Case k = make_case(*config(M, o), B, N);
        if (o.allow_strides && *rc::gen::weightedElement<int>({{3, 0}, {1, 1}}))
          k.token_stride = M + *rc::gen::inRange(1, 4);
        k.logits.assign(size_t(B) * size_t(N) * size_t(k.token_stride), std::numeric_limits<float>::quiet_NaN());
        for (int b = 0; b < B; ++b) {
          const auto block = *block_logits(*rc::gen::elementOf(o.styles), N, M);
          for (int n = 0; n < N; ++n) {
            for (int i = 0; i < M; ++i) k.at(b, n, i) = block[size_t(n) * size_t(M) + size_t(i)];
            // A softmax row of all -Inf is invalid input: keep valid cases valid.
            if (k.config.score == ScoreFunction::softmax &&
                std::all_of(&k.at(b, n, 0), &k.at(b, n, 0) + M, [](float v) { return std::isinf(v); }))
              k.at(b, n, 0) = 0.0f;
          }
        }
        if (o.allow_tokens_per_block && *rc::gen::weightedElement<int>({{3, 0}, {1, 1}}))
          k.tokens_per_block = *rc::gen::container<std::vector<int32_t>>(size_t(B), rc::gen::inRange(0, N + 1));
        return k;
      }));
}

/// A case with at least one invalid routed token: a NaN or +Inf logit, or a softmax
/// row of all -Inf. Stride padding holds NaN too, which must never be read.
inline rc::Gen<Case> invalid_case(const CaseOptions& o = {}) {
  CaseOptions with_tokens = o;
  with_tokens.min_tokens = std::max(1, o.min_tokens);
  return rc::gen::exec([with_tokens] {
    Case k = *valid_case(with_tokens);
    if (!k.tokens_per_block.empty()) k.tokens_per_block[0] = std::max<int32_t>(1, k.tokens_per_block[0]);
    const int bad = *rc::gen::inRange(1, 4);
    for (int t = 0; t < bad; ++t) {
      int64_t b = *rc::gen::inRange<int64_t>(0, k.blocks);
      if (k.valid_tokens(b) == 0) b = 0;  // block 0 always routes a token
      const int64_t n = *rc::gen::inRange<int64_t>(0, k.valid_tokens(b));
      const int kind = *rc::gen::inRange(0, k.config.score == ScoreFunction::softmax ? 3 : 2);
      if (kind == 2) {
        for (int i = 0; i < k.experts(); ++i) k.at(b, n, i) = -std::numeric_limits<float>::infinity();
      } else {
        k.at(b, n, *rc::gen::inRange(0, k.experts())) =
            kind == 0 ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
      }
    }
    return k;
  });
}

// Built-in policies, valid for the config they are drawn for.
inline rc::Gen<UnionPolicy> union_policy(const RouterConfig& c) {
  return rc::gen::map(rc::gen::inRange(1, c.top_k + 1), [](int k) {
    UnionPolicy p;
    p.k_local = k;
    return p;
  });
}

inline rc::Gen<SaliencyVotePolicy> vote_policy(const RouterConfig& c) {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::inRange(1, c.num_experts + 1), SaliencyVotePolicy::with_core),
      rc::gen::map(rc::gen::element(0.05, 0.1, 0.15, 0.25, 0.4, 0.6, 1.0), SaliencyVotePolicy::with_beta));
}

inline rc::Gen<BlockDistributionPolicy> blockdist_policy(const RouterConfig& c) {
  const int M = c.num_experts;
  return rc::gen::exec([M] {
    BlockDistributionPolicy p;
    p.top_p = *rc::gen::weightedOneOf<double>(
        {{1, rc::gen::element(0.1, 0.3, 0.5, 0.6, 0.9, 1.0)},
         {1, rc::gen::map(rc::gen::inRange(1, 1001), [](int v) { return v / 1000.0; })}});
    p.min_experts = *rc::gen::weightedOneOf<int>(
        {{1, rc::gen::just(0)}, {2, rc::gen::inRange(0, std::min(M, 4) + 1)}, {1, rc::gen::inRange(0, M + 1)}});
    return p;
  });
}

inline rc::Gen<VanillaPolicy> vanilla_policy(const RouterConfig&) { return rc::gen::just(VanillaPolicy{}); }

// Any registered policy (builtin_policies.hpp), from its registered parameters: each
// parameter keeps its default (the router-dependent one where registered) or is drawn
// (ints: small values and values up to max(M, K) + 1; doubles: a grid on [0, 1] and
// thousandths), and only draws that the policy's validate() accepts are kept. So the
// generator knows no policy's ranges; validate() stays their one copy.
namespace detail {
template <class T>
rc::Gen<T> parameter_value(T fallback, const RouterConfig& c) {
  if constexpr (std::is_same_v<T, int>) {
    const int hi = std::max(c.num_experts, c.top_k) + 1;
    return rc::gen::weightedOneOf<int>({{1, rc::gen::just(fallback)},
                                        {2, rc::gen::inRange(0, std::min(hi, 4) + 1)},
                                        {2, rc::gen::inRange(0, hi + 1)}});
  } else {
    static_assert(std::is_same_v<T, double>, "a registered parameter is int or double");
    return rc::gen::weightedOneOf<double>(
        {{1, rc::gen::just(fallback)},
         {1, rc::gen::element(0.0, 0.05, 0.1, 0.25, 0.5, 0.6, 0.9, 1.0)},
         {2, rc::gen::map(rc::gen::inRange(0, 1001), [](int v) { return v / 1000.0; })}});
  }
}

template <class P>
bool accepts(const P& p, const RouterConfig& c) {
  try {
    p.validate(c);
    return true;
  } catch (const invalid_argument&) {
    return false;
  }
}

template <class P>
const auto& registry_entry() {
  static const auto entry = std::get<builtin_index<P>()>(builtin_policies());
  return entry;
}
}  // namespace detail

/// A valid P drawn from its registry entry's parameters (see above).
template <class P>
rc::Gen<P> registered_policy(const RouterConfig& c) {
  return rc::gen::suchThat(rc::gen::exec([c] {
                             P p{};
                             for_each_param(detail::registry_entry<P>(), [&](const auto& param) {
                               using T = typename std::decay_t<decltype(param)>::value_type;
                               const T fallback = param.default_for ? param.default_for(c) : p.*param.member;
                               p.*param.member = *detail::parameter_value<T>(fallback, c);
                             });
                             return p;
                           }),
                           [c](const P& p) { return detail::accepts(p, c); });
}

// Hand-tuned generators of the first four policies, weighted towards the edges of
// their definitions (exact top_p = 1, min_experts = 0, beta = 1, core = 1); the kit
// uses them where they exist, registered_policy otherwise.
inline rc::Gen<VanillaPolicy> tuned_policy(const RouterConfig& c, const VanillaPolicy*) { return vanilla_policy(c); }
inline rc::Gen<UnionPolicy> tuned_policy(const RouterConfig& c, const UnionPolicy*) { return union_policy(c); }
inline rc::Gen<SaliencyVotePolicy> tuned_policy(const RouterConfig& c, const SaliencyVotePolicy*) {
  return vote_policy(c);
}
inline rc::Gen<BlockDistributionPolicy> tuned_policy(const RouterConfig& c, const BlockDistributionPolicy*) {
  return blockdist_policy(c);
}

/// True when P has a tuned_policy of its own (exactly P: a policy derived from one of
/// the four does not inherit its base's generator).
template <class P, class = void>
struct has_tuned_policy : std::false_type {};
template <class P>
struct has_tuned_policy<
    P, std::void_t<decltype(static_cast<rc::Gen<P> (*)(const RouterConfig&, const P*)>(&tuned_policy))>>
    : std::true_type {};

/// The generator of a built-in policy: its tuned one, else registered_policy.
template <class P>
rc::Gen<P> builtin_policy(const RouterConfig& c) {
  if constexpr (has_tuned_policy<P>::value)
    return tuned_policy(c, static_cast<const P*>(nullptr));
  else
    return registered_policy<P>(c);
}

}  // namespace coreroute::testing::gen
