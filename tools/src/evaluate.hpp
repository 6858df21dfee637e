#pragma once
// Runs policies on a workload and measures them against vanilla routing with the
// model's K (docs/spec.md section 5), plus the modeled MoE-layer time of docs/spec.md section 1:
//   L = c + b * T + a * N * K   (c: what routing does not change, b: read one expert's
//   weights, a: one token-expert GEMM)
// so relative time = sum_b (c + b T_b + a N_b K) / sum_b (c + b T0_b + a N_b K0). A preset's
// c, b, a are its measured fit (docs/performance.md); otherwise c = 0, b = 1 and a = a/b,
// which with bf16 experts is bandwidth / FLOP rate whatever the expert's size.
#include <string>
#include <vector>

#include <coreroute/metrics.hpp>
#include <coreroute/routing.hpp>

#include "backend.hpp"
#include "options.hpp"

namespace coreroute::cli {

/// One routing to evaluate: a policy at a K, named for tables and plots.
struct Run {
  std::string label;   // "vote beta=0.15"
  std::string family;  // the curve it belongs to: "vote", "union", "top-k", ...
  double param = 0;    // the swept parameter
  AnyPolicy policy;
  int top_k = 0;
};

struct Result {
  Run run;
  BlockMetrics mean;  // means over blocks
  std::vector<BlockMetrics> blocks;
  double relative_time = 1;
  std::string published;  // a paper's figure for this row, or ""
  bool pareto = false;    // on the unique-experts / hit-rate front
};

class Evaluator {
 public:
  explicit Evaluator(const Workload& w);
  Routing route(const Run& r) const;
  Result evaluate(const Run& r) const;
  Result evaluate(const Run& r, const Routing& routed) const;
  const Routing& vanilla() const { return vanilla_; }

 private:
  const Workload& w_;
  Routing vanilla_;  // with the model's K
  std::vector<double> vanilla_unique_;
};

/// Marks the results no other result beats on both fewer unique experts and a
/// higher hit rate.
void mark_pareto(std::vector<Result>& results);

}  // namespace coreroute::cli
