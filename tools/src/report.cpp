#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "npy.hpp"

namespace coreroute::cli {

Table trace_table(const std::string& name, const Workload& w, const std::string& subtitle) {
  Table t;
  t.name = name;
  t.subtitle = subtitle;
  t.blocks = w.trace.blocks;
  t.tokens = w.trace.tokens;
  t.experts = int(w.trace.experts);
  t.model_top_k = w.model_top_k;
  t.cost_model = describe_cost(w.cost);
  t.has_outputs = !w.outputs.empty();
  t.has_bytes = w.expert_bytes > 0;
  return t;
}

std::string router_summary(const RouterConfig& c) {
  return "M = " + std::to_string(c.num_experts) + ", K = " + std::to_string(c.top_k) + ", " + to_string(c.score) +
         (c.groups.enabled() ? (c.groups.group_score == GroupScoreRule::max ? ", groups (max)" : ", groups") : "");
}

namespace {

std::string fmt(const char* f, double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "-" : "inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::ofstream open_out(const std::string& path) {
  std::ofstream f(path);
  if (!f) throw npy_error(path + ": cannot open for writing");
  return f;
}

void check_written(std::ofstream& f, const std::string& path) {
  f.flush();
  if (!f) throw npy_error(path + ": write error");
}

std::string csv_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

nlohmann::json metrics_json(const BlockMetrics& m) {
  return {{"unique_experts", m.unique_experts},
          {"coreset_size", m.coreset_size},
          {"topk_hit_rate", m.topk_hit_rate},
          {"gate_reconstruction_loss", m.gate_reconstruction_loss},
          // NaN (no expert outputs given) is written as null.
          {"output_reconstruction_loss", std::isnan(m.output_reconstruction_loss)
                                             ? nlohmann::json(nullptr)
                                             : nlohmann::json(m.output_reconstruction_loss)},
          {"hit_cosine", m.hit_cosine},
          {"expert_bytes_read", m.expert_bytes_read}};
}

/// "Nice" axis ticks (1, 2, 5 x 10^k) covering [lo, hi].
std::vector<double> ticks(double lo, double hi) {
  const double raw = (hi - lo) / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(v);
  return t;
}

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"};

void svg_panel(std::ostream& os, const Table& t, double x0, double w, double h) {
  const double left = x0 + 60, right = x0 + w - 20, top = 50, bottom = h - 50;
  double tmax = 1, hmin = 1;
  for (const Result& r : t.rows) {
    tmax = std::max(tmax, r.mean.unique_experts);
    hmin = std::min(hmin, r.mean.topk_hit_rate);
  }
  tmax *= 1.05;
  hmin = std::max(0.0, std::floor(hmin * 10 - 0.5) / 10);
  const auto X = [&](double v) { return left + (right - left) * v / tmax; };
  const auto Y = [&](double v) { return bottom - (bottom - top) * (v - hmin) / (1.0 - hmin); };
  os << "<text x='" << (left + right) / 2 << "' y='22' text-anchor='middle' font-size='15' font-weight='bold'>"
     << xml_escape(t.name) << "</text>\n"
     << "<text x='" << (left + right) / 2 << "' y='38' text-anchor='middle' font-size='11'>" << xml_escape(t.subtitle)
     << "</text>\n"
     << "<rect x='" << left << "' y='" << top << "' width='" << right - left << "' height='" << bottom - top
     << "' fill='none' stroke='#444'/>\n";
  for (double v : ticks(0, tmax))
    os << "<line x1='" << X(v) << "' y1='" << bottom << "' x2='" << X(v) << "' y2='" << bottom + 5
       << "' stroke='#444'/><text x='" << X(v) << "' y='" << bottom + 18 << "' text-anchor='middle' font-size='11'>"
       << v << "</text>\n";
  for (double v : ticks(hmin, 1.0))
    os << "<line x1='" << left - 5 << "' y1='" << Y(v) << "' x2='" << left << "' y2='" << Y(v)
       << "' stroke='#444'/><text x='" << left - 8 << "' y='" << Y(v) + 4 << "' text-anchor='end' font-size='11'>" << v
       << "</text>\n";
  os << "<text x='" << (left + right) / 2 << "' y='" << h - 12
     << "' text-anchor='middle' font-size='12'>unique experts per block (mean over blocks)</text>\n"
     << "<text transform='translate(" << x0 + 16 << "," << (top + bottom) / 2
     << ") rotate(-90)' text-anchor='middle' font-size='12'>top-K hit rate vs vanilla</text>\n";
  std::map<std::string, std::vector<const Result*>> curves;
  std::vector<std::string> order;
  for (const Result& r : t.rows) {
    if (!curves.count(r.run.family)) order.push_back(r.run.family);
    curves[r.run.family].push_back(&r);
  }
  for (size_t f = 0; f < order.size(); ++f) {
    std::vector<const Result*>& pts = curves[order[f]];
    std::sort(pts.begin(), pts.end(),
              [](const Result* a, const Result* b) { return a->mean.unique_experts < b->mean.unique_experts; });
    const char* color = kColors[f % (sizeof kColors / sizeof *kColors)];
    os << "<polyline fill='none' stroke='" << color << "' stroke-width='1.5' points='";
    for (const Result* p : pts) os << X(p->mean.unique_experts) << "," << Y(p->mean.topk_hit_rate) << " ";
    os << "'/>\n";
    for (const Result* p : pts)
      os << "<circle cx='" << X(p->mean.unique_experts) << "' cy='" << Y(p->mean.topk_hit_rate) << "' r='3' fill='"
         << color << "'><title>" << xml_escape(p->run.label) << ": T=" << fmt("%.1f", p->mean.unique_experts)
         << ", hit=" << fmt("%.3f", p->mean.topk_hit_rate) << "</title></circle>\n";
    const double ly = bottom - 10 - 16.0 * double(order.size() - 1 - f);
    os << "<line x1='" << right - 110 << "' y1='" << ly - 4 << "' x2='" << right - 90 << "' y2='" << ly - 4
       << "' stroke='" << color << "' stroke-width='2'/><text x='" << right - 85 << "' y='" << ly << "' font-size='11'>"
       << xml_escape(order[f]) << "</text>\n";
  }
}

}  // namespace

void print_table(std::ostream& os, const Table& t) {
  os << t.name << ": " << t.subtitle << "\n"
     << "  " << t.blocks << " blocks of N = " << t.tokens << " tokens, M = " << t.experts
     << ". Trace-level values are means over blocks (each block weighs the same);\n"
     << "  hit rate and losses are against vanilla routing with K = " << t.model_top_k
     << ";\n  time = modeled MoE-layer time relative to vanilla, by " << t.cost_model << ".\n";
  size_t label_width = 20;
  for (const Result& r : t.rows) label_width = std::max(label_width, r.run.label.size());
  const auto row = [&](const std::string& label, const std::string& unique, const std::string& published,
                       const std::string& rest) {
    std::ostringstream line;
    line << "  " << label << std::string(label_width + 1 - label.size(), ' ');
    line << std::string(unique.size() < 6 ? 6 - unique.size() : 0, ' ') << unique;
    if (t.show_published)
      line << "  " << published << std::string(published.size() < 22 ? 22 - published.size() : 0, ' ');
    os << line.str() << rest << "\n";
  };
  char rest[160];
  std::snprintf(rest, sizeof rest, " %7s %8s %10s %10s %9s %8s%s", "coreset", "hit rate", "gate loss", "out loss",
                "MB read", "time", t.show_pareto ? "  pareto" : "");
  row("policy", "unique", "published", rest);
  for (const Result& r : t.rows) {
    const BlockMetrics& m = r.mean;
    std::snprintf(rest, sizeof rest, " %7s %8s %10s %10s %9s %8s%s", fmt("%.1f", m.coreset_size).c_str(),
                  fmt("%.3f", m.topk_hit_rate).c_str(), fmt("%.4f", m.gate_reconstruction_loss).c_str(),
                  t.has_outputs ? fmt("%.4f", m.output_reconstruction_loss).c_str() : "-",
                  t.has_bytes ? fmt("%.1f", m.expert_bytes_read / 1e6).c_str() : "-",
                  fmt("%.3f", r.relative_time).c_str(), t.show_pareto && r.pareto ? "  *" : "");
    row(r.run.label, fmt("%.1f", m.unique_experts), r.published, rest);
  }
}

void write_csv(const std::string& path, const std::vector<Table>& tables) {
  std::ofstream f = open_out(path);
  f << "# trace-level values are means over blocks; hit rate and losses vs vanilla with the model's K\n"
    << "table,policy,family,param,top_k,unique_experts,published_unique_experts,coreset_size,topk_hit_rate,"
       "gate_reconstruction_loss,output_reconstruction_loss,hit_cosine,expert_bytes_read,relative_time,pareto\n";
  f.precision(9);
  for (const Table& t : tables)
    for (const Result& r : t.rows) {
      const BlockMetrics& m = r.mean;
      f << csv_quote(t.name) << ',' << csv_quote(r.run.label) << ',' << csv_quote(r.run.family) << ',' << r.run.param
        << ',' << r.run.top_k << ',' << m.unique_experts << ',' << csv_quote(r.published) << ',' << m.coreset_size
        << ',' << m.topk_hit_rate << ',' << m.gate_reconstruction_loss << ','
        << (std::isnan(m.output_reconstruction_loss) ? std::string() : fmt("%.9g", m.output_reconstruction_loss)) << ','
        << m.hit_cosine << ',' << m.expert_bytes_read << ',' << r.relative_time << ',' << (r.pareto ? 1 : 0) << '\n';
    }
  check_written(f, path);
}

void write_json(const std::string& path, const std::vector<Table>& tables, bool per_block) {
  nlohmann::json out;
  out["note"] =
      "trace-level metrics are means over blocks, each block weighing the same; hit rate and losses "
      "are against vanilla routing with the model's top_k; relative_time is the modeled MoE-layer time "
      "c + b*T + a*N*K relative to vanilla, by each table's cost_model";
  out["tables"] = nlohmann::json::array();
  for (const Table& t : tables) {
    nlohmann::json jt = {{"name", t.name},
                         {"description", t.subtitle},
                         {"blocks", t.blocks},
                         {"tokens", t.tokens},
                         {"experts", t.experts},
                         {"model_top_k", t.model_top_k},
                         {"cost_model", t.cost_model},
                         {"rows", nlohmann::json::array()}};
    for (const Result& r : t.rows) {
      nlohmann::json jr = {{"policy", r.run.label},
                           {"family", r.run.family},
                           {"param", r.run.param},
                           {"top_k", r.run.top_k},
                           {"describe", describe(r.run.policy)},
                           {"mean", metrics_json(r.mean)},
                           {"relative_time", r.relative_time}};
      if (!r.published.empty()) jr["published_unique_experts"] = r.published;
      if (t.show_pareto) jr["pareto"] = r.pareto;
      if (per_block) {
        jr["blocks"] = nlohmann::json::array();
        for (const BlockMetrics& m : r.blocks) jr["blocks"].push_back(metrics_json(m));
      }
      jt["rows"].push_back(jr);
    }
    out["tables"].push_back(jt);
  }
  std::ofstream f = open_out(path);
  f << out.dump(2) << '\n';
  check_written(f, path);
}

void write_svg(const std::string& path, const std::vector<Table>& tables) {
  const double w = 520, h = 400;
  std::ofstream f = open_out(path);
  f << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w * double(std::max<size_t>(1, tables.size()))
    << "' height='" << h << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  for (size_t i = 0; i < tables.size(); ++i) svg_panel(f, tables[i], w * double(i), w, h);
  f << "</svg>\n";
  check_written(f, path);
}

}  // namespace coreroute::cli
