#pragma once
// The checked host API of the CUDA backend: validates the config, the policy, shapes,
// strides, the memory space of every pointer (cudaPointerGetAttributes) and the logit
// values (a device scan), then launches. It synchronises `stream` once, to read the
// scan's result and the tokens per block; for a sync-free, capturable launch use
// launch_route (launch.cuh) after validating once.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <coreroute/config.hpp>
#include <coreroute/cuda/detail/scan_logits.cuh>
#include <coreroute/cuda/launch.cuh>
#include <coreroute/cuda/outputs.cuh>
#include <coreroute/error.hpp>
#include <coreroute/policies.hpp>
#include <coreroute/views.hpp>

namespace coreroute::cuda {

/// A CUDA runtime failure (not bad input): out of memory, no device, a failed launch.
class cuda_error : public std::runtime_error {
 public:
  explicit cuda_error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw cuda_error(std::string("coreroute::cuda: ") + what + ": " + cudaGetErrorString(e));
}

/// Rejects pointers the device cannot read: plain host memory, or unknown ones.
inline void require_device_pointer(const void* ptr, const std::string& param) {
  if (!ptr) return;
  cudaPointerAttributes a{};
  const cudaError_t e = cudaPointerGetAttributes(&a, ptr);
  if (e != cudaSuccess) cudaGetLastError();  // clear the sticky-free error of an unknown pointer
  const bool ok = e == cudaSuccess && (a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged);
  coreroute::detail::require(ok, param, ptr, "must point to device or managed memory");
}

/// RAII device buffer for the checked API's own small allocations, in stream order
/// (cudaMallocAsync): freeing it does not synchronise the whole device as cudaFree
/// does. Devices without memory pools get plain cudaMalloc.
template <class V>
struct DeviceBuffer {
  V* ptr = nullptr;
  cudaStream_t stream;
  bool pooled = true;
  DeviceBuffer(size_t n, cudaStream_t s) : stream(s) {
    const size_t bytes = n * sizeof(V) + 1;
    if (cudaMallocAsync(&ptr, bytes, s) != cudaSuccess) {
      cudaGetLastError();  // not a sticky error: clear it and take the plain allocator
      pooled = false;
      check(cudaMalloc(&ptr, bytes), "cudaMalloc");
    }
  }
  ~DeviceBuffer() { pooled ? cudaFreeAsync(ptr, stream) : cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

template <class T>
void validate_values(const LogitsView<T>& x, ScoreFunction score, cudaStream_t stream) {
  if (x.blocks == 0 || x.tokens == 0 || x.experts == 0) return;
  DeviceBuffer<unsigned long long> first(1, stream);
  check(cudaMemsetAsync(first.ptr, 0xFF, sizeof(unsigned long long), stream), "cudaMemsetAsync");
  const int64_t rows = x.blocks * x.tokens;
  const int grid = int(std::min<int64_t>((rows + 7) / 8, 4096));
  first_invalid_logit<<<grid, 256, 0, stream>>>(x, score, first.ptr);
  check(cudaGetLastError(), "logit scan launch");
  unsigned long long host = 0;
  check(cudaMemcpyAsync(&host, first.ptr, sizeof host, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream), "logit scan");
  if (host == ~0ull) return;
  const int64_t M = x.experts, row = int64_t(host / uint64_t(M + 1)), i = int64_t(host % uint64_t(M + 1));
  const std::string at = "logits[block " + std::to_string(row / x.tokens) + ", token " + std::to_string(row % x.tokens);
  if (i == M) coreroute::detail::fail(at + ", :]", "-inf", "a softmax row of all -Inf logits is invalid");
  coreroute::detail::fail(at + ", expert " + std::to_string(i) + "]", "NaN or +Inf", "NaN and +Inf logits are invalid");
}

/// Checks shared by route and route_in_coreset. Returns nothing; throws invalid_argument.
template <class T>
void validate_call(const LogitsView<T>& x, const RouterConfig& c, const RouteOutputs& out,
                   const DispatchOutputs* dispatch, cudaStream_t stream) {
  using coreroute::detail::require;
  require(c.groups.n_group <= kMaxGroups, "groups.n_group", c.groups.n_group,
          "must be <= " + std::to_string(kMaxGroups) + " on the CUDA backend");
  require_device_pointer(x.data, "logits.data");
  require_device_pointer(x.tokens_per_block, "logits.tokens_per_block");
  std::vector<int32_t> tokens;
  if (x.tokens_per_block && x.blocks > 0) {
    tokens.resize(size_t(x.blocks));
    check(cudaMemcpyAsync(tokens.data(), x.tokens_per_block, tokens.size() * 4, cudaMemcpyDeviceToHost, stream),
          "cudaMemcpyAsync");
    check(cudaStreamSynchronize(stream), "tokens_per_block copy");
  }
  coreroute::detail::validate_shape(x, c, tokens.empty() ? nullptr : tokens.data());
  if (x.blocks == 0) return;
  require(out.ids != nullptr || x.tokens == 0, "out.ids", "null", "must point to B*N*K int32");
  require(out.weights != nullptr || x.tokens == 0, "out.weights", "null", "must point to B*N*K float");
  require_device_pointer(out.ids, "out.ids");
  require_device_pointer(out.weights, "out.weights");
  require_device_pointer(out.coreset, "out.coreset");
  require_device_pointer(out.coreset_size, "out.coreset_size");
  require_device_pointer(out.valid_tokens, "out.valid_tokens");
  require_device_pointer(out.invalid_tokens, "out.invalid_tokens");
  if (dispatch && dispatch->enabled()) {
    const int32_t* all[] = {dispatch->num_used, dispatch->used_experts, dispatch->counts,
                            dispatch->offsets,  dispatch->token,        dispatch->slot};
    const char* names[] = {"num_used", "used_experts", "counts", "offsets", "token", "slot"};
    for (int k = 0; k < 6; ++k) {
      require(all[k] != nullptr, std::string("dispatch.") + names[k], "null", "must be set when num_used is");
      require_device_pointer(all[k], std::string("dispatch.") + names[k]);
    }
  }
  validate_values(x, c.score, stream);
}

/// Throws naming the block size where no launch of these shapes fits the current device.
template <class Policy, class T>
void require_launchable(const LogitsView<T>& x, const RouterParams& p, bool given_coreset,
                        const DispatchOutputs* dispatch) {
  if (x.blocks == 0) return;
  const std::string why = launch_problem<Policy>(x.blocks, x.tokens, p, given_coreset,
                                                 dispatch != nullptr && dispatch->enabled(), {}, device_info());
  if (!why.empty()) coreroute::detail::fail("logits.tokens", x.tokens, why);
}

}  // namespace detail

/// A validated RouterConfig with its expert bias copied to the device once.
class DeviceConfig {
 public:
  explicit DeviceConfig(RouterConfig c) : config_(std::move(c)) {
    coreroute::validate(config_);
    if (!config_.expert_bias.empty()) {
      detail::check(cudaMalloc(&bias_, config_.expert_bias.size() * sizeof(float)), "cudaMalloc");
      detail::check(cudaMemcpy(bias_, config_.expert_bias.data(), config_.expert_bias.size() * sizeof(float),
                               cudaMemcpyHostToDevice),
                    "cudaMemcpy");
    }
  }
  ~DeviceConfig() { cudaFree(bias_); }
  DeviceConfig(const DeviceConfig&) = delete;
  DeviceConfig& operator=(const DeviceConfig&) = delete;

