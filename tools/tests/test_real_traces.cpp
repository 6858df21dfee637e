// The CLI on the real router logits of data/traces (the diffusion LM of bench/dllm, data/traces/README.md):
//  1. `coreroute route` writes what the reference library computes, for every policy, on every trace, with the
//     reference backend and (where built) the Kokkos backend;
//  2. the policies' metrics on these traces are those docs/end-to-end.md records: the relations its text states
//     and the table of measured values (to the printed precision).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include <coreroute/reference.hpp>

#include "arrays.hpp"
#include "backend.hpp"
#include "npy.hpp"
#include "npy_read.hpp"

using namespace coreroute;
using namespace coreroute::cli;
using coreroute::cli::testing::read_as;

namespace {

const std::string kTraces = COREROUTE_TRACES_DIR;

struct PolicyCase {
  std::string name;   // as docs/end-to-end.md names the row
  std::string flags;  // the CLI's policy flags
  AnyPolicy policy;
};

/// One trace set: its router settings as data/traces/README.md gives them, its files, the policies of the
/// evaluation (bench/dllm/eval.py default_policies) at its M.
struct TraceSet {
  std::string dir;
  std::vector<std::string> files;
  RouterConfig config;
  std::string config_flags;
  std::string bias;  // file name in dir, or empty
  std::vector<PolicyCase> policies;
};

BlockDistributionPolicy blockdist(double p, int m) {
  BlockDistributionPolicy b;
  b.top_p = p;
  b.min_experts = m;
  return b;
}

UnionPolicy union_of(int k) {
  UnionPolicy u;
  u.k_local = k;
  return u;
}

std::vector<PolicyCase> policies_for(int M) {
  std::vector<PolicyCase> v = {{"vanilla", "--policy vanilla", VanillaPolicy{}},
                               {"union k=2", "--policy union --k-local 2", union_of(2)},
                               {"union k=3", "--policy union --k-local 3", union_of(3)}};
  const std::vector<std::string> betas = M == 64 ? std::vector<std::string>{"0.6", "0.5", "0.4", "0.3", "0.2"}
                                                 : std::vector<std::string>{"0.3", "0.2", "0.15", "0.1", "0.05"};
  for (const std::string& b : betas)
    v.push_back({"vote beta=" + b, "--policy vote --beta " + b, SaliencyVotePolicy::with_beta(std::stod(b))});
  if (M == 64)
    v.push_back({"blockdist p=0.6 m=4", "--policy blockdist --top-p 0.6 --min-experts 4", blockdist(0.6, 4)});
  v.push_back({"blockdist p=0.6 m=16", "--policy blockdist --top-p 0.6 --min-experts 16", blockdist(0.6, 16)});
  return v;
}

TraceSet config_a() {
  TraceSet s;
  s.dir = kTraces + "/dllm-A";
  for (int l = 0; l < 4; ++l)
    for (const char* step : {"step0", "mid"}) s.files.push_back("layer" + std::to_string(l) + "_" + step + ".npy");
  s.config.num_experts = 64;
  s.config.top_k = 8;
  s.config.score = ScoreFunction::softmax;
  s.config.normalize_weights = true;
  s.config_flags = "--top-k 8 --score softmax --normalize --scaling 1";
  s.policies = policies_for(64);
  return s;
}

TraceSet config_b() {
  TraceSet s;
  s.dir = kTraces + "/dllm-B";
  s.files = {"layer2_step0.npy", "layer2_mid.npy"};
  s.bias = "layer2_bias.npy";
  s.config.num_experts = 256;
  s.config.top_k = 8;
  s.config.score = ScoreFunction::sigmoid;
  s.config.groups.n_group = 8;
  s.config.groups.topk_group = 4;
  s.config.normalize_weights = true;
  s.config.scaling = 2.5f;
  s.config.expert_bias = load_bias(s.dir + "/" + s.bias, 256);
  s.config_flags = "--top-k 8 --score sigmoid --groups 8:4 --normalize --scaling 2.5 --bias " + s.dir + "/" + s.bias;
  s.policies = policies_for(256);
  return s;
}

/// Runs `coreroute route` on one trace; returns the output folder.
std::string run_route(const TraceSet& s, const std::string& file, const std::string& policy_flags,
                      const std::string& backend, bool metrics, const std::string& tag) {
  const std::string out = "real_traces/" + tag;
  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out);
  const std::string cmd = std::string("\"") + COREROUTE_CLI_EXE + "\" route --trace " + s.dir + "/" + file + " --out " +
                          out + " " + s.config_flags + " " + policy_flags + " --backend " + backend +
                          (metrics ? "" : " --no-metrics") + " > " + out + ".stdout";
  CAPTURE(cmd);
  REQUIRE(std::system(cmd.c_str()) == 0);
  return out;
}

