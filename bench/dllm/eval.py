"""Evaluate coreset routing policies inside the trained diffusion LM (train.py), one policy at a time.

    PYTHONUNBUFFERED=1 python3 bench/dllm/eval.py --checkpoint out/dllm/A --out $OUT/A [--traces /tmp/traces-A]

Held-out windows of seq_len bytes: a context (the first seq_len - 32 bytes, clean) and a block of N = 32 bytes to
decode. In every forward pass, every MoE layer routes the block's 32 positions with the policy (one routing block,
exactly the block being decoded) and the context's positions with vanilla routing (token-wise: they are the
prompt, computed once with a KV cache in a real engine, not the block whose expert count is measured).

Per policy:
  denoising  the block fully masked (the first decoding step) and half masked (a fixed random half, the other half
             showing the true bytes: a later step): top-1 accuracy and NLL on the masked positions;
  generation block diffusion decoding of the block in --steps steps, greedy, LLaDA's low-confidence remasking (each
             step commits the 32/steps most confident masked positions): exact-match rate, byte accuracy, agreement
             with vanilla's output (bytes, whole blocks);
  routing    per layer, mean over blocks (each block weighs the same), against vanilla routing of the same logits
             with the model's K (docs/spec.md section 5): unique experts T, coreset size, top-K hit rate, gate loss;
             for the full-masked step, the half-masked step and all generation steps.
Outputs in --out: results.json, results.md, relative_accuracy.png (if matplotlib is there). With --traces DIR, the
router logits of the block positions under vanilla routing, [B, N, M] float32 per layer and step (trace-format.md).

Routing goes through `route_block` (one adapter, the names of `coreroute.route`). --router picks what answers it:
  coreroute            the coreroute PyTorch op (CUDA on a GPU); the only router for reported results
  cli:PATH             the coreroute CLI at PATH (the CPU reference backend, via .npy files): slow, for tests
  torch-vanilla-plumbing  the model's own top-K in PyTorch, vanilla policies only: plumbing tests, never results
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as corpus  # noqa: E402
import model as dlm    # noqa: E402

BLOCK = 32


# --- policies --------------------------------------------------------------------------------------------------

def default_policies(cfg):
    """The papers' rows (docs/spec.md section 4), at this model's M. dMoE's floor is 16 experts at M = 256; at M = 64 it is
    run both unscaled (16) and scaled with M (16 * 64 / 256 = 4)."""
    m, k = cfg.num_experts, cfg.top_k
    rows = [("vanilla", "vanilla", k, {}), ("top-4", "vanilla", 4, {}),
            ("union k=2", "union", k, {"k_local": 2}), ("union k=3", "union", k, {"k_local": 3})]
    betas = [0.6, 0.5, 0.4, 0.3, 0.2] if m <= 64 else [0.3, 0.2, 0.15, 0.10, 0.05]
    rows += [("vote beta=%g" % b, "vote", k, {"beta": b}) for b in betas]
    floors = sorted({16, max(1, round(16 * m / 256))}) if m < 256 else [16]
    rows += [("blockdist p=0.6 m=%d" % f, "blockdist", k, {"top_p": 0.6, "min_experts": f}) for f in floors]
    return [{"label": a, "policy": b, "top_k": c, "params": d} for a, b, c, d in rows]


# Unique experts per block of 32 in the papers (real models, docs/spec.md section 4): LLaDA-MoE-7B has our A's router
# shape (M = 64), LLaDA2.0-mini our B's (M = 256). DES = arXiv 2602.00879, dMoE = arXiv 2605.30876 (after tuning).
PUBLISHED = {
    64: {"vanilla": "59 (DES)", "vote beta=0.6": "38 (DES)", "vote beta=0.4": "25 (DES)"},
    256: {"vanilla": "84 (DES) / 70 (dMoE)", "union k=3": "45 (DES)", "union k=2": "34 (DES)",
          "vote beta=0.15": "38 (DES)", "vote beta=0.1": "25 (DES)", "blockdist p=0.6 m=16": "~14.5 (dMoE)"},
}


# --- routers: one adapter, three answers -----------------------------------------------------------------------

def route_block(router, logits, *, top_k, policy, cfg, bias, block_size, params):
    """Routes token-major logits [T, M] (consecutive blocks of block_size) -> ids int64 [T, K] (-1 = empty slot),
    weights float32 [T, K], coreset bool [T / block_size, M]. The keywords are coreroute.route's."""
    ids, weights, coreset = router(logits.float().contiguous(),
                                   **route_kwargs(cfg, top_k, policy, bias, block_size, params))
    return ids.long(), weights.float(), coreset.bool()


