"""The Separator: load a model once, then split audio into named stems or K sources.

One plan per track (:class:`_Plan`): the stems asked for, the segments, the level the network hears
and how masks are made (:class:`separator.masks.Routing`), decided once. Then one streaming loop
(:meth:`Separator._pieces`) serves the stems, the masks of pictures and evaluation:

* **pass 1** (only when the plan needs the whole track first): each segment is read, its STFT features
  kept and the track's mean power summed; then the network runs on every segment at the level the plan
  sets, and k-means is fitted on a sample of the loud bins' embeddings. The network's outputs are kept
  for pass 2 (up to :data:`FIRST_PASS_BYTES`; later segments are computed again).
* **pass 2**: each segment is read again, masked (:mod:`separator.masks`: band masks per unit, per-bin
  percussive and pan evidence; in named mode the bass, and on request the drums, heard a second time,
  :mod:`separator.resplit`; one batched iSTFT) and crossfaded into its neighbours
  (:mod:`separator.chunking`), so memory is bounded whatever the length.

A file is decoded once per pass and its header read once. Blind mode clusters the embeddings of the whole
track, so "source 2" means the same thing in every segment; the sources are ordered by the class they
resemble most (:mod:`separator.naming`), so ``source1`` is the same kind of sound from file to file. Named
mode (``naming="clusters"``, the default) does the same with K = the number of stems present (from the mask
head's energy shares) and names each cluster by its class posteriors; absent stems are silent.
How each step is weighted: :class:`separator.settings.SplitSettings`, stored in the model file.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from separator.bandwidth import extend_bands, last_live_band
from separator.chunking import crossfade, segment_starts, segments
from separator.devices import map_in_order, network_dtype, one_thread_each, resolve_device, use_threads
from separator.errors import SeparationError
from separator.features import FLOOR_DB, band_power, bin_power, features, log_power, stft, stft_size, sum_first
from separator.kmeans import kmeans
from separator.lowband import LowBandRefiner
from separator.masks import Routing, apply_masks, bin_masks, cluster_features, collect, masked_signals, unit_masks
from separator.model import Network, load_checkpoint
from separator.naming import blind_groups, class_matching, cluster_profiles, name_clusters, present_names, stable_order
from separator.resplit import HEARINGS, move_shares, moves
from separator.settings import NAMINGS, SplitSettings
from stembase import audio as audio_io
from stembase.stem_outputs import check_stem_files, stem_paths, stem_writers

DEFAULT_MODEL = Path(__file__).parent / "pretrained" / "default.pt"
MAX_CLUSTERS = 16
ProgressFn = Callable[[float], None]  # called with the fraction done, 0..1; may raise to cancel
Reader = Callable[[], Iterator[np.ndarray]]  # a new iterator over the track's segments at each call
FIRST_PASS_BYTES = 192 * 2**20  # network outputs kept between the two passes: 14 segments of 20 s (the peak RSS of long files)
FEATURE_BYTES = 512 * 2**20  # pass 1's features kept until the track's level is known; past it, a third read
__all__ = ["DEFAULT_MODEL", "NAMINGS", "Separator", "SplitSettings"]


class _Hearing(NamedTuple):
    """One second hearing of a track (:mod:`separator.resplit`): the ``source`` unit heard again, ``into (n_classes,
    n_units)`` where the moved classes' shares go, and the ``weight`` of the share moved."""

    source: int
    into: torch.Tensor
    weight: float


@dataclass
class _Plan:
    """Everything decided once per track: ``names`` of the output stems, ``clusters`` (blind mode's K or
    ``None``), segment ``block`` and ``overlap`` in samples, ``offset_db`` added to the network's input
    features, the ``routing`` of its masks, the ``last_live_band`` of a band-limited track
    (:mod:`separator.bandwidth`; ``None``: full band, or not measured), and ``resplit``: the second hearings, in
    order (:class:`_Hearing`, :meth:`Separator._resplit_plan`)."""

    names: list[str]
    clusters: int | None
    sample_rate: int
    n_samples: int
    block: int
    overlap: int
    offset_db: float = 0.0
    routing: Routing | None = None
    last_live_band: int | None = None
    resplit: tuple[_Hearing, ...] = ()

    @property
    def n_segments(self) -> int:
        """How many segments the track is cut into."""
        return len(segment_starts(self.n_samples, self.block, self.overlap))


_Outputs = tuple[torch.Tensor, torch.Tensor]  # a segment's (embeddings (t, bands, D), class masks (t, bands, C))


