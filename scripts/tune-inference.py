"""Choose a model's inference settings on a tuning split (never on the set you report).

    python scripts/tune-inference.py MODEL data/tune-out --songs 32

Prints the mean named and blind SI-SDR improvement and the karaoke preset's accompaniment
SI-SDRi for each candidate setting; ``--store OUT.pt`` writes the model with the candidate of the best
named + blind mean stored in it (:class:`separator.settings.SplitSettings`, the file's own settings for
the rest), as ``separator export --settings FILE`` does. Candidates are kept in the order
they were tried, with the date; ``--only`` runs some of them. Settings that depend on real
recordings (``percussive``) are also run on the first 48 windows of ``data/tracker-val``.
"""

from __future__ import annotations

import argparse
import json

from separator.model import load_checkpoint, save_checkpoint
from separator.separate import Separator
from separator.settings import SplitSettings
from separator.training.evaluate import evaluate_model

CANDIDATES: list[dict[str, object]] = [
    {"naming": "masks"},
    {"naming": "clusters", "presence": 0.02, "extra_clusters": 0},
    {"naming": "clusters", "presence": 0.05, "extra_clusters": 0},
    {"naming": "clusters", "presence": 0.1, "extra_clusters": 0},
    {"naming": "clusters", "presence": 0.05, "extra_clusters": 0, "blend": 0.75},
    {"naming": "clusters", "presence": 0.05, "extra_clusters": 0, "blend": 0.5},
    {"naming": "clusters", "presence": 0.05, "extra_clusters": 0, "blend": 0.25},
    {"naming": "clusters", "presence": 0.05, "extra_clusters": 1},
    {"naming": "clusters", "presence": 0.05, "extra_clusters": 2},
    {"naming": "clusters", "presence": 0.05, "extra_clusters": 1, "blend": 0.5},
    {"naming": "clusters", "presence": 0.05, "extra_clusters": 2, "blend": 0.5},
    {"naming": "clusters", "presence": 0.03, "extra_clusters": 1},
    {"naming": "clusters", "presence": 0.08, "extra_clusters": 1},
    {"naming": "clusters", "presence": 0.02, "extra_clusters": 1},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1},
    {"naming": "clusters", "presence": 0.02, "extra_clusters": 1, "blend": 0.5},
    {"naming": "clusters", "presence": 0.05, "extra_clusters": 1, "blend": 0.75},
    {"naming": "clusters", "presence": 0.05, "extra_clusters": 1, "blend": 0.25},
    {"naming": "clusters", "presence": 0.1, "extra_clusters": 1, "blend": 0.5},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5},
    {"naming": "clusters", "presence": 0.02, "extra_clusters": 2, "blend": 0.5},
    # 2026-12-02, blind mode mixes in the mask head's masks too (blind_blend), shipped named settings
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 1.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.75},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.25},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "hardness": 3.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "hardness": 10.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "hardness": 2.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "mask_power": 0.7},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "mask_power": 1.5},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "hardness": 3.0, "mask_power": 0.7},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "hardness": 4.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "hardness": 3.0, "mask_power": 0.5},
    # per-bin percussive evidence on the drums stem (also run on data/tracker-val --songs 48)
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "percussive": 0.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "percussive": 0.3},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "percussive": 0.5},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "blind_blend": 0.5, "percussive": 1.0},
    # per-bin pan evidence (pan=2 chosen from 0, 0.5, 1, 2, 4), then named mode again with it on
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "pan": 2.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.75, "pan": 2.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.25, "pan": 2.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "pan": 2.0, "hardness": 3.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "pan": 2.0, "mask_power": 0.7},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 2, "blend": 0.5, "pan": 2.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "pan": 3.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "pan": 3.0, "hardness": 3.0},
    {"naming": "clusters", "presence": 0.01, "extra_clusters": 1, "blend": 0.5, "pan": 3.0, "hardness": 3.0, "mask_power": 0.7},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--songs", type=int, default=32)
    parser.add_argument("--reference-db", type=float, help="default: the model file's setting")
    parser.add_argument("--hardness", type=float, help="default: the model file's setting (5 when the candidates up to 45 were run)")
    parser.add_argument("--only", type=int, nargs="*", help="indices of the candidates to run (default: all)")
    parser.add_argument("--store", metavar="OUT", help="write the model with the best candidate's settings stored in it")
    args = parser.parse_args()
    best: tuple[float, dict[str, object]] | None = None
    for index, candidate in enumerate(CANDIDATES):
        if args.only is not None and index not in args.only:
            continue
        given = {"reference_db": args.reference_db, "hardness": args.hardness}
        settings = {**{k: v for k, v in given.items() if v is not None}, **candidate}
        sep = Separator.from_pretrained(args.model, device="cpu", **settings)
        scores = evaluate_model(sep, args.data, max_songs=args.songs, oracle=False, karaoke=True)
        means = {mode: round(scores[mode]["mean"], 2) for mode in ("named", "blind", "karaoke", "silent")}
        print(json.dumps({"settings": candidate, **means}), flush=True)
        if best is None or means["named"] + means["blind"] > best[0]:
            best = (means["named"] + means["blind"], settings)
    if args.store and best is not None:
        store(args.model, args.store, best[1])


def store(model_path: str, out: str, chosen: dict[str, object]) -> None:
    """Write ``model_path``'s network to ``out`` (float16) with ``chosen`` over its stored split settings."""
    model, extra = load_checkpoint(model_path)
    settings = (model.split_settings or SplitSettings()).replace(**chosen)
    save_checkpoint(model, out, {**extra, "inference": settings.to_dict()}, half=True)
    print(f"{out}: {json.dumps(settings.to_dict())}", flush=True)


if __name__ == "__main__":
    main()