def route_kwargs(cfg, top_k, policy, bias, block_size, params):
    return dict(top_k=top_k, policy=policy, score=cfg.score, bias=bias, groups=cfg.groups, normalize=cfg.normalize,
                scaling=cfg.scaling, block_size=block_size, **params)


def library_metrics_gap(blk, cfg, spec, bias, mine):
    """Largest |difference| between block_metrics' means and coreroute.metrics' on the same routing (a check of
    this script's metric code against the library's, run once per layer when the router is the op)."""
    import coreroute
    r = coreroute.route(blk.float().contiguous(), **route_kwargs(cfg, spec["top_k"], spec["policy"], bias, BLOCK,
                                                                 spec["params"]))
    r0 = coreroute.route(blk.float().contiguous(), **route_kwargs(cfg, cfg.top_k, "vanilla", bias, BLOCK, {}))
    lib = coreroute.metrics(r, r0, block_size=BLOCK).mean
    pairs = {"unique_experts": "unique_experts", "coreset_size": "coreset_size", "topk_hit_rate": "topk_hit_rate",
             "gate_loss": "gate_reconstruction_loss"}
    return {k: abs(float(mine[k].mean()) - float(lib[v])) for k, v in pairs.items()}


def coreroute_op(logits, **kw):
    import coreroute
    r = coreroute.route(logits, **kw)
    return r.ids, r.weights, r.coreset


