#pragma once
// Policies that break a rule of the policy concept on purpose, for the backends' tests
// that every checked entry point rejects them by name, as the reference does. Host and
// device code (CR_HD), so a GPU backend's test can instantiate its kernels with them.
#include <string>

#include <coreroute/config.hpp>
#include <coreroute/macros.hpp>

namespace coreroute::testing {

/// A user policy whose local_k is `k` (out of range for the tests: -3, 0, > num_experts):
/// rejected as "bad_local_k.local_k() = k" before any work.
struct BadLocalK {
  static constexpr bool needs_votes = true;
  static constexpr const char* name = "bad_local_k";
  int k = -3;
  CR_HD int local_k(const RouterParams&) const { return k; }
  template <class T>
  CR_HD T vote(T, int) const {
    return T(1);
  }
  template <class T>
  CR_HD bool keep(int, T v, T, T, int) const {
    return v > T(0);
  }
  void validate(const RouterConfig&) const {}
  std::string describe() const { return "bad_local_k"; }
};

}  // namespace coreroute::testing
