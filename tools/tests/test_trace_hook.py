"""Runs the PyTorch hook of docs/trace-format.md on a stand-in LLaDA2.0 gate.

The stand-in returns what LLaDA2MoeGate.forward returns, (topk_idx, topk_weight,
logits), so a hook that saves output[0] (the top-k ids) fails here. Exit 77 (a ctest
skip) when this Python has no torch: run it with Debian's /usr/bin/python3.
"""
import re
import sys

try:
    import numpy as np
    import torch
except ImportError as e:
    print("skipped: %s (install python3-torch and python3-numpy; run with /usr/bin/python3)" % e)
    sys.exit(77)

doc = open(sys.argv[1], encoding="utf-8").read()
section = doc[doc.index("## Dumping router logits from PyTorch"):]
snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
ns = {}
exec(compile(snippet, "docs/trace-format.md", "exec"), ns)

M, K, N, H = 16, 4, 8, 6


class StandInGate(torch.nn.Module):
    """The signature of LLaDA2MoeGate.forward: (topk_idx, topk_weight, logits)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(M, H))

    def forward(self, hidden):
        logits = torch.nn.functional.linear(hidden.reshape(-1, H), self.weight)
        topk_weight, topk_idx = torch.topk(torch.sigmoid(logits), K, dim=-1)
        return topk_idx, topk_weight, logits


torch.manual_seed(0)
gate = StandInGate()
seen = []
seq = 3 * N  # three blocks, one forward pass each over the whole sequence


def decoding():
    starts = []
    for b in range(3):
        hidden = torch.randn(1, seq, H)
        seen.append(torch.nn.functional.linear(hidden.reshape(-1, H), gate.weight).detach())
        gate(hidden)
        starts.append(b * N)
    return starts


got = ns["dump_router_logits"](gate, M, decoding, block_len=N)
want = np.stack([seen[b][b * N:(b + 1) * N].numpy() for b in range(3)]).astype(np.float32)
assert got.shape == (3, N, M), got.shape
assert got.dtype == np.float32, got.dtype
assert np.array_equal(got, want), "the hook did not save the gate's logits"

# A gate without logits in its output (DeepSeek-V3's MoEGate: (topk_idx, topk_weight)).
try:
    ns["router_logits"]((torch.zeros(2, K, dtype=torch.long), torch.zeros(2, K)), M)
    raise AssertionError("a gate output without logits was accepted")
except ValueError:
    pass
print("ok: the documented hook saves the [B, N, M] logits of a (topk_idx, topk_weight, logits) gate")
