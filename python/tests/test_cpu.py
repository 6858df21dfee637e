"""The CPU op against the NumPy oracle (oracle.py, from the spec), both layouts, dtypes,
strides, bad input, meta tensors, torch.jit.trace and torch.fx."""
import numpy as np
import pytest
import torch

import coreroute
import oracle

POLICY_PARAMS = {
    "vanilla": [{}],
    "union": [dict(k_local=1), dict(k_local=2)],
    "vote": [dict(core=3), dict(beta=0.4)],
    "blockdist": [dict(top_p=0.6, min_experts=2), dict(top_p=0.3), dict(top_p=0.9, min_experts=0)],
    "blockmax": [dict(capacity=3), dict(beta=0.4), dict(capacity=1)],
}
# (M, K, groups, bias, normalize, scaling): small and model-like routers.
CONFIGS = [
    (8, 2, None, False, False, 1.0),
    (16, 4, (4, 2), True, True, 2.5),
    (64, 8, None, True, False, 1.0),
    (32, 4, (8, 3), False, True, 1.0),
    (32, 4, (8, 3, "max"), True, True, 1.0),  # DeepSeek-V2 group scores
]


def case(seed, M, N=7, B=3, dtype=torch.float32, ties=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N, M, generator=g) * 2
    if ties:  # coarse values: exact ties everywhere, so the tie rule decides
        x = (x * 2).round() / 2
    return x.to(dtype)


def params_for(policy, p, K):
    p = dict(p)
    if policy == "union":
        p["k_local"] = min(p["k_local"], K)
    return p


def oracle_params(policy, p):
    return {k: v for k, v in p.items()}


def check(r, x, kw, tokens=None, coreset_in=None):
    """r (op result on [B, N, M] x) equals the oracle: ids and coreset exactly, weights in tolerance."""
    okw = dict(kw)
    okw.pop("bias_t", None)
    want_ids, want_w, want_cs = oracle.route(x.double().numpy(), tokens=tokens, coreset_in=coreset_in, **okw)
    np.testing.assert_array_equal(r.coreset.numpy(), want_cs)
    np.testing.assert_array_equal(r.ids.numpy(), want_ids)
    assert r.ids.dtype == torch.int32 and r.weights.dtype == torch.float32 and r.coreset.dtype == torch.bool
    assert oracle.close(r.weights.numpy(), want_w).all()
    np.testing.assert_array_equal(r.coreset_size.numpy(), want_cs.sum(1))
    assert (r.invalid_tokens == 0).all()


def kwargs_of(policy, p, M, K, groups, bias, normalize, scaling, seed):
    group_score = groups[2] if groups and len(groups) > 2 else "top2"
    groups = groups[:2] if groups else groups
    kw = dict(top_k=K, policy=policy, score="softmax", groups=groups, group_score=group_score, normalize=normalize,
              scaling=scaling, **params_for(policy, p, K))
    if bias:
        kw["bias"] = (torch.randn(M, generator=torch.Generator().manual_seed(seed + 99)) * 0.1).numpy()
    return kw


def op_kwargs(kw):
    out = dict(kw)
    if out.get("bias") is not None:
        out["bias"] = torch.from_numpy(np.asarray(out["bias"], np.float32))
    return out


@pytest.mark.parametrize("score", ["softmax", "sigmoid"])
@pytest.mark.parametrize("policy", list(POLICY_PARAMS))
def test_cpu_op_equals_oracle(policy, score):
    cases = 0
    for ci, (M, K, groups, bias, normalize, scaling) in enumerate(CONFIGS):
        for p in POLICY_PARAMS[policy]:
            if policy == "vote" and p.get("core", 0) > M:
                continue
            for seed in range(8):
                kw = kwargs_of(policy, p, M, K, groups, bias, normalize, scaling, 1000 * ci + seed)
                kw["score"] = score
                x = case(1000 * ci + seed, M, ties=seed % 3 == 2)
                if bias:  # the oracle sees the float32 bias the op sees
                    kw["bias"] = np.asarray(kw["bias"], np.float32).astype(np.float64)
                tokens = None
                if seed % 2:
                    tokens = np.array([7, 0, 4][: x.shape[0]])
                r = coreroute.route(x, tokens=None if tokens is None else torch.tensor(tokens), **op_kwargs(kw))
                check(r, x, kw, tokens=tokens)
                cases += 1
    assert cases >= 32


