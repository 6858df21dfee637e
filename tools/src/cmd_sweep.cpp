// coreroute sweep: every policy over a parameter range on a trace; the Pareto
// table (unique experts vs hit rate), CSV, JSON and the plot.
#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>

#include <coreroute/error.hpp>

#include "commands.hpp"
#include "report.hpp"

namespace coreroute::cli {

namespace {

struct SweepOptions {
  RouterOptions router;
  SweepRanges ranges;
  std::string out;
};

void check_ranges(const SweepRanges& r, const RouterConfig& c) {
  using coreroute::detail::require;
  for (int k : r.top_ks)
    require(k >= 1 && k <= c.num_experts, "--top-ks", k, "must be in [1, M = " + std::to_string(c.num_experts) + "]");
  for (int k : r.k_locals)
    require(k >= 1 && k <= c.top_k, "--k-locals", k, "must be in [1, --top-k = " + std::to_string(c.top_k) + "]");
  for (double b : r.betas) require(b > 0 && b <= 1, "--betas", b, "must be in (0, 1]");
  for (double p : r.top_ps) require(p > 0 && p <= 1, "--top-ps", p, "must be in (0, 1]");
  require(r.min_experts <= c.num_experts && r.min_experts >= -1, "--min-experts", r.min_experts,
          "must be in [0, M = " + std::to_string(c.num_experts) + "]");
}

void run_sweep(const SweepOptions& o) {
  const Workload w = load_workload(o.router);
  check_ranges(o.ranges, w.config);
  make_dir(o.out);
  const Evaluator ev(w);
  Table t = trace_table(o.router.trace, w, router_summary(w.config));
  t.show_pareto = true;
  t.rows = evaluate_all(ev, sweep_runs(o.ranges, w.config.num_experts, w.config.top_k), "sweep");
  mark_pareto(t.rows);
  print_table(std::cout, t);
  std::cout << "  * = Pareto-optimal: no other row has fewer unique experts and a higher hit rate.\n";
  const std::string base = o.out + "/";
  write_csv(base + "sweep.csv", {t});
  write_json(base + "sweep.json", {t}, /*per_block=*/false);
  write_svg(base + "pareto.svg", {t});
  std::cout << "Wrote " << base << "sweep.csv, " << base << "sweep.json and " << base << "pareto.svg\n";
}

}  // namespace

void add_sweep(CLI::App& app) {
  auto o = std::make_shared<SweepOptions>();
  CLI::App* sub = app.add_subcommand(
      "sweep", "Sweep each policy over a parameter range; print the Pareto table, write CSV, JSON and a plot");
  add_router_options(*sub, o->router);
  sub->add_option("--policies", o->ranges.families, "Policy families (vanilla is always run)")
      ->delimiter(',')
      ->check(CLI::IsMember({"top-k", "union", "vote", "blockdist"}))
      ->type_name("LIST");
  sub->add_option("--top-ks", o->ranges.top_ks, "K values of the top-k baseline (default 1..K)")
      ->delimiter(',')
      ->type_name("LIST");
  sub->add_option("--k-locals", o->ranges.k_locals, "union k_local values (default 1..K)")
      ->delimiter(',')
      ->type_name("LIST");
  sub->add_option("--betas", o->ranges.betas, "vote beta values")->delimiter(',')->type_name("LIST");
  sub->add_option("--top-ps", o->ranges.top_ps, "blockdist top_p values")->delimiter(',')->type_name("LIST");
  sub->add_option("--min-experts", o->ranges.min_experts, "blockdist floor (default min(16, M))")->type_name("m");
  sub->add_option("--out", o->out, "Output folder")->required()->type_name("DIR");
  sub->callback([o] { run_sweep(*o); });
}

}  // namespace coreroute::cli
