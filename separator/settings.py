"""How a split is made from the network's outputs: one set of settings, stored in the model file.

The model file holds the settings it was tuned with (``separator export``, ``scripts/tune-inference.py``);
:class:`Separator` takes them from there, so ``Separator(model)`` and ``Separator.from_pretrained()`` split
alike. The defaults below are the shipped model's, for networks that carry none (a freshly built one).
Experts override them with one object in Python (``Separator(model, settings=SplitSettings(pan=0))``) or one
file on the command line (``separator split --settings FILE``, TOML or JSON with some of these keys).
What each setting does and how it was chosen: ``separator/pretrained/README.md`` and ``docs/settings.md``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from separator.errors import SeparationError

NAMINGS = ("clusters", "masks")
PRECISIONS = ("float32", "bfloat16", "auto")


@dataclass(frozen=True)
class SplitSettings:
    """The settings that change a split.

    Attributes:
        segment_seconds: length of the segments the network sees at once (s).
        overlap_seconds: crossfade between neighbouring segments (s).
        hardness: soft k-means hardness β of the cluster masks (``inf``: binary masks).
        fit_points: at most this many loud bins' embeddings are clustered.
        seed: k-means seed.
        reference_db: the network hears every track at this RMS level (dBFS), the typical level of its
            training mixtures; ``None`` leaves the level alone. Masks apply to the untouched input.
        class_weight: blind mode clusters each bin's embedding next to this weight times the mask
            head's class posteriors (0: embeddings alone, as in the paper).
        mask_power: named-mode head masks are raised to this power and renormalised (1: as given).
        naming: named mode from ``"clusters"`` (k-means on the embeddings, clusters named by the mask
            head) or ``"masks"`` (the mask head's masks as they are).
        presence: named mode: a stem is present from this share (0..1) of the track's energy.
        blend: named mode: weight of the cluster masks against the mask head's (1: clusters only).
        extra_clusters: named mode: clusters beyond the stems present, each feeding its likeliest stem.
        blind_blend: blind mode: weight of the cluster masks against the mask head's, grouped by source.
        percussive: named mode: weight of the per-bin percussive evidence on the drums stem (0: off).
        blind_percussive: the same in blind mode, on the source the drums class joins.
        pan: weight of the per-bin stereo-position evidence (0: off; mono input is never changed).
        pan_focus: named mode: the pan step fits each stem's stereo position and spread to the bins its
            mask gives it, each counted with its mask raised to this power (1: as given; higher: the bins
            the stem holds most; :mod:`separator.panning`).
        blind_pan_focus: the same in blind mode.
        band_fill: band-limited input (dead bands above some frequency over the whole track): the network
            hears the last live band's level carried upward, this many dB quieter per band
            (:mod:`separator.bandwidth`; 0: off). The masks still apply to the track as it is.
        low_band: named mode: weight of the low-band refiner's masks under 516 Hz (:mod:`separator.lowband`;
            0: off, 1: the refiner's alone); used when the model file has a refiner beside it, on full-band tracks
            (a band-limited one, :mod:`separator.bandwidth`, is split without it).
        resplit: named mode: the share (0..1) of the bass that moves to the guitar, vocals and other stems
            where the network, hearing the bass stem alone a second time, hears those classes
            (:mod:`separator.resplit`; 0: off). Costs a second run of the network per segment.
        resplit_drums: named mode: the share (0..1) of the drums that moves to the bass stem where the network,
            hearing the drums stem alone a second time, hears bass (:mod:`separator.resplit`; 0, the default:
            off). Costs one more run of the network per segment (a named split 1.3× as long) for +0.1 dB on
            the leave-out set and ±0.05 on real songs, so it is an expert's choice, not the default.
        precision: the network's arithmetic: ``"float32"``, ``"bfloat16"`` (autocast, as the shipped model
            was trained: about twice as fast on CPUs that compute it natively), or ``"auto"`` (the default
            since 2026-12-06): bfloat16 on CPUs that compute it natively (AVX-512 BF16, AMX), float32
            elsewhere (older CPUs would emulate it slowly, and without AVX-512 torch has no bfloat16 LSTM at
            all: ``"bfloat16"`` is then a :class:`SeparationError`; GPUs are fast either way). On the tuning splits
            bfloat16 scored as float32 or higher (model card, "2026-12-06, twelfth"); the stems of the two
            agree to 30–50 dB (median 51 dB on 8 leave-out songs), so a split on a CPU without native
            bfloat16 differs a little from one with it. ``"float32"`` gives the same stems on every CPU.
    """

    segment_seconds: float = 20.0
    overlap_seconds: float = 1.0
    hardness: float = 3.0
    fit_points: int = 20000
    seed: int = 0
    reference_db: float | None = -28.0
    class_weight: float = 0.0
    mask_power: float = 1.0
    naming: str = "clusters"
    presence: float = 0.01
    blend: float = 0.5
    extra_clusters: int = 1
    blind_blend: float = 0.5
    percussive: float = 0.5
    blind_percussive: float = 0.35
    pan: float = 2.0
    pan_focus: float = 4.0
    blind_pan_focus: float = 16.0
    band_fill: float = 0.25
    low_band: float = 1.0
    resplit: float = 0.75
    resplit_drums: float = 0.0
    precision: str = "auto"

    def __post_init__(self) -> None:
        _check(self)

    def replace(self, **changes: Any) -> SplitSettings:
        """A copy with ``changes`` (names of this class's fields).

        Raises:
            SeparationError: an unknown name or a value out of range (the message names both).
        """
        unknown = sorted(set(changes) - set(names()))
        if unknown:
            raise SeparationError(f"unknown split setting {unknown[0]!r}; valid settings: {', '.join(names())}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values (what a model file stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: SplitSettings | None = None) -> SplitSettings:
        """``base`` (default: the shipped defaults) with ``values``; unknown keys are an error."""
        return (base or cls()).replace(**values)


def names() -> tuple[str, ...]:
    """The settings' names, in order."""
    return tuple(f.name for f in fields(SplitSettings))


def read_overrides(path: str | Path) -> dict[str, Any]:
    """The settings a TOML (``.toml``) or JSON file holds: some of the keys of :class:`SplitSettings`, checked.

    Raises:
        SeparationError: the file cannot be read or parsed, or holds an unknown key or a bad value
            (one line naming the file).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeparationError(f"{path}: cannot read the settings file ({getattr(exc, 'strerror', None) or exc})") from exc
    kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    try:
        values = _parse_toml(text) if kind == "TOML" else json.loads(text)
    except ValueError as exc:
        raise SeparationError(f"{path}: not valid {kind} ({exc})") from exc
    if not isinstance(values, dict):
        raise SeparationError(f"{path}: expected a table of settings such as pan = 2.0, got {type(values).__name__}")
    try:
        SplitSettings.from_dict(values)
    except (SeparationError, TypeError) as exc:
        raise SeparationError(f"{path}: {exc}") from exc
    return values


def read_settings(path: str | Path, base: SplitSettings | None = None) -> SplitSettings:
    """``base`` (default: the shipped defaults) with the settings of the file ``path`` (:func:`read_overrides`)."""
    return SplitSettings.from_dict(read_overrides(path), base)


def _parse_toml(text: str) -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


_RANGES: dict[str, tuple[float, float]] = {
    "segment_seconds": (1.0, 600.0),
    "overlap_seconds": (0.0, 60.0),
    "hardness": (0.0, math.inf),
    "class_weight": (0.0, math.inf),
    "mask_power": (0.01, 100.0),
    "presence": (0.0, 1.0),
    "blend": (0.0, 1.0),
    "blind_blend": (0.0, 1.0),
    "percussive": (0.0, 100.0),
    "blind_percussive": (0.0, 100.0),
    "pan": (0.0, 100.0),
    "pan_focus": (0.0, 64.0),
    "blind_pan_focus": (0.0, 64.0),
    "band_fill": (0.0, 20.0),
    "low_band": (0.0, 1.0),
    "resplit": (0.0, 1.0),
    "resplit_drums": (0.0, 1.0),
    "reference_db": (-120.0, 0.0),
}


def _check(s: SplitSettings) -> None:
    """Raise :class:`SeparationError` for a value of the wrong kind or out of range."""
    for name, (low, high) in _RANGES.items():
        value = getattr(s, name)
        if value is None and name == "reference_db":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise SeparationError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    for name in ("fit_points", "seed", "extra_clusters"):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "fit_points" else 0):
            raise SeparationError(f"{name} must be a whole number ≥ {1 if name == 'fit_points' else 0}, got {value!r}")
    if s.precision not in PRECISIONS:
        raise SeparationError(f"precision must be one of {', '.join(PRECISIONS)}, got {s.precision!r}")
    if s.naming not in NAMINGS:
        raise SeparationError(f"naming must be one of {', '.join(NAMINGS)}, got {s.naming!r}")
    if s.overlap_seconds >= s.segment_seconds:
        raise SeparationError(f"overlap_seconds ({s.overlap_seconds:g}) must be shorter than segment_seconds ({s.segment_seconds:g})")
