// coreroute route: routes a trace with one policy and writes ids, weights, coreset
// (.npy) and the metrics against vanilla (metrics.json).
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "npy.hpp"
#include "output.hpp"
#include "report.hpp"

namespace coreroute::cli {

namespace {

struct RouteOptions {
  RouterOptions router;
  PolicyOptions policy;
  std::string out;
  bool no_metrics = false, force = false;
};

void run_route(const RouteOptions& o) {
  OutputDir out("--out", o.out, o.force);
  MemoryPlan plan;
  plan.vanilla = plan.per_block_json = !o.no_metrics;
  const Workload w = load_workload(o.router, plan);
  const AnyPolicy policy = make_policy(o.policy, w.config);
  const Routing R = route_checked(w, w.config, policy);
  write_npy(out.stage("ids.npy"), R.ids, {R.blocks, R.tokens, R.top_k});
  write_npy(out.stage("weights.npy"), R.weights, {R.blocks, R.tokens, R.top_k});
  write_npy(out.stage("coreset.npy"), R.coreset, {R.blocks, int64_t(R.experts)});
  BlockMetrics m;
  if (!o.no_metrics) {
    const Evaluator ev(w);
    const Run run = run_of(policy, w.config.top_k);
    Table t = trace_table(o.router.trace, w, "route " + describe(policy));
    t.rows.push_back(ev.evaluate(run, R));
    write_json(out.stage("metrics.json"), {t}, /*per_block=*/true);
    m = t.rows[0].mean;
  }
  out.commit();
  std::cout << "Routed " << R.blocks << (R.blocks == 1 ? " block" : " blocks") << " of N = " << R.tokens
            << " tokens, M = " << R.experts << ", K = " << R.top_k << " with " << describe(policy) << " on the "
            << backend_name(w.backend) << " backend\nWrote " << out.final_path("ids.npy") << ", "
            << out.final_path("weights.npy") << ", " << out.final_path("coreset.npy");
  if (o.no_metrics) {
    std::cout << "\n";
    return;
  }
  std::cout << " and " << out.final_path("metrics.json") << "\nMeans over blocks: unique experts " << m.unique_experts
            << ", coreset " << m.coreset_size << ", hit rate " << m.topk_hit_rate
            << " (vs vanilla K = " << w.model_top_k << ")\n";
}

}  // namespace

void add_route(CLI::App& app) {
  auto o = std::make_shared<RouteOptions>();
  CLI::App* sub = app.add_subcommand(
      "route", "Route a trace with one policy; write ids.npy, weights.npy, coreset.npy and metrics.json");
  add_router_options(*sub, o->router);
  add_policy_options(*sub, o->policy);
  sub->add_option("--out", o->out, "Output folder (written whole: see --force)")->required()->type_name("DIR");
  sub->add_flag("--force", o->force, "Replace an existing non-empty --out folder as a whole");
  sub->add_flag("--no-metrics", o->no_metrics, "Skip metrics.json (and the vanilla routing it needs)");
  sub->callback([o] { run_route(*o); });
}

}  // namespace coreroute::cli
