#include "evaluate.hpp"

#include <coreroute/reference.hpp>

namespace coreroute::cli {

Evaluator::Evaluator(const Workload& w) : w_(w) {
  RouterConfig c = w.config;
  c.top_k = w.model_top_k;
  vanilla_ = route_checked(w, c, VanillaPolicy{});
  for (const BlockMetrics& m : reference::metrics(vanilla_, vanilla_)) vanilla_unique_.push_back(m.unique_experts);
}

Routing Evaluator::route(const Run& r) const {
  RouterConfig c = w_.config;
  c.top_k = r.top_k;
  return route_checked(w_, c, r.policy);
}

Result Evaluator::evaluate(const Run& r) const { return evaluate(r, route(r)); }

Result Evaluator::evaluate(const Run& r, const Routing& routed) const {
  Result out;
  out.run = r;
  const ExpertOutputsView y = w_.outputs_view();
  out.blocks = reference::metrics(routed, vanilla_, w_.expert_bytes, w_.outputs.empty() ? nullptr : &y);
  out.mean = mean_metrics(out.blocks);
  double cost = 0, cost0 = 0;
  for (size_t b = 0; b < out.blocks.size(); ++b) {
    const double n = double(routed.valid_tokens[b]);
    const LayerCostFit& f = w_.cost;
    cost += f.c + f.b * out.blocks[b].unique_experts + f.a * n * double(r.top_k);
    cost0 += f.c + f.b * vanilla_unique_[b] + f.a * n * double(w_.model_top_k);
  }
  out.relative_time = cost0 > 0 ? cost / cost0 : 1.0;
  return out;
}

void mark_pareto(std::vector<Result>& results) {
  for (Result& a : results) {
    a.pareto = true;
    for (const Result& b : results) {
      const double ta = a.mean.unique_experts, tb = b.mean.unique_experts;
      const double ha = a.mean.topk_hit_rate, hb = b.mean.topk_hit_rate;
      if (tb <= ta && hb >= ha && (tb < ta || hb > ha)) {
        a.pareto = false;
        break;
      }
    }
  }
}

}  // namespace coreroute::cli
