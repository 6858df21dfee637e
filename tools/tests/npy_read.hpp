#pragma once
// What the CLI's tests read back from the .npy files `coreroute route` writes.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "npy.hpp"

namespace coreroute::cli::testing {

/// The elements of the .npy file at `path` as T, after requiring its dtype and shape.
template <class T>
std::vector<T> read_as(const std::string& path, DType dtype, const std::vector<int64_t>& shape) {
  const NpyArray a = read_npy(path);
  REQUIRE(a.dtype == dtype);
  REQUIRE(a.shape == shape);
  std::vector<T> v(size_t(a.count()));
  if (!v.empty()) std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
  return v;
}

}  // namespace coreroute::cli::testing
