"""Which sound sources this machine has, and how often each stem class draws from each.

Every source has a stable id (``sf:FluidR3_GM``, ``oneshots:foxdot``, ``speech:fillets-nl`` …)
that the data set records per part, so a model's training data can be audited and
``--only`` / ``--exclude`` can pick sources by substring.

Nothing here downloads: sources are files of Debian packages on their default paths,
or folders under a sounds root (``$SEPARATOR_SOUNDS``, ``~/.cache/separator/sounds``,
``--sounds DIR``); see docs/training-data.md.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from separator.classes import CLASSES
from separator.errors import SeparatorError
from separator.training.data.render import SF_DIRS, describe, discover_soundfonts

MELODIC = ("bass", "guitar", "vocals", "other")
FREEPATS_CFG = "/etc/timidity/freepats.cfg"
CHUCK_DIR = "/usr/share/doc/chuck-data/examples"
EXADRUMS_DIR = "/usr/share/exadrums"
FILLETS_DIR = "/usr/share/games/fillets-ng/sound"
GCIN_DIR = "/usr/share/gcin-voice/ogg"
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")  # awb_time speaks only clock times
SOUND_EXTENSIONS = {".wav", ".aif", ".aiff", ".flac", ".ogg"}

# Folder names under a sounds root that hold evaluation-only sounds: never train on them.
# Never used to train the shipped model: the leave-sources-out validation (and the quality test)
# is made from these alone, one SoundFont, one real drum pack and one family of real voices.
HELD_OUT = ("sf_GMbank", "exadrums", "fillets-nl")
HELD_OUT_PACKAGES = ("csound-soundfont", "exadrums", "fillets-ng-data-nl")
RESERVED_PACKS = ("sonic", "hydrogen", "lmms", "musescore", "festvox")

# What to install for each source this module knows; reported when one is missing.
INSTALL: dict[str, str] = {
    "sf:GeneralUser_GS": "apt-get install minuet-data",
    "sf:FluidR3_GM": "apt-get install fluid-soundfont-gm",
    "sf:FluidR3Mono_GM": "apt-get install fluidr3mono-gm-soundfont",
    "sf:TimGM6mb": "apt-get install timgm6mb-soundfont (or pip install pretty_midi)",
    "sf:sf_GMbank": "apt-get install csound-soundfont",
    "sf:OPL-3_FM_128M": "apt-get install opl3-soundfont",
    "kit:Black_Pearl_4": "apt-get install avldrums.lv2-soundfont",
    "kit:Red_Zeppelin_4": "apt-get install avldrums.lv2-soundfont",
    "timidity:freepats": "apt-get install timidity freepats",
    "oneshots:foxdot": "pip download --no-deps foxdot, unpack FoxDot/snd into ~/.cache/separator/sounds/foxdot (docs/training-data.md)",
    "oneshots:chuck": "apt-get install chuck-data",
    "oneshots:exadrums": "apt-get install exadrums",
    "speech:espeak": "apt-get install espeak-ng",
    **{f"speech:flite-{v}": "apt-get install flite" for v in FLITE_VOICES},
    "speech:fillets-nl": "apt-get install fillets-ng-data-nl",
    "speech:fillets-cs": "apt-get install fillets-ng-data-cs",
    "speech:gcin": "apt-get install gcin-voice",
}


# The classes each kind of source can play (a General MIDI SoundFont or timidity plays them all).
KIND_CLASSES: dict[str, tuple[str, ...]] = {
    "sf": CLASSES,
    "timidity": CLASSES,
    "kit": ("drums",),
    "oneshots": ("drums",),
    "speech": ("vocals",),
    "synth": ("drums", "bass", "guitar", "other"),
}


class MissingSourcesError(SeparatorError, ValueError):
    """A data set would lack whole classes: no source found (or left by ``--only``/``--exclude``) plays them."""


@dataclass(frozen=True)
class Source:
    """One sound source: what it is, where it lives and which classes it can play.

    ``location`` is a SoundFont path, a timidity config, a flite voice name, or a
    folder of recordings; ``files`` lists a pack's recordings (one-shots, utterances).
    """

    id: str
    kind: str  # sf, kit, timidity, oneshots, speech, sing, synth
    classes: tuple[str, ...]
    location: str = ""
    files: tuple[str, ...] = ()
    weight: float = 1.0  # share inside its group (GeneralUser GS counts double)


@dataclass(frozen=True)
class SourcePaths:
    """Where detection looks; tests point these at empty folders."""

    soundfonts: tuple[str, ...] | None = None  # None: discover_soundfonts() on the default folders
    soundfont_dirs: tuple[str, ...] = SF_DIRS
    timidity_cfg: str = FREEPATS_CFG
    chuck_dir: str = CHUCK_DIR
    exadrums_dir: str = EXADRUMS_DIR
    fillets_dir: str = FILLETS_DIR
    gcin_dir: str = GCIN_DIR
    sounds_dirs: tuple[str, ...] = field(default_factory=lambda: tuple(default_sounds_dirs()))
    bin_path: str | None = None  # PATH to find timidity, flite, espeak-ng in; None: the process's


def default_sounds_dirs() -> list[str]:
    """Sounds roots: ``$SEPARATOR_SOUNDS`` (``os.pathsep``-separated), then ``~/.cache/separator/sounds``."""
    roots = [p for p in os.environ.get("SEPARATOR_SOUNDS", "").split(os.pathsep) if p]
    return [*roots, str(Path("~/.cache/separator/sounds").expanduser())]


def soundfont_id(path: str) -> str:
    """``GeneralUser-v1.47.sf2`` → ``GeneralUser_GS``, ``Black_Pearl_4_LV2.sf2`` → ``Black_Pearl_4``."""
    stem = Path(path).stem
    if stem.lower().startswith("generaluser"):
        return "GeneralUser_GS"
    return re.sub(r"_LV2$", "", stem)


def _soundfont_sources(paths: Sequence[str]) -> list[Source]:
    found = []
    for path in paths:
        info = describe(path)
        name = soundfont_id(path)
        if info.melodic:
            classes = (("drums",) if info.drum_presets else ()) + MELODIC
            found.append(Source(f"sf:{name}", "sf", classes, path, weight=2.0 if name == "GeneralUser_GS" else 1.0))
        elif info.drum_presets:
            found.append(Source(f"kit:{name}", "kit", ("drums",), path))
    return found


def _audio_files(folder: Path) -> tuple[str, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in SOUND_EXTENSIONS and p.is_file()))


def _oneshot_sources(paths: SourcePaths) -> list[Source]:
    from separator.training.data.oneshots import drum_files

    packs: dict[str, tuple[str, ...]] = {
        "chuck": drum_files(_audio_files(Path(paths.chuck_dir))),
        "exadrums": drum_files(_audio_files(Path(paths.exadrums_dir))),
    }
    for root in paths.sounds_dirs:
        for folder in sorted(Path(root).iterdir()) if Path(root).is_dir() else []:
            name = folder.name.lower()
            if folder.is_dir() and name not in packs and not any(r in name for r in RESERVED_PACKS):
                packs[name] = drum_files(_audio_files(folder))
    return [Source(f"oneshots:{name}", "oneshots", ("drums",), files=files) for name, files in packs.items() if files]


def _speech_sources(paths: SourcePaths) -> list[Source]:
    found = []
    which = functools.partial(shutil.which, path=paths.bin_path)
    if which("espeak-ng"):
        found.append(Source("speech:espeak", "speech", ("vocals",), "espeak"))
    if which("flite"):
        found += [Source(f"speech:flite-{v}", "speech", ("vocals",), v, weight=1 / len(FLITE_VOICES)) for v in FLITE_VOICES]
    for lang in ("nl", "cs"):
        files = tuple(sorted(str(p) for p in Path(paths.fillets_dir).glob(f"*/{lang}/*.ogg")))
        if files:
            found.append(Source(f"speech:fillets-{lang}", "speech", ("vocals",), paths.fillets_dir, files))
    gcin = tuple(sorted(str(p) for p in Path(paths.gcin_dir).glob("*/*.ogg")))
    if gcin:
        found.append(Source("speech:gcin", "speech", ("vocals",), paths.gcin_dir, gcin))
    return found


def detect_sources(paths: SourcePaths | None = None) -> list[Source]:
    """Every source found on this machine, SoundFonts first; the formant singer and the procedural
    instruments (:mod:`separator.training.data.synth`) are always there."""
    paths = paths or SourcePaths()
    fonts = list(paths.soundfonts) if paths.soundfonts is not None else discover_soundfonts(folders=paths.soundfont_dirs)
    found = _soundfont_sources(fonts)
    timidity = shutil.which("timidity", path=paths.bin_path)
    if timidity and Path(paths.timidity_cfg).is_file():
        found.append(Source("timidity:freepats", "timidity", tuple(CLASSES), paths.timidity_cfg, weight=1.5))
    found += _oneshot_sources(paths)
    found += _speech_sources(paths)
    found.append(Source("sing:formant", "sing", ("vocals",)))
    found.append(Source("synth:procedural", "synth", KIND_CLASSES["synth"]))
    return found


def missing_sources(found: Sequence[Source]) -> dict[str, str]:
    """Known source ids not found, with what to install for each."""
    have = {s.id for s in found}
    return {sid: how for sid, how in INSTALL.items() if sid not in have}


def _group(source: Source, name: str) -> tuple[str, float]:
    """The group a source belongs to for class ``name``, and the group's share of that class."""
    if name == "drums":
        return ("recorded kits", 0.5) if source.kind in ("kit", "oneshots", "timidity") else ("SoundFont and synthesised kits", 0.5)
    if name == "vocals":
        if source.kind == "speech" and source.files:
            return "recorded speech", 0.4
        if source.kind == "speech":
            return "speech synthesis", 0.2
        if source.kind == "sing":
            return "formant singer", 0.2
        return "choir", 0.2
    return "instruments", 1.0


