#pragma once
// Result tables on the terminal, and as CSV, JSON and an SVG Pareto plot (unique
// experts vs hit rate, one curve per policy family, one panel per table).
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "evaluate.hpp"

namespace coreroute::cli {

struct Table {
  std::string name;      // preset or trace file
  std::string subtitle;  // model / data description
  int64_t blocks = 0, tokens = 0;
  int experts = 0, model_top_k = 0;
  std::string cost_model;  // which model the time column uses (describe_cost(LayerCostFit))
  bool has_outputs = false, has_bytes = false, show_published = false, show_pareto = false;
  std::vector<Result> rows;
};

/// A table over a user's trace (its shape, whether outputs and expert bytes are known), no rows yet.
Table trace_table(const std::string& name, const Workload& w, const std::string& subtitle);
/// "M = 64, K = 8, softmax[, groups]".
std::string router_summary(const RouterConfig& c);

void print_table(std::ostream& os, const Table& t);
void write_csv(const std::string& path, const std::vector<Table>& tables);
/// `per_block`: also every block's metrics (route's metrics.json).
void write_json(const std::string& path, const std::vector<Table>& tables, bool per_block);
void write_svg(const std::string& path, const std::vector<Table>& tables);

}  // namespace coreroute::cli
