"""A copy of a data folder (shard-*.npz of make-data) mixed as records usually are: the stems of some classes
(default drums, bass and vocals) centred, the others kept where make-data panned them.

make-data pans every stem at random (±0.6); issue 18's hidden measurement also used "real-mix pans" with
drums, bass and vocals in the centre, where the pan step cannot tell those three apart and the network
hears them in one place. A centred stem is its two channels' mean on both channels; the stems still sum
to the mix.

    python scripts/centre-data.py data/tune-out data/tune-out-centred
    python scripts/centre-data.py data/val-out data/val-out-centred --classes drums,bass,vocals
"""

from __future__ import annotations

import argparse

import numpy as np

from separator.classes import CLASSES
from separator.training.data.make import copy_changed
from separator.training.data.pans import centre  # the same centring as `separator train --centre`


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--classes", default="drums,bass,vocals", help="classes to centre, comma-separated")
    args = p.parse_args()
    names = [c.strip() for c in args.classes.split(",") if c.strip()]
    unknown = [n for n in names if n not in CLASSES]
    if unknown:
        raise SystemExit(f"--classes: unknown {', '.join(unknown)}; the classes are {', '.join(CLASSES)}")
    classes = {CLASSES.index(n) for n in names}

    def centred(data: dict[str, np.ndarray]) -> np.ndarray:
        if data["stems"].ndim != 4:
            raise SystemExit(f"{args.src}: mono stems; nothing to centre")
        return centre(data["stems"], data["labels"], classes)

    copy_changed(args.src, args.out, centred)
    print(f"{args.out}: {', '.join(names)} centred")


if __name__ == "__main__":
    main()
