"""The GPU parity check (test_gpu.check_parity) itself, on the CPU: the 'device' side is
the CPU op on perturbed logits. Identical inputs pass with no near-tie; perturbations at
the near-tie scale (they break the exact ties of coarse logits) pass only through verified near-ties; larger ones fail."""
import numpy as np
import pytest
import torch

import test_gpu


# The first six configs, and the float32 one with DeepSeek-V2 group scores (groups (G, T, "max")).
CHECKED = test_gpu.CONFIGS[:6] + [c for c in test_gpu.CONFIGS if c[2] and len(c[2]) > 2 and c[7] == torch.float32]


def run(monkeypatch, scale, policy, configs=CHECKED, B=60):
    def perturbed(self):
        if self.dtype == torch.float32 and self.dim() >= 2 and scale:
            noise = torch.randn(self.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
            return (self.double() + scale * noise).float()
        return self
    monkeypatch.setattr(torch.Tensor, "cuda", perturbed)
    rep = test_gpu.Report()
    for ci, (M, K, groups, bias, score, normalize, scaling, dtype, token_major) in enumerate(configs):
        if dtype != torch.float32:
            continue
        params = dict(test_gpu.POLICIES[policy])
        if policy == "union":
            params["k_local"] = min(params["k_local"], K)
        b = torch.randn(M, generator=torch.Generator().manual_seed(ci)) * 0.05 if bias else None
        group_score = groups[2] if groups and len(groups) > 2 else "top2"  # (G, T, "max"): DeepSeek-V2
        groups = groups[:2] if groups else groups
        kw = dict(policy=policy, top_k=K, score=score, groups=groups, group_score=group_score, normalize=normalize,
                  scaling=scaling, params=params, bias=b, bias_np=np.zeros(M) if b is None else b.double().numpy())
        tokens = np.random.default_rng(ci).integers(0, 33, B).astype(np.int32)
        test_gpu.check_parity(test_gpu.logits_for(B, 32, M, dtype, ci), kw, tokens, token_major, rep)
    return rep


@pytest.mark.parametrize("policy", ["union", "vote", "blockdist", "blockmax"])
def test_checker_accepts_only_verified_near_ties(monkeypatch, policy):
    same = run(monkeypatch, 0.0, policy)
    assert not same.failures and same.id_ties == 0 and same.coreset_ties == 0 and same.blocks > 0
    tiny = run(monkeypatch, 1e-9, policy)  # 1e-9: within the near-tie bound (ties broken)
    assert not tiny.failures, tiny.failures
    assert tiny.id_ties + tiny.coreset_ties > 0  # differences happened and were verified
    large = run(monkeypatch, 1e-3, policy)
    assert large.failures
