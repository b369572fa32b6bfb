"""A second look at the lowest bins, where a kick, a bass line and a voice's fundamental share a few bins.

Under about 500 Hz each STFT bin (21.5 Hz) is its own mel band, and the network's class decisions there
hold the named stems back: re-dividing drums and bass under 300 Hz in their true ratio would gain more
than 1 dB (``scripts/low-band-ceiling.py``). This step re-decides the 24 lowest bins of named mode's class
masks with a small convolutional network, the "enhancement network" after deep clustering of Isik et
al. (Interspeech 2016) kept to those bins. Each bin sees its own and its neighbours' masks (after the
percussive and pan steps) and levels over about 0.66 s, its frequency, and the level of five coarse
bands above (a kick's click, a voice's formants); the same weights serve every bin. It corrects the
masks in the log domain, so the masks still sum to 1 over classes. Its last layer starts at zero: an
untrained refiner changes nothing. Trained and measured with ``scripts/low-band-refiner.py``; the
shipped one is ``separator/pretrained/default.lowband.pt`` (model card).

The refiner learnt the masks of full-band tracks. A band-limited track (nothing within 60 dB of its
loudest band above some frequency under 8 kHz: an old record, a phone recording, an 8 kHz file;
:mod:`separator.bandwidth`) is split without it: the network hears such a track's dead top bands filled
in, its masks are unlike those the refiner learnt, and on 8 kHz mono files the refiner cost 0.2 dB named
(model card, "2026-12-06, tenth").

The STFT has the same 21.5 Hz bins at every sample rate (:mod:`separator.features`), so the same bins
mean the same frequencies whatever the file's rate.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
from torch import nn

from separator.devices import network_dtype
from separator.errors import ModelLoadError
from separator.features import sum_first

N_LOW = 24  # bins refined: 0 … 516 Hz at every sample rate
CONTEXT_HZ = (520.0, 1000.0, 2000.0, 4000.0, 8000.0)  # lower edges of the context bands (the last ends at Nyquist)
N_CONTEXT = len(CONTEXT_HZ)
BIN_HZ = 44100 / 2048
LEVEL_SCALE_DB = 20.0
FLOOR_DB = -80.0
MASK_FLOOR = 1e-4
SUFFIX = ".lowband.pt"  # the refiner of model X.pt is X.lowband.pt beside it


def pad_bins(values: torch.Tensor) -> torch.Tensor:
    """``(..., bins, frames)`` → ``(..., N_LOW, frames)``: a copy of the first ``N_LOW`` bins, zeros for
    those a very low sample rate lacks."""
    values = values[..., :N_LOW, :].clone()  # a copy: a view would keep the whole spectrum alive
    short = N_LOW - values.shape[-2]
    if short == 0:
        return values
    return torch.cat([values, values.new_zeros(*values.shape[:-2], short, values.shape[-1])], dim=-2)


def low_inputs(power: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The refiner's input for one segment.

    Args:
        power: ``(channels, bins, frames)`` the mixture's ``|spec|²`` (:func:`separator.features.bin_power`).
        masks: ``(n_classes, bins, frames)`` the split's class masks, summing to 1 over classes.
    Returns:
        ``(N_LOW + N_CONTEXT + n_classes · N_LOW, frames)`` float32: the low bins' and the context bands'
        levels in dB over the segment's mean power (so loudness does not matter), over ``LEVEL_SCALE_DB``
        and floored at ``FLOOR_DB``, then the low bins' masks.
    """
    mono = sum_first(power).div_(power.shape[0]).float()  # (bins, frames)
    n_bins = mono.shape[0]
    edges = [min(n_bins, int(round(hz / BIN_HZ))) for hz in CONTEXT_HZ] + [n_bins]
    context = [mono[lo:hi].mean(0) if hi > lo else mono.new_zeros(mono.shape[1]) for lo, hi in itertools.pairwise(edges)]
    levels = torch.cat([pad_bins(mono), torch.stack(context)])
    db = (10 * torch.log10(levels / mono.mean().clamp(min=1e-12) + 1e-12)).clamp(min=FLOOR_DB) / LEVEL_SCALE_DB
    return torch.cat([db, pad_bins(masks.float()).reshape(-1, masks.shape[-1])])


def zero_init(layer: nn.Module) -> None:
    """Zero a layer's weights and bias: the last layer of a refiner that starts as the identity."""
    for param in layer.parameters():
        nn.init.zeros_(param)


