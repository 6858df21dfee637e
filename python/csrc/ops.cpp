// The coreroute Torch ops (namespace `coreroute`): route, route_in_coreset, metrics.
//
// CPU kernel: the reference backend. CUDA kernel (built when the found Torch has CUDA):
// the CUDA backend's raw launch on the current stream, without host synchronisation,
// so it can be captured in a CUDA graph. Meta kernel: shapes only, for torch.compile,
// torch.fx and meta tensors; every output shape depends only on the input shapes and
// the arguments.
//
// Parameter checks that need no tensor values (config, policy, shapes, dtypes,
// devices) run on every call, on every device. `checked = true` adds the value checks
// of docs/spec.md section 6 (NaN/+Inf logits, all -Inf softmax rows, tokens in [0, N], finite
// bias); on CUDA they read values back, so the capturable path is checked = false,
// where a bad token gets ids -1, weight 0 and is counted in invalid_tokens.
// Bad input raises ValueError naming the parameter and its value.
#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <c10/core/CPUAllocator.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <coreroute/coreroute.hpp>
#include <coreroute/reference/dispatch.hpp>
#include <coreroute/reference/metrics.hpp>
#include <coreroute/reference/route.hpp>

#include <torch/version.h>

#include "launch.hpp"

// The optional type of op signatures: c10::optional until torch 2.4, std::optional since
// (c10::optional became an alias of it there).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
template <class T>
using Opt = std::optional<T>;
#else
#include <c10/util/Optional.h>
template <class T>
using Opt = c10::optional<T>;
#endif

