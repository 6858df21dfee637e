// The conformance kit on one built-in policy, against docs/spec.md section 4's definitions
// (oracles.hpp) and on both host backends. The policies are those registered in
// builtin_policies.hpp: argv[1] is a policy's CLI name; --list prints the names, one a
// line (CMake makes one ctest test per name from it, see CMakeLists.txt).
#include <iostream>
#include <string>
#include <type_traits>

#include <coreroute/builtin_policies.hpp>
#include <coreroute/testing/kit.hpp>

namespace ct = coreroute::testing;

int main(int argc, char** argv) {
  const std::string which = argc > 1 ? argv[1] : "";
  std::string names;
  coreroute::for_each_builtin([&](const auto& e) {
    names += std::string(names.empty() ? "" : " ") + std::decay_t<decltype(e)>::policy_type::name;
  });
  if (which == "--list") {
    coreroute::for_each_builtin(
        [](const auto& e) { std::cout << std::decay_t<decltype(e)>::policy_type::name << "\n"; });
    return 0;
  }
  int status = -1;
  coreroute::for_each_builtin([&](const auto& e) {
    using P = typename std::decay_t<decltype(e)>::policy_type;
    if (which != P::name) return;
    ct::PropertySuite suite("kit, " + which);
    ct::check_builtin_policy<P>(suite);
    status = suite.finish();
  });
  if (status < 0) {
    std::cerr << argv[0] << ": " << (which.empty() ? "no policy given" : "unknown policy '" + which + "'")
              << "; the built-in policies are: " << names << "\n"
              << "usage: " << argv[0] << " <policy> | --list\n";
    return 2;
  }
  return status;
}
