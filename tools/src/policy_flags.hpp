#pragma once
// The built-in policies as the CLI spells them: each parameter's flag is its field
// with '_' as '-' (k_local -> --k-local), and validate()'s messages, which name
// "Policy.field", are rewritten to name the flag. Derived from
// include/coreroute/builtin_policies.hpp alone.
#include <cctype>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <coreroute/builtin_policies.hpp>
#include <coreroute/error.hpp>

namespace coreroute::cli {

/// "k_local" -> "--k-local".
inline std::string flag_of(const std::string& field) {
  std::string f = "--" + field;
  for (char& ch : f)
    if (ch == '_') ch = '-';
  return f;
}

/// The CLI names of the built-in policies, in registry order.
inline std::vector<std::string> builtin_policy_list() {
  std::vector<std::string> names;
  for_each_builtin([&](const auto& e) { names.push_back(std::decay_t<decltype(e)>::policy_type::name); });
  return names;
}

/// "vanilla|union|vote|blockdist".
inline std::string builtin_policy_names() {
  std::string s;
  for (const std::string& n : builtin_policy_list()) s += (s.empty() ? "" : "|") + n;
  return s;
}

/// Rewrites "Policy.field = " in a validate() message as "--flag = " (the swept
/// field, if any, as its sweep list "--flags").
template <class Entry>
std::string with_flags(std::string what, const Entry& e, const std::string& swept = "") {
  for_each_param(e, [&](const auto& p) {
    const std::string key = "." + std::string(p.field) + " = ";
    const size_t at = what.find(key);
    if (at == std::string::npos) return;
    size_t start = at;
    while (start > 0 && (std::isalnum(static_cast<unsigned char>(what[start - 1])) || what[start - 1] == '_')) --start;
    what.replace(start, at + key.size() - 3 - start, flag_of(p.field) + (swept == p.field ? "s" : ""));
  });
  return what;
}

/// Stores `v` (given for `flag`) in the parameter, checking an int parameter gets an integer.
template <class P, class T>
void set_param(P& policy, const PolicyParam<P, T>& p, double v, const std::string& flag) {
  if constexpr (std::is_integral_v<T>) {
    coreroute::detail::require(
        std::isfinite(v) && v == std::floor(v) && std::fabs(v) <= double(std::numeric_limits<T>::max()), flag, v,
        "must be an integer");
  }
  policy.*(p.member) = T(v);
}

/// Validates `p` against `c`; the error names the flags (see with_flags).
template <class Entry, class P>
void validate_as_flags(const Entry& e, const P& p, const RouterConfig& c, const std::string& swept = "") {
  try {
    p.validate(c);
  } catch (const coreroute::invalid_argument& err) {
    throw coreroute::invalid_argument(with_flags(err.what(), e, swept));
  }
}

}  // namespace coreroute::cli