#ifdef COREROUTE_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace coreroute::torch_ops {
namespace {

using coreroute::detail::fail;
using coreroute::detail::require;

// Values of Torch types as message text (fail() formats without iostreams, error.hpp).
// A shape, made text only when a message is built (checks run on every call).
struct Shape {
  at::IntArrayRef sizes;
  explicit operator std::string() const {
    std::string s = "[";
    for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
    return s + "]";
  }
};
const char* dtype_text(at::ScalarType t) { return c10::toString(t); }
struct DeviceText {
  c10::Device device;
  explicit operator std::string() const { return device.str(); }
};

// ---------------------------------------------------------------------------------
// Arguments -> config, policy, geometry (host only, no tensor values).

/// The blocks of a call: [B, N, M] directly, or [T, M] cut into blocks of
/// block_size rows (B = ceil(T / block_size), the last block may be partial).
struct Geometry {
  bool token_major = false;  ///< [T, M] input
  int64_t B = 0, N = 0, M = 0, T = 0;
  int64_t last_block_rows = 0;  ///< token-major: rows of block B-1 (N: not partial)
};

Geometry geometry_of(const at::Tensor& logits, Opt<int64_t> block_size, bool has_tokens) {
  Geometry g;
  if (logits.dim() == 2) {
    require(block_size.has_value(), "block_size", "None", "is required with [T, M] logits");
    require(*block_size >= 1, "block_size", *block_size, "must be >= 1");
    require(!has_tokens, "tokens", "a tensor", "must be None with [T, M] logits (block_size cuts the blocks)");
    g.token_major = true;
    g.T = logits.size(0);
    g.M = logits.size(1);
    g.N = *block_size;
    g.B = (g.T + g.N - 1) / g.N;
    g.last_block_rows = g.B > 0 ? g.T - (g.B - 1) * g.N : g.N;
  } else if (logits.dim() == 3) {
    require(!block_size.has_value(), "block_size", block_size.value_or(0), "must be None with [B, N, M] logits");
    g.B = logits.size(0);
    g.N = logits.size(1);
    g.M = logits.size(2);
    g.T = g.B * g.N;
    g.last_block_rows = g.N;
  } else {
    fail("logits.dim()", logits.dim(), "must be 2 ([T, M] with block_size) or 3 ([B, N, M])");
  }
  require(g.M >= 1, "logits.shape[-1]", g.M, "must be >= 1 (the number of experts)");
  return g;
}

ScoreFunction score_of(const std::string& s) {
  if (s == "softmax") return ScoreFunction::softmax;
  if (s == "sigmoid") return ScoreFunction::sigmoid;
  fail("score", "'" + s + "'", "must be 'softmax' or 'sigmoid'");
}

/// The config without bias values (they may live on the device); validated.
GroupScoreRule group_score_of(const std::string& s) {
  if (s == "top2") return GroupScoreRule::top2;
  if (s == "max") return GroupScoreRule::max;
  fail("group_score", "'" + s + "'", "must be 'top2' or 'max'");
}

RouterConfig config_of(int64_t M, int64_t top_k, const std::string& score, int64_t n_group, int64_t topk_group,
                       const std::string& group_score, bool normalize, double scaling) {
  RouterConfig c;
  c.num_experts = int(M);
  if (!(top_k >= 1 && top_k <= M)) fail("top_k", top_k, "must be in [1, num_experts = " + std::to_string(M) + "]");
  c.top_k = int(top_k);
  c.score = score_of(score);
  require(n_group >= 0 && n_group <= std::numeric_limits<int>::max(), "groups.n_group", n_group, "out of range");
  require(topk_group >= 0 && topk_group <= std::numeric_limits<int>::max(), "groups.topk_group", topk_group,
          "out of range");
  c.groups.n_group = int(n_group);
  c.groups.topk_group = int(topk_group);
  c.groups.group_score = group_score_of(group_score);
  require(c.groups.group_score == GroupScoreRule::top2 || n_group > 0, "group_score", "'max'",
          "needs group-limited routing (groups=(n_group, topk_group))");
  c.normalize_weights = normalize;
  c.scaling = float(scaling);
  require(std::isfinite(scaling) && c.scaling > 0, "scaling", scaling, "must be finite and > 0");
  validate(c);
  return c;
}

template <class V>
void only_for(const Opt<V>& v, const char* name, const std::string& policy, const char* owner,
              const char* other_owner = nullptr) {
  if (v.has_value() && policy != owner && (!other_owner || policy != other_owner))
    fail(name, *v,
         std::string("is only for policy='") + owner + "'" +
             (other_owner ? std::string(" or '") + other_owner + "'" : "") + " (policy is '" + policy + "')");
}

/// The policy and its parameters, named as the Python keywords (= the CLI's flags).
AnyPolicy policy_of(const std::string& name, const RouterConfig& c, Opt<int64_t> k_local, Opt<int64_t> core,
                    Opt<double> beta, Opt<double> top_p, Opt<int64_t> min_experts, Opt<int64_t> capacity) {
  only_for(k_local, "k_local", name, "union");
  only_for(core, "core", name, "vote");
  only_for(beta, "beta", name, "vote", "blockmax");
  only_for(top_p, "top_p", name, "blockdist");
  only_for(min_experts, "min_experts", name, "blockdist");
  only_for(capacity, "capacity", name, "blockmax");
  AnyPolicy any;
  if (name == "vanilla") {
    any = VanillaPolicy{};
  } else if (name == "union") {
    require(k_local.has_value(), "k_local", "None", "is required with policy='union'");
    if (!(*k_local >= 1 && *k_local <= c.top_k))
      fail("k_local", *k_local, "must be in [1, top_k = " + std::to_string(c.top_k) + "]");
    UnionPolicy u;
    u.k_local = int(*k_local);
    any = u;
  } else if (name == "vote") {
    require(core.has_value() != beta.has_value(), "core/beta", core.has_value() ? "both given" : "None",
            "policy='vote' takes exactly one of core and beta");
    if (core) {
      if (!(*core >= 1 && *core <= c.num_experts))
        fail("core", *core, "must be in [1, num_experts = " + std::to_string(c.num_experts) + "]");
      any = SaliencyVotePolicy::with_core(int(*core));
    } else {
      require(*beta > 0 && *beta <= 1, "beta", *beta, "must be in (0, 1]");
      any = SaliencyVotePolicy::with_beta(*beta);
    }
  } else if (name == "blockdist") {
    BlockDistributionPolicy b;
    b.top_p = top_p.value_or(0.6);
    require(b.top_p > 0 && b.top_p <= 1, "top_p", b.top_p, "must be in (0, 1]");
    const int64_t m = min_experts.value_or(std::min(16, c.num_experts));
    if (!(m >= 0 && m <= c.num_experts))
      fail("min_experts", m, "must be in [0, num_experts = " + std::to_string(c.num_experts) + "]");
    b.min_experts = int(m);
    any = b;
  } else if (name == "blockmax") {
    require(capacity.has_value() != beta.has_value(), "capacity/beta", capacity.has_value() ? "both given" : "None",
            "policy='blockmax' takes exactly one of capacity and beta");
    if (capacity) {
      require(*capacity >= 1 && *capacity <= c.num_experts, "capacity", *capacity,
              "must be in [1, num_experts = " + std::to_string(c.num_experts) + "]");
      any = BlockMaxPolicy::with_capacity(int(*capacity));
    } else {
      require(*beta > 0 && *beta <= 1, "beta", *beta, "must be in (0, 1]");
      any = BlockMaxPolicy::with_beta(*beta);
    }
  } else {
    fail("policy", "'" + name + "'", "must be one of 'vanilla', 'union', 'vote', 'blockdist', 'blockmax'");
  }
  std::visit([&](const auto& p) { p.validate(c); }, any);
  return any;
}

void require_device(const at::Tensor& t, const at::Tensor& logits, const char* name) {
  if (t.device() != logits.device())
    fail(std::string(name) + ".device", t.device().str(), "must be the logits' device (" + logits.device().str() + ")");
}

/// `t` as `dtype`, contiguous; no dispatcher call when it already is (the common case).
at::Tensor as_contiguous(const at::Tensor& t, at::ScalarType dtype) {
  return t.scalar_type() == dtype && t.is_contiguous() ? t : t.to(dtype).contiguous();
}

// ---------------------------------------------------------------------------------
// Tensors: inputs prepared, outputs allocated.

/// What a call reads, on the logits' device.
struct Inputs {
  Geometry g;
  at::Tensor logits;               ///< strided as given, or a contiguous copy (zero strides)
  int64_t sb = 0, st = 0, se = 1;  ///< strides of blocks, tokens, experts (elements)
  Opt<at::Tensor> bias;            ///< float32 [M], contiguous
  Opt<at::Tensor> tokens;          ///< int32 [B], contiguous (token-major: made here)
};

Dtype dtype_of(const at::Tensor& logits) {
  switch (logits.scalar_type()) {
    case at::kFloat:
      return Dtype::float32;
    case at::kBFloat16:
      return Dtype::bfloat16;
    case at::kHalf:
      return Dtype::float16;
    default:
      fail("logits.dtype", dtype_text(logits.scalar_type()), "must be float32, bfloat16 or float16");
  }
}

/// Shapes, dtypes and devices of every input; strides taken as they are. A stride of
/// 0 (an expanded tensor) on an axis longer than 1 is the one case copied (contiguous),
/// as the backends need distinct rows; an axis of length 1 takes any stride.
Inputs prepare(const at::Tensor& logits, const Geometry& g, const Opt<at::Tensor>& bias,
               const Opt<at::Tensor>& tokens) {
  Inputs in;
  in.g = g;
  dtype_of(logits);
  in.logits = logits;
  const bool expanded = [&] {
    for (int d = 0; d < logits.dim(); ++d)
      if (logits.size(d) > 1 && logits.stride(d) <= 0) return true;
    return false;
  }();
  if (expanded) in.logits = logits.contiguous();
  const auto stride = [&](int d) { return in.logits.size(d) > 1 ? in.logits.stride(d) : int64_t(1); };
  if (in.g.token_major) {
    in.st = stride(0);
    in.se = stride(1);
    in.sb = in.st * in.g.N;
  } else {
    in.sb = stride(0);
    in.st = stride(1);
    in.se = stride(2);
  }
  if (bias) {
    if (!(bias->dim() == 1 && bias->size(0) == in.g.M))
      fail("bias.shape", Shape{bias->sizes()}, "must be [num_experts] = [" + std::to_string(in.g.M) + "]");
    require(at::isFloatingType(bias->scalar_type()), "bias.dtype", dtype_text(bias->scalar_type()),
            "must be a floating type");
    require_device(*bias, logits, "bias");
    in.bias = as_contiguous(*bias, at::kFloat);
  }
  if (tokens) {
    if (!(tokens->dim() == 1 && tokens->size(0) == in.g.B))
      fail("tokens.shape", Shape{tokens->sizes()}, "must be [B] = [" + std::to_string(in.g.B) + "]");
    require(at::isIntegralType(tokens->scalar_type(), /*includeBool=*/false), "tokens.dtype",
            dtype_text(tokens->scalar_type()), "must be an integer type");
    require_device(*tokens, logits, "tokens");
    in.tokens = as_contiguous(*tokens, at::kInt);
  } else if (in.g.token_major && in.g.last_block_rows != in.g.N && in.g.B > 0) {
    // The partial last block, as tokens per block; a fill kernel on the device, so
    // no host copy (capturable).
    at::Tensor t = at::full({in.g.B}, in.g.N, logits.options().dtype(at::kInt));
    t.narrow(0, in.g.B - 1, 1).fill_(in.g.last_block_rows);
    in.tokens = t;
  }
  return in;
}

/// The op's outputs; ids/weights padded to [B*N, K] (token-major) before the view.
/// Each its own allocation: outputs that shared one would alias each other, which the
/// schema does not declare (and which the meta kernel's fresh outputs would not match).
struct Outputs {
  at::Tensor ids, weights, coreset, coreset_size, invalid_tokens;
  at::Tensor num_used, used_experts, counts, offsets, token, slot;
};

/// Makes the outputs as at::empty would (contiguous, uninitialised, every element
/// written by the kernel), without its dispatcher round trip per tensor: eleven of
/// them are host time on every call. CUDA: the caller holds a guard of the logits'
/// device, on which the caching allocator then allocates (on the current stream).
Outputs allocate(const Geometry& g, int64_t K, bool with_dispatch, bool cuda) {
  c10::Allocator* alloc = nullptr;
  c10::DispatchKeySet keys(c10::DispatchKey::CPU);
  if (cuda) {
#ifdef COREROUTE_TORCH_CUDA
    alloc = c10::cuda::CUDACachingAllocator::get();
    keys = c10::DispatchKeySet(c10::DispatchKey::CUDA);
#endif
  } else {
    alloc = c10::GetCPUAllocator();
  }
  const auto empty = [&](at::IntArrayRef sizes, at::ScalarType dtype) {
    return at::Tensor(at::detail::empty_generic(sizes, alloc, keys, dtype, {}));
  };
  Outputs o;
  o.ids = empty({g.B, g.N, K}, at::kInt);
  o.weights = empty({g.B, g.N, K}, at::kFloat);
  o.coreset = empty({g.B, g.M}, at::kBool);
  o.coreset_size = empty({g.B}, at::kInt);
  o.invalid_tokens = empty({g.B}, at::kInt);
  const int64_t b = with_dispatch ? g.B : 0;
  o.num_used = empty({b}, at::kInt);
  o.used_experts = empty({b, g.M}, at::kInt);
  o.counts = empty({b, g.M}, at::kInt);
  o.offsets = empty({b, g.M + 1}, at::kInt);
  o.token = empty({b, g.N * K}, at::kInt);
  o.slot = empty({b, g.N * K}, at::kInt);
  return o;
}

using Result = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor,
                          at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

Result result_of(const Outputs& o, const Geometry& g, int64_t K) {
  at::Tensor ids = o.ids, weights = o.weights;
  if (g.token_major) {
    ids = ids.view({g.B * g.N, K}).narrow(0, 0, g.T);
    weights = weights.view({g.B * g.N, K}).narrow(0, 0, g.T);
  }
  return {ids,      weights,   o.coreset, o.coreset_size, o.invalid_tokens, o.num_used, o.used_experts,
          o.counts, o.offsets, o.token,   o.slot};
}

// Thrown as c10::ValueError built from the finished message: the formatting then runs inside
// libc10, never in an iostream instantiated here (docs/python.md, libstdc++).
[[noreturn]] void raise_value_error(const coreroute::invalid_argument& e) {
  throw c10::ValueError(c10::SourceLocation{__func__, __FILE__, static_cast<uint32_t>(__LINE__)}, e.what());
}
#ifdef COREROUTE_TORCH_CUDA
[[noreturn]] void raise_runtime_error(const std::string& what) {
  throw c10::Error(c10::SourceLocation{__func__, __FILE__, static_cast<uint32_t>(__LINE__)}, what);
}
#endif

// ---------------------------------------------------------------------------------
// Meta: shapes from symbolic sizes (torch.compile with dynamic shapes), checks of the
// arguments that need no sizes; the expert count is made concrete (a guard).

struct SymGeometry {
  bool token_major = false;
  c10::SymInt B, N, T;
  int64_t M = 0;
};

SymGeometry sym_geometry_of(const at::Tensor& t, Opt<int64_t> block_size, bool has_tokens, int64_t M) {
  SymGeometry g;
  g.M = M;
  if (t.dim() == 2) {
    require(block_size.has_value(), "block_size", "None", "is required with [T, M] logits");
    require(*block_size >= 1, "block_size", *block_size, "must be >= 1");
    require(!has_tokens, "tokens", "a tensor", "must be None with [T, M] logits (block_size cuts the blocks)");
    g.token_major = true;
    g.T = t.sym_size(0);
    g.N = c10::SymInt(*block_size);
    g.B = (g.T + c10::SymInt(*block_size - 1)) / g.N;
  } else if (t.dim() == 3) {
    require(!block_size.has_value(), "block_size", block_size.value_or(0), "must be None with [B, N, M] logits");
    g.B = t.sym_size(0);
    g.N = t.sym_size(1);
    g.T = g.B * g.N;
  } else {
    fail("logits.dim()", t.dim(), "must be 2 ([T, M] with block_size) or 3 ([B, N, M])");
  }
  require(M >= 1, "logits.shape[-1]", M, "must be >= 1 (the number of experts)");
  return g;
}

at::Tensor empty_sym(std::vector<c10::SymInt> shape, const at::TensorOptions& opt) {
  return at::empty_symint(c10::SymIntArrayRef(shape), opt);
}

Result meta_result(const SymGeometry& g, int64_t K, bool with_dispatch, const at::TensorOptions& opt) {
  const auto i32 = opt.dtype(at::kInt);
  const c10::SymInt k(K), m(g.M), b = with_dispatch ? g.B : c10::SymInt(0);
  std::vector<c10::SymInt> rows =
      g.token_major ? std::vector<c10::SymInt>{g.T, k} : std::vector<c10::SymInt>{g.B, g.N, k};
  return {empty_sym(rows, i32),
          empty_sym(rows, opt.dtype(at::kFloat)),
          empty_sym({g.B, m}, opt.dtype(at::kBool)),
          empty_sym({g.B}, i32),
          empty_sym({g.B}, i32),
          empty_sym({b}, i32),
          empty_sym({b, m}, i32),
          empty_sym({b, m}, i32),
          empty_sym({b, m + c10::SymInt(1)}, i32),
          empty_sym({b, g.N * k}, i32),
          empty_sym({b, g.N * k}, i32)};
}

int64_t experts_of(const at::Tensor& logits) {
  require(logits.dim() >= 1, "logits.dim()", logits.dim(), "must be 2 ([T, M] with block_size) or 3 ([B, N, M])");
  return logits.sym_size(-1).guard_int(__FILE__, __LINE__);
}

// ---------------------------------------------------------------------------------
// CPU: the reference backend.

template <class T>
LogitsView<T> view_of(const Inputs& in, const int32_t* host_tokens) {
  LogitsView<T> x;
  x.data = static_cast<const T*>(in.logits.data_ptr());
  x.blocks = in.g.B;
  x.tokens = in.g.N;
  x.experts = in.g.M;
  x.stride_block = in.sb;
  x.stride_token = in.st;
  x.stride_expert = in.se;
  x.tokens_per_block = host_tokens;
  return x;
}

/// tokens[b] in [0, N]: always checked on the host, where it costs nothing and an
/// out-of-range value would read outside the logits.
void check_tokens(const int32_t* t, const Geometry& g) {
  for (int64_t b = 0; t && b < g.B; ++b)
    if (!(t[b] >= 0 && t[b] <= g.N))
      fail("tokens[" + std::to_string(b) + "]", t[b], "must be in [0, N = " + std::to_string(g.N) + "]");
}

template <class V>
void copy_into(const std::vector<V>& from, at::Tensor& to) {
  if (!from.empty()) std::memcpy(to.data_ptr(), from.data(), from.size() * sizeof(V));
}

void write_cpu(const Routing& R, bool with_dispatch, Outputs& o) {
  copy_into(R.ids, o.ids);
  copy_into(R.weights, o.weights);
  copy_into(R.coreset, o.coreset);  // 0/1 bytes are valid bools
  copy_into(R.coreset_size, o.coreset_size);
  copy_into(R.invalid_tokens, o.invalid_tokens);
  if (!with_dispatch) return;
  const DispatchLayout d = reference::dispatch_of(R);
  copy_into(d.num_used, o.num_used);
  copy_into(d.used_experts, o.used_experts);
  copy_into(d.counts, o.counts);
  copy_into(d.offsets, o.offsets);
  copy_into(d.token, o.token);
  copy_into(d.slot, o.slot);
}

template <class T>
Routing route_cpu_typed(const Inputs& in, RouterConfig c, const AnyPolicy& pol, const uint8_t* coreset_in,
                        bool checked) {
  const int32_t* tokens = in.tokens ? in.tokens->data_ptr<int32_t>() : nullptr;
  check_tokens(tokens, in.g);
  const LogitsView<T> x = view_of<T>(in, tokens);
  if (in.bias) {
    const float* b = in.bias->data_ptr<float>();
    c.expert_bias.assign(b, b + in.g.M);
  }
  if (checked) {
    validate(c);  // the bias values
    reference::validate_logits(x, c);
  }
  const RouterParams p = params_of(c);
  if (coreset_in) return reference::route_in_coreset_unchecked(x, p, coreset_in);
  return std::visit([&](const auto& policy) { return reference::route_unchecked(x, p, policy); }, pol);
}

Routing route_cpu(const Inputs& in, const RouterConfig& c, const AnyPolicy& pol, const uint8_t* coreset_in,
                  bool checked) {
  switch (dtype_of(in.logits)) {
    case Dtype::float32:
      return route_cpu_typed<float>(in, c, pol, coreset_in, checked);
    case Dtype::bfloat16:
      return route_cpu_typed<c10::BFloat16>(in, c, pol, coreset_in, checked);
    default:
      return route_cpu_typed<c10::Half>(in, c, pol, coreset_in, checked);
  }
}

// ---------------------------------------------------------------------------------
// CUDA: the raw launch on the current stream.

#ifdef COREROUTE_TORCH_CUDA
/// checked = true on CUDA: the value checks of docs/spec.md section 6 with ATen ops and one
/// read-back (not capturable). Messages match the reference's.
void check_values_cuda(const Inputs& in, const RouterConfig& c) {
  const Geometry& g = in.g;
  if (in.tokens && !g.token_major) {
    const at::Tensor t = in.tokens->cpu();
    check_tokens(t.data_ptr<int32_t>(), g);
  }
  if (in.bias) {
    const at::Tensor bad = at::logical_not(at::isfinite(*in.bias)).nonzero();
    if (bad.size(0) > 0) {
      const int64_t i = bad[0][0].item<int64_t>();
      fail("bias[" + std::to_string(i) + "]", (*in.bias)[i].item<float>(), "must be finite");
    }
  }
  if (g.T == 0 || g.B == 0) return;
  // Rows as [B, N, M] over the valid rows only (token-major: the T rows).
  at::Tensor x = g.token_major ? in.logits.unsqueeze(0) : in.logits;
  const at::Tensor invalid = at::logical_not(at::lt(x, std::numeric_limits<double>::infinity()));
  at::Tensor bad_row = invalid.any(-1);
  if (c.score == ScoreFunction::softmax) bad_row = at::logical_or(bad_row, at::isneginf(x).all(-1));
  if (in.tokens && !g.token_major) {
    const at::Tensor n = at::arange(g.N, in.tokens->options()).unsqueeze(0);
    bad_row = at::logical_and(bad_row, at::lt(n, in.tokens->unsqueeze(1)));
  }
  const at::Tensor first = bad_row.nonzero();
  if (first.size(0) == 0) return;
  const at::Tensor at_ = first[0].cpu();
  const int64_t row = g.token_major ? at_[1].item<int64_t>() : at_[0].item<int64_t>() * g.N + at_[1].item<int64_t>();
  const int64_t b = row / g.N, n = row % g.N;
  const at::Tensor values = (g.token_major ? in.logits[row] : in.logits[b][n]).to(at::kDouble).cpu();
  const std::string where = "logits[block " + std::to_string(b) + ", token " + std::to_string(n) + ", ";
  for (int64_t i = 0; i < g.M; ++i) {
    const double v = values[i].item<double>();
    if (coreroute::detail::invalid_logit(v))
      fail(where + "expert " + std::to_string(i) + "]", v, "NaN and +Inf logits are invalid");
  }
  fail(where + ":]", "-inf", "a softmax row of all -Inf logits is invalid");
}

void route_cuda(const Inputs& in, const RouterConfig& c, const AnyPolicy& pol, const at::Tensor* coreset_in,
                bool checked, bool with_dispatch, Outputs& o) {
  if (c.groups.n_group > kCudaMaxGroups)
    fail("groups.n_group", c.groups.n_group, "must be <= " + std::to_string(kCudaMaxGroups) + " on CUDA");
  if (checked) check_values_cuda(in, c);  // under route_impl's guard of the logits' device
  CudaLaunch l;
  l.dtype = dtype_of(in.logits);
  l.logits = in.logits.data_ptr();
  l.blocks = in.g.B;
  l.tokens = in.g.N;
  l.experts = in.g.M;
  l.stride_block = in.sb;
  l.stride_token = in.st;
  l.stride_expert = in.se;
  l.tokens_per_block = in.tokens ? in.tokens->data_ptr<int32_t>() : nullptr;
  l.params = params_of(c);
  l.params.bias = in.bias ? in.bias->data_ptr<float>() : nullptr;
  l.policy = pol;
  l.coreset_in = coreset_in ? reinterpret_cast<const uint8_t*>(coreset_in->data_ptr<bool>()) : nullptr;
  l.ids = o.ids.data_ptr<int32_t>();
  l.weights = o.weights.data_ptr<float>();
  l.coreset = reinterpret_cast<uint8_t*>(o.coreset.data_ptr<bool>());
  l.coreset_size = o.coreset_size.data_ptr<int32_t>();
  l.valid_tokens = nullptr;  // rows routed per block: not an output of the op
  l.invalid_tokens = o.invalid_tokens.data_ptr<int32_t>();
  if (with_dispatch) {
    l.num_used = o.num_used.data_ptr<int32_t>();
    l.used_experts = o.used_experts.data_ptr<int32_t>();
    l.counts = o.counts.data_ptr<int32_t>();
    l.offsets = o.offsets.data_ptr<int32_t>();
    l.token = o.token.data_ptr<int32_t>();
    l.slot = o.slot.data_ptr<int32_t>();
  }
  l.stream = c10::cuda::getCurrentCUDAStream(in.logits.device().index()).stream();
  if (in.g.B == 0) return;
  const int err = l.dtype == Dtype::float32    ? launch_float32(l)
                  : l.dtype == Dtype::bfloat16 ? launch_bfloat16(l)
                                               : launch_float16(l);
  if (err != 0)
    raise_runtime_error("coreroute: CUDA launch failed (num_experts = " + std::to_string(in.g.M) +
                        ", block tokens = " + std::to_string(in.g.N) + "): " + cuda_error_name(err));
}
#endif

// ---------------------------------------------------------------------------------
// The ops. Device: `kind` says which kernel this registration is.

enum class Kind { cpu, cuda, meta };

Result route_impl(Kind kind, const at::Tensor& logits, const at::Tensor* coreset_in, int64_t top_k,
                  const std::string& policy, const std::string& score, const Opt<at::Tensor>& bias, int64_t n_group,
                  int64_t topk_group, bool normalize, double scaling, Opt<int64_t> block_size,
                  const Opt<at::Tensor>& tokens, Opt<int64_t> k_local, Opt<int64_t> core, Opt<double> beta,
                  Opt<double> top_p, Opt<int64_t> min_experts, bool with_dispatch, bool checked, Opt<int64_t> capacity,
                  const std::string& group_score) {
  try {
    if (kind == Kind::meta) {
      const SymGeometry g = sym_geometry_of(logits, block_size, tokens.has_value(), experts_of(logits));
      const RouterConfig c = config_of(g.M, top_k, score, n_group, topk_group, group_score, normalize, scaling);
      policy_of(policy, c, k_local, core, beta, top_p, min_experts, capacity);
      dtype_of(logits);
      if (coreset_in)
        require(coreset_in->scalar_type() == at::kBool, "coreset.dtype", dtype_text(coreset_in->scalar_type()),
                "must be bool");
      return meta_result(g, top_k, with_dispatch, logits.options());
    }
    const Geometry g0 = geometry_of(logits, block_size, tokens.has_value());
    const RouterConfig c = config_of(g0.M, top_k, score, n_group, topk_group, group_score, normalize, scaling);
    const AnyPolicy pol = policy_of(policy, c, k_local, core, beta, top_p, min_experts, capacity);
    require(g0.N <= std::numeric_limits<int32_t>::max() / top_k, g0.token_major ? "block_size" : "logits.shape[1]",
            g0.N, "too large: N * top_k must fit int32 slot indices");
    if (coreset_in) {
      require(coreset_in->scalar_type() == at::kBool, "coreset.dtype", dtype_text(coreset_in->scalar_type()),
              "must be bool");
      if (!(coreset_in->dim() == 2 && coreset_in->size(0) == g0.B && coreset_in->size(1) == g0.M))
        fail("coreset.shape", Shape{coreset_in->sizes()},
             "must be [B, M] = [" + std::to_string(g0.B) + ", " + std::to_string(g0.M) + "]");
      require_device(*coreset_in, logits, "coreset");
    }
    const Inputs in = prepare(logits, g0, bias, tokens);
#ifdef COREROUTE_TORCH_CUDA
    c10::cuda::OptionalCUDAGuard guard;  // the allocations and the launch on the logits' device
    if (kind == Kind::cuda) guard.set_device(logits.device());
#endif
    Outputs o = allocate(in.g, top_k, with_dispatch, kind == Kind::cuda);
    at::Tensor mask;
    if (coreset_in) mask = coreset_in->contiguous();  // no copy when it already is
    if (kind == Kind::cpu) {
      const Routing R = route_cpu(
          in, c, pol, coreset_in ? reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>()) : nullptr, checked);
      write_cpu(R, with_dispatch, o);
    } else {
#ifdef COREROUTE_TORCH_CUDA
      route_cuda(in, c, pol, coreset_in ? &mask : nullptr, checked, with_dispatch, o);
#endif
    }
    return result_of(o, in.g, top_k);
  } catch (const coreroute::invalid_argument& e) {
    raise_value_error(e);
  }
}

