"""A second hearing of the bass: what the network, hearing the bass stem alone, calls guitar, vocals or
other leaves it for those stems (named mode).

In a mix the network hands the bass stem more than the bass: a guitar's or a keyboard's low notes, a voice's
fundamental (most of all when the voice and the bass are both in the centre, as records mix them). Heard
alone, without the louder parts above them, the same bins are told apart better. So a named split hears the
bass once more, per segment: its samples (the mix through the bass mask, transformed back and forth, not
decoded again) at the reference level, through the network, the mask head's class masks and the per-bin
steps. The share that this second hearing gives to :data:`MOVED` classes moves to those classes, before
they are summed into the stems asked for. What it calls drums or bass stays: whether a low thump is a kick
or a bass note is the first hearing's call (its percussive step); moving the drums share too cost real
songs 0.6 dB of drums. Blind mode, hearing the source matched to the bass again, gained on some sets and
lost on others, so it is not done there (model card, "2026-12-06, thirteenth").

The step only moves energy between classes: the masks still sum to 1, so the stems still add up to the mix.
"""

from __future__ import annotations

import torch

SOURCE = "bass"  # the class heard a second time
MOVED = ("guitar", "vocals", "other")  # the classes whose share of it leaves it


def moves(classes: tuple[str, ...], groups: torch.Tensor) -> torch.Tensor:
    """``(n_classes, n_units)`` 0/1: the unit each :data:`MOVED` class's share of the bass goes to (``groups``,
    class → unit, as :class:`separator.masks.Routing` has it: in named mode the class itself); rows of the
    other classes are 0."""
    keep = torch.tensor([c in MOVED for c in classes], dtype=groups.dtype, device=groups.device)
    return groups * keep[:, None]


def move_shares(masks: torch.Tensor, second: torch.Tensor, source: int, into: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """Masks after the second hearing, updated in place.

    Args:
        masks: ``(n_units, bins, t)`` the split's masks (named mode: one per class), summing to 1 over units.
        second: ``(n_classes, bins, t)`` the class masks of the unit ``source`` heard alone, summing to 1.
        source: the index of the unit heard again.
        into: ``(n_classes, n_units)`` from :func:`moves`.
        weight: how much of the share moves (0: nothing, 1: all of it).
    Returns:
        ``masks``, still summing to 1 over units.
    """
    carried = masks[source] * weight  # (bins, t): what may move
    total = torch.zeros_like(carried)
    for c, s in into.nonzero().tolist():  # three pairs: slices, not a product over every class and stem
        part = carried * second[c]
        masks[s] += part
        total += part
    masks[source] -= total
    return masks
