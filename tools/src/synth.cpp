#include "synth.hpp"

#include <cmath>

#include <coreroute/error.hpp>
#include <coreroute/metrics.hpp>

namespace coreroute::cli {

namespace {

/// SplitMix64: derives independent stream seeds from (seed, tag).
uint64_t splitmix(uint64_t x) {
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
    if (has_spare_) { has_spare_ = false; return spare_; }
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
    s_[2] ^= s_[0]; s_[3] ^= s_[1]; s_[1] ^= s_[2]; s_[0] ^= s_[3];
    s_[2] ^= t; s_[3] = rotl(s_[3], 45);
    return out;
  }
  uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

enum Stream : uint64_t { kRouter = 1, kBias = 2, kExperts = 3, kBlocks = 1000 };

std::vector<Preset> make_presets() {
  Preset moe;
  moe.name = "llada-moe";
  moe.model = "LLaDA-MoE-7B (M=64, K=8, softmax)";
  moe.config.num_experts = 64;
  moe.config.top_k = 8;
  moe.config.score = ScoreFunction::softmax;
  moe.expert_bytes = kLladaMoeExpertBytes;
  // Calibrated: vanilla touches ~59 distinct experts per block of 32 (seeds 1-3).
  moe.shared = 0.10;
  moe.temperature = 1.5;
  moe.vote_betas = {0.6, 0.4};
  moe.published = {{"vanilla", "59", "DES"}, {"vote beta=0.6", "38", "DES"}, {"vote beta=0.4", "25", "DES"}};

  Preset mini;
  mini.name = "llada2-mini";
  mini.model = "LLaDA2.0-mini (M=256, K=8, sigmoid+bias, groups 8/4)";
  mini.config.num_experts = 256;
  mini.config.top_k = 8;
  mini.config.score = ScoreFunction::sigmoid;
  mini.config.groups = {8, 4};
  mini.config.normalize_weights = true;
  mini.config.scaling = 2.5f;
  mini.expert_bytes = kLlada2MiniExpertBytes;
  // Calibrated: vanilla ~77 (the published 70-84), DES-Seq k=2/3 ~27/37.
  mini.shared = 0.50;
  mini.temperature = 1.0;
  mini.bias_std = 0.02;
  mini.vote_betas = {0.15, 0.10};
  mini.published = {{"vanilla", "84 / 70", "DES / dMoE"}, {"union k=3", "45", "DES"},
                    {"union k=2", "34", "DES"},         {"vote beta=0.15", "38", "DES"},
                    {"vote beta=0.1", "25", "DES"},     {"blockdist p=0.6", "~14.5", "dMoE, tuned"}};
  return {moe, mini};
}

}  // namespace

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = make_presets();
  return all;
}

std::string preset_names() {
  std::string s;
  for (const Preset& p : presets()) s += (s.empty() ? "" : "|") + p.name;
  return s;
}

const Preset& find_preset(const std::string& name) {
  for (const Preset& p : presets())
    if (p.name == name) return p;
  coreroute::detail::fail("--preset", name, "unknown preset (known: " + preset_names() + ")");
}

Synthetic generate(const Preset& p, int64_t blocks, uint64_t seed, bool with_outputs) {
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

}  // namespace coreroute::cli
