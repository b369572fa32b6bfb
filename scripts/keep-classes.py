"""A copy of a data folder (shard-*.npz of make-data) that keeps only some classes' stems: the others are
marked absent and silenced, so training draws mixtures of the kept classes alone.

The eighteenth session's fine-tune ``r28`` used the procedural kits and basses of ``synth:procedural`` this way:
the network hears procedural kicks against procedural basses, while the procedural guitars and keys, which
displaced what it had learnt of the SoundFonts' in an earlier run, are left out (model card, "2026-12-06,
eighteenth").

    python scripts/keep-classes.py data/synth-train data/synth-db --classes drums,bass
"""

from __future__ import annotations

import argparse

import numpy as np

from separator.classes import CLASSES
from separator.training.data.make import copy_changed


def kept(data: dict[str, np.ndarray], classes: set[int]) -> dict[str, np.ndarray]:
    """``stems`` and ``present`` of one shard with every slot whose label is not in ``classes`` absent and silent."""
    keep = np.isin(data["labels"], sorted(classes))
    present = data["present"] & keep
    stems = data["stems"].copy()
    stems[~present] = 0
    return {"stems": stems, "present": present}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--classes", required=True, help="classes to keep, comma-separated, e.g. drums,bass")
    args = p.parse_args()
    names = [c.strip() for c in args.classes.split(",") if c.strip()]
    unknown = [n for n in names if n not in CLASSES]
    if unknown or len(names) < 2:
        raise SystemExit(f"--classes: give two or more of {', '.join(CLASSES)} (a mixture needs two sources); got {args.classes!r}")
    classes = {CLASSES.index(n) for n in names}
    written = copy_changed(args.src, args.out, lambda data: kept(data, classes))
    print(f"{args.out}: {len(written)} shards, only {', '.join(names)}")


if __name__ == "__main__":
    main()