  const RouterConfig& config() const { return config_; }
  /// The kernels' view: bias in device memory.
  RouterParams params() const { return params_of(config_, bias_); }

 private:
  RouterConfig config_;
  float* bias_ = nullptr;
};

/// Checked routing (Stage 1 + Stage 2): every rule of docs/spec.md section 6 is checked before
/// any work, bad input throws coreroute::invalid_argument naming the parameter.
template <class Policy, class T>
void route(const LogitsView<T>& x, const DeviceConfig& c, const Policy& pol, const RouteOutputs& out,
           cudaStream_t stream = nullptr, const DispatchOutputs* dispatch = nullptr) {
  static_assert(is_policy_v<Policy>, "Policy does not satisfy the coreroute policy concept (policies.hpp)");
  pol.validate(c.config());
  coreroute::detail::require_valid_local_k(pol, c.config());
  detail::validate_call(x, c.config(), out, dispatch, stream);
  detail::require_launchable<Policy>(x, c.params(), false, dispatch);
  detail::check(launch_route(x, c.params(), pol, out, stream, dispatch), "route launch");
}

/// Checked Stage 2 alone, into a device coreset mask [B, M] of 0/1 bytes.
template <class T>
void route_in_coreset(const LogitsView<T>& x, const DeviceConfig& c, const uint8_t* coreset, const RouteOutputs& out,
                      cudaStream_t stream = nullptr, const DispatchOutputs* dispatch = nullptr) {
  detail::validate_call(x, c.config(), out, dispatch, stream);
  if (x.blocks == 0) return;
  coreroute::detail::require(coreset != nullptr, "coreset", "null", "must point to B*M flags");
  detail::require_device_pointer(coreset, "coreset");
  std::vector<uint8_t> host(size_t(x.blocks * x.experts));
  detail::check(cudaMemcpyAsync(host.data(), coreset, host.size(), cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
  detail::check(cudaStreamSynchronize(stream), "coreset copy");
  for (size_t i = 0; i < host.size(); ++i)
    coreroute::detail::require(host[i] <= 1, "coreset[" + std::to_string(i) + "]", int(host[i]), "must be 0 or 1");
  detail::require_launchable<VanillaPolicy>(x, c.params(), true, dispatch);
  detail::check(launch_route_in_coreset(x, c.params(), coreset, out, stream, dispatch), "route_in_coreset launch");
}

}  // namespace coreroute::cuda
