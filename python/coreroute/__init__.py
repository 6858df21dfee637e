"""coreroute: block-level (coreset) MoE routing as PyTorch ops.

    import coreroute
    r = coreroute.route(logits, top_k=8, policy="vote", beta=0.4, block_size=32)
    r.ids       # int32 [..., K], -1 pads slots a token could not fill
    r.weights   # float32 [..., K], 0 where the id is -1
    r.coreset   # bool [B, M]

The ops live in torch.ops.coreroute (route, route_in_coreset, metrics): a CPU kernel
(the reference backend), a CUDA kernel (the CUDA backend's raw launch on the current
stream; capturable in a CUDA graph with checked=False) and a meta kernel (shapes only:
torch.compile, torch.fx, meta tensors). Argument names mirror the CLI's flags
(docs/cli.md). docs/python.md has the details.
"""
import os as _os
from typing import NamedTuple, Optional

import torch

__all__ = ["route", "route_in_coreset", "metrics", "Routing", "Metrics", "METRIC_FIELDS", "pad_ids", "POLICIES", "nn"]

_here = _os.path.dirname(_os.path.abspath(__file__))
torch.ops.load_library(_os.path.join(_here, "libcoreroute_torch.so"))
_ops = torch.ops.coreroute
# The ops' one overload each, looked up once: a call then skips the namespace and packet
# attribute lookups and the overload resolution (host time per call, see
# python/bench/torch_ops_bench.py). OpOverloads, so torch.compile and torch.fx see the op.
_route_op = _ops.route.default
_route_in_coreset_op = _ops.route_in_coreset.default
_metrics_op = _ops.metrics.default

POLICIES = ("vanilla", "union", "vote", "blockdist", "blockmax")


class Routing(NamedTuple):
    """What route / route_in_coreset return.

    Logits [T, M] (with block_size) give ids/weights [T, K]; logits [B, N, M] give
    [B, N, K]. Per block: coreset [B, M] (bool), coreset_size [B], invalid_tokens [B]
    (rows with NaN/+Inf logits or all -Inf softmax rows; non-zero only with
    checked=False, where such rows get ids -1 and weight 0).
    With with_dispatch=True, the dispatch layout per block b (None otherwise):
    num_used [B], used_experts [B, M] (first num_used valid, rest -1), counts [B, M],
    offsets [B, M+1], token and slot [B, N*K]: the assignments in expert-major order;
    token is the row inside the block (global row = b * block_size + token).
    """
    ids: torch.Tensor
    weights: torch.Tensor
    coreset: torch.Tensor
    coreset_size: torch.Tensor
    invalid_tokens: torch.Tensor
    num_used: Optional[torch.Tensor] = None
    used_experts: Optional[torch.Tensor] = None
    counts: Optional[torch.Tensor] = None
    offsets: Optional[torch.Tensor] = None
    token: Optional[torch.Tensor] = None
    slot: Optional[torch.Tensor] = None


def _groups(groups):
    """groups=None or (n_group, topk_group), as the CLI's --groups n_group:topk_group."""
    if groups is None:
        return 0, 0
    try:
        n_group, topk_group = groups
        return int(n_group), int(topk_group)
    except (TypeError, ValueError):
        raise ValueError(f"coreroute: groups = {groups!r}: must be None or (n_group, topk_group)") from None


def _result(out, with_dispatch):
    if with_dispatch:
        return Routing(*out)
    return Routing(out[0], out[1], out[2], out[3], out[4])