class _FirstPass:
    """The first pass's network outputs per segment, kept for the second pass up to ``limit`` bytes.

    Embeddings are kept in float16 (they only feed distances to the centroids); segments past the limit
    are computed again, so memory stays bounded for any length.
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self.outputs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def put(self, index: int, embeddings: torch.Tensor, class_masks: torch.Tensor) -> None:
        size = embeddings.numel() * 2 + class_masks.numel() * class_masks.element_size()
        if self.used + size <= self.limit:
            self.outputs[index] = (embeddings.half(), class_masks)
            self.used += size

    def take(self, index: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The outputs of segment ``index`` (embeddings back in float32), or ``None``; frees them."""
        kept = self.outputs.pop(index, None)
        return None if kept is None else (kept[0].float(), kept[1])


class Separator:
    """Splits ``(channels, samples)`` audio into stems with a :class:`~separator.model.ChimeraNet`
    (or a :class:`~separator.model.ChimeraEnsemble` of them).

    Args:
        model: the network; moved to ``device`` and put in eval mode.
        device: ``"auto" | "cpu" | "cuda"`` or a ``torch.device``.
        settings: how masks are made (:class:`SplitSettings`); default: those stored with the model
            (``model.split_settings``, set by :func:`~separator.model.load_checkpoint`), else the shipped
            defaults — so ``Separator(model)`` and :meth:`from_pretrained` split alike.
        threads: CPU threads for the tensor work (default: ``SEPARATOR_THREADS``, else every core);
            see :func:`separator.devices.use_threads`.
        low_band_refiner: the refiner of named mode's lowest bins trained on this model's masks (:mod:`separator.lowband`);
            default: the one :func:`~separator.model.load_checkpoint` found beside the model file, if any.
        **overrides: single settings, e.g. ``pan=0`` (names of :class:`SplitSettings`).
    """

    def __init__(
        self,
        model: Network,
        device: str | torch.device = "auto",
        settings: SplitSettings | None = None,
        threads: int | None = None,
        low_band_refiner: LowBandRefiner | None = None,
        **overrides: Any,
    ) -> None:
        base = settings or getattr(model, "split_settings", None) or SplitSettings()
        self.settings: SplitSettings = base.replace(**overrides) if overrides else base
        self.device = resolve_device(device)
        self._cpu = use_threads(threads) if self.device.type == "cpu" else None
        self.model = model.to(self.device).eval()
        refiner = low_band_refiner if low_band_refiner is not None else getattr(model, "low_band_refiner", None)
        self.low_band_refiner = None if refiner is None else refiner.to(self.device).eval()
        self._dtype = network_dtype(self.settings.precision, self.device)

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        device: str | torch.device = "auto",
        settings: SplitSettings | None = None,
        threads: int | None = None,
        **overrides: Any,
    ) -> Separator:
        """Load a checkpoint (default: the model shipped in ``separator/pretrained``) with its stored settings,
        and the low-band refiner beside it when there is one (``X.pt`` → ``X.lowband.pt``, :mod:`separator.lowband`).

        Raises:
            ModelLoadError: the checkpoint or its refiner is missing or corrupt.
            SeparationError: an unknown setting or a value out of range.
        """
        dev = resolve_device(device)
        model, _ = load_checkpoint(path or DEFAULT_MODEL, dev)
        return cls(model, dev, settings, threads, **overrides)

    @property
    def classes(self) -> tuple[str, ...]:
        """The stem names the model knows, e.g. ``("drums", "bass", "guitar", "vocals", "other")``."""
        return self.model.classes

    # -- arguments -------------------------------------------------------------------------

    def stem_names(self, stems: list[str] | tuple[str, ...] | str | None = None, clusters: int | None = None) -> list[str]:
        """The names of the stems a call will return, in order.

        Raises:
            SeparationError: both modes asked for, an unknown stem, or a bad cluster count.
        """
        if clusters is not None:
            if stems is not None:
                raise SeparationError("ask for named stems or for a number of clusters, not both")
            if isinstance(clusters, bool) or not isinstance(clusters, int) or not 1 <= clusters <= MAX_CLUSTERS:
                raise SeparationError(f"clusters must be an integer between 1 and {MAX_CLUSTERS}, got {clusters!r}")
            return [f"source{i + 1}" for i in range(clusters)]
        wanted = _parse_stems(stems, self.classes)
        rest = [c for c in self.classes if c not in wanted]
        return wanted + (["other"] if rest and "other" not in wanted else [])

    # -- separation ----------------------------------------------------------------------

    def separate(
        self,
        audio: np.ndarray,
        sample_rate: int,
        stems: list[str] | tuple[str, ...] | str | None = None,
        clusters: int | None = None,
        progress: ProgressFn | None = None,
    ) -> dict[str, np.ndarray]:
        """Split ``audio``.

        Args:
            audio: ``(channels, samples)`` (or ``(samples,)``) float, any sample rate.
            sample_rate: in Hz.
            stems: named mode; names (list or comma-separated) from :attr:`classes`;
                ``None`` means all. Unrequested classes are summed into ``"other"``.
            clusters: blind mode; the number of sources K, written ``source1 … sourceK``.
            progress: called with the fraction done.

        Returns:
            ``{name: (channels, samples) float32}``; the stems add up to ``audio``.
        Raises:
            SeparationError: bad arguments or audio (NaN, empty, bad shape).
        """
        x = _as_audio(audio, sample_rate)
        plan = self._plan(self.stem_names(stems, clusters), clusters, sample_rate, x.shape[-1])
        out = np.empty((len(plan.names), *x.shape), np.float32)
        position = 0
        for piece in self.stream(lambda: iter([x]), plan, progress):
            out[..., position : position + piece.shape[-1]] = piece
            position += piece.shape[-1]
        return dict(zip(plan.names, out, strict=True))

    def separate_file(
        self,
        path: str | Path,
        out_dir: str | Path,
        stems: list[str] | tuple[str, ...] | str | None = None,
        clusters: int | None = None,
        ext: str = "wav",
        bit_depth: str = "32f",
        progress: ProgressFn | None = None,
        start: float = 0.0,
        length: float | None = None,
        *,
        targets: Sequence[str | Path] | None = None,
        info: audio_io.AudioInfo | None = None,
    ) -> list[Path]:
        """Split a file, or the range ``start`` … ``start + length`` of it, into ``out_dir/<stem>.<ext>``,
        streaming: memory does not grow with length.

        Only the range is read and separated (a region of a long file costs the region's time), and the
        loudness the network hears (``reference_db``) is measured on the range. Every stem holds exactly
        ``round(length * sample_rate)`` samples (to the end of the file when ``length`` is ``None``), and is
        written under a temporary name and renamed only when all are done (:mod:`stembase.stem_outputs`).
        The file is decoded once per pass (:meth:`stream`) and its header read once.

        Args:
            start: seconds from the beginning of the file.
            length: seconds; ``None`` splits to the end.
            targets: the files to write, one per stem in :meth:`stem_names` order (default:
                ``out_dir/<stem>.<ext>``), e.g. as a batch planned them.
            info: the file's :func:`stembase.audio.info`, when the caller has read the header already.
        Raises:
            AudioLoadError: the input is missing or not usable audio.
            AudioWriteError: an output cannot be written.
            SeparationError: bad arguments, or a range outside the file (the message gives its duration).
        """
        meta = info or audio_io.info(path)
        first, n = audio_io.frame_range(meta, start, length)
        names = self.stem_names(stems, clusters)
        files = stem_paths(out_dir, names, ext) if targets is None else [Path(t) for t in targets]
        if len(files) != len(names):
            raise SeparationError(f"{path}: {len(files)} target files for {len(names)} stems ({', '.join(names)})")
        check_stem_files(path, files, bit_depth)  # a bad format, the input as an output: before any work
        plan = self._plan(names, clusters, meta.sample_rate, n)
        reader = lambda: audio_io.blocks(path, plan.block, plan.overlap, start=first, frames=n, meta=meta)  # noqa: E731
        with stem_writers(files, meta.sample_rate, meta.channels, bit_depth) as writers:
            for piece in self.stream(reader, plan, progress):
                writers.write(piece)
        return files

    def stream(self, reader: Reader, plan: _Plan, progress: ProgressFn | None = None) -> Iterator[np.ndarray]:
        """Separated pieces ``(n_stems, channels, n)`` of the audio ``reader()`` yields, in order, crossfaded.

        ``reader`` returns an iterator over either the whole signal (one array) or blocks already cut by
        :func:`stembase.audio.blocks` with the plan's block and overlap; it is called once per pass.
        """
        passes = 2 if self._needs_first_pass(plan) else 1
        first = self._prepare(reader, plan, progress)
        workers = self._workers(plan)
        done = [0]

        def separated() -> Iterator[np.ndarray]:
            stems_of = functools.partial(self._stems_of, plan)
            for n, stems in map_in_order(stems_of, self._inputs(reader, plan, first), workers):
                yield stems
                done[0] += min(plan.block, n)
                if progress:
                    progress(min(1.0, ((passes - 1) + done[0] / max(plan.n_samples, 1)) / passes))

        with one_thread_each() if workers > 1 else contextlib.nullcontext():
            yield from crossfade(separated(), plan.overlap)

    # -- masks, for pictures ---------------------------------------------------------------

    def masks(
        self,
        audio: np.ndarray,
        sample_rate: int,
        stems: list[str] | tuple[str, ...] | str | None = None,
        clusters: int | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """The band masks :meth:`separate` starts from, for pictures of a split.

        Returns:
            ``(names, masks (n_stems, n_frames, N_BANDS) float32)``: frames every STFT hop
            (:func:`separator.features.stft_size`), mel bands of :mod:`separator.features`;
            the masks sum to 1 over stems.
        Raises:
            SeparationError: as :meth:`separate`.
        """
        x = _as_audio(audio, sample_rate)
        plan = self._plan(self.stem_names(stems, clusters), clusters, sample_rate, x.shape[-1])
        pieces = [m for _, m, _ in self.stream_masks(lambda: iter([x]), plan)]
        return plan.names, np.concatenate(pieces, axis=1)

    def file_masks(
        self,
        path: str | Path,
        names: list[str],
        clusters: int | None = None,
        start: int = 0,
        frames: int | None = None,
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """:meth:`stream_masks` of a file, or of ``frames`` samples from sample ``start``, streamed from disk.

        Raises:
            AudioLoadError: the file cannot be read.
        """
        yield from self.stream_masks(*self._file_plan(path, names, clusters, start, frames))

    def file_stems(
        self,
        path: str | Path,
        names: list[str],
        clusters: int | None = None,
        start: int = 0,
        frames: int | None = None,
    ) -> Iterator[np.ndarray]:
        """The stems :meth:`separate_file` writes, as pieces ``(n_stems, channels, n)`` in order, not written
        (for pictures, so they show what the files hold); ``frames`` samples from sample ``start``.

        Raises:
            AudioLoadError: the file cannot be read.
        """
        yield from self.stream(*self._file_plan(path, names, clusters, start, frames))

    def stream_masks(self, reader: Reader, plan: _Plan) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Band masks of the audio ``reader()`` yields (as :meth:`stream`), segment by segment, bounded memory.

        Yields:
            ``(first sample, masks (n_stems, t, N_BANDS), mixture band power (t, N_BANDS) in dB)``
            for the frames each segment owns (the overlap goes to the next segment); frame ``j``
            is centred on sample ``first + j * hop``.
        """
        first = self._prepare(reader, plan, None)
        hop = stft_size(plan.sample_rate)[1]
        owned = -(-plan.block // hop)  # frames centred before the next segment starts
        assert plan.routing is not None
        for i, spec, band_masks in self._pieces(reader, plan, first):
            feats = log_power(band_power(spec).mean(0))  # the mixture's band power in dB (t, bands)
            masks = collect(band_masks, plan.routing.collect)
            last = i * plan.block + plan.block + plan.overlap >= plan.n_samples
            keep = feats.shape[0] if last else min(owned, feats.shape[0])
            yield i * plan.block, masks[:, :keep].float().cpu().numpy(), feats[:keep].float().cpu().numpy()

    # -- the plan and its passes -----------------------------------------------------------

    def _file_plan(self, path: str | Path, names: list[str], clusters: int | None, start: int, frames: int | None) -> tuple[Reader, _Plan]:
        """``(reader, plan)`` of ``frames`` samples (default: to the end) from sample ``start`` of a file."""
        meta = audio_io.info(path)
        n = max(0, meta.frames - start) if frames is None else min(frames, max(0, meta.frames - start))
        plan = self._plan(names, clusters, meta.sample_rate, n)
        return lambda: audio_io.blocks(path, plan.block, plan.overlap, start=start, frames=n, meta=meta), plan

    def _plan(self, names: list[str], clusters: int | None, sample_rate: int, n_samples: int) -> _Plan:
        overlap = int(self.settings.overlap_seconds * sample_rate)
        block = max(1, int(self.settings.segment_seconds * sample_rate) - overlap)
        return _Plan(names, clusters, sample_rate, n_samples, block, overlap)

    def _two_pass(self, clusters: int | None) -> bool:
        """Whether a split first fits k-means on the whole track (blind mode, and named mode from clusters)."""
        return bool(clusters) or self.settings.naming == "clusters"

    def _needs_first_pass(self, plan: _Plan) -> bool:
        """Whether the track is read before its stems: to fit clusters, or to measure its level."""
        return self._two_pass(plan.clusters) or self.settings.reference_db is not None

    def _prepare(self, reader: Reader, plan: _Plan, progress: ProgressFn | None) -> _FirstPass:
        """Decide the plan's level and routing, reading the track once when they need it (pass 1), and
        which units are heard a second time (:meth:`_resplit_plan`).

        Returns the network outputs kept for pass 2."""
        first = _FirstPass(FIRST_PASS_BYTES)
        plan.routing = self._routing(reader, plan, first, progress)
        plan.resplit = self._resplit_plan(plan.routing) if plan.clusters is None else ()  # named mode (blind: not kept)
        return first

    def _routing(self, reader: Reader, plan: _Plan, first: _FirstPass, progress: ProgressFn | None) -> Routing:
        """The plan's routing, after its level (pass 1, when the plan needs one)."""
        if not self._needs_first_pass(plan):
            return self._head_only(plan.names)
        kept, mean_power, band_peak = self._read_features(reader, plan)
        plan.offset_db = self._level_offset(mean_power)
        plan.last_live_band = None if band_peak is None else last_live_band(band_peak)
        if not self._two_pass(plan.clusters):
            return self._head_only(plan.names)
        outputs = self._first_outputs(reader, plan, kept, first, progress)
        return self._fit(outputs, plan) or self._head_only(plan.names)

    def _resplit_plan(self, routing: Routing) -> tuple[_Hearing, ...]:
        """The second hearings of :mod:`separator.resplit` that are on and have somewhere to move to, in
        order; each hears the unit its class joins."""
        plan = []
        for hearing in HEARINGS:
            weight = float(getattr(self.settings, hearing.setting))
            if weight <= 0 or hearing.source not in self.classes:
                continue
            source = int(routing.groups[self.classes.index(hearing.source)].argmax())
            into = moves(self.classes, routing.groups, hearing.moved)
            into[:, source] = 0  # a class that joins the unit heard again stays in it
            if bool(into.any()):
                plan.append(_Hearing(source, into, weight))
        return tuple(plan)

    def _read_features(
        self, reader: Reader, plan: _Plan
    ) -> tuple[list[tuple[torch.Tensor, torch.Tensor | None]] | None, float, torch.Tensor | None]:
        """Pass 1's read: every segment's ``(dB features, stereo cues)`` (``None`` past :data:`FEATURE_BYTES`),
        the track's mean power and each band's loudest frame in dB ``(n_bands,)`` (``None`` when the
        split needs no features before pass 2), from one decoding; the features are computed by worker
        threads."""
        kept: list[tuple[torch.Tensor, torch.Tensor | None]] | None = []
        band_peak: torch.Tensor | None = None
        total, count, used = 0.0, 0, 0
        want = self._two_pass(plan.clusters)

        def measured(item: tuple[int, np.ndarray]) -> tuple[float, int, tuple[torch.Tensor, torch.Tensor | None] | None]:
            i, seg = item
            own = seg[:, plan.overlap :] if i else seg  # each sample counted once
            energy = float(np.einsum("ij,ij->", own, own, dtype=np.float64))
            return energy, own.size, self._features(seg, plan) if want else None

        workers = self._workers(plan) if want else 1
        with one_thread_each() if workers > 1 else contextlib.nullcontext():
            for energy, size, feats in map_in_order(measured, enumerate(self._segments(reader, plan)), workers):
                total, count = total + energy, count + size
                if feats is None:
                    continue
                peak = feats[0].amax(0)  # (n_bands,) dB: this segment's loudest frame per band
                band_peak = peak if band_peak is None else torch.maximum(band_peak, peak)
                if kept is not None:
                    used += sum(t.numel() * t.element_size() for t in feats if t is not None)
                    if used <= FEATURE_BYTES:
                        kept.append(feats)
                    else:
                        kept = None  # too long to keep: pass 1 reads the track a second time
        return kept, total / max(count, 1), band_peak

    def _first_outputs(
        self,
        reader: Reader,
        plan: _Plan,
        kept: list[tuple[torch.Tensor, torch.Tensor | None]] | None,
        first: _FirstPass,
        progress: ProgressFn | None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``(dB features, embeddings, class masks)`` of every segment, at the plan's level, from worker
        threads; the outputs go to ``first`` for pass 2. From the kept features, else (a very long track)
        from a second reading."""
        sources: Iterator[Any] = _drain(kept) if kept is not None else self._segments(reader, plan)

        def outputs(item: tuple[torch.Tensor, torch.Tensor | None] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            feats, cues = self._features(item, plan) if isinstance(item, np.ndarray) else item
            embeddings, class_masks = self._run_network(feats, cues, plan)
            assert embeddings is not None  # asked for (embed=True)
            return feats, embeddings, class_masks

        workers = self._workers(plan)
        with one_thread_each() if workers > 1 else contextlib.nullcontext():
            for i, (feats, embeddings, class_masks) in enumerate(map_in_order(outputs, sources, workers)):
                first.put(i, embeddings, class_masks)
                yield feats, embeddings, class_masks
                if progress:
                    progress(min(0.5, 0.5 * (i + 1) * plan.block / max(plan.n_samples, 1)))

    @torch.no_grad()
    def _features(self, seg: np.ndarray, plan: _Plan) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = torch.from_numpy(np.ascontiguousarray(seg, dtype=np.float32)).to(self.device)
        _, feats, cues = features(x, plan.sample_rate, stereo=self.model.stereo)
        return feats, cues

    @torch.no_grad()
    def _run_network(
        self, feats: torch.Tensor, cues: torch.Tensor | None, plan: _Plan, embed: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """``(embeddings (t, bands, D), class masks (t, bands, C))`` of one segment's features, heard at the
        plan's level and, for a band-limited track, with its dead top bands filled (:mod:`separator.bandwidth`).
        ``embed=False``: the mask head alone, embeddings ``None`` (a routing without clusters).

        One segment at a time: batching segments is faster on some CPUs and several times slower on
        others (oneDNN's LSTM on an Intel Xeon with AMX: 0.21 s per 20-s segment alone, 0.55 s in twos)."""
        if plan.last_live_band is not None and self.settings.band_fill > 0:
            feats, cues = extend_bands(feats, cues, plan.last_live_band, self.settings.band_fill)
        inputs = (_shift(feats, plan.offset_db), None if cues is None else cues.unsqueeze(0))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._dtype == torch.bfloat16):
            if not embed:
                return None, self.model.class_masks(*inputs)[0].float()
            embeddings, masks = self.model(*inputs)
        return embeddings[0].float(), masks[0].float()

    def _inputs(self, reader: Reader, plan: _Plan, first: _FirstPass) -> Iterator[tuple[int, torch.Tensor, _Outputs | None]]:
        """Pass 2's reading: ``(index, segment (channels, n), pass 1's network outputs or None)`` in order."""
        for i, seg in enumerate(self._segments(reader, plan)):
            yield i, torch.from_numpy(np.ascontiguousarray(seg, dtype=np.float32)).to(self.device), first.take(i)

    @torch.no_grad()
    def _piece(self, plan: _Plan, item: tuple[int, torch.Tensor, _Outputs | None]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(spec (channels, bins, t), unit band masks (n_units, t, bands))`` of one segment of pass 2."""
        assert plan.routing is not None
        _, x, known = item
        if known is None:
            spec, feats, cues = features(x, plan.sample_rate, stereo=self.model.stereo)
            embeddings, class_masks = self._run_network(feats, cues, plan, embed=plan.routing.centroids is not None)
        else:
            spec = stft(x, plan.sample_rate)
            embeddings, class_masks = known
        return spec, unit_masks(embeddings, class_masks, plan.routing, self.settings)

    @torch.no_grad()
    def _stems_of(self, plan: _Plan, item: tuple[int, torch.Tensor, _Outputs | None]) -> tuple[int, np.ndarray]:
        """``(samples, stems (n_stems, channels, samples))`` of one segment; runs in a worker thread."""
        assert plan.routing is not None
        x = item[1]
        spec, band_masks = self._piece(plan, item)
        power = bin_power(spec)  # (channels, bins, t), for the per-bin steps and the choice of the loudest stem
        # named mode (the units are the classes) of a full-band track (:mod:`separator.lowband`)
        named = plan.clusters is None
        low_band = self.low_band_refiner if named and plan.last_live_band is None else None
        masks = bin_masks(band_masks, spec, plan.routing, self.settings, power, low_band, blind=not named)  # (n_units, bins, t)
        for hearing in plan.resplit:
            masks = self._resplit(plan, hearing, spec, power, masks, low_band, x.shape[-1])
        stems = apply_masks(collect(masks, plan.routing.collect), spec, x, plan.sample_rate, power)
        return x.shape[-1], stems.cpu().numpy()

    def _resplit(
        self,
        plan: _Plan,
        hearing: _Hearing,
        spec: torch.Tensor,
        power: torch.Tensor,
        masks: torch.Tensor,
        low_band: LowBandRefiner | None,
        length: int,
    ) -> torch.Tensor:
        """:mod:`separator.resplit`: one ``hearing`` of :meth:`_resplit_plan` of a named segment (``length``
        samples): its unit heard alone; the class masks ``masks (n_classes, bins, t)`` updated.

        The unit is heard as a track of its own: the STFT of its samples (its masked spectrum scored 0.15 dB
        lower), at the reference level, through the mask head's class masks and the same per-bin steps as the mix."""
        source, into, weight = hearing
        total = sum_first(power)  # (bins, t)
        share = float((masks[source] * total).sum() / total.sum().clamp(min=1e-30))
        if share <= 1e-6:
            return masks
        # heard as a track: the STFT of the stem's samples, not its masked spectrum
        audio = masked_signals(masks, spec, plan.sample_rate, length, [source])[0]  # (channels, length)
        offset_db = self._level_offset(float(audio.square().mean()))
        audio = audio * 10 ** (offset_db / 20)  # at the reference level before the features' floor: any input level alike
        stem, feats, cues = features(audio, plan.sample_rate, stereo=self.model.stereo)
        heard = replace(plan, offset_db=0.0)
        embeddings, class_masks = self._run_network(feats, cues, heard, embed=False)
        routing = self._head_only(list(self.classes))
        band_masks = unit_masks(embeddings, class_masks, routing, self.settings)
        second = bin_masks(band_masks, stem, routing, self.settings, None, low_band)
        return move_shares(masks, second, source, into, weight)

    def _pieces(self, reader: Reader, plan: _Plan, first: _FirstPass) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Pass 2 one segment at a time: ``(index, spec (channels, bins, t), unit band masks (n_units, t, bands))``."""
        for item in self._inputs(reader, plan, first):
            self._adapt_threads()
            yield (item[0], *self._piece(plan, item))

    def _workers(self, plan: _Plan) -> int:
        """Segments worked on at once: one per core, at most one per segment (a single segment keeps torch's
        threads for its own tensor work), one on a GPU.

        Each worker runs its segment on one torch thread and never waits for another, so a core that another
        program takes costs the workers their fair share of it; torch's own threads, which wait for each
        other at every parallel step, are fitted to the cores left free (:class:`~separator.devices.CpuShare`)
        for the work outside the workers. With one of two cores kept busy, a 3-minute split took 1.34× its
        quiet time with two workers and 1.51× with one (BENCHMARKS.md).
        """
        if self.device.type != "cpu":
            return 1
        self._adapt_threads()
        cores = torch.get_num_threads() if self._cpu is None else self._cpu.cores  # a thread count asked for: that many
        return max(1, min(cores, plan.n_segments))

    def _adapt_threads(self) -> None:
        """Before each segment: threads for the cores other programs leave free (unless a count was asked for)."""
        if self._cpu is not None:
            self._cpu.adapt()

    @staticmethod
    def _segments(reader: Reader, plan: _Plan) -> Iterator[np.ndarray]:
        for part in reader():
            if part.shape[-1] > plan.block + plan.overlap:  # a whole signal: cut it here
                yield from segments(part, plan.block, plan.overlap)
            else:
                yield part

    def _level_offset(self, mean_power: float) -> float:
        """dB to add to the features so the track sits at ``reference_db`` (0 for silence or when unset)."""
        if self.settings.reference_db is None or mean_power <= 1e-12:
            return 0.0
        return self.settings.reference_db - 10 * float(np.log10(mean_power))

    def _class_groups(self, names: list[str]) -> torch.Tensor:
        """``(n_classes, n_stems)`` 0/1: which output stem each class goes to (unrequested classes → ``other``)."""
        groups = torch.zeros(len(self.classes), len(names), device=self.device)
        for i, c in enumerate(self.classes):
            if c in names:
                groups[i, names.index(c)] = 1
            elif "other" in names:
                groups[i, names.index("other")] = 1
        return groups

    def _head_only(self, names: list[str]) -> Routing:
        """The routing of a one-pass split: the mask head's class masks, summed into ``names``."""
        eye = torch.eye(len(self.classes), device=self.device)
        drums = self.classes.index("drums") if "drums" in self.classes else None
        return Routing(None, None, eye, 0.0, drums, self._class_groups(names))

    @torch.no_grad()
    def _fit(self, outputs: Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], plan: _Plan) -> Routing | None:
        """k-means on the loud bins of the whole track, and which stem each cluster feeds.

        Blind mode fits ``clusters`` clusters and orders them by class; named mode fits one
        cluster per stem present and names them (``None`` when only one stem is present:
        the mask head's masks are used as they are).
        """
        s, names, clusters = self.settings, plan.names, plan.clusters
        points, posteriors, db = self._sample(outputs, plan.offset_db)
        power = 10 ** ((db - db.max()) / 10)
        if clusters:
            k = clusters
        else:  # one cluster per class present, so a subset of stems is the same as in a full split
            shares = (power @ posteriors) / power.sum().clamp(min=1e-30)
            present = present_names(shares.double().cpu().numpy(), s.presence)
            if len(names) < len(self.classes):  # stems asked for by name are taken to be there
                asked = [i for i, c in enumerate(self.classes) if c in names and c != "other"]
                present = sorted(set(present) | set(asked))
            if len(present) < 2:
                return None
            k = len(present) + s.extra_clusters
        loud = db > db.max() - 40.0  # the silent-bin rule of training: 40 dB under the peak
        if int(loud.sum()) >= k:
            points, posteriors, power = points[loud], posteriors[loud], power[loud]
        if len(points) > s.fit_points:
            keep = torch.from_numpy(np.random.default_rng(s.seed).permutation(len(points))[: s.fit_points]).to(self.device)
            points, posteriors, power = points[keep], posteriors[keep], power[keep]
        fit = kmeans(points, k, seed=s.seed)
        onehot = torch.nn.functional.one_hot(fit.labels, k).to(points.dtype)
        profiles = cluster_profiles(onehot, posteriors, power)
        if clusters:
            ranked = stable_order(profiles)
            order = np.zeros((k, k), np.float32)
            order[ranked, np.arange(k)] = 1
            groups = torch.from_numpy(blind_groups(profiles, ranked)).to(self.device)
            matched = class_matching(profiles)
            d = self.classes.index("drums") if "drums" in self.classes else -1
            drums = ranked.index(matched[d]) if d in matched else None  # the drums-matched source
            eye = torch.eye(k, device=self.device)
            return Routing(fit.centroids, torch.from_numpy(order).to(self.device), groups, s.blind_blend, drums, eye)
        route = torch.from_numpy(name_clusters(profiles, present)).to(self.device)
        return replace(self._head_only(names), centroids=fit.centroids, route=route, blend=s.blend)

    def _sample(
        self, outputs: Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], offset_db: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A bounded random sample of the track's bins: ``(points (n, D'), class posteriors (n, C), dB (n,))``.

        Every segment contributes ``fit_points`` bins; the sample is thinned as it grows,
        so memory stays bounded for any length.
        """
        s = self.settings
        rng = np.random.default_rng(s.seed)
        kept: list[torch.Tensor] = []
        for feats, embeddings, class_masks in outputs:
            pick = torch.from_numpy(rng.permutation(feats.numel())[: s.fit_points]).to(self.device)
            flat_masks = class_masks.reshape(-1, class_masks.shape[-1])[pick]
            points = cluster_features(embeddings, class_masks, s.class_weight)[pick]
            kept.append(torch.cat([points, flat_masks, _shift(feats, offset_db).reshape(-1, 1)[pick]], 1))
            if sum(len(k) for k in kept) > 4 * s.fit_points:
                every = torch.cat(kept)
                kept = [every[torch.from_numpy(rng.permutation(len(every))[: 2 * s.fit_points]).to(self.device)]]
        if not kept:
            raise SeparationError("no audio to cluster")
        every = torch.cat(kept)
        n_classes = len(self.classes)
        return every[:, : -n_classes - 1], every[:, -n_classes - 1 : -1], every[:, -1]


def _drain(items: list[Any]) -> Iterator[Any]:
    """The items of ``items`` in order, each let go as it is taken (the list empties as it goes)."""
    items.reverse()
    while items:
        yield items.pop()


def _shift(feats: torch.Tensor, offset_db: float) -> torch.Tensor:
    """``(n_frames, bands)`` dB features moved by ``offset_db`` (silent bands stay at the floor) → ``(1, n_frames, bands)``."""
    if offset_db:
        feats = torch.where(feats > FLOOR_DB, (feats + offset_db).clamp(min=FLOOR_DB), feats)
    return feats.unsqueeze(0)


def _parse_stems(stems: list[str] | tuple[str, ...] | str | None, classes: tuple[str, ...]) -> list[str]:
    if stems is None:
        return list(classes)
    names = [s.strip().lower() for s in (stems.split(",") if isinstance(stems, str) else stems) if s.strip()]
    if not names:
        raise SeparationError(f"no stem names given; valid options: {', '.join(classes)}")
    unknown = [n for n in names if n not in classes]
    if unknown:
        raise SeparationError(f"unknown stem {unknown[0]!r}; valid options: {', '.join(classes)}")
    return list(dict.fromkeys(names))


def _as_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Validate and convert to ``(channels, samples)`` float32."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise SeparationError(f"audio must be shaped (channels, samples), got {x.ndim} dimensions {x.shape}")
    if x.shape[0] > x.shape[1] and x.shape[0] > 64:
        raise SeparationError(f"audio looks transposed: {x.shape[0]} channels and {x.shape[1]} samples; pass (channels, samples)")
    if x.shape[1] == 0:
        raise SeparationError("audio contains no samples")
    if not np.isfinite(x).all():
        raise SeparationError("audio contains NaN or infinite samples")
    if not isinstance(sample_rate, (int, np.integer)) or not 1000 <= sample_rate <= 768000:
        raise SeparationError(f"sample_rate must be an integer number of Hz between 1000 and 768000, got {sample_rate!r}")
    return x
