"""The chimera deep-clustering network and its self-describing checkpoints.

A bidirectional LSTM reads the log band powers of a mixture and has two heads:

- the *deep-clustering head* (Hershey et al., 2016) gives one unit-norm
  ``embed_dim``-dimensional embedding per time–band bin; k-means on them
  partitions the bins into sources (blind mode);
- the *mask-inference head* (the chimera network, Luo et al. 2017) gives one
  soft mask per stem class in ``CLASSES`` order (named stems).

A ``stereo`` model also reads the stereo cues of :func:`separator.features.spatial`
(level difference and coherence per band) next to the log band powers; mono
input gives it the cues of a centred source.

A :class:`ChimeraEnsemble` of several trained networks acts as one: k-means runs on
their embeddings side by side, and their class masks are averaged.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.torch_version import TorchVersion

from separator.classes import CLASSES
from separator.errors import ModelLoadError, SeparationError
from separator.features import N_BANDS, SPATIAL
from separator.lowband import load_refiner, refiner_path
from separator.settings import SplitSettings

# Files written before 2026-12-04 hold torch's version object; allowed once for the process (a context
# manager would not do: two threads loading at once would take it away from each other).
torch.serialization.add_safe_globals([TorchVersion])

CHECKPOINT_VERSION = 2  # 2: kwargs may hold ``stereo``; version-1 files load as mono models


class ChimeraNet(nn.Module):
    """BLSTM → (embeddings, class masks).

    Args:
        n_bands: input bands per frame.
        hidden: LSTM units per direction.
        layers: stacked BLSTM layers.
        embed_dim: embedding dimension D.
        classes: stem names, in mask order.
        dropout: between LSTM layers.
        stereo: also read ``SPATIAL`` stereo cues per band.
    """

    split_settings: SplitSettings | None = None  # set by load_checkpoint from the file's stored settings

    def __init__(
        self,
        n_bands: int = N_BANDS,
        hidden: int = 256,
        layers: int = 2,
        embed_dim: int = 20,
        classes: tuple[str, ...] | list[str] = CLASSES,
        dropout: float = 0.2,
        stereo: bool = False,
    ) -> None:
        super().__init__()
        self.kwargs: dict[str, Any] = dict(
            n_bands=n_bands, hidden=hidden, layers=layers, embed_dim=embed_dim, classes=list(classes), dropout=dropout, stereo=stereo
        )
        self.n_bands, self.embed_dim, self.classes, self.stereo = n_bands, embed_dim, tuple(classes), stereo
        # Feature normalisation: dB → zero mean, unit variance per band (set from training data).
        self.feat_mean: torch.Tensor
        self.feat_std: torch.Tensor
        self.register_buffer("feat_mean", torch.full((n_bands,), -40.0))
        self.register_buffer("feat_std", torch.full((n_bands,), 20.0))
        self.lstm = nn.LSTM(
            n_bands * (1 + SPATIAL * stereo),
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.embed = nn.Linear(2 * hidden, n_bands * embed_dim)
        self.mask = nn.Linear(2 * hidden, n_bands * len(classes))

    def forward(self, feats: torch.Tensor, cues: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            feats: ``(batch, n_frames, n_bands)`` log band power in dB.
            cues: ``(batch, n_frames, n_bands, SPATIAL)`` stereo cues (stereo models;
                ``None`` means a centred mono signal). Ignored by mono models.
        Returns:
            embeddings ``(batch, n_frames, n_bands, embed_dim)``, unit norm;
            masks ``(batch, n_frames, n_bands, n_classes)``, summing to 1 over classes.
        """
        h = self._trunk(feats, cues)
        batch, n_frames, _ = feats.shape
        v = self.embed(h).view(batch, n_frames, self.n_bands, self.embed_dim)
        v = unit_norm(v)
        return v, self._class_masks(h)

    def class_masks(self, feats: torch.Tensor, cues: torch.Tensor | None = None) -> torch.Tensor:
        """The mask head's output of :meth:`forward` alone, ``(batch, n_frames, n_bands, n_classes)``: for
        a split that names no clusters, the embedding head (four fifths of the heads' work) is skipped."""
        return self._class_masks(self._trunk(feats, cues))

    def _trunk(self, feats: torch.Tensor, cues: torch.Tensor | None) -> torch.Tensor:
        """The BLSTM's output ``(batch, n_frames, 2 * hidden)`` for :meth:`forward`'s inputs."""
        x = (feats - self.feat_mean) / self.feat_std
        if self.stereo:
            if cues is None:
                cues = feats.new_zeros(*feats.shape, SPATIAL)
                cues[..., 1] = 1.0
            x = torch.cat([x, cues.flatten(2)], dim=-1)
        h, _ = self.lstm(x)
        return h

    def _class_masks(self, h: torch.Tensor) -> torch.Tensor:
        batch, n_frames, _ = h.shape
        logits = self.mask(h).view(batch, n_frames, self.n_bands, len(self.classes))
        return class_softmax(logits)