template <Kind kind>
Result route_op(const at::Tensor& logits, int64_t top_k, const std::string& policy, const std::string& score,
                const Opt<at::Tensor>& bias, int64_t n_group, int64_t topk_group, bool normalize, double scaling,
                Opt<int64_t> block_size, const Opt<at::Tensor>& tokens, Opt<int64_t> k_local, Opt<int64_t> core,
                Opt<double> beta, Opt<double> top_p, Opt<int64_t> min_experts, bool with_dispatch, bool checked,
                Opt<int64_t> capacity, const std::string& group_score) {
  return route_impl(kind, logits, nullptr, top_k, policy, score, bias, n_group, topk_group, normalize, scaling,
                    block_size, tokens, k_local, core, beta, top_p, min_experts, with_dispatch, checked, capacity,
                    group_score);
}

template <Kind kind>
Result route_in_coreset_op(const at::Tensor& logits, const at::Tensor& coreset, int64_t top_k, const std::string& score,
                           const Opt<at::Tensor>& bias, int64_t n_group, int64_t topk_group, bool normalize,
                           double scaling, Opt<int64_t> block_size, const Opt<at::Tensor>& tokens, bool with_dispatch,
                           bool checked, const std::string& group_score) {
  static const std::string vanilla = "vanilla";
  return route_impl(kind, logits, &coreset, top_k, vanilla, score, bias, n_group, topk_group, normalize, scaling,
                    block_size, tokens, Opt<int64_t>{}, Opt<int64_t>{}, Opt<double>{}, Opt<double>{}, Opt<int64_t>{},
                    with_dispatch, checked, Opt<int64_t>{}, group_score);
}

