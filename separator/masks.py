"""From the network's outputs to stems, for one segment: band masks per unit, per-bin refinement, iSTFT.

A *unit* is what masks are made for: a class in named mode (summed into the requested stems last, so a
stem of ``stems="vocals"`` equals that stem of a full split), a source in blind mode. :class:`Routing`
says how units get their masks; it is decided once per track (:mod:`separator.separate`).

Every step keeps the masks summing to 1 over units, so the stems add up to the mixture; the last
step makes that exact: the loudest stem is the mixture minus the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from separator.features import bands_to_bins, bin_power, frame_blocks, masked_istft, sum_first
from separator.kmeans import responsibilities
from separator.lowband import LowBandRefiner, refine_low_bins
from separator.panning import PanEvidence
from separator.percussive import favour_percussive_, percussive_share
from separator.settings import SplitSettings


@dataclass
class Routing:
    """How a track's masks are made: per unit, then summed into the output stems.

    ``centroids (k, D')``: fitted clusters (``None``: the mask head's masks alone); ``route (k, n_units)``
    0/1, cluster → unit; ``groups (n_classes, n_units)`` 0/1, class → unit for the mask head's masks, mixed
    in with weight ``1 - blend``; ``drums``: the unit that is the drums, if any; ``collect (n_units,
    n_stems)`` 0/1, unit → output stem.
    """

    centroids: torch.Tensor | None
    route: torch.Tensor | None
    groups: torch.Tensor
    blend: float
    drums: int | None
    collect: torch.Tensor


def cluster_features(embeddings: torch.Tensor, class_masks: torch.Tensor, class_weight: float) -> torch.Tensor:
    """What k-means clusters: ``(..., D)`` embeddings [+ ``class_weight`` × class posteriors] → ``(n, D [+ C])``."""
    if class_weight:
        embeddings = torch.cat([embeddings, class_weight * class_masks], dim=-1)
    return embeddings.reshape(-1, embeddings.shape[-1])


def head_masks(class_masks: torch.Tensor, groups: torch.Tensor, mask_power: float) -> torch.Tensor:
    """The mask head's ``(t, bands, C)`` class masks grouped by ``groups (C, n_units)`` → ``(n_units, t, bands)``."""
    if mask_power != 1.0:
        class_masks = class_masks**mask_power
        class_masks = class_masks / class_masks.sum(-1, keepdim=True).clamp(min=1e-12)
    return (class_masks @ groups).permute(2, 0, 1)


def unit_masks(embeddings: torch.Tensor | None, class_masks: torch.Tensor, routing: Routing, settings: SplitSettings) -> torch.Tensor:
    """``(n_units, t, bands)`` band masks that sum to 1 over units, from ``embeddings (t, bands, D)`` and
    ``class_masks (t, bands, C)``; the embeddings may be ``None`` where the routing has no clusters."""
    head = head_masks(class_masks, routing.groups, settings.mask_power)
    if routing.centroids is None or routing.route is None:
        return head
    if embeddings is None:
        raise ValueError("unit_masks: a routing with clusters needs the embeddings")
    t, f, _ = embeddings.shape
    resp = responsibilities(cluster_features(embeddings, class_masks, settings.class_weight), routing.centroids, settings.hardness)
    masks = (routing.route.T @ resp).reshape(-1, t, f)  # (k, n) planes → (n_units, t, bands)
    return masks if routing.blend >= 1 else routing.blend * masks + (1 - routing.blend) * head


def collect(masks: torch.Tensor, into: torch.Tensor) -> torch.Tensor:
    """``(n_units, ...)`` masks summed into stems by ``into (n_units, n_stems)`` → ``(n_stems, ...)``."""
    if into.shape[0] == into.shape[1] and torch.equal(into, torch.eye(len(into), device=into.device)):
        return masks
    return torch.einsum("u...,us->s...", masks, into)


