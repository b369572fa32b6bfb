"""Time whole-process ``separator split`` of one long mixture on CUDA and on this machine's CPUs, alternating.

    python benchmarks/bench_split_devices.py MIXTURE [--runs 2]     # a GPU machine; scripts/gpu-check.sh runs it

Each split is a fresh process (start-up, CUDA initialisation, model load, split, exit), as a user runs it
(``bench_separate.whole_process``); medians per mode and device, printed and (with ``$OUT`` set, as on a
lent device machine) written to ``$OUT/split-timing.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_separate import HERE, whole_process


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mixture", type=Path, help="a long stereo mixture (e.g. bench_separate.py's 3 minutes)")
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args()
    seconds = sf.info(str(args.mixture)).duration
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:  # the stems (about 300 MB a split) go when the timing is done
        for rep in range(args.runs):
            for mode in ("named", "blind"):
                for device in ("cuda", "cpu"):
                    try:
                        result = whole_process(HERE, args.mixture.resolve(), Path(tmp) / f"out-{mode}-{device}", mode, ["--device", device])
                    except SystemExit as failed:  # one device failing (no CUDA) leaves the other's numbers
                        print(failed)
                        continue
                    print(rep, mode, device, result, flush=True)
                    runs.setdefault(f"{mode}-{device}", []).append(result)
    summary = {key: _summary(values, seconds) for key, values in runs.items()}
    print(json.dumps(summary, indent=1))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "split-timing.json").write_text(json.dumps(summary, indent=1))


def _summary(runs: list[dict[str, float]], seconds: float) -> dict[str, object]:
    """Median wall time and speed (× real time for ``seconds`` of audio), peak memory and every wall time."""
    wall = statistics.median(r["wall_s"] for r in runs)
    return {
        "median_wall_s": wall,
        "x_realtime": seconds / wall,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "walls": [round(r["wall_s"], 2) for r in runs],
    }


if __name__ == "__main__":
    main()