// ---------------------------------------------------------------------------------
// metrics (CPU; the Python layer moves CUDA routings to the host).

constexpr int kMetricFields = 7;  // the BlockMetrics fields, in declaration order

/// ids int32 and weights of one shape, [T, K] or [B, N, K] like the logits; returns K.
int64_t check_routing_tensors(const at::Tensor& ids, const at::Tensor& weights, const Geometry& g,
                              const std::string& name) {
  require(ids.scalar_type() == at::kInt, name + "ids.dtype", dtype_text(ids.scalar_type()), "must be int32");
  require(ids.dim() == (g.token_major ? 2 : 3), name + "ids.dim()", ids.dim(),
          g.token_major ? "must be 2 ([T, K], like the logits)" : "must be 3 ([B, N, K], like the logits)");
  require(weights.sizes() == ids.sizes(), name + "weights.shape", Shape{weights.sizes()}, "must equal the ids' shape");
  require(at::isFloatingType(weights.scalar_type()), name + "weights.dtype", dtype_text(weights.scalar_type()),
          "must be a floating type");
  require(weights.device() == ids.device(), name + "weights.device", DeviceText{weights.device()},
          "must be the ids' device");
  const int64_t K = ids.size(-1);
  require(K >= 1, name + "ids.shape[-1]", K, "must be >= 1");
  return K;
}

