"""Second hearings: a stem heard again, alone; what the network then hears as another class leaves it for
that class (named mode).

In a mix the network hands a stem more than its own sound. The bass stem gets a guitar's or a keyboard's low
notes and a voice's fundamental (most of all when the voice and the bass are both in the centre, as records
mix them); the drums stem gets bass notes that start like a hit (plucked and sampled basses of real
arrangements). Heard alone, without the louder parts above them, the same bins are told apart better. So a
named split hears such a stem once more, per segment: its samples (the mix through the stem's mask,
transformed back and forth, not decoded again) at the reference level, through the network, the mask head's
class masks and the per-bin steps. A share (a split setting per :class:`Hearing`) of what that second
hearing gives the hearing's moved classes moves to those classes, before they are summed into the stems
asked for.

What moves is chosen per stem on the tuning splits (model card, "2026-12-06, thirteenth" and "fourteenth"):
the bass gives up guitar, vocals and other, not drums (whether a low thump is a kick or a bass note is the
first hearing's call: moving the drums share cost real songs 0.6 dB of drums); the drums give up bass only.
The bass is heard again by default (``resplit = 0.75``); the drums only when asked (``resplit_drums``, 0 by
default: +0.08 dB on the leave-out set and −0.05 to +0.6 on real songs for a third run of the network).
Blind mode, hearing the source matched to the bass again, gained on some sets and lost on others, so it is
not done there.

A hearing only moves energy between classes: the masks still sum to 1, so the stems still add up to the mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the table imports without torch: plugin_host's live plan reads it before any split
    import torch


@dataclass(frozen=True)
class Hearing:
    """One second hearing: the class ``source`` heard again; the share ``setting`` (a field of
    :class:`~separator.settings.SplitSettings`, 0..1) of what it hears as a class of ``moved`` moves to it."""

    source: str
    moved: tuple[str, ...]
    setting: str


# in this order: the bass is heard as the first hearing left it, before the drums' bass joins it
HEARINGS = (
    Hearing("bass", ("guitar", "vocals", "other"), "resplit"),
    Hearing("drums", ("bass",), "resplit_drums"),
)
# split settings that turn every second hearing off (a live split, the refiner's extraction)
NO_SECOND_HEARINGS: dict[str, float] = {hearing.setting: 0.0 for hearing in HEARINGS}


def moves(classes: tuple[str, ...], groups: torch.Tensor, moved: tuple[str, ...]) -> torch.Tensor:
    """``(n_classes, n_units)`` 0/1: the unit each class of ``moved`` goes to (``groups``, class → unit, as
    :class:`separator.masks.Routing` has it: in named mode the class itself); rows of the other classes are 0."""
    keep = groups.new_tensor([c in moved for c in classes])
    return groups * keep[:, None]


def move_shares(masks: torch.Tensor, second: torch.Tensor, source: int, into: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """Masks after a second hearing, updated in place.

    Args:
        masks: ``(n_units, bins, t)`` the split's masks (named mode: one per class), summing to 1 over units.
        second: ``(n_classes, bins, t)`` the class masks of the unit ``source`` heard alone, summing to 1.
        source: the index of the unit heard again.
        into: ``(n_classes, n_units)`` from :func:`moves`.
        weight: how much of the share moves (0: nothing, 1: all of it).
    Returns:
        ``masks``, still summing to 1 over units.
    """
    carried = masks[source] * weight  # (bins, t): what may move, laid out in memory as the masks are
    moved: torch.Tensor | None = None  # Σ second[c] over the moved classes
    for c, s in into.nonzero().tolist():  # a few pairs: slices, not a product over every class and stem
        masks[s].addcmul_(carried, second[c])
        moved = second[c].clone() if moved is None else moved.add_(second[c])
    if moved is not None:
        masks[source].addcmul_(carried, moved, value=-1)
    return masks
