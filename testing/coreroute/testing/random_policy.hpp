#pragma once
// A seeded draw of any registered built-in policy (builtin_policies.hpp), without
// rapidcheck: for the backends' seeded parity tests (kokkos/tests, cuda/tests), which
// draw everything from one printed seed. The same rule as gen::registered_policy:
// each parameter keeps its default (the router-dependent one where registered) or is
// drawn (ints: small values and values up to max(M, K) + 1; doubles: a grid on [0, 1]
// and thousandths), and only draws that the policy's validate() accepts are kept.
#include <algorithm>
#include <cstddef>
#include <iterator>
#include <string>
#include <tuple>
#include <type_traits>

#include <coreroute/builtin_policies.hpp>
#include <coreroute/config.hpp>
#include <coreroute/error.hpp>

namespace coreroute::testing {

/// A valid P; `unit()` returns a uniform double in [0, 1). Throws when 1000 draws in a
/// row are all rejected (validate() accepts almost none of the registered ranges).
template <class P, class Unit>
P random_registered_policy(Unit&& unit, const RouterConfig& c) {
  const auto entry = std::get<builtin_index<P>()>(builtin_policies());         // a copy: the tuple is a temporary
  const auto below = [&](int n) { return std::min(n - 1, int(unit() * n)); };  // [0, n)
  for (int attempt = 0; attempt < 1000; ++attempt) {
    P p{};
    for_each_param(entry, [&](const auto& param) {
      using T = typename std::decay_t<decltype(param)>::value_type;
      T v = param.default_for ? param.default_for(c) : p.*param.member;
      if (below(3) > 0) {
        if constexpr (std::is_same_v<T, int>) {
          const int hi = std::max(c.num_experts, c.top_k) + 1;
          v = below(2) ? below(std::min(hi, 4) + 1) : below(hi + 1);
        } else {
          static const double grid[] = {0.0, 0.05, 0.1, 0.25, 0.5, 0.6, 0.9, 1.0};
          v = below(2) ? grid[below(int(std::size(grid)))] : below(1001) / 1000.0;
        }
      }
      p.*param.member = v;
    });
    try {
      p.validate(c);
      return p;
    } catch (const invalid_argument&) {
    }
  }
  throw invalid_argument(std::string("random_registered_policy: no valid ") + P::name +
                         " in 1000 draws from its registered parameters");
}

}  // namespace coreroute::testing
