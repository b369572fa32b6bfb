"""Score a model on generated validation songs: SI-SDR improvement per stem, both modes,
next to the oracle ideal binary mask (the ceiling of any binary-mask method at
this STFT) and the unprocessed mixture (0 dB by definition).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from separator.classes import CLASSES
from separator.features import istft, stft
from separator.metrics import best_permutation, si_sdr_improvement
from separator.model import ChimeraNet
from separator.separate import Separator


def load_songs(folder: str | Path, max_songs: int | None = None) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Songs of a data set as ``[(stems (n_classes, channels, samples) float32, present (n_classes,))]`` and the sample rate."""
    songs: list[tuple[np.ndarray, np.ndarray]] = []
    rate = 44100
    for shard in sorted(Path(folder).glob("shard-*[0-9].npz")):
        data = np.load(shard)
        rate = int(data["sample_rate"])
        stems = data["stems"]
        for song, present in zip(stems, data["present"], strict=True):
            song32 = song.astype(np.float32)
            songs.append((song32 if song32.ndim == 3 else song32[:, None], present))
            if max_songs and len(songs) >= max_songs:
                return songs, rate
    if not songs:
        raise FileNotFoundError(f"{folder}: no shard-*.npz files; make them with `separator make-data`")
    return songs, rate


def oracle_binary_mask(references: np.ndarray, sample_rate: int) -> np.ndarray:
    """Ideal binary mask estimates: each bin of the mixture goes to its loudest source.

    Args:
        references: ``(n_src, channels, samples)``.
    Returns:
        ``(n_src, channels, samples)``.
    """
    refs = torch.from_numpy(references)
    specs = stft(refs, sample_rate)  # (n_src, ch, bins, t)
    mix = specs.sum(0)
    dominant = (specs.abs() ** 2).sum(1).argmax(0)  # (bins, t): per bin, over channels' power
    masks = torch.nn.functional.one_hot(dominant, refs.shape[0]).permute(2, 0, 1).unsqueeze(1).to(mix.real.dtype)
    return istft(masks * mix.unsqueeze(0), sample_rate, references.shape[-1]).numpy()


def _score_song(sep: Separator, stems: np.ndarray, present: np.ndarray, rate: int, oracle: bool) -> dict[str, dict[str, float]]:
    idx = [i for i in range(len(CLASSES)) if present[i] and np.abs(stems[i]).max() > 0]
    refs, mix = stems[idx], stems[idx].sum(0)
    names = [CLASSES[i] for i in idx]
    scores: dict[str, dict[str, float]] = {"named": {}, "blind": {}, "oracle": {}}
    named = sep.separate(mix, rate)
    for name, ref in zip(names, refs, strict=True):
        scores["named"][name] = si_sdr_improvement(named[name], ref, mix)
    blind = list(sep.separate(mix, rate, clusters=len(idx)).values())
    perm = best_permutation(blind, list(refs))
    for i, name in enumerate(names):
        scores["blind"][name] = si_sdr_improvement(blind[perm[i]], refs[i], mix)
    if oracle:
        ibm = oracle_binary_mask(refs, rate)
        for i, name in enumerate(names):
            scores["oracle"][name] = si_sdr_improvement(ibm[i], refs[i], mix)
    return scores


def evaluate_model(model: ChimeraNet | Separator, folder: str | Path, max_songs: int | None = 50, oracle: bool = True) -> dict[str, Any]:
    """Mean SI-SDR improvement (dB) per mode and per stem class over a data set's songs.

    Returns:
        ``{mode: {"mean": dB, "<class>": dB, ...}}`` for modes ``named``, ``blind``
        and (with ``oracle``) ``oracle``, plus ``songs``.
    """
    sep = model if isinstance(model, Separator) else Separator(model, device=next(model.parameters()).device)
    songs, rate = load_songs(folder, max_songs)
    collected: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for stems, present in songs:
        for mode, per_class in _score_song(sep, stems, present, rate, oracle).items():
            for name, value in per_class.items():
                collected[mode][name].append(value)
    result: dict[str, Any] = {"songs": len(songs)}
    for mode, lists in collected.items():
        every = [v for values in lists.values() for v in values]
        if every:
            result[mode] = {"mean": float(np.mean(every)), **{c: float(np.mean(lists[c])) for c in CLASSES if lists.get(c)}}
    return result


def format_table(result: dict[str, Any]) -> str:
    """The result of :func:`evaluate_model` as a fixed-width table, one row per mode."""
    modes = [m for m in ("mixture", "named", "blind", "oracle") if m in result or m == "mixture"]
    header = f"{'SI-SDRi (dB)':<22}" + "".join(f"{c:>9}" for c in (*CLASSES, "mean"))
    lines = [header, "-" * len(header)]
    labels = {"mixture": "mixture (no-op)", "named": "named stems", "blind": "blind k-means", "oracle": "oracle binary mask"}
    for mode in modes:
        row = result.get(mode, {c: 0.0 for c in (*CLASSES, "mean")})
        lines.append(f"{labels[mode]:<22}" + "".join(f"{row[c]:>9.2f}" if c in row else f"{'-':>9}" for c in (*CLASSES, "mean")))
    lines.append(f"({result['songs']} songs)")
    return "\n".join(lines)
