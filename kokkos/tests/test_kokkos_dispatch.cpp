// The team-parallel dispatch layout against reference::dispatch_of, field by field,
// on routings built directly (not only routed ones): -1 ids anywhere, repeated ids in
// a row (the run order is then token, then slot), fewer valid tokens than N, empty
// blocks, N = 0 and B = 0, on team sizes from 1 to the execution space's maximum.
#include <catch2/catch.hpp>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>

#include <coreroute/kokkos.hpp>
#include <coreroute/reference.hpp>

#include "random_cases.hpp"

namespace {

using namespace coreroute;
using ExecSpace = Kokkos::DefaultExecutionSpace;
using Mem = ExecSpace::memory_space;

/// A routing with ids drawn from [-1, M): distinct per row unless `repeats`.
Routing random_routing(crkokkos::Rng& g, int64_t B, int64_t N, int M, int K, bool repeats) {
  Routing R;
  R.resize(B, N, M, K);
  for (int64_t b = 0; b < B; ++b) {
    const int shape = g.uniform(0, 3);  // 0: all N valid; 1: some; 2: none; 3: all, sparse ids
    R.valid_tokens[size_t(b)] = int32_t(shape == 1 ? g.uniform(0, int(N)) : shape == 2 ? 0 : N);
    for (int64_t n = 0; n < N; ++n) {
      std::vector<int32_t> row;
      for (int j = 0; j < K; ++j) {
        int32_t e = g.coin(shape == 3 ? 0.6 : 0.15) ? -1 : int32_t(g.uniform(0, M - 1));
        if (!repeats)
          for (int32_t seen : row)
            if (seen == e) e = -1;
        row.push_back(e);
      }
      // Rows past valid_tokens hold ids too: the layout must ignore them.
      for (int j = 0; j < K; ++j) R.ids[size_t((b * N + n) * K + j)] = row[size_t(j)];
    }
  }
  return R;
}

std::string first_difference(const DispatchLayout& got, const DispatchLayout& want) {
  const std::pair<const char*, const std::vector<int32_t>*> fields[] = {
      {"num_used", &got.num_used}, {"used_experts", &got.used_experts},
      {"counts", &got.counts},     {"offsets", &got.offsets},
      {"token", &got.token},       {"slot", &got.slot}};
  const std::vector<int32_t>* wants[] = {&want.num_used, &want.used_experts, &want.counts,
                                         &want.offsets,  &want.token,        &want.slot};
  for (int f = 0; f < 6; ++f) {
    const auto& a = *fields[f].second;
    const auto& b = *wants[f];
    if (a.size() != b.size()) return std::string(fields[f].first) + ": size differs";
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i]) {
        std::ostringstream os;
        os << fields[f].first << "[" << i << "] = " << a[i] << ", reference " << b[i];
        return os.str();
      }
  }
  return "";
}

DispatchLayout kokkos_dispatch(const Routing& R, int team_size) {
  kokkos::TeamTuning t;
  t.team_size = team_size;
  return kokkos::to_host(kokkos::dispatch_of(ExecSpace(), kokkos::to_views<Mem>(R), t));
}

}  // namespace

TEST_CASE("dispatch layout: a worked block", "[dispatch]") {
  // M = 4, K = 2, N = 3 with 2 valid tokens: token 0 -> {2, 0}, token 1 -> {2, -1};
  // token 2 (past valid_tokens) -> {1, 3} must not count.
  Routing R;
  R.resize(1, 3, 4, 2);
  R.ids = {2, 0, 2, -1, 1, 3};
  R.valid_tokens = {2};
  const DispatchLayout d = kokkos_dispatch(R, 0);
  CHECK(d.num_used == std::vector<int32_t>{2});
  CHECK(d.used_experts == std::vector<int32_t>{0, 2, -1, -1});
  CHECK(d.counts == std::vector<int32_t>{1, 2, 0, 0});
  CHECK(d.offsets == std::vector<int32_t>{0, 1, 3, 3, 3});
  CHECK(d.token == std::vector<int32_t>{0, 0, 1, -1, -1, -1});
  CHECK(d.slot == std::vector<int32_t>{1, 0, 0, -1, -1, -1});
}

TEST_CASE("dispatch layout: empty batches and blocks", "[dispatch]") {
  for (const auto& shape : {std::vector<int64_t>{0, 4}, std::vector<int64_t>{3, 0}, std::vector<int64_t>{2, 5}}) {
    Routing R;
    R.resize(shape[0], shape[1], 6, 3);  // every id -1; valid_tokens 0
    const DispatchLayout want = reference::dispatch_of(R), got = kokkos_dispatch(R, 0);
    INFO("B = " << shape[0] << ", N = " << shape[1]);
    CHECK(first_difference(got, want) == "");
    CHECK(got.blocks == shape[0]);
  }
}

TEST_CASE("dispatch layout vs reference on random routings and team sizes", "[dispatch]") {
  const int max_team = 1 << 20;  // clamped to the space's maximum by the launch
  int checked = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    crkokkos::Rng g(seed);
    const int M = g.coin(0.2) ? g.pick({64, 128, 256}) : g.uniform(1, 33);
    const int K = g.uniform(1, M < 8 ? M : 8);
    const int64_t B = g.uniform(1, 4), N = g.coin(0.05) ? 0 : g.pick({1, 2, 5, 13, 32, 64});
    const Routing R = random_routing(g, B, N, M, K, g.coin(0.25));
    const DispatchLayout want = reference::dispatch_of(R);
    for (int team : {0, 1, 2, 3, 7, 32, max_team}) {
      const DispatchLayout got = kokkos_dispatch(R, team);
      INFO("seed " << seed << ", B " << B << ", N " << N << ", M " << M << ", K " << K << ", team size " << team);
      REQUIRE(first_difference(got, want) == "");
      ++checked;
    }
  }
  CHECK(checked == 300 * 7);
}