def unit_norm(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``nn.functional.normalize(v, dim=-1)`` bit for bit: each vector over its length (at least ``eps``).

    The lengths are expanded to ``v``'s shape in memory before the division: a division by a broadcast
    last axis is two and a half times slower (10 against 4 ms for a 20-s segment's embeddings on one core).
    """
    return v / v.norm(2, -1, keepdim=True).clamp_min(eps).expand_as(v).contiguous()


def class_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis (the few classes), computed class-major: ``(..., C)`` → ``(..., C)``.

    torch's softmax over a last axis of length 5 runs a short loop per bin (25 ms per 20-s segment
    on one core); over a leading axis it is a few vectorised passes over whole planes, and the two
    reorderings cost less than that (3.4 ms in all). Equal to ``logits.softmax(-1)`` to float rounding.
    Always in float32: under bfloat16 autocast the classes' shares would sum to 1 only within about 0.4 %.
    """
    return logits.float().movedim(-1, 0).contiguous().softmax(0).movedim(0, -1).contiguous()


class ChimeraEnsemble(nn.Module):
    """Several :class:`ChimeraNet` s heard as one network (same classes, any widths, mono or stereo).

    The embeddings are concatenated and divided by ``sqrt(n_members)``, so they stay unit norm
    and k-means distances are the mean of the members' distances; the class masks are averaged.
    Members trained differently (e.g. mono and stereo) err differently, and the average errs less.

    Args:
        members: the networks; their ``classes`` must be equal.
    """

    split_settings: SplitSettings | None = None  # set by load_checkpoint from the file's stored settings

    def __init__(self, members: list[ChimeraNet]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        if len({m.classes for m in members}) != 1:
            raise ValueError(f"ensemble members must have the same classes, got {[list(m.classes) for m in members]}")
        self.members = nn.ModuleList(members)
        self.kwargs: dict[str, Any] = {"members": [m.kwargs for m in members]}
        self.classes, self.n_bands = members[0].classes, members[0].n_bands
        self.embed_dim = sum(m.embed_dim for m in members)
        self.stereo = any(m.stereo for m in members)

    def forward(self, feats: torch.Tensor, cues: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`ChimeraNet.forward`; embeddings ``(batch, n_frames, n_bands, sum of embed_dim)``."""
        outputs = [member(feats, cues) for member in self.members]
        embeddings = torch.cat([v for v, _ in outputs], dim=-1) / len(outputs) ** 0.5
        return embeddings, torch.stack([m for _, m in outputs]).mean(0)

    def class_masks(self, feats: torch.Tensor, cues: torch.Tensor | None = None) -> torch.Tensor:
        """As :meth:`ChimeraNet.class_masks`: the members' class masks, averaged."""
        return torch.stack([cast(ChimeraNet, member).class_masks(feats, cues) for member in self.members]).mean(0)


Network = ChimeraNet | ChimeraEnsemble


def with_stereo_inputs(model: ChimeraNet) -> ChimeraNet:
    """A stereo copy of a mono model that computes exactly what ``model`` does.

    The first LSTM layer gets input weights for the stereo cues, initialised to
    zero, so training can start from a mono model's weights and learn to use them.
    """
    if model.stereo:
        return model
    wide = ChimeraNet(**{**model.kwargs, "stereo": True})
    state = model.state_dict()
    for name in ("weight_ih_l0", "weight_ih_l0_reverse"):
        old = state[f"lstm.{name}"]
        state[f"lstm.{name}"] = torch.cat([old, old.new_zeros(old.shape[0], model.n_bands * SPATIAL)], dim=1)
    wide.load_state_dict(state)
    return wide.to(next(model.parameters()).device)


def save_checkpoint(model: Network, path: str | Path, extra: dict[str, Any] | None = None, half: bool = False) -> None:
    """Write a checkpoint that describes itself: class, kwargs, state, extras, versions.

    ``half=True`` stores the weights as float16 (half the size; for shipping).
    The file is written to a temporary name and renamed.
    """
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    payload = {
        "class": type(model).__name__,
        "version": CHECKPOINT_VERSION,
        "kwargs": model.kwargs,
        "state": state,
        "extra": extra or {},
        "torch": str(torch.__version__),  # a plain string: the file loads with weights_only=True
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data + hashlib.sha256(data).digest())
    tmp.replace(path)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[Network, dict[str, Any]]:
    """Rebuild the model a checkpoint describes.

    Returns:
        ``(model in eval mode on device, extra)``; ``model.split_settings`` holds the split settings stored
        with it (:class:`~separator.settings.SplitSettings`, the shipped defaults for those it does not store)
        and ``model.low_band_refiner`` the refiner beside the file (:mod:`separator.lowband`) or ``None``.
    Raises:
        ModelLoadError: the file is missing, truncated, corrupt or not a checkpoint, or its refiner is unreadable
            or made for other classes.
    """
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read the model checkpoint ({exc.strerror})") from exc
    data, digest = blob[:-32], blob[-32:]
    if len(blob) < 33 or hashlib.sha256(data).digest() != digest:
        raise ModelLoadError(f"{path}: the model checkpoint is corrupt or truncated (checksum mismatch); restore it from git or retrain")
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)  # plain dicts, tensors and strings
    kind = payload.get("class") if isinstance(payload, dict) else type(payload).__name__
    if kind not in (ChimeraNet.__name__, ChimeraEnsemble.__name__):
        raise ModelLoadError(f"{path}: not a separator checkpoint (class {kind})")
    model: Network
    if kind == ChimeraEnsemble.__name__:
        model = ChimeraEnsemble([ChimeraNet(**kwargs) for kwargs in payload["kwargs"]["members"]])
    else:
        model = ChimeraNet(**payload["kwargs"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state"].items()})
    extra = payload.get("extra", {})
    try:  # the settings the model was tuned with travel with it (separator.settings)
        model.split_settings = SplitSettings.from_dict(extra.get("inference", {}))
    except SeparationError as exc:
        raise ModelLoadError(f"{path}: the stored split settings are not usable ({exc}); export the model again") from exc
    # The low-band refiner trained on this model's masks travels with it (X.lowband.pt beside X.pt), kept
    # out of the network's modules so that its state and exports stay the network's alone.
    sidecar = refiner_path(path)
    refiner = load_refiner(sidecar, device) if sidecar.is_file() else None
    if refiner is not None and refiner.n_classes != len(model.classes):
        raise ModelLoadError(
            f"{sidecar}: the low-band refiner refines {refiner.n_classes} classes but {path.name} has {len(model.classes)}; "
            "retrain it for this model (scripts/low-band-refiner.py) or remove it"
        )
    model.__dict__["low_band_refiner"] = refiner
    return model.to(device).eval(), extra
