"""The CUDA op against the CPU op by docs/spec.md section 7, CUDA graphs, torch.compile, opcheck.

Skipped (with the reason) without a CUDA device or without the ops' CUDA kernel; the
ctest entry python_gpu then reports "skipped", never "passed". COREROUTE_TORCH_CASES
sets the random cases (blocks) per policy, 20000 by default.
"""
import os

import numpy as np
import pytest
import torch

import coreroute
import oracle

CASES = int(os.environ.get("COREROUTE_TORCH_CASES", "20000"))


def _why_no_gpu():
    if not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False)"
    if not torch._C._dispatch_has_kernel_for_dispatch_key("coreroute::route", "CUDA"):
        return "the ops were built without their CUDA kernel (the found Torch has no CUDA)"
    return None


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_why_no_gpu() is not None, reason=str(_why_no_gpu()))]

POLICIES = {
    "vanilla": {},
    "union": dict(k_local=2),
    "vote": dict(beta=0.3),
    "blockdist": dict(top_p=0.6),
    "blockmax": dict(beta=0.3),
}
# (M, K, groups, bias, score, normalize, scaling, dtype, token_major): the fast path's
# lane widths (M <= 512), the shared-memory path (M > 512), groups, bias, both scores.
CONFIGS = [
    (8, 2, None, False, "softmax", False, 1.0, torch.float32, False),
    (16, 4, (4, 2), True, "sigmoid", True, 2.5, torch.float32, True),
    (32, 4, None, False, "softmax", True, 1.0, torch.bfloat16, False),
    (64, 8, None, False, "softmax", False, 1.0, torch.float32, False),
    (64, 6, (8, 4), True, "sigmoid", True, 1.0, torch.float16, True),
    (128, 8, None, True, "softmax", False, 1.0, torch.float32, False),
    (256, 8, (8, 4), True, "sigmoid", True, 2.5, torch.bfloat16, False),
    (256, 8, None, False, "softmax", True, 1.0, torch.float32, True),
    (512, 8, (16, 4), False, "sigmoid", False, 1.0, torch.float32, False),
    (256, 8, (8, 4, "max"), True, "sigmoid", True, 2.5, torch.float32, False),  # DeepSeek-V2 group scores
    (64, 6, (8, 3, "max"), False, "softmax", True, 1.0, torch.bfloat16, True),
    (1024, 8, None, True, "softmax", False, 1.0, torch.float32, False),
]


def logits_for(B, N, M, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N, M, generator=g) * torch.rand(B, 1, 1, generator=g).mul(4)
    coarse = torch.rand(B, 1, 1, generator=g) < 0.25  # exact ties: the tie rule decides
    x = torch.where(coarse, (x * 2).round() / 2, x)
    return x.to(dtype)


class Report:
    def __init__(self):
        self.blocks = self.rows = self.coreset_ties = self.id_ties = 0
        self.failures = []

    def fail(self, msg):
        if len(self.failures) < 10:
            self.failures.append(msg)


def coreset_near_tie(x_b, n_valid, kw, got, want):
    """Every coreset difference is a near-tie: of the double votes, of a token's top-K
    boundary (which moves a vote between experts), or of a top-p cumulative sum."""
    s = oracle.scores(x_b[:n_valid], kw["score"])
    r = s + kw["bias_np"]
    lo, hi = oracle.vote_bounds(r, kw["policy"], kw["top_k"], **kw["params"])
    only_got, only_want = np.flatnonzero(got & ~want), np.flatnonzero(want & ~got)
    if kw["policy"] == "union":  # C = {V > 0}: only experts whose vote hangs on a boundary
        return all(lo[e] == 0 < hi[e] for e in np.concatenate([only_got, only_want]))

    def may_swap(e, f):  # e's and f's vote ranges meet (within a near-tie)
        return (lo[e] <= hi[f] or oracle.near_tie(lo[e], hi[f])) and (lo[f] <= hi[e] or oracle.near_tie(lo[f], hi[e]))
    if all(any(may_swap(e, f) for f in only_want) for e in only_got) and \
            all(any(may_swap(e, f) for f in only_got) for e in only_want):
        return True
    if kw["policy"] == "blockdist" and lo.sum() > 0:
        V = (lo + hi) / 2
        cum = np.cumsum(V[oracle.ranked(V)] / V.sum())
        return any(oracle.near_tie(c, kw["params"].get("top_p", 0.6)) for c in cum)
    return False


