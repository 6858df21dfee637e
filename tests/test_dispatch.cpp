// The dispatch layout (docs/spec.md section 5): used experts in ascending id, per-expert
// counts and offsets, and the expert-major (token, slot) list.
#include "test_common.hpp"

#include <map>

using namespace crtest;

namespace {
size_t at(const Routing& R, int64_t b, int64_t n, int j) { return size_t((b * R.tokens + n) * R.top_k + j); }
}  // namespace

TEST_CASE("dispatch layout of a routing written out by hand", "[dispatch]") {
  // B = 2, N = 3, M = 4, K = 2.
  // block 0: token 0 -> {2, 0}, token 1 -> {0, -1}, token 2 -> {2, 3}
  // block 1: token 0 -> {3, 1}; rows 1 and 2 are past its one valid token.
  Routing R;
  R.resize(2, 3, 4, 2);
  const int ids[2][3][2] = {{{2, 0}, {0, -1}, {2, 3}}, {{3, 1}, {0, 2}, {1, 2}}};
  for (int b = 0; b < 2; ++b)
    for (int n = 0; n < 3; ++n)
      for (int j = 0; j < 2; ++j) R.ids[at(R, b, n, j)] = ids[b][n][j];
  R.valid_tokens = {3, 1};
  const DispatchLayout d = reference::dispatch_of(R);
  CHECK(d.num_used == std::vector<int32_t>{3, 2});
  CHECK(d.used_experts == std::vector<int32_t>{0, 2, 3, -1, /**/ 1, 3, -1, -1});
  CHECK(d.counts == std::vector<int32_t>{2, 2, 1, 0, /**/ 1, 1, 0, 0});
  CHECK(d.offsets == std::vector<int32_t>{0, 2, 4, 5, 5, /**/ 0, 1, 2, 2, 2});
  // block 0: expert 0 <- (0, 1), (1, 0); expert 2 <- (0, 0), (2, 0); expert 3 <- (2, 1)
  // block 1: expert 1 <- (0, 1); expert 3 <- (0, 0)
  CHECK(d.token == std::vector<int32_t>{0, 1, 0, 2, 2, -1, /**/ 0, 0, -1, -1, -1, -1});
  CHECK(d.slot == std::vector<int32_t>{1, 0, 0, 0, 1, -1, /**/ 1, 0, -1, -1, -1, -1});
}

TEST_CASE("dispatch layout lists every routed (token, slot) exactly once under its expert", "[dispatch]") {
  Batch x = random_batch(21, 3, 17, 16);
  x.tokens = {17, 9, 0};
  RouterConfig c = config(16, 4);
  c.groups = {4, 2};
  const Routing R = reference::route(x.view(), c, SaliencyVotePolicy::with_core(5));
  const DispatchLayout d = reference::dispatch_of(R);
  for (int64_t b = 0; b < 3; ++b) {
    CAPTURE(b);
    std::map<std::pair<int, int>, int> seen;  // (token, slot) -> expert
    const int used = d.num_used[size_t(b)];
    int previous = -1;
    for (int u = 0; u < used; ++u) {
      const int e = d.used_experts[size_t(b * 16 + u)];
      CHECK(e > previous);  // ascending ids
      CHECK(R.coreset[size_t(b * 16 + e)] == 1);
      previous = e;
      const int lo = d.offsets[size_t(b * 17 + u)], hi = d.offsets[size_t(b * 17 + u + 1)];
      CHECK(hi - lo == d.counts[size_t(b * 16 + u)]);
      CHECK(hi > lo);
      for (int a = lo; a < hi; ++a) {
        const int n = d.token[size_t(b * 17 * 4 + a)], j = d.slot[size_t(b * 17 * 4 + a)];
        CHECK(R.id(b, n, j) == e);
        CHECK(seen.emplace(std::pair{n, j}, e).second);
      }
    }
    int routed = 0;
    for (int64_t n = 0; n < R.valid_tokens[size_t(b)]; ++n)
      for (int j = 0; j < 4; ++j) routed += R.id(b, n, j) >= 0 ? 1 : 0;
    CHECK(int(seen.size()) == routed);
    CHECK(d.offsets[size_t(b * 17 + 16)] == routed);
  }
  CHECK(d.num_used[2] == 0);
}