/// A Routing of ids/weights [T, K] (cut by block_size) or [B, N, K]; ids checked.
Routing routing_of(const at::Tensor& ids_in, const at::Tensor& weights_in, const at::Tensor* coreset_size, int64_t M,
                   const Geometry& g, const int32_t* tokens, const std::string& name) {
  const int64_t K = check_routing_tensors(ids_in, weights_in, g, name);
  const at::Tensor ids = ids_in.contiguous(), weights = weights_in.to(at::kFloat).contiguous();
  Routing R;
  R.resize(g.B, g.N, int(M), int(K));
  const int64_t rows = g.token_major ? g.T : g.B * g.N;
  const int32_t* id = ids.data_ptr<int32_t>();
  for (int64_t i = 0; i < rows * K; ++i)
    if (!(id[i] >= -1 && id[i] < M))
      fail(name + "ids[" + std::to_string(i / K) + ", " + std::to_string(i % K) + "]", id[i],
           "must be -1 or in [0, M = " + std::to_string(M) + ")");
  std::copy(id, id + rows * K, R.ids.begin());
  std::copy(weights.data_ptr<float>(), weights.data_ptr<float>() + rows * K, R.weights.begin());
  for (int64_t b = 0; b < g.B; ++b)
    R.valid_tokens[size_t(b)] = tokens ? tokens[b] : int32_t(b == g.B - 1 ? g.last_block_rows : g.N);
  if (coreset_size) {
    require(coreset_size->dim() == 1 && coreset_size->size(0) == g.B, "coreset_size.shape",
            Shape{coreset_size->sizes()}, "must be [B] = [" + std::to_string(g.B) + "]");
    const at::Tensor cs = coreset_size->to(at::kInt).contiguous();
    std::copy(cs.data_ptr<int32_t>(), cs.data_ptr<int32_t>() + g.B, R.coreset_size.begin());
  }
  return R;
}

