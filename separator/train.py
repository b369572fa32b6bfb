"""Train the chimera deep-clustering network on stems made by ``separator make-data``.

Resumable: ``OUT/last.pt`` holds the model, the optimiser and the step; a run
with the same ``OUT`` continues from it. ``OUT/log.jsonl`` gets one line per
log interval (loss) and per validation (SI-SDR improvement per mode).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from separator.classes import CLASSES
from separator.data.mix import StemBank
from separator.devices import resolve_device
from separator.features import band_power, log_power, stft
from separator.loss import deep_clustering_loss, mask_inference_loss
from separator.model import ChimeraNet, load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)
SILENCE_DB = 40.0  # bins this far under the mixture's loudest bin are left out of the loss


@dataclass
class TrainConfig:
    """Every setting of a run; saved in each checkpoint."""

    data: str = "data/train"
    out: str = "runs/default"
    val_data: str | None = None
    steps: int = 20000
    batch: int = 8
    seconds: float = 3.0
    lr: float = 1e-3
    alpha: float = 0.5  # weight of the deep-clustering loss; 1 - alpha for the mask head
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
    threads: int = 0  # torch CPU threads; 0 leaves torch's default


def targets(sources: torch.Tensor, sample_rate: int) -> dict[str, torch.Tensor]:
    """Features and training targets for a batch of source sets.

    Args:
        sources: ``(batch, n_classes, samples)`` waveforms; the mixture is their sum.
    Returns:
        ``feats (b, t, f)`` dB, ``mix (b, t, f)`` and ``src (b, t, f, c)`` band magnitudes,
        ``onehot (b, t, f, c)`` dominant class, ``weights (b, t, f)`` 0/1 activity.
    """
    mixture = sources.sum(1)
    mix_power = band_power(stft(mixture, sample_rate))  # (b, t, f)
    src_power = band_power(stft(sources, sample_rate)).permute(0, 2, 3, 1)  # (b, t, f, c)
    feats = log_power(mix_power)
    peak = feats.flatten(1).max(dim=1).values[:, None, None]
    weights = (feats > peak - SILENCE_DB).float()
    onehot = torch.nn.functional.one_hot(src_power.argmax(-1), len(CLASSES)).float()
    return {"feats": feats, "mix": mix_power.sqrt(), "src": src_power.sqrt(), "onehot": onehot, "weights": weights}


def compute_loss(model: ChimeraNet, batch: dict[str, torch.Tensor], alpha: float) -> tuple[torch.Tensor, dict[str, float]]:
    """``alpha · DC + (1 − alpha) · MI`` for one batch; also returns both parts."""
    embeddings, masks = model(batch["feats"])
    b = embeddings.shape[0]
    dc = deep_clustering_loss(
        embeddings.reshape(b, -1, model.embed_dim), batch["onehot"].reshape(b, -1, len(CLASSES)), batch["weights"].reshape(b, -1)
    )
    mi = mask_inference_loss(masks, batch["mix"], batch["src"], batch["weights"])
    return alpha * dc + (1 - alpha) * mi, {"dc": float(dc.detach()), "mi": float(mi.detach())}


def _feature_stats(bank: StemBank, samples: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-band mean and std of the dB features over a few hundred mixtures."""
    feats = targets(torch.from_numpy(bank.draw(rng, 256, samples)), bank.sample_rate)["feats"]
    return feats.mean(dim=(0, 1)), feats.std(dim=(0, 1)).clamp(min=1.0)


def _start(cfg: TrainConfig, bank: StemBank, device: torch.device) -> tuple[ChimeraNet, torch.optim.Optimizer, int]:
    """A fresh model, or the one in ``OUT/last.pt`` with its optimiser and step."""
    last = Path(cfg.out) / "last.pt"
    model = ChimeraNet(hidden=cfg.hidden, layers=cfg.layers, embed_dim=cfg.embed_dim, dropout=cfg.dropout)
    step = 0
    optimizer_state = None
    if last.exists():
        model, extra = load_checkpoint(last)
        step, optimizer_state = extra["step"], extra.get("optimizer")
    else:
        mean, std = _feature_stats(bank, int(cfg.seconds * bank.sample_rate), np.random.default_rng(cfg.seed))
        model.feat_mean.copy_(mean)
        model.feat_std.copy_(std)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if optimizer_state:
        optimizer.load_state_dict(optimizer_state)
        for group in optimizer.param_groups:  # a resumed run may lower the learning rate
            group["lr"] = cfg.lr
    return model, optimizer, step


def _log(out: Path, record: dict[str, Any]) -> None:
    with open(out / "log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    log.info(json.dumps(record))


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) training; returns the path of the last checkpoint."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    bank = StemBank(cfg.data)
    model, optimizer, step = _start(cfg, bank, device)
    samples = int(cfg.seconds * bank.sample_rate)
    running: dict[str, float] = {}
    tic = time.time()
    while step < cfg.steps:
        rng = np.random.default_rng([cfg.seed, step])
        sources = torch.from_numpy(bank.draw(rng, cfg.batch, samples)).to(device)
        loss, parts = compute_loss(model, targets(sources, bank.sample_rate), cfg.alpha)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        step += 1
        for k, v in {"loss": float(loss.detach()), **parts}.items():
            running[k] = running.get(k, 0.0) + v / cfg.log_every
        if step % cfg.log_every == 0:
            _log(out, {"step": step, **running, "songs": len(bank), "sec_per_step": (time.time() - tic) / cfg.log_every})
            running, tic = {}, time.time()
        if step % cfg.save_every == 0 or step == cfg.steps:
            extra = {"step": step, "optimizer": optimizer.state_dict(), "config": asdict(cfg)}
            save_checkpoint(model, out / "last.pt", extra)
            bank.refresh()
        if cfg.val_data and (step % cfg.val_every == 0 or step == cfg.steps):
            _validate(model, cfg, out, step)
    return out / "last.pt"


def _validate(model: ChimeraNet, cfg: TrainConfig, out: Path, step: int) -> None:
    """Log validation SI-SDR improvements and keep the best model as ``best.pt``."""
    from separator.evaluate import evaluate_model

    model.eval()
    try:
        scores = evaluate_model(model, cfg.val_data or "", max_songs=cfg.val_songs, oracle=False)
    finally:
        model.train()
    _log(out, {"step": step, "val": scores})
    score = (scores["named"]["mean"] + scores["blind"]["mean"]) / 2
    best_file = out / "best.json"
    best = json.loads(best_file.read_text())["score"] if best_file.exists() else -1e9
    if score > best:
        save_checkpoint(model, out / "best.pt", {"step": step, "val": scores, "config": asdict(cfg)})
        best_file.write_text(json.dumps({"score": score, "step": step, "val": scores}))
