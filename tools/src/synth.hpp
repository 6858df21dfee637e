#pragma once
// The model presets (include/coreroute/presets.hpp) and their synthetic traces
// (include/coreroute/synthetic.hpp) as the CLI names them.
#include <cstdint>
#include <string>
#include <vector>

#include <coreroute/presets.hpp>
#include <coreroute/synthetic.hpp>

#include "arrays.hpp"

namespace coreroute::cli {

using Preset = ModelPreset;
using Published = PublishedFigure;

inline const std::vector<Preset>& presets() { return model_presets(); }
/// Throws coreroute::invalid_argument naming the known presets.
const Preset& find_preset(const std::string& name);
inline std::string preset_names() { return model_preset_names(); }

inline Synthetic generate(const Preset& p, int64_t blocks, uint64_t seed, bool with_outputs) {
  return generate_synthetic(p, blocks, seed, with_outputs);
}

}  // namespace coreroute::cli
