#include "arrays.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace coreroute::cli {

namespace {
[[noreturn]] void bad(const std::string& path, const std::string& what) { throw npy_error(path + ": " + what); }

std::string shape_text(const std::vector<int64_t>& shape) {
  NpyArray a;
  a.shape = shape;
  return "shape " + a.shape_str();
}
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
    do {
      mant <<= 1;
      ++e;
    } while ((mant & 0x400u) == 0);
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
  if (abs < 0x38800000u) {               // half subnormal or zero: scale to units of 2^-24, round to even
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
  } else if (a.dtype == DType::f64) {
    for (size_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, a.bytes.data() + 8 * i, 8);
      if (std::isfinite(d) && std::fabs(d) > double(std::numeric_limits<float>::max()))
        bad(what, "element " + std::to_string(i) + " = " + std::to_string(d) + " is beyond float32's range");
      out[i] = float(d);
    }
  } else {
    bad(what, std::string("dtype ") + info_of(a.dtype).descr +
                  " is not supported here (need <f4 float32, <f2 float16 or <f8 float64)");
  }
  return out;
}

TraceShape trace_shape(const std::string& path) {
  const NpyHeader h = read_npy_header(path);
  return trace_shape_of(h.shape, info_of(h.dtype).size, path);
}

TraceShape trace_shape_of(const std::vector<int64_t>& dims, int itemsize, const std::string& path) {
  const std::string shape = shape_text(dims);
  if (dims.size() != 2 && dims.size() != 3) bad(path, shape + ": logits must have shape [B, N, M] or [N, M]");
  TraceShape t;
  t.blocks = dims.size() == 3 ? dims[0] : 1;
  t.tokens = dims[dims.size() - 2];
  t.experts = dims.back();
  t.itemsize = itemsize;
  if (t.experts < 1) bad(path, shape + ": the expert axis M must be >= 1");
  if (t.experts > std::numeric_limits<int>::max() / 2) bad(path, shape + ": too many experts");
  if (t.tokens > std::numeric_limits<int32_t>::max() / 1024) bad(path, shape + ": too many tokens per block");
  if (t.blocks > std::numeric_limits<int32_t>::max()) bad(path, shape + ": too many blocks (at most 2^31 - 1)");
  return t;
}

Trace load_trace(const std::string& path) {
  const TraceShape s = trace_shape(path);
  const NpyArray a = read_npy(path);
  Trace t;
  t.blocks = s.blocks;
  t.tokens = s.tokens;
  t.experts = s.experts;
  t.logits = to_float32(a, path);
  return t;
}

std::vector<float> load_bias(const std::string& path, int64_t experts) {
  const NpyHeader h = read_npy_header(path);  // the shape before the data
  if (h.shape.size() != 1 || h.shape[0] != experts)
    bad(path, shape_text(h.shape) + ": the expert bias must have shape [M] = (" + std::to_string(experts) + ",)");
  return to_float32(read_npy(path), path);
}

std::vector<int32_t> load_tokens(const std::string& path, int64_t blocks, int64_t tokens) {
  const NpyHeader h = read_npy_header(path);  // the shape before the data
  if (h.shape.size() != 1 || h.shape[0] != blocks)
    bad(path, shape_text(h.shape) + ": tokens per block must have shape [B] = (" + std::to_string(blocks) + ",)");
  const NpyArray a = read_npy(path);
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
      bad(path, "tokens[" + std::to_string(b) + "] = " + std::to_string(v) +
                    ": must be in [0, N = " + std::to_string(tokens) + "]");
    out[b] = int32_t(v);
  }
  return out;
}

int outputs_dim(const std::string& path, const TraceShape& t, int* itemsize) {
  const NpyHeader h = read_npy_header(path);
  const auto& d = h.shape;
  const bool ok =
      d.size() == 4 && d[0] == t.blocks && d[1] == t.tokens && d[2] == t.experts && d[3] >= 1 && d[3] <= 1 << 20;
  if (!ok)
    bad(path, shape_text(d) + ": expert outputs must have shape [B, N, M, d] = (" + std::to_string(t.blocks) + ", " +
                  std::to_string(t.tokens) + ", " + std::to_string(t.experts) + ", d) with d >= 1");
  *itemsize = info_of(h.dtype).size;
  return int(d[3]);
}

std::vector<float> load_outputs(const std::string& path, const Trace& t, int* dim) {
  int itemsize = 0;
  *dim = outputs_dim(path, TraceShape{t.blocks, t.tokens, t.experts, 4}, &itemsize);
  std::vector<float> y = to_float32(read_npy(path), path);
  const int64_t d = *dim, M = t.experts, N = t.tokens;
  for (size_t i = 0; i < y.size(); ++i)
    if (!std::isfinite(y[i])) {
      const int64_t k = int64_t(i);
      bad(path, "Y[" + std::to_string(k / (N * M * d)) + ", " + std::to_string(k / (M * d) % N) + ", " +
                    std::to_string(k / d % M) + ", " + std::to_string(k % d) + "] (element " + std::to_string(k) +
                    ") = " + std::to_string(y[i]) + ": expert outputs must be finite");
    }
  return y;
}

}  // namespace coreroute::cli
