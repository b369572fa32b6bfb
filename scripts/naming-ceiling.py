"""How many dB named mode loses to the names of its clusters: a ceiling, to choose levers by.

Named mode fits k-means clusters on the embeddings and names them from the mask head's class posteriors
(:mod:`separator.naming`). This script splits each song of an evaluation folder twice in named mode: as
the product does, and with the clusters named by an oracle that sees the stems: the product's naming rule
(one cluster per stem present, the rest to their likeliest) on the true profiles, each cluster's share of
each source's power in its bins, the stems present being the song's. The clusters, masks and every later
step are the product's. Blind mode (``--clusters`` = the number of sources, matched to them by the best permutation)
is printed beside them. Named mode's gap to blind is mostly the naming when the oracle row closes it;
it is the clustering or the masks when it does not.

    python scripts/naming-ceiling.py --data data/tune-out --max-songs 32 [--confusion]

``--confusion`` also prints the clusters counted by the oracle's name and the product's, to see which
stems are mistaken for which.

Songs longer than one segment of the split (``segment_seconds``, 20 s) are not read: the oracle needs
the sources beside the one segment the network heard. On 2026-12-06 (model card, "2026-12-06,
fifteenth"), with the shipped model: ``data/tune-out`` named 7.67, with oracle names 8.74, blind 8.41;
``data/val-out`` 7.59, 8.32, 8.34. About 7 clusters in 10 were named as the oracle names them.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from separator import Separator
from separator.classes import CLASSES
from separator.devices import measuring_threads
from separator.features import features
from separator.kmeans import responsibilities
from separator.masks import Routing, cluster_features
from separator.naming import name_clusters
from separator.training.evaluate import iter_songs
from separator.training.metrics import best_permutation, si_sdr_improvement

ROWS = ("named", "named, oracle names", "blind")


def band_powers(sources: np.ndarray, labels: np.ndarray, rate: int) -> list[tuple[int, torch.Tensor]]:
    """``[(class, (frames, bands) linear band power)]`` of each labelled source, on the network's grid."""
    out = []
    for source, label in zip(sources, labels, strict=True):
        if label >= 0:
            _, feats, _ = features(torch.from_numpy(np.ascontiguousarray(source, dtype=np.float32)), rate)
            out.append((int(label), 10 ** (feats / 10)))
    return out


def oracle_route(labels: torch.Tensor, truth: list[tuple[int, torch.Tensor]], k: int, n_classes: int) -> torch.Tensor:
    """``(k, n_classes)`` 0/1: the product's naming rule (:func:`~separator.naming.name_clusters`: one cluster
    per stem, the rest to their likeliest) on the true profiles: each cluster's share of power per source
    class in its bins, the classes present being the song's.

    Args:
        labels: ``(frames, bands)`` the cluster of each bin.
        truth: :func:`band_powers` of the song's sources.
    """
    energy = torch.zeros(k, n_classes, dtype=torch.float64)
    frames = min(labels.shape[0], *(p.shape[0] for _, p in truth)) if truth else labels.shape[0]
    for label, power in truth:
        energy[:, label] += torch.bincount(labels[:frames].reshape(-1), power[:frames].reshape(-1).double(), minlength=k)
    shares = (energy / energy.sum(1, keepdim=True).clamp(min=1e-30)).numpy()
    present = sorted({label for label, _ in truth}) or list(range(n_classes))
    return torch.from_numpy(name_clusters(shares, present))


class OracleNaming(Separator):
    """A :class:`~separator.separate.Separator` whose named mode, while ``truth`` is set, names each cluster
    by :func:`oracle_route` (one segment per track). ``agreement`` collects, per split, the share of
    clusters the product names as the oracle does; ``confusion`` counts the clusters by the oracle's name
    (rows) and the product's (columns), ``(n_classes, n_classes)``."""

    truth: list[tuple[int, torch.Tensor]] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.agreement: list[float] = []
        self.confusion = np.zeros((len(self.classes), len(self.classes)), np.int64)

    def _fit(self, outputs: Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], plan: Any) -> Routing | None:
        kept = list(outputs)
        routing = super()._fit(iter(kept), plan)
        if self.truth is None or plan.clusters or routing is None or routing.centroids is None or routing.route is None:
            return routing
        if len(kept) != 1:
            raise ValueError("the oracle names clusters of one segment; the track is longer")
        _, embeddings, class_masks = kept[0]
        points = cluster_features(embeddings, class_masks, self.settings.class_weight)
        k = routing.centroids.shape[0]
        labels = responsibilities(points, routing.centroids, float("inf")).argmax(0).reshape(embeddings.shape[:2])
        route = oracle_route(labels.cpu(), self.truth, k, len(self.classes)).to(routing.route)
        truly, named = route.argmax(1).cpu().numpy(), routing.route.argmax(1).cpu().numpy()
        self.agreement.append(float((truly == named).mean()))
        np.add.at(self.confusion, (truly, named), 1)
        return replace(routing, route=route)


