#include "arrays.hpp"

#include <cstring>
#include <limits>

namespace coreroute::cli {

namespace {
[[noreturn]] void bad(const std::string& path, const std::string& what) { throw npy_error(path + ": " + what); }

std::string dims_str(const NpyArray& a) { return "shape " + a.shape_str(); }
}  // namespace

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1Fu) {
    bits = sign | 0x7F800000u | (mant << 13);  // Inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalise the mantissa
    int e = -1;
    do { mant <<= 1; ++e; } while ((mant & 0x400u) == 0);
    bits = sign | (uint32_t(112 - e) << 23) | ((mant & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) return uint16_t(sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u : 0u));
  if (abs >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // rounds past 65504
  if (abs < 0x38800000u) {  // half subnormal or zero: scale to units of 2^-24, round to even
    if (abs < 0x33000000u) return sign;  // below half of the smallest subnormal
    const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;
    const int shift = 126 - int(abs >> 23);  // 14..24
    const uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    return uint16_t(sign | (q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u)));
  }
  const uint32_t q = (abs >> 13) - (112u << 10), rem = abs & 0x1FFFu;
  return uint16_t(sign | (q + ((rem > 0x1000u || (rem == 0x1000u && (q & 1u))) ? 1u : 0u)));
}

std::vector<float> to_float32(const NpyArray& a, const std::string& what) {
  const size_t n = size_t(a.count());
  std::vector<float> out(n);
  if (a.dtype == DType::f32) {
    if (n > 0) std::memcpy(out.data(), a.bytes.data(), n * sizeof(float));
  } else if (a.dtype == DType::f16) {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, a.bytes.data() + 2 * i, 2);
      out[i] = half_to_float(h);
    }
  } else {
    bad(what, std::string("dtype ") + info_of(a.dtype).descr + " is not supported here (need <f4 float32 or <f2 float16)");
  }
  return out;
}

Trace load_trace(const std::string& path) {
  const NpyArray a = read_npy(path);
  if (a.shape.size() != 2 && a.shape.size() != 3)
    bad(path, dims_str(a) + ": logits must have shape [B, N, M] or [N, M]");
  Trace t;
  t.blocks = a.shape.size() == 3 ? a.shape[0] : 1;
  t.tokens = a.shape[a.shape.size() - 2];
  t.experts = a.shape.back();
  if (t.experts < 1) bad(path, dims_str(a) + ": the expert axis M must be >= 1");
  if (t.experts > std::numeric_limits<int>::max() / 2) bad(path, dims_str(a) + ": too many experts");
  if (t.tokens > std::numeric_limits<int32_t>::max() / 1024) bad(path, dims_str(a) + ": too many tokens per block");
  t.logits = to_float32(a, path);
  return t;
}

std::vector<float> load_bias(const std::string& path, int64_t experts) {
  const NpyArray a = read_npy(path);
  if (a.shape.size() != 1 || a.shape[0] != experts)
    bad(path, dims_str(a) + ": the expert bias must have shape [M] = (" + std::to_string(experts) + ",)");
  return to_float32(a, path);
}

std::vector<int32_t> load_tokens(const std::string& path, int64_t blocks, int64_t tokens) {
  const NpyArray a = read_npy(path);
  if (a.shape.size() != 1 || a.shape[0] != blocks)
    bad(path, dims_str(a) + ": tokens per block must have shape [B] = (" + std::to_string(blocks) + ",)");
  std::vector<int32_t> out(static_cast<size_t>(blocks));
  for (size_t b = 0; b < out.size(); ++b) {
    int64_t v;
    if (a.dtype == DType::i32) {
      int32_t x;
      std::memcpy(&x, a.bytes.data() + 4 * b, 4);
      v = x;
    } else if (a.dtype == DType::i64) {
      std::memcpy(&v, a.bytes.data() + 8 * b, 8);
    } else {
      bad(path, std::string("dtype ") + info_of(a.dtype).descr + ": tokens per block must be <i4 or <i8");
    }
    if (v < 0 || v > tokens)
      bad(path, "tokens[" + std::to_string(b) + "] = " + std::to_string(v) + ": must be in [0, N = " +
                    std::to_string(tokens) + "]");
    out[b] = int32_t(v);
  }
  return out;
}

std::vector<float> load_outputs(const std::string& path, const Trace& t, int* dim) {
  const NpyArray a = read_npy(path);
  const bool ok = a.shape.size() == 4 && a.shape[0] == t.blocks && a.shape[1] == t.tokens && a.shape[2] == t.experts &&
                  a.shape[3] >= 1 && a.shape[3] <= 1 << 20;
  if (!ok)
    bad(path, dims_str(a) + ": expert outputs must have shape [B, N, M, d] = (" + std::to_string(t.blocks) + ", " +
                  std::to_string(t.tokens) + ", " + std::to_string(t.experts) + ", d) with d >= 1");
  *dim = int(a.shape[3]);
  return to_float32(a, path);
}

}  // namespace coreroute::cli
