#pragma once
// The Kokkos backend: routing, Stage 2 alone, metrics and the dispatch layout on any
// Kokkos execution space, for every policy of include/coreroute/policies.hpp.
// Kokkos must be initialized by the caller (Kokkos::ScopeGuard).
#include <coreroute/coreroute.hpp>
#include <coreroute/kokkos/dispatch.hpp>
#include <coreroute/kokkos/metrics.hpp>
#include <coreroute/kokkos/route.hpp>
#include <coreroute/kokkos/routing_views.hpp>
