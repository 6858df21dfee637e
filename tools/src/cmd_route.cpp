// coreroute route: routes a trace with one policy and writes ids, weights, coreset
// (.npy) and the metrics against vanilla (metrics.json).
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "npy.hpp"
#include "report.hpp"

namespace coreroute::cli {

namespace {

struct RouteOptions {
  RouterOptions router;
  PolicyOptions policy;
  std::string out;
  bool no_metrics = false;
};

void run_route(const RouteOptions& o) {
  const Workload w = load_workload(o.router);
  const AnyPolicy policy = make_policy(o.policy, w.config);
  make_dir(o.out);
  const Routing R = route_with(w.backend, w.view(), w.config, policy);
  const std::string base = o.out + "/";
  write_npy(base + "ids.npy", R.ids, {R.blocks, R.tokens, R.top_k});
  write_npy(base + "weights.npy", R.weights, {R.blocks, R.tokens, R.top_k});
  write_npy(base + "coreset.npy", R.coreset, {R.blocks, int64_t(R.experts)});
  std::cout << "Routed " << R.blocks << " blocks of N = " << R.tokens << " tokens, M = " << R.experts
            << ", K = " << R.top_k << " with " << describe(policy) << " on the " << backend_name(w.backend)
            << " backend\nWrote " << base << "ids.npy, " << base << "weights.npy, " << base << "coreset.npy";
  if (o.no_metrics) {
    std::cout << "\n";
    return;
  }
  const Evaluator ev(w);
  const Run run = run_of(policy, w.config.top_k);
  Table t = trace_table(o.router.trace, w, "route " + describe(policy));
  t.rows.push_back(ev.evaluate(run, R));
  write_json(base + "metrics.json", {t}, /*per_block=*/true);
  const BlockMetrics& m = t.rows[0].mean;
  std::cout << " and " << base << "metrics.json\nMeans over blocks: unique experts " << m.unique_experts
            << ", coreset " << m.coreset_size << ", hit rate " << m.topk_hit_rate << " (vs vanilla K = "
            << w.model_top_k << ")\n";
}

}  // namespace

void add_route(CLI::App& app) {
  auto o = std::make_shared<RouteOptions>();
  CLI::App* sub = app.add_subcommand(
      "route", "Route a trace with one policy; write ids.npy, weights.npy, coreset.npy and metrics.json");
  add_router_options(*sub, o->router);
  add_policy_options(*sub, o->policy);
  sub->add_option("--out", o->out, "Output folder")->required()->type_name("DIR");
  sub->add_flag("--no-metrics", o->no_metrics, "Skip metrics.json (and the vanilla routing it needs)");
  sub->callback([o] { run_route(*o); });
}

}  // namespace coreroute::cli
