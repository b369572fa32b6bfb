"""Time plugin_host batches: the speed-up of ``jobs=2`` over ``jobs=1`` on an effect-only batch, and the
overhead of a plugin_host chain over calling the same pedalboard plugins directly.

    python benchmarks/bench_batch.py                       # 8 files x 30 s, the master-bus preset
    python benchmarks/bench_batch.py --files 2 --seconds 3 --repeats 1    # a quick check that it runs

Targets (issue 3): jobs=2 at least 1.7x faster than jobs=1 on 2 cores; chain overhead under 5 %.
Run it on an otherwise idle machine: anything else using the cores makes both numbers meaningless.
Each measurement is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pedalboard

from plugin_host import Chain, run_batch
from stembase import audio as audio_io

SAMPLE_RATE = 44100


def make_inputs(folder: Path, files: int, seconds: float) -> list[Path]:
    """``files`` stereo 32-bit float WAVs of decaying noise bursts (drum-like material the effects react to)."""
    rng = np.random.default_rng(7)
    n = int(seconds * SAMPLE_RATE)
    envelope = np.exp(-np.arange(n) % (SAMPLE_RATE // 2) / (0.08 * SAMPLE_RATE)).astype(np.float32)
    paths = []
    for i in range(files):
        audio = (rng.standard_normal((2, n)) * 0.3).astype(np.float32) * envelope
        paths.append(audio_io.save(folder / f"track{i:02d}.wav", audio, SAMPLE_RATE))
    return paths


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """The shortest wall-clock time of ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        run()
        times.append(time.perf_counter() - tic)
    return min(times)


def jobs_speedup(chain: Chain, inputs: list[Path], work: Path, repeats: int) -> dict[str, float]:
    """Wall time of the whole batch with one worker and with two."""
    out: dict[str, float] = {}
    for jobs in (1, 2):
        out[f"jobs{jobs}_s"] = best_of(repeats, lambda jobs=jobs: run_batch(chain, inputs, work / f"jobs{jobs}", jobs=jobs, overwrite=True))
    out["speedup"] = out["jobs1_s"] / out["jobs2_s"]
    return out


def direct_board(chain: Chain) -> pedalboard.Pedalboard:
    """The same plugins as ``chain``, as a plain pedalboard built from the preset's parameters."""
    plugins = []
    for stage in chain.to_preset()["chain"]:
        cls = getattr(pedalboard, stage["plugin"])
        params = {k: cls.Mode.__members__[v] if k == "mode" else v for k, v in stage.get("params", {}).items()}
        plugins.append(cls(**params))
    return pedalboard.Pedalboard(plugins)


def chain_overhead(chain: Chain, inputs: list[Path], work: Path, repeats: int) -> dict[str, float]:
    """plugin_host against pedalboard alone: in memory, and for whole files (read, process, write)."""
    exact = Chain.from_dict({**chain.to_preset(), "tail_seconds": 0})  # the same output length as pedalboard
    board = direct_board(chain)
    audio = [audio_io.load(p)[0] for p in inputs]

    def direct_files() -> None:
        for path in inputs:
            x, rate = audio_io.load(path)
            audio_io.save(work / "direct" / path.name, board(x, rate), rate)

    out = {
        "pedalboard_memory_s": best_of(repeats, lambda: [board(x, SAMPLE_RATE) for x in audio]),
        "chain_memory_s": best_of(repeats, lambda: [exact(x, SAMPLE_RATE) for x in audio]),
        "pedalboard_files_s": best_of(repeats, direct_files),
        "chain_files_s": best_of(repeats, lambda: run_batch(exact, inputs, work / "chain", overwrite=True)),
    }
    out["overhead_memory_pct"] = 100 * (out["chain_memory_s"] / out["pedalboard_memory_s"] - 1)
    out["overhead_files_pct"] = 100 * (out["chain_files_s"] / out["pedalboard_files_s"] - 1)
    return out


def report(r: dict[str, float | int | str], repeats: int) -> str:
    """The numbers as a few lines of text."""
    audio_s = float(r["files"]) * float(r["seconds_per_file"])
    speed = {jobs: f"{r[f'jobs{jobs}_s']:.3f} s ({audio_s / float(r[f'jobs{jobs}_s']):.0f}x real time)" for jobs in (1, 2)}
    memory = f"pedalboard {r['pedalboard_memory_s']:.3f} s, chain {r['chain_memory_s']:.3f} s"
    files = f"pedalboard {r['pedalboard_files_s']:.3f} s, batch {r['chain_files_s']:.3f} s"
    return "\n".join(
        [
            f"{r['files']} files x {r['seconds_per_file']:g} s, preset {r['preset']}, {r['cpus']} CPUs, best of {repeats}",
            f"  jobs=1  {speed[1]}",
            f"  jobs=2  {speed[2]}  speed-up {r['speedup']:.2f}x (target >= 1.7)",
            f"  in memory: {memory}, overhead {r['overhead_memory_pct']:+.1f} %",
            f"  files:     {files}, overhead {r['overhead_files_pct']:+.1f} % (target < 5)",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="master-bus", help="an effect-only preset (default master-bus)")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    chain = Chain.from_preset(args.preset)
    if chain.has_split:
        parser.error(f"{args.preset} splits into stems; this benchmark times effect-only batches")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = make_inputs(work / "in", args.files, args.seconds)
        results = {
            "preset": args.preset,
            "files": args.files,
            "seconds_per_file": args.seconds,
            "cpus": os.cpu_count(),
            "machine": platform.processor() or platform.machine(),
            "pedalboard": pedalboard.__version__,
            **jobs_speedup(chain, inputs, work, args.repeats),
            **chain_overhead(chain, inputs, work, args.repeats),
        }
    print(report(results, args.repeats))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