def route(logits, *, top_k, policy="vanilla", score="softmax", bias=None, groups=None, group_score="top2",
          normalize=False, scaling=1.0, block_size=None, tokens=None, k_local=None, core=None, beta=None,
          top_p=None, min_experts=None, capacity=None, with_dispatch=False, checked=True):
    """Routes blocks of tokens (Stage 1: the block's coreset; Stage 2: each token's top-K in it).

    logits: [T, M] with block_size (blocks of block_size consecutive rows, the last one
      may be partial), or [B, N, M] with optional tokens [B] (valid rows per block).
      float32, bfloat16 or float16, any strides.
    policy: "vanilla" | "union" (k_local) | "vote" (core or beta) | "blockdist"
      (top_p = 0.6, min_experts = min(16, M) by default) | "blockmax" (capacity or beta:
      the experts with the largest maximum of score + bias over the block, SGLang's block top-K).
    bias [M]: added to the scores for selection only. groups: (n_group, topk_group);
      group_score: "top2" (a group's two best, DeepSeek-V3) or "max" (its best, DeepSeek-V2).
    checked: also check the values (NaN/+Inf logits, tokens in [0, N], finite bias);
      on CUDA this reads back to the host, so pass checked=False inside a CUDA graph.
    Bad input raises ValueError naming the parameter and its value.
    """
    n_group, topk_group = (0, 0) if groups is None else _groups(groups)
    out = _route_op(logits, top_k, policy, score, bias, n_group, topk_group, normalize, float(scaling), block_size,
                    tokens, k_local, core, None if beta is None else float(beta), None if top_p is None else float(top_p),
                    min_experts, with_dispatch, checked, capacity, group_score)
    return _result(out, with_dispatch)


def route_in_coreset(logits, coreset, *, top_k, score="softmax", bias=None, groups=None, group_score="top2",
                     normalize=False, scaling=1.0, block_size=None, tokens=None, with_dispatch=False, checked=True):
    """Stage 2 alone: routes every token into the given coreset mask, bool [B, M]."""
    n_group, topk_group = (0, 0) if groups is None else _groups(groups)
    out = _route_in_coreset_op(logits, coreset, top_k, score, bias, n_group, topk_group, normalize, float(scaling),
                               block_size, tokens, with_dispatch, checked, group_score)
    return _result(out, with_dispatch)


METRIC_FIELDS = ("unique_experts", "coreset_size", "topk_hit_rate", "gate_reconstruction_loss",
                 "output_reconstruction_loss", "hit_cosine", "expert_bytes_read")


class Metrics(NamedTuple):
    """Per-block metrics [B, 7] (float64, columns METRIC_FIELDS) and their mean over blocks
    (each block weighs the same; an empty trace gives the metrics of an empty block)."""
    per_block: torch.Tensor
    mean: dict


def metrics(routing, reference, *, block_size=None, tokens=None, expert_bytes=0.0, outputs=None, checked=True):
    """Metrics of docs/spec.md section 5 of `routing` against `reference` (e.g. vanilla routing),
    both Routing results of the same logits layout, on their device (CPU: the reference
    backend; CUDA: the backend's metrics kernel). outputs: expert outputs [B, N, M, d] (or
    [T, M, d]) for the output reconstruction loss; without them it is NaN. checked (CUDA):
    ids and tokens are checked with a read-back; the host path always checks.
    `mean` is computed on the host (a synchronisation); `per_block` stays on the device."""
    per_block = _metrics_op(routing.ids, routing.weights, routing.coreset_size, reference.ids, reference.weights,
                            routing.coreset.shape[-1], block_size, tokens, float(expert_bytes), outputs, checked)
    if per_block.shape[0] == 0:
        mean = dict(zip(METRIC_FIELDS, (0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0)))
    else:
        mean = dict(zip(METRIC_FIELDS, per_block.mean(0).tolist()))
    return Metrics(per_block, mean)


def pad_ids(ids, weights, fill_expert=0):
    """Maps the -1 padding to a real expert with weight 0, for consumers that expect K
    valid ids (one_hot dispatch, fused-MoE kernels): ids -> fill_expert where -1, the
    weights there are 0 already. Returns (ids, weights); the token's output is unchanged
    because the filled slot's weight is 0 (it only costs that expert's work)."""
    pad = ids < 0
    return torch.where(pad, torch.full_like(ids, fill_expert), ids), weights.masked_fill(pad, 0.0)


from . import nn  # noqa: E402  (needs the ops loaded above)
