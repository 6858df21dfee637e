"""CPU tests of the diffusion LM: a tiny model trains (held-out loss falls), checkpoints round-trip, and the batched
expert mixture equals a per-token loop. Run: /usr/bin/python3 -m pytest bench/dllm (Debian's python3 has torch)."""
import os
import shutil
import sys
import sysconfig

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed for this python3 (Debian: python3-torch)")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as dlm  # noqa: E402
import train         # noqa: E402


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A few standard-library modules: enough bytes for a tiny model, fast to read."""
    root = tmp_path_factory.mktemp("py")
    stdlib = sysconfig.get_paths()["stdlib"]
    for name in ("json", "email", "http", "logging"):
        shutil.copytree(os.path.join(stdlib, name), str(root / name))
    return str(root)


def test_expert_mixture_equals_per_token_loop():
    torch.manual_seed(0)
    t, d, e, f, k = 10, 6, 5, 3, 2
    x = torch.randn(t, d)
    ids = torch.randint(0, e, (t, k))
    ids[3, 1] = -1                     # an empty slot contributes nothing
    w = torch.rand(t, k)
    w_in, w_out = torch.randn(e, d, 2 * f), torch.randn(e, f, d)
    y, counts = dlm.expert_mixture(x, ids, w, w_in, w_out)
    want = torch.zeros(t, d)
    for i in range(t):
        for j in range(k):
            if ids[i, j] >= 0:
                g, u = (x[i] @ w_in[ids[i, j]]).chunk(2)
                want[i] += w[i, j] * ((torch.nn.functional.silu(g) * u) @ w_out[ids[i, j]])
    assert torch.allclose(y, want, atol=1e-5)
    assert counts.sum().item() == t * k - 1


@pytest.mark.parametrize("config", ["A", "B"])
def test_tiny_model_trains_and_checkpoint_round_trips(config, data_root, tmp_path):
    torch.set_num_threads(1)
    out = str(tmp_path / config)
    log = train.main(["--config", config, "--tiny", "--out", out, "--steps", "12", "--batch", "8",
                      "--data-root", data_root, "--device", "cpu", "--log-every", "4", "--eval-every", "100"])
    first, last = log["heldout"][0]["heldout_loss"], log["heldout"][-1]["heldout_loss"]
    assert last < first - 0.2, (first, last)
    assert len(log["data"]["file_list_sha256"]) == 64
    assert sorted(os.listdir(out)) == ["checkpoint.json", "model-00.pt", "train_log.json"]

    loaded, manifest = dlm.load_checkpoint(out)
    assert manifest["config"]["name"] == config
    fresh = dlm.DiffusionLM(dlm.ModelConfig.from_json(manifest["config"]))
    assert set(loaded.state_dict()) == set(fresh.state_dict())
    if config == "B":   # the bias was updated in training and is stored in full precision
        assert loaded.blocks[0].moe.expert_bias.abs().sum() > 0

    # Forced into several small files, the same weights come back, and a damaged file is refused.
    small = str(tmp_path / "small")
    limit = max(2 * v.numel() for v in loaded.state_dict().values()) + 2 ** 16 + 8192   # the largest tensor fits
    m2 = dlm.save_checkpoint(loaded, small, file_limit=limit)
    assert len(m2["files"]) > 1 and all(f["bytes"] <= limit for f in m2["files"])
    again, _ = dlm.load_checkpoint(small)
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    tokens = torch.randint(0, 257, (2, 40))
    loaded.eval(), again.eval()
    with torch.no_grad():
        assert torch.equal(loaded(tokens)[0], again(tokens)[0])
    with open(os.path.join(small, m2["files"][0]["file"]), "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="sha256"):
        dlm.load_checkpoint(small)
