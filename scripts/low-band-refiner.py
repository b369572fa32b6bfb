"""Extract, train and score low-band refiners (``separator.lowband``; issue 18, item 5).

Under about 500 Hz each STFT bin (21.5 Hz) is its own mel band, and re-dividing drums and bass there in
their true ratio gains more than 1 dB of named-mode SI-SDR (``scripts/low-band-ceiling.py``). A refiner
learns part of that re-division from what the split already knows: the "enhancement network" after deep
clustering (Isik et al., Interspeech 2016), kept to the 24 lowest bins (``separator.lowband``).

    python scripts/low-band-refiner.py extract --data data/lb-train --skip-songs 0 --max-songs 200 --seed 1 --out s1.npz
    python scripts/low-band-refiner.py train --out refiner.pt --kind 2d --hidden 24 --steps 1500 s1.npz s2.npz s3.npz
    python scripts/low-band-refiner.py score --data data/tune-out --max-songs 32 --refiner refiner.pt

``extract`` splits every song (refiner off) twice, as made and with random stem gains of −9…+3 dB, and
keeps the low bins of the mixture's STFT, of each class's true STFT and of the split's masks (a band-limited
song, which the split does not refine, is left out); ``train``
minimises each class's complex error in those bins over its own energy (a song's two versions are held
out together) and, for ``--kind 2d`` (the shipped kind: the same weights at every bin), writes what
``separator.lowband.load_refiner`` reads; ``--kind 1d`` (each bin its own weights) is kept for the
comparison. ``score`` prints the named SI-SDR improvement and the karaoke accompaniment's with the given
refiner (or none) in place of the shipped one. Both split with the shipped network, or with ``--model
CHECKPOINT``: a refiner learns one network's masks, so a new network needs its own (model card,
"2026-12-06, sixteenth"). Results (model card, "2026-12-06, ninth"): the 2-D refiner
gained 0.11 and 0.04 dB named on the two tuning splits and the 1-D one lost 0.17 and 0.04; shipped, the
2-D one gains 0.11 dB on the leave-out set and 0.58 on real tracker songs. Retrained with other seeds the
same recipe scores anywhere from 0.1 dB under no refiner to the shipped one's gain (model card, "2026-12-06,
eleventh"): its held-out error, on songs of the sounds the network learnt, hardly tells them apart, so write
every validation's weights (``--keep-steps``) and choose with ``score`` on the tuning splits.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

from separator import Separator
from separator.classes import CLASSES
from separator.features import stft
from separator.lowband import (
    MASK_FLOOR,
    N_CONTEXT,
    N_LOW,
    LowBandRefiner,
    load_refiner,
    pad_bins,
    save_refiner,
    zero_init,
)
from separator.resplit import NO_SECOND_HEARINGS
from separator.training.evaluate import iter_songs
from separator.training.metrics import si_sdr_improvement


class Refiner1D(nn.Module):
    """Dilated temporal convolutions over all of :func:`low_inputs` at once (each bin its own weights)."""

    def __init__(self, n_classes: int = 5, hidden: int = 48, kernel: int = 9, dilations: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.inp = nn.Conv1d(N_LOW + N_CONTEXT + n_classes * N_LOW, hidden, 1)
        self.blocks = nn.ModuleList(nn.Conv1d(hidden, hidden, kernel, dilation=d, padding=d * (kernel - 1) // 2) for d in dilations)
        self.out = nn.Conv1d(hidden, n_classes * N_LOW, 1)
        zero_init(self.out)

    def forward(self, inputs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """``inputs (batch, n_in, frames)``, ``masks (batch, n_classes, N_LOW, frames)`` → refined masks, same shape."""
        h = torch.relu(self.inp(inputs))
        for block in self.blocks:
            h = h + torch.relu(block(h))
        return torch.softmax(masks.clamp(min=MASK_FLOOR).log() + self.out(h).reshape(masks.shape), dim=1)


def make_refiner(kind: str, hidden: int) -> nn.Module:
    """A fresh (identity) refiner: ``"2d"`` the shipped kind (:class:`separator.lowband.LowBandRefiner`,
    the same weights at every bin), ``"1d"`` each bin with its own weights."""
    return Refiner1D(hidden=hidden) if kind == "1d" else LowBandRefiner(hidden=hidden)


def load_any(path: str) -> nn.Module:
    """A refiner ``train`` wrote, of either kind."""
    blob = torch.load(path, weights_only=True)
    if blob.get("class") == LowBandRefiner.__name__:
        return load_refiner(path)
    refiner = Refiner1D(hidden=blob["hidden"])
    refiner.load_state_dict(blob["state"])
    return refiner.eval()


class Recorder(nn.Module):
    """Stands in for the split's refiner: keeps what the split hands one, ``(inputs (n_in, frames), masks
    (n_classes, N_LOW, frames))`` per segment, and changes nothing."""

    n_classes = len(CLASSES)

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # where the split finds the refiner's device
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, inputs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        self.seen.append((inputs[0].clone(), masks[0].clone()))
        return masks


def splitter(refiner: nn.Module | None, resplit: bool = True, model: str | None = None) -> Separator:
    """The shipped model (or the checkpoint ``model``) on one thread with ``refiner`` in place of its own
    (``None``: no refiner); without ``resplit``, named mode's second hearings of the bass and the drums
    (:mod:`separator.resplit`) are off."""
    sep = Separator.from_pretrained(model, threads=1)
    settings = sep.settings.replace(low_band=0.0 if refiner is None else 1.0)
    if not resplit:
        settings = settings.replace(**NO_SECOND_HEARINGS)
    return Separator(sep.model, sep.device, settings, threads=1, low_band_refiner=refiner)  # type: ignore[arg-type]


def extract(args: argparse.Namespace) -> None:
    """Split each song as made and remixed; keep the low bins of mixture, true classes and masks."""
    recorder = Recorder()
    # the masks before any refiner, of the mix only (not its bass or drums heard again)
    sep = splitter(recorder, resplit=False, model=args.model)
    rng = np.random.default_rng(args.seed)
    keep: dict[str, list[np.ndarray]] = {"inputs": [], "masks": [], "mix": [], "target": []}
    skipped = 0
    for refs, labels, rate in iter_songs(args.data, args.max_songs, args.skip_songs):
        if len(refs) < 2:
            continue
        versions = [_version(sep, recorder, refs, labels, rate, rng if v else None, args.data) for v in range(2)]
        if any(v is None for v in versions):  # band-limited: the split does not refine it (separator.lowband)
            skipped += 1
            continue
        for version in versions:
            assert version is not None
            for key, value in zip(("inputs", "masks", "mix", "target"), version, strict=True):
                keep[key].append(value)
    lengths = np.array([a.shape[-1] for a in keep["inputs"]])
    np.savez(args.out, lengths=lengths, **{k: np.concatenate(v, axis=-1) for k, v in keep.items()})  # type: ignore[arg-type]
    print(f"{len(lengths) // 2} songs, {lengths.sum()} frames → {args.out}; {skipped} band-limited songs left out")


def _version(
    sep: Separator, recorder: Recorder, refs: np.ndarray, labels: np.ndarray, rate: int, rng: np.random.Generator | None, data: str
) -> tuple[np.ndarray, ...] | None:
    """One split of a song, as made (``rng`` None) or with random stem gains of −9…+3 dB: ``(inputs, masks,
    low bins of the mixture's STFT, of each class's true STFT)``, or None where the split did not refine."""
    gains = np.ones(len(refs)) if rng is None else 10 ** (rng.uniform(-9, 3, len(refs)) / 20)
    sources = refs * gains[:, None, None].astype(np.float32)
    mix = sources.sum(0)
    recorder.seen.clear()
    sep.separate(mix, rate)
    if not recorder.seen:
        return None
    spec = stft(torch.from_numpy(mix), rate)
    if len(recorder.seen) != 1 or recorder.seen[0][0].shape[-1] != spec.shape[-1]:
        raise SystemExit(f"{data}: songs longer than one segment are not supported here")
    inputs, masks = recorder.seen[0]
    target = torch.zeros((len(CLASSES), *spec.shape), dtype=spec.dtype)
    for source, label in zip(sources, labels, strict=True):
        target[label] += stft(torch.from_numpy(source), rate)
    return inputs.half().numpy(), masks.half().numpy(), pad_bins(spec).numpy(), pad_bins(target).numpy()


Example = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load_examples(paths: list[str]) -> list[Example]:
    """Every split of :func:`extract`'s files as ``(inputs, masks, mix, target)``, in order (two per song)."""
    examples = []
    for path in paths:
        with np.load(path) as file:
            data = {k: file[k] for k in file.files}
        starts = np.concatenate([[0], np.cumsum(data["lengths"])[:-1]])
        for s, n in zip(starts, data["lengths"], strict=True):
            inputs, masks, mix, target = (data[k][..., s : s + n] for k in ("inputs", "masks", "mix", "target"))
            examples.append((inputs.astype(np.float32), masks.astype(np.float32), mix, target))
    return examples


