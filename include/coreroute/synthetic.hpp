#pragma once
// Synthetic router traces of a model preset (include/coreroute/presets.hpp; the model
// is described in docs/trace-format.md).
//
// Per block b a shared hidden component u_b, per token n a private part e_bn:
//   x_bn = sqrt(rho) * u_b + sqrt(1 - rho) * e_bn,   u_b, e_bn ~ N(0, I_d)
//   logits_bn = tau * W x_bn,                        W[i, :] ~ N(0, I_d / d)
//   Y[b, n, i, :] = A_i x_bn,                        A_i ~ N(0, 1/d)^{d_out x d}
// rho (how much a block's tokens agree) and tau (how peaked the router is) are
// calibrated per preset so vanilla routing touches as many distinct experts per
// block as the published models do; the expert bias of sigmoid presets is
// N(0, bias_std^2). Every draw comes from a seeded, portable generator, and block b
// depends only on (seed, b), so a shorter trace is a prefix of a longer one.
#include <cmath>
#include <cstdint>
#include <vector>

#include "config.hpp"
#include "presets.hpp"

namespace coreroute {

/// Owned router logits of B blocks of N tokens over M experts, C order.
struct LogitsArray {
  int64_t blocks = 0, tokens = 0, experts = 0;
  std::vector<float> logits;  ///< [B, N, M]
};

struct Synthetic {
  LogitsArray trace;
  RouterConfig config;         ///< the preset's, with the drawn bias
  std::vector<float> outputs;  ///< [B, N, M, output_dim], empty unless asked for
  int output_dim = 0;
};

namespace detail {

/// SplitMix64: derives independent stream seeds from (seed, tag).
inline uint64_t splitmix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// xoshiro256** with Box-Muller normals: the same numbers on every platform and
/// standard library (std::normal_distribution is implementation-defined).
class Rng {
 public:
  Rng(uint64_t seed, uint64_t tag) {
    uint64_t x = splitmix(seed) ^ splitmix(tag + 0x632BE59BD9B4E019ull);
    for (uint64_t& w : s_) w = x = splitmix(x);
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u = 1.0 - uniform(), v = uniform();  // u in (0, 1]
    const double r = std::sqrt(-2.0 * std::log(u)), a = 6.283185307179586 * v;
    spare_ = r * std::sin(a);
    has_spare_ = true;
    return r * std::cos(a);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    const uint64_t out = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return out;
  }
  uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

enum Stream : uint64_t { kRouter = 1, kBias = 2, kExperts = 3, kBlocks = 1000 };

}  // namespace detail

inline Synthetic generate_synthetic(const ModelPreset& p, int64_t blocks, uint64_t seed, bool with_outputs) {
  using detail::kBias;
  using detail::kBlocks;
  using detail::kExperts;
  using detail::kRouter;
  using detail::Rng;
  const int M = p.config.num_experts, d = p.hidden, dout = p.output_dim;
  const int64_t N = p.tokens;
  Synthetic out;
  out.config = p.config;
  out.trace.blocks = blocks;
  out.trace.tokens = N;
  out.trace.experts = M;

  const double wscale = 1.0 / std::sqrt(double(d));
  std::vector<double> W(size_t(M) * size_t(d));
  Rng router(seed, kRouter);
  for (double& w : W) w = router.normal() * wscale;
  if (p.bias_std > 0) {
    Rng bias(seed, kBias);
    out.config.expert_bias.resize(size_t(M));
    for (float& b : out.config.expert_bias) b = float(bias.normal() * p.bias_std);
  }
  std::vector<double> A;
  if (with_outputs) {
    A.resize(size_t(M) * size_t(dout) * size_t(d));
    Rng experts(seed, kExperts);
    for (double& a : A) a = experts.normal() * wscale;
    out.output_dim = dout;
    out.outputs.resize(size_t(blocks * N * M) * size_t(dout));
  }

  out.trace.logits.resize(size_t(blocks * N * M));
  const double a = std::sqrt(p.shared), c = std::sqrt(1.0 - p.shared);
  std::vector<double> u(static_cast<size_t>(d)), x(static_cast<size_t>(d));
  for (int64_t b = 0; b < blocks; ++b) {
    Rng rng(seed, kBlocks + uint64_t(b));
    for (double& v : u) v = rng.normal();
    for (int64_t n = 0; n < N; ++n) {
      for (int k = 0; k < d; ++k) x[size_t(k)] = a * u[size_t(k)] + c * rng.normal();
      float* logits = &out.trace.logits[size_t((b * N + n) * M)];
      for (int i = 0; i < M; ++i) {
        double dot = 0;
        for (int k = 0; k < d; ++k) dot += W[size_t(i * d + k)] * x[size_t(k)];
        logits[i] = float(p.temperature * dot);
      }
      if (!with_outputs) continue;
      float* y = &out.outputs[size_t((b * N + n) * M) * size_t(dout)];
      for (int i = 0; i < M; ++i)
        for (int o = 0; o < dout; ++o) {
          const double* row = &A[(size_t(i) * size_t(dout) + size_t(o)) * size_t(d)];
          double dot = 0;
          for (int k = 0; k < d; ++k) dot += row[k] * x[size_t(k)];
          y[i * dout + o] = float(dot);
        }
    }
  }
  return out;
}

}  // namespace coreroute
