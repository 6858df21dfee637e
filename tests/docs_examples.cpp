// The numbers of docs/algorithms.md's worked examples, computed by the reference
// library. The document holds each table between the markers
//   <!-- generated: NAME -->  ...  <!-- end generated -->
// and this program renders the same blocks from the code, so the text cannot drift:
//
//   coreroute_docs_examples print                 every block, to stdout
//   coreroute_docs_examples check DOC [JSON]      exit 1 naming each block of DOC (and the
//                                                 figure data JSON) that differs from the code
//   coreroute_docs_examples update DOC [JSON]     rewrite those blocks (and JSON) in place
//
// JSON is docs/figures/data/worked_example.json, the data behind the worked example's
// figures (docs/figures/make_figures.py). ctest runs `check` (test docs_worked_examples).
#include <coreroute/reference.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace coreroute;

namespace {

std::string fmt(double v, int decimals = 4) {
  if (v == 0) return "0";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s == "-0.0000") s = "0.0000";
  return s;
}

std::string num(double v) {  // an integer as an integer, else 4 decimals
  if (v == std::floor(v) && std::fabs(v) < 1e9) return std::to_string(int64_t(v));
  return fmt(v);
}

std::string logit(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string join(const std::vector<int>& v, const char* sep = ", ") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + std::to_string(v[i]);
  return out;
}

std::string set_of(const std::vector<int>& v) { return "{" + join(v) + "}"; }

struct Example {
  std::string name;
  int N = 0, M = 0, K = 0;
  std::vector<float> logits;  // [N, M]
  RouterConfig config;
  LogitsView<float> view() const { return make_logits_view(logits.data(), 1, N, M, nullptr); }
};

Example example1() {
  Example e;
  e.name = "ex1";
  e.N = 4;
  e.M = 8;
  e.K = 2;
  e.logits = {2.0f, 1.0f, 0.0f, 0.0f, 0.5f, 0.0f, 0.0f, -1.0f,  //
              1.5f, 0.0f, 2.0f, 0.0f, 0.0f, 0.0f, 0.5f, 0.0f,   //
              0.0f, 1.0f, 0.0f, 2.0f, 0.0f, 0.0f, 0.0f, 0.5f,   //
              1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 2.0f, 1.0f, 0.0f};
  e.config.num_experts = 8;
  e.config.top_k = 2;
  e.config.normalize_weights = true;
  return e;
}

// Sigmoid + bias + groups: M = 8 in 2 groups of 4 ({0, 1, 2, 3}, {4, 5, 6, 7}), each
// token keeps its best group, K = 2, LLaDA2.0's normalize and scaling 2.5. Token 3 is
// unsure (every logit low): its second choice has a negative selection score. Token
// 2's own top-2 spans both groups.
Example example2() {
  Example e;
  e.name = "ex2";
  e.N = 4;
  e.M = 8;
  e.K = 2;
  e.logits = {0.5f,  -1.0f, 2.0f,  1.5f,  -1.0f, -1.0f, 0.0f,  -1.0f,  //
              -1.0f, 0.0f,  -1.0f, 0.0f,  1.5f,  1.0f,  0.5f,  0.5f,   //
              2.0f,  -1.0f, 1.0f,  1.5f,  0.5f,  0.0f,  1.0f,  -2.0f,  //
              -3.0f, -3.0f, -3.0f, -3.0f, -3.0f, -3.0f, -3.0f, -3.0f};
  e.config.num_experts = 8;
  e.config.top_k = 2;
  e.config.score = ScoreFunction::sigmoid;
  e.config.expert_bias = {-0.1f, -0.2f, -0.1f, -0.1f, 0.1f, -0.2f, -0.2f, -0.6f};
  e.config.groups = {2, 1};
  e.config.normalize_weights = true;
  e.config.scaling = 2.5f;
  return e;
}

