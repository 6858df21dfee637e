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

template <class V>
void require(bool ok, const std::string& param, const V& value, const std::string& rule) {
  if (!ok) fail(param, value, rule);
}

}  // namespace detail
}  // namespace coreroute
