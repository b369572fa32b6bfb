"""Time ``separator split`` on a long 44.1 kHz stereo mixture: real-time factor, peak memory, where the time goes,
and this checkout against another one, side by side.

Every split runs as a whole process (start-up, imports, model load, split, exit), as a user runs it, in a fresh
subprocess, so its peak RSS and CPU time are its own.

    python benchmarks/bench_separate.py                              # 3 minutes, named and blind: table + stages
    python benchmarks/bench_separate.py --minutes 20 --modes named   # the bounded-memory check
    python benchmarks/bench_separate.py --against ../old-checkout --runs 5   # ratio, alternating runs, median
    python benchmarks/bench_separate.py --busy                       # also with one core kept busy by another process
    python benchmarks/bench_separate.py --settings bf16.toml         # this checkout with split settings of a file

Machines of one kind differ by up to 1.5x in absolute speed: compare checkouts with ``--against`` on one machine,
and quote the ratio. ``--against`` takes any checkout of this repository (its own layout is found by itself).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent.parent
# The command line of a checkout, whichever layout it has (separator.cli before 2026-12-04, stemsplit after).
# At exit it prints its own peak RSS (VmHWM): a child's rusage also counts the parent's memory at the fork.
RUN_CLI = (
    "import atexit, importlib, importlib.util, sys; "
    "atexit.register(lambda: sys.stderr.write(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')))); "
    "m = 'separator.cli' if importlib.util.find_spec('separator.cli') else 'stemsplit.separator_cli'; "
    "sys.argv[0] = 'separator'; sys.exit(importlib.import_module(m).run())"
)
STAGES = ("decode", "stft", "network", "clustering", "masks", "percussive", "pan", "istft", "write")


def make_mixture(path: Path, minutes: float, seed: int = 99) -> None:
    """Write a ``minutes``-long stereo mixture: generated 30 s songs, repeated, 16-bit WAV, block by block."""
    from separator.training.data.make import Recipe, make_song
    from stembase import audio as audio_io

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


def whole_process(checkout: Path, mixture: Path, out: Path, mode: str, extra: list[str] | None = None) -> dict[str, float]:
    """One ``separator split`` of ``checkout`` as a process: wall and CPU seconds, peak RSS (MB)."""
    cmd = [sys.executable, "-c", RUN_CLI, "split", str(mixture), "-o", str(out), "-q", "--overwrite"]
    cmd += ["--clusters", "4"] if mode == "blind" else []
    cmd += extra or []
    # the checkout first; what PYTHONPATH already holds (wheels carried to a GPU machine, say) after it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))}
    tic = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - tic
    errors = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"{checkout}: split failed: {errors}")
    peak_kb = int(errors.rsplit("VmHWM:", 1)[1].split()[0])
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "sys_s": usage.ru_stime, "peak_rss_mb": peak_kb / 1024}


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Another process keeps one core busy meanwhile (a producer's machine is never idle)."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        hog.kill()
        hog.wait()


# -- where the time goes -----------------------------------------------------------------------------------


class Stages:
    """Seconds spent per stage of a split, by wrapping the functions each stage calls (in this process)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tic = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - tic

        return wrapper

    def timed_iterator(self, stage: str, fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            it = fn(*args, **kwargs)
            while True:
                tic = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    self.seconds[stage] += time.perf_counter() - tic
                    return
                self.seconds[stage] += time.perf_counter() - tic
                yield item

        return wrapper


def stage_table(mixture: Path, out: Path, mode: str) -> dict[str, float]:
    """Split ``mixture`` in this process, in one thread, with every stage timed; ``{stage: seconds, "total": …}``.

    One thread, so the stages add up to the total: they say where the work is, not how it is shared
    between cores. Freed memory is kept for the next tensors, as the command line keeps it
    (:func:`separator.devices.keep_freed_memory`): without it every fresh tensor's page faults were counted in
    its stage, and a change that only spared them looked like a fifth less time (BENCHMARKS.md, "twenty-fourth")."""
    import stembase.audio as audio_io
    from separator import Separator, features, masks, separate
    from separator.devices import keep_freed_memory
    from stembase import stem_outputs

    keep_freed_memory()

    stages = Stages()
    patches = [
        (audio_io, "blocks", stages.timed_iterator("decode", audio_io.blocks)),
        (separate, "stft", stages.timed("stft", separate.stft)),
        (separate, "features", stages.timed("stft", separate.features)),
        (separate.Separator, "_run_network", stages.timed("network", separate.Separator._run_network)),
        (separate, "kmeans", stages.timed("clustering", separate.kmeans)),
        (separate, "unit_masks", stages.timed("masks", separate.unit_masks)),
        (masks, "bands_to_bins", stages.timed("masks", masks.bands_to_bins)),
        (masks, "percussive_share", stages.timed("percussive", masks.percussive_share)),
        (masks, "favour_percussive_", stages.timed("percussive", masks.favour_percussive_)),
        (masks.PanEvidence, "fit", stages.timed("pan", masks.PanEvidence.fit)),
        (masks.PanEvidence, "apply_", stages.timed("pan", masks.PanEvidence.apply_)),
        (masks, "masked_istft", stages.timed("istft", masks.masked_istft)),
        (stem_outputs.StemFiles, "write", stages.timed("write", stem_outputs.StemFiles.write)),
    ]
    del features  # imported so the names above are the ones the split looks up
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, fn in patches:
        setattr(owner, name, fn)
    try:
        sep = Separator.from_pretrained(device="cpu", threads=1)
        tic = time.perf_counter()
        sep.separate_file(mixture, out, **({"clusters": 4} if mode == "blind" else {}))
        total = time.perf_counter() - tic
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)
    return {**{s: stages.seconds.get(s, 0.0) for s in STAGES}, "total": total}


