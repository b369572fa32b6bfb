"""``separator inspect``: one picture of a split, for the eye.

Three panels over the same time axis (seconds): the mixture's spectrogram (log
frequency, dBFS), the *stem map* — each time–frequency cell coloured by the stems
that hold it (a blend of the stems' colours, weighted by each stem's share of the
cell's power; brightness is the mixture's level, so silence stays black) — and each
stem's level over time (RMS, dBFS). All of it is measured on the stems ``split``
writes, so the picture shows what the files hold. Long files are streamed: the picture is a range
(``start``/``length``) or a decimated overview of the whole file, averaged into at
most one column per pixel, so memory does not grow with the file's length.

>>> from separator import Separator
>>> from stemreports.analysis import inspect_file
>>> inspect_file("song.wav", "song.png", Separator.from_pretrained(), start=30, length=20)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from separator.features import N_BANDS, band_edges_hz, band_power, full_scale_db, stft, stft_size
from separator.separate import Separator
from stembase import audio as audio_io
from stemreports.plots import DB_RANGE, MIN_HZ, PlotError, log_rows, require, rgb, stem_colours, write_png

WIDTH, HEIGHT = 1600, 1000
ROWS = 300  # log-frequency rows of the spectrogram and the stem map
LEVEL_FLOOR_DB = -60.0
# panels as (left, bottom, width, height) in figure fractions: spectrogram, stem map, levels
PANELS = {"spectrogram": (0.06, 0.60, 0.80, 0.33), "map": (0.06, 0.26, 0.80, 0.30), "levels": (0.06, 0.06, 0.80, 0.15)}


@dataclass
class Overview:
    """What the picture shows, averaged into ``columns`` slices of time.

    Attributes:
        names: the stems, in order.
        times: ``(columns + 1,)`` slice edges in seconds from the start of the file.
        mixture_db: ``(columns, N_BANDS)`` mixture band power, dBFS per bin.
        masks: ``(n_stems, columns, N_BANDS)`` each stem's share of the stems' band power; they sum to 1 over stems.
        levels_db: ``(n_stems + 1, columns)`` RMS of each stem, then of the mixture, in dBFS.
        sample_rate: in Hz.
    """

    names: list[str]
    times: np.ndarray
    mixture_db: np.ndarray
    masks: np.ndarray
    levels_db: np.ndarray
    sample_rate: int
    source: str = ""
    mode: str = ""


@dataclass
class Picture:
    """A written picture and where its panels lie, so a reader (or a test) can find a time and frequency in it.

    Attributes:
        path: the PNG.
        size: ``(width, height)`` in pixels.
        colours: ``{stem: "#rrggbb"}``.
        panels: ``{panel: (x0, y0, x1, y1)}`` pixel boxes, y from the top; ``spectrogram`` and ``map`` span
            ``times`` left to right and ``MIN_HZ`` … Nyquist bottom to top on a log scale.
    """

    path: Path
    size: tuple[int, int]
    colours: dict[str, str]
    panels: dict[str, tuple[float, float, float, float]]
    times: tuple[float, float]
    hz: tuple[float, float]
    overview: Overview = field(repr=False)

    def pixel(self, panel: str, seconds: float, hz: float) -> tuple[int, int]:
        """``(x, y)`` pixel of a time and frequency in the ``spectrogram`` or ``map`` panel (y from the top)."""
        x0, y0, x1, y1 = self.panels[panel]
        fx = (seconds - self.times[0]) / (self.times[1] - self.times[0])
        fy = np.log(hz / self.hz[0]) / np.log(self.hz[1] / self.hz[0])
        return int(x0 + fx * (x1 - x0)), int(y1 - fy * (y1 - y0))


def analyse(
    path: str | Path,
    separator: Separator,
    stems: list[str] | str | None = None,
    clusters: int | None = None,
    start: float | None = None,
    length: float | None = None,
    columns: int = 1280,
) -> Overview:
    """Stream ``path`` (or the range ``start`` … ``start + length`` seconds) through the separator.

    Everything shown is measured on the stems :meth:`Separator.file_stems` gives, the ones ``split``
    writes (masks refined per bin included), so the levels are the written files' levels.

    Raises:
        AudioLoadError: the file cannot be read.
        PlotError: the range lies outside the file.
        SeparationError: bad stems or cluster count.
    """
    meta = audio_io.info(path)
    first, n = _range(meta, start, length)
    names = separator.stem_names(stems, clusters)
    hop = stft_size(meta.sample_rate)[1]
    sums = _Sums(len(names), max(1, min(columns, n // hop + 1)), n, meta.sample_rate)
    position = 0
    for piece in separator.file_stems(path, names, clusters, first, n):
        sums.add(piece, position)
        position += piece.shape[-1]
    return _overview(names, sums, first, n, str(path), _mode(stems, clusters, separator))


class _Sums:
    """Per-column sums over the stems of a split: band power per frame, and sample power.

    Attributes:
        power: ``(n_stems + 1, columns, N_BANDS)`` summed band power per bin (stems, then the mixture).
        frames: ``(columns,)`` STFT frames summed into each column.
        squares: ``(n_stems + 1, columns)`` summed squared samples (all channels).
        samples: ``(columns,)`` samples × channels summed into each column.
    """

    def __init__(self, n_stems: int, columns: int, n: int, sample_rate: int) -> None:
        self.columns, self.n, self.sample_rate = columns, max(n, 1), sample_rate
        self.power = np.zeros((n_stems + 1, columns, N_BANDS))
        self.frames = np.zeros(columns)
        self.squares = np.zeros((n_stems + 1, columns))
        self.samples = np.zeros(columns)

    def column(self, offsets: np.ndarray) -> np.ndarray:
        """The column of each sample offset from the start of the range."""
        return np.minimum((offsets * self.columns) // self.n, self.columns - 1).astype(int)

    def add(self, piece: np.ndarray, position: int) -> None:
        """Add a piece ``(n_stems, channels, m)`` of the stems that starts ``position`` samples into the range."""
        x = np.concatenate([piece, piece.sum(0, keepdims=True)])  # the stems, then the mixture they add up to
        m, hop = x.shape[-1], stft_size(self.sample_rate)[1]
        owned = -(-m // hop)  # frames centred inside the piece; the next piece owns the rest
        power = band_power(stft(torch.from_numpy(np.ascontiguousarray(x, np.float32)), self.sample_rate)).mean(1)[:, :owned]
        frame_col = self.column(position + np.arange(power.shape[1]) * hop)
        np.add.at(self.power.transpose(1, 0, 2), frame_col, power.double().numpy().transpose(1, 0, 2))  # a view: sums in place
        self.frames += np.bincount(frame_col, minlength=self.columns)
        sample_col = self.column(position + np.arange(m))
        squares = (x.astype(np.float64) ** 2).sum(1)  # (n_stems + 1, m)
        for s, sq in enumerate(squares):
            self.squares[s] += np.bincount(sample_col, weights=sq, minlength=self.columns)
        self.samples += np.bincount(sample_col, minlength=self.columns) * x.shape[1]


def _range(meta: audio_io.AudioInfo, start: float | None, length: float | None) -> tuple[int, int]:
    """``(first sample, samples)`` of the asked range."""
    first = round((start or 0.0) * meta.sample_rate)
    if start is not None and not 0 <= first < meta.frames:
        raise PlotError(f"{meta.path}: --start {start:g} s is outside the file (0 … {meta.seconds:.2f} s)")
    if length is not None and length <= 0:
        raise PlotError(f"--length must be a positive number of seconds, got {length:g}")
    n = meta.frames - first if length is None else min(round(length * meta.sample_rate), meta.frames - first)
    return first, max(n, 1)


def _mode(stems: list[str] | str | None, clusters: int | None, separator: Separator) -> str:
    if clusters:
        return f"blind, {clusters} clusters"
    return f"named stems ({separator.settings.naming})"


def _overview(names: list[str], sums: _Sums, first: int, n: int, source: str, mode: str) -> Overview:
    """Column sums → mixture spectrogram, stem shares and levels (see :class:`Overview`)."""
    mean = sums.power / np.maximum(sums.frames, 1)[None, :, None]
    mixture_db = 10 * np.log10(mean[-1] + 1e-12) - full_scale_db(sums.sample_rate)
    stem_total = mean[:-1].sum(0)
    masks = mean[:-1] / np.maximum(stem_total, 1e-30)[None]
    masks[:, stem_total <= 1e-30] = 1.0 / len(names)
    levels = 10 * np.log10(sums.squares / np.maximum(sums.samples, 1)[None] + 1e-12)
    times = (first + np.linspace(0, n, sums.columns + 1)) / sums.sample_rate
    return Overview(names, times, mixture_db, masks.astype(np.float32), levels, sums.sample_rate, source, mode)


# -- the picture ------------------------------------------------------------------------------


def render(overview: Overview, path: str | Path, width: int = WIDTH, height: int = HEIGHT) -> Picture:
    """Draw :class:`Overview` into a PNG of ``width`` × ``height`` pixels.

    Raises:
        PlotError: matplotlib is missing (the plots extra).
    """
    require("separator inspect", "matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=(width / 100, height / 100), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    colours = stem_colours(overview.names)
    nyquist = overview.sample_rate / 2
    t0, t1 = float(overview.times[0]), float(overview.times[-1])
    _, band = log_rows(overview.sample_rate, ROWS)
    extent = (t0, t1, np.log10(MIN_HZ), np.log10(nyquist))
    top = float(overview.mixture_db.max())
    spec = overview.mixture_db[:, band].T  # (rows, columns), low frequencies first
    ax_spec = _panel(fig, "spectrogram", extent, nyquist)
    image = ax_spec.imshow(spec, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=top - DB_RANGE, vmax=top,
                           interpolation="nearest")  # fmt: skip
    ax_spec.set_title(f"{Path(overview.source).name}: mixture spectrogram and where each stem is taken from ({overview.mode})", loc="left")
    bar = fig.colorbar(image, cax=fig.add_axes((0.875, PANELS["spectrogram"][1], 0.012, PANELS["spectrogram"][3])))
    bar.set_label("dBFS per bin")
    ax_map = _panel(fig, "map", extent, nyquist)
    ax_map.imshow(_stem_map(overview, band, colours, top), origin="lower", aspect="auto", extent=extent, interpolation="nearest")
    ax_map.set_title("stem map: colour = stem the mask gives the mixture to, brightness = mixture level", loc="left", fontsize=10)
    handles = [Patch(color=colours[n], label=n) for n in overview.names]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.87, PANELS["map"][1] + PANELS["map"][3]), title="stems", frameon=False)
    _levels(fig, overview, colours, (t0, t1))
    written = write_png(fig, path)
    panels = {name: _pixels(fig.axes[i], height) for i, name in ((0, "spectrogram"), (2, "map"))}
    return Picture(written, (width, height), colours, panels, (t0, t1), (MIN_HZ, nyquist), overview)


def _panel(fig: Any, name: str, extent: tuple[float, float, float, float], nyquist: float) -> Any:
    ax = fig.add_axes(PANELS[name])
    ticks = [t for t in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if MIN_HZ <= t <= nyquist]
    ax.set_yticks(np.log10(ticks), [f"{t // 1000}k" if t >= 1000 else str(t) for t in ticks])
    ax.set_ylabel("frequency (Hz)")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.tick_params(labelbottom=name == "map")
    return ax


def _stem_map(overview: Overview, band: np.ndarray, colours: dict[str, str], top: float) -> np.ndarray:
    """``(rows, columns, 3)`` RGB: the mask-weighted blend of the stems' colours, times the mixture's brightness."""
    palette = np.stack([rgb(colours[n]) for n in overview.names])  # (n_stems, 3)
    blend = np.einsum("scb,sk->bck", overview.masks[:, :, band], palette)  # (rows, columns, 3)
    level = overview.mixture_db[:, band].T
    brightness = np.clip((level - (top - DB_RANGE)) / DB_RANGE, 0.0, 1.0) ** 0.6
    return np.clip(blend * brightness[..., None], 0.0, 1.0)


def _levels(fig: Any, overview: Overview, colours: dict[str, str], span: tuple[float, float]) -> None:
    ax = fig.add_axes(PANELS["levels"])
    centres = (overview.times[:-1] + overview.times[1:]) / 2
    for name, level in zip(overview.names, overview.levels_db, strict=False):
        ax.plot(centres, np.maximum(level, LEVEL_FLOOR_DB), color=colours[name], linewidth=1.2, label=name)
    ax.plot(centres, np.maximum(overview.levels_db[-1], LEVEL_FLOOR_DB), color="#444444", linewidth=0.8, linestyle="--", label="mixture")
    ax.set_xlim(*span)
    ax.set_ylim(LEVEL_FLOOR_DB, max(0.0, float(overview.levels_db.max()) + 3))
    ax.set_ylabel("level (dBFS RMS)")
    ax.set_xlabel("time (s)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _pixels(ax: Any, height: int) -> tuple[float, float, float, float]:
    """An axes' box in pixels, y from the top."""
    box = ax.get_window_extent()
    return float(box.x0), float(height - box.y1), float(box.x1), float(height - box.y0)


def inspect_file(
    path: str | Path,
    out: str | Path,
    separator: Separator,
    stems: list[str] | str | None = None,
    clusters: int | None = None,
    start: float | None = None,
    length: float | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Picture:
    """Picture of a split of ``path`` (or of a range of it) written to ``out`` (PNG).

    Raises:
        PlotError: matplotlib missing or the range outside the file.
        AudioLoadError / SeparationError: as :meth:`Separator.separate_file`.
    """
    require("separator inspect", "matplotlib")  # before minutes of work
    columns = int(width * PANELS["map"][2])
    return render(analyse(path, separator, stems, clusters, start, length, columns), out, width, height)


__all__ = ["HEIGHT", "WIDTH", "Overview", "Picture", "analyse", "band_edges_hz", "inspect_file", "render"]
