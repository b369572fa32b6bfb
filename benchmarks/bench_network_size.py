"""What a wider or deeper network costs (issue 18, item 3): for each BLSTM size, its parameters, the size of its
shipped file (float16 weights, as ``save_checkpoint(..., half=True)`` writes it), the network's time on one 20-s
segment of the split, and one training step, each against the shipped size side by side.

    python benchmarks/bench_network_size.py                          # 2 x 256 (shipped) against five bigger ones
    python benchmarks/bench_network_size.py --sizes 2x256,3x256 --repeats 9

The split runs the network on one 20-s segment at a time (1,723 frames, batch 1) and a training step is a batch of
8 mixtures of 3 s (258 frames), forward and backward; both on ``--threads`` threads (default 1: the split's workers
and ``separator train --threads 1`` each use one), in bfloat16 where the CPU runs it natively, as ``precision =
auto`` and ``separator train --bf16`` do. Every size is timed in turn, round after round, and the median of the
rounds is kept, so a machine that slows down slows every size alike. Weights are random: the time and size of a
network do not depend on them.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from separator.devices import bfloat16_lstm
from separator.model import ChimeraNet, save_checkpoint

SHIPPED = (2, 256)
SIZES = "2x256,2x320,2x384,3x256,4x300,3x384"
SEGMENT_FRAMES = 1723  # 20 s at 44.1 kHz, hop 512
STEP_BATCH, STEP_FRAMES = 8, 258  # 8 mixtures of 3 s
FILE_LIMIT_MB = 10.0  # the shipped model's bar (issue 18): float16 weights in git, at most 10 MB


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"2x256,3x384"`` → ``[(2, 256), (3, 384)]`` (layers, units per direction)."""
    sizes = []
    for part in text.split(","):
        layers, _, hidden = part.strip().partition("x")
        sizes.append((int(layers), int(hidden)))
    return sizes


def file_megabytes(net: ChimeraNet) -> float:
    """The size in MB of the network's checkpoint with float16 weights, as :func:`save_checkpoint` ships it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "net.pt"
        save_checkpoint(net, path, half=True)
        return path.stat().st_size / 1e6


def inputs(batch: int, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features ``(batch, frames, 128)`` in dB and stereo cues ``(batch, frames, 128, 3)``."""
    generator = torch.Generator().manual_seed(0)
    feats = torch.randn(batch, frames, 128, generator=generator) * 10 - 40
    return feats, torch.rand(batch, frames, 128, 3, generator=generator)


def segment_fn(net: ChimeraNet, bf16: bool) -> Callable[[], None]:
    """The split's call: one segment through the network, no gradients."""
    feats, cues = inputs(1, SEGMENT_FRAMES)

    def run() -> None:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            net(feats, cues)

    return run


def step_fn(net: ChimeraNet, bf16: bool) -> Callable[[], None]:
    """A training step's network work: forward and backward of a batch (a stand-in loss on both heads)."""
    feats, cues = inputs(STEP_BATCH, STEP_FRAMES)

    def run() -> None:
        net.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            embeddings, masks = net(feats, cues)
        (embeddings.float().square().mean() + masks.float().mean()).backward()
        net.zero_grad(set_to_none=True)
        net.eval()

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=SIZES, help=f"LAYERSxUNITS, comma-separated (default: {SIZES})")
    p.add_argument("--repeats", type=int, default=5, help="rounds over every size (median)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="default: where the CPU runs it")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    bf16 = bfloat16_lstm() if args.bf16 is None else args.bf16
    sizes = parse_sizes(args.sizes)
    if SHIPPED not in sizes:
        sizes.insert(0, SHIPPED)
    torch.manual_seed(0)
    nets = {size: ChimeraNet(hidden=size[1], layers=size[0], stereo=True).eval() for size in sizes}
    work = {size: {"segment": segment_fn(net, bf16), "step": step_fn(net, bf16)} for size, net in nets.items()}
    seconds: dict[tuple[int, int], dict[str, list[float]]] = {size: {"segment": [], "step": []} for size in sizes}
    for fns in work.values():  # warm-up: oneDNN builds its kernels on the first call
        for fn in fns.values():
            fn()
    for _ in range(args.repeats):
        for size in sizes:
            for kind, fn in work[size].items():
                tic = time.perf_counter()
                fn()
                seconds[size][kind].append(time.perf_counter() - tic)
    median = {size: {kind: statistics.median(v) for kind, v in kinds.items()} for size, kinds in seconds.items()}
    base = median[SHIPPED]
    print(f"{args.threads} thread(s), {'bfloat16' if bf16 else 'float32'}, median of {args.repeats} rounds")
    print("size (layers x units) | parameters | file, float16 | network, one 20-s segment | training step, 8 x 3 s")
    for size in sizes:
        params = sum(p.numel() for p in nets[size].parameters()) / 1e6
        mb = file_megabytes(nets[size])
        over = " (over the 10 MB bar)" if mb > FILE_LIMIT_MB else ""
        seg, step = median[size]["segment"], median[size]["step"]
        print(
            f"{size[0]} x {size[1]} | {params:.2f} M | {mb:.1f} MB{over} | {seg * 1000:.0f} ms ({seg / base['segment']:.2f}x) "
            f"| {step * 1000:.0f} ms ({step / base['step']:.2f}x)"
        )


if __name__ == "__main__":
    main()
