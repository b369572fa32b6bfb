"""Is B better than A, or is it the songs? Two ``separator evaluate --json`` runs, paired song by song.

Both files must score the same songs (the same ``--data``, ``--max-songs`` and ``--skip-songs``), with two
models, two settings files or two checkouts. For each mode both have, it prints A's and B's mean (the
tables' means: every scored source counts once), B − A, a 95 % interval for B − A from a paired bootstrap
over the songs, and how many songs B raised, lowered or left as they were. An interval that spans 0 is a
difference these songs cannot tell from chance: a lever that moves which of k-means' solutions a song gets
moves 32-song sets by ±0.3 dB (model card, "2026-12-06, fifteenth").

    separator evaluate --data data/tune-out --max-songs 32 --no-oracle --json a.json
    separator evaluate --data data/tune-out --max-songs 32 --no-oracle --json b.json --settings b.toml
    python scripts/compare-scores.py a.json b.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

MODES = ("named", "blind", "karaoke", "oracle")


class ScoresError(ValueError):
    """A file that is not two comparable ``separator evaluate --json`` runs; the message says which and why."""


def load_songs(path: Path) -> dict[int, dict[str, list[float]]]:
    """``{song index: {mode: [dB per scored source]}}`` of one ``separator evaluate --json`` file."""
    try:
        result: Any = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ScoresError(f"{path}: cannot read it as JSON ({e})") from e
    if not isinstance(result, dict) or "per_song" not in result:
        raise ScoresError(f"{path}: no per-song scores; write it with `separator evaluate --json` of this version")
    return {int(entry["song"]): {m: entry[m] for m in MODES if m in entry} for entry in result["per_song"]}


def paired(a: dict[int, dict[str, list[float]]], b: dict[int, dict[str, list[float]]], mode: str) -> tuple[np.ndarray, ...]:
    """``(sums A, sums B, counts)`` per song of ``mode``, over the songs both scored in it.

    Raises:
        ScoresError: the runs scored different songs, or different sources of one song.
    """
    if set(a) != set(b):
        only_a, only_b = (", ".join(map(str, sorted(x - y)[:5])) or "none" for x, y in ((set(a), set(b)), (set(b), set(a))))
        raise ScoresError(
            f"the two runs scored different songs (only in the first: {only_a}; only in the second: {only_b}); "
            "use the same --data, --max-songs and --skip-songs"
        )
    songs = sorted(s for s in a if mode in a[s] and mode in b[s])
    for s in songs:
        if len(a[s][mode]) != len(b[s][mode]):
            raise ScoresError(f"song {s}: {len(a[s][mode])} and {len(b[s][mode])} {mode} scores; the runs read different sources")
    sums_a = np.array([sum(a[s][mode]) for s in songs], np.float64)
    sums_b = np.array([sum(b[s][mode]) for s in songs], np.float64)
    counts = np.array([len(a[s][mode]) for s in songs], np.float64)
    return sums_a, sums_b, counts


def bootstrap_interval(
    sums_a: np.ndarray, sums_b: np.ndarray, counts: np.ndarray, resamples: int = 10000, seed: int = 0
) -> tuple[float, float]:
    """95 % interval of B's pooled mean minus A's (dB): scipy's paired percentile bootstrap over the songs."""
    from scipy.stats import bootstrap

    def difference(a: np.ndarray, b: np.ndarray, n: np.ndarray, axis: int = -1) -> np.ndarray:
        return (b.sum(axis) - a.sum(axis)) / n.sum(axis)  # type: ignore[no-any-return]

    result = bootstrap(
        (sums_a, sums_b, counts), difference, paired=True, vectorized=True, n_resamples=resamples,
        method="percentile", random_state=np.random.default_rng(seed),
    )  # fmt: skip
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def compare(a: dict[int, dict[str, list[float]]], b: dict[int, dict[str, list[float]]], resamples: int = 10000) -> list[dict[str, Any]]:
    """One row per mode both runs scored: means, difference, interval and the songs raised / lowered / kept."""
    rows = []
    for mode in MODES:
        if not any(mode in v for v in a.values()) or not any(mode in v for v in b.values()):
            continue
        sums_a, sums_b, counts = paired(a, b, mode)
        if not len(counts):
            continue
        per_song = (sums_b - sums_a) / counts
        low, high = bootstrap_interval(sums_a, sums_b, counts, resamples)
        rows.append({
            "mode": mode, "songs": len(counts), "a": sums_a.sum() / counts.sum(), "b": sums_b.sum() / counts.sum(),
            "low": low, "high": high, "raised": int((per_song > 0.005).sum()), "lowered": int((per_song < -0.005).sum()),
        })  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="the first run's `separator evaluate --json` file")
    parser.add_argument("b", type=Path, help="the second run's")
    parser.add_argument("--resamples", type=int, default=10000, help="bootstrap draws (default: 10000)")
    args = parser.parse_args()
    try:
        rows = compare(load_songs(args.a), load_songs(args.b), args.resamples)
    except ScoresError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{'mode':<9}{'songs':>6}{'A':>8}{'B':>8}{'B − A':>8}   95 % interval   songs raised / lowered / kept")
    for r in rows:
        kept = r["songs"] - r["raised"] - r["lowered"]
        print(
            f"{r['mode']:<9}{r['songs']:>6}{r['a']:>8.2f}{r['b']:>8.2f}{r['b'] - r['a']:>+8.2f}   "
            f"[{r['low']:+.2f}, {r['high']:+.2f}]   {r['raised']} / {r['lowered']} / {kept}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
