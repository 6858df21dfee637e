"""A small LLaDA-style masked-diffusion language model over bytes, with an MoE feed-forward layer in every block.

Vocabulary: the 256 byte values plus MASK = 256. The transformer is bidirectional (no causal mask), pre-norm,
RMSNorm, rotary positions, SwiGLU experts. Two router shapes (docs/spec.md section 1):

  A  LLaDA-MoE, scaled down: M = 64, K = 8, softmax, normalised weights, load-balancing auxiliary loss.
  B  LLaDA2.0-mini, scaled down: M = 256, K = 8, sigmoid + selection bias, groups 8 / top-4, normalised weights
     times 2.5, one shared expert; the bias follows DeepSeek-V3's auxiliary-loss-free update.

The routing of an MoE layer can be replaced from outside (`route=` of `DiffusionLM.forward`): the evaluation routes
with coreroute's policies through it. Runs on torch 1.13 and 2.x.
"""
import dataclasses
import json
import math
import os
import hashlib

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB = 256          # byte values
MASK = 256           # the mask token
EMBED_VOCAB = 257


@dataclasses.dataclass
class ModelConfig:
    name: str = "A"
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    seq_len: int = 256
    num_experts: int = 64
    top_k: int = 8
    expert_hidden: int = 64
    shared_hidden: int = 0          # 0: no shared expert
    score: str = "softmax"          # "softmax" | "sigmoid"
    groups: tuple = None            # (n_group, topk_group) or None
    normalize: bool = True
    scaling: float = 1.0
    aux_loss_coef: float = 0.0      # load-balancing loss (softmax router)
    bias_update_rate: float = 0.0   # aux-loss-free bias update step (sigmoid router)

    def to_json(self):
        d = dataclasses.asdict(self)
        d["groups"] = list(self.groups) if self.groups else None
        return d

    @staticmethod
    def from_json(d):
        d = dict(d)
        d["groups"] = tuple(d["groups"]) if d.get("groups") else None
        return ModelConfig(**d)


CONFIGS = {
    "A": ModelConfig(name="A", num_experts=64, top_k=8, expert_hidden=64, score="softmax", normalize=True,
                     scaling=1.0, aux_loss_coef=0.01),
    "B": ModelConfig(name="B", num_experts=256, top_k=8, expert_hidden=16, shared_hidden=64, score="sigmoid",
                     groups=(8, 4), normalize=True, scaling=2.5, bias_update_rate=1e-3),
}


def tiny(cfg):
    """The same router shape on a model small enough for a CPU test."""
    return dataclasses.replace(cfg, d_model=32, n_layers=2, n_heads=2, seq_len=64, expert_hidden=8,
                               shared_hidden=8 if cfg.shared_hidden else 0)


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rotary(x, cos, sin):
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2).type_as(x)