def check_parity(x, kw, tokens, token_major, rep):
    """CUDA op vs CPU op on one batch x [B, N, M] (docs/spec.md section 7)."""
    B, N, M = x.shape
    K = kw["top_k"]
    args = dict(top_k=K, policy=kw["policy"], score=kw["score"], groups=kw["groups"], group_score=kw["group_score"],
                normalize=kw["normalize"], scaling=kw["scaling"], **kw["params"])
    bias = kw["bias"]
    if token_major:  # whole blocks of N rows, the last one partial
        T = B * N - N // 2
        xt = x.reshape(B * N, M)[:T]
        cuda = coreroute.route(xt.cuda(), bias=None if bias is None else bias.cuda(), block_size=N, **args)
        cpu = coreroute.route(xt, bias=bias, block_size=N, **args)
        valid = np.full(B, N)
        valid[-1] = N - N // 2
        pad = lambda t: torch.cat([t, torch.full((B * N - T, K), -1 if t.dtype == torch.int32 else 0,
                                                 dtype=t.dtype)]).view(B, N, K)
        c_ids, c_w, g_ids, g_w = pad(cpu.ids), pad(cpu.weights), pad(cuda.ids.cpu()), pad(cuda.weights.cpu())
    else:
        tk = torch.from_numpy(tokens)
        cuda = coreroute.route(x.cuda(), bias=None if bias is None else bias.cuda(), tokens=tk.cuda(), **args)
        cpu = coreroute.route(x, bias=bias, tokens=tk, **args)
        valid = tokens
        c_ids, c_w, g_ids, g_w = cpu.ids, cpu.weights, cuda.ids.cpu(), cuda.weights.cpu()
    g_cs, c_cs = cuda.coreset.cpu(), cpu.coreset
    assert torch.equal(cuda.coreset_size.cpu(), g_cs.sum(1).int())
    assert (cuda.invalid_tokens.cpu() == 0).all()
    xd = x.double().numpy()
    # Blocks whose coreset differs: accepted only at a near-tie, then Stage 2 is
    # compared with the CPU's Stage 2 into the CUDA coreset.
    diff = (g_cs != c_cs).any(1).nonzero().flatten().tolist()
    for b in diff:
        if coreset_near_tie(xd[b], valid[b], kw, g_cs[b].numpy(), c_cs[b].numpy()):
            rep.coreset_ties += 1
        else:
            rep.fail(f"{kw['policy']} M={M}: block {b}: coreset differs beyond a near-tie")
    if diff:
        sub = x[diff]
        again = coreroute.route_in_coreset(sub, g_cs[diff], top_k=K, score=kw["score"], bias=bias,
                                           groups=kw["groups"], group_score=kw["group_score"],
                                           normalize=kw["normalize"], scaling=kw["scaling"],
                                           tokens=torch.from_numpy(np.asarray(valid)[diff]))
        c_ids, c_w = c_ids.clone(), c_w.clone()
        c_ids[diff], c_w[diff] = again.ids, again.weights
    rows = (g_ids != c_ids).any(-1).nonzero().tolist()
    ok_w = torch.from_numpy(oracle.close(g_w.numpy(), c_w.numpy()))
    if rows:  # checked below against the weights of the CUDA ids
        at = torch.tensor(rows)
        ok_w[at[:, 0], at[:, 1]] = True
    for b, n in rows:  # ids differ: only at near-ties of the double r
        s = oracle.scores(xd[b, n:n + 1], kw["score"])[0]
        r = s + kw["bias_np"]
        got, want = g_ids[b, n].numpy(), c_ids[b, n].numpy()
        if (got < 0).sum() != (want < 0).sum() or not all(
                oracle.near_tie(r[a], r[c]) for a, c in zip(got, want) if a != c and a >= 0):
            rep.fail(f"{kw['policy']} M={M}: block {b}, token {n}: ids {got.tolist()} vs {want.tolist()}")
            continue
        rep.id_ties += 1
        w = np.where(got >= 0, s[np.maximum(got, 0)], 0.0)
        if kw["normalize"]:
            w = w / w.sum() if w.sum() > 0 else w * 0
        if not oracle.close(g_w[b, n].numpy(), w * kw["scaling"]).all():
            rep.fail(f"{kw['policy']} M={M}: block {b}, token {n}: weights of the near-tie row")
    if not ok_w.all():
        b, n, j = ok_w.logical_not().nonzero()[0].tolist()
        rep.fail(f"{kw['policy']} M={M}: weight [{b},{n},{j}] {g_w[b, n, j].item()} vs {c_w[b, n, j].item()}")
    rep.blocks += B
    rep.rows += int(np.sum(valid))


