"""Which package's songs moved? ``separator evaluate --json`` runs over a tracker set, per Debian package.

A tracker set's windows come from songs of several packages (``tracker-new``: eleven, most of its labelled
windows from one). This prints each run's named and blind means per package (every scored source counts
once, as in ``separator evaluate``'s tables), and with ``--without PKG --out FILE`` writes a run without
that package's windows, for ``scripts/compare-scores.py``: a model trained on one package's songs
(``tracker-iron``, ``scripts/make-sets.py``) is reported on the others.

    python scripts/package-scores.py data/tracker-new a.json b.json
    python scripts/package-scores.py data/tracker-new b.json --without ironseed-data --out b-rest.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

MODES = ("named", "blind")


def song_packages(folder: Path) -> list[str]:
    """The package of each window of a ``separator tracker-data`` folder, in ``separator evaluate``'s order
    (shards sorted by name, windows in order; a window's first source names its song: ``tracker:PKG/FILE#…``).

    Raises:
        SystemExit: the folder holds no tracker shards (one line naming it).
    """
    packages: list[str] = []
    shards = sorted(folder.glob("shard-*[0-9].npz"))
    for shard in shards:
        with np.load(shard, allow_pickle=False) as data:
            if "sources" not in data.files:
                raise SystemExit(f"package-scores: {shard}: no source names; is {folder} a tracker-data set?")
            packages += [str(row[0]).split(":", 1)[1].split("/", 1)[0] for row in data["sources"]]
    if not shards:
        raise SystemExit(f"package-scores: {folder}: no shard-*.npz; make it with separator tracker-data")
    return packages


def package_of(song: dict[str, Any], packages: list[str]) -> str:
    """The package of one ``per_song`` entry.

    Raises:
        SystemExit: the run scored a window the set does not have (another set's run).
    """
    index = int(song["song"])
    if index >= len(packages):
        raise SystemExit(f"package-scores: the run scored window {index}, the set has {len(packages)}; use the set it scored")
    return packages[index]


def per_package(run: dict[str, Any], packages: list[str]) -> dict[str, dict[str, tuple[float, int]]]:
    """``{package: {mode: (mean dB over its scored sources, windows scored)}}`` of one evaluate run."""
    scores: dict[str, dict[str, list[list[float]]]] = {}
    for song in run["per_song"]:
        for mode in MODES:
            if song.get(mode):
                scores.setdefault(package_of(song, packages), {}).setdefault(mode, []).append(song[mode])
    return {
        package: {mode: (float(np.mean(np.concatenate(windows))), len(windows)) for mode, windows in modes.items()}
        for package, modes in sorted(scores.items())
    }


def without(run: dict[str, Any], packages: list[str], package: str) -> dict[str, Any]:
    """The run with the windows of ``package`` left out (its ``per_song`` entries; the rest as they are)."""
    return {**run, "per_song": [song for song in run["per_song"] if package_of(song, packages) != package]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path, help="the tracker-data folder the runs scored")
    p.add_argument("runs", type=Path, nargs="+", help="separator evaluate --json files")
    p.add_argument("--without", metavar="PKG", help="with --out: write the (one) run without this package's windows")
    p.add_argument("--out", type=Path, help="where --without writes")
    args = p.parse_args(argv)
    if (args.without is None) != (args.out is None) or (args.out is not None and len(args.runs) != 1):
        p.error("--without and --out go together, with one run")
    packages = song_packages(args.data)
    for path in args.runs:
        run = json.loads(path.read_text())
        if args.out is not None:
            args.out.write_text(json.dumps(without(run, packages, args.without)))
            print(f"{args.out}: {path} without {args.without}")
            continue
        print(path)
        for package, modes in per_package(run, packages).items():
            cells = "  ".join(
                f"{mode} {modes[mode][0]:6.2f} ({modes[mode][1]:3d})" if mode in modes else f"{mode} {'-':>6} (  0)" for mode in MODES
            )
            print(f"  {package:22s} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
