"""Train the masked-diffusion byte LM of model.py on the Python installation's source code.

    PYTHONUNBUFFERED=1 python3 bench/dllm/train.py --config A --out OUT/A --minutes 4

Objective (LLaDA): per sequence a masking ratio t ~ U(eps, 1); each maskable position is masked with probability
t; loss = cross-entropy on the masked positions times 1/t, summed and divided by the number of maskable positions.
Half the sequences are "block" samples: only their last BLOCK bytes are maskable and the context before is clean,
the layout of semi-autoregressive block decoding that eval.py measures (a context, then a block of 32).

Reproducible from the script and --seed: the batches and masks come from a seeded CPU generator, and the learning
rate schedule depends only on the total step count. With --minutes and no --steps the step count is fitted to the
budget after 30 steps and again at the end of the warmup (recorded as "total_steps"; pass it as --steps to repeat
the run); the wall-clock limit still stops training cleanly if the machine is slower than the estimate. Results: OUT/train_log.json (loss curve,
config, data digests) and the checkpoint, OUT/checkpoint.json + OUT/model-NN.pt (see model.save_checkpoint): four
files in all, so that two configurations' outputs come back from a machine that returns at most eight.
"""
import argparse
import contextlib
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as corpus  # noqa: E402
import model as dlm    # noqa: E402

BLOCK = 32
EPS = 1e-3


def sample_batch(source, batch, seq_len, gen, block_share=0.5):
    """tokens [B, L] int64, t [B], masked [B, L] bool, maskable count [B] (all on CPU, from gen only)."""
    starts = torch.randint(0, source.numel() - seq_len, (batch,), generator=gen)
    tokens = source[starts[:, None] + torch.arange(seq_len)[None, :]].long()
    t = EPS + (1 - EPS) * torch.rand(batch, generator=gen)
    block = torch.rand(batch, generator=gen) < block_share
    maskable = torch.ones(batch, seq_len, dtype=torch.bool)
    maskable[block, : seq_len - BLOCK] = False
    masked = (torch.rand(batch, seq_len, generator=gen) < t[:, None]) & maskable
    return tokens, t, masked, maskable.sum(1).float()


