"""A model file whose weights are a weighted average of other models' weights (same architecture): a
fine-tune averaged with the model it started from keeps more of what that model knew on sounds neither
heard ("WiSE-FT", Wortsman et al., CVPR 2022).

A run's ``last.pt`` that holds a weight average (``separator train --ema``) contributes that average, the
weights its validation scored; ``--trained`` takes the trained weights instead. The split settings and the
description come from the first file; ``averaged`` in the new file's description lists the inputs.

    git show b9b5708:separator/pretrained/default.pt > runs/previous.pt
    python scripts/average-weights.py runs/previous.pt runs/r28/step500.pt --out model.pt
    python scripts/average-weights.py a.pt b.pt c.pt --weights 2,1,1 --out model.pt

The second command made the eighteenth session's candidate: the shipped model averaged with step 500 of its
fine-tune ``r28`` (model card, "2026-12-06, eighteenth": better on average, not shipped).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from separator.model import Network, load_checkpoint, save_checkpoint


def weights_of(model: Network, extra: dict[str, Any], trained: bool) -> dict[str, torch.Tensor]:
    """The weights in float32 of a loaded model file: a run's weight average when it holds one."""
    state = extra["average"] if "average" in extra and not trained else model.state_dict()
    return {k: v.float() for k, v in state.items()}


def average(states: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """``Σ wᵢ · stateᵢ`` with the weights scaled to sum to 1; every state must have the same tensors."""
    total = sum(weights)
    keys = set(states[0])
    for i, state in enumerate(states[1:], 2):
        if set(state) != keys or any(state[k].shape != states[0][k].shape for k in keys):
            raise SystemExit(
                f"model {i} is not the same network as model 1 (different layers or sizes); average models of one architecture"
            )
    return {k: sum((w / total) * s[k] for w, s in zip(weights, states, strict=True)) for k in states[0]}  # type: ignore[misc]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="model files (.pt); the first gives the settings")
    p.add_argument("--out", required=True)
    p.add_argument("--weights", default="", help="one per model, comma-separated (default: equal)")
    p.add_argument("--trained", action="store_true", help="a run's trained weights rather than its weight average")
    p.add_argument("--float32", action="store_true", help="keep float32 (default: float16, as shipped)")
    args = p.parse_args()
    weights = [float(w) for w in args.weights.split(",")] if args.weights else [1.0] * len(args.models)
    if len(weights) != len(args.models) or min(weights) < 0 or sum(weights) <= 0:
        raise SystemExit(f"--weights: give {len(args.models)} non-negative numbers, not all 0; got {args.weights!r}")
    loaded = [load_checkpoint(m) for m in args.models]
    model, first = loaded[0]
    model.load_state_dict(average([weights_of(m, e, args.trained) for m, e in loaded], weights))
    keep = ("step", "val", "config", "inference")
    extra = {k: first[k] for k in keep if k in first}
    extra["averaged"] = [
        {"file": str(m), "step": e.get("step"), "weight": w} for m, (_, e), w in zip(args.models, loaded, weights, strict=True)
    ]
    save_checkpoint(model, Path(args.out), extra, half=not args.float32)
    print(f"{args.out}: the average of {len(args.models)} models ({', '.join(f'{w:g}' for w in weights)})")


if __name__ == "__main__":
    main()
