#pragma once
// The Kokkos backend's adapter for the testing kit (a coreroute::testing::Backend, see
// testing/coreroute/testing/parity.hpp):
// host data in, host results out, on execution space ExecSpace. On a host space the
// raw-pointer entry points read the caller's strided data directly; on a device space
// the batch is copied first (after the shape checks, so bad shapes never get copied).
#include <cstdint>
#include <vector>

#include <Kokkos_Core.hpp>

#include <coreroute/kokkos.hpp>

namespace coreroute::kokkos::testing {

template <class ExecSpace = Kokkos::DefaultExecutionSpace>
struct Backend {
  static constexpr const char* name = "kokkos";
  using Mem = typename ExecSpace::memory_space;
  static constexpr bool host_readable = Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible;

  /// Team size used by every call (0: Kokkos::AUTO); tests set it to exercise teams > 1.
  static inline TeamTuning tuning{};

  template <class Policy>
  static Routing route(const LogitsView<float>& x, const RouterConfig& c, const Policy& p, DispatchLayout* dispatch) {
    RoutingViews<Mem> R;
    if constexpr (host_readable) {
      R = kokkos::route(ExecSpace(), x, c, p, tuning);
    } else {
      const Device d = to_device(x, c);
      R = kokkos::route(ExecSpace(), d.logits, d.tokens, c, p, tuning);
    }
    if (dispatch) *dispatch = to_host(dispatch_of(ExecSpace(), R, tuning));
    return to_host(R);
  }

  static Routing route_in_coreset(const LogitsView<float>& x, const RouterConfig& c, const uint8_t* coreset) {
    if constexpr (host_readable) {
      return to_host(kokkos::route_in_coreset(ExecSpace(), x, c, coreset, tuning));
    } else {
      const Device d = to_device(x, c);
      Kokkos::View<uint8_t**, Kokkos::LayoutRight, Mem> mask("coreroute::mask", size_t(x.blocks), size_t(x.experts));
      Kokkos::deep_copy(mask,
                        Kokkos::View<const uint8_t**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
                            coreset, size_t(x.blocks), size_t(x.experts)));
      return to_host(kokkos::route_in_coreset(ExecSpace(), d.logits, d.tokens, c, mask, tuning));
    }
  }

  static std::vector<BlockMetrics> metrics(const Routing& R, const Routing& R0, double expert_bytes,
                                           const ExpertOutputsView* outputs) {
    ExpertOutputs<Mem> y;
    if (outputs) {
      Kokkos::View<float****, Kokkos::LayoutRight, Mem> dev("coreroute::outputs", size_t(R.blocks), size_t(R.tokens),
                                                            size_t(R.experts), size_t(outputs->dim));
      auto host = Kokkos::create_mirror_view(dev);
      for (int64_t b = 0; b < R.blocks; ++b)
        for (int64_t n = 0; n < R.tokens; ++n)
          for (int i = 0; i < R.experts; ++i)
            for (int d = 0; d < outputs->dim; ++d) host(b, n, i, d) = outputs->at(b, n, i)[d];
      Kokkos::deep_copy(dev, host);
      y = dev;
    }
    return to_host(kokkos::metrics(ExecSpace(), to_views<Mem>(R), to_views<Mem>(R0), expert_bytes, y));
  }

 private:
  struct Device {
    Kokkos::View<float***, Kokkos::LayoutRight, Mem> logits;
    Kokkos::View<int32_t*, Mem> tokens;
  };
  static Device to_device(const LogitsView<float>& x, const RouterConfig& c) {
    coreroute::validate(c);
    coreroute::detail::validate_shape(x, c, x.tokens_per_block);
    Device d{Kokkos::View<float***, Kokkos::LayoutRight, Mem>("coreroute::logits", size_t(x.blocks), size_t(x.tokens),
                                                              size_t(x.experts)),
             Kokkos::View<int32_t*, Mem>("coreroute::tokens", x.tokens_per_block ? size_t(x.blocks) : 0)};
    auto h = Kokkos::create_mirror_view(d.logits);
    for (int64_t b = 0; b < x.blocks; ++b)
      for (int64_t n = 0; n < x.tokens; ++n)
        for (int64_t i = 0; i < x.experts; ++i) h(b, n, i) = x.at(b, n, i);
    Kokkos::deep_copy(d.logits, h);
    if (x.tokens_per_block)
      Kokkos::deep_copy(d.tokens, Kokkos::View<const int32_t*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
                                      x.tokens_per_block, size_t(x.blocks)));
    return d;
  }
};

}  // namespace coreroute::kokkos::testing
