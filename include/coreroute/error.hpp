#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace coreroute {

/// Thrown by every checked entry point before any work is done. The message names
/// the offending parameter and its value, e.g. "top_k = 9: must be in [1, num_experts = 8]".
class invalid_argument : public std::invalid_argument {
 public:
  explicit invalid_argument(const std::string& what) : std::invalid_argument(what) {}
};

namespace detail {

template <class V>
[[noreturn]] void fail(const std::string& param, const V& value, const std::string& rule) {
  std::ostringstream os;
  os << "coreroute: " << param << " = " << value << ": " << rule;
  throw invalid_argument(os.str());
}

/// Throws unless `ok`. Name and rule are taken as given (a literal stays a pointer) and
/// made strings only on failure: checks run on every call of the hot entry points, so a
/// rule built from numbers is written `if (!ok) fail(...)` instead, never built eagerly.
template <class P, class V, class R>
void require(bool ok, const P& param, const V& value, const R& rule) {
  if (!ok) fail(param, value, rule);
}

}  // namespace detail
}  // namespace coreroute
