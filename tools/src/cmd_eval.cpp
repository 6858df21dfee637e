// coreroute eval: the metrics table of one policy on a trace, beside vanilla.
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "output.hpp"
#include "report.hpp"

namespace coreroute::cli {

namespace {

struct EvalOptions {
  RouterOptions router;
  PolicyOptions policy;
  std::string csv, json;
};

void run_eval(const EvalOptions& o) {
  OutputFiles files;
  files.input("--trace", o.router.trace);
  for (const auto& [flag, path] : {std::pair<const char*, std::string>{"--bias", o.router.bias},
                                   {"--tokens", o.router.tokens},
                                   {"--outputs", o.router.outputs}})
    if (!path.empty()) files.input(flag, path);
  if (!o.csv.empty()) files.add("--csv", o.csv);
  if (!o.json.empty()) files.add("--json", o.json);
  MemoryPlan plan;
  plan.runs = 2;
  plan.per_block_json = !o.json.empty();
  const Workload w = load_workload(o.router, plan);
  const AnyPolicy policy = make_policy(o.policy, w.config);
  const Evaluator ev(w);
  std::vector<Run> runs = {vanilla_run(w.model_top_k)};
  if (o.policy.policy != "vanilla")
    runs.push_back(run_of(policy, w.config.top_k));
  else if (w.config.top_k != w.model_top_k)
    runs.push_back(topk_run(w.config.top_k));
  Table t = trace_table(o.router.trace, w, router_summary(w.config));
  t.rows = evaluate_all(ev, runs, "eval");
  print_table(std::cout, t);
  if (!o.csv.empty()) write_csv(files.stage(o.csv), {t});
  if (!o.json.empty()) write_json(files.stage(o.json), {t}, /*per_block=*/true);
  files.commit();
  if (!o.csv.empty() || !o.json.empty())
    std::cout << "Wrote " << o.csv << (o.csv.empty() || o.json.empty() ? "" : " and ") << o.json << "\n";
}

}  // namespace

void add_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* sub = app.add_subcommand("eval", "Metrics table of one policy on a trace, against vanilla");
  add_router_options(*sub, o->router);
  add_policy_options(*sub, o->policy);
  sub->add_option("--csv", o->csv, "Also write the table as CSV")->type_name("FILE");
  sub->add_option("--json", o->json, "Also write the table, with per-block metrics, as JSON")->type_name("FILE");
  sub->callback([o] { run_eval(*o); });
}

}  // namespace coreroute::cli
