#pragma once
// Synthetic router traces for the built-in presets (model: docs/trace-format.md).
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
#include <cstdint>
#include <string>
#include <vector>

#include <coreroute/config.hpp>

#include "arrays.hpp"

namespace coreroute::cli {

/// A figure from a paper, shown beside ours.
struct Published {
  std::string label;  // the row it belongs to, e.g. "vote beta=0.15"
  std::string value;  // e.g. "38" or "84 / 70"
  std::string source;
};

struct Preset {
  std::string name, model;
  RouterConfig config;    // without the bias (drawn by the generator)
  int tokens = 32;        // N, the block size
  double expert_bytes = 0;
  // Generator model.
  int hidden = 32, output_dim = 8;
  double shared = 0, temperature = 1, bias_std = 0;
  // Paper settings and figures.
  std::vector<double> vote_betas;  // DES-Vote betas the papers report
  std::vector<Published> published;
};

const std::vector<Preset>& presets();
/// Throws coreroute::invalid_argument naming the known presets.
const Preset& find_preset(const std::string& name);
std::string preset_names();  // "llada-moe|llada2-mini"

struct Synthetic {
  Trace trace;
  RouterConfig config;         // the preset's, with the drawn bias
  std::vector<float> outputs;  // [B, N, M, output_dim], empty unless asked for
  int output_dim = 0;
};

Synthetic generate(const Preset& p, int64_t blocks, uint64_t seed, bool with_outputs);

}  // namespace coreroute::cli