// True when token n's eligible experts depend on how groups with fewer than two
// eligible experts rank among themselves (docs/spec.md section 3): the rule before the
// group-ranking fix took them by the lower group id, the rule puts a one-expert group
// (by its r) above an empty one. The generated examples stay clear of that case, so
// their numbers hold under both; the case itself is tests/test_group_ranking.cpp's.
bool group_rule_matters(const RouterParams& p, const double* r, const std::vector<uint8_t>& mask) {
  if (!p.groups.enabled()) return false;
  const int G = p.groups.n_group, per = p.num_experts / G;
  int full = 0;
  std::vector<std::pair<double, int>> one;  // (r of its expert, group) of one-expert groups
  std::vector<int> small;                   // groups with < 2 eligible experts, by id
  for (int g = 0; g < G; ++g) {
    int count = 0, last = -1;
    for (int i = g * per; i < (g + 1) * per; ++i)
      if (mask[size_t(i)]) ++count, last = i;
    if (count >= 2)
      ++full;
    else
      small.push_back(g);
    if (count == 1) one.push_back({r[last], g});
  }
  const int left = p.groups.topk_group - full;
  if (left <= 0) return false;
  std::vector<int> by_id(small.begin(), small.begin() + std::min<size_t>(size_t(left), small.size()));
  std::sort(one.begin(), one.end(),
            [](auto a, auto b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  std::vector<int> by_rule;
  for (auto& o : one) by_rule.push_back(o.second);
  for (int g : small)
    if (std::find(by_rule.begin(), by_rule.end(), g) == by_rule.end()) by_rule.push_back(g);
  by_rule.resize(by_id.size());
  std::sort(by_id.begin(), by_id.end());
  std::sort(by_rule.begin(), by_rule.end());
  // Only groups with an eligible expert matter: an empty group adds nothing.
  auto nonempty = [&](std::vector<int> v) {
    std::vector<int> out;
    for (int g : v)
      for (int i = g * per; i < (g + 1) * per; ++i)
        if (mask[size_t(i)]) {
          out.push_back(g);
          break;
        }
    return out;
  };
  return nonempty(by_id) != nonempty(by_rule);
}

struct Blocks {
  std::map<std::string, std::string> text;  // name -> block body
  std::vector<std::string> order;
  std::string json;
  std::ostringstream& open(const std::string& name) {
    order.push_back(name);
    cur.str("");
    cur_name = name;
    return cur;
  }
  void close() { text[cur_name] = cur.str(); }
  std::ostringstream cur;
  std::string cur_name;
};

std::vector<int> coreset_of(const Routing& R) {
  std::vector<int> out;
  for (int i = 0; i < R.experts; ++i)
    if (R.coreset[size_t(i)]) out.push_back(i);
  return out;
}

std::vector<double> dense_gate(const Routing& R, int n) {
  std::vector<double> g(size_t(R.experts), 0.0);
  for (int j = 0; j < R.top_k; ++j)
    if (R.id(0, n, j) >= 0) g[size_t(R.id(0, n, j))] += R.weight(0, n, j);
  return g;
}

std::vector<int> counts_of(const Routing& R) {
  std::vector<int> c(size_t(R.experts), 0);
  for (int n = 0; n < R.tokens; ++n)
    for (int j = 0; j < R.top_k; ++j)
      if (R.id(0, n, j) >= 0) ++c[size_t(R.id(0, n, j))];
  return c;
}

struct Named {
  std::string label;
  Routing R;
};

template <class Policy>
Named run(const Example& e, const std::string& label, const Policy& p) {
  Named out{label, reference::route(e.view(), e.config, p)};
  reference::Workspace ws;
  reference::score_block(e.view(), 0, params_of(e.config), ws.scores);
  const std::vector<uint8_t> mask(out.R.coreset.begin(), out.R.coreset.begin() + e.M);
  for (int n = 0; n < e.N; ++n)
    if (group_rule_matters(params_of(e.config), ws.scores.r_row(n), mask)) {
      std::cerr << "docs_examples: " << e.name << " " << label << ", token " << n
                << ": its routing depends on the ranking of groups with < 2 eligible experts\n";
      if (!std::getenv("DOCS_EXAMPLES_WARN_ONLY")) std::exit(2);
    }
  return out;
}

void header_row(std::ostream& o, const std::string& first, int M, const std::string& last = "") {
  o << "| " << first << " |";
  for (int i = 0; i < M; ++i) o << " e" << i << " |";
  if (!last.empty()) o << " " << last << " |";
  o << "\n|---|";
  for (int i = 0; i < M; ++i) o << "---|";
  if (!last.empty()) o << "---|";
  o << "\n";
}

// Tables shared by both examples: logits, scores with each token's top-K in bold,
// votes and P, the top-p walk with its running sums, coresets, routing, metrics.
void render(const Example& e, const std::vector<Named>& runs, double top_p, int min_experts, Blocks& out,
            std::ostringstream& json) {
  const int N = e.N, M = e.M, K = e.K;
  const RouterParams p = params_of(e.config);
  reference::Workspace ws;
  reference::score_block(e.view(), 0, p, ws.scores);
  const bool bias = !e.config.expert_bias.empty();

  auto& lg = out.open(e.name + "-logits");
  header_row(lg, "token", M);
  for (int n = 0; n < N; ++n) {
    lg << "| " << n << " |";
    for (int i = 0; i < M; ++i) lg << " " << logit(e.logits[size_t(n * M + i)]) << " |";
    lg << "\n";
  }
  if (bias) {
    lg << "| bias |";
    for (int i = 0; i < M; ++i) lg << " " << logit(e.config.expert_bias[size_t(i)]) << " |";
    lg << "\n";
  }
  out.close();

  // Each token's own (vanilla, Stage 1) top-K over all experts, by r.
  std::vector<std::vector<int>> topk(static_cast<size_t>(N));
  for (int n = 0; n < N; ++n) {
    std::vector<int> cand(static_cast<size_t>(M));
    for (int i = 0; i < M; ++i) cand[size_t(i)] = i;
    std::vector<int32_t> ids(static_cast<size_t>(K));
    reference::top_k(ws.scores.r_row(n), cand, K, ids.data());
    topk[size_t(n)].assign(ids.begin(), ids.end());
  }

  auto& sc = out.open(e.name + "-scores");
  if (e.config.score == ScoreFunction::softmax) {
    double sum = 0;
    for (int i = 0; i < M; ++i) sum += std::exp(double(e.logits[size_t(i)]) - 2.0);
    sc << "Row 0: `exp(x - 2)` sums to " << fmt(sum) << ", so `s[0, 0] = 1 / " << fmt(sum) << " = "
       << fmt(ws.scores.s_row(0)[0]) << "`.\n\n";
  }
  const char* what =
      bias ? "Selection scores `r = s + bias` (each token's top-" : "Scores `s` (= `r`, no bias; each token's top-";
  sc << what << K << " over all experts in bold):\n\n";
  header_row(sc, "token", M, "top-" + std::to_string(K));
  for (int n = 0; n < N; ++n) {
    sc << "| " << n << " |";
    for (int i = 0; i < M; ++i) {
      bool top = false;
      for (int j : topk[size_t(n)]) top |= (j == i);
      const std::string v = fmt(ws.scores.r_row(n)[i]);
      sc << " " << (top ? "**" + v + "**" : v) << " |";
    }
    sc << " " << join(topk[size_t(n)]) << " |\n";
  }
  if (bias) {
    sc << "\nUnbiased scores `s = sigmoid(x)` (they give the weights):\n\n";
    header_row(sc, "token", M);
    for (int n = 0; n < N; ++n) {
      sc << "| " << n << " |";
      for (int i = 0; i < M; ++i) sc << " " << fmt(ws.scores.s_row(n)[i]) << " |";
      sc << "\n";
    }
  }
  out.close();

  // Saliency votes V, P = V / sum V, and the ranking.
  std::vector<double> V(static_cast<size_t>(M));
  reference::block_votes(ws.scores, p, SaliencyVotePolicy::with_core(1), ws, V.data());
  double total = 0;
  for (double v : V) total += v;
  std::vector<int> order;
  std::vector<uint8_t> mask(static_cast<size_t>(M));
  reference::coreset_from_votes(V.data(), M, VanillaPolicy{}, order, mask.data());
  auto& vo = out.open(e.name + "-votes");
  vo << "Saliency votes `V` (each token gives each of its top-" << K
     << " its selection score, clamped at 0) and `P = V / sum V`, with sum V = " << fmt(total) << ":\n\n";
  vo << "| |";
  for (int i = 0; i < M; ++i) vo << " e" << i << " |";
  vo << "\n|---|";
  for (int i = 0; i < M; ++i) vo << "---|";
  vo << "\n| V |";
  for (int i = 0; i < M; ++i) vo << " " << fmt(V[size_t(i)]) << " |";
  vo << "\n| P |";
  for (int i = 0; i < M; ++i) vo << " " << fmt(V[size_t(i)] / total) << " |";
  vo << "\n\n";
  // V of the first-ranked expert spelled out, and of any expert a negative r voted for.
  for (int i = 0; i < M; ++i) {
    bool clamped = false;
    for (int n = 0; n < N; ++n)
      for (int j : topk[size_t(n)]) clamped |= (j == i && ws.scores.r_row(n)[j] <= 0);
    if (i != order[0] && !clamped) continue;
    vo << "`V[" << i << "] = ";
    bool first = true;
    for (int n = 0; n < N; ++n)
      for (int j : topk[size_t(n)])
        if (j == i) {
          const double r = ws.scores.r_row(n)[j];
          vo << (first ? "" : " + ")
             << (r > 0 ? fmt(r) : "0 (token " + std::to_string(n) + ": r = " + fmt(r) + " < 0)");
          first = false;
        }
    vo << "`. ";
  }
  std::vector<int> voted, unvoted;
  for (int q = 0; q < M; ++q) (V[size_t(order[size_t(q)])] > 0 ? voted : unvoted).push_back(order[size_t(q)]);
  vo << "Ranking by V: " << join(voted);
  if (!unvoted.empty()) vo << ", then " << join(unvoted) << " (no vote)";
  vo << ".\n";
  std::vector<double> U(static_cast<size_t>(M));
  reference::block_votes(ws.scores, p, UnionPolicy{1}, ws, U.data());
  vo << "\nUnion votes for k_local = 1 (each token's top-1), by expert: (";
  for (int i = 0; i < M; ++i) vo << (i ? ", " : "") << num(U[size_t(i)]);
  vo << ").\n";
  out.close();

  // The top-p walk: running sums of P over the ranking, and each rank's keep.
  BlockDistributionPolicy bd;
  bd.top_p = top_p;
  bd.min_experts = min_experts;
  auto& wk = out.open(e.name + "-walk");
  wk << "| rank q | expert | P | cumulative P before (`before / total`) | cumulative P after | kept |\n";
  wk << "|---|---|---|---|---|---|\n";
  double before = 0;
  std::vector<double> cum_after;
  for (int q = 0; q < M; ++q) {
    const int i = order[size_t(q)];
    const double v = V[size_t(i)];
    const bool kept = bd.keep(q, v, before, total, M);
    const bool by_floor = q < min_experts;
    const bool by_p = v > 0 && before / total <= top_p;
    wk << "| " << q << " | " << i << " | " << fmt(v / total) << " | " << fmt(before / total) << " | "
       << fmt((before + v) / total) << " | "
       << (kept ? (by_p ? "yes: " + fmt(before / total) + " <= " + fmt(top_p, 1) : "yes: q < min_experts")
                : (v > 0 ? "no: " + fmt(before / total) + " > " + fmt(top_p, 1) + ", stop" : "no: no vote, stop"))
       << " |\n";
    (void)by_floor;
    cum_after.push_back((before + v) / total);
    if (!kept) break;
    before += v;
  }
  out.close();

  auto& cs = out.open(e.name + "-coresets");
  for (const Named& r : runs) cs << "- **" << r.label << "**: C = " << set_of(coreset_of(r.R)) << ".\n";
  out.close();

  auto& rt = out.open(e.name + "-routing");
  rt << "| token |";
  for (const Named& r : runs) rt << " " << r.label << " |";
  rt << "\n|---|";
  for (size_t k = 0; k < runs.size(); ++k) rt << "---|";
  rt << "\n";
  for (int n = 0; n < N; ++n) {
    rt << "| " << n << " |";
    for (const Named& r : runs) {
      rt << " ";
      for (int j = 0; j < K; ++j) rt << (j ? ", " : "") << r.R.id(0, n, j) << ": " << fmt(r.R.weight(0, n, j));
      rt << " |";
    }
    rt << "\n";
  }
  out.close();

  // Metrics against the first run (vanilla), and what they are made of.
  const Routing& R0 = runs[0].R;
  const std::vector<int> c0 = counts_of(R0);
  auto& mt = out.open(e.name + "-metrics");
  mt << "| metric |";
  for (const Named& r : runs) mt << " " << r.label << " |";
  mt << "\n|---|";
  for (size_t k = 0; k < runs.size(); ++k) mt << "---|";
  mt << "\n";
  std::vector<BlockMetrics> ms;
  for (const Named& r : runs) ms.push_back(reference::metrics(r.R, R0, 0)[0]);
  auto row = [&](const char* name, auto get) {
    mt << "| " << name << " |";
    for (const BlockMetrics& m : ms) mt << " " << num(get(m)) << " |";
    mt << "\n";
  };
  row("coreset size", [](const BlockMetrics& m) { return m.coreset_size; });
  row("unique experts T", [](const BlockMetrics& m) { return m.unique_experts; });
  row("top-K hit rate", [](const BlockMetrics& m) { return m.topk_hit_rate; });
  row("gate reconstruction loss", [](const BlockMetrics& m) { return m.gate_reconstruction_loss; });
  row("hit cosine", [](const BlockMetrics& m) { return m.hit_cosine; });
  mt << "\nWhat they are made of (per token n: hits `|S_n intersect S0_n|` and the gate loss "
        "`||g_n - g0_n||^2`; per expert: selection counts):\n\n";
  mt << "| routing | hits per token | gate loss per token | counts per expert | cosine |\n|---|---|---|---|---|\n";
  auto sq = [](const std::vector<int>& c) {
    int64_t s = 0;
    for (int v : c) s += int64_t(v) * v;
    return s;
  };
  for (size_t k = 0; k < runs.size(); ++k) {
    const Routing& R = runs[k].R;
    std::vector<int> hits;
    std::string losses;
    double loss_sum = 0;
    for (int n = 0; n < N; ++n) {
      int h = 0;
      for (int j = 0; j < K; ++j)
        for (int j0 = 0; j0 < K; ++j0) h += R.id(0, n, j) >= 0 && R.id(0, n, j) == R0.id(0, n, j0);
      hits.push_back(h);
      const std::vector<double> g = dense_gate(R, n), g0 = dense_gate(R0, n);
      double l = 0;
      for (int i = 0; i < M; ++i) l += (g[size_t(i)] - g0[size_t(i)]) * (g[size_t(i)] - g0[size_t(i)]);
      loss_sum += l;
      losses += (n ? ", " : "") + fmt(l);
    }
    // The library's metric is the mean of these: a mismatch is a bug in this program.
    if (std::fabs(loss_sum / N - ms[k].gate_reconstruction_loss) > 1e-12) {
      std::cerr << "docs_examples: gate loss of " << runs[k].label << " disagrees with reference::metrics\n";
      std::exit(2);
    }
    const std::vector<int> c = counts_of(R);
    int64_t dot = 0;
    for (int i = 0; i < M; ++i) dot += int64_t(c[size_t(i)]) * c0[size_t(i)];
    mt << "| " << runs[k].label << " | " << join(hits) << " | " << losses << " | (" << join(c) << ") | " << dot
       << " / (sqrt(" << sq(c) << ") * sqrt(" << sq(c0) << ")) = " << num(ms[k].hit_cosine) << " |\n";
  }
  out.close();

  // Figure data: scores, top-K, votes in rank order, the walk, each policy's cut.
  json << "\"" << e.name << "\": {\"N\": " << N << ", \"M\": " << M << ", \"K\": " << K << ", \"top_p\": " << top_p
       << ", \"min_experts\": " << min_experts << ",\n  \"r\": [";
  for (int n = 0; n < N; ++n) {
    json << (n ? ", " : "") << "[";
    for (int i = 0; i < M; ++i) json << (i ? ", " : "") << fmt(ws.scores.r_row(n)[i], 6);
    json << "]";
  }
  json << "],\n  \"topk\": [";
  for (int n = 0; n < N; ++n) json << (n ? ", " : "") << "[" << join(topk[size_t(n)]) << "]";
  json << "],\n  \"rank_order\": [" << join(order) << "],\n  \"votes\": [";
  for (int i = 0; i < M; ++i) json << (i ? ", " : "") << fmt(V[size_t(i)], 6);
  json << "],\n  \"coresets\": {";
  for (size_t k = 0; k < runs.size(); ++k)
    json << (k ? ", " : "") << "\"" << runs[k].label << "\": [" << join(coreset_of(runs[k].R)) << "]";
  json << "}}";
}

Blocks build() {
  Blocks out;
  std::ostringstream json;
  json << "{";
  {
    const Example e = example1();
    BlockDistributionPolicy bd;
    bd.top_p = 0.6;
    bd.min_experts = 2;
    BlockDistributionPolicy bd4 = bd;
    bd4.min_experts = 4;
    std::vector<Named> runs = {run(e, "Vanilla", VanillaPolicy{}), run(e, "Union k_local = 1", UnionPolicy{1}),
                               run(e, "Vote beta = 0.25", SaliencyVotePolicy::with_beta(0.25)),
                               run(e, "BlockDist top_p = 0.6", bd),
                               run(e, "BlockDist top_p = 0.6, min_experts = 4", bd4)};
    render(e, runs, 0.6, 2, out, json);
  }
  json << ",\n";
  {
    const Example e = example2();
    BlockDistributionPolicy bd;
    bd.top_p = 0.6;
    bd.min_experts = 2;
    std::vector<Named> runs = {run(e, "Vanilla", VanillaPolicy{}), run(e, "Union k_local = 1", UnionPolicy{1}),
                               run(e, "Union k_local = 2", UnionPolicy{2}),
                               run(e, "Vote core = 3", SaliencyVotePolicy::with_core(3)),
                               run(e, "BlockDist top_p = 0.6", bd)};
    render(e, runs, 0.6, 2, out, json);
  }
  json << "}\n";
  out.json = json.str();
  return out;
}

std::string read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::cerr << "docs_examples: cannot read " << path << "\n";
    std::exit(2);
  }
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

const std::string kOpen = "<!-- generated: ", kClose = "<!-- end generated -->";

// Checks (or, with `write`, replaces) every generated block of `doc`. Every block the
// program renders must appear in the document exactly once.
int process(const std::string& path, const Blocks& b, bool write) {
  std::string doc = read(path);
  int bad = 0;
  for (const std::string& name : b.order) {
    const std::string open = kOpen + name + " -->\n";
    const size_t at = doc.find(open);
    if (at == std::string::npos || doc.find(open, at + 1) != std::string::npos) {
      std::cerr << path << ": block '" << name << "' must appear exactly once (" << open.substr(0, open.size() - 1)
                << ")\n";
      ++bad;
      continue;
    }
    const size_t body = at + open.size();
    const size_t end = doc.find(kClose, body);
    if (end == std::string::npos) {
      std::cerr << path << ": block '" << name << "' has no " << kClose << "\n";
      ++bad;
      continue;
    }
    const std::string want = "\n" + b.text.at(name) + "\n";
    if (doc.compare(body, end - body, want) != 0) {
      if (write) {
        doc.replace(body, end - body, want);
      } else {
        std::cerr << path << ": block '" << name << "' differs from the code; the code gives:\n" << want << "\n";
        ++bad;
      }
    }
  }
  if (write && bad == 0) std::ofstream(path, std::ios::binary) << doc;
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const Blocks b = build();
  if (mode == "print") {
    for (const std::string& name : b.order)
      std::cout << kOpen << name << " -->\n\n" << b.text.at(name) << "\n" << kClose << "\n\n";
    return 0;
  }
  if ((mode != "check" && mode != "update") || argc < 3) {
    std::cerr << "usage: coreroute_docs_examples print | check DOC [JSON] | update DOC [JSON]\n";
    return 2;
  }
  const bool write = mode == "update";
  int bad = process(argv[2], b, write);
  if (argc > 3) {
    if (write) {
      std::ofstream(argv[3], std::ios::binary) << b.json;
    } else if (read(argv[3]) != b.json) {
      std::cerr << argv[3] << ": figure data differs from the code; rerun `coreroute_docs_examples update`\n";
      ++bad;
    }
  }
  if (bad) std::cerr << bad << " block(s) differ; `coreroute_docs_examples update DOC JSON` rewrites them\n";
  return bad ? 1 : 0;
}