def score_song(sep: OracleNaming, sources: np.ndarray, labels: np.ndarray, rate: int) -> dict[str, dict[str, float]]:
    """``{row: {stem: SI-SDRi dB}}`` of one song, for the stems whose class is known and unique."""
    mix = sources.sum(0)
    names = [CLASSES[c] if c >= 0 else "" for c in labels]
    known = [i for i, n in enumerate(names) if n and names.count(n) == 1]
    sep.truth = None
    named = sep.separate(mix, rate)
    sep.truth = band_powers(sources, labels, rate)
    try:
        oracle = sep.separate(mix, rate)
    finally:
        sep.truth = None
    blind = list(sep.separate(mix, rate, clusters=len(sources)).values())
    perm = best_permutation(blind, list(sources))
    return {
        "named": {names[i]: si_sdr_improvement(named[names[i]], sources[i], mix) for i in known},
        "named, oracle names": {names[i]: si_sdr_improvement(oracle[names[i]], sources[i], mix) for i in known},
        "blind": {names[i]: si_sdr_improvement(blind[perm[i]], sources[i], mix) for i in known},
    }


def confusion_table(counts: np.ndarray) -> str:
    """``counts`` (oracle name × product name) as text: one row per oracle name, one column per product name."""
    lines = ["clusters by oracle name (rows) and the product's name (columns)", f"{'':10}" + "".join(f"{c:>8}" for c in CLASSES)]
    lines += [f"{c:10}" + "".join(f"{int(v):8d}" for v in row) for c, row in zip(CLASSES, counts, strict=True)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="an evaluation folder (make-data shards or multitracks)")
    parser.add_argument("--max-songs", type=int, default=32)
    parser.add_argument("--skip-songs", type=int, default=0)
    parser.add_argument("--model", default=None, help="a checkpoint (default: the shipped model)")
    parser.add_argument("--confusion", action="store_true", help="also print the clusters by oracle name and product name")
    args = parser.parse_args()
    sep = OracleNaming.from_pretrained(args.model, threads=measuring_threads())  # as evaluate: one count
    assert isinstance(sep, OracleNaming)
    longest = int(sep.settings.segment_seconds * 44100)
    scores: dict[str, dict[str, list[float]]] = {row: {c: [] for c in CLASSES} for row in ROWS}
    songs = skipped = 0
    for sources, labels, rate in iter_songs(args.data, args.max_songs, args.skip_songs):
        if len(sources) < 2 or sources.shape[-1] * 44100 > longest * rate:
            skipped += 1
            continue
        songs += 1
        for row, song_scores in score_song(sep, sources, labels, rate).items():
            for name, value in song_scores.items():
                scores[row][name].append(value)
    print(f"named SI-SDRi (dB) on {args.data}: {songs} songs ({skipped} left out: one source, or longer than a segment)")
    print(f"{'':22}{'mean':>7}" + "".join(f"{c:>8}" for c in CLASSES))
    for row, lists in scores.items():
        every = [v for values in lists.values() for v in values]
        means = [float(np.mean(v)) if v else float("nan") for v in lists.values()]
        print(f"{row:22}{np.mean(every) if every else float('nan'):7.2f}" + "".join(f"{m:8.2f}" for m in means))
    if sep.agreement:
        print(f"clusters the product names as the oracle does: {np.mean(sep.agreement):.2f}")
    if args.confusion:
        print(confusion_table(sep.confusion))


if __name__ == "__main__":
    main()
