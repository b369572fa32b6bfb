"""Score a model on validation songs (generated shards, MUSDB18-HQ or your own ``<song>/<stem>.wav``
multitracks): SI-SDR improvement per stem, both modes,
next to the oracle ideal binary mask (the ceiling of any binary-mask method at
this STFT) and the unprocessed mixture (0 dB by definition).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from separator.classes import CLASSES
from separator.devices import measuring_threads
from separator.features import istft, stft
from separator.model import Network
from separator.separate import Separator
from separator.training.data.multitrack import DataLayoutError, StemMap, detect_layout, find_songs, parse_stem_map, read_song
from separator.training.metrics import SILENT_DB, best_permutation, is_silent, si_sdr_improvement

MULTITRACK_RATE = 44100  # Hz: multitracks are read at the rate training reads them
UNKNOWN = "unknown"  # sources without a trusted class name (tracker songs, unmapped stems)
COLUMNS = (*CLASSES, UNKNOWN)


Songs = Iterator[tuple[np.ndarray, np.ndarray, int]]


def load_songs(folder: str | Path, max_songs: int | None = None, skip: int = 0) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """:func:`iter_songs` as a list ``[(sources, labels)]`` and the sample rate of the last song.

    Raises:
        DataLayoutError: as :func:`iter_songs`.
    """
    songs = list(iter_songs(folder, max_songs, skip))
    return [(refs, labels) for refs, labels, _ in songs], songs[-1][2]


def iter_songs(folder: str | Path, max_songs: int | None = None, skip: int = 0, stem_map: str | None = None) -> Songs:
    """Songs of an evaluation folder, read one at a time, as ``(sources (n, channels, samples) float32, labels (n,),
    sample rate)``: shards from ``separator make-data``, MUSDB18-HQ (its ``test/`` when there is one) or one
    folder of stems per song, ``<song>/mixture.wav + <stem>.wav`` (the layouts ``separator train`` reads).

    The first ``skip`` songs (e.g. the ones settings were tuned on) are left out, then at most
    ``max_songs`` are read. Only the audible sources are kept; ``labels`` are class indices into
    ``CLASSES``, or ``-1`` for a source without a trusted class (tracker songs, stems ``stem_map``
    does not name, :func:`separator.training.data.multitrack.label_for`).

    Raises:
        DataLayoutError: the folder is missing, holds none of the layouts, or no song after ``skip``.
        StemMapError: a bad ``stem_map``.
    """
    folder = Path(folder)
    pairs = parse_stem_map(stem_map)  # a bad map fails before any audio is read
    songs: Songs
    if detect_layout(folder) == "shards":
        songs = itertools.islice(_shard_songs(folder), skip, None)
    else:  # MUSDB18-HQ's train/ is for training; its test/ is for scores
        songs = _multitrack_songs(folder / "test" if (folder / "test").is_dir() else folder, pairs, skip)
    read = 0
    for refs, labels, rate in songs:
        audible = np.abs(refs).reshape(len(refs), -1).max(1) > 0
        yield refs[audible], labels[audible], rate
        read += 1
        if max_songs and read >= max_songs:
            return
    if not read:
        raise DataLayoutError(f"{folder}: no songs to score" + (f" after skipping the first {skip}; lower --skip-songs" if skip else ""))


def _shard_songs(folder: Path) -> Songs:
    """Every song of the shards in ``folder``, in order: its present sources and their labels."""
    for shard in sorted(folder.glob("shard-*[0-9].npz")):
        data = np.load(shard)
        rate = int(data["sample_rate"])
        stems, present = data["stems"], data["present"]
        labels = data["labels"] if "labels" in data.files else np.broadcast_to(np.arange(present.shape[1]), present.shape)
        for song, keep, label in zip(stems, present, labels, strict=True):
            song32 = song[keep].astype(np.float32)
            yield (song32 if song32.ndim == 3 else song32[:, None]), np.asarray(label)[keep].astype(int), rate


def _multitrack_songs(root: Path, stem_map: StemMap, skip: int) -> Songs:
    """The songs of a ``musdb`` or ``stems`` folder after the first ``skip``, read at 44.1 kHz stereo
    (the mixture file is left out: the mixture is the sum of the stems)."""
    for song in find_songs(root)[skip:]:
        refs, labels = read_song(song, stem_map, MULTITRACK_RATE)
        yield refs, np.array(labels, int), MULTITRACK_RATE


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
    sep: Separator,
    refs: np.ndarray,
    labels: np.ndarray,
    rate: int,
    oracle: bool,
    karaoke: bool = False,
    in_mix: dict[str, list[np.ndarray]] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """SI-SDRi per mode and stem of one song; sources without a class count as ``unknown``.

    Named mode scores only the sources whose class is known and unique in the song; karaoke
    mode scores the accompaniment (everything but the vocals) of a song with one vocals source.
    ``in_mix``: where each source went in the named split (:func:`mix_shares`) is appended to it.
    """
    mix = refs.sum(0)
    names = [CLASSES[c] if c >= 0 else UNKNOWN for c in labels]
    modes = ("named", "blind", "oracle", "karaoke", "silent")
    scores: dict[str, dict[str, list[float]]] = {mode: defaultdict(list) for mode in modes}
    if karaoke and names.count("vocals") == 1:
        scores["karaoke"]["accompaniment"].append(karaoke_improvement(sep, refs, names.index("vocals"), rate))
    named = sep.separate(mix, rate)
    if in_mix is not None:
        for name, ref in zip(names, refs, strict=True):
            shares = mix_shares(named, ref)
            if shares is not None:
                in_mix[name].append(shares)
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


def mix_shares(stems: dict[str, np.ndarray], source: np.ndarray) -> np.ndarray | None:
    """How much of ``source`` each stem of a split of the whole mix holds: ``<stem, source> / <source, source>``
    per stem, in the split's stem order (``None`` for a silent source).

    The stems add up to the mix, so the shares add up to 1 plus the source's correlation with the other
    sources (near 0 for independent parts). Unlike :func:`confusion`, the source is heard among the others,
    as in a song: a voice's fundamental next to a bass line, a kick under it.
    """
    reference = source.astype(np.float64).ravel()
    energy = float(reference @ reference)
    if energy <= 0:
        return None
    return np.array([float(stem.astype(np.float64).ravel() @ reference) / energy for stem in stems.values()])


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
    stem_map: str | None = None,
    in_mix: bool = False,
    per_song: bool = False,
) -> dict[str, Any]:
    """Mean SI-SDR improvement (dB) per mode and per stem class over a data set's songs (any layout of
    :func:`iter_songs`; ``stem_map`` names the stems of ``<song>/<stem>.wav`` folders).

    Returns:
        ``{mode: {"mean": dB, "<class>": dB, ...}}`` for modes ``named``, ``blind``
        and (with ``oracle``) ``oracle``, plus ``songs`` and ``silent`` (the share of the
        sources scored in named mode whose stem came out silent, overall and per class,
        0..1; they score :data:`~separator.training.metrics.SILENT_DB`); with ``karaoke``, also
        ``{"karaoke": {"mean": dB}}``: the accompaniment of :func:`karaoke_improvement`
        over the songs with one vocals source; with ``in_mix``, also ``{"in_mix": {true: {stem: share}}}``:
        where each source went in the named split of its song, the mean of :func:`mix_shares` per class;
        with ``per_song``, also ``{"per_song": [{"song": index in the folder, mode: [dB per scored source]}]}``,
        the scores each mode's mean is made of, song by song (``scripts/compare-scores.py`` pairs two runs).
    Raises:
        DataLayoutError: as :func:`iter_songs`, or no song has two audible sources.
        StemMapError: a bad ``stem_map``.
    """
    sep = _separator(model)
    collected: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    shares: dict[str, list[np.ndarray]] | None = defaultdict(list) if in_mix else None
    songs_scored: list[dict[str, Any]] = []
    songs = 0
    for refs, labels, rate in iter_songs(folder, max_songs, skip_songs, stem_map):
        songs += 1
        if len(refs) < 2:
            continue
        scores = _score_song(sep, refs, labels, rate, oracle, karaoke, shares)
        for mode, per_class in scores.items():
            for name, values in per_class.items():
                collected[mode][name].extend(values)
        if per_song:
            by_mode = {mode: [v for values in per_class.values() for v in values] for mode, per_class in scores.items()}
            songs_scored.append({"song": skip_songs + songs - 1, **{mode: v for mode, v in by_mode.items() if v}})
    if not collected:
        raise DataLayoutError(f"{folder}: no song holds two or more audible stems; there is nothing to separate")
    result: dict[str, Any] = {"songs": songs}
    for mode, lists in collected.items():
        every = [v for values in lists.values() for v in values]
        if every:
            result[mode] = {"mean": float(np.mean(every)), **{c: float(np.mean(lists[c])) for c in COLUMNS if lists.get(c)}}
    if shares:
        result["in_mix"] = _mean_rows(shares, sep.stem_names())
    if per_song:
        result["per_song"] = songs_scored
    return result


def _separator(model: Network | Separator) -> Separator:
    """``model`` itself, or a network split on its own device with one thread count for the whole measurement."""
    return model if isinstance(model, Separator) else Separator(model, device=next(model.parameters()).device, threads=measuring_threads())


def _mean_rows(rows: dict[str, list[np.ndarray]], outputs: list[str]) -> dict[str, dict[str, float]]:
    """``{true stem: [shares per output stem, …]}`` → ``{true stem: {output stem: mean share}}``."""
    return {true: dict(zip(outputs, np.mean(values, axis=0).tolist(), strict=True)) for true, values in rows.items()}


def confusion(
    model: Network | Separator, folder: str | Path, max_songs: int | None = 50, stem_map: str | None = None, skip_songs: int = 0
) -> dict[str, dict[str, float]]:
    """Where each stem goes when heard alone: the share of named-mode output energy per stem.

    Each source of each song is split alone, at its level in the mix; row ``true`` of the
    result maps every output stem to its mean share of the output energy (rows sum to 1).
    A good model puts each row's weight on its own column.
    """
    sep = _separator(model)
    shares: dict[str, list[np.ndarray]] = defaultdict(list)
    for refs, labels, rate in iter_songs(folder, max_songs, skip_songs, stem_map):
        for ref, label in zip(refs, labels, strict=True):
            energy = np.array([float(np.sum(stem.astype(np.float64) ** 2)) for stem in sep.separate(ref, rate).values()])
            if energy.sum() > 0:
                shares[CLASSES[label] if label >= 0 else UNKNOWN].append(energy / energy.sum())
    return _mean_rows(shares, sep.stem_names())


def format_confusion(table: dict[str, dict[str, float]], title: str = "heard alone → share") -> str:
    """:func:`confusion` (or the ``in_mix`` shares of :func:`evaluate_model`, with ``title`` "in the mix →
    share") as a fixed-width table: one row per true stem, one column per output stem."""
    outputs = list(next(iter(table.values()))) if table else []
    header = f"{title:<22}" + "".join(f"{c:>9}" for c in outputs)
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
