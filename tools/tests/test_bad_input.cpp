// Bad input tried as a new user would: every case ends in a clear error (exit 1 for
// files, 2 for flags, one line naming the flag, file or shape) or a correct result,
// within seconds, with nothing half-written or stale left behind.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrays.hpp"
#include "evaluate.hpp"
#include "npy.hpp"

using namespace coreroute;
using namespace coreroute::cli;
namespace fs = std::filesystem;

namespace {

struct Ran {
  int rc = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

/// A fresh folder per test case, under the build tree.
std::string fresh(const std::string& name) {
  const std::string dir = "bad_input/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

/// Runs `coreroute ARGS` in `dir`.
Ran run(const std::string& dir, const std::string& args) {
  const std::string cmd = "cd " + dir + " && \"" + COREROUTE_CLI_EXE + "\" " + args + " > stdout.txt 2> stderr.txt";
  const int status = std::system(cmd.c_str());
  Ran r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(dir + "/stdout.txt");
  r.err = slurp(dir + "/stderr.txt");
  fs::remove(dir + "/stdout.txt");
  fs::remove(dir + "/stderr.txt");
  return r;
}

bool one_error_line(const std::string& err) {
  return err.rfind("coreroute: error: ", 0) == 0 && err.find('\n') == err.size() - 1;
}

/// Files and folders of `dir`, but the ones a test put there itself.
std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void small_trace(const std::string& path, float poison = 0, int at = -1) {
  std::vector<float> x(2 * 3 * 4);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 5) * 0.5f - 1.0f;
  if (at >= 0) x[size_t(at)] = poison;
  write_npy(path, x, {2, 3, 4});
}

}  // namespace

TEST_CASE("a header-only trace with an empty axis cannot make route allocate past the cap") {
  const std::string dir = fresh("cap");
  write_npy(dir + "/z.npy", DType::f32, {4194304, 0, 8}, nullptr);        // 128 bytes on disk
  write_npy(dir + "/w.npy", DType::f32, {32768, 0, 32768}, nullptr);      // a 1 GiB coreset
  write_npy(dir + "/h.npy", DType::f32, {1099511627776, 0, 8}, nullptr);  // 2^40 empty blocks
  REQUIRE(fs::file_size(dir + "/z.npy") <= 128);
  for (const char* trace : {"z.npy", "w.npy"}) {
    CAPTURE(trace);
    const Ran r = run(dir, std::string("route --trace ") + trace + " --top-k 4 --out o");
    CHECK(r.rc == 1);
    CHECK(one_error_line(r.err));
    CHECK(r.err.find("--max-memory") != std::string::npos);
    CHECK(r.err.find("bytes") != std::string::npos);
    CHECK(!fs::exists(dir + "/o"));
  }
  const Ran h = run(dir, "route --trace h.npy --top-k 4 --out o");
  CHECK(h.rc == 1);
  CHECK(h.err.find("(1099511627776, 0, 8): too many blocks") != std::string::npos);
  CHECK(listing(dir) == std::vector<std::string>{"h.npy", "w.npy", "z.npy"});
}

TEST_CASE("the memory cap (--max-memory) bounds a small trace too, and a bad value names the flag") {
  const std::string dir = fresh("cap_flag");
  small_trace(dir + "/t.npy");
  const Ran low = run(dir, "route --trace t.npy --top-k 2 --out o --max-memory 1K");
  CHECK(low.rc == 1);
  CHECK(low.err.find("t.npy: a trace of shape (2, 3, 4) needs about") != std::string::npos);
  CHECK(run(dir, "route --trace t.npy --top-k 2 --out o --max-memory 1M").rc == 0);
  const Ran bad = run(dir, "route --trace t.npy --top-k 2 --out p --max-memory lots");
  CHECK(bad.rc == 2);
  CHECK(bad.err.find("--max-memory = lots") != std::string::npos);
}

TEST_CASE("the memory plan counts every output and working array") {
  TraceShape t;
  t.blocks = 32768;
  t.tokens = 0;
  t.experts = 32768;
  MemoryPlan plan;
  // The coreset of one routing alone is B * M bytes.
  CHECK(planned_bytes(t, 0, 0, 4, 4, plan) >= 4.0 * 32768 * 32768);
  plan.per_block_json = true;
  t.experts = 8;
  t.blocks = 4194304;
  CHECK(planned_bytes(t, 0, 0, 4, 4, plan) > 2.0 * (1 << 30));
}

TEST_CASE("two outputs of gen never name the same file") {
  const std::string dir = fresh("same_file");
  const Ran r = run(dir, "gen --preset llada2-mini --blocks 2 --out m.npy --bias-out m.npy");
  CHECK(r.rc == 2);
  CHECK(one_error_line(r.err));
  CHECK(r.err.find("--bias-out = m.npy: names the same file as --out") != std::string::npos);
  const Ran y = run(dir, "gen --preset llada-moe --blocks 2 --out m.npy --outputs-out ./m.npy");
  CHECK(y.rc == 2);
  CHECK(y.err.find("--outputs-out = ./m.npy: names the same file as --out") != std::string::npos);
  CHECK(listing(dir).empty());
  small_trace(dir + "/t.npy");
  const Ran e = run(dir, "eval --trace t.npy --top-k 2 --csv t.npy");
  CHECK(e.rc == 2);
  CHECK(e.err.find("--csv = t.npy: names the same file as --trace (an input)") != std::string::npos);
  const Ran both = run(dir, "eval --trace t.npy --top-k 2 --csv r.txt --json r.txt");
  CHECK(both.rc == 2);
  CHECK(listing(dir) == std::vector<std::string>{"t.npy"});
}

TEST_CASE("non-finite expert outputs are an error naming the file and the index") {
  const std::string dir = fresh("nan_outputs");
  small_trace(dir + "/t.npy");
  std::vector<float> y(2 * 3 * 4 * 2, 0.5f);
  y[29] = std::numeric_limits<float>::quiet_NaN();  // [1, 0, 2, 1]
  write_npy(dir + "/y.npy", y, {2, 3, 4, 2});
  for (const char* cmd : {"eval", "route --out o"}) {
    CAPTURE(cmd);
    const Ran r = run(dir, std::string(cmd) + " --trace t.npy --top-k 2 --policy vote --core 2 --outputs y.npy");
    CHECK(r.rc == 1);
    CHECK(one_error_line(r.err));
    CHECK(r.err.find("y.npy: Y[1, 0, 2, 1] (element 29) = nan: expert outputs must be finite") != std::string::npos);
  }
}

TEST_CASE("--out is written whole: a non-empty folder needs --force, which replaces it") {
  const std::string dir = fresh("out_folder");
  small_trace(dir + "/t.npy");
  REQUIRE(run(dir, "route --trace t.npy --top-k 2 --out o").rc == 0);
  CHECK(fs::exists(dir + "/o/metrics.json"));
  const Ran again = run(dir, "route --trace t.npy --top-k 2 --out o --no-metrics");
  CHECK(again.rc == 2);
  CHECK(again.err.find("--out = o: is a non-empty folder; give --force") != std::string::npos);
  REQUIRE(run(dir, "route --trace t.npy --top-k 2 --out o --no-metrics --force").rc == 0);
  CHECK(listing(dir + "/o") == std::vector<std::string>{"coreset.npy", "ids.npy", "weights.npy"});  // no stale metrics
  CHECK(listing(dir) == std::vector<std::string>{"o", "t.npy"});  // no temporary folder left
  const Ran file = run(dir, "sweep --trace t.npy --top-k 2 --out t.npy --force");
  CHECK(file.rc == 2);
  CHECK(file.err.find("exists and is not a folder") != std::string::npos);
}

TEST_CASE("a run that fails leaves no output folder and no temporary one") {
  const std::string dir = fresh("failed_run");
  small_trace(dir + "/bad.npy", std::numeric_limits<float>::quiet_NaN(), 13);
  const Ran r = run(dir, "route --trace bad.npy --top-k 2 --out o");
  CHECK(r.rc == 1);  // a file problem (docs/cli.md), not a usage error
  CHECK(one_error_line(r.err));
  CHECK(r.err.find("bad.npy: logits[block 1, token 0, expert 1]") != std::string::npos);
  CHECK(listing(dir) == std::vector<std::string>{"bad.npy"});
  const Ran e = run(dir, "eval --trace bad.npy --top-k 2");
  CHECK(e.rc == 1);
}

TEST_CASE("sweep rejects a flag of a family --policies leaves out") {
  const std::string dir = fresh("sweep_flags");
  small_trace(dir + "/t.npy");
  const Ran r = run(dir, "sweep --trace t.npy --top-k 2 --out o --policies union --betas 0.1");
  CHECK(r.rc == 2);
  CHECK(r.err.find("--betas = 0.1: applies only to the vote and blockmax families") != std::string::npos);
  const Ran m = run(dir, "sweep --trace t.npy --top-k 2 --out o --policies vote --min-experts 2");
  CHECK(m.rc == 2);
  CHECK(m.err.find("--min-experts") != std::string::npos);
  const Ran k = run(dir, "sweep --trace t.npy --top-k 2 --out o --policies vote,union --top-ks 1");
  CHECK(k.rc == 2);
  CHECK(run(dir, "sweep --trace t.npy --top-k 2 --out o --policies vote,blockdist --betas 0.5 --min-experts 2").rc ==
        0);
  CHECK(run(dir, "sweep --trace t.npy --top-k 2 --out o2 --policies blockmax --betas 0.5,1").rc == 0);
}

TEST_CASE("the group-score flag needs group-limited routing, and takes top2 or max") {
  const std::string dir = fresh("group_score");
  small_trace(dir + "/t.npy");
  const Ran r = run(dir, "route --trace t.npy --top-k 2 --out o --group-score max");
  CHECK(r.rc == 2);
  CHECK(r.err.find("--group-score = max: needs group-limited routing") != std::string::npos);
  const Ran bad = run(dir, "route --trace t.npy --top-k 2 --out o --groups 2:1 --group-score sum");
  CHECK(bad.rc == 2);
  CHECK(bad.err.find("--group-score") != std::string::npos);
}

TEST_CASE("the vanilla K of --model-top-k is validated like --top-k") {
  const std::string dir = fresh("model_top_k");
  small_trace(dir + "/t.npy");
  for (const char* k : {"0", "-3", "5"}) {
    CAPTURE(k);
    const Ran r = run(dir, std::string("eval --trace t.npy --top-k 2 --model-top-k ") + k);
    CHECK(r.rc == 2);
    CHECK(r.err.find(std::string("--model-top-k = ") + k + ": must be in [1, M = 4]") != std::string::npos);
  }
  CHECK(run(dir, "eval --trace t.npy --top-k 2 --model-top-k 4").rc == 0);
}

TEST_CASE("a preset whose model routes with a bias warns when --bias is missing") {
  const std::string dir = fresh("bias_warning");
  REQUIRE(run(dir, "gen --preset llada2-mini --blocks 2 --out t.npy").rc == 0);
  const Ran without = run(dir, "route --trace t.npy --preset llada2-mini --out a");
  CHECK(without.rc == 0);
  CHECK(without.err ==
        "coreroute: warning: --preset llada2-mini routes with a learned expert bias, and no --bias was given: routing "
        "without one\n");
  const Ran with = run(dir, "route --trace t.npy --preset llada2-mini --bias t.bias.npy --out b");
  CHECK(with.rc == 0);
  CHECK(with.err.empty());
}

TEST_CASE("a float64 trace routes as its float32 rounding does") {
  const std::string dir = fresh("float64");
  const std::string corpus = COREROUTE_NPY_CORPUS;
  REQUIRE(run(dir, "route --trace " + corpus + "/good-f64-2x3x4.npy --top-k 2 --out d").rc == 0);
  REQUIRE(run(dir, "route --trace " + corpus + "/good-f32-2x3x4.npy --top-k 2 --out f").rc == 0);
  for (const char* f : {"ids.npy", "weights.npy", "coreset.npy"})
    CHECK(slurp(dir + "/d/" + f) == slurp(dir + "/f/" + f));
}

TEST_CASE("route's report says 1 block and joins paths cleanly") {
  const std::string dir = fresh("wording");
  std::vector<float> x = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f, 1.5f, -0.5f, 0.25f};
  write_npy(dir + "/one.npy", x, {2, 4});
  const Ran r = run(dir, "route --trace one.npy --top-k 2 --out routed/");
  REQUIRE(r.rc == 0);
  CHECK(r.out.find("Routed 1 block of") != std::string::npos);
  CHECK(r.out.find("routed/ids.npy") != std::string::npos);
  CHECK(r.out.find("//") == std::string::npos);
}

TEST_CASE("the Pareto front uses weak dominance, and the footnote says so") {
  std::vector<Result> rows(3);
  rows[0].mean.unique_experts = 3, rows[0].mean.topk_hit_rate = 0.5;  // dominated: same T, lower hit rate
  rows[1].mean.unique_experts = 3, rows[1].mean.topk_hit_rate = 0.6;
  rows[2].mean.unique_experts = 5, rows[2].mean.topk_hit_rate = 0.9;
  mark_pareto(rows);
  CHECK(!rows[0].pareto);
  CHECK(rows[1].pareto);
  CHECK(rows[2].pareto);
  const std::string dir = fresh("pareto");
  small_trace(dir + "/t.npy");
  const Ran r = run(dir, "sweep --trace t.npy --top-k 2 --out o");
  REQUIRE(r.rc == 0);
  CHECK(r.out.find("no other row has at most as many unique experts and at least the hit rate, and one of them "
                   "strictly") != std::string::npos);
}
