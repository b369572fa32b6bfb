"""A second hearing of the bass stem: what the network, hearing that stem alone, calls guitar, vocals or
other leaves it for those stems.

In a mix the network hands the bass stem more than the bass: a guitar's or a keyboard's low notes, a voice's
fundamental (most of all when the voice and the bass are both in the centre, as records mix them). Heard
alone, without the louder parts above them, the same bins are told apart much better. So named mode splits
the bass stem's spectrum once more, in the mask domain (no inverse STFT, no second decoding), and moves the
share that the second hearing gives to :data:`MOVED` classes into the stems those classes feed. What it
calls drums or bass stays: whether a low thump is a kick or a bass note is the first hearing's call (its
percussive step); moving the drums share too cost real songs 0.6 dB of drums (model card, "2026-12-06,
thirteenth").

The step only moves energy between stems: the masks still sum to 1, so the stems still add up to the mix.
"""

from __future__ import annotations

import torch

SOURCE = "bass"  # the stem heard a second time
MOVED = ("guitar", "vocals", "other")  # the classes whose share of it leaves it


def moves(classes: tuple[str, ...], collect: torch.Tensor) -> torch.Tensor:
    """``(n_classes, n_stems)`` 0/1: the stem each :data:`MOVED` class's share of the bass stem goes to
    (``collect``, class → stem, as :class:`separator.masks.Routing` has it); rows of the other classes are 0."""
    keep = torch.tensor([c in MOVED for c in classes], dtype=collect.dtype, device=collect.device)
    return collect * keep[:, None]


def move_shares(masks: torch.Tensor, second: torch.Tensor, source: int, into: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """Stem masks after the second hearing, updated in place.

    Args:
        masks: ``(n_stems, bins, t)`` the split's masks, summing to 1 over stems.
        second: ``(n_classes, bins, t)`` the class masks of the stem ``source`` heard alone, summing to 1.
        source: the index of the stem heard again.
        into: ``(n_classes, n_stems)`` from :func:`moves`.
        weight: how much of the share moves (0: nothing, 1: all of it).
    Returns:
        ``masks``, still summing to 1 over stems.
    """
    carried = masks[source] * weight  # (bins, t): what may move
    total = torch.zeros_like(carried)
    for c, s in into.nonzero().tolist():  # three pairs: slices, not a product over every class and stem
        part = carried * second[c]
        masks[s] += part
        total += part
    masks[source] -= total
    return masks
