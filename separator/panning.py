"""Pan evidence per STFT bin: where in the stereo field each bin sits, against where each stem sits.

The network hears the stereo cues of whole bands, so two instruments that share a band share its
split even when one is panned left and the other right. Each bin's own pan angle tells them apart
(the idea of DUET, Yilmaz & Rickard 2004): ``θ = atan2(|R|, |L|)``, 0 hard left, π/4 centre, π/2
hard right. Each stem gets a Gaussian over θ, fitted to the bins its mask gives it (weighted by
power) in the segment; each mask is then weighted by its stem's likelihood of the bin's angle to
the power ``power``, and all are renormalised, so the stems still add up to the mixture.

Each stem's position and spread are measured on the bins it holds most: a bin counts with its mask
raised to the power ``focus``. Every soft mask gives each stem a little of every bin, and with
``focus = 1`` that leak drew every stem's Gaussian towards the others' places and widened it, so the
evidence was weak where stems sat apart. Named mode uses ``focus = 4``, blind mode 16 (model card,
"2026-12-06, eleventh": on the leave-sources-out set named 6.91 → 7.65 dB, blind 7.33 → 8.25).

Stems at the same place (everything centred, or a mono file) get the same likelihoods and are
left as they are.
"""

from __future__ import annotations

import torch

from separator.features import bin_power, frame_blocks

MIN_VARIANCE = 0.01  # rad²: a stem's pan spread is never taken as narrower than about 6°


def pan_angle(spec: torch.Tensor) -> torch.Tensor:
    """``(2, bins, frames)`` complex STFT → ``(bins, frames)`` pan angle in radians, 0 (left) … π/2 (right);
    a silent bin is centred."""
    return torch.atan2(spec[1].abs() + 1e-12, spec[0].abs() + 1e-12)


def focused(masks: torch.Tensor, focus: float) -> torch.Tensor:
    """``masks ** focus``; a power of two by squaring one copy in place (a general power costs an
    exponential and a logarithm per value, and the shipped powers are 4 and 16)."""
    if focus == 1:
        return masks
    n = int(focus)
    if n != focus or n < 2 or n & (n - 1):
        return masks.pow(focus)
    out = masks * masks
    while n > 2:
        out.mul_(out)
        n //= 2
    return out


class PanEvidence:
    """The pan step over a segment's frames, a block at a time: :meth:`fit` every block (each stem's
    position and spread), then :meth:`apply_` every block (each bin's masks moved towards the stems that sit
    where it sits).

    Blocks of :data:`~separator.features.BLOCK_FRAMES` frames keep each step's operands in the cache: over
    a whole 20-s segment the same arithmetic reads and writes main memory a dozen times (the pan stage of
    ``benchmarks/bench_separate.py`` on 3 minutes, one thread: 1.2 s whole, 0.6 s in blocks; BENCHMARKS.md).
    The moments are summed over blocks in float64, nearer the exact sums than one float32 product.

    Args:
        bin_powers: ``(2, bins, frames)`` ``|spec|²`` per channel (:func:`separator.features.bin_power`),
            laid out frames first as :func:`~separator.features.stft` lays out its output.
        power: weight of the evidence (> 0).
        focus: each stem's position and spread are fitted with its masks raised to this power.
    """

    def __init__(self, bin_powers: torch.Tensor, power: float, focus: float = 1.0) -> None:
        self.powers = bin_powers.transpose(-1, -2)  # (2, frames, bins)
        self.power, self.focus = power, focus
        self.theta = self.powers.new_empty(self.powers.shape[1:])  # (frames, bins): 0 centred, filled by fit
        self.moments: torch.Tensor | None = None  # (n_stems, 3): Σ mask^focus · P · (1, θ, θ²)
        self.quadratic: torch.Tensor | None = None

    def fit(self, masks: torch.Tensor, frames: slice) -> None:
        """Add the ``frames`` of ``masks (n_stems, n, bins)`` (frames first, those frames alone) to the fit."""
        powers = self.powers[:, frames]
        theta = self.theta[frames]
        torch.atan2(powers[1].sqrt().add_(1e-12), powers[0].sqrt().add_(1e-12), out=theta).sub_(torch.pi / 4)
        total = powers[0] + powers[1]
        weighted = torch.stack([total, total * theta, total * theta.square()]).reshape(3, -1)  # (3, n·bins)
        flat = masks.reshape(masks.shape[0], -1)
        part = (focused(flat, self.focus) @ weighted.T).double()  # (n_stems, 3), summed over blocks in float64
        self.moments = part if self.moments is None else self.moments + part

    def apply_(self, masks: torch.Tensor, frames: slice) -> None:
        """Move the ``frames`` of ``masks (n_stems, n, bins)`` (frames first) **in place**, after every
        frame is fitted; they still sum to 1 over stems."""
        if self.quadratic is None:
            assert self.moments is not None, "PanEvidence.apply_ before fit"
            total = self.moments[:, 0].clamp(min=1e-20)
            mean = self.moments[:, 1] / total
            variance = (self.moments[:, 2] / total - mean**2).clamp(min=0) + MIN_VARIANCE
            # power · log N(θ; mean, variance) up to a constant, as a quadratic in θ: one matrix product for every bin
            coefficients = [-0.5 / variance, mean / variance, -0.5 * mean**2 / variance - 0.5 * variance.log()]
            self.quadratic = (self.power * torch.stack(coefficients, 1)).to(self.theta.dtype)
        theta = self.theta[frames].reshape(-1)
        flat = masks.reshape(masks.shape[0], -1)  # a view: each stem's frames are contiguous
        weight = torch.addmm(self.quadratic[:, 2:], self.quadratic[:, :2], torch.stack([theta.square(), theta]))
        # softmax(log mask + weight) over stems, as mask · exp(weight − max) / sum: no logarithm of the masks
        weight = weight.sub_(weight.amax(0, keepdim=True)).exp_().mul_(flat.clamp(min=1e-12))
        torch.div(weight, weight.sum(0, keepdim=True), out=flat)


def favour_pan(
    masks: torch.Tensor,
    spec: torch.Tensor,
    power: float,
    bin_powers: torch.Tensor | None = None,
    focus: float = 1.0,
) -> torch.Tensor:
    """Move each bin's mask towards the stems that sit where the bin sits in the stereo field
    (:class:`PanEvidence` over the whole of ``masks``).

    Args:
        masks: ``(n_stems, bins, frames)``, summing to 1 over stems.
        spec: ``(channels, bins, frames)`` complex STFT; only stereo input is refined.
        power: weight of the evidence; 0 leaves the masks as they are.
        bin_powers: ``|spec|²`` per channel (:func:`separator.features.bin_power`), when the caller has it already.
        focus: each stem's position and spread are fitted with its masks raised to this power (1: as
            given; higher: the bins it holds most).

    Returns:
        ``(n_stems, bins, frames)``, summing to 1 over stems; ``masks`` itself is left as it was.
    """
    if power == 0 or spec.shape[0] != 2:
        return masks
    out = masks.transpose(-1, -2).clone(memory_format=torch.contiguous_format)  # (n_stems, frames, bins)
    evidence = PanEvidence(bin_power(spec) if bin_powers is None else bin_powers, power, focus)
    for frames in frame_blocks(out.shape[1]):
        evidence.fit(out[:, frames], frames)
    for frames in frame_blocks(out.shape[1]):
        evidence.apply_(out[:, frames], frames)
    return out.transpose(-1, -2)