@pytest.mark.parametrize("policy", list(POLICY_PARAMS))
def test_token_major_partial_last_block(policy):
    M, K, bs, T = 16, 4, 5, 23  # blocks of 5, the last one of 3 rows
    p = params_for(policy, POLICY_PARAMS[policy][0], K)
    flat = torch.randn(T, M, generator=torch.Generator().manual_seed(3))
    r = coreroute.route(flat, top_k=K, policy=policy, block_size=bs, **p)
    assert r.ids.shape == (T, K) and r.weights.shape == (T, K) and r.coreset.shape == (5, M)
    padded = torch.zeros(5 * bs, M)
    padded[:T] = flat
    x = padded.view(5, bs, M)
    want_ids, want_w, want_cs = oracle.route(x.double().numpy(), top_k=K, policy=policy, tokens=[5, 5, 5, 5, 3], **p)
    np.testing.assert_array_equal(r.coreset.numpy(), want_cs)
    np.testing.assert_array_equal(r.ids.numpy(), want_ids.reshape(-1, K)[:T])
    assert oracle.close(r.weights.numpy(), want_w.reshape(-1, K)[:T]).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("policy", list(POLICY_PARAMS))
def test_half_precision_inputs(dtype, policy):
    M, K = 32, 4
    p = params_for(policy, POLICY_PARAMS[policy][-1], K)
    for seed in range(4):
        x = case(seed, M, N=9, dtype=dtype)
        kw = dict(top_k=K, policy=policy, **p)
        r = coreroute.route(x, **kw)
        check(r, x.float(), kw)  # the oracle on the upcast values: bf16 has exact ties
        np.testing.assert_array_equal(r.ids.numpy(), coreroute.route(x.float(), **kw).ids.numpy())


def test_strided_inputs_equal_contiguous():
    M, K = 16, 4
    base = torch.randn(3, M, 9, generator=torch.Generator().manual_seed(5))
    x = base.transpose(1, 2)  # [3, 9, M], expert stride 9
    assert not x.is_contiguous()
    kw = dict(top_k=K, policy="vote", beta=0.5)
    want = coreroute.route(x.contiguous(), **kw)
    for view in (x, torch.randn(3, 18, M)[:, ::2].copy_(x)):
        got = coreroute.route(view, **kw)
        assert torch.equal(got.ids, want.ids) and torch.equal(got.weights, want.weights)
        assert torch.equal(got.coreset, want.coreset)
    check(want, x, kw)
    # token-major, a column slice (row stride 2M) and an expanded (stride 0) input
    flat = torch.randn(20, 2 * M)[:, :M]
    got = coreroute.route(flat, top_k=K, block_size=4)
    assert torch.equal(got.ids, coreroute.route(flat.contiguous(), top_k=K, block_size=4).ids)
    row = torch.randn(1, 1, M).expand(2, 5, M)
    got = coreroute.route(row, top_k=K)
    assert torch.equal(got.ids, coreroute.route(row.contiguous(), top_k=K).ids)


@pytest.mark.parametrize("groups", [None, (4, 2)])
def test_route_in_coreset_equals_oracle(groups):
    M, K = 16, 4
    g = torch.Generator().manual_seed(11)
    x = torch.randn(4, 6, M, generator=g)
    mask = torch.rand(4, M, generator=g) < 0.3  # some blocks with fewer than K experts
    mask[0] = False
    mask[1, :2] = True
    r = coreroute.route_in_coreset(x, mask, top_k=K, groups=groups, normalize=True)
    check(r, x, dict(top_k=K, groups=groups, normalize=True), coreset_in=mask.numpy())
    assert (r.ids[0] == -1).all() and (r.weights[0] == 0).all()


