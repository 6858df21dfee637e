#pragma once
// Kokkos routing (docs/spec.md sections 3-4) on any execution space, for every policy type of
// include/coreroute/policies.hpp. Inputs are Views (any layout, any memory space the
// execution space can read) or raw pointers; results are RoutingViews in the
// execution space's memory space.
//
//   route(exec, logits, tokens, config, policy)           checked, then Stage 1 + 2
//   route_unchecked(...)                                  raw: invalid tokens get ids -1
//                                                         and are counted, nothing thrown
//   route_in_coreset(exec, logits, tokens, config, mask)  Stage 2 alone, checked
//
// Each also writes into caller-owned outputs: route(exec, logits, tokens, config, policy,
// out, bias) and likewise for the other two. `out` must have the extents of the result
// (blocks, tokens, num_experts, top_k; checked before any launch) and `bias` keeps the
// config's expert bias in device memory between calls (BiasBuffer), so such a call
// allocates nothing: on a GPU, the allocating forms' cudaMalloc / cudaFree (which
// synchronises the device) per result View cost more than the routing kernel itself.
// The allocating forms allocate, then call these.
//
// `logits` is a rank-3 View [B, N, M] (float or double); `tokens` a rank-1 View of B
// int32 (rows routed per block), or an empty View: every block has N tokens.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>

#include <coreroute/config.hpp>
#include <coreroute/error.hpp>
#include <coreroute/policies.hpp>
#include <coreroute/views.hpp>
#include <coreroute/kokkos/detail/block_router.hpp>
#include <coreroute/kokkos/detail/launch.hpp>
#include <coreroute/kokkos/detail/validate.hpp>
#include <coreroute/kokkos/routing_views.hpp>

namespace coreroute::kokkos {

template <class ExecSpace>
using TokensView = Kokkos::View<const int32_t*, typename ExecSpace::memory_space>;
template <class ExecSpace>
using CoresetView = Kokkos::View<const uint8_t**, Kokkos::LayoutRight, typename ExecSpace::memory_space>;

/// A config's expert bias in MemSpace, kept between routing calls. The kernels read the
/// bias from the execution space's memory; a copy made per call is an allocation, a copy
/// and a free around every launch (on a GPU, cudaFree synchronises the device). This
/// holder allocates only when the bias length changes and copies only when its values
/// change (compared bit for bit on the host, O(M)), so a stream of calls with one config
/// allocates and copies nothing, and a call with another config never sees a stale bias.
template <class MemSpace = Kokkos::DefaultExecutionSpace::memory_space>
class BiasBuffer {
 public:
  /// c.expert_bias in MemSpace, or null without a bias; valid until the next call.
  const float* data_for(const RouterConfig& c) {
    const std::vector<float>& bias = c.expert_bias;
    if (bias.empty()) return nullptr;
    if (held_.size() != bias.size() || std::memcmp(held_.data(), bias.data(), bias.size() * sizeof(float)) != 0) {
      if (view_.extent(0) != bias.size())
        view_ = Kokkos::View<float*, MemSpace>(Kokkos::view_alloc(Kokkos::WithoutInitializing, "coreroute::bias"),
                                               bias.size());
      // deep_copy without an execution space fences first: no launch still reads the old values.
      Kokkos::deep_copy(
          view_, Kokkos::View<const float*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(bias.data(), bias.size()));
      held_ = bias;
    }
    return view_.data();
  }

