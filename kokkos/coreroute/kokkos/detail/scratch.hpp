#pragma once
// Per-team scratch arrays. Sizes are summed with the same View type that carves them,
// so alignment padding is counted once and in one place.
#include <cstddef>

#include <Kokkos_Core.hpp>

#include <coreroute/error.hpp>

namespace coreroute::kokkos::detail {

template <class ExecSpace>
struct Scratch {
  using space = typename ExecSpace::scratch_memory_space;
  template <class T>
  using Array = Kokkos::View<T*, space, Kokkos::MemoryUnmanaged>;

  template <class T>
  static size_t bytes(size_t n) {
    return Array<T>::shmem_size(n);
  }

  /// The fastest scratch level that holds `bytes` per team (0: shared/L1-sized, 1: large).
  static int level_for(size_t bytes, const char* what) {
    using Policy = Kokkos::TeamPolicy<ExecSpace>;
    if (bytes <= size_t(Policy::scratch_size_max(0))) return 0;
    coreroute::detail::require(bytes <= size_t(Policy::scratch_size_max(1)), what, bytes,
                               "bytes of per-block scratch exceed this execution space's team scratch limit");
    return 1;
  }
};

}  // namespace coreroute::kokkos::detail
