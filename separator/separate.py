"""The Separator: load a model once, then split audio into named stems or K sources.

Data flow per segment: STFT per channel → band features of the channels'
mean power → BLSTM → (embeddings, class masks) → band masks → bin masks →
masked STFT per channel → iSTFT. Segments overlap and are crossfaded
(:mod:`separator.chunking`), so memory is bounded whatever the length.

Blind mode clusters the embeddings of the whole track (a first pass collects
a sample of the loud bins' embeddings, k-means fits the centroids once), so
"source 2" means the same thing in every segment; the sources are ordered by the
class they resemble most (:mod:`separator.naming`), so ``source1`` is the same
kind of sound from file to file. Named mode (``naming="clusters"``, the default)
does the same with K = the number of stems present (from the mask head's energy
shares) and names each cluster by its class posteriors; absent stems are silent.
``naming="masks"`` takes the mask head's soft masks as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from separator import audio as audio_io
from separator.chunking import crossfade, segments
from separator.devices import resolve_device
from separator.errors import SeparationError
from separator.features import FLOOR_DB, bands_to_bins, features, istft, stft_size
from separator.kmeans import kmeans, soft_assign
from separator.model import Network, load_checkpoint
from separator.naming import blind_groups, class_matching, cluster_profiles, name_clusters, present_names, stable_order
from separator.panning import favour_pan
from separator.percussive import favour_percussive, percussive_share
from separator.stem_files import check_stem_files, stem_paths, stem_writers

DEFAULT_MODEL = Path(__file__).parent / "pretrained" / "default.pt"
MAX_CLUSTERS = 16
ProgressFn = Callable[[float], None]  # called with the fraction done, 0..1; may raise to cancel
NAMINGS = ("clusters", "masks")
FIRST_PASS_BYTES = 512 * 2**20  # network outputs kept between the two passes of a split


@dataclass
class _Routing:
    """How a track's masks are made: per *unit* (a class in named mode, a source in blind mode),
    then summed into the output stems.

    ``centroids (k, D')``: fitted clusters (``None``: the mask head's masks alone); ``route
    (k, n_units)`` 0/1, cluster → unit; ``groups (n_classes, n_units)`` 0/1, class → unit for the
    mask head's masks, mixed in with weight ``1 - blend``; ``drums``: the unit that is the drums,
    if any; ``collect (n_units, n_stems)`` 0/1, unit → output stem. Named mode works on classes so
    that a stem of a subset split (``stems="vocals"``) equals that stem of a full split.
    """

    centroids: torch.Tensor | None
    route: torch.Tensor | None
    groups: torch.Tensor
    blend: float
    drums: int | None
    collect: torch.Tensor


class _FirstPass:
    """The first pass's network outputs per segment, kept for the second pass up to ``limit`` bytes.

    A two-pass split (clusters fitted on the whole track, then applied) would otherwise run
    the network twice over every segment. Embeddings are kept in float16 (they only feed
    distances to the centroids); segments past the limit are computed again, so memory stays
    bounded for any length.
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
        segment_seconds: length of the segments the network sees at once.
        overlap_seconds: crossfade between neighbouring segments.
        hardness: soft k-means hardness β for blind masks (``inf``: binary masks).
        fit_points: at most this many loud bins' embeddings are clustered.
        seed: k-means seed.
        reference_db: when set, the network hears every track at this RMS level (dBFS),
            the typical level of its training mixtures, so loud and quiet songs split alike.
            Masks are applied to the untouched input, so output levels are the input's.
        class_weight: blind mode clusters each bin's embedding concatenated with this
            weight times the mask head's class posteriors (0: embeddings alone, as in the paper).
        mask_power: named-mode masks are raised to this power and renormalised (1: as the
            network gives them; larger values sharpen them towards binary masks).
        naming: named mode from ``"clusters"`` (k-means on the embeddings, clusters named by
            the mask head) or ``"masks"`` (the mask head's masks as they are).
        presence: named mode with ``naming="clusters"``: a stem is present when the mask head
            gives it at least this share (0..1) of the track's energy; absent stems are silent.
        blend: named mode with ``naming="clusters"``: weight of the cluster masks against the
            mask head's (1: cluster masks only).
        extra_clusters: named mode with ``naming="clusters"``: fit this many clusters more than
            there are stems present; each extra one feeds its most likely stem, so one stem's
            cluster need not also hold the parts that no other cluster took.
        blind_blend: blind mode: weight of the cluster masks against the mask head's, each
            class's mask joining the source whose cluster holds that class
            (:func:`~separator.naming.blind_groups`; 1: cluster masks only, as in the paper).
        percussive: weight of the per-bin percussive evidence on the stem that holds the drums
            (:mod:`separator.percussive`; 0: band masks only).
        pan: weight of the per-bin pan evidence: each bin leans to the stems that sit where it
            sits in the stereo field (:mod:`separator.panning`; 0: off; mono input is never changed).
    """

    def __init__(
        self,
        model: Network,
        device: str | torch.device = "auto",
        segment_seconds: float = 20.0,
        overlap_seconds: float = 1.0,
        hardness: float = float("inf"),
        fit_points: int = 20000,
        seed: int = 0,
        reference_db: float | None = None,
        class_weight: float = 0.0,
        mask_power: float = 1.0,
        naming: str = "clusters",
        presence: float = 0.01,
        blend: float = 0.5,
        extra_clusters: int = 1,
        blind_blend: float = 0.5,
        percussive: float = 0.5,
        pan: float = 2.0,
    ) -> None:
        if naming not in NAMINGS:
            raise SeparationError(f"naming must be one of {', '.join(NAMINGS)}, got {naming!r}")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.segment_seconds, self.overlap_seconds = segment_seconds, overlap_seconds
        self.hardness, self.fit_points, self.seed = hardness, fit_points, seed
        self.reference_db, self.class_weight, self.mask_power = reference_db, class_weight, mask_power
        self.naming, self.presence, self.blend, self.blind_blend = naming, presence, blend, blind_blend
        self.percussive, self.pan = percussive, pan
        if isinstance(extra_clusters, bool) or not isinstance(extra_clusters, int) or extra_clusters < 0:
            raise SeparationError(f"extra_clusters must be a whole number ≥ 0, got {extra_clusters!r}")
        self.extra_clusters = extra_clusters

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | torch.device = "auto", **kwargs: Any) -> Separator:
        """Load a checkpoint (default: the model shipped in ``separator/pretrained``).

        Raises:
            ModelLoadError: the checkpoint is missing or corrupt.
        """
        dev = resolve_device(device)
        model, extra = load_checkpoint(path or DEFAULT_MODEL, dev)
        return cls(model, dev, **{**extra.get("inference", {}), **kwargs})

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
        names = self.stem_names(stems, clusters)
        out = np.zeros((len(names), *x.shape), np.float32)
        position = 0
        offset = self._level_offset(float(np.mean(x.astype(np.float64) ** 2)))
        for piece in self.stream(lambda: iter([x]), x.shape[-1], sample_rate, names, clusters, progress, offset):
            out[..., position : position + piece.shape[-1]] = piece
            position += piece.shape[-1]
        return dict(zip(names, out, strict=True))

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
    ) -> list[Path]:
        """Split a file, or the range ``start`` … ``start + length`` of it, into ``out_dir/<stem>.<ext>``,
        streaming: memory does not grow with length.

        Only the range is read and separated (a region of a long file costs the region's time), and the
        loudness the network hears (``reference_db``) is measured on the range. Every stem holds exactly
        ``round(length * sample_rate)`` samples (to the end of the file when ``length`` is ``None``), and is
        written under a temporary name and renamed only when all are done (:mod:`separator.stem_files`).

        Args:
            start: seconds from the beginning of the file.
            length: seconds; ``None`` splits to the end.
        Raises:
            AudioLoadError: the input is missing or not usable audio.
            AudioWriteError: an output cannot be written.
            SeparationError: bad arguments, or a range outside the file (the message gives its duration).
        """
        meta = audio_io.info(path)
        first, n = audio_io.frame_range(meta, start, length)
        names = self.stem_names(stems, clusters)
        targets = stem_paths(out_dir, names, ext)
        check_stem_files(path, targets, bit_depth)  # a bad format, the input as an output: before any work
        block, overlap = self._block_sizes(meta.sample_rate)
        reader = lambda: audio_io.blocks(path, block, overlap, start=first, frames=n)  # noqa: E731
        offset = self._level_offset(_mean_power(reader(), overlap)) if self.reference_db is not None else 0.0
        with stem_writers(targets, meta.sample_rate, meta.channels, bit_depth) as files:
            for piece in self.stream(reader, n, meta.sample_rate, names, clusters, progress, offset):
                files.write(piece)
        return targets

    def stream(
        self,
        reader: Callable[[], Iterator[np.ndarray]],
        n_samples: int,
        sample_rate: int,
        names: list[str],
        clusters: int | None,
        progress: ProgressFn | None = None,
        offset_db: float = 0.0,
    ) -> Iterator[np.ndarray]:
        """Separated pieces ``(n_stems, channels, n)`` of the audio ``reader()`` yields, in order.

        ``reader`` returns an iterator over either the whole signal (one array) or
        blocks already cut by :func:`separator.audio.blocks`; it is called twice in
        blind mode (fit, then assign). ``offset_db`` is added to the network's input features.
        """
        block, overlap = self._block_sizes(sample_rate)
        passes = 2 if self._two_pass(clusters) else 1
        first = _FirstPass(FIRST_PASS_BYTES)
        routing = self._routing(reader, names, clusters, sample_rate, n_samples, progress, offset_db, first)
        done = [0]

        def separated() -> Iterator[np.ndarray]:
            for i, seg in enumerate(self._segments(reader, block, overlap)):
                yield self._separate_segment(seg, sample_rate, routing, offset_db, first.take(i))
                done[0] += min(block, seg.shape[-1])
                if progress:
                    progress(min(1.0, ((passes - 1) + done[0] / max(n_samples, 1)) / passes))

        yield from crossfade(separated(), overlap)

    # -- masks, for pictures ---------------------------------------------------------------

    def masks(
        self,
        audio: np.ndarray,
        sample_rate: int,
        stems: list[str] | tuple[str, ...] | str | None = None,
        clusters: int | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """The band masks :meth:`separate` applies, for pictures of a split.

        Returns:
            ``(names, masks (n_stems, n_frames, N_BANDS) float32)``: frames every STFT hop
            (:func:`separator.features.stft_size`), mel bands of :mod:`separator.features`;
            the masks sum to 1 over stems.
        Raises:
            SeparationError: as :meth:`separate`.
        """
        x = _as_audio(audio, sample_rate)
        names = self.stem_names(stems, clusters)
        offset = self._level_offset(float(np.mean(x.astype(np.float64) ** 2)))
        pieces = [m for _, m, _ in self.stream_masks(lambda: iter([x]), x.shape[-1], sample_rate, names, clusters, offset)]
        return names, np.concatenate(pieces, axis=1)

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
        meta = audio_io.info(path)
        n = max(0, meta.frames - start) if frames is None else min(frames, max(0, meta.frames - start))
        block, overlap = self._block_sizes(meta.sample_rate)
        reader = lambda: audio_io.blocks(path, block, overlap, start=start, frames=n)  # noqa: E731
        offset = self._level_offset(_mean_power(reader(), overlap)) if self.reference_db is not None else 0.0
        yield from self.stream_masks(reader, n, meta.sample_rate, names, clusters, offset)

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
        meta = audio_io.info(path)
        n = max(0, meta.frames - start) if frames is None else min(frames, max(0, meta.frames - start))
        block, overlap = self._block_sizes(meta.sample_rate)
        reader = lambda: audio_io.blocks(path, block, overlap, start=start, frames=n)  # noqa: E731
        offset = self._level_offset(_mean_power(reader(), overlap)) if self.reference_db is not None else 0.0
        yield from self.stream(reader, n, meta.sample_rate, names, clusters, None, offset)

    def stream_masks(
        self,
        reader: Callable[[], Iterator[np.ndarray]],
        n_samples: int,
        sample_rate: int,
        names: list[str],
        clusters: int | None,
        offset_db: float = 0.0,
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Band masks of the audio ``reader()`` yields (as :meth:`stream`), segment by segment, bounded memory.

        Yields:
            ``(first sample, masks (n_stems, t, N_BANDS), mixture band power (t, N_BANDS) in dB)``
            for the frames each segment owns (the overlap goes to the next segment); frame ``j``
            is centred on sample ``first + j * hop``.
        """
        block, overlap = self._block_sizes(sample_rate)
        first = _FirstPass(FIRST_PASS_BYTES)
        routing = self._routing(reader, names, clusters, sample_rate, n_samples, None, offset_db, first)
        hop = stft_size(sample_rate)[1]
        owned = -(-block // hop)  # frames centred before the next segment starts
        with torch.no_grad():
            for i, seg in enumerate(self._segments(reader, block, overlap)):
                _, feats, embeddings, class_masks = self._network(seg, sample_rate, offset_db, first.take(i))
                band_masks = _collect(self._unit_masks(embeddings, class_masks, routing), routing.collect)
                last = i * block + block + overlap >= n_samples
                keep = feats.shape[0] if last else min(owned, feats.shape[0])
                yield i * block, band_masks[:, :keep].float().cpu().numpy(), feats[:keep].float().cpu().numpy()

    # -- internals -------------------------------------------------------------------------

    def _two_pass(self, clusters: int | None) -> bool:
        """Whether a split first fits k-means on the whole track (blind mode, and named mode from clusters)."""
        return bool(clusters) or self.naming == "clusters"

    def _routing(
        self,
        reader: Callable[[], Iterator[np.ndarray]],
        names: list[str],
        clusters: int | None,
        sample_rate: int,
        n_samples: int,
        progress: ProgressFn | None,
        offset_db: float,
        first: _FirstPass | None = None,
    ) -> _Routing:
        """How the split's masks are made, decided once per split: the first pass (:meth:`_fit`) over
        ``reader()``'s audio when the mode needs one (its network outputs go to ``first`` for the
        second pass), else — or when it finds one stem only — the mask head's masks."""
        if not self._two_pass(clusters):
            return self._head_only(names)
        block, overlap = self._block_sizes(sample_rate)
        fitted = self._fit(self._segments(reader, block, overlap), names, clusters, sample_rate, n_samples, progress, offset_db, first)
        return fitted or self._head_only(names)

    def _block_sizes(self, sample_rate: int) -> tuple[int, int]:
        overlap = int(self.overlap_seconds * sample_rate)
        return max(1, int(self.segment_seconds * sample_rate) - overlap), overlap

    @staticmethod
    def _segments(reader: Callable[[], Iterator[np.ndarray]], block: int, overlap: int) -> Iterator[np.ndarray]:
        for part in reader():
            if part.shape[-1] > block + overlap:  # a whole signal: cut it here
                yield from segments(part, block, overlap)
            else:
                yield part

    def _level_offset(self, mean_power: float) -> float:
        """dB to add to the features so the track sits at ``reference_db`` (0 for silence or when unset)."""
        if self.reference_db is None or mean_power <= 1e-12:
            return 0.0
        return self.reference_db - 10 * float(np.log10(mean_power))

    @torch.no_grad()
    def _network(
        self, seg: np.ndarray, sample_rate: int, offset_db: float = 0.0, known: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(spec (ch, bins, t), dB features (t, bands), embeddings (t, bands, D), class masks (t, bands, C))`` of one segment.

        ``known``: the segment's ``(embeddings, class masks)`` from the first pass; the network is not run again.
        """
        x = torch.from_numpy(np.ascontiguousarray(seg, dtype=np.float32)).to(self.device)
        spec, feats, cues = features(x, sample_rate, stereo=self.model.stereo and known is None)
        if known is not None:
            return spec, feats, *known
        embeddings, masks = self.model(_shift(feats, offset_db), None if cues is None else cues.unsqueeze(0))
        return spec, feats, embeddings[0], masks[0]

    def _class_groups(self, names: list[str]) -> torch.Tensor:
        """``(n_classes, n_stems)`` 0/1: which output stem each class goes to (unrequested classes → ``other``)."""
        groups = torch.zeros(len(self.classes), len(names), device=self.device)
        for i, c in enumerate(self.classes):
            if c in names:
                groups[i, names.index(c)] = 1
            elif "other" in names:
                groups[i, names.index("other")] = 1
        return groups

    def _unit_masks(self, embeddings: torch.Tensor, class_masks: torch.Tensor, routing: _Routing) -> torch.Tensor:
        """``(n_units, t, bands)`` masks that sum to 1 over units (see :class:`_Routing`)."""
        head = self._head_masks(class_masks, routing.groups)
        if routing.centroids is None or routing.route is None:
            return head
        t, f, _ = embeddings.shape
        resp = soft_assign(self._cluster_features(embeddings, class_masks), routing.centroids, self.hardness)
        masks = (resp @ routing.route).T.reshape(-1, t, f)
        return masks if routing.blend >= 1 else routing.blend * masks + (1 - routing.blend) * head

    def _head_only(self, names: list[str]) -> _Routing:
        """The routing of a one-pass split: the mask head's class masks, summed into ``names``."""
        eye = torch.eye(len(self.classes), device=self.device)
        drums = self.classes.index("drums") if "drums" in self.classes else None
        return _Routing(None, None, eye, 0.0, drums, self._class_groups(names))

    def _head_masks(self, class_masks: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        """The mask head's ``(t, bands, C)`` class masks grouped by ``groups (C, n_units)`` → ``(n_units, t, bands)``."""
        if self.mask_power != 1.0:
            class_masks = class_masks**self.mask_power
            class_masks = class_masks / class_masks.sum(-1, keepdim=True).clamp(min=1e-12)
        return (class_masks @ groups).permute(2, 0, 1)

    def _cluster_features(self, embeddings: torch.Tensor, class_masks: torch.Tensor) -> torch.Tensor:
        """What blind mode clusters: ``(..., D)`` embeddings [+ weighted class posteriors] → ``(n, D [+ C])``."""
        if self.class_weight:
            embeddings = torch.cat([embeddings, self.class_weight * class_masks], dim=-1)
        return embeddings.reshape(-1, embeddings.shape[-1])

    @torch.no_grad()
    def _separate_segment(
        self,
        seg: np.ndarray,
        sample_rate: int,
        routing: _Routing,
        offset_db: float,
        known: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> np.ndarray:
        """``(channels, n)`` → ``(n_stems, channels, n)``; ``known`` as in :meth:`_network`."""
        spec, _, embeddings, class_masks = self._network(seg, sample_rate, offset_db, known)
        bin_masks = bands_to_bins(self._unit_masks(embeddings, class_masks, routing), spec.shape[-2])  # (n_units, bins, t)
        if self.percussive and routing.drums is not None:
            bin_masks = favour_percussive(bin_masks, percussive_share(spec), routing.drums, self.percussive)
        bin_masks = _collect(favour_pan(bin_masks, spec, self.pan), routing.collect)
        stems = istft(bin_masks.unsqueeze(1) * spec.unsqueeze(0), sample_rate, seg.shape[-1])
        return stems.cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def _fit(
        self,
        segs: Iterator[np.ndarray],
        names: list[str],
        clusters: int | None,
        sample_rate: int,
        n_samples: int,
        progress: ProgressFn | None,
        offset_db: float,
        first: _FirstPass | None = None,
    ) -> _Routing | None:
        """First pass: k-means on the loud bins of the whole track, and which stem each cluster feeds.

        Blind mode fits ``clusters`` clusters and orders them by class; named mode fits one
        cluster per stem present and names them (``None`` when only one stem is present:
        the mask head's masks are used as they are).
        """
        points, posteriors, db = self._sample(segs, sample_rate, n_samples, progress, offset_db, first)
        power = 10 ** ((db - db.max()) / 10)
        if clusters:
            k = clusters
        else:  # one cluster per class present, so a subset of stems is the same as in a full split
            shares = (power @ posteriors) / power.sum().clamp(min=1e-30)
            present = present_names(shares.double().cpu().numpy(), self.presence)
            if len(names) < len(self.classes):  # stems asked for by name are taken to be there
                asked = [i for i, c in enumerate(self.classes) if c in names and c != "other"]
                present = sorted(set(present) | set(asked))
            if len(present) < 2:
                return None
            k = len(present) + self.extra_clusters
        loud = db > db.max() - 40.0  # the silent-bin rule of training: 40 dB under the peak
        if int(loud.sum()) >= k:
            points, posteriors, power = points[loud], posteriors[loud], power[loud]
        if len(points) > self.fit_points:
            keep = torch.from_numpy(np.random.default_rng(self.seed).permutation(len(points))[: self.fit_points]).to(self.device)
            points, posteriors, power = points[keep], posteriors[keep], power[keep]
        fit = kmeans(points, k, seed=self.seed)
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
            return _Routing(fit.centroids, torch.from_numpy(order).to(self.device), groups, self.blind_blend, drums, eye)
        route = torch.from_numpy(name_clusters(profiles, present)).to(self.device)
        return replace(self._head_only(names), centroids=fit.centroids, route=route, blend=self.blend)

    def _sample(
        self,
        segs: Iterator[np.ndarray],
        sample_rate: int,
        n_samples: int,
        progress: ProgressFn | None,
        offset_db: float,
        first: _FirstPass | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A bounded random sample of the track's bins: ``(points (n, D'), class posteriors (n, C), dB (n,))``.

        Every segment contributes ``fit_points`` bins; the sample is thinned as it grows,
        so memory stays bounded for any length.
        """
        rng = np.random.default_rng(self.seed)
        kept: list[torch.Tensor] = []
        done = 0
        for i, seg in enumerate(segs):
            _, feats, embeddings, class_masks = self._network(seg, sample_rate, offset_db)
            if first is not None:
                first.put(i, embeddings, class_masks)
            pick = torch.from_numpy(rng.permutation(feats.numel())[: self.fit_points]).to(self.device)
            flat_masks = class_masks.reshape(-1, class_masks.shape[-1])[pick]
            sample = torch.cat(
                [self._cluster_features(embeddings, class_masks)[pick], flat_masks, _shift(feats, offset_db).reshape(-1, 1)[pick]], 1
            )
            kept.append(sample)
            if sum(len(k) for k in kept) > 4 * self.fit_points:
                every = torch.cat(kept)
                kept = [every[torch.from_numpy(rng.permutation(len(every))[: 2 * self.fit_points]).to(self.device)]]
            done += seg.shape[-1]
            if progress:
                progress(min(0.5, 0.5 * done / max(n_samples, 1)))
        if not kept:
            raise SeparationError("no audio to cluster")
        every = torch.cat(kept)
        n_classes = len(self.classes)
        return every[:, : -n_classes - 1], every[:, -n_classes - 1 : -1], every[:, -1]


def _collect(masks: torch.Tensor, collect: torch.Tensor) -> torch.Tensor:
    """``(n_units, ...)`` masks summed into stems by ``collect (n_units, n_stems)`` → ``(n_stems, ...)``."""
    if collect.shape[0] == collect.shape[1] and torch.equal(collect, torch.eye(len(collect), device=collect.device)):
        return masks
    return torch.einsum("u...,us->s...", masks, collect)


def _shift(feats: torch.Tensor, offset_db: float) -> torch.Tensor:
    """``(n_frames, bands)`` dB features moved by ``offset_db`` (silent bands stay at the floor) → ``(1, n_frames, bands)``."""
    if offset_db:
        feats = torch.where(feats > FLOOR_DB, (feats + offset_db).clamp(min=FLOOR_DB), feats)
    return feats.unsqueeze(0)


def _mean_power(blocks: Iterator[np.ndarray], overlap: int) -> float:
    """Mean square of a file's samples (all channels), from overlapping blocks, in one streaming pass."""
    total, count = 0.0, 0
    for i, block in enumerate(blocks):
        part = block[:, overlap:] if i else block
        total += float(np.sum(part.astype(np.float64) ** 2))
        count += part.size
    return total / max(count, 1)


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
