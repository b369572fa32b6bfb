"""Seconds per training step on this machine, and where they go: drawing a batch, its targets
(with the per-stem cache of source band powers, and with an STFT of every source as before),
and the network's forward and backward pass.

    python benchmarks/bench_train_step.py --data data/val-in            # a folder made by make-data
    python benchmarks/bench_train_step.py --data data/val-in --threads 1 --no-bf16

Each part is timed on the same batches after one warm-up batch, so the cache is warm for the
stems of later batches as it is in a long run (every stem is drawn many times). Run it on an
idle machine: other work on the cores shows here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from separator.model import ChimeraNet
from separator.training.data.mix import StemBank
from separator.training.train import batch_targets, compute_loss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="a folder made by separator make-data")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="default: where the CPU runs it")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.bf16 is None:
        from separator.devices import bfloat16_lstm

        args.bf16 = bfloat16_lstm()

    bank = StemBank(args.data)
    rate, samples = bank.sample_rate, int(args.seconds * bank.sample_rate)
    model = ChimeraNet(stereo=True).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    device = torch.device("cpu")
    times: dict[str, list[float]] = {
        "draw (with powers)": [],
        "draw (without)": [],
        "targets (cached powers)": [],
        "targets (STFT per source)": [],
        "network": [],
    }
    for step in range(args.steps + 1):
        rng = np.random.default_rng([0, step])
        t0 = time.perf_counter()
        batch = bank.draw(rng, args.batch, samples, powers=True)
        t1 = time.perf_counter()
        cached = batch_targets(batch, rate, device, stereo=True)
        t2 = time.perf_counter()
        plain = bank.draw(np.random.default_rng([0, step]), args.batch, samples)
        t3 = time.perf_counter()
        batch_targets(plain, rate, device, stereo=True)
        t3b = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss, _ = compute_loss(model, cached, alpha=0.975)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        t4 = time.perf_counter()
        if step:  # the first batch warms up the cache and torch
            for name, seconds in zip(times, (t1 - t0, t3 - t2, t2 - t1, t3b - t3, t4 - t3b), strict=True):
                times[name].append(seconds)
    print(f"{args.batch} × {args.seconds:g} s, stereo model, {args.threads} threads, bf16 {args.bf16}, median of {args.steps} steps")
    for name, values in times.items():
        print(f"  {name:28s} {np.median(values):6.3f} s")
    med = {k: float(np.median(v)) for k, v in times.items()}
    with_cache = med["draw (with powers)"] + med["targets (cached powers)"] + med["network"]
    without = med["draw (without)"] + med["targets (STFT per source)"] + med["network"]
    print(f"  {'step, cached powers':28s} {with_cache:6.3f} s")
    print(f"  {'step, STFT per source':28s} {without:6.3f} s")


if __name__ == "__main__":
    main()