#ifdef COREROUTE_TORCH_CUDA
/// ids in [-1, M) (a read-back): the metrics kernel indexes counts by id.
void check_ids_cuda(const at::Tensor& ids, const std::string& name, int64_t M) {
  const at::Tensor bad = at::logical_or(at::lt(ids, -1), at::ge(ids, M)).nonzero();
  if (bad.size(0) == 0) return;
  const at::Tensor where = bad[0].cpu();
  std::string at_ = name + "[";
  at::Tensor value = ids;
  for (int64_t d = 0; d < where.size(0); ++d) {
    const int64_t i = where[d].item<int64_t>();
    at_ += (d ? ", " : "") + std::to_string(i);
    value = value.select(0, i);
  }
  fail(at_ + "]", value.item<int32_t>(), "must be -1 or in [0, M = " + std::to_string(M) + ")");
}

/// metrics on CUDA: coreroute::cuda::launch_metrics on the current stream. checked:
/// ids in [-1, M) and tokens in [0, N] (read back); unchecked, they must hold.
template <class CheckOutputs>
at::Tensor metrics_cuda(const at::Tensor& ids, const at::Tensor& weights, const at::Tensor& coreset_size,
                        const at::Tensor& ref_ids, const at::Tensor& ref_weights, int64_t M, const Geometry& g,
                        const Opt<at::Tensor>& tokens, double expert_bytes, const Opt<at::Tensor>& outputs,
                        bool checked, const CheckOutputs& check_outputs) {
  const int64_t K = check_routing_tensors(ids, weights, g, ""),
                K0 = check_routing_tensors(ref_ids, ref_weights, g, "reference.");
  require(coreset_size.dim() == 1 && coreset_size.size(0) == g.B, "coreset_size.shape", Shape{coreset_size.sizes()},
          "must be [B] = [" + std::to_string(g.B) + "]");
  require_device(coreset_size, ids, "coreset_size");
  require_device(ref_ids, ids, "reference.ids");
  if (tokens) {
    require(tokens->dim() == 1 && tokens->size(0) == g.B, "tokens.shape", Shape{tokens->sizes()},
            "must be [B] = [" + std::to_string(g.B) + "]");
    require_device(*tokens, ids, "tokens");
  }
  if (outputs) require_device(*outputs, ids, "outputs");
  const c10::cuda::CUDAGuard guard(ids.device());
  at::Tensor valid = tokens ? tokens->to(at::kInt).contiguous() : at::full({g.B}, g.N, ids.options().dtype(at::kInt));
  if (!tokens && g.B > 0 && g.last_block_rows != g.N) valid.narrow(0, g.B - 1, 1).fill_(g.last_block_rows);
  const at::Tensor a = ids.contiguous(), a0 = ref_ids.contiguous(), w = weights.to(at::kFloat).contiguous(),
                   w0 = ref_weights.to(at::kFloat).contiguous(), cs = coreset_size.to(at::kInt).contiguous();
  if (checked) {
    if (tokens) {
      const at::Tensor host = valid.cpu();
      check_tokens(host.data_ptr<int32_t>(), g);
    }
    check_ids_cuda(a, "ids", M);
    check_ids_cuda(a0, "reference.ids", M);
  }
  CudaMetrics m;
  at::Tensor y;
  if (outputs) {
    const int64_t lead = check_outputs();
    y = outputs->to(at::kFloat);
    if (y.stride(-1) != 1) y = y.contiguous();
    m.outputs = y.data_ptr<float>();
    m.out_dim = int(y.size(-1));
    m.out_stride_expert = y.stride(lead);
    m.out_stride_token = y.stride(lead - 1);
    m.out_stride_block = g.token_major ? y.stride(0) * g.N : y.stride(0);
  }
  at::Tensor out = at::empty({g.B, 7}, ids.options().dtype(at::kDouble));
  m.blocks = g.B;
  m.tokens = g.N;
  m.experts = int(M);
  m.ids = a.data_ptr<int32_t>();
  m.ref_ids = a0.data_ptr<int32_t>();
  m.weights = w.data_ptr<float>();
  m.ref_weights = w0.data_ptr<float>();
  m.valid_tokens = valid.data_ptr<int32_t>();
  m.coreset_size = cs.data_ptr<int32_t>();
  m.top_k = int(K);
  m.ref_top_k = int(K0);
  m.expert_bytes = expert_bytes;
  m.out = out.data_ptr<double>();
  m.stream = c10::cuda::getCurrentCUDAStream(ids.device().index()).stream();
  const int err = launch_metrics(m);
  if (err != 0)
    raise_runtime_error("coreroute: CUDA metrics launch failed (num_experts = " + std::to_string(M) +
                        "): " + cuda_error_name(err));
  return out;
}
#endif