def class_weights(sources: Sequence[Source], name: str) -> dict[str, float]:
    """Draw probability of each source for class ``name``: groups share the class, weights share a group."""
    groups: dict[str, tuple[float, list[Source]]] = {}
    for source in sources:
        if name in source.classes:
            group, share = _group(source, name)
            groups.setdefault(group, (share, []))[1].append(source)
    total_share = sum(share for share, _ in groups.values())
    weights: dict[str, float] = {}
    for share, members in groups.values():
        total = sum(m.weight for m in members)
        for m in members:
            weights[m.id] = share / total_share * m.weight / total
    return weights


def matches(source_id: str, patterns: Sequence[str]) -> bool:
    """Whether any pattern is a case-insensitive substring of ``source_id``."""
    return any(p.lower() in source_id.lower() for p in patterns if p)


@dataclass(frozen=True)
class Plan:
    """Per class, the sources to draw from and their probabilities; ``notes`` says where ``only`` fell back."""

    sources: dict[str, Source]
    weights: dict[str, dict[str, float]]
    notes: tuple[str, ...] = ()

    def draw(self, name: str, rng: np.random.Generator) -> Source | None:
        """One source for class ``name`` (``None`` when the class has none)."""
        weights = self.weights.get(name)
        if not weights:
            return None
        ids = list(weights)
        cumulative = np.cumsum([weights[i] for i in ids])
        pick = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        return self.sources[ids[min(pick, len(ids) - 1)]]

    def absent(self) -> list[str]:
        """The classes no source plays: songs would never have them."""
        return [name for name in CLASSES if not self.weights.get(name)]


