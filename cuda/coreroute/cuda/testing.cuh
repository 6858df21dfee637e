#pragma once
// The CUDA backend's adapter for the testing kit (testing/coreroute/testing/, the
// coreroute::testing::Backend concept): host data in, host results out, through the
// checked API and Thrust device buffers. For tests only: routing needs cuda.cuh alone.
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/mr/allocator.h>
#include <thrust/mr/device_memory_resource.h>
#include <thrust/mr/disjoint_pool.h>
#include <thrust/mr/new.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include <coreroute/config.hpp>
#include <coreroute/cuda/metrics.cuh>
#include <coreroute/cuda/route.cuh>
#include <coreroute/metrics.hpp>
#include <coreroute/routing.hpp>
#include <coreroute/views.hpp>

namespace coreroute::cuda {

namespace detail {

/// Device vectors of the adapter draw from one pool that keeps freed blocks: a parity
/// run allocates dozens of buffers per case, and cudaFree synchronises the device.
/// Not synchronised: the adapter is for one host thread at a time.
using DevicePool =
    thrust::mr::disjoint_unsynchronized_pool_resource<thrust::device_memory_resource, thrust::mr::new_delete_resource>;
template <class T>
using PooledVector = thrust::device_vector<T, thrust::mr::stateless_resource_allocator<T, DevicePool>>;

/// A host view's elements [0, last used + 1) copied to the device, same strides.
template <class T>
struct DeviceLogits {
  PooledVector<T> data;
  PooledVector<int32_t> tokens;
  LogitsView<T> view;
  explicit DeviceLogits(const LogitsView<T>& x) : view(x) {
    int64_t span = 0;
    if (x.blocks > 0 && x.tokens > 0 && x.experts > 0 && x.data)
      span = (x.blocks - 1) * x.stride_block + (x.tokens - 1) * x.stride_token + (x.experts - 1) * x.stride_expert + 1;
    data.assign(x.data, x.data + span);
    view.data = span > 0 ? thrust::raw_pointer_cast(data.data()) : nullptr;
    if (x.extent >= 0) view.extent = span;  // what the device copy holds
    if (x.tokens_per_block) {
      tokens.assign(x.tokens_per_block, x.tokens_per_block + x.blocks);
      view.tokens_per_block = thrust::raw_pointer_cast(tokens.data());
    }
  }
};

/// Device outputs sized like a Routing (and, with `dispatch`, its dispatch layout) in
/// one pooled buffer, poisoned by one memset and read back by one copy per part: a
/// parity case routes many times, and each Thrust transfer synchronises on its own.
struct DeviceResult {
  int64_t B, N;
  int M, K;
  // ids, weights, coreset, coreset_size, valid, invalid | num_used, used, counts, offsets, token, slot
  size_t at[13] = {};
  PooledVector<unsigned char> buf;
  DeviceResult(int64_t b, int64_t n, int m, int k, bool dispatch = false) : B(b), N(n), M(m), K(k) {
    const size_t bnk = size_t(B * N * K), bm = size_t(B * M), bb = size_t(B);
    const size_t bytes[12] = {4 * bnk,
                              4 * bnk,
                              bm,
                              4 * bb,
                              4 * bb,
                              4 * bb,  // the routing
                              dispatch ? 4 * bb : 0,
                              dispatch ? 4 * bm : 0,
                              dispatch ? 4 * bm : 0,
                              dispatch ? 4 * (bm + bb) : 0,
                              dispatch ? 4 * bnk : 0,
                              dispatch ? 4 * bnk : 0};
    for (int i = 0; i < 12; ++i) at[i + 1] = (at[i] + bytes[i] + 15) / 16 * 16;
    buf.resize(at[12] + 1);
    // Poison: 0xF9 bytes are a negative id, size and weight, and no coreset flag (0/1).
    check(cudaMemset(ptr<void>(0), 0xF9, at[12]), "poison outputs");
  }
  template <class V>
  V* ptr(int field) {
    return reinterpret_cast<V*>(buf.data().get() + at[field]);
  }
  RouteOutputs outputs() {
    return {ptr<int32_t>(0), ptr<float>(1), ptr<uint8_t>(2), ptr<int32_t>(3), ptr<int32_t>(4), ptr<int32_t>(5)};
  }
  DispatchOutputs dispatch_outputs() {
    return {ptr<int32_t>(6), ptr<int32_t>(7), ptr<int32_t>(8), ptr<int32_t>(9), ptr<int32_t>(10), ptr<int32_t>(11)};
  }
  Routing routing() const {
    Routing R;
    R.resize(B, N, M, K);
    const std::vector<unsigned char> h = fetch(0, 6);
    unpack(h, 0, R.ids);
    unpack(h, 1, R.weights);
    unpack(h, 2, R.coreset);
    unpack(h, 3, R.coreset_size);
    unpack(h, 4, R.valid_tokens);
    unpack(h, 5, R.invalid_tokens);
    return R;
  }
  void layout(DispatchLayout& d) const {
    d.resize(B, N, M, K);
    const std::vector<unsigned char> h = fetch(6, 12);
    unpack(h, 6, d.num_used);
    unpack(h, 7, d.used_experts);
    unpack(h, 8, d.counts);
    unpack(h, 9, d.offsets);
    unpack(h, 10, d.token);
    unpack(h, 11, d.slot);
  }