/// Ids and coreset exactly; weights exactly for the reference backend, within docs/spec.md section 7's parity
/// tolerance for another.
void check_route_equals_reference(const std::string& backend) {
  for (const TraceSet& s : {config_a(), config_b()}) {
    for (const std::string& file : s.files) {
      const Trace t = load_trace(s.dir + "/" + file);
      REQUIRE(t.experts == s.config.num_experts);
      REQUIRE(t.tokens == 32);
      REQUIRE(t.blocks == 64);
      const auto x = make_logits_view(t.logits.data(), t.blocks, t.tokens, t.experts, nullptr);
      const int64_t B = t.blocks, N = t.tokens, K = s.config.top_k;
      for (const PolicyCase& p : s.policies) {
        CAPTURE(s.dir, file, p.name, backend);
        const std::string out = run_route(s, file, p.flags, backend, false, "eq-" + backend);
        const Routing R = std::visit([&](const auto& q) { return reference::route(x, s.config, q); }, p.policy);
        CHECK(read_as<int32_t>(out + "/ids.npy", DType::i32, {B, N, K}) == R.ids);
        CHECK(read_as<uint8_t>(out + "/coreset.npy", DType::u8, {B, t.experts}) == R.coreset);
        const std::vector<float> w = read_as<float>(out + "/weights.npy", DType::f32, {B, N, K});
        if (backend == "reference") {
          CHECK(w == R.weights);
        } else {
          REQUIRE(w.size() == R.weights.size());
          size_t off = 0;
          for (size_t i = 0; i < w.size(); ++i)
            off += std::abs(w[i] - R.weights[i]) > 1e-5f * std::max(std::abs(w[i]), std::abs(R.weights[i])) + 1e-6f;
          CHECK(off == 0);
        }
      }
    }
  }
}

struct Mean {
  double T = 0, coreset = 0, hit = 0, gate = 0;
};

