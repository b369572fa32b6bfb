"""A report set of real band recordings with their lead guitar apart: the Frets on Fire song packages.

Debian's ``fretsonfire-songs-muldjord`` and ``fretsonfire-songs-sectoid`` hold eight songs recorded by the
bands (metal and rock, CC BY-SA 3.0), each as a folder of ``song.ogg`` (the band without the lead guitar),
``guitar.ogg`` (the lead guitar the player plays) and, in some songs, ``rhythm.ogg``. The stems sum to the
record as the game plays it, so they score a split of a real recording: the lead guitar against the rest.

    python scripts/fof-set.py data/fof-src data/fof          # make-sets.py fof: fetches the packages first
    separator evaluate --data data/fof --no-oracle           # named: the guitar stem; blind: K = 2 (or 3)

Each song becomes ``OUT/<band>-<song>/guitar.ogg`` (class guitar), ``backing.ogg`` and, where there is one,
``rhythm.ogg`` (no trusted class: a rhythm part is a bass or a second guitar), copied as they are;
``recipe.json`` is written last, listing the songs.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

STEMS = {"guitar.ogg": "guitar.ogg", "song.ogg": "backing.ogg", "rhythm.ogg": "rhythm.ogg"}  # game file -> set file


def song_folders(src: Path) -> list[Path]:
    """Every folder under ``src`` with a ``song.ogg`` and a ``guitar.ogg``, sorted."""
    return sorted(p.parent for p in src.rglob("guitar.ogg") if (p.parent / "song.ogg").is_file())


def set_name(folder: Path) -> str:
    """``<band>-<song>`` of a game song folder (``.../songs/<band>/<song>``), in file-name-safe characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{folder.parent.name}-{folder.name}")


def make(src: Path, out: Path) -> list[str]:
    """Copy each song's stems from ``src`` into ``out`` (the names of :data:`STEMS`); returns the songs.

    Raises:
        SystemExit: no song under ``src`` (the packages are not fetched), in one line that says how to.
    """
    folders = song_folders(src)
    if not folders:
        raise SystemExit(f"fof-set: {src}: no Frets on Fire song (a folder with song.ogg and guitar.ogg); run scripts/make-sets.py fof")
    names = []
    for folder in folders:
        name = set_name(folder)
        (out / name).mkdir(parents=True, exist_ok=True)
        for game, ours in STEMS.items():
            if (folder / game).is_file():
                shutil.copyfile(folder / game, out / name / ours)
        names.append(name)
    recipe = {"format": "fof-songs-v1", "source": str(src), "songs": names, "stems": STEMS}
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    return names


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path, help="the unpacked song packages (make-sets.py fetches them into data/fof-src)")
    p.add_argument("out", type=Path, help="the set's folder: one folder of stems per song")
    args = p.parse_args(argv)
    names = make(args.src, args.out)
    print(f"fof-set: {len(names)} songs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
