"""Pictures for people: stem colours, spectrogram overviews, thumbnails and the evaluation chart.

matplotlib (Agg backend, no display) and pyloudnorm are the ``plots`` extra
(``pip install 'stemsplit[plots]'``); :func:`require` says so in one line when they
are missing. Figures are built with ``matplotlib.figure.Figure``, never ``pyplot``,
so nothing global changes and threads do not share state.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from separator.errors import SeparatorError
from separator.features import N_BANDS, band_edges_hz, band_power, full_scale_db, log_power, stft, stft_size
from stembase.outputs import write_atomic

PLOTS_HINT = "pip install 'stemsplit[plots]'"
STEM_COLOURS = {"drums": "#ff8c1a", "bass": "#2f7fff", "guitar": "#2ecc40", "vocals": "#ff3b3b", "other": "#b86bff"}
SOURCE_COLOURS = ("#ff3b3b", "#2f7fff", "#2ecc40", "#ff8c1a", "#b86bff", "#00d5d5", "#ffd700", "#ff69b4")
DB_RANGE = 80.0  # dB of mixture shown under its loudest bin
MIN_HZ = 30.0


class PlotError(SeparatorError, ValueError):
    """A picture cannot be made: matplotlib or pyloudnorm missing (the ``plots`` extra), or a bad range."""


def require(feature: str, *modules: str) -> dict[str, ModuleType]:
    """Import ``modules`` (matplotlib with the Agg backend) or raise one line naming the extra.

    Raises:
        PlotError: a module is missing; the message says which extra to install.
    """
    found: dict[str, ModuleType] = {}
    for name in modules:
        try:
            found[name] = __import__(name)
        except ImportError as exc:
            raise PlotError(f"{feature} needs {name}, which is not installed; install the plots extra: {PLOTS_HINT}") from exc
    if "matplotlib" in found:
        found["matplotlib"].use("Agg")
    return found


def stem_colours(names: Iterable[str]) -> dict[str, str]:
    """``{name: "#rrggbb"}``: a fixed colour per class, the same from picture to picture; sources in order."""
    colours: dict[str, str] = {}
    for i, name in enumerate(names):
        colours[name] = STEM_COLOURS.get(name, SOURCE_COLOURS[i % len(SOURCE_COLOURS)])
    return colours


def rgb(colour: str) -> np.ndarray:
    """``"#rrggbb"`` → ``(3,)`` floats in 0..1."""
    return np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])


def log_rows(sample_rate: int, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A log-frequency picture grid: ``(row centre frequencies (n_rows,) Hz, band index of each row)``, low to high."""
    top = sample_rate / 2
    hz = np.geomspace(MIN_HZ, top, n_rows + 1)
    centres = np.sqrt(hz[:-1] * hz[1:])
    edges = band_edges_hz(sample_rate)
    band = np.clip(np.searchsorted(edges, centres, side="right") - 1, 0, N_BANDS - 1)
    return centres, band


def band_overview(blocks: Iterator[np.ndarray], n_samples: int, sample_rate: int, columns: int) -> np.ndarray:
    """Mean band power of a signal in ``columns`` equal slices of time, streamed: ``(columns, N_BANDS)`` in dBFS per bin.

    Args:
        blocks: consecutive, non-overlapping ``(channels, n)`` pieces of the signal.
        n_samples: the signal's length (sets the slices).
    """
    hop = stft_size(sample_rate)[1]
    power = np.zeros((columns, N_BANDS))
    count = np.zeros(columns)
    start = 0
    for block in blocks:
        if block.shape[-1] == 0:
            continue
        spec = stft(torch.from_numpy(np.ascontiguousarray(block, np.float32)), sample_rate)
        frames = band_power(spec).mean(0).double().numpy()  # (t, bands): channels' mean power
        centres = start + np.arange(frames.shape[0]) * hop
        keep = centres < start + block.shape[-1]  # the pad frame at a block's end belongs to the next one
        col = np.minimum((centres[keep] * columns) // max(n_samples, 1), columns - 1).astype(int)
        np.add.at(power, col, frames[keep])
        np.add.at(count, col, 1)
        start += block.shape[-1]
    mean = power / np.maximum(count, 1)[:, None]
    return log_power(torch.from_numpy(mean)).numpy() - full_scale_db(sample_rate)


def thumbnail_png(band_db: np.ndarray, sample_rate: int, height: int = 48) -> bytes:
    """A small spectrogram picture (PNG bytes): ``band_db (columns, N_BANDS)`` from :func:`band_overview`, log frequency.

    The colour scale is absolute (-100 … -10 dBFS per bin), so a quiet stem looks dark next to a loud one.
    """
    mpl = require("a spectrogram thumbnail", "matplotlib")["matplotlib"]
    import matplotlib.image

    _, band = log_rows(sample_rate, height)
    picture = band_db[:, band].T[::-1]  # (rows, columns), high frequencies on top
    out = io.BytesIO()
    matplotlib.image.imsave(out, picture, cmap=mpl.colormaps["magma"], vmin=-100.0, vmax=-10.0, format="png")
    return out.getvalue()


def as_data_uri(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# -- the evaluation chart -------------------------------------------------------------------------

MODE_STYLE = {
    "mixture": ("mixture (no-op)", "#9e9e9e"),
    "named": ("named stems", "#2f7fff"),
    "blind": ("blind k-means", "#ff8c1a"),
    "oracle": ("oracle binary mask (ceiling)", "#c8c8c8"),
}


def plot_scores(result: dict[str, Any], path: str | Path, width: int = 1200, height: int = 600) -> Path:
    """The table of :func:`separator.training.evaluate.format_table` as a grouped bar chart (PNG), one group per stem.

    Args:
        result: ``{mode: {"mean": dB, "<class>": dB}, "songs": n}`` from :func:`separator.training.evaluate.evaluate_model`.
    Raises:
        PlotError: matplotlib is missing.
    """
    require("--plot", "matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from separator.training.evaluate import COLUMNS

    modes = [m for m in MODE_STYLE if m in result or m == "mixture"]
    columns = [c for c in COLUMNS if any(c in result.get(m, {}) for m in modes)] + ["mean"]
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.07, 0.12, 0.9, 0.76))
    step = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        label, colour = MODE_STYLE[mode]
        row = result.get(mode, {c: 0.0 for c in columns})
        x = [j + (i - (len(modes) - 1) / 2) * step for j, c in enumerate(columns) if c in row]
        values = [row[c] for c in columns if c in row]
        bars = ax.bar(x, values, step * 0.95, label=label, color=colour, hatch="//" if mode == "oracle" else None, edgecolor="#555555")
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize=8, padding=2)
    ax.set_xticks(range(len(columns)), columns)
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.set_ylabel("SI-SDR improvement (dB)")
    ax.set_title(f"Separation quality per stem ({result.get('songs', '?')} songs; higher is better)")
    ax.legend(loc="upper left", ncols=len(modes), fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return write_png(fig, path)


def write_png(fig: Any, path: str | Path) -> Path:
    """Save a figure as PNG atomically (a reader never sees half a picture)."""
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return write_atomic(path, out.getvalue())
