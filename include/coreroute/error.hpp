#pragma once
#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace coreroute {

/// Thrown by every checked entry point before any work is done. The message names
/// the offending parameter and its value, e.g. "top_k = 9: must be in [1, num_experts = 8]".
class invalid_argument : public std::invalid_argument {
 public:
  explicit invalid_argument(const std::string& what) : std::invalid_argument(what) {}
};

namespace detail {

/// A value as `std::ostream <<` writes it (integers in decimal, floating point as "%g"),
/// without iostreams: a library loaded beside another copy of libstdc++ (PyTorch's wheels
/// export a static one) can crash in its iostream locale, and an error message must never.
template <class V>
std::string to_text(const V& v) {
  if constexpr (std::is_same_v<V, bool>) {
    return v ? "1" : "0";
  } else if constexpr (std::is_same_v<V, char> || std::is_same_v<V, signed char> || std::is_same_v<V, unsigned char>) {
    return std::string(1, char(v));  // a character, as ostream writes it
  } else if constexpr (std::is_floating_point_v<V>) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", double(v));
    return buf;
  } else if constexpr (std::is_integral_v<V>) {
    return std::to_string(v);
  } else if constexpr (std::is_pointer_v<V> && !std::is_convertible_v<V, const char*>) {
    if (v == nullptr) return "0";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", static_cast<const void*>(v));
    return buf;
  } else if constexpr (std::is_pointer_v<V>) {
    return v ? std::string(v) : std::string();  // a C string; ostream writes nothing for null
  } else {
    static_assert(std::is_constructible_v<std::string, const V&>,
                  "to_text: give the value as a number, a string, or a type with an explicit std::string conversion");
    return std::string(v);
  }
}

template <class V>
[[noreturn]] void fail(const std::string& param, const V& value, const std::string& rule) {
  throw invalid_argument("coreroute: " + param + " = " + to_text(value) + ": " + rule);
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
