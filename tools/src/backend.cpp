#include "backend.hpp"

#include <coreroute/error.hpp>
#include <coreroute/reference.hpp>

#ifdef COREROUTE_CLI_WITH_KOKKOS
#include <coreroute/kokkos/route.hpp>
#include <coreroute/kokkos/routing_views.hpp>
#endif

namespace coreroute::cli {

#ifdef COREROUTE_CLI_WITH_CUDA
Routing route_cuda(const LogitsView<float>& x, const RouterConfig& c, const AnyPolicy& p);  // backend_cuda.cu
#endif

namespace {

#ifdef COREROUTE_CLI_WITH_KOKKOS
/// Kokkos is initialized on first use only (reference runs never pay for it) and
/// finalized at exit, after every view of a run is gone.
void ensure_kokkos() {
  struct Guard {
    Guard() { Kokkos::initialize(); }
    ~Guard() { Kokkos::finalize(); }
  };
  static Guard guard;
}
#endif

[[noreturn]] void not_built(const std::string& name) {
  coreroute::detail::fail("--backend", name,
                          "backend " + name + " not built (configure with -DCOREROUTE_ENABLE_" +
                              (name == "kokkos" ? std::string("KOKKOS") : std::string("CUDA")) + "=ON)");
}

}  // namespace

std::string describe(const AnyPolicy& p) {
  return std::visit([](const auto& q) { return q.describe(); }, p);
}

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::kokkos:
      return "kokkos";
    case Backend::cuda:
      return "cuda";
    default:
      return "reference";
  }
}

Backend parse_backend(const std::string& name) {
  if (name == "reference") return Backend::reference;
    // A backend the tool was built without is an error, never a silent fallback.
#ifdef COREROUTE_CLI_WITH_KOKKOS
  if (name == "kokkos") return Backend::kokkos;
#endif
#ifdef COREROUTE_CLI_WITH_CUDA
  if (name == "cuda") return Backend::cuda;
#endif
  if (name == "kokkos" || name == "cuda") not_built(name);
  coreroute::detail::fail("--backend", name, "unknown backend (reference|kokkos|cuda)");
}

Routing route_with(Backend b, const LogitsView<float>& x, const RouterConfig& c, const AnyPolicy& p) {
  switch (b) {
    case Backend::reference:
      return std::visit([&](const auto& q) { return reference::route(x, c, q); }, p);
    case Backend::kokkos:
#ifdef COREROUTE_CLI_WITH_KOKKOS
      ensure_kokkos();
      // The host execution space reads the trace where it lies (no copy); to_host
      // copies the result views into a Routing.
      return std::visit(
          [&](const auto& q) { return kokkos::to_host(kokkos::route(Kokkos::DefaultHostExecutionSpace(), x, c, q)); },
          p);
#else
      break;
#endif
    case Backend::cuda:
#ifdef COREROUTE_CLI_WITH_CUDA
      return route_cuda(x, c, p);
#else
      break;
#endif
  }
  not_built(backend_name(b));
}

}  // namespace coreroute::cli