def class_error(refiner: nn.Module, inputs: torch.Tensor, masks: torch.Tensor, mix: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over songs and classes of the complex low-bin error over the class's energy (plus 5 % of the
    mixture's, so an absent class's leak counts without dividing by zero)."""
    estimate = refiner(inputs, masks)[:, :, None] * mix[:, None]  # (batch, classes, channels, N_LOW, frames)
    error = (estimate - target).abs().pow(2).sum((2, 3, 4))
    energy = target.abs().pow(2).sum((2, 3, 4))
    return (error / (energy + 0.05 * mix.abs().pow(2).sum((1, 2, 3))[:, None] + 1e-8)).mean()


def stack(examples: list[Example], frames: int, rng: np.random.Generator | None) -> tuple[torch.Tensor, ...]:
    """A batch of ``frames``-long windows (random offsets with ``rng``, else from the start)."""
    cut = []
    for example in examples:
        n = example[0].shape[-1]
        start = int(rng.integers(0, n - frames + 1)) if rng is not None and n > frames else 0
        cut.append([a[..., start : start + frames] for a in example])
    return tuple(torch.from_numpy(np.stack(parts)) for parts in zip(*cut, strict=True))


def train(args: argparse.Namespace) -> None:
    """Fit a refiner; keep the weights of its best validation (songs held out with both their versions)."""
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    examples = load_examples(args.files)
    songs = rng.permutation(len(examples) // 2)
    n_val = max(4, len(songs) // 10)
    val = [examples[2 * s + v] for s in songs[:n_val] for v in range(2)]
    fit = [examples[2 * s + v] for s in songs[n_val:] for v in range(2)]
    refiner = make_refiner(args.kind, args.hidden)
    opt = torch.optim.AdamW(refiner.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps) if args.cosine else None
    held = stack(val, min(e[0].shape[-1] for e in val), None)
    with torch.no_grad():
        identity = best = float(class_error(refiner, *held))
    print(f"{len(fit)} splits to fit, {len(val)} held out; held-out error at identity {identity:.4f}")
    for step in range(1, args.steps + 1):
        loss = class_error(refiner, *stack([fit[i] for i in rng.integers(0, len(fit), args.batch)], args.frames, rng))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(refiner.parameters(), 5.0)
        opt.step()
        if cosine is not None:
            cosine.step()
        if step % 250 == 0:
            with torch.no_grad():
                error = float(class_error(refiner, *held))
            print(f"step {step}: fit {loss.item():.4f}, held out {error:.4f} ({error / identity:.3f} of identity)")
            if args.keep_steps and isinstance(refiner, LowBandRefiner):  # to choose by `score` on sounds not trained on
                save_refiner(refiner, args.out.removesuffix(".pt") + f".step{step}.pt", {"step": step, "files": args.files})
            if error < best:
                best = error
                if isinstance(refiner, LowBandRefiner):
                    save_refiner(refiner, args.out, {"step": step, "held_out_error": error / identity, "files": args.files})
                else:
                    torch.save({"kind": args.kind, "hidden": args.hidden, "state": refiner.state_dict(), "step": step}, args.out)
    print(f"best held-out error {best / identity:.3f} of identity" + ("" if best < identity else "; nothing saved"))


def score(args: argparse.Namespace) -> None:
    """Named SI-SDRi per stem and the karaoke accompaniment's, with the refiner (or none) in the split."""
    sep = splitter(load_any(args.refiner) if args.refiner else None, model=args.model)  # this refiner, or none, instead of the shipped one
    named: dict[str, list[float]] = {c: [] for c in CLASSES}
    karaoke = []
    for refs, labels, rate in iter_songs(args.data, args.max_songs, args.skip_songs):
        names = [CLASSES[c] for c in labels]
        mix = refs.sum(0)
        stems = sep.separate(mix, rate)
        for name, ref in zip(names, refs, strict=True):
            if names.count(name) == 1 and len(refs) > 1:
                named[name].append(si_sdr_improvement(stems[name], ref, mix))
        if names.count("vocals") == 1 and len(refs) > 1:
            accompaniment = sep.separate(mix, rate, stems=["vocals"])["other"]
            karaoke.append(si_sdr_improvement(accompaniment, mix - refs[names.index("vocals")], mix))
    every = [v for values in named.values() for v in values]
    per_stem = " ".join(f"{c} {np.mean(v):.2f}" for c, v in named.items() if v)
    print(f"{args.data} refiner {args.refiner or 'none'}: named {np.mean(every):.2f} ({per_stem}), karaoke {np.mean(karaoke):.2f}")


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``extract``, ``train`` and ``score``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("extract", "score"):
        sub = commands.add_parser(name)
        sub.add_argument("--data", required=True, help="a make-data folder (4-s songs)")
        sub.add_argument("--max-songs", type=int, default=32)
        sub.add_argument("--skip-songs", type=int, default=0)
        sub.add_argument(
            "--model", default=None, help="the network's checkpoint (default: the shipped model); a new network needs its own refiner"
        )
    commands.choices["extract"].add_argument("--out", required=True, help=".npz file to write")
    commands.choices["extract"].add_argument("--seed", type=int, default=0, help="the remixes' gains")
    commands.choices["score"].add_argument("--refiner", default=None, help="weights from train (none: the split as shipped)")
    fit = commands.add_parser("train")
    fit.add_argument("files", nargs="+", help="extract's .npz files")
    fit.add_argument("--out", required=True)
    fit.add_argument("--kind", choices=("1d", "2d"), default="2d", help="2d: the shipped kind, the same weights at every bin")
    fit.add_argument("--hidden", type=int, default=24, help="channels (the shipped refiner: 24)")
    fit.add_argument("--steps", type=int, default=1500)
    fit.add_argument("--batch", type=int, default=16)
    fit.add_argument("--frames", type=int, default=256)
    fit.add_argument("--lr", type=float, default=1e-3)
    fit.add_argument("--weight-decay", type=float, default=0.1)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--keep-steps", action="store_true", help="also write OUT.stepN.pt at every validation")
    fit.add_argument("--cosine", action="store_true", help="the learning rate decays to 0 over --steps (a cosine)")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    {"extract": extract, "train": train, "score": score}[args.command](args)


if __name__ == "__main__":
    main()