Mean mean_of(const std::string& out) {
  std::ifstream f(out + "/metrics.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  const nlohmann::json& m = j.at("tables").at(0).at("rows").at(0).at("mean");
  return {m.at("unique_experts").get<double>(), m.at("coreset_size").get<double>(), m.at("topk_hit_rate").get<double>(),
          m.at("gate_reconstruction_loss").get<double>()};
}

/// The CLI's mean metrics of every policy on one trace, keyed by the policy's row name; plus DES-Vote with the
/// coreset size c = round(T) of DES-Seq k = 2 and 3 on this trace, keyed "vote at union k=2" / "... k=3".
std::map<std::string, Mean> metrics_of(const TraceSet& s, const std::string& file) {
  std::map<std::string, Mean> m;
  for (const PolicyCase& p : s.policies) m[p.name] = mean_of(run_route(s, file, p.flags, "reference", true, "metrics"));
  for (int k : {2, 3}) {
    const long c = std::lround(m.at("union k=" + std::to_string(k)).T);
    m["vote at union k=" + std::to_string(k)] =
        mean_of(run_route(s, file, "--policy vote --core " + std::to_string(c), "reference", true, "metrics"));
  }
  return m;
}

/// The relations docs/end-to-end.md states of every real trace.
void check_relations(const TraceSet& s, const std::string& file, const std::map<std::string, Mean>& m) {
  const double M = s.config.num_experts;
  CAPTURE(s.dir, file);
  const Mean v = m.at("vanilla");
  CHECK(v.hit == 1.0);
  CHECK(v.gate == 0.0);
  CHECK(v.coreset == M);
  // DES-Seq: T grows with k, and so does the hit rate, which stays below vanilla's. Without groups or bias every
  // expert of the union is routed to, so T is the coreset; with them, some are not (T below the coreset).
  const Mean u2 = m.at("union k=2"), u3 = m.at("union k=3");
  const bool plain = !s.config.groups.enabled() && s.config.expert_bias.empty();
  for (const Mean& u : {u2, u3}) {
    CHECK(u.T <= u.coreset);
    if (plain) CHECK(u.T == u.coreset);
  }
  CHECK(u2.T < u3.T);
  CHECK(u3.T < v.T);
  CHECK(u2.hit < u3.hit);
  CHECK(u3.hit < 1.0);
  // DES-Vote: coreset exactly max(1, floor(beta * M)); T at most the coreset and at most vanilla's T.
  for (const PolicyCase& p : s.policies) {
    if (p.name.rfind("vote", 0) != 0) continue;
    CAPTURE(p.name);
    const auto& vp = std::get<SaliencyVotePolicy>(p.policy);
    CHECK(m.at(p.name).coreset == std::max(1.0, std::floor(vp.beta * M + 1e-9)));
    CHECK(m.at(p.name).T <= m.at(p.name).coreset);
    CHECK(m.at(p.name).T <= v.T + 1e-9);
  }
  // DES-Vote against DES-Seq at the same T: a coreset of round(T_union) experts touches at most half an expert
  // more than the union and hits more of vanilla's top-K, on every trace (measured; DES reports the same order).
  for (int k : {2, 3}) {
    const Mean& u = m.at("union k=" + std::to_string(k));
    const Mean& vote = m.at("vote at union k=" + std::to_string(k));
    CAPTURE(k, u.T, u.hit, vote.T, vote.hit);
    CHECK(vote.T <= u.T + 0.5);
    CHECK(vote.hit > u.hit);
  }
  // dMoE: the floor of experts holds.
  CHECK(m.at("blockdist p=0.6 m=16").coreset >= 16);
}

/// docs/end-to-end.md, "The policies on the real traces": T and hit rate per policy, the mean over the folder's
/// layers, as measured with `coreroute route`, to the printed precision (T 0.1, hit rate 0.001).
struct Documented {
  const char* set;   // A or B
  const char* step;  // step0 or mid
  const char* policy;
  double T, hit;
};
const Documented kDocumented[] = {
    {"A", "step0", "vanilla", 19.9, 1.000},
    {"A", "step0", "union k=2", 6.6, 0.519},
    {"A", "step0", "union k=3", 9.2, 0.680},
    {"A", "step0", "vote beta=0.6", 19.9, 1.000},
    {"A", "step0", "vote beta=0.5", 19.9, 1.000},
    {"A", "step0", "vote beta=0.4", 19.8, 1.000},
    {"A", "step0", "vote beta=0.3", 18.2, 0.993},
    {"A", "step0", "vote beta=0.2", 12.0, 0.949},
    {"A", "step0", "blockdist p=0.6 m=4", 4.9, 0.561},
    {"A", "step0", "blockdist p=0.6 m=16", 15.9, 0.981},
    {"A", "mid", "vanilla", 38.7, 1.000},
    {"A", "mid", "union k=2", 15.0, 0.555},
    {"A", "mid", "union k=3", 20.4, 0.694},
    {"A", "mid", "vote beta=0.6", 34.6, 0.980},
    {"A", "mid", "vote beta=0.5", 30.7, 0.957},
    {"A", "mid", "vote beta=0.4", 24.8, 0.908},
    {"A", "mid", "vote beta=0.3", 19.0, 0.833},
    {"A", "mid", "vote beta=0.2", 12.0, 0.642},
    {"A", "mid", "blockdist p=0.6 m=4", 9.7, 0.530},
    {"A", "mid", "blockdist p=0.6 m=16", 16.0, 0.770},
    {"B", "step0", "vanilla", 29.9, 1.000},
    {"B", "step0", "union k=2", 8.5, 0.396},
    {"B", "step0", "union k=3", 10.8, 0.471},
    {"B", "step0", "vote beta=0.3", 27.1, 0.872},
    {"B", "step0", "vote beta=0.2", 26.0, 0.853},
    {"B", "step0", "vote beta=0.15", 25.5, 0.845},
    {"B", "step0", "vote beta=0.1", 21.8, 0.806},
    {"B", "step0", "vote beta=0.05", 10.0, 0.663},
    {"B", "step0", "blockdist p=0.6 m=16", 13.4, 0.735},
    {"B", "mid", "vanilla", 60.4, 1.000},
    {"B", "mid", "union k=2", 19.9, 0.432},
    {"B", "mid", "union k=3", 28.2, 0.566},
    {"B", "mid", "vote beta=0.3", 54.1, 0.922},
    {"B", "mid", "vote beta=0.2", 46.0, 0.865},
    {"B", "mid", "vote beta=0.15", 35.7, 0.786},
    {"B", "mid", "vote beta=0.1", 23.1, 0.645},
    {"B", "mid", "vote beta=0.05", 10.8, 0.409},
    {"B", "mid", "blockdist p=0.6 m=16", 15.1, 0.505},
};

}  // namespace

