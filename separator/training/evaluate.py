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
from separator.model import Network
from separator.separate import Separator
from separator.training.metrics import SILENT_DB, best_permutation, is_silent, si_sdr_improvement

UNKNOWN = "unknown"  # sources without a trusted class name (tracker songs, unmapped stems)
COLUMNS = (*CLASSES, UNKNOWN)


def load_songs(folder: str | Path, max_songs: int | None = None, skip: int = 0) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Songs of a data set as ``[(sources (n, channels, samples) float32, labels (n,))]`` and the sample rate.

    The first ``skip`` songs (e.g. the ones settings were tuned on) are left out, then at most
    ``max_songs`` are read.

    Only the sources present are kept; ``labels`` are class indices into ``CLASSES``, or
    ``-1`` for a source without a trusted class (tracker songs, unmapped multitrack stems).
    """
    songs: list[tuple[np.ndarray, np.ndarray]] = []
    rate, seen = 44100, 0
    for shard in sorted(Path(folder).glob("shard-*[0-9].npz")):
        data = np.load(shard)
        rate = int(data["sample_rate"])
        stems, present = data["stems"], data["present"]
        labels = data["labels"] if "labels" in data.files else np.broadcast_to(np.arange(present.shape[1]), present.shape)
        for song, keep, label in zip(stems, present, labels, strict=True):
            seen += 1
            if seen <= skip:
                continue
            song32 = song[keep].astype(np.float32)
            song32 = song32 if song32.ndim == 3 else song32[:, None]
            audible = np.abs(song32).reshape(len(song32), -1).max(1) > 0
            songs.append((song32[audible], np.asarray(label)[keep][audible].astype(int)))
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


def _score_song(
    sep: Separator, refs: np.ndarray, labels: np.ndarray, rate: int, oracle: bool, karaoke: bool = False
) -> dict[str, dict[str, list[float]]]:
    """SI-SDRi per mode and stem of one song; sources without a class count as ``unknown``.

    Named mode scores only the sources whose class is known and unique in the song; karaoke
    mode scores the accompaniment (everything but the vocals) of a song with one vocals source.
    """
    mix = refs.sum(0)
    names = [CLASSES[c] if c >= 0 else UNKNOWN for c in labels]
    modes = ("named", "blind", "oracle", "karaoke", "silent")
    scores: dict[str, dict[str, list[float]]] = {mode: defaultdict(list) for mode in modes}
    if karaoke and names.count("vocals") == 1:
        scores["karaoke"]["accompaniment"].append(karaoke_improvement(sep, refs, names.index("vocals"), rate))
    named = sep.separate(mix, rate)
    for name, ref in zip(names, refs, strict=True):
        if name != UNKNOWN and names.count(name) == 1:
            scores["named"][name].append(si_sdr_improvement(named[name], ref, mix))
            scores["silent"][name].append(float(is_silent(named[name], ref)))
    blind = list(sep.separate(mix, rate, clusters=len(refs)).values())
    perm = best_permutation(blind, list(refs))
    for i, name in enumerate(names):
        scores["blind"][name].append(si_sdr_improvement(blind[perm[i]], refs[i], mix))
    if oracle:
        ibm = oracle_binary_mask(refs, rate)
        for i, name in enumerate(names):
            scores["oracle"][name].append(si_sdr_improvement(ibm[i], refs[i], mix))
    return scores


def karaoke_improvement(sep: Separator, refs: np.ndarray, vocals: int, rate: int) -> float:
    """SI-SDRi (dB) of the accompaniment that the ``karaoke`` preset keeps.

    The preset splits ``stems: [vocals]`` and mutes the vocals, so what it plays is the
    ``other`` stem of that split; the reference is the sum of every source but the vocals.

    Args:
        refs: ``(n_src, channels, samples)`` sources; the mixture is their sum.
        vocals: index of the vocals source in ``refs``.
    """
    mix = refs.sum(0)
    accompaniment = sep.separate(mix, rate, stems=["vocals"])["other"]
    return si_sdr_improvement(accompaniment, mix - refs[vocals], mix)


def evaluate_model(
    model: Network | Separator,
    folder: str | Path,
    max_songs: int | None = 50,
    oracle: bool = True,
    karaoke: bool = False,
    skip_songs: int = 0,
) -> dict[str, Any]:
    """Mean SI-SDR improvement (dB) per mode and per stem class over a data set's songs.

    Returns:
        ``{mode: {"mean": dB, "<class>": dB, ...}}`` for modes ``named``, ``blind``
        and (with ``oracle``) ``oracle``, plus ``songs`` and ``silent`` (the share of the
        sources scored in named mode whose stem came out silent, overall and per class,
        0..1; they score :data:`~separator.training.metrics.SILENT_DB`); with ``karaoke``, also
        ``{"karaoke": {"mean": dB}}``: the accompaniment of :func:`karaoke_improvement`
        over the songs with one vocals source.
    """
    sep = model if isinstance(model, Separator) else Separator(model, device=next(model.parameters()).device)
    songs, rate = load_songs(folder, max_songs, skip_songs)
    collected: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for refs, labels in songs:
        if len(refs) < 2:
            continue
        for mode, per_class in _score_song(sep, refs, labels, rate, oracle, karaoke).items():
            for name, values in per_class.items():
                collected[mode][name].extend(values)
    result: dict[str, Any] = {"songs": len(songs)}
    for mode, lists in collected.items():
        every = [v for values in lists.values() for v in values]
        if every:
            result[mode] = {"mean": float(np.mean(every)), **{c: float(np.mean(lists[c])) for c in COLUMNS if lists.get(c)}}
    return result


def confusion(model: Network | Separator, folder: str | Path, max_songs: int | None = 50) -> dict[str, dict[str, float]]:
    """Where each stem goes when heard alone: the share of named-mode output energy per stem.

    Each source of each song is split alone, at its level in the mix; row ``true`` of the
    result maps every output stem to its mean share of the output energy (rows sum to 1).
    A good model puts each row's weight on its own column.
    """
    sep = model if isinstance(model, Separator) else Separator(model, device=next(model.parameters()).device)
    songs, rate = load_songs(folder, max_songs)
    shares: dict[str, list[np.ndarray]] = defaultdict(list)
    for refs, labels in songs:
        for ref, label in zip(refs, labels, strict=True):
            energy = np.array([float(np.sum(stem.astype(np.float64) ** 2)) for stem in sep.separate(ref, rate).values()])
            if energy.sum() > 0:
                shares[CLASSES[label] if label >= 0 else UNKNOWN].append(energy / energy.sum())
    outputs = sep.stem_names()
    return {true: dict(zip(outputs, np.mean(rows, axis=0).tolist(), strict=True)) for true, rows in shares.items()}


def format_confusion(table: dict[str, dict[str, float]]) -> str:
    """:func:`confusion` as a fixed-width table: one row per true stem, one column per output stem."""
    outputs = list(next(iter(table.values()))) if table else []
    header = f"{'heard alone → share':<22}" + "".join(f"{c:>9}" for c in outputs)
    rows = [f"{true:<22}" + "".join(f"{table[true][c]:>9.2f}" for c in outputs) for true in COLUMNS if true in table]
    return "\n".join([header, "-" * len(header), *rows])


def format_table(result: dict[str, Any]) -> str:
    """The result of :func:`evaluate_model` as a fixed-width table, one row per mode."""
    modes = [m for m in ("mixture", "named", "blind", "oracle", "karaoke") if m in result or m == "mixture"]
    columns = [c for c in COLUMNS if any(c in result.get(m, {}) for m in modes)]
    header = f"{'SI-SDRi (dB)':<22}" + "".join(f"{c:>9}" for c in (*columns, "mean"))
    lines = [header, "-" * len(header)]
    labels = {"mixture": "mixture (no-op)", "named": "named stems", "blind": "blind k-means", "oracle": "oracle binary mask"}
    labels["karaoke"] = "karaoke accompaniment"  # a mean only: the preset's output without the vocals
    for mode in modes:
        row = result.get(mode, {c: 0.0 for c in (*columns, "mean")})
        lines.append(f"{labels[mode]:<22}" + "".join(f"{row[c]:>9.2f}" if c in row else f"{'-':>9}" for c in (*columns, "mean")))
    if "silent" in result:
        share = result["silent"]["mean"]
        lines.append(f"named stems left silent though the song has them: {share:.0%} (scored as {SILENT_DB:.0f} dB SI-SDR)")
    lines.append(f"({result['songs']} songs)")
    return "\n".join(lines)