# -- the command -------------------------------------------------------------------------------------------


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = Path("/proc/cpuinfo").read_text()
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores, AVX-512 {'yes' if 'avx512f' in flags else 'no'})"
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--modes", default="named,blind")
    parser.add_argument("--runs", type=int, default=3, help="whole-process runs per checkout and mode (median)")
    parser.add_argument("--against", type=Path, help="another checkout: time both, alternating, and print the ratio")
    parser.add_argument("--busy", action="store_true", help="also run with one core kept busy by another process")
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage table")
    parser.add_argument("--threads", type=int, help="pass --threads N to this checkout's split")
    parser.add_argument("--settings", type=Path, help='pass --settings FILE to this checkout\'s split (e.g. precision = "bfloat16")')
    parser.add_argument("--json", type=Path, help="also write every measurement as JSON")
    args = parser.parse_args()
    results: dict[str, Any] = {"cpu": cpu_name(), "minutes": args.minutes}
    with tempfile.TemporaryDirectory() as tmp:
        mixture = Path(tmp) / "mixture.wav"
        make_mixture(mixture, args.minutes)
        audio_s = args.minutes * 60
        print(f"machine: {results['cpu']}; {args.minutes:g} min of 44.1 kHz stereo; medians of {args.runs} whole-process runs")
        checkouts = [("this", HERE)] + ([("against", args.against.resolve())] if args.against else [])
        loads = [("quiet", contextlib.nullcontext)] + ([("busy", busy_core)] if args.busy else [])
        print(f"{'checkout':<9}{'mode':<7}{'load':<7}{'wall s':>8}{'x real time':>13}{'CPU s':>8}{'sys s':>7}{'peak RSS MB':>13}")
        for mode in args.modes.split(","):
            for load_name, load in loads:
                runs: dict[str, list[dict[str, float]]] = defaultdict(list)
                for _ in range(args.runs):  # alternating, so a drift in the machine's speed hits both alike
                    for name, checkout in checkouts:
                        extra = ["--threads", str(args.threads)] if args.threads and name == "this" else []
                        extra += ["--settings", str(args.settings.resolve())] if args.settings and name == "this" else []
                        with load():
                            runs[name].append(whole_process(checkout, mixture, Path(tmp) / f"out-{name}", mode, extra))
                for name, _ in checkouts:
                    med = {k: statistics.median(r[k] for r in runs[name]) for k in runs[name][0]}
                    results[f"{name}/{mode}/{load_name}"] = {"median": med, "runs": runs[name]}
                    print(
                        f"{name:<9}{mode:<7}{load_name:<7}{med['wall_s']:>8.2f}{audio_s / med['wall_s']:>13.1f}"
                        f"{med['cpu_s']:>8.1f}{med['sys_s']:>7.1f}{med['peak_rss_mb']:>13.0f}"
                    )
                if args.against:
                    ratios = [b["wall_s"] / a["wall_s"] for a, b in zip(runs["this"], runs["against"], strict=True)]
                    results[f"ratio/{mode}/{load_name}"] = ratios
                    listed = ", ".join(f"{r:.2f}" for r in ratios)
                    print(f"  {mode} {load_name}: against / this = {statistics.median(ratios):.2f}x (runs: {listed})")
            if args.busy:
                quiet, busy = results[f"this/{mode}/quiet"]["median"]["wall_s"], results[f"this/{mode}/busy"]["median"]["wall_s"]
                print(f"  {mode}: busy / quiet wall time = {busy / quiet:.2f}x")
            if not args.no_stages:
                table = stage_table(mixture, Path(tmp) / "out-stages", mode)
                results[f"stages/{mode}"] = table
                print(f"  {mode} stages (s, in-process, one thread): " + ", ".join(f"{s} {table[s]:.2f}" for s in (*STAGES, "total")))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