def test_dispatch_layout_equals_oracle():
    M, K = 16, 4
    x = torch.randn(3, 8, M, generator=torch.Generator().manual_seed(2))
    tokens = torch.tensor([8, 5, 0])
    r = coreroute.route(x, top_k=K, policy="union", k_local=1, tokens=tokens, with_dispatch=True)
    want = oracle.dispatch(r.ids.numpy(), tokens.numpy(), M)
    N = x.shape[1]
    for b, d in enumerate(want):
        T = len(d["used"])
        assert r.num_used[b] == T
        assert r.used_experts[b, :T].tolist() == d["used"] and (r.used_experts[b, T:] == -1).all()
        assert r.counts[b, :T].tolist() == d["counts"] and (r.counts[b, T:] == 0).all()
        assert r.offsets[b].tolist() == list(np.cumsum([0] + d["counts"])) + [sum(d["counts"])] * (M - T)
        n = len(d["token"])
        assert r.token[b, :n].tolist() == d["token"] and r.slot[b, :n].tolist() == d["slot"]
        assert (r.token[b, n:] == -1).all() and r.token.shape == (3, N * K)
    assert coreroute.route(x, top_k=K).num_used is None  # off by default


def test_metrics_equal_a_direct_statement():
    M, K = 16, 4
    x = torch.randn(3, 8, M, generator=torch.Generator().manual_seed(4))
    R = coreroute.route(x, top_k=K, policy="vote", core=5)
    R0 = coreroute.route(x, top_k=K)
    m = coreroute.metrics(R, R0, expert_bytes=10.0)
    assert m.per_block.shape == (3, 7) and m.per_block.dtype == torch.float64
    for b in range(3):
        ids, ids0 = R.ids[b].numpy(), R0.ids[b].numpy()
        hits = sum(len(set(ids[n][ids[n] >= 0]) & set(ids0[n])) for n in range(8))
        unique = len(set(ids[ids >= 0].tolist()))
        g = np.zeros((8, M))
        g0 = np.zeros((8, M))
        for n in range(8):
            for j in range(K):
                if ids[n, j] >= 0:
                    g[n, ids[n, j]] += R.weights[b, n, j].item()
                g0[n, ids0[n, j]] += R0.weights[b, n, j].item()
        row = m.per_block[b].numpy()
        assert row[0] == unique and row[1] == 5 and row[6] == 10.0 * unique
        assert oracle.close(row[2], hits / (8 * K)) and oracle.close(row[3], ((g - g0) ** 2).sum() / 8)
        assert np.isnan(row[4])  # no expert outputs given
    assert oracle.close(m.mean["topk_hit_rate"], m.per_block[:, 2].mean().item())
    y = torch.randn(3, 8, M, 2)
    assert torch.isfinite(coreroute.metrics(R, R0, outputs=y).per_block[:, 4]).all()


