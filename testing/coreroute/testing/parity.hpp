#pragma once
// The backend parity harness: docs/spec.md section 7 as one function, for any backend.
//
// A backend takes part through an adapter that models the concept
// coreroute::testing::Backend (checked by `static_assert(is_backend_v<B>)`): a struct
// with static members only (host data in, host results out; the adapter copies to and
// from its device):
//
//   struct MyBackend {
//     static constexpr const char* name = "...";
//     template <class Policy>
//     static coreroute::Routing route(const coreroute::LogitsView<float>& x, const coreroute::RouterConfig& c,
//                                     const Policy& p, coreroute::DispatchLayout* dispatch /* may be null */);
//     static coreroute::Routing route_in_coreset(const coreroute::LogitsView<float>& x,
//                                                const coreroute::RouterConfig& c, const uint8_t* coreset /* [B,M] */);
//     static std::vector<coreroute::BlockMetrics> metrics(const coreroute::Routing& R, const coreroute::Routing& R0,
//                                                         double expert_bytes, const coreroute::ExpertOutputsView*
//                                                         outputs);
//   };
//
// Each backend has one adapter, named alike, in that backend's testing header:
//   coreroute::testing::ReferenceBackend       <coreroute/testing/parity.hpp> (also
//                                              coreroute::reference::testing::Backend)
//   coreroute::kokkos::testing::Backend<Space> <coreroute/kokkos/testing.hpp>
//   coreroute::cuda::testing::Backend          <coreroute/cuda/testing.cuh>
// plus the kit's host backends (ShuffledReferenceBackend, HostFloatBackend: backends.hpp).
// Adapters are for tests: applications call the backends' own APIs.
//
// `route` is the backend's checked entry point: on bad input it throws
// coreroute::invalid_argument, like the reference. The views and the coreset are in
// host memory (strided views included; `x.tokens_per_block` may be set).
//
//   ParityReport r = check_parity<MyBackend>(x, config, policy);    // never throws
//   require_parity<MyBackend>(x, config, policy);                    // throws parity_error
//
// What check_parity asserts (docs/spec.md section 7), on the same input:
//  - bad input: the reference rejects it <=> the backend throws coreroute::invalid_argument;
//  - per block, the coreset equals the reference's, or every difference is a near-tie
//    of the reference's double values (votes, with each token's top-K boundary and
//    order; the coreset ranking; each `keep` decision such as top-p's cumulative sum);
//  - per valid token, the ids equal the reference's Stage 2 run *with the backend's
//    coreset*, or the difference is a near-tie (group ranking, top-K boundary, order
//    within S_n); exact ties of the reference follow the tie rule exactly;
//  - weights match the weights of the backend's own ids computed from the
//    reference's scores within 1e-5 relative + 1e-6; -1 slots and unrouted rows have
//    weight 0; valid_tokens, invalid_tokens (0 on the checked path), coreset_size;
//  - the same for vanilla routing (the metrics' R0), and the dispatch layout equals
//    reference::dispatch_of of the backend's routing;
//  - route without a dispatch output returns the same routing (option);
//  - route_in_coreset with a pseudo-random mask (some with fewer than K experts);
//  - metrics(R, R0), with pseudo-random expert outputs and without, equal the
//    reference metrics of the same routings within tolerance.
// The report counts the near-ties it accepted, so a test can show they are exercised.
#include <cstdint>
#include <exception>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <coreroute/reference.hpp>
#include <coreroute/testing/detail/verify.hpp>
#include <coreroute/testing/tolerance.hpp>