def attention(q, k, v):
    """Bidirectional attention; scaled_dot_product_attention where the torch has it (2.0+)."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v)
    a = torch.softmax((q @ k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1]), dim=-1).type_as(q)
    return a @ v


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.h = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x, cos, sin):
        b, l, d = x.shape
        q, k, v = self.qkv(x).view(b, l, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        y = attention(rotary(q, cos, sin), rotary(k, cos, sin), v)
        return self.out(y.transpose(1, 2).reshape(b, l, d))


def training_route(cfg, logits, bias):
    """The model's own routing (used in training, and as the pure-PyTorch vanilla route): ids [T,K], weights [T,K]."""
    if cfg.score == "softmax":
        scores = torch.softmax(logits, dim=-1)
    else:
        scores = torch.sigmoid(logits)
    select = scores if bias is None else scores + bias
    if cfg.groups:
        g, tg = cfg.groups
        t, m = select.shape
        group_score = select.view(t, g, m // g).topk(2, dim=-1).values.sum(-1)
        keep = torch.zeros_like(group_score, dtype=torch.bool)
        keep.scatter_(1, group_score.topk(tg, dim=-1).indices, True)
        select = select.masked_fill(~keep.repeat_interleave(m // g, dim=1), float("-inf"))
    ids = select.topk(cfg.top_k, dim=-1).indices
    w = scores.gather(1, ids)
    if cfg.normalize:
        w = w / w.sum(-1, keepdim=True).clamp_min(1e-20)
    return ids, w * cfg.scaling, scores


def expert_mixture(x, ids, w, w_in, w_out):
    """sum_k w[t,k] * expert_{ids[t,k]}(x[t]) for x [T,d]; ids < 0 are empty slots.

    Tokens are sorted by expert into a padded [E, capacity, d] buffer, so every expert is one slice of a batched
    matmul (torch.bmm); capacity is the largest expert's load, so no token is ever dropped. Where the load is so
    uneven that padding would multiply the work by more than 16 (a collapsed router), experts run one by one.
    """
    t, d = x.shape
    e_count = w_in.shape[0]
    flat = ids.reshape(-1)
    valid = flat >= 0
    token = torch.arange(t, device=x.device).repeat_interleave(ids.shape[1])[valid]
    expert = flat[valid]
    weight = w.reshape(-1)[valid]
    expert, order = torch.sort(expert, stable=True)
    token, weight = token[order], weight[order]
    counts = torch.bincount(expert, minlength=e_count)
    capacity = max(int(counts.max().item()), 1) if expert.numel() else 1
    if capacity * e_count > 16 * expert.numel():
        rows, outs = x[token], []
        for i, (lo, n) in enumerate(zip((torch.cumsum(counts, 0) - counts).tolist(), counts.tolist())):
            if n:
                gate, up = (rows[lo:lo + n] @ w_in[i]).chunk(2, dim=-1)
                outs.append((F.silu(gate) * up) @ w_out[i])
        y = torch.cat(outs).float() * weight.float()[:, None]
        return torch.zeros(t, d, device=x.device, dtype=y.dtype).index_add_(0, token, y), counts
    start = torch.cumsum(counts, 0) - counts
    slot = torch.arange(expert.numel(), device=x.device) - start[expert]
    buf = x.new_zeros(e_count, capacity, d)
    buf[expert, slot] = x[token]
    gate, up = torch.bmm(buf, w_in).chunk(2, dim=-1)
    out = torch.bmm(F.silu(gate) * up, w_out)
    y = out[expert, slot].float() * weight.float()[:, None]
    return torch.zeros(t, d, device=x.device, dtype=y.dtype).index_add_(0, token, y), counts


class MoE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        e, d, f = cfg.num_experts, cfg.d_model, cfg.expert_hidden
        self.router = nn.Linear(d, e, bias=False)
        self.w_in = nn.Parameter(torch.randn(e, d, 2 * f) / math.sqrt(d))
        self.w_out = nn.Parameter(torch.randn(e, f, d) / math.sqrt(f))
        if cfg.score == "sigmoid":
            self.register_buffer("expert_bias", torch.zeros(e))
        else:
            self.expert_bias = None
        if cfg.shared_hidden:
            self.shared_in = nn.Linear(d, 2 * cfg.shared_hidden, bias=False)
            self.shared_out = nn.Linear(cfg.shared_hidden, d, bias=False)
        self.last_counts = None

    def forward(self, x, layer, route=None):
        b, l, d = x.shape
        flat = x.reshape(b * l, d)
        with torch.autocast(device_type=x.device.type, enabled=False):   # the router in fp32: no bf16 ties
            logits = F.linear(flat.float(), self.router.weight.float())
        aux = logits.new_zeros(())
        if route is None:
            ids, w, scores = training_route(self.cfg, logits, self.expert_bias)
            if self.training and self.cfg.aux_loss_coef > 0:
                # Switch-style balance loss: M * sum_i (share of assignments to i) * (mean score of i)
                share = torch.bincount(ids.reshape(-1), minlength=self.cfg.num_experts).float() / ids.numel()
                aux = self.cfg.aux_loss_coef * self.cfg.num_experts * (share * scores.mean(0)).sum()
        else:
            ids, w = route(layer, logits.view(b, l, -1), self.expert_bias)
        y, counts = expert_mixture(flat, ids, w, self.w_in, self.w_out)
        self.last_counts = counts.detach()
        if self.cfg.shared_hidden:
            gate, up = self.shared_in(flat).chunk(2, dim=-1)
            y = y + self.shared_out(F.silu(gate) * up).float()
        return y.view(b, l, d).type_as(x), aux


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(cfg.d_model), RMSNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.moe = MoE(cfg)

    def forward(self, x, cos, sin, layer, route):
        x = x + self.attn(self.norm1(x), cos, sin)
        y, aux = self.moe(self.norm2(x), layer, route)
        return x + y, aux


class DiffusionLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(EMBED_VOCAB, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, VOCAB, bias=False)
        hd = cfg.d_model // cfg.n_heads
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.arange(cfg.seq_len).float()[:, None] * inv[None, :]
        self.register_buffer("cos", ang.cos(), persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)
        for mod in self.modules():
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                nn.init.normal_(mod.weight, std=0.02)

    def forward(self, tokens, route=None):
        """tokens [B, L] in 0..256 -> byte logits [B, L, 256] (float32) and the summed auxiliary loss.

        route(layer, logits [B, L, M] fp32, expert_bias or None) -> (ids [B*L, K] (-1 = empty), weights [B*L, K])
        replaces every MoE layer's top-K; None uses the model's own routing.
        """
        l = tokens.shape[1]
        x = self.embed(tokens)
        cos, sin = self.cos[:l], self.sin[:l]
        aux = x.new_zeros((), dtype=torch.float32)
        for i, block in enumerate(self.blocks):
            x, a = block(x, cos, sin, i, route)
            aux = aux + a
        return self.head(self.norm(x)).float(), aux

    def moe_layers(self):
        return [b.moe for b in self.blocks]

    @torch.no_grad()
    def update_expert_bias(self):
        """DeepSeek-V3's auxiliary-loss-free balancing: raise the bias of under-loaded experts, lower the others."""
        rate = self.cfg.bias_update_rate
        if rate <= 0:
            return
        for moe in self.moe_layers():
            load = moe.last_counts.float()
            moe.expert_bias += rate * torch.sign(load.mean() - load)


def diffusion_loss(model, tokens, t, masked):
    """LLaDA's objective: cross-entropy on masked positions, each weighted by 1 / t of its sequence, averaged over
    the maskable positions (sum / (B * L) in LLaDA; here per sequence over its maskable span, see train.py)."""
    inputs = torch.where(masked, torch.full_like(tokens, MASK), tokens)
    logits, aux = model(inputs)
    ce = F.cross_entropy(logits.reshape(-1, VOCAB), tokens.reshape(-1), reduction="none").view(tokens.shape)
    weighted = (ce * masked.float()) / t[:, None]
    return weighted, aux


# --- checkpoints: bf16 tensors in files of at most 15 MiB, with a JSON manifest ---

FILE_LIMIT = 15 * 2 ** 20


def save_checkpoint(model, folder, extra=None, file_limit=FILE_LIMIT):
    os.makedirs(folder, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        # Weights go out as bf16 (the model runs in bf16 autocast); the expert bias stays fp32 (it decides selection).
        state[k] = v.detach().cpu().to(torch.bfloat16) if v.is_floating_point() and "expert_bias" not in k \
            else v.detach().cpu().clone()
    shards, current, size = [], {}, 0
    for k, v in state.items():
        nbytes = v.numel() * v.element_size()
        if nbytes > file_limit - 2 ** 16:
            raise ValueError("checkpoint: tensor %s has %d bytes, more than a file may hold (%d)" % (k, nbytes, file_limit))
        if current and size + nbytes > file_limit - 2 ** 16:   # leave room for the pickle's own bytes
            shards.append(current)
            current, size = {}, 0
        current[k] = v
        size += nbytes
    shards.append(current)
    files = []
    for i, shard in enumerate(shards):
        name = "model-%02d.pt" % i
        path = os.path.join(folder, name)
        torch.save(shard, path)
        if os.path.getsize(path) > file_limit:
            raise ValueError("checkpoint shard %s is %d bytes, over the limit %d"
                             % (name, os.path.getsize(path), file_limit))
        with open(path, "rb") as fh:
            files.append({"file": name, "bytes": os.path.getsize(path), "sha256": hashlib.sha256(fh.read()).hexdigest()})
    manifest = {"config": model.cfg.to_json(), "files": files}
    manifest.update(extra or {})
    with open(os.path.join(folder, "checkpoint.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
    return manifest


def torch_load(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:   # a torch without weights_only
        return torch.load(path, map_location="cpu")


def load_checkpoint(folder, device="cpu"):
    with open(os.path.join(folder, "checkpoint.json")) as fh:
        manifest = json.load(fh)
    state = {}
    for f in manifest["files"]:
        path = os.path.join(folder, f["file"])
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        if digest != f["sha256"]:
            raise ValueError("checkpoint file %s: sha256 %s differs from the manifest's %s" % (path, digest, f["sha256"]))
        state.update(torch_load(path))
    model = DiffusionLM(ModelConfig.from_json(manifest["config"]))
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.to(device), manifest
