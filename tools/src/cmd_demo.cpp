// coreroute demo: both built-in presets, the papers' policies, a table, CSV, JSON
// and a Pareto plot. Needs no input files.
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "output.hpp"
#include "report.hpp"

namespace coreroute::cli {

namespace {

struct DemoOptions {
  std::string out = "coreroute-demo", preset, backend = "reference";
  int64_t blocks = 64;
  uint64_t seed = 1;
  bool force = false;
};

Workload synthetic_workload(const Preset& p, const DemoOptions& o) {
  Synthetic s = generate(p, o.blocks, o.seed, /*with_outputs=*/true);
  Workload w;
  w.trace = std::move(s.trace);
  w.outputs = std::move(s.outputs);
  w.output_dim = s.output_dim;
  w.config = s.config;
  w.model_top_k = s.config.top_k;
  w.expert_bytes = p.expert_bytes;
  w.cost = cost_model(&p, RouterOptions{}.cost_ratio, false);
  w.backend = parse_backend(o.backend);
  return w;
}

Table table_of(const Preset& p, const Workload& w, std::vector<Result> rows, const std::string& suffix) {
  Table t;
  t.name = p.name + suffix;
  t.subtitle = p.model + ", synthetic";
  t.blocks = w.trace.blocks;
  t.tokens = w.trace.tokens;
  t.experts = int(w.trace.experts);
  t.model_top_k = w.model_top_k;
  t.cost_model = describe_cost(w.cost);
  t.has_outputs = t.has_bytes = true;
  t.rows = std::move(rows);
  for (Result& r : t.rows)
    for (const Published& f : p.published)
      if (f.label == r.run.label) r.published = f.value + " (" + f.source + ")";
  return t;
}

void run_demo(const DemoOptions& o) {
  if (o.blocks < 1 || o.blocks > 100000) coreroute::detail::fail("--blocks", o.blocks, "must be in [1, 100000]");
  std::vector<const Preset*> chosen;
  if (!o.preset.empty())
    chosen.push_back(&find_preset(o.preset));
  else
    for (const Preset& p : presets())
      if (!p.published.empty()) chosen.push_back(&p);  // the models the papers measured
  parse_backend(o.backend);
  OutputDir out("--out", o.out, o.force);

  std::vector<Table> tables, curves;
  for (const Preset* p : chosen) {
    const Workload w = synthetic_workload(*p, o);
    const Evaluator ev(w);
    Table t = table_of(*p, w, evaluate_all(ev, demo_runs(*p), p->name), "");
    t.show_published = true;
    print_table(std::cout, t);
    std::cout << std::endl;
    tables.push_back(std::move(t));
    Table c = table_of(*p, w, evaluate_all(ev, sweep_runs({}, w.config), p->name + " sweep"), " sweep");
    mark_pareto(c.rows);
    c.show_pareto = true;
    curves.push_back(std::move(c));
  }
  std::cout << "Published figures are from real models (block 32): DES = arXiv 2602.00879, dMoE = arXiv "
               "2605.30876.\nOurs come from the synthetic generator (docs/trace-format.md), seed "
            << o.seed << "; output loss uses its linear experts.\n\n";
  std::vector<Table> all = tables;
  all.insert(all.end(), curves.begin(), curves.end());
  write_csv(out.stage("demo.csv"), all);
  write_json(out.stage("demo.json"), all, /*per_block=*/false);
  write_svg(out.stage("pareto.svg"), curves);
  out.commit();
  std::cout << "Wrote " << out.final_path("demo.csv") << ", " << out.final_path("demo.json") << " and "
            << out.final_path("pareto.svg") << " (unique experts vs hit rate, one curve per policy)\n";
}

}  // namespace

void add_demo(CLI::App& app) {
  auto opts = std::make_shared<DemoOptions>();
  CLI::App* sub =
      app.add_subcommand("demo",
                         "Run the papers' policies on built-in synthetic traces of two models; print a table and write "
                         "CSV, JSON and a Pareto plot");
  sub->add_option("--out", opts->out, "Output folder (default ./coreroute-demo; written whole: see --force)")
      ->type_name("DIR");
  sub->add_flag("--force", opts->force, "Replace an existing non-empty --out folder as a whole");
  sub->add_option("--preset", opts->preset, "Only this preset: " + preset_names())->type_name("NAME");
  sub->add_option("--blocks", opts->blocks, "Blocks per preset (default 64)")->type_name("B");
  sub->add_option("--seed", opts->seed, "Generator seed (default 1)")->type_name("S");
  sub->add_option("--backend", opts->backend, "Routing backend")->type_name("reference|kokkos|cuda");
  sub->callback([opts] { run_demo(*opts); });
}

}  // namespace coreroute::cli
