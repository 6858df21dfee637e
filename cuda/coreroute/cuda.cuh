#pragma once
// The CUDA backend: the raw launch (launch.cuh), the checked API (route.cuh), the
// metrics kernel (metrics.cuh) and the parity-harness adapter (backend.cuh).
#include <coreroute/cuda/backend.cuh>
#include <coreroute/cuda/launch.cuh>
#include <coreroute/cuda/metrics.cuh>
#include <coreroute/cuda/outputs.cuh>
#include <coreroute/cuda/route.cuh>