@pytest.mark.parametrize("policy", list(POLICIES))
def test_cuda_op_equals_cpu_op(policy):
    rep = Report()
    per_config = max(1, -(-CASES // len(CONFIGS)))
    for ci, (M, K, groups, bias, score, normalize, scaling, dtype, token_major) in enumerate(CONFIGS):
        N = 32
        rng = np.random.default_rng(ci)
        tokens = rng.integers(0, N + 1, per_config).astype(np.int32)
        tokens[rng.random(per_config) < 0.5] = N
        b = (torch.randn(M, generator=torch.Generator().manual_seed(ci)) * 0.05) if bias else None
        params = dict(POLICIES[policy])
        if policy == "union":
            params["k_local"] = min(params["k_local"], K)
        group_score = groups[2] if groups and len(groups) > 2 else "top2"
        groups = groups[:2] if groups else groups
        kw = dict(policy=policy, top_k=K, score=score, groups=groups, group_score=group_score, normalize=normalize,
                  scaling=scaling, params=params, bias=b, bias_np=np.zeros(M) if b is None else b.double().numpy())
        for start in range(0, per_config, 4096):  # batches of many cases per call
            B = min(4096, per_config - start)
            x = logits_for(B, N, M, dtype, 7919 * ci + start)
            check_parity(x, kw, tokens[start:start + B], token_major, rep)
    print(f"\n{policy}: {rep.blocks} blocks, {rep.rows} token rows; near-ties accepted: "
          f"{rep.coreset_ties} coresets, {rep.id_ties} token rows")
    assert rep.blocks >= CASES
    assert not rep.failures, "\n".join(rep.failures)


def test_cuda_strided_and_checked():
    x = torch.randn(64, 16, 40, device="cuda").transpose(1, 2)  # [64, 40, 16], expert stride 40
    kw = dict(top_k=4, policy="vote", core=6)
    got = coreroute.route(x, **kw)
    want = coreroute.route(x.contiguous(), **kw)
    assert torch.equal(got.ids, want.ids) and torch.equal(got.weights, want.weights)
    y = torch.randn(2, 4, 16, device="cuda")
    y[1, 3, 7] = float("inf")
    with pytest.raises(ValueError, match=r"logits\[block 1, token 3, expert 7\]"):
        coreroute.route(y, top_k=2)
    with pytest.raises(ValueError, match=r"tokens\[0\] = 9"):
        coreroute.route(y, top_k=2, tokens=torch.tensor([9, 1], device="cuda"))
    with pytest.raises(ValueError, match="bias.device"):
        coreroute.route(y, top_k=2, bias=torch.zeros(16))
    raw = coreroute.route(y, top_k=2, checked=False)
    assert raw.invalid_tokens.tolist() == [0, 1] and (raw.ids[1, 3] == -1).all()


def test_cuda_dispatch_equals_cpu():
    x = torch.randn(300, 32, 64)
    kw = dict(top_k=8, policy="union", k_local=2, with_dispatch=True)
    got, want = coreroute.route(x.cuda(), **kw), coreroute.route(x, **kw)
    for name in ("ids", "coreset", "num_used", "used_experts", "counts", "offsets", "token", "slot"):
        assert torch.equal(getattr(got, name).cpu(), getattr(want, name)), name


@pytest.mark.parametrize("token_major", [False, True])
def test_cuda_metrics_equal_cpu(token_major):
    import oracle
    M, K = 64, 8
    x = torch.randn(200, 32, M)
    y = torch.randn(200, 32, M, 3)
    kw, extra = dict(top_k=K), {}
    if token_major:
        x, y, extra = x.reshape(-1, M)[:6390], y.reshape(-1, M, 3)[:6390], dict(block_size=32)
    for dev in ("cpu", "cuda"):
        xs, ys = x.to(dev), y.to(dev)
        R = coreroute.route(xs, policy="vote", beta=0.3, **kw, **extra)
        R0 = coreroute.route(xs, **kw, **extra)
        m = coreroute.metrics(R, R0, expert_bytes=12.0, outputs=ys, **extra)
        if dev == "cpu":
            want = m.per_block.numpy()
        else:
            assert m.per_block.device.type == "cuda"
            got = m.per_block.cpu().numpy()
    assert oracle.close(got, want).all()
    bad = coreroute.route(x.cuda(), **kw, **extra)
    bad.ids[3, 1] = M
    with pytest.raises(ValueError, match="ids"):
        coreroute.metrics(bad, bad, **extra)


def test_cuda_graph_capture_and_replay_bit_identical():
    M, K, bs = 256, 8, 32
    kw = dict(top_k=K, policy="blockdist", score="sigmoid", groups=(8, 4), normalize=True, scaling=2.5,
              block_size=bs, checked=False, with_dispatch=True)
    bias = torch.randn(M, device="cuda") * 0.05
    static = torch.randn(1000, M, device="cuda", dtype=torch.bfloat16)  # a partial last block
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            coreroute.route(static, bias=bias, **kw)  # warm-up
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = coreroute.route(static, bias=bias, **kw)
    for seed in range(3):
        static.copy_(torch.randn(1000, M, device="cuda", generator=torch.Generator("cuda").manual_seed(seed)))
        g.replay()
        torch.cuda.synchronize()
        eager = coreroute.route(static, bias=bias, **kw)
        for a, b in zip(out, eager):
            assert torch.equal(a, b)
        # bit-identical weights, not just close
        assert torch.equal(out.weights.view(torch.int32), eager.weights.view(torch.int32))


def gate(**kw):
    torch.manual_seed(0)
    router = torch.nn.Linear(64, 64, bias=False).cuda()
    return coreroute.nn.CoresetGate(router, top_k=8, block_size=32, policy="vote", beta=0.4, **kw)


@pytest.mark.torch2
@pytest.mark.skipif(not hasattr(torch, "compile"), reason="torch.compile needs torch >= 2")
def test_torch_compile_fullgraph_matches_eager():
    import torch._dynamo
    torch._dynamo.reset()
    g = gate(pad_expert=0)
    h = torch.randn(1000, 64, device="cuda")
    compiled = torch.compile(g, fullgraph=True)
    for _ in range(2):
        idx, w = compiled(h)
        want_idx, want_w = g(h)
        assert torch.equal(idx, want_idx) and torch.equal(w, want_w)
    h3 = torch.randn(4, 70, 64, device="cuda")  # per-sequence blocks, partial last block
    idx, w = compiled(h3)  # a new shape: recompiled, still static
    want_idx, want_w = g(h3)
    assert torch.equal(idx, want_idx) and torch.equal(w, want_w)


@pytest.mark.torch2
@pytest.mark.skipif(not hasattr(torch, "compile"), reason="torch.compile needs torch >= 2")
def test_torch_compile_dynamic_shapes():
    # The meta kernel computes shapes from symbolic sizes: one graph for several token counts.
    import torch._dynamo
    torch._dynamo.reset()
    g = gate(pad_expert=0)
    compiled = torch.compile(g, fullgraph=True, dynamic=True)
    for T in (1000, 777, 64):
        h = torch.randn(T, 64, device="cuda")
        idx, w = compiled(h)
        want_idx, want_w = g(h)
        assert torch.equal(idx, want_idx) and torch.equal(w, want_w)


@pytest.mark.torch2
@pytest.mark.skipif(not hasattr(torch, "library") or not hasattr(torch.library, "opcheck"),
                    reason="torch.library.opcheck needs torch >= 2.4")
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_opcheck(device):
    tests = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_static",
             "test_aot_dispatch_dynamic")
    x = torch.randn(5, 8, 16, device=device)
    torch.library.opcheck(torch.ops.coreroute.route.default, (x, 4),
                          dict(policy="vote", beta=0.5, with_dispatch=True, checked=False), test_utils=tests)
    torch.library.opcheck(torch.ops.coreroute.route.default, (x.reshape(40, 16)[:37], 4),
                          dict(policy="union", k_local=2, block_size=8, checked=False), test_utils=tests)
    mask = torch.rand(5, 16, device=device) < 0.5
    torch.library.opcheck(torch.ops.coreroute.route_in_coreset.default, (x, mask, 4), dict(checked=False),
                          test_utils=tests)