 private:
  std::vector<unsigned char> fetch(int first, int last) const {  // fields [first, last) in one copy
    std::vector<unsigned char> h(at[last] - at[first]);
    if (!h.empty())
      check(cudaMemcpy(h.data(), buf.data().get() + at[first], h.size(), cudaMemcpyDeviceToHost), "read outputs");
    return h;
  }
  template <class V>
  void unpack(const std::vector<unsigned char>& h, int field, std::vector<V>& v) const {
    const size_t base = at[field] - at[field < 6 ? 0 : 6];
    if (!v.empty()) std::memcpy(v.data(), h.data() + base, v.size() * sizeof(V));
  }
};

}  // namespace detail

namespace testing {

/// The CUDA backend's adapter (a coreroute::testing::Backend): the checked CUDA entry points.
struct Backend {
  static constexpr const char* name = "cuda";

  template <class Policy>
  static Routing route(const LogitsView<float>& x, const RouterConfig& c, const Policy& p, DispatchLayout* dispatch) {
    DeviceConfig dc(c);
    detail::DeviceLogits<float> dx(x);
    detail::DeviceResult out(x.blocks, x.tokens, c.num_experts, c.top_k, dispatch != nullptr);
    DispatchOutputs d;
    if (dispatch) d = out.dispatch_outputs();
    cuda::route(dx.view, dc, p, out.outputs(), nullptr, dispatch ? &d : nullptr);
    detail::check(cudaDeviceSynchronize(), "route");
    if (dispatch) out.layout(*dispatch);
    return out.routing();
  }

  static Routing route_in_coreset(const LogitsView<float>& x, const RouterConfig& c, const uint8_t* coreset) {
    DeviceConfig dc(c);
    detail::DeviceLogits<float> dx(x);
    detail::DeviceResult out(x.blocks, x.tokens, c.num_experts, c.top_k);
    coreroute::detail::require(coreset != nullptr || x.blocks == 0, "coreset", "null", "must point to B*M flags");
    detail::PooledVector<uint8_t> mask(coreset, coreset + (coreset ? x.blocks * x.experts : 0));
    cuda::route_in_coreset(dx.view, dc, mask.data().get(), out.outputs());
    detail::check(cudaDeviceSynchronize(), "route_in_coreset");
    return out.routing();
  }

  static std::vector<BlockMetrics> metrics(const Routing& R, const Routing& R0, double expert_bytes,
                                           const ExpertOutputsView* outputs) {
    using coreroute::detail::require;
    require(R.blocks == R0.blocks && R.tokens == R0.tokens && R.experts == R0.experts, "routing.shape", R.blocks,
            "must match the reference routing's [B, N, M]");
    for (int64_t b = 0; b < R.blocks; ++b)
      require(R.valid_tokens[size_t(b)] == R0.valid_tokens[size_t(b)],
              "routing.valid_tokens[" + std::to_string(b) + "]", R.valid_tokens[size_t(b)],
              "must equal the reference's");
    const int64_t B = R.blocks, N = R.tokens;
    detail::PooledVector<int32_t> ids(R.ids), ids0(R0.ids), valid(R.valid_tokens), size(R.coreset_size);
    detail::PooledVector<float> w(R.weights), w0(R0.weights), y;
    DeviceExpertOutputs Y;
    if (outputs && B > 0 && N > 0) {
      const int64_t span = (B - 1) * outputs->stride_block + (N - 1) * outputs->stride_token +
                           (R.experts - 1) * outputs->stride_expert + outputs->dim;
      y.assign(outputs->data, outputs->data + span);
      Y = {y.data().get(), outputs->stride_block, outputs->stride_token, outputs->stride_expert, outputs->dim};
    }
    DeviceRouting dr{ids.data().get(), w.data().get(), valid.data().get(), size.data().get(), R.top_k};
    DeviceRouting dr0{ids0.data().get(), w0.data().get(), valid.data().get(), nullptr, R0.top_k};
    detail::PooledVector<double> out(size_t(B * detail::kMetricFields));
    detail::check(launch_metrics(B, N, R.experts, dr, dr0, expert_bytes, outputs ? &Y : nullptr, out.data().get()),
                  "metrics launch");
    std::vector<double> h(out.size());
    thrust::copy(out.begin(), out.end(), h.begin());
    std::vector<BlockMetrics> m(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      const double* o = &h[size_t(b * detail::kMetricFields)];
      m[size_t(b)] = {o[0], o[1], o[2], o[3], o[4], o[5], o[6]};
    }
    return m;
  }
};

}  // namespace testing

}  // namespace coreroute::cuda