template <Kind kind>
at::Tensor metrics_op(const at::Tensor& ids, const at::Tensor& weights, const at::Tensor& coreset_size,
                      const at::Tensor& ref_ids, const at::Tensor& ref_weights, int64_t num_experts,
                      Opt<int64_t> block_size, const Opt<at::Tensor>& tokens, double expert_bytes,
                      const Opt<at::Tensor>& outputs, bool checked) {
  try {
    require(num_experts >= 1, "num_experts", num_experts, "must be >= 1");
    require(ids.dim() == 2 || ids.dim() == 3, "ids.dim()", ids.dim(), "must be 2 ([T, K]) or 3 ([B, N, K])");
    if (kind == Kind::meta) {
      const SymGeometry g = sym_geometry_of(ids, block_size, tokens.has_value(), num_experts);
      return empty_sym({g.B, c10::SymInt(kMetricFields)}, ids.options().dtype(at::kDouble));
    }
    // The geometry of the routed logits, from the ids' leading axes.
    const at::Tensor shape_of =
        ids.dim() == 2 ? at::empty({ids.size(0), num_experts}, ids.options().device(at::kMeta))
                       : at::empty({ids.size(0), ids.size(1), num_experts}, ids.options().device(at::kMeta));
    Geometry g = geometry_of(shape_of, block_size, tokens.has_value());
    require(
        ref_ids.dim() == ids.dim() && ref_ids.sizes().slice(0, ids.dim() - 1) == ids.sizes().slice(0, ids.dim() - 1),
        "reference.ids.shape", Shape{ref_ids.sizes()}, "must have the routing's leading shape");
    require(std::isfinite(expert_bytes) && expert_bytes >= 0, "expert_bytes", expert_bytes, "must be finite and >= 0");
    const auto check_outputs = [&] {
      const int64_t lead = g.token_major ? 1 : 2;
      require(outputs->dim() == lead + 2 &&
                  outputs->sizes().slice(0, size_t(lead)) == ids.sizes().slice(0, size_t(lead)) &&
                  outputs->size(lead) == num_experts,
              "outputs.shape", Shape{outputs->sizes()}, g.token_major ? "must be [T, M, d]" : "must be [B, N, M, d]");
      return lead;
    };
#ifdef COREROUTE_TORCH_CUDA
    if (kind == Kind::cuda)
      return metrics_cuda(ids, weights, coreset_size, ref_ids, ref_weights, num_experts, g, tokens, expert_bytes,
                          outputs, checked, check_outputs);
#endif
    (void)checked;  // the host path checks every value
    at::Tensor t;
    if (tokens) {
      require(tokens->dim() == 1 && tokens->size(0) == g.B, "tokens.shape", Shape{tokens->sizes()},
              "must be [B] = [" + std::to_string(g.B) + "]");
      t = tokens->to(at::kInt).contiguous();
      check_tokens(t.data_ptr<int32_t>(), g);
    }
    const int32_t* tp = tokens ? t.data_ptr<int32_t>() : nullptr;
    const Routing R = routing_of(ids, weights, &coreset_size, num_experts, g, tp, "");
    const Routing R0 = routing_of(ref_ids, ref_weights, nullptr, num_experts, g, tp, "reference.");
    at::Tensor y;
    ExpertOutputsView view;
    if (outputs) {
      const int64_t lead = check_outputs();
      y = outputs->to(at::kFloat).contiguous();
      view.data = y.data_ptr<float>();
      view.dim = int(y.size(-1));
      view.stride_expert = y.stride(lead);
      view.stride_token = y.stride(lead - 1);
      view.stride_block = g.token_major ? y.stride(0) * g.N : y.stride(0);
    }
    const std::vector<BlockMetrics> m = reference::metrics(R, R0, expert_bytes, outputs ? &view : nullptr);
    at::Tensor out = at::empty({g.B, kMetricFields}, ids.options().dtype(at::kDouble).device(at::kCPU));
    double* o = out.data_ptr<double>();
    for (size_t b = 0; b < m.size(); ++b) {
      const BlockMetrics& x = m[b];
      const double f[kMetricFields] = {x.unique_experts,
                                       x.coreset_size,
                                       x.topk_hit_rate,
                                       x.gate_reconstruction_loss,
                                       x.output_reconstruction_loss,
                                       x.hit_cosine,
                                       x.expert_bytes_read};
      std::copy(f, f + kMetricFields, o + b * kMetricFields);
    }
    return out;
  } catch (const coreroute::invalid_argument& e) {
    raise_value_error(e);
  }
}

}  // namespace
}  // namespace coreroute::torch_ops

