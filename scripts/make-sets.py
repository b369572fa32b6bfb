"""Make the model card's data sets on a new machine: the choosing and report sets every comparison in
``separator/pretrained/README.md`` uses, and the fine-tuning sets of its latest recipes, with the card's
exact commands (seeds, song counts, held-out sources).

    python scripts/make-sets.py                        # the measuring sets: choosing + report (a few minutes)
    python scripts/make-sets.py train                  # the fine-tuning sets of the eighteenth section's recipe
    python scripts/make-sets.py long                   # the twentieth section's 12-s songs and tracker windows
    python scripts/make-sets.py val-out tune-out-lp3800 --dry-run   # print the commands, run nothing

Sets are named one by one or by group (``choose``, ``report``, ``measure`` = both, ``train``, ``long``, ``all``); a set
made from another (a centred or band-limited copy, the kits-and-basses copy) brings its source along. A set
already made (its ``recipe.json`` written, which every maker does last) is kept, and an interrupted
``make-data`` resumes from its shards, so running this again finishes what is missing. ``tracker`` first
fetches the tracker songs' Debian packages (``apt-get download``, no root needed; docs/training-data-tracker.md)
and makes ``tracker-val`` beside it: windows 0–47 of it choose, 48– report. ``tracker-new`` (a report set)
holds real songs of other packages, fetched into ``tracker-new-src``; ``tracker-iron`` splits one of them
(``ironseed-data``) into songs to train on and songs to choose with (``tracker-iron-val``), so a model trained on
it is reported on ``tracker-new``'s other packages (``scripts/package-scores.py --without ironseed-data``).
``tracker-fresh`` (a choosing set) holds real songs of seven more packages nothing else reads, fetched into
``tracker-fresh-src``.
``fof`` (a report set) is eight real band recordings with the lead guitar apart, from the Frets on Fire song
packages (``scripts/fof-set.py``), fetched into ``fof-src``.

On 2 cores every set of ``all`` took about 25 minutes (model card, "2026-12-07, nineteenth").
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from separator.training.data.sources import HELD_OUT

HELD = ",".join(HELD_OUT)  # sf_GMbank,exadrums,fillets-nl: never in a training set
# Debian packages whose tracker songs `separator tracker-data` reads (docs/training-data-tracker.md)
TRACKER_PACKAGES = (
    "heroes-sound-tracks tecnoballz-data biniax2-data freedroid-data penguin-command open-invaders-data "
    "bomberclone-data gemdropx tuxmath-data bugsquish circuslinux-data powermanga-data ri-li-data vodovod "
    "dodgindiamond2 solarwolf ceferino-data ballz-data jumpnbump-levels"
).split()
# Debian packages of tracker songs that no set trains on: `tracker-new`, real songs never heard in training
# (docs/training-data-tracker.md); fetched into a folder of their own, never into tracker-src
TRACKER_NEW_PACKAGES = (
    "ironseed-data pekka-kana-2-data gl-117-data rafkill-data madbomber-data tuxtype-data vectoroids tomatoes-data "
    "cuyo-data pathogen fb-music-high"
).split()
# Debian packages of tracker songs that no other set reads, found in bookworm's Contents index: `tracker-fresh`, a
# choosing set of real songs by composers no set trains or reports on (gambas3-examples' copy of clanlib-doc's
# b-title.mod is read once: `tracker-data` keeps one file of the same bytes)
TRACKER_FRESH_PACKAGES = ("flobopuyo", "rockdodger", "bb", "black-box", "vor", "clanlib-doc", "gambas3-examples")
# Debian packages of recorded songs with the lead guitar on a track of its own (scripts/fof-set.py): a report set
FOF_PACKAGES = ("fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid")
SONG_FOLDERS = {
    "tracker-src": TRACKER_PACKAGES,
    "tracker-new-src": TRACKER_NEW_PACKAGES,
    "tracker-fresh-src": TRACKER_FRESH_PACKAGES,
    "fof-src": FOF_PACKAGES,
}
FETCH_DOCS = {
    "tracker-src": "docs/training-data-tracker.md",
    "tracker-new-src": "docs/training-data-tracker.md",
    "tracker-fresh-src": "docs/training-data-tracker.md",
    "fof-src": "docs/training.md",
}


@dataclass(frozen=True)
class DataSet:
    """One folder: made by ``tool`` (``make-data``, ``tracker-data`` or a copy script) with ``args``;
    ``source``: the set a copy is made from; ``songs``: where a ``tracker-data`` set's songs are; ``package``:
    the one package of ``songs`` it reads (``None``: all of them); ``val``: the folder its held-out songs go to
    (``None``: they are skipped)."""

    tool: str
    args: tuple[str, ...] = ()
    source: str | None = None
    songs: str = "tracker-src"  # tracker-data sets: the folder of :data:`SONG_FOLDERS` their songs come from
    val: str | None = None
    package: str | None = None


def _songs(songs: int, seed: int, shard: int, *rest: str) -> DataSet:
    return DataSet("make-data", ("--songs", str(songs), "--seed", str(seed), "--shard-size", str(shard), *rest))


SETS: dict[str, DataSet] = {
    # held-out sources only (a SoundFont, a drum kit, a voice family the network never heard)
    "tune-out": _songs(32, 22, 32, "--only", HELD),
    "tune3-out": _songs(32, 26, 32, "--only", HELD),
    "val-out": _songs(48, 21, 48, "--only", HELD),
    "val-long": _songs(24, 52, 24, "--seconds", "30", "--only", HELD),
    "tune-long": _songs(16, 51, 16, "--seconds", "30", "--only", HELD),
    # the same held-out sources with rock guitars (leads with bends, power-chord riffs, amps): choosing only
    "tune-rock-out": _songs(32, 23, 32, "--rock-guitar", "0.6", "--only", HELD),
    # copies mixed as records are, and band-limited as old records and phone recordings are
    "val-out-centred": DataSet("centre-data", source="val-out"),
    "val-out-lp3800": DataSet("band-limit-data", ("--lowpass", "3800"), "val-out"),
    "val-out-8k-mono": DataSet("band-limit-data", ("--rate", "8000", "--mono"), "val-out"),
    "tune-out-centred": DataSet("centre-data", source="tune-out"),
    "tune-out-lp3800": DataSet("band-limit-data", ("--lowpass", "3800"), "tune-out"),
    "tune-out-8k-mono": DataSet("band-limit-data", ("--rate", "8000", "--mono"), "tune-out"),
    # real human arrangements (tracker songs) and the training sets; `synth` left out of lb-* as when first made
    "tracker": DataSet("tracker-data", val="tracker-val"),
    "lb-train": _songs(1200, 61, 200, "--exclude", f"{HELD},synth"),
    "lb-heavy": _songs(300, 71, 100, "--heavy-fx", "--exclude", f"{HELD},synth"),
    "synth-train": _songs(800, 71, 100, "--only", "synth", "--exclude", HELD),
    "synth-db": DataSet("keep-classes", ("--classes", "drums,bass"), "synth-train"),
    # the twenty-eighth section's fine-tuning set: rock guitar parts (lead lines, power chords) through amps
    "lb-rock": _songs(400, 91, 100, "--rock-guitar", "0.6", "--heavy-fx", "--exclude", f"{HELD},synth"),
    # 12-s songs and tracker windows: the long-context fine-tune of the twentieth section (8-s training mixtures)
    "lb-long": _songs(240, 81, 40, "--seconds", "12", "--exclude", f"{HELD},synth"),
    "tracker-long": DataSet("tracker-data", ("--seconds", "12")),
    # real songs of packages no set trains on, every song (no hold-out), 8 windows each: a report set
    "tracker-new": DataSet("tracker-data", ("--holdout-percent", "0", "--max-windows-per-song", "8"), songs="tracker-new-src"),
    # real songs of seven more packages, every song, 8 windows each: a choosing set of packages nothing else reads
    "tracker-fresh": DataSet(
        "tracker-data",
        ("--holdout-percent", "0", "--max-windows-per-song", "8"),
        songs="tracker-fresh-src",
    ),
    # the real basses of one of those packages: half its songs to train on, half (tracker-iron-val) to choose with;
    # a model trained on it is reported on tracker-new's other packages (scripts/package-scores.py)
    "tracker-iron": DataSet(
        "tracker-data",
        ("--holdout-percent", "50", "--max-windows-per-song", "25"),
        songs="tracker-new-src",
        val="tracker-iron-val",
        package="ironseed-data",
    ),
    # real band recordings, the lead guitar apart from the rest (Frets on Fire songs): a report set
    "fof": DataSet("fof-set", songs="fof-src"),
}
GROUPS: dict[str, tuple[str, ...]] = {
    "choose": (
        "tune-out",
        "tune3-out",
        "tune-out-centred",
        "tune-out-lp3800",
        "tune-out-8k-mono",
        "tune-rock-out",
        "tracker",
        "tracker-iron",
        "tracker-fresh",
    ),
    "report": ("val-out", "val-out-centred", "val-out-lp3800", "val-out-8k-mono", "val-long", "tracker", "tracker-new", "fof"),
    "train": ("lb-train", "lb-heavy", "tracker", "tracker-iron", "synth-train", "synth-db", "lb-rock"),
    "long": ("lb-long", "tracker-long", "tune-long"),
}
GROUPS["measure"] = tuple(dict.fromkeys(GROUPS["choose"] + GROUPS["report"] + ("tune-long",)))
GROUPS["all"] = tuple(SETS)


def wanted(names: list[str]) -> list[str]:
    """The sets ``names`` (sets or groups) ask for, each after the set it is copied from, once each.

    Raises:
        SystemExit: an unknown name, in one line that lists the known ones.
    """
    unknown = [n for n in names if n not in SETS and n not in GROUPS]
    if unknown:
        raise SystemExit(f"make-sets: unknown set {', '.join(unknown)}; sets: {', '.join(SETS)}; groups: {', '.join(GROUPS)}")
    order: list[str] = []

    def add(name: str) -> None:
        source = SETS[name].source
        if source is not None:
            add(source)
        if name not in order:
            order.append(name)

    for name in names:
        for member in GROUPS.get(name, (name,)):
            add(member)
    return order


def commands(name: str, data: Path, jobs: int) -> list[list[str]]:
    """The commands that make set ``name`` under ``data``, as a user types them (the card's); ``#``: a step
    this script does itself (:func:`fetch_song_packages`)."""
    s, out = SETS[name], str(data / name)
    if s.tool == "make-data":  # the card's order: --songs N --seed S --jobs J --shard-size K ...
        return [["separator", "make-data", out, *s.args[:4], "--jobs", str(jobs), *s.args[4:]]]
    if s.tool == "tracker-data":
        src = str(data / s.songs)
        modules = src if s.package is None else str(data / s.songs / s.package)
        val = [] if s.val is None else ["--val", str(data / s.val)]
        return [
            ["#", "fetch-tracker-songs", src],
            ["separator", "tracker-data", out, *s.args, "--modules", modules, *val, "--jobs", str(jobs)],
        ]
    if s.tool == "fof-set":
        src = str(data / s.songs)
        return [["#", "fetch-songs", src], ["python", "scripts/fof-set.py", src, out]]
    assert s.source is not None
    return [["python", f"scripts/{s.tool}.py", str(data / s.source), out, *s.args]]


def made(name: str, data: Path) -> bool:
    """Whether set ``name`` is complete: every maker writes ``recipe.json`` last (``tracker`` also needs its
    validation windows)."""
    done = (data / name / "recipe.json").is_file()
    val = SETS[name].val
    return done and (val is None or any((data / val).glob("shard-*.npz")))


def fetch_song_packages(folder: Path) -> None:
    """Each package of ``folder``'s list in :data:`SONG_FOLDERS` (by its name) downloaded and unpacked into
    ``folder/PKG`` (kept if there)."""
    debs = folder / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for package in SONG_FOLDERS[folder.name]:
        if (folder / package).is_dir():
            continue
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True, stdout=subprocess.DEVNULL)
        deb = next(debs.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(folder / package)], check=True)


def run(command: list[str], repo: Path) -> None:
    """Run one command of :func:`commands` with this Python (its ``separator``, the repository's scripts)."""
    if command[0] == "#":
        fetch_song_packages(Path(command[2]))
        return
    env = None
    if command[0] == "separator":
        if command[1] == "tracker-data":  # one core per rendering process, as docs/training-data-tracker.md runs it
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-c", "from stemsplit.separator_cli import run; run()", *command[1:]]
    else:
        command = [sys.executable, str(repo / command[1]), *command[2:]]
    subprocess.run(command, check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sets", nargs="*", default=["measure"], help=f"sets or groups (default: measure); groups: {', '.join(GROUPS)}")
    p.add_argument("--data", type=Path, default=Path("data"), help="folder the sets go under (default: data)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes for make-data (default: every core)")
    p.add_argument("--dry-run", action="store_true", help="print the commands and run nothing")
    args = p.parse_args(argv)
    repo = Path(__file__).resolve().parent.parent
    for name in wanted(args.sets):
        if made(name, args.data):
            print(f"# {name}: already made under {args.data / name}", flush=True)
            continue
        for command in commands(name, args.data, args.jobs):
            print(" ".join(command) if command[0] == "#" else shlex.join(command), flush=True)
            if not args.dry_run:
                try:
                    run(command, repo)
                except subprocess.CalledProcessError as exc:  # the tool has said why on stderr above
                    hint = f"; run apt-get update first, or fetch them as {FETCH_DOCS[SETS[name].songs]} says" if command[0] == "#" else ""
                    print(f"make-sets: {name}: {shlex.join(exc.cmd)} failed (exit {exc.returncode}){hint}", file=sys.stderr)
                    return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