namespace coreroute::testing {

/// The reference itself as a backend adapter.
struct ReferenceBackend {
  static constexpr const char* name = "reference";
  template <class Policy>
  static Routing route(const LogitsView<float>& x, const RouterConfig& c, const Policy& p, DispatchLayout* dispatch) {
    Routing R = reference::route(x, c, p);
    if (dispatch) *dispatch = reference::dispatch_of(R);
    return R;
  }
  static Routing route_in_coreset(const LogitsView<float>& x, const RouterConfig& c, const uint8_t* coreset) {
    return reference::route_in_coreset(x, c, coreset);
  }
  static std::vector<BlockMetrics> metrics(const Routing& R, const Routing& R0, double expert_bytes,
                                           const ExpertOutputsView* outputs) {
    return reference::metrics(R, R0, expert_bytes, outputs);
  }
};

namespace detail {
template <class B, class = void>
struct is_backend : std::false_type {};
template <class B>
struct is_backend<
    B, std::void_t<
           decltype(static_cast<const char*>(B::name)),
           decltype(Routing{B::route(std::declval<const LogitsView<float>&>(), std::declval<const RouterConfig&>(),
                                     VanillaPolicy{}, static_cast<DispatchLayout*>(nullptr))}),
           decltype(
               Routing{B::route_in_coreset(std::declval<const LogitsView<float>&>(),
                                           std::declval<const RouterConfig&>(), static_cast<const uint8_t*>(nullptr))}),
           decltype(std::vector<BlockMetrics>{B::metrics(std::declval<const Routing&>(), std::declval<const Routing&>(),
                                                         0.0, static_cast<const ExpertOutputsView*>(nullptr))})>>
    : std::true_type {};
}  // namespace detail

/// True when B models the Backend concept of the header comment (an adapter the parity
/// harness and the kit can run).
template <class B>
inline constexpr bool is_backend_v = detail::is_backend<B>::value;

static_assert(is_backend_v<ReferenceBackend>);

struct ParityOptions {
  bool strict_exact_ties = true;       ///< false: exact ties may break either way (relabelling checks)
  bool check_without_dispatch = true;  ///< route(..., nullptr) must give the same routing
  bool check_route_in_coreset = true;
  bool check_metrics = true;
  int output_dim = 3;  ///< expert output size for the output reconstruction loss
  double expert_bytes = kLladaMoeExpertBytes;
  uint64_t seed = 0;     ///< of the pseudo-random coreset mask and expert outputs
  int max_failures = 8;  ///< messages kept in the report
};

struct ParityReport {
  std::string backend, policy;
  std::vector<std::string> failures;
  int failure_count = 0;
  int coreset_near_ties = 0;  ///< blocks whose coreset differed at an accepted near-tie
  int id_near_ties = 0;       ///< token rows whose ids differed at an accepted near-tie
  bool rejected = false;      ///< the input was invalid and both sides rejected it

