#pragma once
// Invariants every routing satisfies whatever the policy (docs/spec.md sections 3 and 5),
// checked from the reference's double scores. No rapidcheck needed: a GPU test can
// check a backend's own output with it.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include <coreroute/reference.hpp>
#include <coreroute/testing/tolerance.hpp>

namespace coreroute::testing {

/// Violations of the Stage 2 invariants by routing R of input x (empty: none):
/// S_n inside C and E_n; min(K, |E_n|) distinct real ids, then -1 with weight 0;
/// the order rule (S_n is the top of E_n by r, ties to the lower id); weights >= 0
/// and summing to `scaling` when normalised; T <= |C|; unrouted rows empty.
inline std::vector<std::string> check_invariants(const LogitsView<float>& x, const RouterConfig& c, const Routing& R) {
  std::vector<std::string> bad;
  auto fail = [&bad](int64_t b, int64_t n, const std::string& what) {
    if (bad.size() < 8)
      bad.push_back("block " + std::to_string(b) + (n >= 0 ? ", token " + std::to_string(n) : "") + ": " + what);
  };
  const RouterParams p = params_of(c);
  const int M = c.num_experts, K = c.top_k;
  reference::BlockScores sc;
  reference::Workspace ws;
  std::vector<uint8_t> used(static_cast<size_t>(M));
  for (int64_t b = 0; b < R.blocks; ++b) {
    const uint8_t* mask = &R.coreset[size_t(b * M)];
    const int size = int(std::count(mask, mask + M, uint8_t(1)));
    if (R.coreset_size[size_t(b)] != size) fail(b, -1, "coreset_size differs from the mask's count");
    reference::score_block(x, b, p, sc);
    std::fill(used.begin(), used.end(), uint8_t(0));
    for (int64_t n = 0; n < R.tokens; ++n) {
      const int32_t* ids = &R.ids[size_t((b * R.tokens + n) * K)];
      const float* w = &R.weights[size_t((b * R.tokens + n) * K)];
      if (n >= x.valid_tokens(b) || !sc.valid[size_t(n)]) {
        for (int j = 0; j < K; ++j)
          if (ids[j] != -1 || w[j] != 0.0f) {
            fail(b, n, "a token that is not routed must have ids -1, weight 0");
            break;
          }
        continue;
      }
      const double* r = sc.r_row(n);
      reference::eligible_experts(p, r, mask, ws);  // E_n
      const int expect = std::min<int>(K, int(ws.eligible.size()));
      std::vector<uint8_t> in_e(static_cast<size_t>(M), 0);
      for (int e : ws.eligible) in_e[size_t(e)] = 1;
      double sum = 0;
      for (int j = 0; j < K; ++j) {
        const int e = ids[j];
        if (j >= expect) {
          if (e != -1 || w[j] != 0.0f) fail(b, n, "slot " + std::to_string(j) + " past min(K, |E_n|) must be -1 / 0");
          continue;
        }
        if (e < 0 || e >= M) {
          fail(b, n, "slot " + std::to_string(j) + " must hold a real id");
          continue;
        }
        if (!mask[e]) fail(b, n, "expert " + std::to_string(e) + " is outside the coreset");
        if (!in_e[size_t(e)]) fail(b, n, "expert " + std::to_string(e) + " is outside E_n (group limit)");
        if (std::count(ids, ids + j, e)) fail(b, n, "expert " + std::to_string(e) + " selected twice");
        if (!(w[j] >= 0.0f)) fail(b, n, "negative or NaN weight");
        if (j > 0 && ids[j - 1] >= 0 && !reference::ranks_before(r[ids[j - 1]], ids[j - 1], r[e], e))
          fail(b, n, "slot order breaks the tie rule");
        used[size_t(e)] = 1;
        sum += double(w[j]);
      }
      if (expect > 0 && ids[expect - 1] >= 0)
        for (int e : ws.eligible)
          if (!std::count(ids, ids + expect, e) &&
              reference::ranks_before(r[e], e, r[ids[expect - 1]], ids[expect - 1]))
            fail(b, n,
                 "expert " + std::to_string(e) + " of E_n outranks the selected " + std::to_string(ids[expect - 1]));
      double s_sum = 0;
      for (int j = 0; j < expect; ++j) s_sum += ids[j] >= 0 ? sc.s_row(n)[ids[j]] : 0.0;
      if (c.normalize_weights && expect > 0 && s_sum > 0 && !close(sum, double(c.scaling)))
        fail(b, n, "normalised weights sum to " + std::to_string(sum) + ", not scaling");
    }
    const int T = int(std::count(used.begin(), used.end(), uint8_t(1)));
    if (T > size) fail(b, -1, "T = " + std::to_string(T) + " exceeds |C| = " + std::to_string(size));
  }
  return bad;
}

/// Joins violations into one message ("" when none).
inline std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : "\n") + x;
  return s;
}

}  // namespace coreroute::testing
