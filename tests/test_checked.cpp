// The checked API against what a user gets wrong beyond the config (docs/spec.md
// section 6): a user policy whose local_k or votes break the concept, metrics given a
// broken output view, and a view whose strides address past its buffer. Each is an
// invalid_argument naming the policy / parameter and the value, never a crash or a
// silently wrong result.
#include <cmath>
#include <limits>
#include <vector>

#include "test_common.hpp"

using namespace crtest;

namespace {

/// A user policy with a configurable local_k and vote: the concept is met, the values are not.
struct BadUserPolicy {
  static constexpr bool needs_votes = true;
  static constexpr const char* name = "bad_user_policy";
  int k = 1;
  double vote_value = 1.0;  ///< what every vote is
  int bad_from_q = 0;       ///< positions q >= this vote vote_value; earlier ones 1
  int local_k(const RouterParams&) const { return k; }
  template <class T>
  T vote(T, int q) const {
    return q >= bad_from_q ? T(vote_value) : T(1);
  }
  template <class T>
  bool keep(int, T v, T, T, int) const {
    return v > T(0);
  }
  void validate(const RouterConfig&) const {}
  std::string describe() const { return "bad_user_policy"; }
};
static_assert(is_policy_v<BadUserPolicy>);

const Batch& batch() {
  static const Batch x = [] {
    Batch b(2, 3, 6);
    for (int64_t i = 0; i < int64_t(b.data.size()); ++i) b.data[size_t(i)] = float((i * 7) % 11) * 0.25f;
    return b;
  }();
  return x;
}

}  // namespace

TEST_CASE("a user policy's local_k outside [1, num_experts] is rejected, naming the policy", "[checked][policy]") {
  BadUserPolicy p;
  for (int k : {-3, 0, 7}) {
    p.k = k;
    INFO("local_k = " << k);
    CHECK_THAT(error_of([&] { reference::route(batch().view(), config(6, 2), p); }),
               Contains("bad_user_policy.local_k() = " + std::to_string(k)) && Contains("[1, num_experts = 6]"));
  }
  p.k = 6;  // the whole range is accepted
  CHECK_NOTHROW(reference::route(batch().view(), config(6, 2), p));
}

TEST_CASE("a user policy's NaN, infinite or negative votes are rejected, naming policy, token and value",
          "[checked][policy]") {
  BadUserPolicy p;
  p.k = 2;
  p.bad_from_q = 1;  // the first vote of each token is fine, the second is not
  p.vote_value = std::numeric_limits<double>::quiet_NaN();
  const std::string nan_error = error_of([&] { reference::route(batch().view(), config(6, 2), p); });
  CHECK_THAT(nan_error, Contains("bad_user_policy.vote(") && Contains("q = 1") && Contains("[block 0, token 0]") &&
                            Contains("= nan") && Contains("finite and >= 0"));
  p.vote_value = std::numeric_limits<double>::infinity();
  CHECK_THAT(error_of([&] { reference::route(batch().view(), config(6, 2), p); }), Contains("= inf"));
  p.vote_value = -0.5;
  CHECK_THAT(error_of([&] { reference::route(batch().view(), config(6, 2), p); }), Contains("= -0.5"));
  p.vote_value = 0.0;  // zero votes are fine
  CHECK_NOTHROW(reference::route(batch().view(), config(6, 2), p));
}

TEST_CASE("the raw path never reads past a row whatever local_k a policy returns", "[checked][policy]") {
  BadUserPolicy p;
  p.k = -3;
  const Routing R = reference::route_unchecked(batch().view(), params_of(config(6, 2)), p);
  CHECK(R.coreset_size[0] == 0);  // no votes cast: an empty coreset, every slot -1
  CHECK(ids_of(R, 0, 0) == std::vector<int>{-1, -1});
  p.k = 100;
  const Routing all = reference::route_unchecked(batch().view(), params_of(config(6, 2)), p);
  CHECK(all.coreset_size[0] == 6);
}

TEST_CASE("metrics check the expert outputs view: data and dim", "[checked][metrics]") {
  const Routing R = reference::route(batch().view(), config(6, 2), VanillaPolicy{});
  std::vector<float> y(size_t(2 * 3 * 6 * 4), 1.0f);
  ExpertOutputsView ov = make_expert_outputs_view(y.data(), 3, 6, 4);
  CHECK_NOTHROW(reference::metrics(R, R, 0, &ov));
  ov.data = nullptr;
  CHECK_THAT(error_of([&] { reference::metrics(R, R, 0, &ov); }), Contains("outputs.data = null"));
  CHECK_THAT(error_of([&] { reference::block_metrics(R, R, 0, 0, &ov); }), Contains("outputs.data = null"));
  ov = make_expert_outputs_view(y.data(), 3, 6, 4);
  ov.dim = 0;
  CHECK_THAT(error_of([&] { reference::metrics(R, R, 0, &ov); }), Contains("outputs.dim = 0") && Contains(">= 1"));
  ov = make_expert_outputs_view(y.data(), 3, 6, 4);
  ov.stride_token = -24;
  CHECK_THAT(error_of([&] { reference::metrics(R, R, 0, &ov); }), Contains("outputs.strides"));
}

TEST_CASE("a view that carries its extent: every access is proven in bounds", "[checked][views]") {
  const Batch& x = batch();
  const int64_t size = int64_t(x.data.size());
  const LogitsView<float> ok =
      make_logits_view(x.data.data(), size, x.B, x.N, x.M, LogitsStrides::contiguous(x.N, x.M));
  const Routing a = reference::route(ok, config(6, 2), UnionPolicy{1});
  const Routing b = reference::route(x.view(), config(6, 2), UnionPolicy{1});
  CHECK(a.ids == b.ids);
  CHECK(a.weights == b.weights);
  // A wrong block stride (one row too long) reads past the buffer: rejected before any work.
  const LogitsView<float> past =
      make_logits_view(x.data.data(), size, x.B, x.N, x.M, LogitsStrides{x.N * x.M + x.M, x.M, 1});
  CHECK_THAT(error_of([&] { reference::route(past, config(6, 2), UnionPolicy{1}); }),
             Contains("logits.extent = 36") && Contains("strides [24, 6, 1]"));
  // One element short.
  const LogitsView<float> short_by_one =
      make_logits_view(x.data.data(), size - 1, x.B, x.N, x.M, LogitsStrides::contiguous(x.N, x.M));
  CHECK_THAT(error_of([&] { reference::route(short_by_one, config(6, 2), UnionPolicy{1}); }),
             Contains("logits.extent = 35"));
  CHECK_THAT(
      error_of([&] { reference::route_in_coreset(short_by_one, config(6, 2), std::vector<uint8_t>(12, 1).data()); }),
      Contains("logits.extent = 35"));
  // Strides that would overflow int64 when multiplied out are rejected, not wrapped.
  const LogitsView<float> huge = make_logits_view(x.data.data(), size, x.B, x.N, x.M,
                                                  LogitsStrides{std::numeric_limits<int64_t>::max() / 2, x.M, 1});
  CHECK_THAT(error_of([&] { reference::route(huge, config(6, 2), UnionPolicy{1}); }), Contains("logits.extent"));
  // A transposed (token-major) view of the same buffer fits exactly: accepted.
  const LogitsView<float> transposed =
      make_logits_view(x.data.data(), size, x.B, x.N, x.M, LogitsStrides{x.M, x.B * x.M, 1});
  CHECK_NOTHROW(reference::route(transposed, config(6, 2), UnionPolicy{1}));
}
