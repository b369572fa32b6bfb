"""Train the chimera deep-clustering network on stems made by ``separator make-data``.

Resumable: ``OUT/last.pt`` holds the model, the optimiser and the step; a run
with the same ``OUT`` continues from it. ``OUT/log.jsonl`` gets one line per
log interval (loss) and per validation (SI-SDR improvement per mode).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from separator.classes import CLASSES
from separator.devices import NO_BFLOAT16, bfloat16_lstm, measuring_threads, resolve_device
from separator.errors import SeparatorError
from separator.features import band_power, bin_power, bins_per_band, log_power, pool_bands, spatial, stft, sum_first
from separator.model import ChimeraEnsemble, ChimeraNet, Network, load_checkpoint, save_checkpoint, with_stereo_inputs
from separator.training.data.mix import Batch, StemBank
from separator.training.loader import Drawing, batches
from separator.training.loss import deep_clustering_loss, magnitude_weights, mask_inference_loss, naming_loss, phase_sensitive_loss

log = logging.getLogger(__name__)
# Validation splits with the inference settings the shipped models use, so the best checkpoint is
# chosen by what users get (soft k-means masks, every track heard at the same level).
VALIDATION_INFERENCE: dict[str, Any] = {"reference_db": -28.0, "hardness": 3.0}
SILENCE_DB = 40.0  # bins this far under the mixture's loudest bin are left out of the loss


class TrainOptionError(SeparatorError, ValueError):
    """Options of ``separator train`` that cannot work together; the message names them and the fix."""


@dataclass
class TrainConfig:
    """Every setting of a run; saved in each checkpoint."""

    data: str = "data/train"
    data_weights: str = ""
    max_songs: str = ""
    stem_map: str = ""
    out: str = "runs/default"
    init: str = ""
    stereo: bool = False
    val_data: str | None = None
    steps: int = 20000
    minutes: float = 0.0
    bf16: bool = False
    batch: int = 8
    seconds: float = 3.0
    lofi: float = 0.0
    centre: float = 0.0
    freeze: str = ""
    lr: float = 1e-3
    warmup: int = 0
    decay_from: int = -1
    lr_end: float = 0.01
    alpha: float = 0.5
    psa: float = 0.0
    name_loss: float = 0.0
    dc_magnitude: float = 0.0
    ema: float = 0.0
    hidden: int = 256
    layers: int = 2
    embed_dim: int = 20
    dropout: float = 0.2
    device: str = "auto"
    seed: int = 0
    log_every: int = 50
    save_every: int = 250
    val_every: int = 1000
    val_songs: int = 16
    threads: int = 0
    workers: int = 0


# --help of each `separator train` option
OPTION_HELP: dict[str, str] = {
    "data": "folders (comma-separated): make-data shards, MUSDB18-HQ or <song>/<stem>.wav layouts",
    "data_weights": 'how often each --data folder is drawn from, e.g. "3,1" (default: equally)',
    "max_songs": 'per --data folder, load at most this many songs or windows, e.g. "0,1200" (0: all; bounds memory)',
    "stem_map": 'for <song>/<stem>.wav folders: file name patterns to stems, e.g. "gtr*=guitar,vox*=vocals"',
    "out": "run folder: last.pt (resumable), best.pt, log.jsonl",
    "init": "start from this model's weights with a fresh optimiser (ignored when OUT/last.pt exists)",
    "stereo": "read the stereo cues (a mono --init model is widened to them)",
    "val_data": "a make-data folder scored every --val-every steps; the best score is kept as best.pt",
    "steps": "stop at this step",
    "minutes": "stop (after saving) when this much wall time has passed; 0: no limit",
    "bf16": "bfloat16 autocast for the network (CPUs with AVX-512 BF16, GPUs)",
    "batch": "mixtures per step",
    "seconds": "length of each training mixture",
    "lofi": "share of training mixtures made band-limited or lo-fi (low-pass 3-8 kHz, 8-22 kHz resampling, mono), e.g. 0.25",
    "centre": "share of training mixtures with drums, bass and vocals centred, as records mix them (the other stems "
    "keep their random pans), e.g. 0.5",
    "freeze": 'keep these parts as they are and train the rest: "trunk" (the BLSTM: only the heads learn) '
    'or "trunk,embed" (only the class-mask head learns; blind splits stay exactly as they were)',
    "lr": "Adam learning rate",
    "warmup": "raise the learning rate linearly from 0 to --lr over this many steps from step 0 (a fine-tune from --init "
    "starts with a fresh Adam, whose first steps move every weight by about --lr whatever its gradient); 0: none",
    "decay_from": "from this step on, lower the learning rate along a half cosine to --lr × --lr-end at --steps (a run "
    "held at --lr can be resumed with a decay: raise --steps and set this to the step it stopped at); -1: hold --lr",
    "lr_end": "the learning rate at --steps, as a share of --lr, when --decay-from is set",
    "alpha": "weight of the deep-clustering loss; 1 - alpha goes to the mask head",
    "psa": "share of the mask head's loss scored phase-sensitively (negative SNR of each class's masked complex "
    "spectrum) rather than on band magnitudes, e.g. 0.5; 0: magnitudes only",
    "name_loss": "weight of a naming loss added to the mask head's: each class's power-weighted mean posterior over "
    "the bins it dominates should name it, as named mode names a cluster (separator.training.loss.naming_loss); 0: off",
    "dc_magnitude": "weight each active bin in the deep-clustering loss by its band's mixture magnitude to this power "
    "(1: magnitude-ratio weights, Wang et al. 2018), so the loud low bands count as much as in the stems' SI-SDR; 0: "
    "every active bin alike",
    "ema": "also keep an exponential moving average of the weights, moving this close to the trained ones each step "
    "(e.g. 0.998: about the last 500 steps); validation and best.pt then score and keep the average; 0: none",
    "hidden": "BLSTM units per direction (new models only)",
    "layers": "BLSTM layers (new models only)",
    "embed_dim": "embedding size D (new models only)",
    "dropout": "dropout between the BLSTM layers",
    "device": "auto, cpu or cuda",
    "seed": "seed of the mixtures drawn (each step draws from seed and step, so a resumed run draws new ones) and of a "
    "new network's first weights",
    "log_every": "log the mean losses every this many steps",
    "save_every": "write OUT/last.pt every this many steps",
    "val_every": "validate every this many steps",
    "val_songs": "songs of --val-data scored at each validation",
    "threads": "torch CPU threads; 0 leaves torch's default",
    "workers": "processes that draw the next batches while the network trains (0: drawn in the loop); on a GPU the "
    "draw is most of a step: give it a few cores (each batch is the same whatever this is)",
}


def targets(
    sources: torch.Tensor,
    labels: torch.Tensor,
    sample_rate: int,
    stereo: bool = False,
    powers: torch.Tensor | None = None,
    phase: bool = False,
) -> dict[str, torch.Tensor]:
    """Features and training targets for a batch of source sets.

    Args:
        sources: ``(batch, n_sources, channels, samples)`` waveforms; the mixture is their sum.
        labels: ``(batch, n_sources)`` class index of each source, or < 0 when unknown.
        stereo: also compute the mixture's stereo cues.
        powers: ``(batch, n_sources, frames, N_BANDS)`` each source's band power, when known
            (:meth:`StemBank.draw` with ``powers=True``): then only the mixture is transformed.
    Returns:
        ``feats (b, t, f)`` dB, ``cues (b, t, f, 3)`` (stereo only), ``mix (b, t, f)`` band
        magnitude, ``src (b, t, f, c)`` band magnitude per class, ``onehot (b, t, f, c + s)``
        dominant group (sources of one class form one group; each unnamed source its own),
        ``weights (b, t, f)`` 0/1 activity, ``energy (b, t, f)`` the mixture's power summed over each
        band's bins, and ``labelled (b, t, f)`` 1 in the bins whose loudest
        group is a class: only those train the mask head. That is every bin of an example whose
        sources all have a class, and the labelled sources' bins of a partly labelled one (a
        tracker window with named drums among unnamed instruments).
        With ``phase``, also what :func:`~separator.training.loss.phase_sensitive_loss` scores, each a sum
        over the band's bins and the channels: ``mix_sum (b, t, f)`` of ``|X|²``, and per class of its
        labelled sources ``S``, ``cross (b, t, f, c)`` of ``Re(S·X*)`` and ``src_sum (b, t, f, c)`` of
        ``|S|²``; and ``class_present (b, c)`` bool, the classes with an audible labelled source.
    """
    present = sources.flatten(2).abs().amax(-1) > 0  # (b, s)
    if powers is None:
        spec = stft(sources[present], sample_rate)  # (n_present, ch, bins, t): silent slots cost nothing
        power = torch.zeros(*present.shape, *spec.shape[-2:], device=sources.device)
        power[present] = (spec.real**2 + spec.imag**2).mean(1)
        index = present.nonzero()[:, 0]
        mix_spec = torch.zeros(len(sources), *spec.shape[1:], dtype=spec.dtype, device=spec.device).index_add_(0, index, spec)
        src_power = pool_bands(power).permute(0, 2, 3, 1)  # (b, t, f, s)
    else:
        mix_spec = stft(sources.sum(1), sample_rate)  # (b, ch, bins, t)
        src_power = powers.permute(0, 2, 3, 1)
    mix_power = band_power(mix_spec).mean(1)  # (b, t, f)
    feats = log_power(mix_power)
    peak = feats.flatten(1).max(dim=1).values[:, None, None]
    weights = (feats > peak - SILENCE_DB).float()
    # sources of one class are one source to the clustering (a kick and a snare are both "drums");
    # a source without a class is a group of its own
    n_classes, n_sources = len(CLASSES), sources.shape[1]
    group = torch.where(labels >= 0, labels, n_classes + torch.arange(n_sources, device=labels.device))
    to_group = torch.nn.functional.one_hot(group, n_classes + n_sources).float()  # (b, s, g)
    onehot = torch.nn.functional.one_hot((src_power @ to_group[:, None]).argmax(-1), n_classes + n_sources).float()
    to_class = to_group[..., :n_classes]
    labelled = onehot[..., :n_classes].sum(-1)
    out = {"feats": feats, "mix": mix_power.sqrt(), "src": (src_power @ to_class[:, None]).sqrt(), "onehot": onehot, "weights": weights}
    out["energy"] = mix_power * torch.from_numpy(bins_per_band(sample_rate)).to(mix_power)
    out["labelled"] = labelled
    if stereo:
        out["cues"] = spatial(mix_spec)
    if phase:
        out.update(_phase_targets(sources, present, to_class, mix_spec, mix_power, sample_rate))
    return out


def _phase_targets(
    sources: torch.Tensor,
    present: torch.Tensor,
    to_class: torch.Tensor,
    mix_spec: torch.Tensor,
    mix_power: torch.Tensor,
    sample_rate: int,
) -> dict[str, torch.Tensor]:
    """:func:`targets`' ``phase`` outputs. Only the classes an example has are transformed; the mixture's
    sums come from its band power ``mix_power (b, t, f)`` (the mean over each band's bins and the channels)."""
    audible = to_class * present[..., None].float()  # (b, s, c): labelled, audible sources
    class_present = audible.sum(1) > 0
    rows, classes = class_present.nonzero(as_tuple=True)
    waves = torch.einsum("bsc,bskn->bckn", audible, sources)[rows, classes]  # (n, ch, samples)
    spec = torch.view_as_real(stft(waves, sample_rate))  # (n, ch, bins, t, 2)
    mix = torch.view_as_real(mix_spec)
    counts = torch.from_numpy(bins_per_band(sample_rate)).to(sources.device).float()
    products = torch.empty(spec.shape[:-1], device=spec.device)  # (n, ch, bins, t): Re(S·X*) per channel
    examples, counts_per_example = torch.unique_consecutive(rows, return_counts=True)  # rows come sorted
    start = 0
    for b, n in zip(examples.tolist(), counts_per_example.tolist(), strict=True):
        part = slice(start, start + n)  # the classes of example b: views, one multiply against its mixture
        torch.addcmul(spec[part, ..., 0] * mix[b, ..., 0], spec[part, ..., 1], mix[b, ..., 1], out=products[part])
        start += n
    cross_n = pool_bands(sum_first(products.transpose(0, 1))) * counts  # (n, t, f)
    src_n = pool_bands(sum_first(bin_power(torch.view_as_complex(spec)).transpose(0, 1))) * counts
    shape = (*class_present.shape[:1], *cross_n.shape[1:], class_present.shape[1])  # (b, t, f, c)
    cross, src = cross_n.new_zeros(shape), cross_n.new_zeros(shape)
    cross[rows, :, :, classes], src[rows, :, :, classes] = cross_n, src_n
    mix_sum = mix_power * counts * mix_spec.shape[1]
    return {"mix_sum": mix_sum, "cross": cross, "src_sum": src, "class_present": class_present}


def batch_targets(batch: Batch, sample_rate: int, device: torch.device, stereo: bool, phase: bool = False) -> dict[str, torch.Tensor]:
    """:func:`targets` of a drawn :class:`~separator.training.data.mix.Batch`, on ``device``."""
    sources = torch.from_numpy(batch.sources).to(device)
    powers = None if batch.powers is None else torch.from_numpy(batch.powers).to(device)
    return targets(sources, torch.from_numpy(batch.labels).to(device), sample_rate, stereo, powers, phase)


def compute_loss(
    model: ChimeraNet,
    batch: dict[str, torch.Tensor],
    alpha: float,
    psa: float = 0.0,
    dc_magnitude: float = 0.0,
    name_loss: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``alpha · DC + (1 − alpha) · ((1 − psa) · MI + psa · PSA / 10) + name_loss · NAME`` for one batch; also
    returns the parts.

    NAME is :func:`~separator.training.loss.naming_loss` on the labelled classes' dominant bins.

    DC weighs the active bins alike, or by the mixture's magnitude to the power ``dc_magnitude``
    (:func:`~separator.training.loss.magnitude_weights`).

    PSA is :func:`~separator.training.loss.phase_sensitive_loss` in dB (a tenth of it is about MI's
    scale); ``batch`` needs :func:`targets`' ``phase`` outputs when ``psa > 0``."""
    embeddings, masks = model(batch["feats"], batch.get("cues"))
    embeddings, masks = embeddings.float(), masks.float()
    b = embeddings.shape[0]
    onehot = batch["onehot"]
    dc = deep_clustering_loss(
        embeddings.reshape(b, -1, model.embed_dim),
        onehot.reshape(b, -1, onehot.shape[-1]),
        magnitude_weights(batch["weights"], batch["energy"], dc_magnitude).reshape(b, -1),
    )
    mi_weights = batch["weights"] * batch["labelled"] if "labelled" in batch else batch["weights"]
    mi = mask_inference_loss(masks, batch["mix"], batch["src"], mi_weights)
    parts = {"dc": float(dc.detach()), "mi": float(mi.detach())}
    head = mi
    if psa > 0:
        ps = phase_sensitive_loss(masks, batch["mix_sum"], batch["cross"], batch["src_sum"], batch["class_present"])
        parts["psa"] = float(ps.detach())
        head = (1 - psa) * mi + psa * ps / 10
    loss = alpha * dc + (1 - alpha) * head
    if name_loss > 0:
        members = onehot[..., : masks.shape[-1]] * batch["weights"].unsqueeze(-1)
        named = naming_loss(masks, members, batch["mix"] ** 2)
        parts["name"] = float(named.detach())
        loss = loss + name_loss * named
    return loss, parts


def _feature_stats(bank: StemBank, samples: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-band mean and std of the dB features over a few hundred mixtures."""
    feats = batch_targets(bank.draw(rng, 256, samples), bank.sample_rate, torch.device("cpu"), False)["feats"]
    return feats.mean(dim=(0, 1)), feats.std(dim=(0, 1)).clamp(min=1.0)


def trainable(model: Network, path: Path) -> ChimeraNet:
    """The network to train from a loaded checkpoint: an ensemble's first member (the others are kept as they are)."""
    if isinstance(model, ChimeraEnsemble):
        log.info("%s is an ensemble of %d networks: training its first; `separator export` rebuilds the ensemble", path, len(model.members))
        first = model.members[0]
        assert isinstance(first, ChimeraNet)
        return first
    return model


def _start(
    cfg: TrainConfig, bank: StemBank, device: torch.device
) -> tuple[ChimeraNet, torch.optim.Optimizer, int, dict[str, torch.Tensor] | None]:
    """The model in ``OUT/last.pt`` with its optimiser, step and weight average (``--ema``; ``None`` when it
    holds none), or ``--init``'s weights, or a fresh model."""
    last = Path(cfg.out) / "last.pt"
    model = ChimeraNet(hidden=cfg.hidden, layers=cfg.layers, embed_dim=cfg.embed_dim, dropout=cfg.dropout, stereo=cfg.stereo)
    step = 0
    optimizer_state = average_state = None
    if last.exists():
        loaded, extra = load_checkpoint(last)
        model = trainable(loaded, last)
        step, optimizer_state, average_state = extra["step"], extra.get("optimizer"), extra.get("average")
    elif cfg.init:
        model = trainable(load_checkpoint(cfg.init)[0], Path(cfg.init))
        model = with_stereo_inputs(model) if cfg.stereo else model
        log.info("starting from %s (%s)", cfg.init, "stereo" if model.stereo else "mono")
    else:
        mean, std = _feature_stats(bank, int(cfg.seconds * bank.sample_rate), np.random.default_rng(cfg.seed))
        model.feat_mean.copy_(mean)
        model.feat_std.copy_(std)
    model.to(device)
    _train_mode(model, cfg.freeze)
    optimizer = torch.optim.Adam(freeze(model, cfg.freeze), lr=cfg.lr)
    if optimizer_state:
        optimizer.load_state_dict(optimizer_state)
        for group in optimizer.param_groups:  # a resumed run may lower the learning rate
            group["lr"] = cfg.lr
    return model, optimizer, step, average_state


FREEZABLE = ("trunk", "embed", "mask")


def frozen_parts(parts: str) -> list[str]:
    """The parts ``--freeze`` names, checked: each one of ``FREEZABLE``, and not all of them."""
    names = [p for p in parts.split(",") if p]
    unknown = sorted(set(names) - set(FREEZABLE))
    if unknown:
        raise TrainOptionError(f"--freeze {parts!r}: unknown part(s) {unknown}; choose from {', '.join(FREEZABLE)}")
    if set(FREEZABLE) <= set(names):
        raise TrainOptionError(f"--freeze {parts!r} leaves nothing to train")
    return names


def freeze(model: ChimeraNet, parts: str) -> list[torch.nn.Parameter]:
    """Stop the named parts of ``model`` learning; returns the parameters left to train.

    ``trunk`` is the BLSTM (kept in eval mode, so its dropout is off as at inference), ``embed``
    the embedding head and ``mask`` the class-mask head. No gradient flows into a frozen part.
    """
    modules = {"trunk": model.lstm, "embed": model.embed, "mask": model.mask}
    for name in frozen_parts(parts):
        modules[name].requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def _train_mode(model: ChimeraNet, frozen: str) -> None:
    """Training mode, except a frozen trunk, which keeps inference's behaviour (no dropout)."""
    model.train()
    if "trunk" in frozen.split(","):
        model.lstm.eval()


def _log(out: Path, record: dict[str, Any]) -> None:
    with open(out / "log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    log.info(json.dumps(record))


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) training; returns the path of the last checkpoint."""
    _check_options(cfg)
    device = resolve_device(cfg.device)
    if cfg.bf16 and device.type == "cpu" and not bfloat16_lstm():
        raise TrainOptionError(f"--bf16: {NO_BFLOAT16}; leave --bf16 out (float32)")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    bank = _bank(cfg, out)
    torch.manual_seed(cfg.seed)  # a new network's first weights and the dropout: a run is repeatable
    model, optimizer, step, average_state = _start(cfg, bank, device)
    average = _average(model, cfg.ema, average_state)
    samples = int(cfg.seconds * bank.sample_rate)
    running: dict[str, float] = {}
    tic = start = time.time()
    drawing = Drawing(cfg.seed, cfg.batch, samples, cfg.lofi, refresh_every=cfg.save_every, centre=cfg.centre)
    with contextlib.closing(batches(bank, drawing, step, cfg.workers)) as drawn_batches:  # closing stops the workers
        while step < cfg.steps:
            drawn_step, drawn = next(drawn_batches)
            assert drawn_step == step, (drawn_step, step)
            batch = batch_targets(drawn, bank.sample_rate, device, model.stereo, phase=cfg.psa > 0)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                loss, parts = compute_loss(model, batch, cfg.alpha, cfg.psa, cfg.dc_magnitude, cfg.name_loss)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 5.0)
            for group in optimizer.param_groups:
                group["lr"] = decayed_lr(warmup_lr(cfg.lr, cfg.warmup, step), cfg, step)
            optimizer.step()
            if average is not None:
                update_average(average, model, cfg.ema)
            step += 1
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                running[k] = running.get(k, 0.0) + v / cfg.log_every
            if step % cfg.log_every == 0:
                _log(out, {"step": step, **running, "songs": len(bank), "sec_per_step": (time.time() - tic) / cfg.log_every})
                running, tic = {}, time.time()
            out_of_time = bool(cfg.minutes) and time.time() - start > 60 * cfg.minutes
            if step % cfg.save_every == 0 or step == cfg.steps or out_of_time:
                extra = {"step": step, "optimizer": optimizer.state_dict(), "config": asdict(cfg)}
                if average is not None:
                    extra["average"] = average.state_dict()
                save_checkpoint(model, out / "last.pt", extra)
                if cfg.workers == 0:  # workers refresh their own copies
                    bank.refresh()
            if cfg.val_data and (step % cfg.val_every == 0 or step == cfg.steps):
                _validate(model if average is None else average, cfg, out, step)
            if out_of_time:
                log.info("stopping at step %d: --minutes %g reached", step, cfg.minutes)
                break
    return out / "last.pt"


def _average(model: ChimeraNet, ema: float, saved: dict[str, torch.Tensor] | None) -> ChimeraNet | None:
    """The moving average of ``--ema``: resumed from ``saved`` (``last.pt``'s), or starting at the model's weights."""
    if ema <= 0:
        return None
    average = copy.deepcopy(model).requires_grad_(False).eval()
    if saved is not None:
        average.load_state_dict(saved)
    return average


@torch.no_grad()
def update_average(average: ChimeraNet, model: ChimeraNet, decay: float) -> None:
    """``average ← decay · average + (1 − decay) · model``, weight by weight (buffers are copied).

    Late in a run the weights wander around a plateau, and checkpoints a few hundred steps apart differ by
    tenths of a dB; their average sits nearer the middle (Polyak averaging)."""
    torch._foreach_lerp_(list(average.parameters()), list(model.parameters()), 1 - decay)
    for mine, theirs in zip(average.buffers(), model.buffers(), strict=True):
        mine.copy_(theirs)


def warmup_lr(lr: float, warmup: int, step: int) -> float:
    """The learning rate of the update made at ``step`` (0-based): ``lr · (step + 1) / warmup`` during the first
    ``warmup`` steps, then ``lr``. A run resumed inside the warm-up goes on with it."""
    return lr if warmup <= 0 else lr * min(1.0, (step + 1) / warmup)


def _check_options(cfg: TrainConfig) -> None:
    """Fail before any data loads when options cannot work together."""
    frozen_parts(cfg.freeze)
    if cfg.decay_from >= cfg.steps:
        raise TrainOptionError(f"--decay-from {cfg.decay_from} is not before --steps {cfg.steps}: the learning rate would never fall")
    if not 0.0 <= cfg.lr_end <= 1.0:
        raise TrainOptionError(f"--lr-end {cfg.lr_end} is a share of --lr: give a number from 0 to 1")
    for flag, share in (("--lofi", cfg.lofi), ("--centre", cfg.centre)):
        if not 0.0 <= share <= 1.0:
            raise TrainOptionError(f"{flag} {share} is a share of the training mixtures: give a number from 0 to 1")


def decayed_lr(lr: float, cfg: TrainConfig, step: int) -> float:
    """``lr`` at the update made at ``step`` (0-based) under ``--decay-from``: held before that step, then along a
    half cosine from ``lr`` to ``lr · lr_end`` at ``cfg.steps`` (SGDR's annealing without restarts)."""
    if cfg.decay_from < 0 or step < cfg.decay_from:
        return lr
    span = max(1, cfg.steps - cfg.decay_from)
    progress = min(1.0, (step - cfg.decay_from) / span)
    return lr * (cfg.lr_end + (1 - cfg.lr_end) * 0.5 * (1 + math.cos(math.pi * progress)))


def _bank(cfg: TrainConfig, out: Path) -> StemBank:
    """The training sources: each ``--data`` folder as shards (multitrack layouts are cut into shards once)."""
    from separator.training.data.multitrack import prepare_training_data

    folders = [str(prepare_training_data(d, cfg.stem_map or None, out / "data-cache")) for d in cfg.data.split(",") if d]
    weights = [float(w) for w in cfg.data_weights.split(",")] if cfg.data_weights else None
    caps = [int(n) or None for n in cfg.max_songs.split(",")] if cfg.max_songs else None
    return StemBank(folders, weights, max_songs=caps)


def _validate(model: ChimeraNet, cfg: TrainConfig, out: Path, step: int) -> None:
    """Log validation SI-SDR improvements and keep the best model as ``best.pt``."""
    from separator.separate import Separator
    from separator.training.evaluate import evaluate_model

    model.eval()
    try:
        separator = Separator(
            model, next(model.parameters()).device, threads=measuring_threads(cfg.threads or None), **VALIDATION_INFERENCE
        )
        scores = evaluate_model(separator, cfg.val_data or "", max_songs=cfg.val_songs, oracle=False)
    finally:
        _train_mode(model, cfg.freeze)
    _log(out, {"step": step, "val": scores})
    score = (scores["named"]["mean"] + scores["blind"]["mean"]) / 2
    best_file = out / "best.json"
    best = json.loads(best_file.read_text())["score"] if best_file.exists() else -1e9
    if score > best:
        save_checkpoint(model, out / "best.pt", {"step": step, "val": scores, "config": asdict(cfg)})
        best_file.write_text(json.dumps({"score": score, "step": step, "val": scores}))