 private:
  std::vector<float> held_;  // the values view_ holds
  Kokkos::View<float*, MemSpace> view_;
};

namespace detail {

/// `out` must have every extent of the routing of B blocks of N tokens under M experts
/// and top-K: each of its Views is written in full, so any other shape would be written
/// out of bounds or left stale.
template <class MemSpace>
void require_extents(const RoutingViews<MemSpace>& out, int64_t B, int64_t N, int64_t M, int64_t K) {
  const auto check = [](const char* name, const auto& v, std::initializer_list<int64_t> want, const char* dims) {
    auto text = [](auto extent_of, size_t rank) {
      std::string s;
      for (size_t r = 0; r < rank; ++r) s += (r ? " x " : "") + std::to_string(extent_of(r));
      return s;
    };
    size_t r = 0;
    for (const int64_t w : want) {
      if (int64_t(v.extent(r)) != w) {
        const std::string given = text([&](size_t i) { return int64_t(v.extent(i)); }, want.size());
        const std::string expected = text([&](size_t i) { return *(want.begin() + i); }, want.size());
        coreroute::detail::fail(std::string("out.") + name + ".extent(" + std::to_string(r) + ")", v.extent(r),
                                std::string("out.") + name + " is " + given + ", must be " + dims + " = " + expected);
      }
      ++r;
    }
  };
  check("ids", out.ids, {B, N, K}, "blocks x tokens x top_k");
  check("weights", out.weights, {B, N, K}, "blocks x tokens x top_k");
  check("coreset", out.coreset, {B, M}, "blocks x num_experts");
  check("coreset_size", out.coreset_size, {B}, "blocks");
  check("valid_tokens", out.valid_tokens, {B}, "blocks");
  check("invalid_tokens", out.invalid_tokens, {B}, "blocks");
}

/// Outputs of the routing of x under c (extents as the config says: check it first).
template <class MemSpace, class LogitsV>
RoutingViews<MemSpace> outputs_for(const LogitsV& x, const RouterConfig& c) {
  return RoutingViews<MemSpace>(int64_t(x.extent(0)), int64_t(x.extent(1)), c.num_experts, c.top_k);
}

template <class ExecSpace, class Policy, class LogitsV, class TokensV, class CoresetV>
void launch(const ExecSpace& exec, const LogitsV& x, const TokensV& tokens, const CoresetV& coreset,
            const RouterConfig& c, const Policy& pol, const RoutingViews<typename ExecSpace::memory_space>& out,
            BiasBuffer<typename ExecSpace::memory_space>& bias, TeamTuning tuning) {
  const int64_t B = int64_t(x.extent(0)), N = int64_t(x.extent(1));
  if (B == 0) return;
  const RouterParams p = params_of(c, bias.data_for(c));
  BlockShape shape;
  shape.N = int(N);
  shape.M = c.num_experts;
  shape.K = c.top_k;
  if constexpr (!std::is_same_v<Policy, GivenCoreset>)
    if (Policy::needs_votes) shape.local_k = coreroute::detail::votes_per_token(pol, p);
  shape.groups = c.groups.enabled() ? c.groups.n_group : 0;

  using Functor = BlockRouter<ExecSpace, LogitsV, TokensV, CoresetV, Policy>;
  for_each_block_of_workers(
      "coreroute::kokkos::route", exec, int(B), shape.N, tuning, Functor{x, tokens, coreset, p, pol, shape, out},
      [&](int workers) { return Functor::scratch_bytes(shape, workers); }, "logits.experts");
}

/// The checked path's checks, in the reference's order; `out`'s extents after the host
/// checks of config, policy, shape and tokens, before the logits' check (a launch).
template <class ExecSpace, class LogitsV, class TokensV, class Policy>
void validate(const ExecSpace& exec, const LogitsV& x, const TokensV& tokens, const RouterConfig& c, const Policy& pol,
              const RoutingViews<typename ExecSpace::memory_space>& out) {
  static_assert(is_policy_v<Policy>, "Policy does not satisfy the coreroute policy concept (policies.hpp)");
  static_check_view<ExecSpace, LogitsV, 3>();
  static_check_view<ExecSpace, TokensV, 1>();
  coreroute::validate(c);
  pol.validate(c);
  coreroute::detail::require_valid_local_k(pol, c);
  const std::vector<int32_t> host = host_tokens(tokens, int64_t(x.extent(0)));
  validate_shape(x, c, host);
  require_extents(out, int64_t(x.extent(0)), int64_t(x.extent(1)), c.num_experts, c.top_k);
  validate_logits(exec, x, tokens, c);
}

template <class MemSpace>
Kokkos::View<const float***, Kokkos::LayoutStride, MemSpace, Kokkos::MemoryUnmanaged> wrap(const LogitsView<float>& x) {
  const Kokkos::LayoutStride layout(size_t(x.blocks), size_t(x.stride_block), size_t(x.tokens), size_t(x.stride_token),
                                    size_t(x.experts), size_t(x.stride_expert));
  return Kokkos::View<const float***, Kokkos::LayoutStride, MemSpace, Kokkos::MemoryUnmanaged>(x.data, layout);
}

template <class MemSpace>
Kokkos::View<const int32_t*, MemSpace, Kokkos::MemoryUnmanaged> wrap_tokens(const LogitsView<float>& x) {
  return Kokkos::View<const int32_t*, MemSpace, Kokkos::MemoryUnmanaged>(x.tokens_per_block,
                                                                         x.tokens_per_block ? size_t(x.blocks) : 0);
}

template <class MemSpace>
Kokkos::View<const uint8_t**, Kokkos::LayoutRight, MemSpace, Kokkos::MemoryUnmanaged> wrap_mask(
    const LogitsView<float>& x, const uint8_t* coreset) {
  return Kokkos::View<const uint8_t**, Kokkos::LayoutRight, MemSpace, Kokkos::MemoryUnmanaged>(
      coreset, size_t(x.blocks), size_t(x.experts));
}

}  // namespace detail

// --- Into caller-owned outputs ----------------------------------------------------------

/// Checked: validates config, policy, shapes, tokens, `out`'s extents and logits before
/// any work, then routes into `out`.
template <class ExecSpace, class LogitsV, class TokensV, class Policy>
void route(const ExecSpace& exec, const LogitsV& x, const TokensV& tokens, const RouterConfig& c, const Policy& pol,
           const RoutingViews<typename ExecSpace::memory_space>& out,
           BiasBuffer<typename ExecSpace::memory_space>& bias, TeamTuning t = {}) {
  detail::validate(exec, x, tokens, c, pol, out);
  detail::launch(exec, x, tokens, CoresetView<ExecSpace>(), c, pol, out, bias, t);
}

/// Raw path: config and policy must be valid; NaN/+Inf tokens are counted, not thrown.
/// Only `out`'s extents are checked (on the host, no launch, no copy).
template <class ExecSpace, class LogitsV, class TokensV, class Policy>
void route_unchecked(const ExecSpace& exec, const LogitsV& x, const TokensV& tokens, const RouterConfig& c,
                     const Policy& pol, const RoutingViews<typename ExecSpace::memory_space>& out,
                     BiasBuffer<typename ExecSpace::memory_space>& bias, TeamTuning t = {}) {
  detail::require_extents(out, int64_t(x.extent(0)), int64_t(x.extent(1)), c.num_experts, c.top_k);
  detail::launch(exec, x, tokens, CoresetView<ExecSpace>(), c, pol, out, bias, t);
}

/// Checked Stage 2 alone: routes every token into the given coreset mask [B, M] (0/1).
template <class ExecSpace, class LogitsV, class TokensV>
void route_in_coreset(const ExecSpace& exec, const LogitsV& x, const TokensV& tokens, const RouterConfig& c,
                      const CoresetView<ExecSpace>& coreset, const RoutingViews<typename ExecSpace::memory_space>& out,
                      BiasBuffer<typename ExecSpace::memory_space>& bias, TeamTuning t = {}) {
  detail::validate(exec, x, tokens, c, VanillaPolicy{}, out);
  using coreroute::detail::require;
  require(int64_t(coreset.extent(0)) == int64_t(x.extent(0)), "coreset.extent(0)", coreset.extent(0),
          "must equal blocks = " + std::to_string(x.extent(0)));
  require(int64_t(coreset.extent(1)) == c.num_experts, "coreset.extent(1)", coreset.extent(1),
          "must equal num_experts = " + std::to_string(c.num_experts));
  std::vector<uint8_t> host;  // a host vector, not a Kokkos mirror: no Kokkos allocation per call
  detail::copy_to_vector(coreset, host);
  for (size_t i = 0; i < host.size(); ++i)
    require(host[i] <= 1, "coreset[" + std::to_string(i) + "]", int(host[i]), "must be 0 or 1");
  detail::launch(exec, x, tokens, coreset, c, GivenCoreset{}, out, bias, t);
}

// --- Allocating: new outputs and a bias copy per call, then the calls above -------------

template <class ExecSpace, class LogitsV, class TokensV, class Policy>
RoutingViews<typename ExecSpace::memory_space> route(const ExecSpace& exec, const LogitsV& x, const TokensV& tokens,
                                                     const RouterConfig& c, const Policy& pol, TeamTuning t = {}) {
  using Mem = typename ExecSpace::memory_space;
  coreroute::validate(c);  // the outputs' extents come from the config
  const auto out = detail::outputs_for<Mem>(x, c);
  BiasBuffer<Mem> bias;
  route(exec, x, tokens, c, pol, out, bias, t);
  return out;
}

template <class ExecSpace, class LogitsV, class TokensV, class Policy>
RoutingViews<typename ExecSpace::memory_space> route_unchecked(const ExecSpace& exec, const LogitsV& x,
                                                               const TokensV& tokens, const RouterConfig& c,
                                                               const Policy& pol, TeamTuning t = {}) {
  using Mem = typename ExecSpace::memory_space;
  const auto out = detail::outputs_for<Mem>(x, c);
  BiasBuffer<Mem> bias;
  route_unchecked(exec, x, tokens, c, pol, out, bias, t);
  return out;
}

template <class ExecSpace, class LogitsV, class TokensV>
RoutingViews<typename ExecSpace::memory_space> route_in_coreset(const ExecSpace& exec, const LogitsV& x,
                                                                const TokensV& tokens, const RouterConfig& c,
                                                                const CoresetView<ExecSpace>& coreset,
                                                                TeamTuning t = {}) {
  using Mem = typename ExecSpace::memory_space;
  coreroute::validate(c);
  const auto out = detail::outputs_for<Mem>(x, c);
  BiasBuffer<Mem> bias;
  route_in_coreset(exec, x, tokens, c, coreset, out, bias, t);
  return out;
}

// --- Raw pointers -----------------------------------------------------------------------

namespace detail {
/// The raw view's extents are >= 0 and, where it carries its buffer's size (x.extent >= 0),
/// it is proven in bounds before it is wrapped, after the config and policy checks (the
/// reference's order of errors).
/// `coreset_missing`: Stage 2 alone was given a null mask.
template <class Policy>
void require_raw_shape(const LogitsView<float>& x, const RouterConfig& c, const Policy& pol,
                       bool coreset_missing = false) {
  coreroute::detail::require(x.blocks >= 0 && x.tokens >= 0 && x.experts >= 0, "logits.shape", x.blocks,
                             "extents must be >= 0");
  coreroute::detail::require(!coreset_missing || x.blocks == 0, "coreset", "null", "must point to B*M flags");
  if (x.extent < 0) return;
  coreroute::validate(c);
  pol.validate(c);
  coreroute::detail::require_valid_local_k(pol, c);
  coreroute::detail::validate_shape(x, c, nullptr);  // tokens_per_block: checked after the wrap
}
}  // namespace detail

/// Raw-pointer overloads: x.data and x.tokens_per_block point to memory the execution
/// space can read (host pointers for host spaces, device pointers for a GPU space).
template <class ExecSpace, class Policy>
void route(const ExecSpace& exec, const LogitsView<float>& x, const RouterConfig& c, const Policy& pol,
           const RoutingViews<typename ExecSpace::memory_space>& out,
           BiasBuffer<typename ExecSpace::memory_space>& bias, TeamTuning t = {}) {
  detail::require_raw_shape(x, c, pol);
  using Mem = typename ExecSpace::memory_space;
  route(exec, detail::wrap<Mem>(x), detail::wrap_tokens<Mem>(x), c, pol, out, bias, t);
}

template <class ExecSpace, class Policy>
RoutingViews<typename ExecSpace::memory_space> route(const ExecSpace& exec, const LogitsView<float>& x,
                                                     const RouterConfig& c, const Policy& pol, TeamTuning t = {}) {
  detail::require_raw_shape(x, c, pol);
  using Mem = typename ExecSpace::memory_space;
  return route(exec, detail::wrap<Mem>(x), detail::wrap_tokens<Mem>(x), c, pol, t);
}

template <class ExecSpace, class Policy>
void route_unchecked(const ExecSpace& exec, const LogitsView<float>& x, const RouterConfig& c, const Policy& pol,
                     const RoutingViews<typename ExecSpace::memory_space>& out,
                     BiasBuffer<typename ExecSpace::memory_space>& bias, TeamTuning t = {}) {
  using Mem = typename ExecSpace::memory_space;
  route_unchecked(exec, detail::wrap<Mem>(x), detail::wrap_tokens<Mem>(x), c, pol, out, bias, t);
}

template <class ExecSpace, class Policy>
RoutingViews<typename ExecSpace::memory_space> route_unchecked(const ExecSpace& exec, const LogitsView<float>& x,
                                                               const RouterConfig& c, const Policy& pol,
                                                               TeamTuning t = {}) {
  using Mem = typename ExecSpace::memory_space;
  return route_unchecked(exec, detail::wrap<Mem>(x), detail::wrap_tokens<Mem>(x), c, pol, t);
}

/// `coreset` points to B*M flags the execution space can read.
template <class ExecSpace>
void route_in_coreset(const ExecSpace& exec, const LogitsView<float>& x, const RouterConfig& c, const uint8_t* coreset,
                      const RoutingViews<typename ExecSpace::memory_space>& out,
                      BiasBuffer<typename ExecSpace::memory_space>& bias, TeamTuning t = {}) {
  detail::require_raw_shape(x, c, VanillaPolicy{}, coreset == nullptr);
  using Mem = typename ExecSpace::memory_space;
  route_in_coreset(exec, detail::wrap<Mem>(x), detail::wrap_tokens<Mem>(x), c,
                   CoresetView<ExecSpace>(detail::wrap_mask<Mem>(x, coreset)), out, bias, t);
}

template <class ExecSpace>
RoutingViews<typename ExecSpace::memory_space> route_in_coreset(const ExecSpace& exec, const LogitsView<float>& x,
                                                                const RouterConfig& c, const uint8_t* coreset,
                                                                TeamTuning t = {}) {
  detail::require_raw_shape(x, c, VanillaPolicy{}, coreset == nullptr);
  using Mem = typename ExecSpace::memory_space;
  return route_in_coreset(exec, detail::wrap<Mem>(x), detail::wrap_tokens<Mem>(x), c,
                          CoresetView<ExecSpace>(detail::wrap_mask<Mem>(x, coreset)), t);
}

}  // namespace coreroute::kokkos