class LowBandRefiner(nn.Module):
    """Dilated convolutions over (bins, frames) of the low bins → corrected class masks.

    Args:
        n_classes: the network's classes, in its order.
        hidden: channels of the convolutions.
        kernel: ``(bins, frames)`` per convolution.
        dilations: one residual block per dilation along time; the receptive field is
            ``1 + (kernel[1] - 1) · sum(dilations)`` frames (57, 0.66 s, for the defaults).
    """

    def __init__(
        self, n_classes: int = 5, hidden: int = 24, kernel: tuple[int, int] = (3, 9), dilations: tuple[int, ...] = (1, 2, 4)
    ) -> None:
        super().__init__()
        self.config = {"n_classes": n_classes, "hidden": hidden, "kernel": list(kernel), "dilations": list(dilations)}
        self.n_classes = n_classes
        kb, kt = kernel
        self.inp = nn.Conv2d(n_classes + 2 + N_CONTEXT, hidden, 1)  # masks, level, frequency, context bands
        pads = [(kb // 2, d * (kt - 1) // 2) for d in dilations]
        blocks = [nn.Conv2d(hidden, hidden, kernel, dilation=(1, d), padding=p) for d, p in zip(dilations, pads, strict=True)]
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Conv2d(hidden, n_classes, 1)
        zero_init(self.out)

    def forward(self, inputs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """``inputs (batch, n_in, frames)`` from :func:`low_inputs` and ``masks (batch, n_classes, N_LOW,
        frames)`` → refined masks of the same shape, summing to 1 over classes."""
        batch, _, frames = inputs.shape
        levels = inputs[:, None, :N_LOW]  # (batch, 1, N_LOW, frames)
        context = inputs[:, N_LOW : N_LOW + N_CONTEXT, None].expand(-1, -1, N_LOW, -1)
        freq = torch.linspace(0, 1, N_LOW, dtype=inputs.dtype, device=inputs.device)[None, None, :, None].expand(batch, 1, N_LOW, frames)
        h = torch.relu(self.inp(torch.cat([masks, levels, freq, context], dim=1)))
        # channels last through the residual blocks, as their convolutions compute it: each sum adds two
        # tensors of one layout and no convolution reorders its input (a tenth of the refiner's time)
        h = h.contiguous(memory_format=torch.channels_last)
        for block in self.blocks:
            h = h + torch.relu(block(h))
        return torch.softmax(masks.clamp(min=MASK_FLOOR).log() + self.out(h.contiguous()), dim=1)


@torch.no_grad()
def refine_low_bins(masks: torch.Tensor, power: torch.Tensor, refiner: nn.Module, weight: float = 1.0) -> torch.Tensor:
    """Class masks with their lowest bins re-decided by ``refiner``, **in place** (the split's masks are
    its own; copying all of them would cost a fifth of this step). On a CPU that computes bfloat16
    natively (AVX-512 BF16, AMX) the convolutions run in it, three times faster: the masks move by at
    most a few thousandths.

    Args:
        masks: ``(n_classes, bins, frames)``, summing to 1 over classes (named mode's units).
        power: ``(channels, bins, frames)`` the mixture's ``|spec|²``.
        refiner: a :class:`LowBandRefiner` (or any module of its ``forward``'s shapes).
        weight: 0 leaves the masks as they are, 1 takes the refiner's.
    Returns:
        ``masks``, still summing to 1 over classes; bins from ``N_LOW`` up unchanged.
    """
    if weight == 0:
        return masks
    n = min(N_LOW, masks.shape[1])
    device = next(refiner.parameters()).device
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=network_dtype("auto", device) == torch.bfloat16):
        refined = refiner(low_inputs(power, masks)[None], pad_bins(masks.float())[None])[0, :, :n]
    refined = refined.to(masks.dtype)
    masks[:, :n] = refined if weight == 1 else weight * refined + (1 - weight) * masks[:, :n]
    return masks


def save_refiner(refiner: LowBandRefiner, path: str | Path, meta: dict[str, object] | None = None) -> None:
    """Write ``refiner``'s float16 weights, its configuration and ``meta`` (how it was trained) to ``path``."""
    state = {k: v.detach().half() for k, v in refiner.state_dict().items()}
    torch.save({"class": LowBandRefiner.__name__, "config": refiner.config, "state": state, "meta": meta or {}}, path)


def refiner_path(model_path: str | Path) -> Path:
    """Where the refiner of the model file ``model_path`` lies: ``X.pt`` → ``X.lowband.pt`` beside it."""
    path = Path(model_path)
    return path.with_name(path.name.removesuffix(".pt") + SUFFIX)


def load_refiner(path: str | Path, device: str | torch.device = "cpu") -> LowBandRefiner:
    """The refiner :func:`save_refiner` wrote, in float32 on ``device``, ready for inference.

    Raises:
        ModelLoadError: the file cannot be read or is not a refiner.
    """
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("class") != LowBandRefiner.__name__:
            raise ValueError("not a low-band refiner")
        config = dict(blob["config"])
        refiner = LowBandRefiner(**{**config, "kernel": tuple(config["kernel"]), "dilations": tuple(config["dilations"])})
        refiner.load_state_dict({k: v.float() for k, v in blob["state"].items()})
    except Exception as exc:  # unreadable, not a pickle, a pickle of something else, wrong shapes: all one error
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(f"{path}: cannot load the low-band refiner ({reason}); restore it from git or remove it") from exc
    for param in refiner.parameters():  # channels-last weights: the convolutions run twice as fast on CPUs
        param.data = param.data.contiguous(memory_format=torch.channels_last) if param.dim() == 4 else param.data
    return refiner.to(device).eval()
