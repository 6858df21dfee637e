// coreroute gen: writes a synthetic trace of a preset (and its expert bias, and
// optionally the expert outputs) as .npy files that route / eval / sweep read.
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include <coreroute/error.hpp>

#include "commands.hpp"
#include "npy.hpp"
#include "options.hpp"
#include "output.hpp"

namespace coreroute::cli {

namespace {

struct GenOptions {
  std::string preset, hf_config, out, bias_out, outputs_out, dtype = "float32";
  int64_t blocks = 64;
  uint64_t seed = 1;
};

bool draws_bias(const Preset& p) { return p.bias_std > 0; }

std::string sibling(const std::string& out, const std::string& suffix) {
  const bool npy = out.size() > 4 && out.compare(out.size() - 4, 4, ".npy") == 0;
  return (npy ? out.substr(0, out.size() - 4) : out) + suffix;
}

void run_gen(GenOptions o) {
  if (o.preset.empty() == o.hf_config.empty())
    coreroute::detail::fail("--preset/--hf-config", "(missing)", "give exactly one: the model to generate a trace of");
  std::string model_flag;
  const Preset p = model_of(o.preset, o.hf_config, &model_flag);
  if (o.blocks < 1 || o.blocks > 1000000) coreroute::detail::fail("--blocks", o.blocks, "must be in [1, 1000000]");
  // Every file is written beside its target and renamed once all are complete;
  // two outputs naming one file are refused before any work.
  if (!draws_bias(p) && !o.bias_out.empty())
    coreroute::detail::fail("--bias-out", o.bias_out, "the model has no expert bias to write");
  if (draws_bias(p) && o.bias_out.empty()) o.bias_out = sibling(o.out, ".bias.npy");
  OutputFiles files;
  files.add("--out", o.out);
  if (!o.bias_out.empty()) files.add("--bias-out", o.bias_out);
  if (!o.outputs_out.empty()) files.add("--outputs-out", o.outputs_out);
  const Synthetic s = generate(p, o.blocks, o.seed, !o.outputs_out.empty());
  const Trace& t = s.trace;
  const std::vector<int64_t> shape = {t.blocks, t.tokens, t.experts};
  if (o.dtype == "float16") {
    std::vector<uint16_t> half(t.logits.size());
    for (size_t i = 0; i < half.size(); ++i) half[i] = float_to_half(t.logits[i]);
    write_npy(files.stage(o.out), DType::f16, shape, half.data());
  } else {
    write_npy(files.stage(o.out), t.logits, shape);
  }
  std::ostringstream report;
  report << "Wrote " << o.out << ": " << p.name << " logits [" << t.blocks << ", " << t.tokens << ", " << t.experts
         << "] " << o.dtype << ", seed " << o.seed << "\n";
  std::string flags = model_flag;
  if (!s.config.expert_bias.empty()) {
    write_npy(files.stage(o.bias_out), s.config.expert_bias, {t.experts});
    report << "Wrote " << o.bias_out << ": expert bias [" << t.experts << "]\n";
    flags += " --bias " + o.bias_out;
  }
  if (!o.outputs_out.empty()) {
    write_npy(files.stage(o.outputs_out), s.outputs, {t.blocks, t.tokens, t.experts, s.output_dim});
    report << "Wrote " << o.outputs_out << ": expert outputs [" << t.blocks << ", " << t.tokens << ", " << t.experts
           << ", " << s.output_dim << "]\n";
    flags += " --outputs " + o.outputs_out;
  }
  files.commit();
  std::cout << report.str() << "Try: coreroute sweep --trace " << o.out << " " << flags << " --out sweep-"
            << (o.preset.empty() ? "hf" : p.name) << "\n";
}

}  // namespace

void add_gen(CLI::App& app) {
  auto o = std::make_shared<GenOptions>();
  CLI::App* sub = app.add_subcommand("gen", "Write a synthetic router-logit trace of a preset as .npy");
  CLI::Option* preset = sub->add_option("--preset", o->preset, "Model preset: " + preset_names())->type_name("NAME");
  sub->add_option("--hf-config", o->hf_config, "Or the router of a Hugging Face config.json (a preset's calibration)")
      ->type_name("FILE")
      ->excludes(preset);
  sub->add_option("--blocks", o->blocks, "Number of blocks B (default 64)")->type_name("B");
  sub->add_option("--seed", o->seed, "Generator seed (default 1)")->type_name("S");
  sub->add_option("--out", o->out, "Logits file, [B, N, M]")->required()->type_name("FILE");
  sub->add_option("--bias-out", o->bias_out, "Expert bias file of sigmoid presets (default: OUT with .bias.npy)")
      ->type_name("FILE");
  sub->add_option("--outputs-out", o->outputs_out, "Also write the expert outputs [B, N, M, d] here")
      ->type_name("FILE");
  sub->add_option("--dtype", o->dtype, "Logits dtype")->check(CLI::IsMember({"float32", "float16"}));
  sub->callback([o] { run_gen(*o); });
}

}  // namespace coreroute::cli
