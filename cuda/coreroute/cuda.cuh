#pragma once
// The CUDA backend: the raw launch (launch.cuh), the checked API (route.cuh), the
// metrics kernel (metrics.cuh) and the output buffers (outputs.cuh). The testing kit's
// adapter is cuda/testing.cuh (coreroute::cuda::testing::Backend, Thrust); routing
// never includes it.
#include <coreroute/cuda/launch.cuh>
#include <coreroute/cuda/metrics.cuh>
#include <coreroute/cuda/outputs.cuh>
#include <coreroute/cuda/route.cuh>