def make_cli_router(path):
    def cli_route(logits, *, top_k, policy, score, bias, groups, normalize, scaling, block_size, **params):
        t, m = logits.shape
        if t % block_size:
            raise ValueError("cli router: %d tokens are not whole blocks of %d" % (t, block_size))
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "l.npy"), logits.detach().cpu().numpy().reshape(t // block_size, block_size, m))
            cmd = [path, "route", "--trace", os.path.join(tmp, "l.npy"), "--out", os.path.join(tmp, "r"),
                   "--no-metrics", "--policy", policy, "--top-k", str(top_k), "--score", score,
                   "--normalize" if normalize else "--no-normalize", "--scaling", repr(float(scaling))]
            if bias is not None:
                np.save(os.path.join(tmp, "b.npy"), bias.detach().float().cpu().numpy())
                cmd += ["--bias", os.path.join(tmp, "b.npy")]
            if groups:
                cmd += ["--groups", "%d:%d" % tuple(groups)]
            for key, value in params.items():
                if value is not None:
                    cmd += ["--" + key.replace("_", "-"), str(value)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            out = [np.load(os.path.join(tmp, "r", f)) for f in ("ids.npy", "weights.npy", "coreset.npy")]
        dev = logits.device
        k = out[0].shape[-1]
        return (torch.from_numpy(out[0].reshape(t, k)).to(dev), torch.from_numpy(out[1].reshape(t, k)).to(dev),
                torch.from_numpy(out[2].astype(bool)).to(dev))
    return cli_route


def torch_vanilla_plumbing(logits, *, top_k, policy, score, bias, groups, normalize, scaling, block_size, **params):
    """The model's own top-K routing. Vanilla only: for testing this script's plumbing, never for results."""
    if policy != "vanilla":
        raise ValueError("router torch-vanilla-plumbing: policy %r needs the coreroute op (--router coreroute)" % policy)
    cfg = dlm.ModelConfig(score=score, groups=groups, normalize=normalize, scaling=scaling, top_k=top_k,
                          num_experts=logits.shape[1])
    ids, w, _ = dlm.training_route(cfg, logits, bias)
    return ids, w, torch.ones(logits.shape[0] // block_size, logits.shape[1], dtype=torch.bool, device=logits.device)


def make_router(name):
    if name == "coreroute":
        try:
            import coreroute  # noqa: F401  (fail now, not in the first forward)
        except ImportError as e:
            raise ValueError("--router coreroute: cannot import the coreroute package (%s); build it with "
                             "-DCOREROUTE_BUILD_PYTHON=ON and put BUILD/python on PYTHONPATH" % e) from None
        return coreroute_op
    if name.startswith("cli:"):
        path = name[4:]
        if not os.access(path, os.X_OK):
            raise ValueError("--router %s: %s is not an executable" % (name, path))
        return make_cli_router(path)
    if name == "torch-vanilla-plumbing":
        return torch_vanilla_plumbing
    raise ValueError("--router %r: must be coreroute, cli:PATH or torch-vanilla-plumbing" % name)


# --- routing metrics (docs/spec.md section 5), per block --------------------------------------------------------------

def dense_gates(ids, weights, m):
    valid = ids >= 0
    idx = ids.clamp_min(0)
    gates = torch.zeros(ids.shape[0], m, device=ids.device).scatter_add_(1, idx, weights * valid)
    chosen = torch.zeros(ids.shape[0], m, device=ids.device).scatter_add_(1, idx, valid.float()) > 0
    return gates, chosen


def block_metrics(ids, weights, coreset, ids0, weights0, n):
    """Per-block T, coreset size, top-K hit rate, gate loss of routing (ids, weights) against (ids0, weights0)."""
    m = coreset.shape[1]
    g, s = dense_gates(ids, weights, m)
    g0, s0 = dense_gates(ids0, weights0, m)
    b = ids.shape[0] // n
    s, s0, g, g0 = s.view(b, n, m), s0.view(b, n, m), g.view(b, n, m), g0.view(b, n, m)
    return {"unique_experts": s.any(1).sum(-1).float(),
            "coreset_size": coreset.sum(-1).float(),
            "topk_hit_rate": (s & s0).sum((1, 2)).float() / s0.sum((1, 2)).clamp_min(1).float(),
            "gate_loss": (g - g0).pow(2).sum(-1).mean(-1)}


class PolicyRoute:
    """The `route` callable of DiffusionLM.forward for one policy: the block's positions by the policy, the
    context's by vanilla; records routing metrics per (phase, layer) and, when asked, the block's logits."""

    def __init__(self, router, spec, cfg, context):
        self.router, self.spec, self.cfg, self.context = router, spec, cfg, context
        self.phase = None           # metrics are recorded under this name when set
        self.sums = {}              # (phase, layer) -> {metric: [sum, blocks]}
        self.capture = None         # dict layer -> list of [B, N, M] logits, when set
        self.check_library = router is coreroute_op
        self.library_gap = {}       # metric -> largest gap to coreroute.metrics
        self.checked_layers = set()

    def __call__(self, layer, logits, bias):
        b, l, m = logits.shape
        cfg, spec = self.cfg, self.spec
        ctx = logits[:, :self.context].reshape(-1, m)
        blk = logits[:, self.context:].reshape(-1, m)
        if self.capture is not None:
            self.capture.setdefault(layer, []).append(logits[:, self.context:].float().cpu())
        common = dict(cfg=cfg, bias=bias, block_size=BLOCK)
        ids_c, w_c, _ = route_block(self.router, ctx, top_k=cfg.top_k, policy="vanilla", params={}, **common)
        ids_b, w_b, core = route_block(self.router, blk, top_k=spec["top_k"], policy=spec["policy"],
                                       params=spec["params"], **common)
        if self.phase is not None:
            if spec["policy"] == "vanilla" and spec["top_k"] == cfg.top_k:
                ids0, w0 = ids_b, w_b
            else:
                ids0, w0, _ = route_block(self.router, blk, top_k=cfg.top_k, policy="vanilla", params={}, **common)
            acc = self.sums.setdefault((self.phase, layer), {})
            mine = block_metrics(ids_b, w_b, core, ids0, w0, BLOCK)
            if self.check_library and layer not in self.checked_layers:
                self.checked_layers.add(layer)
                for key, gap in library_metrics_gap(blk, cfg, spec, bias, mine).items():
                    self.library_gap[key] = max(gap, self.library_gap.get(key, 0.0))
            for key, v in mine.items():
                s = acc.setdefault(key, [0.0, 0])
                s[0] += float(v.sum())
                s[1] += v.numel()
        k = cfg.top_k
        if ids_b.shape[1] < k:   # a top-4 baseline: the empty slots hold -1, weight 0
            pad = k - ids_b.shape[1]
            ids_b = torch.cat([ids_b, ids_b.new_full((ids_b.shape[0], pad), -1)], 1)
            w_b = torch.cat([w_b, w_b.new_zeros((w_b.shape[0], pad))], 1)
        ids = torch.cat([ids_c.view(b, -1, k), ids_b.view(b, -1, k)], 1).reshape(b * l, k)
        w = torch.cat([w_c.view(b, -1, k), w_b.view(b, -1, k)], 1).reshape(b * l, k)
        return ids, w

    def summary(self):
        out = {}
        for (phase, layer), acc in sorted(self.sums.items()):
            out.setdefault(phase, {"per_layer": []})["per_layer"].append(
                dict({"layer": layer}, **{k: s[0] / s[1] for k, s in acc.items()}))
        for phase in out.values():
            rows = phase["per_layer"]
            phase["mean"] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "layer"}
        return out


# --- the measurements ------------------------------------------------------------------------------------------

def forward(model, tokens, route, autocast):
    with torch.no_grad(), autocast():
        return model(tokens, route=route)[0][:, -BLOCK:].float()


def denoise(model, windows, mask, route, autocast):
    """Top-1 hits and NLL summed over the masked block positions, and their count."""
    x = windows.clone()
    blk = x[:, -BLOCK:]
    blk[mask] = dlm.MASK
    logits = forward(model, x, route, autocast)
    target = windows[:, -BLOCK:]
    nll = F.cross_entropy(logits.reshape(-1, dlm.VOCAB), target.reshape(-1), reduction="none").view(target.shape)
    hits = (logits.argmax(-1) == target) & mask
    return float(hits.sum()), float((nll * mask).sum()), float(mask.sum())


def generate(model, windows, steps, route, autocast, capture_step=None):
    """LLaDA block decoding with low-confidence remasking, greedy: returns the decoded blocks [B, N]."""
    x = windows.clone()
    x[:, -BLOCK:] = dlm.MASK
    per_step = [BLOCK // steps + (1 if s < BLOCK % steps else 0) for s in range(steps)]
    for s, n in enumerate(per_step):
        if capture_step is not None:
            route.capture = capture_step if s == steps // 2 else None
        logits = forward(model, x, route, autocast)
        masked = x[:, -BLOCK:] == dlm.MASK
        conf, pred = torch.softmax(logits, -1).max(-1)
        conf = conf.masked_fill(~masked, -1.0)
        pick = conf.topk(n, dim=-1).indices
        blk = x[:, -BLOCK:]
        blk.scatter_(1, pick, pred.gather(1, pick))
    route.capture = None
    return x[:, -BLOCK:].clone()


def held_out_windows(heldout, count, seq_len, seed):
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, heldout.size - seq_len, (count,), generator=gen)
    src = torch.from_numpy(heldout.copy())
    windows = src[starts[:, None] + torch.arange(seq_len)[None, :]].long()
    half = torch.zeros(count, BLOCK, dtype=torch.bool)
    for i in range(count):
        half[i, torch.randperm(BLOCK, generator=gen)[: BLOCK // 2]] = True
    return windows, half


def evaluate_policy(model, router, spec, windows, half, args, autocast, device, vanilla_out=None, traces=None):
    cfg = model.cfg
    route = PolicyRoute(router, spec, cfg, windows.shape[1] - BLOCK)
    full = torch.ones_like(half)
    tot = {"full": [0.0, 0.0, 0.0], "half": [0.0, 0.0, 0.0]}
    outs = []
    for i in range(0, windows.shape[0], args.batch):
        w = windows[i:i + args.batch].to(device)
        for phase, mask in (("full", full), ("half", half)):
            route.phase = phase
            if traces is not None and i == 0 and phase == "full":
                route.capture = traces.setdefault(phase, {})
            r = denoise(model, w, mask[i:i + args.batch].to(device), route, autocast)
            route.capture = None
            tot[phase] = [a + b for a, b in zip(tot[phase], r)]
        route.phase = "generation"
        mid = traces.setdefault("mid", {}) if traces is not None and i == 0 else None
        outs.append(generate(model, w, args.steps, route, autocast, capture_step=mid).cpu())
    gen = torch.cat(outs)
    truth = windows[:, -BLOCK:]
    res = {"label": spec["label"], "policy": spec["policy"], "top_k": spec["top_k"], "params": spec["params"]}
    for phase, (hits, nll, count) in tot.items():
        res["denoise_" + phase] = {"accuracy": hits / count, "nll": nll / count, "positions": int(count)}
    res["generation"] = {"exact_match": float((gen == truth).all(1).float().mean()),
                         "byte_accuracy": float((gen == truth).float().mean())}
    if vanilla_out is not None:
        res["generation"]["agree_bytes"] = float((gen == vanilla_out).float().mean())
        res["generation"]["agree_blocks"] = float((gen == vanilla_out).all(1).float().mean())
    res["routing"] = route.summary()
    if route.check_library:
        res["metrics_gap_to_library"] = route.library_gap
    return res, gen


# --- reports ---------------------------------------------------------------------------------------------------

def add_relative(results):
    base = results[0]
    assert base["label"] == "vanilla"
    for r in results:
        rel = {}
        for key, sub in (("denoise_full", "accuracy"), ("denoise_half", "accuracy"), ("generation", "byte_accuracy")):
            b = base[key][sub]
            rel[key] = r[key][sub] / b if b > 0 else float("nan")
        r["relative_to_vanilla"] = rel


def markdown(report):
    lines = ["# %s" % report["title"], "",
             "Routing columns: mean over layers of the per-block means (each block weighs the same), against vanilla "
             "routing of the same logits with the model's K; T = unique experts per block of N = %d; "
             "'full' = block fully masked, 'gen' = all %d generation steps. Accuracy columns: top-1 on masked "
             "positions; rel = relative to vanilla." % (BLOCK, report["settings"]["steps"]), "",
             "| policy | T full | T gen | T published | coreset | hit rate | gate loss | acc full | rel | NLL full "
             "| acc half | rel | gen bytes | rel | gen exact | agree vanilla |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    published = PUBLISHED.get(report["model"]["num_experts"], {})
    for r in report["policies"]:
        f = r["routing"]["full"]["mean"]
        g = r["routing"]["generation"]["mean"]
        rel = r["relative_to_vanilla"]
        lines.append("| %s | %.1f | %.1f | %s | %.1f | %.3f | %.4f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f "
                     "| %.3f | %.3f |" % (r["label"], f["unique_experts"], g["unique_experts"],
                                   published.get(r["label"], ""), f["coreset_size"],
                                   f["topk_hit_rate"], f["gate_loss"], r["denoise_full"]["accuracy"],
                                   rel["denoise_full"], r["denoise_full"]["nll"], r["denoise_half"]["accuracy"],
                                   rel["denoise_half"], r["generation"]["byte_accuracy"], rel["generation"],
                                   r["generation"]["exact_match"], r["generation"].get("agree_bytes", float("nan"))))
    lines += ["", "T published: the papers' real models at N = 32 (M = 64: LLaDA-MoE-7B; M = 256: LLaDA2.0-mini), "
              "where a paper gives the row; they keep 96-100% of vanilla's task accuracy.",
              "", "T per layer (full-masked step): " + "; ".join(
        "%s: %s" % (r["label"], ", ".join("%.1f" % x["unique_experts"] for x in r["routing"]["full"]["per_layer"]))
        for r in report["policies"]), ""]
    return "\n".join(lines)


def plot(report, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not found: no plot")
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, phase, title in ((axes[0], "denoise_full", "full", "denoising, block fully masked"),
                                  (axes[1], "generation", "generation", "block decoding, byte accuracy")):
        families = {}
        for r in report["policies"]:
            families.setdefault(r["label"].split()[0], []).append(
                (r["routing"][phase]["mean"]["unique_experts"], r["relative_to_vanilla"][key]))
        for fam, pts in families.items():
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=fam)
        ax.axhline(1.0, color="gray", lw=0.5)
        ax.set_xlabel("unique experts T per block of %d (%s)" % (BLOCK, "first step" if phase == "full"
                                                                   else "mean over decoding steps"))
        ax.set_ylabel("accuracy relative to vanilla")
        ax.set_title(title)
        ax.legend()
    fig.suptitle(report["title"])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def trace_layers(cfg, blocks, budget=4 * 2 ** 20):
    """As many evenly spaced layers as fit two trace files each in budget bytes; at least the middle one."""
    per_layer = 2 * blocks * BLOCK * cfg.num_experts * 4
    count = max(1, min(cfg.n_layers, budget // per_layer))
    if count == 1:
        return [cfg.n_layers // 2]
    return sorted({int(round(x)) for x in np.linspace(0, cfg.n_layers - 1, count)})


def write_traces(traces, model, folder, layers, blocks, steps, info, manifest):
    os.makedirs(folder, exist_ok=True)
    cfg = model.cfg
    names = {"full": "step0", "mid": "mid"}
    written = []
    for phase, per_layer in traces.items():
        if phase not in names:
            continue
        for layer in layers:
            arr = torch.cat(per_layer[layer])[:blocks].numpy().astype(np.float32)
            name = "layer%d_%s.npy" % (layer, names[phase])
            np.save(os.path.join(folder, name), np.ascontiguousarray(arr))
            written.append((name, arr.shape))
    for layer in layers:
        bias = model.moe_layers()[layer].expert_bias
        if bias is not None:
            np.save(os.path.join(folder, "layer%d_bias.npy" % layer), bias.float().cpu().numpy())
    flags = "--top-k %d --score %s%s --normalize --scaling %g" % (
        cfg.top_k, cfg.score, " --groups %d:%d" % tuple(cfg.groups) if cfg.groups else "", cfg.scaling)
    with open(os.path.join(folder, "README.md"), "w") as fh:
        fh.write("# Router logits of the coreroute diffusion LM, configuration %s\n\n" % cfg.name)
        fh.write("Model: bench/dllm (%d layers, d_model %d, M = %d experts, K = %d, %s router%s), trained by "
                 "bench/dllm/train.py (seed %s, %s steps). Held-out windows of the Python-source corpus: a %d-byte "
                 "context, then a block of N = %d bytes; routing vanilla.\n\n"
                 % (cfg.n_layers, cfg.d_model, cfg.num_experts, cfg.top_k, cfg.score,
                    ", bias, groups %d/%d, normalised x %g" % (cfg.groups[0], cfg.groups[1], cfg.scaling)
                    if cfg.groups else ", normalised weights", manifest.get("seed"), manifest.get("steps"),
                    cfg.seq_len - BLOCK, BLOCK))
        fh.write("| file | shape | what |\n|---|---|---|\n")
        for name, shape in written:
            what = "block fully masked (first decoding step)" if "step0" in name else \
                "generation step %d of %d (0-based; %d of the %d bytes decoded)" % (
                    steps // 2, steps, sum(BLOCK // steps + (s < BLOCK % steps) for s in range(steps // 2)), BLOCK)
            fh.write("| `%s` | %s | layer %s's router logits at the block's positions, %s |\n"
                     % (name, list(shape), name.split("_")[0][5:], what))
        bias_layers = [l for l in layers if model.moe_layers()[l].expert_bias is not None]
        for layer in bias_layers:
            fh.write("| `layer%d_bias.npy` | [%d] | layer %d's expert bias (selection only) |\n"
                     % (layer, cfg.num_experts, layer))
        fh.write("\nFloat32, C order, one block of N = %d tokens per row of the first axis ([B, N, M], "
                 "docs/trace-format.md).\n\nData: %d files, file list sha256 `%s`, bytes sha256 `%s` (python %s).\n\n"
                 % (BLOCK, info["files"], info["file_list_sha256"], info["content_sha256"], info["python"]))
        first = layers[0]  # the replay names files that exist: B's traces are of layer 2 alone
        fh.write("Replay: `coreroute sweep --trace layer%d_step0.npy %s%s --out sweep`\n"
                 % (first, flags, " --bias layer%d_bias.npy" % first if first in bias_layers else ""))
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="train.py's output folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--router", default="coreroute", help="coreroute | cli:PATH | torch-vanilla-plumbing")
    ap.add_argument("--windows", type=int, default=1024, help="held-out windows (blocks)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=8, help="generation steps for the 32-byte block")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--policies", default=None, help="comma-separated labels to run (default: all)")
    ap.add_argument("--traces", default=None, help="folder for router-logit traces (vanilla)")
    ap.add_argument("--trace-blocks", type=int, default=64)
    ap.add_argument("--trace-layers", default=None, help="e.g. 0,3 (default: evenly spaced layers, 4 MiB in all)")
    ap.add_argument("--data-root", action="append")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args(argv)
    if not 1 <= args.steps <= BLOCK:
        ap.error("--steps = %d: must be in [1, %d]" % (args.steps, BLOCK))
    for name in ("windows", "batch", "trace_blocks"):
        if getattr(args, name) < 1:
            ap.error("--%s = %d: must be >= 1" % (name.replace("_", "-"), getattr(args, name)))
    if args.traces and args.trace_blocks > min(args.batch, args.windows):
        ap.error("--trace-blocks = %d: traces come from the first batch, so at most min(--batch, --windows) = %d"
                 % (args.trace_blocks, min(args.batch, args.windows)))

    t0 = time.time()
    device = torch.device(args.device)
    try:
        router = make_router(args.router)
    except (ValueError, ImportError) as e:
        ap.error(str(e))
    model, manifest = dlm.load_checkpoint(args.checkpoint, device)
    model.eval()
    cfg = model.cfg
    specs = default_policies(cfg)
    if args.policies:
        wanted = [p.strip() for p in args.policies.split(",")]
        unknown = [p for p in wanted if p not in {s["label"] for s in specs}]
        if unknown:
            ap.error("--policies: unknown %s; known: %s" % (unknown, ", ".join(s["label"] for s in specs)))
        specs = [s for s in specs if s["label"] in wanted or s["label"] == "vanilla"]
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" \
        else __import__("contextlib").nullcontext
    trained = manifest.get("data", {})
    _, heldout, info, _ = corpus.load_corpus(args.data_root, args.cache, split=corpus.split_of(trained))
    trained_on = trained.get("file_list_sha256")
    if trained_on != info["file_list_sha256"]:
        print("warning: the file list differs from the training run's (%s vs %s): held-out windows may differ"
              % (info["file_list_sha256"][:16], str(trained_on)[:16]))
    if heldout.size <= cfg.seq_len:
        raise ValueError("held-out corpus has %d bytes, fewer than one window of %d (roots %s)"
                         % (heldout.size, cfg.seq_len, info["roots"]))
    windows, half = held_out_windows(heldout, args.windows, cfg.seq_len, args.seed)
    os.makedirs(args.out, exist_ok=True)
    results, vanilla_out = [], None
    traces = {} if args.traces else None
    for spec in specs:
        t = time.time()
        res, gen = evaluate_policy(model, router, spec, windows, half, args, autocast, device, vanilla_out,
                                   traces if spec["label"] == "vanilla" else None)
        if spec["label"] == "vanilla":
            vanilla_out = gen
            res["generation"]["agree_bytes"] = res["generation"]["agree_blocks"] = 1.0
        results.append(res)
        print("%-22s T %5.1f  hit %.3f  acc full %.3f half %.3f  gen bytes %.3f  (%.1fs)"
              % (spec["label"], res["routing"]["full"]["mean"]["unique_experts"],
                 res["routing"]["full"]["mean"]["topk_hit_rate"], res["denoise_full"]["accuracy"],
                 res["denoise_half"]["accuracy"], res["generation"]["byte_accuracy"], time.time() - t))
    add_relative(results)
    report = {"title": "coreroute diffusion LM, configuration %s (M = %d, K = %d, %s), %d held-out blocks"
                       % (cfg.name, cfg.num_experts, cfg.top_k, cfg.score, args.windows),
              "model": manifest["config"], "checkpoint": {"folder": args.checkpoint, "files": manifest["files"],
                                                         "steps": manifest.get("steps"), "seed": manifest.get("seed")},
              "router": args.router, "reportable": args.router == "coreroute",
              "settings": {"windows": args.windows, "context": cfg.seq_len - BLOCK, "block": BLOCK,
                           "steps": args.steps, "seed": args.seed,
                           "routing": "block positions by the policy (one routing block = the decoded block), "
                                      "context positions vanilla"},
              "data": info, "trained_on_file_list_sha256": trained_on, "torch": torch.__version__,
              "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "policies": results, "seconds": round(time.time() - t0, 1)}
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(report, fh, indent=1)
    with open(os.path.join(args.out, "results.md"), "w") as fh:
        fh.write(markdown(report))
    plot(report, os.path.join(args.out, "relative_accuracy.png"))
    if traces is not None:
        if args.trace_layers:
            layers = [int(x) for x in args.trace_layers.split(",")]
            bad = [x for x in layers if not 0 <= x < cfg.n_layers]
            if bad:
                ap.error("--trace-layers: %s not in [0, %d)" % (bad, cfg.n_layers))
        else:
            layers = trace_layers(cfg, args.trace_blocks)
        write_traces(traces, model, args.traces, layers, args.trace_blocks, args.steps, info, manifest)
    print("done in %.1fs: %s" % (time.time() - t0, args.out))
    return report


if __name__ == "__main__":
    main()
