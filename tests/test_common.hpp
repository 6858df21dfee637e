#pragma once
// Small helpers shared by the unit tests: building batches by hand and reading
// results back as plain vectors, so a failing CHECK prints both sides.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include <coreroute/reference.hpp>

namespace crtest {

using namespace coreroute;

inline constexpr float kInf = std::numeric_limits<float>::infinity();
inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/// A contiguous host batch [B, N, M] of logits, with optional tokens per block.
struct Batch {
  int64_t B = 0, N = 0, M = 0;
  std::vector<float> data;
  std::vector<int32_t> tokens;  ///< empty: every block has N tokens

  Batch(int64_t b, int64_t n, int64_t m, float fill = 0.0f) : B(b), N(n), M(m), data(size_t(b * n * m), fill) {}
  float& at(int64_t b, int64_t n, int64_t i) { return data[size_t((b * N + n) * M + i)]; }
  void set_row(int64_t b, int64_t n, std::initializer_list<float> row) {
    int64_t i = 0;
    for (float v : row) at(b, n, i++) = v;
  }
  LogitsView<float> view() const {
    return make_logits_view(data.data(), B, N, M, tokens.empty() ? nullptr : tokens.data());
  }
};

/// One block whose rows are given literally.
inline Batch block_of(std::initializer_list<std::initializer_list<float>> rows) {
  Batch x(1, int64_t(rows.size()), int64_t(rows.begin()->size()));
  int64_t n = 0;
  for (auto row : rows) x.set_row(0, n++, row);
  return x;
}

inline RouterConfig config(int M, int K, ScoreFunction f = ScoreFunction::softmax) {
  RouterConfig c;
  c.num_experts = M;
  c.top_k = K;
  c.score = f;
  return c;
}

/// Logit whose sigmoid is exactly-ish v: ln(v / (1 - v)).
inline float sigmoid_logit(double v) { return float(std::log(v / (1 - v))); }

inline std::vector<int> ids_of(const Routing& R, int64_t b, int64_t n) {
  std::vector<int> out;
  for (int j = 0; j < R.top_k; ++j) out.push_back(R.id(b, n, j));
  return out;
}

inline std::vector<float> weights_of(const Routing& R, int64_t b, int64_t n) {
  std::vector<float> out;
  for (int j = 0; j < R.top_k; ++j) out.push_back(R.weight(b, n, j));
  return out;
}

/// The coreset of block b as ascending expert ids.
inline std::vector<int> coreset_of(const Routing& R, int64_t b) {
  std::vector<int> out;
  for (int i = 0; i < R.experts; ++i)
    if (R.coreset[size_t(b * R.experts + i)]) out.push_back(i);
  return out;
}

inline std::vector<int> iota(int first, int last_exclusive) {
  std::vector<int> out;
  for (int i = first; i < last_exclusive; ++i) out.push_back(i);
  return out;
}

/// Element-wise approximate match for weights written out by hand.
inline Catch::Matchers::Vector::ApproxMatcher<float, std::allocator<float>, std::allocator<float>> approx(
    const std::vector<float>& expected, float margin = 1e-6f) {
  return Catch::Matchers::Approx(expected).margin(margin);
}

/// The message of the coreroute::invalid_argument that `f` throws, or a marker
/// that no error was thrown (so a CHECK_THAT on it fails visibly).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const coreroute::invalid_argument& e) {
    return e.what();
  }
  return "<no coreroute::invalid_argument thrown>";
}

using Catch::Matchers::Contains;

/// A fixed-seed generator for the identity tests (printed on failure via CAPTURE).
struct Lcg {
  uint64_t state;
  explicit Lcg(uint64_t seed) : state(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  double uniform() {  // [0, 1)
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return double(state >> 11) * (1.0 / 9007199254740992.0);
  }
  float logit() { return float(8.0 * uniform() - 4.0); }
};

/// A sigmoid router with a random bias in [-half_width, half_width) drawn from Lcg(seed),
/// normalised weights scaled by 2.5 (DeepSeek-V3 / LLaDA2.0 style).
inline RouterConfig sigmoid_biased(int M, int K, uint64_t seed, double half_width) {
  RouterConfig c = config(M, K, ScoreFunction::sigmoid);
  Lcg g(seed);
  for (int i = 0; i < M; ++i) c.expert_bias.push_back(float(2 * half_width * g.uniform() - half_width));
  c.normalize_weights = true;
  c.scaling = 2.5f;
  return c;
}

/// Two routings with bit-identical ids and weights.
inline void check_same(const Routing& a, const Routing& b) {
  CHECK(a.ids == b.ids);
  CHECK(a.weights == b.weights);
}

inline Batch random_batch(uint64_t seed, int64_t B, int64_t N, int64_t M) {
  Lcg g(seed);
  Batch x(B, N, M);
  for (float& v : x.data) v = g.logit();
  return x;
}

}  // namespace crtest
