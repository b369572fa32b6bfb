"""Shared fixtures: the shipped model (loaded once) and generated songs."""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from separator import Separator
from separator.training.data.make import Recipe, make_song
from separator.training.data.render import bundled_soundfont

REPO = Path(__file__).resolve().parent.parent

# One thread count for every split of the session. Without one, a split fits torch's threads to the cores other
# programs leave free (separator.devices.CpuShare), and a test that compares two splits could see two counts:
# the float rounding then differs by ~1e-7, and named mode's second hearing of the bass (separator.resplit)
# hears that difference through the network again (~1e-4). tests/test_threads.py tests the adaptation itself.
os.environ.setdefault("SEPARATOR_THREADS", str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def load_module(path: Path, name: str) -> ModuleType:
    """A script or example of the repository (not a package) imported from its file as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses of the script look their module up there
    spec.loader.exec_module(module)
    return module


def write_shard(folder: Path, stems: np.ndarray, present: np.ndarray) -> dict[str, np.ndarray]:
    """A data folder of one make-data shard (``stems (songs, 5, channels, samples)``, one slot per class in class
    order) and an empty ``recipe.json``; returns the shard's arrays."""
    songs = stems.shape[0]
    data = {
        "stems": stems.astype(np.float16),
        "present": present,
        "labels": np.tile(np.arange(5, dtype=np.int8), (songs, 1)),
        "sources": np.full((songs, 5), "x", "<U25"),
        "sample_rate": np.array(44100),
    }
    folder.mkdir()
    np.savez(folder / "shard-00000.npz", **data)  # type: ignore[arg-type]
    (folder / "recipe.json").write_text("{}")
    return data


@pytest.fixture(scope="session")
def separator() -> Separator:
    """The model that ships in the package, on the CPU."""
    return Separator.from_pretrained(device="cpu")


@functools.lru_cache(maxsize=64)
def generated_song(index: int, seconds: float = 4.0, seed: int = 12345) -> tuple[np.ndarray, np.ndarray]:
    """Stems ``(5, 2, samples)`` of a freshly generated song (bundled SoundFont, no espeak) and their presence."""
    soundfont = bundled_soundfont()
    assert soundfont, "pretty_midi (the [data] extra) carries TimGM6mb.sf2; install .[dev]"
    # the bundled SoundFont and the formant singer only, without mix-bus production: the same
    # sounds on every machine, whatever else is installed
    recipe = Recipe(seed=seed, seconds=seconds, soundfonts=[soundfont], use_espeak=False, only=["TimGM6mb", "formant"], produce=False)
    return make_song(recipe, index)


def sine(frequency: float, seconds: float, sample_rate: int, channels: int = 1, amplitude: float = 0.5) -> np.ndarray:
    """``(channels, samples)`` float32 sine."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return np.tile(amplitude * np.sin(2 * np.pi * frequency * t), (channels, 1)).astype(np.float32)


def missing(reason: str) -> None:
    """Skip a test whose system package is absent here, saying which; under ``.ci/run``
    (``SEPARATOR_TESTS_REQUIRE_ALL=1``, where everything is installed) fail instead, so CI
    never goes green by skipping what a test exists to check."""
    if os.environ.get("SEPARATOR_TESTS_REQUIRE_ALL"):
        pytest.fail(f"{reason} — .ci/run installs it, so this is a CI set-up error")
    pytest.skip(reason)


def require_held_out_sources() -> None:
    """Skip (fail under ``.ci/run``) unless every held-out sound source is installed
    (``separator.training.data.sources.HELD_OUT``): without them, songs "of held-out sources" would be made of
    training sounds."""
    from separator.training.data.sources import HELD_OUT, HELD_OUT_PACKAGES, detect_sources

    found = {s.id for s in detect_sources()}
    absent = [p for pattern, p in zip(HELD_OUT, HELD_OUT_PACKAGES, strict=True) if not any(pattern in i for i in found)]
    if absent:
        missing(f"the held-out sound sources are not installed: apt-get install {' '.join(absent)}")


def split_with_and_without(
    setting: str, off: float, on: float, **kwargs
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:  # type: ignore[no-untyped-def]
    """``(mixture, stems with setting=off, stems with setting=on)`` of generated song 4 (drums, bass, guitar)."""
    stems, present = generated_song(4)
    assert present.tolist() == [True, True, True, False, False]
    mix = stems.sum(0)
    split = lambda value: Separator.from_pretrained(device="cpu", **{setting: value}).separate(mix, 44100, **kwargs)  # noqa: E731
    return mix, split(off), split(on)


def watch_network_runs(model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch, seen: Callable[[torch.Tensor], None]) -> None:
    """Call ``seen(feats)`` at each run of ``model``, whole (``forward``) or through its mask head alone
    (``class_masks``, as named mode's second hearing runs it), before the run."""
    for name in ("forward", "class_masks"):
        run = getattr(model, name)

        def watched(feats, cues=None, _run=run):  # type: ignore[no-untyped-def]
            seen(feats)
            return _run(feats, cues)

        monkeypatch.setattr(model, name, watched)
