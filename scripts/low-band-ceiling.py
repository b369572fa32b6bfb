"""How many dB a perfect low-band split between two stems would add: a ceiling, to choose levers by.

Each song of an evaluation folder is split in named mode (the shipped model or ``--model``). Then, for
each pair of stems, the two stems' STFTs are added below ``--cutoff`` Hz and shared out again in the
true ratio of the two sources' power there (an oracle), everything else left as the split made it.
The named SI-SDR improvement per stem is printed before and after, for each pair. A pair whose ceiling
is high is a confusion worth a lever (a kick's body in the bass, a voice's fundamental in the bass); one
whose ceiling is low is not, however wrong it sounds. With ``--confusion`` it also prints where each true
stem's energy goes in the mix: the share of its band power each named stem's band mask takes (before
the per-bin percussive and pan steps), mean over songs.

    python scripts/low-band-ceiling.py --data data/tune-out --max-songs 32
    python scripts/low-band-ceiling.py --data data/tune-out --pairs drums,bass bass,vocals --cutoff 300

On 2026-12-05 (model card, "2026-12-05, sixth") the shipped model's named 6.9 dB on the tuning split rose
to 8.1 with drums and bass re-divided below 300 Hz and to 7.8 with bass and vocals.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from separator import Separator
from separator.classes import CLASSES
from separator.features import band_power, bin_power, istft, stft, stft_size
from separator.training.evaluate import iter_songs
from separator.training.metrics import si_sdr_improvement


def redivide(
    stems: dict[str, np.ndarray], refs: dict[str, np.ndarray], pair: tuple[str, str], cutoff_hz: float, rate: int
) -> dict[str, np.ndarray]:
    """``stems`` with the bins of ``pair`` under ``cutoff_hz`` shared in the true ratio of ``refs``' power.

    Args:
        stems, refs: ``{name: (channels, samples)}``; ``refs`` holds the pair's true sources.
    Returns:
        a copy of ``stems``; unchanged when the song lacks either source of the pair.
    """
    a, b = pair
    if a not in refs or b not in refs:
        return stems
    n_fft, _ = stft_size(rate)
    low = int(cutoff_hz * n_fft / rate)
    spec_a, spec_b = (stft(torch.from_numpy(stems[name]), rate) for name in pair)
    power_a, power_b = (bin_power(stft(torch.from_numpy(refs[name]), rate)).sum(0) for name in pair)  # (bins, t)
    share = torch.where(power_a + power_b > 0, power_a / (power_a + power_b).clamp(min=1e-20), torch.full_like(power_a, 0.5))
    total = spec_a[:, :low] + spec_b[:, :low]
    spec_a[:, :low], spec_b[:, :low] = total * share[:low], total * (1 - share[:low])
    length = stems[a].shape[-1]
    return {**stems, a: istft(spec_a, rate, length).numpy(), b: istft(spec_b, rate, length).numpy()}


def energy_shares(sep: Separator, mix: np.ndarray, refs: dict[str, np.ndarray], rate: int) -> dict[str, np.ndarray]:
    """``{true stem: (n_classes,) share of its band power each named stem's band mask takes}`` in ``mix``."""
    names, masks = sep.masks(mix, rate)  # (n_stems, t, bands)
    order = [names.index(c) for c in CLASSES]
    shares = {}
    for name, ref in refs.items():
        power = band_power(stft(torch.from_numpy(ref), rate)).mean(0).numpy()  # (t, bands)
        t = min(len(power), masks.shape[1])
        shares[name] = (masks[order, :t] * power[None, :t]).sum((1, 2)) / max(float(power[:t].sum()), 1e-30)
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="an evaluation folder (make-data shards or multitracks)")
    parser.add_argument("--max-songs", type=int, default=32)
    parser.add_argument("--skip-songs", type=int, default=0)
    parser.add_argument("--model", default=None, help="a checkpoint (default: the shipped model)")
    parser.add_argument("--cutoff", type=float, default=300.0, help="Hz: the pair is re-divided below this")
    parser.add_argument("--pairs", nargs="+", default=["drums,bass", "bass,vocals"], help="stem pairs, e.g. drums,bass")
    parser.add_argument("--confusion", action="store_true", help="also print where each true stem's energy goes in the mix")
    args = parser.parse_args()
    pairs = [tuple(p.split(",")) for p in args.pairs]
    for pair in pairs:
        if len(pair) != 2 or not set(pair) <= set(CLASSES):
            parser.error(f"--pairs: {','.join(pair)!r} is not two of {', '.join(CLASSES)}")
    sep = Separator.from_pretrained(args.model)
    rows: dict[str, dict[str, list[float]]] = {"as split": {c: [] for c in CLASSES}}
    rows.update({",".join(p): {c: [] for c in CLASSES} for p in pairs})
    confusion: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    for sources, labels, rate in iter_songs(args.data, args.max_songs, args.skip_songs):
        names = [CLASSES[c] for c in labels]
        refs = {n: s for n, s in zip(names, sources, strict=True) if names.count(n) == 1}
        mix = sources.sum(0)
        stems = sep.separate(mix, rate)
        for row, pair in [("as split", None), *((",".join(p), p) for p in pairs)]:
            out = stems if pair is None else redivide(stems, refs, pair, args.cutoff, rate)  # type: ignore[arg-type]
            for name, ref in refs.items():
                rows[row][name].append(si_sdr_improvement(out[name], ref, mix))
        if args.confusion:
            for name, share in energy_shares(sep, mix, refs, rate).items():
                confusion[name].append(share)
    print(f"named SI-SDRi (dB) on {args.data}, {args.max_songs} songs; pairs re-divided below {args.cutoff:g} Hz")
    print(f"{'':12}{'mean':>7}" + "".join(f"{c:>8}" for c in CLASSES))
    for row, scores in rows.items():
        means = [float(np.mean(v)) if v else float("nan") for v in scores.values()]
        print(f"{row:12}{np.nanmean(means):7.2f}" + "".join(f"{m:8.2f}" for m in means))
    if args.confusion:
        print("share of each true stem's band power (rows) each named stem's mask takes (columns), mean over songs")
        print(f"{'':12}{'songs':>7}" + "".join(f"{c:>8}" for c in CLASSES))
        for name, shares in confusion.items():
            if shares:
                print(f"{name:12}{len(shares):7d}" + "".join(f"{v:8.2f}" for v in np.mean(shares, 0)))


if __name__ == "__main__":
    main()
