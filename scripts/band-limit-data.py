"""A band-limited copy of a data folder (shard-*.npz of make-data or tracker-data): every stem through
the same low-pass / resampling / mono, so the stems still sum to the mix. For measuring how a model
does on old records, phone recordings and low-rate files (issue 18, item 5).

    python scripts/band-limit-data.py data/val-out data/val-out-lp3800 --lowpass 3800
    python scripts/band-limit-data.py data/val-out data/val-out-8k-mono --rate 8000 --mono

``--lowpass 3800`` is a 4th-order Butterworth (like ``sox lowpass 3800 lowpass 3800``, two 2-pole
filters in a row).
"""

from __future__ import annotations

import argparse

import numpy as np

from separator.training.data.lofi import LofiSettings, band_limit
from separator.training.data.make import copy_changed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--lowpass", type=float, default=0.0, help="cutoff in Hz (0: none)")
    p.add_argument("--order", type=int, default=4)
    p.add_argument("--rate", type=int, default=0, help="resample down to this rate and back (0: none)")
    p.add_argument("--mono", action="store_true")
    args = p.parse_args()
    ops = [name for name, on in (("lowpass", args.lowpass), ("resample", args.rate), ("mono", args.mono)) if on]
    settings = LofiSettings(lowpass_hz=args.lowpass or None, order=args.order, rate_hz=args.rate or None, mono=args.mono, ops=ops)

    def limited(data: dict[str, np.ndarray]) -> np.ndarray:
        stems, sr = data["stems"], int(data["sample_rate"])
        new = np.zeros_like(stems)
        for i in range(len(stems)):
            song = stems[i].astype(np.float32)
            if song.ndim == 2:  # mono layout (slots, samples)
                song = np.repeat(song[:, None], 2, axis=1)
            done = band_limit(song, sr, settings)
            new[i] = (done if stems.ndim == 4 else done.mean(1)).astype(stems.dtype)
        return new

    copy_changed(args.src, args.out, limited)
    print(f"{args.out}: {' + '.join(ops) or 'unchanged'}")


if __name__ == "__main__":
    main()