// The 11 outputs of route and route_in_coreset; the dispatch fields have a leading
// axis of 0 when with_dispatch is false.
#define COREROUTE_ROUTE_RESULT                                                                \
  "(Tensor ids, Tensor weights, Tensor coreset, Tensor coreset_size, Tensor invalid_tokens, " \
  "Tensor num_used, Tensor used_experts, Tensor counts, Tensor offsets, Tensor token, Tensor slot)"

TORCH_LIBRARY(coreroute, m) {
  m.def(
      "route(Tensor logits, int top_k, str policy='vanilla', str score='softmax', Tensor? bias=None, "
      "int n_group=0, int topk_group=0, bool normalize=False, float scaling=1.0, int? block_size=None, "
      "Tensor? tokens=None, int? k_local=None, int? core=None, float? beta=None, float? top_p=None, "
      "int? min_experts=None, bool with_dispatch=False, bool checked=True, int? capacity=None, "
      "str group_score='top2') -> " COREROUTE_ROUTE_RESULT);
  m.def(
      "route_in_coreset(Tensor logits, Tensor coreset, int top_k, str score='softmax', Tensor? bias=None, "
      "int n_group=0, int topk_group=0, bool normalize=False, float scaling=1.0, int? block_size=None, "
      "Tensor? tokens=None, bool with_dispatch=False, bool checked=True, str group_score='top2') "
      "-> " COREROUTE_ROUTE_RESULT);
  m.def(
      "metrics(Tensor ids, Tensor weights, Tensor coreset_size, Tensor ref_ids, Tensor ref_weights, "
      "int num_experts, int? block_size=None, Tensor? tokens=None, float expert_bytes=0.0, "
      "Tensor? outputs=None, bool checked=True) -> Tensor");
}

namespace ops = coreroute::torch_ops;

TORCH_LIBRARY_IMPL(coreroute, CPU, m) {
  m.impl("route", &ops::route_op<ops::Kind::cpu>);
  m.impl("route_in_coreset", &ops::route_in_coreset_op<ops::Kind::cpu>);
  m.impl("metrics", &ops::metrics_op<ops::Kind::cpu>);
}

TORCH_LIBRARY_IMPL(coreroute, Meta, m) {
  m.impl("route", &ops::route_op<ops::Kind::meta>);
  m.impl("route_in_coreset", &ops::route_in_coreset_op<ops::Kind::meta>);
  m.impl("metrics", &ops::metrics_op<ops::Kind::meta>);
}

// No op has a gradient (ids, masks; weights are routing outputs, not trained
// through here). torch 1.13 dispatches meta tensors through AutogradMeta first, so
// the ops fall through Autograd to the backend kernels.
TORCH_LIBRARY_IMPL(coreroute, Autograd, m) {
  m.impl("route", torch::CppFunction::makeFallthrough());
  m.impl("route_in_coreset", torch::CppFunction::makeFallthrough());
  m.impl("metrics", torch::CppFunction::makeFallthrough());
}

#ifdef COREROUTE_TORCH_CUDA
TORCH_LIBRARY_IMPL(coreroute, CUDA, m) {
  m.impl("route", &ops::route_op<ops::Kind::cuda>);
  m.impl("route_in_coreset", &ops::route_in_coreset_op<ops::Kind::cuda>);
  m.impl("metrics", &ops::metrics_op<ops::Kind::cuda>);
}
#endif