def batch_loss(model, batch, device):
    tokens, t, masked, count = (x.to(device, non_blocking=True) for x in batch)
    weighted, aux = dlm.diffusion_loss(model, tokens, t, masked)
    return (weighted.sum(1) / count).mean(), aux


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(dlm.CONFIGS), required=True)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--minutes", type=float, default=4.0, help="wall-clock budget of the training loop")
    ap.add_argument("--steps", type=int, default=0, help="total steps (default: fitted to --minutes)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tiny", action="store_true", help="a tiny model of the same router shape (CPU tests)")
    ap.add_argument("--data-root", action="append", help="read .py files from here instead of the installation")
    ap.add_argument("--split", choices=sorted(corpus.SPLIT_KEYS), default="name",
                    help="split files by their name below the root (default) or by their real path")
    ap.add_argument("--cache", default=None, help="folder for the corpus arrays (default: none)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--file-list", default=None, help="write the file list (name, path, size, split) here, .tsv.gz")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model where available")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=500)
    args = ap.parse_args(argv)
    if args.batch < 1:
        ap.error("--batch = %d: must be >= 1" % args.batch)
    if args.minutes <= 0:
        ap.error("--minutes = %g: must be > 0" % args.minutes)
    if args.steps < 0:
        ap.error("--steps = %d: must be >= 0" % args.steps)

    os.makedirs(args.out, exist_ok=True)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    cfg = dlm.CONFIGS[args.config]
    if args.tiny:
        cfg = dlm.tiny(cfg)

    train, heldout, info, files = corpus.load_corpus(args.data_root, args.cache, split=args.split)
    if min(train.size, heldout.size) <= cfg.seq_len:
        raise ValueError("corpus too small for seq_len %d: %d train / %d held-out bytes"
                         % (cfg.seq_len, train.size, heldout.size))
    if args.file_list:
        with gzip.open(args.file_list, "wt") as fh:
            key = corpus.split_key(args.split)
            for f in files:
                fh.write("%s\t%s\t%d\t%s\n" % (f[0], f[1], f[2], "heldout" if corpus.is_held_out(f[key]) else "train"))
    train_t = torch.from_numpy(train.copy())
    heldout_t = torch.from_numpy(heldout.copy())

    model = dlm.DiffusionLM(cfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print("config %s: %.2fM parameters, %s" % (cfg.name, n_params / 1e6, json.dumps(cfg.to_json())))
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    step_model = model
    if args.compile and hasattr(torch, "compile"):
        step_model = torch.compile(model)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" \
        else contextlib.nullcontext

    gen = torch.Generator().manual_seed(args.seed)
    held_gen = torch.Generator().manual_seed(10_000 + args.seed)
    held_batches = [sample_batch(heldout_t, args.batch, cfg.seq_len, held_gen) for _ in range(4)]

    def heldout_loss():
        model.eval()
        with torch.no_grad(), autocast():
            value = float(np.mean([batch_loss(step_model, b, device)[0].item() for b in held_batches]))
        model.train()
        return value

    budget = args.minutes * 60
    total = args.steps or 10 ** 9
    warmup = 200
    curve, evals = [], [{"step": 0, "time_s": 0.0, "heldout_loss": heldout_loss()}]
    t0 = time.time()
    timing = {10: None, 30: 10, warmup // 2: None, warmup: warmup // 2}   # step -> the step its timing starts at
    marks, fits = {}, []
    stopped_by = "steps"
    step = 0
    while step < total:
        elapsed = time.time() - t0
        if elapsed > budget:
            stopped_by = "wall clock"
            break
        if not args.steps and step in timing:
            # The step count is fitted twice: after 30 steps, and again at the end of the warmup, timed over its
            # second half, once the first slow steps (uneven expert loads, allocator growth) are past. The second
            # fit changes no learning rate already used: the warmup is the same for every total >= 10 * warmup.
            if device.type == "cuda":
                torch.cuda.synchronize()
            now = time.time()
            start = timing[step]
            if start is None:
                marks[step] = now
            elif step == 30 or total >= 10 * warmup:
                per_step = (now - marks[start]) / (step - start)
                # 3% of the budget is kept for held-out evaluations and the checkpoint
                total = step + int((budget * 0.97 - (now - t0)) / per_step)
                total = max(total, step + 1, 10 * warmup if step > 30 else 0)
                fits.append({"at_step": step, "s_per_step": round(per_step, 4), "total_steps": total})
                print("%.3f s/step: %d steps fit in %.1f min" % (per_step, total, args.minutes))
        lr = lr_at(step, total if total < 10 ** 9 else 10 ** 6, args.lr, min(warmup, max(1, total // 10)))
        for group in opt.param_groups:
            group["lr"] = lr
        batch = sample_batch(train_t, args.batch, cfg.seq_len, gen)
        with autocast():
            loss, aux = batch_loss(step_model, batch, device)
        opt.zero_grad(set_to_none=True)
        (loss + aux).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        model.update_expert_bias()
        step += 1
        if step % args.log_every == 0 or step == 1:
            curve.append({"step": step, "time_s": round(time.time() - t0, 2), "loss": round(loss.item(), 5),
                          "aux": round(float(aux), 6), "lr": lr})
            print("step %6d  %7.1fs  loss %.4f  aux %.4f  lr %.2e" % (step, curve[-1]["time_s"], curve[-1]["loss"],
                                                                    curve[-1]["aux"], lr))
        if step % args.eval_every == 0:
            evals.append({"step": step, "time_s": round(time.time() - t0, 2), "heldout_loss": heldout_loss()})
            print("step %6d  held-out loss %.4f" % (step, evals[-1]["heldout_loss"]))
    train_s = time.time() - t0
    final = heldout_loss()
    evals.append({"step": step, "time_s": round(time.time() - t0, 2), "heldout_loss": final})
    load = [m.last_counts.float().cpu() for m in model.moe_layers()]
    log = {"config": cfg.to_json(), "args": vars(args), "parameters": n_params, "data": info,
           "torch": torch.__version__, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "total_steps": total, "steps_done": step, "step_count_fits": fits, "stopped_by": stopped_by,
           "train_seconds": round(train_s, 1), "curve": curve, "heldout": evals,
           "final_heldout_loss": final, "objective": "LLaDA masked diffusion, 1/t weighted, half block samples",
           "last_step_expert_load_max_over_mean": [round(float(x.max() / x.mean()), 3) for x in load]}
    manifest = dlm.save_checkpoint(model, args.out,
                                   {"data": info, "seed": args.seed, "steps": step})
    log["checkpoint_bytes"] = sum(f["bytes"] for f in manifest["files"])
    with open(os.path.join(args.out, "train_log.json"), "w") as fh:
        json.dump(log, fh, indent=1)
    print("done: %d steps in %.1fs (%s), held-out loss %.4f, checkpoint %.1f MiB in %d files"
          % (step, train_s, stopped_by, final, log["checkpoint_bytes"] / 2 ** 20, len(manifest["files"])))
    return log


if __name__ == "__main__":
    main()
