#pragma once
// The Kokkos backend's adapter for the testing kit (a coreroute::testing::Backend, see
// testing/coreroute/testing/parity.hpp):
// host data in, host results out, on execution space ExecSpace. On a host space the
// raw-pointer entry points read the caller's strided data directly; on a device space
// the batch is copied first (after the shape checks, so bad shapes never get copied).
// CopyInputs = true takes the device space's path on a host space too, so CI runs it.
//
// Every call routes into outputs the adapter keeps (the into entry points): a parity case
// makes several calls of one shape, and on a GPU an allocation per result View (a
// cudaMalloc, and a cudaFree that synchronises the device) costs more than the case's
// kernels. Buffers are kept per role and extents for the process, a few shapes per role,
// and freed when Kokkos finalizes. Routing and dispatch outputs are poisoned before every
// call (a few fills), so an element a kernel fails to write shows as a mismatch, never
// as an earlier call's value.
#include <array>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include <Kokkos_Core.hpp>

#include <coreroute/kokkos.hpp>

namespace coreroute::kokkos::testing {

/// Objects holding Views (of type T), kept per role and extents for the process; at most
/// `kShapes` shapes per role (the oldest goes first). References stay valid until that
/// entry is dropped: use one before asking for another shape of the same role.
template <class T>
class BufferCache {
 public:
  static constexpr size_t kShapes = 4;
  using Key = std::pair<int, std::array<int64_t, 4>>;  // role, extents

  template <class Make>
  static T& get(int role, std::array<int64_t, 4> extents, Make make) {
    Entries& e = entries();
    const Key key{role, extents};
    auto it = e.map.find(key);
    if (it != e.map.end()) return it->second;
    size_t of_role = 0;
    for (const Key& k : e.order) of_role += k.first == role ? 1 : 0;
    if (of_role >= kShapes)
      for (auto k = e.order.begin(); k != e.order.end(); ++k)
        if (k->first == role) {
          e.map.erase(*k);
          e.order.erase(k);
          break;
        }
    e.order.push_back(key);
    return e.map.emplace(key, make()).first->second;
  }

 private:
  struct Entries {
    std::map<Key, T> map;
    std::deque<Key> order;
  };
  static Entries& entries() {
    // Views must be freed before Kokkos::finalize, not at exit.
    static Entries* e = [] {
      auto* made = new Entries;
      Kokkos::push_finalize_hook([made] {
        made->map.clear();
        made->order.clear();
      });
      return made;
    }();
    return *e;
  }
};

template <class ExecSpace = Kokkos::DefaultExecutionSpace,
          bool CopyInputs = !Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible>
struct Backend {
  static constexpr const char* name = "kokkos";
  using Mem = typename ExecSpace::memory_space;
  static constexpr bool host_readable = !CopyInputs;

  /// Team size used by every call (0: Kokkos::AUTO); tests set it to exercise teams > 1.
  static inline TeamTuning tuning{};

  template <class Policy>
  static Routing route(const LogitsView<float>& x, const RouterConfig& c, const Policy& p, DispatchLayout* dispatch) {
    if constexpr (host_readable) {
      const RoutingViews<Mem>& R = routing_buffer(routed, x.blocks, x.tokens, c);
      kokkos::route(ExecSpace(), x, c, p, R, bias(), tuning);
      return finish(R, dispatch);
    } else {
      const Device d = to_device(x, c);
      const RoutingViews<Mem>& R = routing_buffer(routed, x.blocks, x.tokens, c);
      kokkos::route(ExecSpace(), d.logits, d.tokens, c, p, R, bias(), tuning);
      return finish(R, dispatch);
    }
  }

  static Routing route_in_coreset(const LogitsView<float>& x, const RouterConfig& c, const uint8_t* coreset) {
    if constexpr (host_readable) {
      const RoutingViews<Mem>& R = routing_buffer(routed, x.blocks, x.tokens, c);
      kokkos::route_in_coreset(ExecSpace(), x, c, coreset, R, bias(), tuning);
      return to_host(R);
    } else {
      const Device d = to_device(x, c);
      const auto& mask = BufferCache<Kokkos::View<uint8_t**, Kokkos::LayoutRight, Mem>>::get(
          mask_role, {x.blocks, x.experts, 0, 0}, [&] {
            return Kokkos::View<uint8_t**, Kokkos::LayoutRight, Mem>(
                Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::mask"), size_t(x.blocks),
                size_t(x.experts));
          });
      Kokkos::deep_copy(mask,
                        Kokkos::View<const uint8_t**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
                            coreset, size_t(x.blocks), size_t(x.experts)));
      const RoutingViews<Mem>& R = routing_buffer(routed, x.blocks, x.tokens, c);
      kokkos::route_in_coreset(ExecSpace(), d.logits, d.tokens, c, CoresetView<ExecSpace>(mask), R, bias(), tuning);
      return to_host(R);
    }
  }

