"""``separator inspect`` and ``evaluate --plot``: the pictures, checked pixel by pixel."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import generated_song
from scipy.signal import butter, sosfilt

from separator.features import band_edges_hz, bands_to_bins, istft, stft, stft_size
from separator.separate import Separator
from stembase import audio
from stemsplit.separator_cli import main

pytest.importorskip("matplotlib", reason="the plots extra: pip install -e '.[plots]' (included in .[dev])")
import matplotlib.image

from separator.settings import SplitSettings
from stemreports.analysis import HEIGHT, PANELS, WIDTH, analyse, inspect_file
from stemreports.plots import STEM_COLOURS, plot_scores, rgb

SR = 22050
LOW_HZ, HIGH_BAND = 70.0, (4000.0, 9000.0)


def sine_then_burst(path: Path, seconds: float = 2.0) -> Path:
    """A low sine in the first half, a high band of noise in the second, silence elsewhere (mono)."""
    half = int(seconds * SR / 2)
    t = np.arange(half) / SR
    burst = sosfilt(butter(6, HIGH_BAND, "bandpass", fs=SR, output="sos"), np.random.default_rng(0).standard_normal(half) * 0.3)
    x = np.concatenate([0.5 * np.sin(2 * np.pi * LOW_HZ * t), burst]).astype(np.float32)
    return audio.save(path, x[None], SR)


class BandSplitter:
    """A stand-in separator with known stems: the bins of bands under 500 Hz are "bass", the rest "drums"."""

    settings = SplitSettings()

    def stem_names(self, stems: object = None, clusters: object = None) -> list[str]:
        return ["bass", "drums"]

    def file_stems(self, path: Path, names: list[str], clusters: int | None = None, start: int = 0, frames: int | None = None
                   ) -> Iterator[np.ndarray]:  # fmt: skip
        x, rate = audio.load(path)
        x = x[:, start : None if frames is None else start + frames]
        spec = stft(torch.from_numpy(x), rate)
        low = torch.from_numpy((band_edges_hz(rate)[1:] <= 500.0).astype(np.float32))
        bass = istft(spec * bands_to_bins(low[None], spec.shape[-2]), rate, x.shape[-1]).numpy()
        yield np.stack([bass, x - bass])


def pixel(panel: str, seconds: float, hz: float, span: tuple[float, float], nyquist: float = SR / 2) -> tuple[int, int]:
    """Where a time and frequency land in a panel, from the picture's fixed layout (y from the top)."""
    left, bottom, width, height = PANELS[panel]
    fx = (seconds - span[0]) / (span[1] - span[0])
    fy = np.log(hz / 30.0) / np.log(nyquist / 30.0)
    return int(WIDTH * (left + fx * width)), int(HEIGHT * (1 - bottom - fy * height))


def hue(picture: np.ndarray, xy: tuple[int, int]) -> np.ndarray:
    """The colour around a pixel (5×5 mean), scaled so its brightest channel is 1."""
    x, y = xy
    patch = picture[y - 2 : y + 3, x - 2 : x + 3, :3].reshape(-1, 3).mean(0)
    return patch / max(float(patch.max()), 1e-6)


def brightness(picture: np.ndarray, xy: tuple[int, int]) -> float:
    x, y = xy
    return float(picture[y - 2 : y + 3, x - 2 : x + 3, :3].mean())


def test_stem_map_shows_each_stems_colour_where_its_mask_takes_the_mixture(tmp_path: Path) -> None:
    wav = sine_then_burst(tmp_path / "sine-burst.wav")
    picture = inspect_file(wav, tmp_path / "map.png", BandSplitter())  # type: ignore[arg-type]
    image = matplotlib.image.imread(picture.path)
    assert image.shape[:2] == (HEIGHT, WIDTH) == (picture.size[1], picture.size[0])
    bass, drums = rgb(STEM_COLOURS["bass"]), rgb(STEM_COLOURS["drums"])
    sine_at, burst_at = picture.pixel("map", 0.5, LOW_HZ), picture.pixel("map", 1.5, 6000.0)
    assert sine_at == pixel("map", 0.5, LOW_HZ, picture.times)  # the layout is the documented one
    assert np.allclose(hue(image, sine_at), bass / bass.max(), atol=0.08)
    assert np.allclose(hue(image, burst_at), drums / drums.max(), atol=0.08)
    assert brightness(image, sine_at) > 0.3 and brightness(image, burst_at) > 0.2
    for silent in (picture.pixel("map", 0.5, 6000.0), picture.pixel("map", 1.5, LOW_HZ)):
        assert brightness(image, silent) < 0.05, "where the mixture is silent the stem map stays black"
    spectrogram = picture.pixel("spectrogram", 0.5, LOW_HZ), picture.pixel("spectrogram", 0.5, 6000.0)
    assert brightness(image, spectrogram[0]) > brightness(image, spectrogram[1]) + 0.3


def test_a_range_is_pictured_alone_with_its_own_time_axis(tmp_path: Path) -> None:
    wav = sine_then_burst(tmp_path / "sine-burst.wav")
    picture = inspect_file(wav, tmp_path / "range.png", BandSplitter(), start=1.0, length=1.0)  # type: ignore[arg-type]
    assert picture.times == pytest.approx((1.0, 2.0))
    image = matplotlib.image.imread(picture.path)
    assert brightness(image, picture.pixel("map", 1.5, LOW_HZ)) < 0.05, "the sine lies before the range"
    assert brightness(image, picture.pixel("map", 1.5, 6000.0)) > 0.2


