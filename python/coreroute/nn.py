"""coreroute.nn.CoresetGate: the top-k of a DeepSeek-V3 / LLaDA2.0-style gate replaced by
block-level routing.

Such a gate is a router nn.Linear(hidden, M, bias=False), a score function (softmax or
sigmoid), an optional selection bias (e_score_correction_bias), optional group-limited
top-k, weight normalisation and scaling, returning (topk_idx, topk_weight) per token.
CoresetGate keeps the router and those settings and lets a coreset policy choose, per
block of `block_size` consecutive tokens of a sequence, the experts the block may use.
"""
import torch
import torch.nn.functional as F

import coreroute


class CoresetGate(torch.nn.Module):
    """gate(hidden [T, H] or [batch, seq, H]) -> (topk_idx [tokens, K], topk_weight [tokens, K]).

    router: the model's nn.Linear(H, M) (shared, not copied).
    bias: the selection bias [M] (a tensor or parameter, e.g. the gate's
      e_score_correction_bias), or None.
    block_size: tokens per block; [T, H] input is one sequence, [batch, seq, H] is
      blocked per sequence (a partial last block per sequence when seq % block_size).
    pad_expert: None keeps the -1 padding of slots a token cannot fill (docs/spec.md section 3);
      an expert id maps them to that expert with weight 0 (coreroute.pad_ids), for
      consumers that need K valid ids.
    index_dtype: of topk_idx (int64 like torch.topk, as one_hot and index_add want).
    checked: value checks of the op (off by default: a host read-back on CUDA).
    policy and its parameters (k_local, core, beta, top_p, min_experts): as coreroute.route.
    """

    def __init__(self, router, *, top_k, block_size, policy="vanilla", score="softmax", bias=None, groups=None,
                 normalize=False, scaling=1.0, pad_expert=None, index_dtype=torch.int64, checked=False,
                 **policy_params):
        super().__init__()
        self.router = router
        self.bias = bias
        self.top_k, self.block_size = int(top_k), int(block_size)
        self.pad_expert, self.index_dtype = pad_expert, index_dtype
        self.options = dict(policy=policy, score=score, groups=groups, normalize=normalize, scaling=scaling,
                            checked=checked, **policy_params)

    def forward(self, hidden):
        return _route_gate(self.router(hidden), self.bias, self.top_k, self.block_size, self.pad_expert,
                           self.index_dtype, self.options)


def _route_gate(logits, bias, top_k, block_size, pad_expert, index_dtype, options):
    """The gate's routing of router logits [T, M] or [batch, seq, M]. A leaf for
    torch.fx (torch.fx.wrap below): its layout branch is on the input's rank."""
    if logits.dim() == 2:
        r = coreroute.route(logits, top_k=top_k, bias=bias, block_size=block_size, **options)
        ids, weights = r.ids, r.weights
    else:
        ids, weights = _route_sequences(logits, bias, top_k, block_size, options)
    if pad_expert is not None:
        ids, weights = coreroute.pad_ids(ids, weights, pad_expert)
    return ids.to(index_dtype), weights


def _route_sequences(logits, bias, top_k, block_size, options):
    """[batch, seq, M]: blocks never span two sequences. Pads seq to whole blocks
    and gives the op the last block's length, so shapes stay static."""
    batch, seq, M = logits.shape
    bs = block_size
    nb = (seq + bs - 1) // bs
    tokens = None
    if nb * bs != seq:
        logits = F.pad(logits, (0, 0, 0, nb * bs - seq))
        tokens = torch.full((batch, nb), bs, dtype=torch.int32, device=logits.device)
        tokens[:, nb - 1] = seq - (nb - 1) * bs
        tokens = tokens.view(batch * nb)
    r = coreroute.route(logits.view(batch * nb, bs, M), top_k=top_k, bias=bias, tokens=tokens, **options)
    ids = r.ids.view(batch, nb * bs, top_k)[:, :seq].reshape(batch * seq, top_k)
    weights = r.weights.view(batch, nb * bs, top_k)[:, :seq].reshape(batch * seq, top_k)
    return ids, weights


torch.fx.wrap("_route_gate")
