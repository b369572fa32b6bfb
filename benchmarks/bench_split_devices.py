"""Time whole-process ``separator split`` of one long mixture on CUDA and on this machine's CPUs, alternating.

    python benchmarks/bench_split_devices.py MIXTURE [--runs 2]     # a GPU machine; scripts/gpu-check.sh runs it

Each split is a fresh process (start-up, CUDA initialisation, model load, split, exit), as a user runs it;
medians per mode and device, printed and (with ``$OUT`` set, as on a lent device machine) written to
``$OUT/split-timing.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import soundfile as sf

RUN_CLI = (
    "import atexit, sys; "
    "atexit.register(lambda: sys.stderr.write(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')))); "
    "from stemsplit.separator_cli import run; sys.argv[0] = 'separator'; sys.exit(run())"
)


def once(mixture: Path, mode: str, device: str) -> tuple[float, float] | None:
    """``(wall seconds, peak RSS MB)`` of one split, or None (its error printed) when it failed."""
    cmd = [sys.executable, "-c", RUN_CLI, "split", str(mixture), "-o", f"/tmp/out-{mode}-{device}", "-q", "--overwrite"]
    cmd += ["--device", device] + (["--clusters", "4"] if mode == "blind" else [])
    tic = time.perf_counter()
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - tic
    if done.returncode:
        print(done.stderr[-2000:])
        return None
    return wall, int(done.stderr.rsplit("VmHWM:", 1)[1].split()[0]) / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mixture", type=Path, help="a long stereo mixture (e.g. bench_separate.py's 3 minutes)")
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args()
    seconds = sf.info(str(args.mixture)).duration
    runs: dict[str, list[tuple[float, float]]] = {}
    for rep in range(args.runs):
        for mode in ("named", "blind"):
            for device in ("cuda", "cpu"):
                result = once(args.mixture, mode, device)
                print(rep, mode, device, result, flush=True)
                if result:
                    runs.setdefault(f"{mode}-{device}", []).append(result)
    summary = {
        key: {
            "median_wall_s": statistics.median(w for w, _ in values),
            "x_realtime": seconds / statistics.median(w for w, _ in values),
            "peak_rss_mb": max(m for _, m in values),
            "walls": [round(w, 2) for w, _ in values],
        }
        for key, values in runs.items()
    }
    print(json.dumps(summary, indent=1))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "split-timing.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
