#pragma once
// The CPU reference backend: routing, Stage 2 alone, metrics and the dispatch layout.
#include <coreroute/coreroute.hpp>
#include <coreroute/reference/dispatch.hpp>
#include <coreroute/reference/metrics.hpp>
#include <coreroute/reference/route.hpp>