def bin_masks(
    band_masks: torch.Tensor,
    spec: torch.Tensor,
    routing: Routing,
    settings: SplitSettings,
    power: torch.Tensor | None = None,
    low_band: LowBandRefiner | None = None,
    blind: bool = False,
) -> torch.Tensor:
    """Per-bin unit masks ``(n_units, bins, t)`` from per-unit band masks ``(n_units, t, bands)`` and the
    segment's ``spec (channels, bins, t)`` (and its :func:`~separator.features.bin_power`, when the caller
    has it): copied to the bins, refined by the percussive and pan evidence and, where the units are the
    refiner's classes (named mode), by ``low_band`` (:mod:`separator.lowband`). :func:`collect` with
    ``routing.collect`` sums them into the stems. ``blind``: the units are blind mode's sources, refined with
    the blind settings (``blind_percussive``, ``blind_pan_focus``) rather than the named ones.

    The copy to the bins and the percussive and pan steps run a block of frames at a time
    (:func:`~separator.features.frame_blocks`), so each block's operands stay in the cache between them; the
    pan step's fit sees every block before any is moved. The masks are laid out frames first, as the
    spectrum is."""
    n_bins = spec.shape[-2]
    refine = low_band is not None and settings.low_band > 0 and band_masks.shape[0] == low_band.n_classes
    drums = routing.drums
    percussive = (settings.blind_percussive if blind else settings.percussive) if drums is not None else 0.0
    pan = settings.pan if spec.shape[0] == 2 else 0.0
    if not (percussive or pan or refine):
        return bands_to_bins(band_masks, n_bins)
    power = bin_power(spec) if power is None else power  # (channels, bins, t), shared by the steps
    share = percussive_share(spec, power=power).T if percussive and drums is not None else None  # (t, bins)
    evidence = PanEvidence(power, pan, settings.blind_pan_focus if blind else settings.pan_focus) if pan else None
    masks = band_masks.new_empty(band_masks.shape[0], band_masks.shape[1], n_bins)  # (n_units, t, bins)
    blocks = frame_blocks(masks.shape[1])
    for frames in blocks:
        block = masks[:, frames]
        bands_to_bins(band_masks[:, frames], n_bins, out=block.transpose(1, 2))
        if share is not None and drums is not None:
            favour_percussive_(block, share[frames], drums, percussive)
        if evidence is not None:
            evidence.fit(block, frames)
    if evidence is not None:
        for frames in blocks:
            evidence.apply_(masks[:, frames], frames)
    masks = masks.transpose(1, 2)
    if refine:
        assert low_band is not None
        masks = refine_low_bins(masks, power, low_band, settings.low_band)
    return masks


def apply_masks(
    masks: torch.Tensor, spec: torch.Tensor, audio: torch.Tensor, sample_rate: int, power: torch.Tensor | None = None
) -> torch.Tensor:
    """Stems ``(n_stems, channels, n)`` of ``audio (channels, n)`` from ``masks (n_stems, bins, t)`` that sum
    to 1 over stems and the audio's ``spec (channels, bins, t)``.

    The inverse transform (:func:`~separator.features.masked_istft`, a block of frames at a time) for every
    stem but the loudest, which is the audio minus the others: the stems add up to the input exactly, and
    the inverse transform runs once less. ``power``: the spectrum's
    :func:`~separator.features.bin_power`, when the caller has it.
    """
    n_stems = masks.shape[0]
    if n_stems == 1:
        return audio.unsqueeze(0).clone()
    power = bin_power(spec) if power is None else power  # (channels, bins, t)
    frames_first = masks.transpose(1, 2)  # (n_stems, t, bins): stft's layout, as the inverse FFT reads it
    loudest = int((frames_first.reshape(n_stems, -1) @ sum_first(power).T.reshape(-1)).argmax())
    others = [s for s in range(n_stems) if s != loudest]
    channels, length = audio.shape
    # samples before channels in memory, as audio files interleave them: the stems are written without a copy
    out = torch.empty((n_stems, length, channels), dtype=audio.dtype, device=audio.device).transpose(1, 2)
    for stem, signal in zip(others, masked_signals(masks, spec, sample_rate, length, others), strict=True):
        out[stem] = signal  # a copy per stem: 5× faster than one indexed assignment into this layout
    out[loudest] = 0
    out[loudest] = audio - sum_first(out)
    return out


def masked_signals(masks: torch.Tensor, spec: torch.Tensor, sample_rate: int, length: int, rows: list[int]) -> torch.Tensor:
    """The signals of ``spec (channels, bins, t)`` through the masks ``rows`` of ``masks (n, bins, t)``
    → ``(len(rows), channels, length)``: a channel at a time, a block of frames at a time
    (:func:`~separator.features.masked_istft`), so no masked spectrum is ever whole in memory."""
    frames_first = masks.transpose(1, 2)  # (n, t, bins): stft's layout, as the inverse FFT reads it
    out = spec.real.new_empty(len(rows), spec.shape[0], length)
    for c in range(spec.shape[0]):
        out[:, c] = masked_istft(frames_first, spec[c].T, sample_rate, length, rows)
    return out
