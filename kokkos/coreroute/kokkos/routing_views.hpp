#pragma once
// Routing results as Kokkos Views in any memory space (the layout of coreroute::Routing,
// docs/spec.md section 5), and their copies to and from the host.
#include <cstdint>
#include <vector>

#include <Kokkos_Core.hpp>

#include <coreroute/routing.hpp>

namespace coreroute::kokkos {

template <class MemSpace = Kokkos::DefaultExecutionSpace::memory_space>
struct RoutingViews {
  using memory_space = MemSpace;
  template <class T>
  using View = Kokkos::View<T, Kokkos::LayoutRight, MemSpace>;

  View<int32_t***> ids;           ///< [B, N, K]; -1 pads slots past |E_n| and unrouted rows
  View<float***> weights;         ///< [B, N, K]; 0 where the id is -1
  View<uint8_t**> coreset;        ///< [B, M]; 1 = expert in the block's coreset
  View<int32_t*> coreset_size;    ///< [B]
  View<int32_t*> valid_tokens;    ///< [B]; rows routed
  View<int32_t*> invalid_tokens;  ///< [B]; rows with NaN/+Inf logits (raw path)

  RoutingViews() = default;
  /// Uninitialized: routing writes every element.
  RoutingViews(int64_t B, int64_t N, int M, int K)
      : ids(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::ids"), B, N, K),
        weights(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::weights"), B, N, K),
        coreset(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::coreset"), B, M),
        coreset_size(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::coreset_size"), B),
        valid_tokens(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::valid_tokens"), B),
        invalid_tokens(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::invalid_tokens"), B) {}

  KOKKOS_INLINE_FUNCTION int64_t blocks() const { return int64_t(ids.extent(0)); }
  KOKKOS_INLINE_FUNCTION int64_t tokens() const { return int64_t(ids.extent(1)); }
  KOKKOS_INLINE_FUNCTION int top_k() const { return int(ids.extent(2)); }
  KOKKOS_INLINE_FUNCTION int experts() const { return int(coreset.extent(1)); }
};

namespace detail {
/// Copies a contiguous device View into a host vector of the same element count.
template <class T, class V>
void copy_to_vector(const V& v, std::vector<T>& out) {
  out.resize(v.span());
  Kokkos::View<T*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> host(out.data(), out.size());
  Kokkos::View<const T*, typename V::memory_space, Kokkos::MemoryUnmanaged> flat(v.data(), v.span());
  Kokkos::deep_copy(host, flat);
}

template <class T, class V>
void copy_from_vector(const std::vector<T>& in, const V& v) {
  Kokkos::View<const T*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> host(in.data(), in.size());
  Kokkos::View<T*, typename V::memory_space, Kokkos::MemoryUnmanaged> flat(v.data(), v.span());
  Kokkos::deep_copy(flat, host);
}
}  // namespace detail

/// Host copy (fences). The layouts agree element for element, so this is a flat copy.
template <class MemSpace>
Routing to_host(const RoutingViews<MemSpace>& v) {
  Routing R;
  R.resize(v.blocks(), v.tokens(), v.experts(), v.top_k());
  detail::copy_to_vector(v.ids, R.ids);
  detail::copy_to_vector(v.weights, R.weights);
  detail::copy_to_vector(v.coreset, R.coreset);
  detail::copy_to_vector(v.coreset_size, R.coreset_size);
  detail::copy_to_vector(v.valid_tokens, R.valid_tokens);
  detail::copy_to_vector(v.invalid_tokens, R.invalid_tokens);
  return R;
}

/// Copies a host routing into Views of its extents (a flat copy per field, as to_host).
template <class MemSpace>
void copy_to_views(const Routing& R, const RoutingViews<MemSpace>& v) {
  detail::copy_from_vector(R.ids, v.ids);
  detail::copy_from_vector(R.weights, v.weights);
  detail::copy_from_vector(R.coreset, v.coreset);
  detail::copy_from_vector(R.coreset_size, v.coreset_size);
  detail::copy_from_vector(R.valid_tokens, v.valid_tokens);
  detail::copy_from_vector(R.invalid_tokens, v.invalid_tokens);
}

/// Device copy of a host routing, e.g. to compute metrics of a routing made elsewhere.
template <class MemSpace = Kokkos::DefaultExecutionSpace::memory_space>
RoutingViews<MemSpace> to_views(const Routing& R) {
  RoutingViews<MemSpace> v(R.blocks, R.tokens, R.experts, R.top_k);
  copy_to_views(R, v);
  return v;
}

}  // namespace coreroute::kokkos
