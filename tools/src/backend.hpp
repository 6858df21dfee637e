#pragma once
// The backends the tool can route with. Reference is always there; Kokkos and CUDA
// only when the tool was built against their targets (else a clear error).
#include <string>
#include <variant>

#include <coreroute/builtin_policies.hpp>
#include <coreroute/config.hpp>
#include <coreroute/policies.hpp>
#include <coreroute/routing.hpp>
#include <coreroute/views.hpp>

namespace coreroute::cli {

/// Any built-in policy (include/coreroute/builtin_policies.hpp).
using AnyPolicy = AnyBuiltinPolicy;

std::string describe(const AnyPolicy& p);

enum class Backend { reference, kokkos, cuda };

/// "reference" | "kokkos" | "cuda"; throws when unknown or not built.
Backend parse_backend(const std::string& name);
const char* backend_name(Backend b);

/// Checked routing (validates config, policy and logits) on host data.
Routing route_with(Backend b, const LogitsView<float>& x, const RouterConfig& c, const AnyPolicy& p);

}  // namespace coreroute::cli
