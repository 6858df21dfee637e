// libFuzzer target: the .npy reader must turn any byte string into an array or an
// npy_error, never a crash, a hang or a large allocation (run with
// -malloc_limit_mb so an allocation sized by the header alone is caught).
#include <cstddef>
#include <cstdint>

#include "npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const coreroute::cli::NpyArray a = coreroute::cli::parse_npy(data, size);
    // The parsed array must be exactly as big as its shape says.
    if (a.bytes.size() != size_t(a.count()) * size_t(coreroute::cli::info_of(a.dtype).size)) __builtin_trap();
  } catch (const coreroute::cli::npy_error&) {
  }
  return 0;
}
