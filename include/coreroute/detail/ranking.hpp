#pragma once
// The one tie rule of the library (docs/spec.md section 3): larger value first, then the
// lower index. Every top-K, coreset ranking, group ranking and output order uses it.
#include <cstdint>
#include <cstring>

#include "../macros.hpp"

namespace coreroute::detail {

/// True when (va, ia) ranks before (vb, ib). Values are never NaN here: invalid
/// tokens are filtered before any ranking, so NaN's bit pattern decides nothing.
template <class T>
CR_HD constexpr bool ranks_before(T va, int ia, T vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

/// Order-preserving bits of a float: a < b (as numbers) <=> bits(a) < bits(b).
/// -0 is folded into +0 first so that the packed order agrees with ranks_before.
CR_HD inline uint32_t ordered_bits(float v) {
  v = v + 0.0f;  // -0 -> +0 (IEEE: not foldable without fast-math)
  uint32_t u;
#if defined(__CUDA_ARCH__)
  u = __float_as_uint(v);
#else
  std::memcpy(&u, &v, sizeof u);
#endif
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/// One 64-bit key: the maximum key is the larger value, then the lower index, so a
/// single max-reduction applies the tie rule (flashinfer / CUB style).
CR_HD inline uint64_t rank_key(float v, int index) {
  return (static_cast<uint64_t>(ordered_bits(v)) << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(index));
}

CR_HD inline int key_index(uint64_t key) {
  return static_cast<int>(0xFFFFFFFFu - static_cast<uint32_t>(key & 0xFFFFFFFFu));
}

CR_HD inline float key_value(uint64_t key) {
  uint32_t u = static_cast<uint32_t>(key >> 32);
  u = (u & 0x80000000u) ? (u & 0x7FFFFFFFu) : ~u;
  float v;
#if defined(__CUDA_ARCH__)
  v = __uint_as_float(u);
#else
  std::memcpy(&v, &u, sizeof v);
#endif
  return v;
}

/// Order-preserving bits of a double (the same mapping as ordered_bits(float)).
CR_HD inline uint64_t ordered_bits(double v) {
  v = v + 0.0;  // -0 -> +0
  uint64_t u;
#if defined(__CUDA_ARCH__)
  u = static_cast<uint64_t>(__double_as_longlong(v));
#else
  std::memcpy(&u, &v, sizeof u);
#endif
  return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}

/// rank_key for double values, which need all 64 bits: the value's ordered bits and
/// the inverted index, compared in that order. value == 0 (a negative NaN's bits,
/// never produced) means "no key"; a key of any real value is larger.
struct WideKey {
  uint64_t value = 0;
  uint32_t index = 0;
};

CR_HD inline WideKey wide_key(double v, int index) {
  return {ordered_bits(v), 0xFFFFFFFFu - static_cast<uint32_t>(index)};
}

/// Key order = ranks_before on (value, index).
CR_HD inline bool key_less(WideKey a, WideKey b) {
  return a.value < b.value || (a.value == b.value && a.index < b.index);
}

CR_HD inline int key_index(WideKey key) { return static_cast<int>(0xFFFFFFFFu - key.index); }

CR_HD inline double key_value(WideKey key) {
  uint64_t u = key.value;
  u = (u & 0x8000000000000000ull) ? (u & 0x7FFFFFFFFFFFFFFFull) : ~u;
  double v;
#if defined(__CUDA_ARCH__)
  v = __longlong_as_double(static_cast<long long>(u));
#else
  std::memcpy(&v, &u, sizeof v);
#endif
  return v;
}

}  // namespace coreroute::detail
