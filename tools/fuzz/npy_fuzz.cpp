// libFuzzer target: the .npy reader must turn any byte string into an array or an
// npy_error, never a crash, a hang or a large allocation (run with
// -malloc_limit_mb so an allocation sized by the header alone is caught). What the
// reader accepts as a trace is then routed by the reference backend, as
// `coreroute route` does, under the CLI's memory bound (tools/src/memory.hpp) set
// to the fuzzer's allocation limit: a shape that passes the bound must route
// without crashing or allocating past it.
#include <cstddef>
#include <cstdint>

#include <coreroute/error.hpp>
#include <coreroute/reference.hpp>

#include "arrays.hpp"
#include "memory.hpp"
#include "npy.hpp"

namespace cli = coreroute::cli;

namespace {
constexpr double kCapBytes = 48.0 * (1 << 20);  // below -malloc_limit_mb=64
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cli::NpyArray a;
  try {
    a = cli::parse_npy(data, size);
  } catch (const cli::npy_error&) {
    return 0;
  }
  // The parsed array must be exactly as big as its shape says.
  if (a.bytes.size() != size_t(a.count()) * size_t(cli::info_of(a.dtype).size)) __builtin_trap();
  try {
    const cli::TraceShape s = cli::trace_shape_of(a.shape, cli::info_of(a.dtype).size, "fuzz");
    const int M = int(s.experts), K = M < 2 ? 1 : 2;
    cli::MemoryPlan plan;
    if (cli::planned_bytes(s, 0, 0, K, K, plan) > kCapBytes) return 0;  // the CLI refuses it
    cli::Trace t;
    t.blocks = s.blocks;
    t.tokens = s.tokens;
    t.experts = s.experts;
    t.logits = cli::to_float32(a, "fuzz");
    coreroute::RouterConfig c;
    c.num_experts = M;
    c.top_k = K;
    const auto x = coreroute::make_logits_view(t.logits.data(), t.blocks, t.tokens, t.experts);
    coreroute::UnionPolicy u;
    u.k_local = 1;
    const coreroute::Routing R = coreroute::reference::route(x, c, u);
    const coreroute::Routing R0 = coreroute::reference::route(x, c, coreroute::VanillaPolicy{});
    if (coreroute::reference::metrics(R, R0).size() != size_t(t.blocks)) __builtin_trap();
  } catch (const cli::npy_error&) {               // not a trace (rank, dtype, range)
  } catch (const coreroute::invalid_argument&) {  // NaN/+Inf logits
  }
  return 0;
}
