#pragma once
// Typed views of the .npy inputs the tool reads (trace, bias, tokens per block,
// expert outputs), with the shape and dtype checks of docs/trace-format.md.
#include <cstdint>
#include <string>
#include <vector>

#include <coreroute/synthetic.hpp>

#include "npy.hpp"

namespace coreroute::cli {

/// Router logits of B blocks of N tokens over M experts, C order, float32.
using Trace = LogitsArray;

/// IEEE binary16 -> binary32, exact for every value (subnormals, Inf, NaN).
float half_to_float(uint16_t h);

/// binary32 -> binary16, rounding to nearest even (overflow -> Inf, NaN kept).
uint16_t float_to_half(float f);

/// Loads a float32 or float16 array as float32; `what` names it in errors.
std::vector<float> to_float32(const NpyArray& a, const std::string& what);

/// Logits [B, N, M] or [N, M] (one block), float32 or float16.
Trace load_trace(const std::string& path);

/// Expert bias [M], float32 or float16.
std::vector<float> load_bias(const std::string& path, int64_t experts);

/// Valid tokens per block [B], int32 or int64, each in [0, N].
std::vector<int32_t> load_tokens(const std::string& path, int64_t blocks, int64_t tokens);

/// Expert outputs Y [B, N, M, d] (float32 or float16) for the output loss.
std::vector<float> load_outputs(const std::string& path, const Trace& t, int* dim);

}  // namespace coreroute::cli