def plan_sources(sources: Sequence[Source], only: Sequence[str] = (), exclude: Sequence[str] = ()) -> Plan:
    """Choose per class from ``sources`` minus ``exclude``; with ``only``, just the matching ones.

    A class that no ``only`` pattern can play falls back to all its non-excluded sources
    (said in ``Plan.notes``); a class with no source at all is never drawn.
    """
    kept = [s for s in sources if not matches(s.id, exclude)]
    weights, notes = {}, []
    for name in CLASSES:
        chosen = [s for s in kept if matches(s.id, only)] if only else kept
        w = class_weights(chosen, name)
        if only and not w:
            w = class_weights(kept, name)
            notes.append(f"{name}: no source matches --only {','.join(only)}; drawing from all its sources")
        if not w:
            notes.append(f"{name}: no source left (all excluded or missing); the class is never present")
        weights[name] = w
    return Plan({s.id: s for s in kept}, weights, tuple(notes))


def check_only(only: Sequence[str], found: Sequence[Source], exclude: Sequence[str] = ()) -> None:
    """Refuse ``--only`` patterns that match no source found (after ``exclude``): a source not installed, or a
    typo. Without this check the classes fall back to every source (:func:`plan_sources`), and a leave-out
    set made on a machine without its held-out packages silently holds the training sources.

    Raises:
        MissingSourcesError: one line: each pattern, the known sources it names with what to install them,
            and ``--allow-missing``.
    """
    kept = [s for s in found if not matches(s.id, exclude)]
    unmatched = [p for p in only if p and not any(matches(s.id, [p]) for s in kept)]
    if not unmatched:
        return
    missing = missing_sources(found)
    parts = []
    for pattern in unmatched:
        known = {sid: how for sid, how in missing.items() if matches(sid, [pattern])}
        if known:
            parts.append(f"{pattern} names {', '.join(known)}, not installed ({'; '.join(dict.fromkeys(known.values()))})")
        else:
            parts.append(f"{pattern} matches no source found here or known (docs/training-data.md lists them)")
    raise MissingSourcesError(f"--only: {'; '.join(parts)}; install it, or pass --allow-missing to draw those classes from every source")


def check_complete(plan: Plan, found: Sequence[Source]) -> None:
    """Refuse a plan that leaves classes without a source, naming what to install.

    Raises:
        MissingSourcesError: one line: the classes, up to three install commands (pip first) of sources
            that would play them, and ``--allow-missing``.
    """
    absent = plan.absent()
    if not absent:
        return
    could = [how for sid, how in missing_sources(found).items() if set(KIND_CLASSES.get(sid.split(":")[0], ())) & set(absent)]
    commands = sorted(dict.fromkeys(could), key=lambda how: "pip install" not in how)[:3]
    install = f"install one: {' | '.join(commands)} (docs/training-data.md)" if commands else "loosen --only/--exclude"
    raise MissingSourcesError(
        f"no sound source plays {', '.join(absent)}, so no song would have them; {install}; "
        "or pass --allow-missing to make the data set without them"
    )
