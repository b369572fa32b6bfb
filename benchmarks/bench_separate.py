"""Time ``separator split`` on a long 44.1 kHz stereo mixture: real-time factor and peak memory.

Each configuration runs in a fresh subprocess, so the peak RSS is that run's alone.

    python benchmarks/bench_separate.py                 # 3-minute mixture, CPU (and CUDA if present)
    python benchmarks/bench_separate.py --minutes 60    # the bounded-memory check on an hour of audio
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from stembase import audio as audio_io


def make_mixture(path: Path, minutes: float, seed: int = 99) -> None:
    """Write a ``minutes``-long stereo mixture: generated 30 s songs, repeated, 16-bit WAV, block by block."""
    from separator.training.data.make import Recipe, make_song

    recipe = Recipe(seed=seed, seconds=30.0, use_espeak=False)
    songs = [make_song(recipe, i)[0].sum(0) for i in range(6)]
    total = int(minutes * 60 * recipe.sample_rate)
    with audio_io.atomic_writer(path, recipe.sample_rate, 2, "16") as f:
        written = 0
        while written < total:
            song = songs[(written // songs[0].shape[-1]) % len(songs)]
            piece = song[:, : total - written]
            f.write(np.ascontiguousarray((0.5 * piece / np.abs(piece).max()).T))
            written += piece.shape[-1]


def run_one(path: str, out: str, device: str, mode: str, model: str = "") -> dict[str, float]:
    """Split once in this process; returns seconds, real-time factor and peak RSS (MB)."""
    from separator import Separator

    tic = time.perf_counter()
    sep = Separator.from_pretrained(model or None, device=device)
    load = time.perf_counter() - tic
    kwargs = {"clusters": 4} if mode == "blind" else {}
    tic = time.perf_counter()
    sep.separate_file(path, out, **kwargs)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - tic
    audio_seconds = audio_io.info(path).seconds
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"audio_s": audio_seconds, "load_s": load, "split_s": seconds, "x_realtime": audio_seconds / seconds, "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--modes", default="named,blind")
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default="", help="checkpoint to time (default: the shipped model)")
    parser.add_argument("--one", nargs=4, metavar=("PATH", "OUT", "DEVICE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, model=args.model)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        mixture = Path(tmp) / "mixture.wav"
        make_mixture(mixture, args.minutes)
        print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
        print(f"model: {args.model or 'shipped'}")
        print(
            f"{'device':<8}{'mode':<8}{'audio s':>9}{'split s':>9}{'x real time':>13}{'process s':>11}{'x process':>11}{'peak RSS MB':>13}"
        )
        for device in args.devices.split(","):
            for mode in args.modes.split(","):
                cmd = [sys.executable, __file__, "--one", str(mixture), str(Path(tmp) / f"out-{device}-{mode}"), device, mode]
                cmd += ["--model", args.model] if args.model else []
                tic = time.perf_counter()  # the whole process: start-up, imports, model load, split, exit
                r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
                whole = time.perf_counter() - tic
                print(
                    f"{device:<8}{mode:<8}{r['audio_s']:>9.1f}{r['split_s']:>9.2f}{r['x_realtime']:>13.1f}"
                    f"{whole:>11.2f}{r['audio_s'] / whole:>11.1f}{r['peak_rss_mb']:>13.0f}"
                )


if __name__ == "__main__":
    main()