BAD = [
    (dict(top_k=9), "top_k = 9"),
    (dict(top_k=2, policy="best"), "policy = 'best'"),
    (dict(top_k=2, score="relu"), "score = 'relu'"),
    (dict(top_k=2, policy="union"), "k_local = None"),
    (dict(top_k=2, policy="union", k_local=3), "k_local = 3"),
    (dict(top_k=2, policy="vote"), "core/beta"),
    (dict(top_k=2, policy="vote", core=9), "core = 9"),
    (dict(top_k=2, policy="vote", beta=1.5), "beta = 1.5"),
    (dict(top_k=2, policy="blockdist", top_p=0.0), "top_p = 0"),
    (dict(top_k=2, policy="blockdist", min_experts=9), "min_experts = 9"),
    (dict(top_k=2, k_local=1), "k_local = 1: is only for policy='union'"),
    (dict(top_k=2, policy="blockmax"), "capacity/beta"),
    (dict(top_k=2, policy="blockmax", capacity=9), "capacity = 9"),
    (dict(top_k=2, policy="blockmax", beta=0.0), "beta = 0"),
    (dict(top_k=2, policy="vote", core=2, capacity=2), "capacity = 2: is only for policy='blockmax'"),
    (dict(top_k=2, groups=(3, 1)), "groups.n_group = 3"),
    (dict(top_k=2, groups=(4, 5)), "groups.topk_group = 5"),
    (dict(top_k=2, scaling=0.0), "scaling = 0"),
    (dict(top_k=2, bias=torch.zeros(7)), "bias.shape"),
    (dict(top_k=2, tokens=torch.tensor([1, 9])), "tokens[1] = 9"),
    (dict(top_k=2, tokens=torch.tensor([1.0, 2.0])), "tokens.dtype"),
    (dict(top_k=2, tokens=torch.tensor([1, 2, 3])), "tokens.shape"),
    (dict(top_k=2, block_size=4), "block_size = 4"),
    (dict(top_k=2, bias=torch.tensor([0, 0, 0, 0, 0, 0, 0, float("inf")])), "bias[7] = inf"),
]


@pytest.mark.parametrize("kwargs,message", BAD, ids=[m for _, m in BAD])
def test_bad_input_raises_value_error_naming_the_parameter(kwargs, message):
    x = torch.randn(2, 4, 8)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        coreroute.route(x, **kwargs)


