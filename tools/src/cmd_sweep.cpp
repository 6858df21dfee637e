// coreroute sweep: every policy over a parameter range on a trace; the Pareto
// table (unique experts vs hit rate), CSV, JSON and the plot.
#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>

#include <coreroute/error.hpp>

#include "commands.hpp"
#include "output.hpp"
#include "policy_flags.hpp"
#include "report.hpp"

namespace coreroute::cli {

namespace {

struct SweepOptions {
  RouterOptions router;
  SweepRanges ranges;
  std::string out;
  bool force = false;
  // Per flag: the families it belongs to (a field several policies share is one flag,
  // e.g. --betas of vote and blockmax), the parameter field ("" for --top-ks), and the
  // option (to tell whether it was given).
  struct Flag {
    std::vector<std::string> families;
    std::string field;
    CLI::Option* opt;
  };
  std::vector<Flag> family_flags;
};

/// A flag of a family not in --policies would be silently ignored: refuse it.
void check_flags(const SweepOptions& o) {
  for (const SweepOptions::Flag& flag : o.family_flags) {
    const auto& f = o.ranges.families;
    const bool used = std::any_of(flag.families.begin(), flag.families.end(), [&](const std::string& family) {
      return std::find(f.begin(), f.end(), family) != f.end();
    });
    if (flag.opt->count() == 0 || f.empty() || used) continue;
    std::string names;
    for (const std::string& family : flag.families) names += (names.empty() ? "" : " and ") + family;
    coreroute::detail::fail(flag.opt->get_name(), flag.opt->as<std::string>(),
                            "applies only to the " + names + (flag.families.size() > 1 ? " families" : " family") +
                                ", which --policies does not include");
  }
}

/// The ranges with only the values given on the command line.
SweepRanges given_ranges(const SweepOptions& o) {
  SweepRanges r = o.ranges;
  for (const SweepOptions::Flag& flag : o.family_flags)
    if (flag.opt->count() == 0) {
      r.lists.erase(flag.field);
      r.fixed.erase(flag.field);
    }
  return r;
}

void run_sweep(const SweepOptions& o) {
  check_flags(o);
  OutputDir out("--out", o.out, o.force);
  const SweepRanges ranges = given_ranges(o);
  MemoryPlan plan;
  plan.runs = 1;
  for (const auto& [field, values] : ranges.lists) plan.runs += int(values.size());
  plan.runs += 64 * int(sweep_families().size());  // families left to their defaults: a generous bound
  for (int k : ranges.top_ks) plan.max_top_k = std::max(plan.max_top_k, k);
  const Workload w = load_workload(o.router, plan);
  const std::vector<Run> runs = sweep_runs(ranges, w.config);
  const Evaluator ev(w);
  Table t = trace_table(o.router.trace, w, router_summary(w.config));
  t.show_pareto = true;
  t.rows = evaluate_all(ev, runs, "sweep");
  mark_pareto(t.rows);
  print_table(std::cout, t);
  std::cout << "  * = Pareto-optimal: no other row has at most as many unique experts and at least the hit rate, "
               "and one of them strictly.\n";
  write_csv(out.stage("sweep.csv"), {t});
  write_json(out.stage("sweep.json"), {t}, /*per_block=*/false);
  write_svg(out.stage("pareto.svg"), {t});
  out.commit();
  std::cout << "Wrote " << out.final_path("sweep.csv") << ", " << out.final_path("sweep.json") << " and "
            << out.final_path("pareto.svg") << "\n";
}

}  // namespace

void add_sweep(CLI::App& app) {
  auto o = std::make_shared<SweepOptions>();
  CLI::App* sub = app.add_subcommand(
      "sweep", "Sweep each policy over a parameter range; print the Pareto table, write CSV, JSON and a plot");
  add_router_options(*sub, o->router);
  sub->add_option("--policies", o->ranges.families, "Policy families (vanilla is always run; default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember(sweep_families()))
      ->type_name("LIST");
  CLI::Option* top_ks = sub->add_option("--top-ks", o->ranges.top_ks, "top-k: K values of the baseline (default 1..K)")
                            ->delimiter(',')
                            ->type_name("LIST");
  o->family_flags.push_back({{"top-k"}, "", top_ks});
  // Per built-in policy: its swept parameter as a list flag (--betas), its other
  // unlabelled parameters as one value for the whole sweep (--min-experts). A field
  // that several policies share is one flag for all of them.
  for_each_builtin([&](const auto& e) {
    const std::string name = std::decay_t<decltype(e)>::policy_type::name;
    for_each_param(e, [&](const auto& p) {
      for (SweepOptions::Flag& f : o->family_flags)
        if (f.field == p.field && (p.sweep || !p.label)) {
          f.families.push_back(name);
          f.opt->description(name + ", " + f.opt->get_description());
          return;
        }
      CLI::Option* opt = nullptr;
      if (p.sweep)
        opt = sub->add_option(flag_of(p.field) + "s", o->ranges.lists[p.field],
                              name + ": " + p.help + " (list; default " + p.sweep + ")")
                  ->delimiter(',')
                  ->type_name("LIST");
      else if (!p.label)
        opt = sub->add_option(flag_of(p.field), o->ranges.fixed[p.field], name + ": " + p.help)->type_name("v");
      if (opt) o->family_flags.push_back({{name}, p.field, opt});
    });
  });
  sub->add_option("--out", o->out, "Output folder (written whole: see --force)")->required()->type_name("DIR");
  sub->add_flag("--force", o->force, "Replace an existing non-empty --out folder as a whole");
  sub->callback([o] { run_sweep(*o); });
}

}  // namespace coreroute::cli