TEST_CASE("route on the real traces equals the reference library's") { check_route_equals_reference("reference"); }

#ifdef COREROUTE_CLI_TEST_KOKKOS
TEST_CASE("route --backend kokkos on the real traces equals the reference library's") {
  check_route_equals_reference("kokkos");
}
#endif

TEST_CASE("metrics of the policies on the real traces are those docs/end-to-end.md records") {
  // metrics[set][step][policy], the mean over the set's layers
  std::map<std::string, std::map<std::string, std::map<std::string, Mean>>> mean;
  std::map<std::string, std::map<std::string, int>> layers;
  for (const TraceSet& s : {config_a(), config_b()}) {
    const std::string set = s.dir.substr(s.dir.size() - 1);
    std::map<std::string, std::map<std::string, double>> vanilla_T;  // [layer][step]
    for (const std::string& file : s.files) {
      const std::map<std::string, Mean> m = metrics_of(s, file);
      check_relations(s, file, m);
      const std::string layer = file.substr(0, file.find('_'));
      const std::string step = file.substr(file.find('_') + 1, file.find('.') - file.find('_') - 1);
      vanilla_T[layer][step] = m.at("vanilla").T;
      ++layers[set][step];
      for (const auto& [name, x] : m) {
        Mean& acc = mean[set][step][name];
        acc.T += x.T;
        acc.hit += x.hit;
      }
    }
    // Half-decoded blocks hold more distinct tokens than fully masked ones: vanilla touches more experts.
    for (const auto& [layer, t] : vanilla_T) {
      CAPTURE(set, layer);
      CHECK(t.at("mid") > 1.5 * t.at("step0"));
    }
  }
  for (const Documented& d : kDocumented) {
    CAPTURE(d.set, d.step, d.policy, d.T, d.hit);
    const int n = layers.at(d.set).at(d.step);
    const Mean& got = mean.at(d.set).at(d.step).at(d.policy);
    CHECK(std::abs(got.T / n - d.T) <= 0.05 + 1e-9);
    CHECK(std::abs(got.hit / n - d.hit) <= 0.0005 + 1e-9);
  }
}