def test_bad_tensors():
    x = torch.randn(2, 4, 8)
    cases = [
        (lambda: coreroute.route(x.int(), top_k=2), "logits.dtype"),
        (lambda: coreroute.route(torch.randn(8), top_k=2), "logits.dim"),
        (lambda: coreroute.route(torch.randn(5, 8), top_k=2), "block_size = None"),
        (lambda: coreroute.route(torch.randn(5, 8), top_k=2, block_size=0), "block_size = 0"),
        (lambda: coreroute.route(torch.randn(5, 8), top_k=2, block_size=2, tokens=torch.tensor([1, 1, 1])), "tokens"),
        (lambda: coreroute.route_in_coreset(x, torch.ones(2, 8), top_k=2), "coreset.dtype"),
        (lambda: coreroute.route_in_coreset(x, torch.ones(2, 7, dtype=torch.bool), top_k=2), "coreset.shape"),
        (lambda: coreroute.route(x, top_k=2, groups=4), "groups = 4"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_invalid_logits_checked_and_raw():
    x = torch.randn(2, 4, 8)
    x[1, 2, 5] = float("nan")
    with pytest.raises(ValueError, match=r"logits\[block 1, token 2, expert 5\]"):
        coreroute.route(x, top_k=2)
    r = coreroute.route(x, top_k=2, checked=False)  # the raw path: counted, ids -1, weight 0
    assert r.invalid_tokens.tolist() == [0, 1]
    assert (r.ids[1, 2] == -1).all() and (r.weights[1, 2] == 0).all() and (r.ids[1, 1] >= 0).all()
    y = torch.randn(1, 2, 8)
    y[0, 1] = float("-inf")
    with pytest.raises(ValueError, match="all -Inf"):
        coreroute.route(y, top_k=2)
    assert coreroute.route(y, top_k=2, score="sigmoid").ids[0, 1].tolist() == [0, 1]  # -Inf is legal: score 0


def test_empty_batches():
    assert coreroute.route(torch.randn(0, 4, 8), top_k=2).ids.shape == (0, 4, 2)
    r = coreroute.route(torch.randn(0, 8), top_k=2, block_size=4)
    assert r.ids.shape == (0, 2) and r.coreset.shape == (0, 8)
    r = coreroute.route(torch.randn(2, 0, 8), top_k=2, policy="vote", core=2)
    assert r.ids.shape == (2, 0, 2)


@pytest.mark.parametrize("policy", list(POLICY_PARAMS))
def test_meta_tensors_give_the_shapes(policy):
    p = params_for(policy, POLICY_PARAMS[policy][0], 4)
    for x, extra in ((torch.empty(3, 5, 16, device="meta"), {}), (torch.empty(23, 16, device="meta"), dict(block_size=5))):
        r = coreroute.route(x, top_k=4, policy=policy, with_dispatch=True, **p, **extra)
        real = coreroute.route(torch.randn(x.shape), top_k=4, policy=policy, with_dispatch=True, **p, **extra)
        for got, want in zip(r, real):
            assert got.device.type == "meta" and got.shape == want.shape and got.dtype == want.dtype
            assert got.stride() == want.stride()
    with pytest.raises(ValueError, match="top_k = 17"):  # argument checks run on meta too
        coreroute.route(torch.empty(3, 5, 16, device="meta"), top_k=17)
    m = torch.ops.coreroute.metrics(torch.empty(3, 5, 4, dtype=torch.int32, device="meta"),
                                    torch.empty(3, 5, 4, device="meta"), torch.empty(3, dtype=torch.int32, device="meta"),
                                    torch.empty(3, 5, 4, dtype=torch.int32, device="meta"),
                                    torch.empty(3, 5, 4, device="meta"), 16)
    assert m.shape == (3, 7) and m.device.type == "meta"


def gate_module(**kw):
    torch.manual_seed(0)
    router = torch.nn.Linear(32, 16, bias=False)
    return coreroute.nn.CoresetGate(router, top_k=4, block_size=8, policy="vote", beta=0.5, **kw)


def test_jit_trace_and_fx():
    gate = gate_module()
    h = torch.randn(40, 32)
    want_idx, want_w = gate(h)
    traced = torch.jit.trace(gate, h)
    got_idx, got_w = traced(h)
    assert torch.equal(got_idx, want_idx) and torch.equal(got_w, want_w)
    assert "coreroute::route" in str(traced.graph)
    gm = torch.fx.symbolic_trace(gate)
    got_idx, got_w = gm(h)
    assert torch.equal(got_idx, want_idx) and torch.equal(got_w, want_w)
    assert "coreroute.route" in gm.code or "coreroute" in gm.code


def test_gate_blocks_per_sequence_and_pads():
    gate = gate_module()
    h = torch.randn(3, 13, 32)  # seq 13: blocks of 8 and 5 per sequence
    idx, w = gate(h)
    assert idx.shape == (39, 4) and idx.dtype == torch.int64 and w.dtype == torch.float32
    for s in range(3):
        r = coreroute.route(gate.router(h[s]), top_k=4, block_size=8, policy="vote", beta=0.5)
        assert torch.equal(idx[13 * s: 13 * (s + 1)], r.ids.long()) and torch.equal(w[13 * s: 13 * (s + 1)], r.weights)
    # -1 slots (a small union coreset inside groups) mapped to an expert with weight 0
    gate = coreroute.nn.CoresetGate(torch.nn.Linear(32, 16, bias=False), top_k=4, block_size=8, policy="union",
                                    k_local=1, groups=(4, 1))
    idx, w = gate(torch.randn(64, 32))
    assert (idx == -1).any()
    padded = coreroute.nn.CoresetGate(gate.router, top_k=4, block_size=8, policy="union", k_local=1, groups=(4, 1),
                                      pad_expert=3)
    pidx, pw = padded(torch.randn(64, 32) * 0 + torch.randn(64, 32))  # fresh input: just the padding rule
    assert (pidx >= 0).all()
    ids, ws = coreroute.pad_ids(idx.int(), w, 3)
    assert torch.equal(ids[idx == -1], torch.full_like(ids[idx == -1], 3)) and (ws[idx == -1] == 0).all()
    assert torch.equal(ids[idx >= 0], idx[idx >= 0].int()) and torch.equal(ws, w)


def sglang_block_topk(logits, bias, block_size, capacity, top_k, renormalize):
    """The block top-K of SGLang's LLaDA2.2 routing, as its tests' reference states it, in
    plain PyTorch (float64): r = sigmoid(x) + bias; a block's score for expert i is the
    maximum of r[n, i] over the block's rows; the block keeps the `capacity` experts of
    largest block score (ties: lower id); each row takes its top-K of r among them;
    weights are the unbiased sigmoid scores of the picks, normalised. (SGLang adds 1e-20
    to the sum; coreroute does not, docs/algorithms.md, so they differ only when every
    picked score underflows.)"""
    T, M = logits.shape
    s = torch.sigmoid(logits.double())
    r = s + bias.double()
    ids = torch.empty(T, top_k, dtype=torch.long)
    weights = torch.empty(T, top_k, dtype=torch.float64)
    for start in range(0, T, block_size):
        rb, sb = r[start:start + block_size], s[start:start + block_size]
        block_score = rb.max(dim=0).values
        keep = torch.sort(-block_score, stable=True).indices[:capacity]  # stable: lower id first on ties
        masked = torch.full_like(rb, float("-inf"))
        masked[:, keep] = rb[:, keep]
        picks = torch.sort(-masked, dim=1, stable=True).indices[:, :top_k]
        w = sb.gather(1, picks)
        if renormalize:
            w = w / w.sum(dim=1, keepdim=True)
        ids[start:start + block_size], weights[start:start + block_size] = picks, w
    return ids, weights


@pytest.mark.parametrize("ties", [False, True])
def test_blockmax_equals_sglang_block_topk(ties):
    T, M, K, bs = 37, 32, 4, 8  # 5 blocks, the last one of 5 rows
    cases = 0
    for seed in range(6):
        g = torch.Generator().manual_seed(500 + seed)
        x = torch.randn(T, M, generator=g) * 2
        if ties:  # coarse logits: equal block scores, decided by the lower id
            x = (x * 2).round() / 2
        bias = (torch.randn(M, generator=g) * 0.1).float()
        if ties:
            bias = (bias * 8).round() / 8
        for capacity in (K, 6, 13, M):
            for renormalize in (True, False):
                want_ids, want_w = sglang_block_topk(x, bias, bs, capacity, K, renormalize)
                r = coreroute.route(x, top_k=K, policy="blockmax", capacity=capacity, score="sigmoid", bias=bias,
                                    block_size=bs, normalize=renormalize)
                assert r.ids.shape == (T, K) and r.coreset.shape == (5, M)
                np.testing.assert_array_equal(r.ids.numpy(), want_ids.numpy().astype(np.int32))
                assert oracle.close(r.weights.numpy(), want_w.numpy()).all()
                assert (r.coreset_size == capacity).all()
                cases += 1
    assert cases == 48
    # beta: capacity = floor(beta * M) = 6
    r = coreroute.route(x, top_k=K, policy="blockmax", beta=0.2, score="sigmoid", bias=bias, block_size=bs)
    np.testing.assert_array_equal(r.ids.numpy(), sglang_block_topk(x, bias, bs, 6, K, False)[0].numpy())


def test_group_score_max_ranks_groups_by_their_best_expert():
    # Two groups of 4 (softmax): group 0 holds the two next-best experts (sum of two larger),
    # group 1 the single best one. top2 keeps group 0; max (DeepSeek-V2) keeps group 1.
    x = torch.tensor([[[2.0, 1.9, -5.0, -5.0, 2.5, -5.0, -5.0, -5.0]]])
    top2 = coreroute.route(x, top_k=2, groups=(2, 1))
    by_max = coreroute.route(x, top_k=2, groups=(2, 1), group_score="max")
    assert top2.ids.tolist() == [[[0, 1]]]
    assert by_max.ids.tolist() == [[[4, 5]]]
    with pytest.raises(ValueError, match="group_score = 'sum'"):
        coreroute.route(x, top_k=2, groups=(2, 1), group_score="sum")
    with pytest.raises(ValueError, match="group_score = 'max': needs group-limited routing"):
        coreroute.route(x, top_k=2, group_score="max")
