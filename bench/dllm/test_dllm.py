"""CPU tests of the diffusion LM: a tiny model trains (held-out loss falls), checkpoints round-trip, and the batched
expert mixture equals a per-token loop. Run: /usr/bin/python3 -m pytest bench/dllm (Debian's python3 has torch)."""
import os
import re
import shutil
import sys
import sysconfig

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed for this python3 (Debian: python3-torch)")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval as dllm_eval  # noqa: E402
import model as dlm       # noqa: E402
import train              # noqa: E402

CLI = os.environ.get("COREROUTE_CLI", "")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A few standard-library packages: enough bytes for a tiny model, at least one held-out file, fast to read."""
    import data as corpus
    root = tmp_path_factory.mktemp("py")
    stdlib = sysconfig.get_paths()["stdlib"]
    for name in ("json", "email", "http", "logging", "curses", "xml", "unittest", "importlib"):
        if os.path.isdir(os.path.join(stdlib, name)):
            shutil.copytree(os.path.join(stdlib, name), str(root / name))
        files = corpus.list_files([str(root)])
        held = sum(corpus.is_held_out(n) for n, _, _ in files)
        if held and sum(size for _, _, size in files) > 400_000:
            return str(root)
    pytest.fail("the standard library's packages give no held-out file: extend the list above")


def test_split_by_name_or_path(data_root):
    import data as corpus
    by_name = corpus.load_corpus([data_root], log=lambda *a: None)
    by_path = corpus.load_corpus([data_root], log=lambda *a: None, split="path")
    assert corpus.split_of(by_name[2]) == "name" and corpus.split_of(by_path[2]) == "path"
    assert by_name[2]["file_list_sha256"] != by_path[2]["file_list_sha256"]   # other keys, the same files
    assert sorted(f[1] for f in by_name[3]) == sorted(f[1] for f in by_path[3])
    assert corpus.split_of({"split": "held out: int(sha256(real path)) % 50 == 0"}) == "path"   # older runs
    with pytest.raises(ValueError, match="split"):
        corpus.split_of({})


@pytest.mark.parametrize("layout", ["balanced", "collapsed"])
def test_expert_mixture_equals_per_token_loop(layout):
    torch.manual_seed(0)
    t, d, e, f, k = 10, 6, 5, 3, 2
    x = torch.randn(t, d)
    ids = torch.randint(0, e, (t, k))
    if layout == "collapsed":   # every token on experts 0 and 1 of 100: the expert-by-expert path
        e = 100
        ids = torch.stack([torch.zeros(t, dtype=torch.long), torch.ones(t, dtype=torch.long)], 1)
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


@pytest.fixture(scope="module", params=["A", "B"])
def trained(request, data_root, tmp_path_factory):
    """A tiny model of each configuration, trained for a few steps: (config, output folder, training log)."""
    torch.set_num_threads(1)
    out = str(tmp_path_factory.mktemp("run") / request.param)
    log = train.main(["--config", request.param, "--tiny", "--out", out, "--steps", "12", "--batch", "8",
                      "--data-root", data_root, "--device", "cpu", "--log-every", "4", "--eval-every", "100"])
    return request.param, out, log


def test_tiny_model_trains_and_checkpoint_round_trips(trained, tmp_path):
    config, out, log = trained
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


def run_eval(out, data_root, tmp_path, router, policies, traces=False):
    args = ["--checkpoint", out, "--out", str(tmp_path / "eval"), "--router", router, "--policies", policies,
            "--windows", "8", "--batch", "8", "--steps", "2", "--data-root", data_root, "--device", "cpu"]
    if traces:
        args += ["--traces", str(tmp_path / "traces"), "--trace-blocks", "8"]
    return dllm_eval.main(args)


def test_eval_plumbing_with_torch_vanilla(trained, data_root, tmp_path):
    config, out, _ = trained
    report = run_eval(out, data_root, tmp_path, "torch-vanilla-plumbing", "top-4", traces=True)
    assert not report["reportable"]
    vanilla, top4 = report["policies"]
    m, k = report["model"]["num_experts"], report["model"]["top_k"]
    for phase in ("full", "half", "generation"):
        v = vanilla["routing"][phase]["mean"]
        assert v["topk_hit_rate"] == 1.0 and v["gate_loss"] == 0.0 and v["coreset_size"] == m
        assert k <= v["unique_experts"] <= min(m, 32 * k)
        # top-4 keeps each token's 4 best of vanilla's 8: half the hits, at most vanilla's experts
        t = top4["routing"][phase]["mean"]
        assert t["topk_hit_rate"] == pytest.approx(0.5) and t["gate_loss"] > 0
    assert vanilla["generation"]["agree_bytes"] == 1.0 and vanilla["relative_to_vanilla"]["denoise_full"] == 1.0
    assert 0 <= top4["generation"]["agree_bytes"] <= 1
    assert os.path.exists(str(tmp_path / "eval" / "results.md"))
    names = sorted(os.listdir(str(tmp_path / "traces")))
    layers = report["model"]["n_layers"]
    assert len([n for n in names if n.endswith("_step0.npy")]) == layers
    assert len([n for n in names if n.endswith("_mid.npy")]) == layers
    assert ("layer0_bias.npy" in names) == (config == "B") and "README.md" in names
    with open(str(tmp_path / "traces" / "README.md")) as fh:  # the table and the replay name files that exist
        named = set(re.findall(r"layer\w*\.npy", fh.read()))
    assert named and named <= set(names)
    trace = np.load(str(tmp_path / "traces" / "layer0_step0.npy"))
    assert trace.shape == (8, 32, m) and trace.dtype == np.float32
    with pytest.raises(ValueError, match="coreroute op"):
        run_eval(out, data_root, tmp_path, "torch-vanilla-plumbing", "union k=2")


@pytest.mark.skipif(not os.access(CLI, os.X_OK), reason="set COREROUTE_CLI to the coreroute CLI to run policies")
def test_eval_policies_through_the_reference_cli(trained, data_root, tmp_path):
    config, out, _ = trained
    by_torch = run_eval(out, data_root, tmp_path, "torch-vanilla-plumbing", "top-4")
    by_cli = run_eval(out, data_root, tmp_path, "cli:" + CLI, "top-4,union k=2,vote beta=0.3")
    for a, b in zip(by_torch["policies"], by_cli["policies"]):   # the same routing, the same model outputs
        assert a["denoise_full"] == pytest.approx(b["denoise_full"], rel=1e-5)
        assert a["routing"]["full"]["mean"] == pytest.approx(b["routing"]["full"]["mean"], rel=1e-5)
    union, vote = by_cli["policies"][2:]
    for phase in ("full", "generation"):
        u, v = union["routing"][phase]["mean"], vote["routing"][phase]["mean"]
        assert u["unique_experts"] <= u["coreset_size"] + 1e-9
        if config == "A":   # each token's own top-2 is in the union; with groups (B) Stage 2 may drop them (docs/spec.md section 3)
            assert u["topk_hit_rate"] >= 2 / 8 - 1e-9
        assert v["coreset_size"] == int(0.3 * by_cli["model"]["num_experts"])
        assert v["unique_experts"] <= v["coreset_size"]
