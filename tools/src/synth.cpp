#include "synth.hpp"

#include <coreroute/error.hpp>

namespace coreroute::cli {

const Preset& find_preset(const std::string& name) {
  if (const Preset* p = find_model_preset(name)) return *p;
  coreroute::detail::fail("--preset", name, "unknown preset (known: " + preset_names() + ")");
}

}  // namespace coreroute::cli