  static std::vector<BlockMetrics> metrics(const Routing& R, const Routing& R0, double expert_bytes,
                                           const ExpertOutputsView* outputs) {
    ExpertOutputs<Mem> y;
    if (outputs) {
      const std::array<int64_t, 4> ext{R.blocks, R.tokens, R.experts, outputs->dim};
      using Outputs = Kokkos::View<float****, Kokkos::LayoutRight, Mem>;
      const Outputs& dev = BufferCache<Outputs>::get(outputs_role, ext, [&] {
        return Outputs(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::outputs"), size_t(ext[0]),
                       size_t(ext[1]), size_t(ext[2]), size_t(ext[3]));
      });
      const auto& host =
          BufferCache<HostMirror<Outputs>>::get(outputs_role, ext, [&] { return Kokkos::create_mirror_view(dev); });
      for (int64_t b = 0; b < R.blocks; ++b)
        for (int64_t n = 0; n < R.tokens; ++n)
          for (int i = 0; i < R.experts; ++i)
            for (int d = 0; d < outputs->dim; ++d) host(b, n, i, d) = outputs->at(b, n, i)[d];
      Kokkos::deep_copy(dev, host);
      y = dev;
    }
    const RoutingViews<Mem>& dR = copied(metrics_R, R);
    const RoutingViews<Mem>& dR0 = copied(metrics_R0, R0);
    using Out = Kokkos::View<BlockMetrics*, Mem>;
    const Out& m = BufferCache<Out>::get(metrics_out, {R.blocks, 0, 0, 0}, [&] {
      return Out(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::metrics"), size_t(R.blocks));
    });
    kokkos::metrics(ExecSpace(), dR, dR0, m, expert_bytes, y);
    return to_host(m);
  }

 private:
  template <class V>
  using HostMirror = decltype(Kokkos::create_mirror_view(std::declval<V>()));
  // Roles of the kept buffers: two Views of one type and extents used at once need two.
  enum Role {
    routed,
    metrics_R,
    metrics_R0,
    logits_role,
    tokens_role,
    mask_role,
    outputs_role,
    metrics_out,
    dispatch_role
  };

  static BiasBuffer<Mem>& bias() {
    return BufferCache<BiasBuffer<Mem>>::get(routed, {0, 0, 0, 0}, [] { return BiasBuffer<Mem>(); });
  }

  /// Outputs of the config's shape; a config whose extents are invalid gets empty Views
  /// (the checked call rejects the config before it looks at them).
  static const RoutingViews<Mem>& routing_buffer(Role role, int64_t B, int64_t N, const RouterConfig& c) {
    const bool shaped = B >= 0 && N >= 0 && c.num_experts >= 1 && c.top_k >= 1 && c.top_k <= c.num_experts;
    const std::array<int64_t, 4> ext{shaped ? B : 0, shaped ? N : 0, shaped ? c.num_experts : 0, shaped ? c.top_k : 0};
    const RoutingViews<Mem>& R = BufferCache<RoutingViews<Mem>>::get(
        role, ext, [&] { return shaped ? RoutingViews<Mem>(B, N, c.num_experts, c.top_k) : RoutingViews<Mem>(); });
    Kokkos::deep_copy(R.ids, kPoison);
    Kokkos::deep_copy(R.weights, std::numeric_limits<float>::quiet_NaN());
    Kokkos::deep_copy(R.coreset, uint8_t(0xAB));
    Kokkos::deep_copy(R.coreset_size, kPoison);
    Kokkos::deep_copy(R.valid_tokens, kPoison);
    Kokkos::deep_copy(R.invalid_tokens, kPoison);
    return R;
  }
  static constexpr int32_t kPoison = -7777;  // no routing or dispatch field holds it

  static Routing finish(const RoutingViews<Mem>& R, DispatchLayout* dispatch) {
    if (dispatch) {
      const auto& d = BufferCache<DispatchViews<Mem>>::get(
          dispatch_role, {R.blocks(), R.tokens(), R.experts(), R.top_k()},
          [&] { return DispatchViews<Mem>(R.blocks(), R.tokens(), R.experts(), R.top_k()); });
      for (const auto* v : {&d.used_experts, &d.counts, &d.offsets, &d.token, &d.slot}) Kokkos::deep_copy(*v, kPoison);
      Kokkos::deep_copy(d.num_used, kPoison);
      dispatch_of(ExecSpace(), R, d, tuning);
      *dispatch = to_host(d);
    }
    return to_host(R);
  }

  /// A host routing copied into the kept buffer of its role and shape.
  static const RoutingViews<Mem>& copied(Role role, const Routing& R) {
    const RoutingViews<Mem>& v =
        BufferCache<RoutingViews<Mem>>::get(role, {R.blocks, R.tokens, R.experts, R.top_k},
                                            [&] { return RoutingViews<Mem>(R.blocks, R.tokens, R.experts, R.top_k); });
    copy_to_views(R, v);
    return v;
  }

  struct Device {
    Kokkos::View<float***, Kokkos::LayoutRight, Mem> logits;
    Kokkos::View<int32_t*, Mem> tokens;
  };
  static Device to_device(const LogitsView<float>& x, const RouterConfig& c) {
    coreroute::validate(c);
    coreroute::detail::validate_shape(x, c, x.tokens_per_block);
    using Logits = Kokkos::View<float***, Kokkos::LayoutRight, Mem>;
    using Tokens = Kokkos::View<int32_t*, Mem>;
    const std::array<int64_t, 4> ext{x.blocks, x.tokens, x.experts, 0};
    const Device d{
        BufferCache<Logits>::get(logits_role, ext,
                                 [&] {
                                   return Logits(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::logits"),
                                                 size_t(x.blocks), size_t(x.tokens), size_t(x.experts));
                                 }),
        x.tokens_per_block ? BufferCache<Tokens>::get(tokens_role, {x.blocks, 0, 0, 0},
                                                      [&] {
                                                        return Tokens(Kokkos::view_alloc(Kokkos::WithoutInitializing,
                                                                                         "coreroute::tokens"),
                                                                      size_t(x.blocks));
                                                      })
                           : Tokens()};
    const auto& h =
        BufferCache<HostMirror<Logits>>::get(logits_role, ext, [&] { return Kokkos::create_mirror_view(d.logits); });
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