def test_inspect_command_draws_the_low_sine_in_the_bass_colour_and_the_burst_in_another(tmp_path: Path) -> None:
    wav = sine_then_burst(tmp_path / "sine-burst.wav")
    png = tmp_path / "inspect.png"
    assert main(["inspect", str(wav), "-o", str(png), "--device", "cpu"]) == 0
    image = matplotlib.image.imread(png)
    assert image.shape[:2] == (HEIGHT, WIDTH)
    bass = rgb(STEM_COLOURS["bass"])
    sine, burst = hue(image, pixel("map", 0.5, LOW_HZ, (0.0, 2.0))), hue(image, pixel("map", 1.5, 6000.0, (0.0, 2.0)))
    assert np.allclose(sine, bass / bass.max(), atol=0.15), f"the shipped model gives a 70 Hz sine to bass; drawn {sine}"
    assert np.abs(burst - sine).max() > 0.3, "the high noise burst is drawn in another stem's colour"


@pytest.mark.parametrize("mode", [{"stems": None}, {"clusters": 3}], ids=["named", "blind"])
def test_inspect_levels_are_the_levels_of_the_stems_split_writes(mode: dict, separator: Separator, tmp_path: Path) -> None:
    stems, _ = generated_song(4, seconds=6.0)
    wav = audio.save(tmp_path / "song.wav", stems.sum(0), 44100)
    overview = analyse(wav, separator, columns=6, **mode)
    written = separator.separate_file(wav, tmp_path / "stems", **mode)
    for name, level, path in zip(overview.names, overview.levels_db[:-1], written, strict=True):
        x, _ = audio.load(path)
        columns = np.array_split(x, 6, axis=-1)
        expected = [10 * np.log10(np.mean(c.astype(np.float64) ** 2) + 1e-12) for c in columns]
        assert np.allclose(level, expected, atol=0.5), f"{name}: inspect {np.round(level, 1)}, {path.name} {np.round(expected, 1)}"


def test_masks_cover_every_frame_and_sum_to_one_over_stems(separator: Separator) -> None:
    x = np.random.default_rng(1).standard_normal((2, SR)).astype(np.float32) * 0.1
    names, masks = separator.masks(x, SR, stems="vocals")
    assert names == ["vocals", "other"]
    assert masks.shape == (2, SR // stft_size(SR)[1] + 1, 128)
    assert np.allclose(masks.sum(0), 1.0, atol=1e-4)


def test_a_range_outside_the_file_is_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = sine_then_burst(tmp_path / "short.wav")
    assert main(["inspect", str(wav), "--start", "5", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {wav}: --start 5 s is outside the file (0 … 2.00 s)"


@pytest.mark.parametrize(
    "argv",
    [["inspect", "{wav}"], ["split", "{wav}", "-o", "{out}", "--report"], ["evaluate", "--data", "{out}", "--plot", "{out}/c.png"]],
    ids=["inspect", "split --report", "evaluate --plot"],
)
def test_without_matplotlib_the_command_says_which_extra_to_install(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    wav = sine_then_burst(tmp_path / "a.wav")
    args = [a.format(wav=wav, out=tmp_path / "out") for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'stemsplit[plots]'" in err[0], err
    assert not (tmp_path / "out").exists(), "nothing runs before the check"


def test_evaluate_chart_has_a_bar_group_per_stem_with_mixture_and_oracle(tmp_path: Path) -> None:
    result = {
        "songs": 3,
        "named": {"mean": 5.0, "drums": 9.0, "bass": 6.0, "unknown": 1.0},
        "blind": {"mean": 6.0, "drums": 8.0, "bass": 7.0},
        "oracle": {"mean": 14.0, "drums": 15.0, "bass": 14.0},
    }
    png = plot_scores(result, tmp_path / "chart.png")
    image = matplotlib.image.imread(png)[..., :3]
    assert image.shape[:2] == (600, 1200)
    named = (np.abs(image - rgb("#2f7fff")).max(-1) < 0.02).sum()
    blind = (np.abs(image - rgb("#ff8c1a")).max(-1) < 0.02).sum()
    assert named > 2000 and blind > 2000, "named and blind bars are drawn in their colours"


def test_evaluate_plot_writes_the_chart_of_the_scores_it_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scores = {"songs": 2, "named": {"mean": 4.0, "bass": 6.0, "vocals": 2.0}, "oracle": {"mean": 12.0, "bass": 13.0, "vocals": 11.0}}
    monkeypatch.setattr("separator.training.evaluate.evaluate_model", lambda *args, **kwargs: scores)
    png = tmp_path / "scores.png"
    assert main(["evaluate", "--data", str(tmp_path), "--device", "cpu", "--plot", str(png)]) == 0
    image = matplotlib.image.imread(png)[..., :3]
    assert image.shape[:2] == (600, 1200)
    assert (np.abs(image - rgb("#2f7fff")).max(-1) < 0.02).sum() > 1000, "the named-stems bars"
