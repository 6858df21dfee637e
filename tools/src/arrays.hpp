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

/// Loads a float32, float16 or float64 array as float32; `what` names it in errors.
/// float64 values are rounded to nearest; a finite value beyond float32's range is
/// an error naming its index.
std::vector<float> to_float32(const NpyArray& a, const std::string& what);

/// The shape of a trace file from its header alone, each dimension checked on its
/// own (an empty axis does not hide an absurd other one).
struct TraceShape {
  int64_t blocks = 0, tokens = 0, experts = 0;
  int itemsize = 4;  // bytes per element in the file
};
TraceShape trace_shape(const std::string& path);
/// The same for a parsed header's shape; `what` names the file in errors.
TraceShape trace_shape_of(const std::vector<int64_t>& shape, int itemsize, const std::string& what);

/// Logits [B, N, M] or [N, M] (one block), float32, float16 or float64.
Trace load_trace(const std::string& path);

/// Expert bias [M], float32 or float16.
std::vector<float> load_bias(const std::string& path, int64_t experts);

/// Valid tokens per block [B], int32 or int64, each in [0, N].
std::vector<int32_t> load_tokens(const std::string& path, int64_t blocks, int64_t tokens);

/// d and the file's bytes per element of expert outputs [B, N, M, d], from the header
/// alone (shape checked against the trace's).
int outputs_dim(const std::string& path, const TraceShape& t, int* itemsize);

/// Expert outputs Y [B, N, M, d] (float32, float16 or float64) for the output loss;
/// every value finite (else an error naming the file and the index).
std::vector<float> load_outputs(const std::string& path, const Trace& t, int* dim);

}  // namespace coreroute::cli
