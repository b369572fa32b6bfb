"""Band-limited input: what the network hears above the track's last live band.

Old records, phone recordings, low-rate files and MP3s at low bit rates hold nothing above some
frequency. The network was trained on full-band mixtures: there, drum hits and consonants are loud up
to 20 kHz, and a song whose top bands are at the floor looks like no song it heard (a low-passed
drum kit goes into the bass and the drums stem falls silent). So the network hears the last live
band's level carried upward, a little quieter per band (its stereo cues too), the way spectral band
replication in audio codecs fills a missing top octave. Only what the network hears changes: the masks
still apply to the track as it is, so nothing is added to the stems.

A band is live when its loudest frame over the whole track is within :data:`LIVE_DB` of the loudest
band's. Only a track whose live bands end below :data:`MAX_EDGE_HZ` is extended: the network heard
many training songs with nothing above 10–16 kHz (samples recorded at low rates), none that stopped
where hi-hats and consonants begin.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from separator.features import FLOOR_DB, band_edges_hz

LIVE_DB = 60.0  # a band this far under the track's loudest band, in every frame, is dead
MAX_EDGE_HZ = 8000.0  # tracks whose live bands reach higher are heard as they are


@functools.lru_cache(maxsize=1)
def _highest_band_to_fill_above() -> int:
    """The highest last-live band that is still extended: the last band ending at or below :data:`MAX_EDGE_HZ`.

    Band edges in Hz are the same at every sample rate (the STFT keeps 46 ms windows)."""
    upper_edges = band_edges_hz(44100)[1:]
    return int(np.searchsorted(upper_edges, MAX_EDGE_HZ, side="right")) - 1


def last_live_band(band_peak_db: torch.Tensor) -> int | None:
    """The last live band of a band-limited track, or ``None`` for a track to hear as it is: one whose
    live bands reach above :data:`MAX_EDGE_HZ`.

    Args:
        band_peak_db: ``(n_bands,)`` each band's loudest frame over the track, in dB.
    """
    live = (band_peak_db > band_peak_db.max() - LIVE_DB).nonzero()
    if not len(live):
        return None
    top = int(live.max())
    return top if top <= _highest_band_to_fill_above() else None


def extend_bands(feats: torch.Tensor, cues: torch.Tensor | None, top: int, slope_db: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The features the network hears for a track whose bands above ``top`` are dead.

    Args:
        feats: ``(..., n_frames, n_bands)`` band power in dB.
        cues: ``(..., n_frames, n_bands, SPATIAL)`` stereo cues, or ``None``.
        top: the last live band (:func:`last_live_band`).
        slope_db: each band above ``top`` is this many dB under the one below it.
    Returns:
        new ``(feats, cues)``: band ``top + k`` holds band ``top``'s level minus ``k · slope_db`` (not under
        the features' floor) and its cues.
    """
    n_dead = feats.shape[-1] - top - 1
    steps = torch.arange(1, n_dead + 1, dtype=feats.dtype, device=feats.device) * slope_db
    feats = feats.clone()
    feats[..., top + 1 :] = (feats[..., top : top + 1] - steps).clamp(min=FLOOR_DB)
    if cues is not None:
        cues = cues.clone()
        cues[..., top + 1 :, :] = cues[..., top : top + 1, :]
    return feats, cues