  bool ok() const { return failure_count == 0; }
  std::string summary() const {
    std::ostringstream os;
    os << backend << " vs reference, " << policy << ": "
       << (ok() ? "parity holds" : std::to_string(failure_count) + " failure(s)")
       << " (near-ties accepted: " << coreset_near_ties << " coresets, " << id_near_ties << " token rows)";
    for (const std::string& f : failures) os << "\n  " << f;
    if (failure_count > int(failures.size())) os << "\n  ... and " << failure_count - int(failures.size()) << " more";
    return os.str();
  }
  void fail(const std::string& what, int max_failures) {
    if (failure_count++ < max_failures) failures.push_back(what);
  }
};

class parity_error : public std::runtime_error {
 public:
  explicit parity_error(const ParityReport& r) : std::runtime_error(r.summary()), report(r) {}
  ParityReport report;
};

namespace detail {

inline uint64_t mix(uint64_t x) {  // splitmix64: a fixed, portable stream
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline std::string where(int64_t b, int64_t n = -1) {
  return "block " + std::to_string(b) + (n >= 0 ? ", token " + std::to_string(n) : std::string());
}

/// Weights of the backend's ids, from the reference's double scores (docs/spec.md §3.4).
inline void expected_weights(const RouterParams& p, const double* s, const int32_t* ids, double* w) {
  double sum = 0;
  for (int j = 0; j < p.top_k; ++j) sum += ids[j] >= 0 ? s[ids[j]] : 0.0;
  for (int j = 0; j < p.top_k; ++j) w[j] = coreroute::detail::token_weight(ids[j] >= 0 ? s[ids[j]] : 0.0, sum, p);
}

/// Checks one routing `G` of the backend: per block the coreset (against `want`,
/// the reference's, when `check_stage1`), then Stage 2 and weights per token against
/// the reference with G's own coreset.
template <class Policy>
void check_routing(const LogitsView<float>& x, const RouterParams& p, const Policy& pol, const Routing& G,
                   const Routing* want, const std::string& what, bool strict, ParityReport& rep, int max_failures) {
  const int M = p.num_experts, K = p.top_k;
  const int64_t B = x.blocks, N = x.tokens;
  auto fail = [&](const std::string& m) { rep.fail(what + ": " + m, max_failures); };
  if (G.blocks != B || G.tokens != N || G.experts != M || G.top_k != K || G.ids.size() != size_t(B * N * K) ||
      G.weights.size() != G.ids.size() || G.coreset.size() != size_t(B * M) || G.coreset_size.size() != size_t(B) ||
      G.valid_tokens.size() != size_t(B) || G.invalid_tokens.size() != size_t(B)) {
    fail("result shape differs from [B, N, M, K] = [" + std::to_string(B) + ", " + std::to_string(N) + ", " +
         std::to_string(M) + ", " + std::to_string(K) + "]");
    return;
  }
  reference::BlockScores sc;
  reference::Workspace ws;
  std::vector<int32_t> ids(static_cast<size_t>(K));
  std::vector<float> unused(static_cast<size_t>(K));
  std::vector<double> w(static_cast<size_t>(K));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t valid = x.valid_tokens(b);
    if (G.valid_tokens[size_t(b)] != valid)
      fail(where(b) + ": valid_tokens = " + std::to_string(G.valid_tokens[size_t(b)]) + ", expected " +
           std::to_string(valid));
    if (G.invalid_tokens[size_t(b)] != 0)
      fail(where(b) + ": invalid_tokens = " + std::to_string(G.invalid_tokens[size_t(b)]) + " on checked input");
    reference::score_block(x, b, p, sc);
    const uint8_t* mask = &G.coreset[size_t(b * M)];
    const int size = int(std::count(mask, mask + M, uint8_t(1)));
    if (G.coreset_size[size_t(b)] != size)
      fail(where(b) + ": coreset_size = " + std::to_string(G.coreset_size[size_t(b)]) + " but the mask holds " +
           std::to_string(size));
    if (want) {
      bool tie = false;
      const std::string why = verify_coreset(x, b, sc, p, pol, mask, &want->coreset[size_t(b * M)], strict, tie);
      if (!why.empty()) {
        fail(where(b) + ": " + why);
        continue;
      }
      rep.coreset_near_ties += tie ? 1 : 0;
    }
    const bool same_coreset = want && std::equal(mask, mask + M, &want->coreset[size_t(b * M)]);
    for (int64_t n = 0; n < N; ++n) {
      const size_t row = size_t((b * N + n) * K);
      const int32_t* got = &G.ids[row];
      if (n >= valid) {
        for (int j = 0; j < K; ++j)
          if (got[j] != -1 || G.weights[row + size_t(j)] != 0.0f) {
            fail(where(b, n) + ": an unrouted row must hold ids -1 and weight 0");
            break;
          }
        continue;
      }
      const int32_t* expect = &ids[0];
      if (same_coreset) {
        expect = &want->ids[row];
      } else {
        std::fill(ids.begin(), ids.end(), -1);
        reference::route_token(p, sc.s_row(n), sc.r_row(n), mask, ws, ids.data(), unused.data());
      }
      bool tie = false;
      const std::string why = verify_token(p, sc.r_row(n), mask, got, expect, strict, SameInput{x, p, b, n}, tie);
      if (!why.empty()) {
        fail(where(b, n) + ": " + why);
        continue;
      }
      rep.id_near_ties += tie ? 1 : 0;
      expected_weights(p, sc.s_row(n), got, w.data());
      for (int j = 0; j < K; ++j) {
        const float g = G.weights[row + size_t(j)];
        const bool bad = got[j] < 0 ? g != 0.0f : !close(double(g), w[size_t(j)]);
        if (bad) {
          std::ostringstream os;
          os.precision(9);
          os << where(b, n) << ", slot " << j << " (expert " << got[j] << "): weight " << g << ", expected "
             << w[size_t(j)];
          fail(os.str());
        }
      }
    }
  }
}

inline void check_same(const Routing& a, const Routing& b, const std::string& what, ParityReport& rep,
                       int max_failures) {
  if (a.ids != b.ids || a.weights != b.weights || a.coreset != b.coreset || a.coreset_size != b.coreset_size)
    rep.fail(what, max_failures);
}

inline void check_dispatch(const DispatchLayout& got, const DispatchLayout& want, ParityReport& rep, int max_failures) {
  const char* field =
      got.blocks != want.blocks || got.tokens != want.tokens || got.experts != want.experts || got.top_k != want.top_k
          ? "shape"
      : got.num_used != want.num_used         ? "num_used"
      : got.used_experts != want.used_experts ? "used_experts"
      : got.counts != want.counts             ? "counts"
      : got.offsets != want.offsets           ? "offsets"
      : got.token != want.token               ? "token"
      : got.slot != want.slot                 ? "slot"
                                              : nullptr;
  if (field)
    rep.fail(std::string("dispatch layout: ") + field + " differs from reference::dispatch_of of the backend's routing",
             max_failures);
}

inline void check_metrics(const std::vector<BlockMetrics>& got, const std::vector<BlockMetrics>& want,
                          const std::string& what, ParityReport& rep, int max_failures) {
  if (got.size() != want.size()) {
    rep.fail(what + ": " + std::to_string(got.size()) + " blocks, expected " + std::to_string(want.size()),
             max_failures);
    return;
  }
  for (size_t b = 0; b < got.size(); ++b) {
    const BlockMetrics &g = got[b], &e = want[b];
    const struct {
      const char* name;
      double got, want;
    } fields[] = {{"unique_experts", g.unique_experts, e.unique_experts},
                  {"coreset_size", g.coreset_size, e.coreset_size},
                  {"topk_hit_rate", g.topk_hit_rate, e.topk_hit_rate},
                  {"gate_reconstruction_loss", g.gate_reconstruction_loss, e.gate_reconstruction_loss},
                  {"output_reconstruction_loss", g.output_reconstruction_loss, e.output_reconstruction_loss},
                  {"hit_cosine", g.hit_cosine, e.hit_cosine},
                  {"expert_bytes_read", g.expert_bytes_read, e.expert_bytes_read}};
    for (const auto& f : fields)
      if (!close(f.got, f.want)) {
        std::ostringstream os;
        os.precision(12);
        os << what << ", " << where(int64_t(b)) << ": " << f.name << " = " << f.got << ", expected " << f.want;
        rep.fail(os.str(), max_failures);
      }
  }
}

template <class F>
bool call(F&& f, const std::string& what, ParityReport& rep, int max_failures) {
  try {
    f();
    return true;
  } catch (const std::exception& e) {
    rep.fail(what + " threw: " + e.what(), max_failures);
  } catch (...) {
    rep.fail(what + " threw a non-standard exception", max_failures);
  }
  return false;
}

}  // namespace detail

/// docs/spec.md section 7 for one input: see the header comment. Never throws (a backend's
/// exception is reported as a failure).
template <class Backend, class Policy>
ParityReport check_parity(const LogitsView<float>& x, const RouterConfig& c, const Policy& pol,
                          const ParityOptions& opt = {}) {
  static_assert(is_backend_v<Backend>, "Backend is not a backend adapter (the Backend concept of parity.hpp)");
  static_assert(is_policy_v<Policy>, "Policy does not satisfy the coreroute policy concept (policies.hpp)");
  ParityReport rep;
  rep.backend = Backend::name;
  rep.policy = pol.describe();
  const int mf = opt.max_failures;
  try {
    reference::validate(x, c, pol);
  } catch (const invalid_argument& e) {
    rep.rejected = true;
    try {
      Backend::route(x, c, pol, nullptr);
      rep.fail(std::string("the reference rejects the input (") + e.what() + ") but the backend accepts it", mf);
    } catch (const invalid_argument&) {
    } catch (const std::exception& be) {
      rep.fail(std::string("bad input must throw coreroute::invalid_argument, the backend threw: ") + be.what(), mf);
    }
    return rep;
  }
  const RouterParams p = params_of(c);
  const Routing want = reference::route_unchecked(x, p, pol);
  const Routing want0 = reference::route_unchecked(x, p, VanillaPolicy{});
  Routing got, got0;
  DispatchLayout layout;
  if (!detail::call([&] { got = Backend::route(x, c, pol, &layout); }, "route", rep, mf)) return rep;
  detail::check_routing(x, p, pol, got, &want, "route", opt.strict_exact_ties, rep, mf);
  if (!detail::call([&] { got0 = Backend::route(x, c, VanillaPolicy{}, nullptr); }, "route(vanilla)", rep, mf))
    return rep;
  detail::check_routing(x, p, VanillaPolicy{}, got0, &want0, "route(vanilla)", opt.strict_exact_ties, rep, mf);
  if (!rep.ok()) return rep;  // the rest compares derived data of a routing already wrong
  detail::check_dispatch(layout, reference::dispatch_of(got), rep, mf);
  if (opt.check_without_dispatch) {
    Routing again;
    if (detail::call([&] { again = Backend::route(x, c, pol, nullptr); }, "route without dispatch", rep, mf))
      detail::check_same(again, got, "route without a dispatch output returns another routing", rep, mf);
  }
  const int M = c.num_experts;
  if (opt.check_route_in_coreset) {
    // Masks of about K/2 to 2K experts per block, so some tokens get fewer than K.
    std::vector<uint8_t> mask(size_t(x.blocks * M));
    uint64_t h = detail::mix(opt.seed ^ uint64_t(x.blocks * 1315423911 + x.tokens * 2654435761u + M));
    for (size_t i = 0; i < mask.size(); ++i) {
      h = detail::mix(h);
      mask[i] = (h % uint64_t(M)) < uint64_t(std::min(M, 1 + 2 * c.top_k * int(1 + (i / size_t(M)) % 2) / 2)) ? 1 : 0;
    }
    Routing inside;
    if (detail::call([&] { inside = Backend::route_in_coreset(x, c, mask.data()); }, "route_in_coreset", rep, mf)) {
      if (inside.coreset != mask)
        rep.fail("route_in_coreset: the returned coreset is not the given mask", mf);
      else
        detail::check_routing(x, p, VanillaPolicy{}, inside, nullptr, "route_in_coreset", opt.strict_exact_ties, rep,
                              mf);
    }
  }
  if (opt.check_metrics) {
    const int d = opt.output_dim;
    std::vector<float> y(size_t(x.blocks * x.tokens * M * d));
    uint64_t h = detail::mix(opt.seed + 7);
    for (float& v : y) v = float(int64_t((h = detail::mix(h)) % 2001) - 1000) / 1000.0f;
    const ExpertOutputsView out{y.data(), x.tokens * M * d, int64_t(M) * d, d, d};
    for (const ExpertOutputsView* o : {&out, static_cast<const ExpertOutputsView*>(nullptr)}) {
      std::vector<BlockMetrics> m;
      const std::string what = o ? "metrics" : "metrics without outputs";
      if (detail::call([&] { m = Backend::metrics(got, got0, opt.expert_bytes, o); }, what, rep, mf))
        detail::check_metrics(m, reference::metrics(got, got0, opt.expert_bytes, o), what, rep, mf);
    }
  }
  return rep;
}

/// check_parity, throwing parity_error (its what() is the report) when parity fails.
template <class Backend, class Policy>
ParityReport require_parity(const LogitsView<float>& x, const RouterConfig& c, const Policy& pol,
                            const ParityOptions& opt = {}) {
  ParityReport r = check_parity<Backend>(x, c, pol, opt);
  if (!r.ok()) throw parity_error(r);
  return r;
}

}  // namespace coreroute::testing

namespace coreroute::reference::testing {
/// The reference's adapter under the name every backend's adapter has.
using Backend = coreroute::testing::ReferenceBackend;
}  // namespace coreroute::reference::testing
