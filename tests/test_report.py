"""``--report``: the report page of a batch, parsed and opened in a real headless browser."""

from __future__ import annotations

import html.parser
import io
import json
import sys
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from batch_runner import FAILED, Progress
from plugin_host.batch import run_batch
from separator.separate import Separator
from stembase import audio
from stemsplit.plugin_host_cli import main as plugin_host_main
from stemsplit.split_batch import split_files

pyln = pytest.importorskip("pyloudnorm", reason="the plots extra: pip install -e '.[plots]' (included in .[dev])")
pytest.importorskip("matplotlib", reason="the plots extra: pip install -e '.[plots]' (included in .[dev])")
import matplotlib.image  # noqa: E402
from browser import Page, chromium_binary  # noqa: E402

SR = 22050
QUIET_PRESET = "format: 1\nname: quieter\nchain:\n  - plugin: Gain\n    params: {gain_db: -6.0}\n"


class Table(html.parser.HTMLParser):
    """The report's table: ``rows`` of ``{"attrs": tr attributes, "cells": [(td attributes, text)]}``, and every link."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: list[dict] = []  # type: ignore[type-arg]
        self.headers: list[str] = []
        self.links: list[str] = []
        self.data: str = ""
        self._cell: dict | None = None  # type: ignore[type-arg]
        self._in: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and "data-input" in a:
            self.rows.append({"attrs": a, "cells": []})
        elif tag in ("td", "th"):
            self._cell = {"attrs": a, "text": "", "tag": tag}
        elif tag in ("audio", "a") and a.get("src" if tag == "audio" else "href"):
            self.links.append(str(a.get("src") or a.get("href")))
        elif tag == "script" and a.get("id") == "report-data":
            self._in = "data"

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] += data
        if self._in == "data":
            self.data += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            if tag == "th":
                self.headers.append(self._cell["text"])
            elif self.rows:
                self.rows[-1]["cells"].append((self._cell["attrs"], self._cell["text"]))
            self._cell = None
        if tag == "script":
            self._in = None


def tone(path: Path, level: float, seconds: float = 1.5, channels: int = 2) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    x = level * (np.sin(2 * np.pi * 110 * t) + 0.3 * np.sin(2 * np.pi * 2500 * t))
    return audio.save(path, np.tile(x, (channels, 1)).astype(np.float32), SR)


def not_audio(path: Path) -> Path:
    path.write_bytes(b"this is not audio" * 10)
    return path


@pytest.fixture(scope="module")
def split_page(tmp_path_factory: pytest.TempPathFactory, separator: Separator) -> tuple[Path, list[Path]]:
    """``separator split --stems bass`` over one 1.5 s song and one broken file, through the API."""
    root = tmp_path_factory.mktemp("split")
    files = [tone(root / "in" / "song.wav", 0.3), not_audio(root / "in" / "broken.wav")]
    page = root / "stems" / "report.html"
    report = split_files(files, root / "stems", separator, stems="bass", html_report=page)
    assert [r.status for r in report.results] == ["done", FAILED]
    return page, files


@pytest.fixture(scope="module")
def chain_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """``plugin-host run --report`` over three songs at different levels and a broken file (no model: fast)."""
    root = tmp_path_factory.mktemp("chain")
    preset = root / "quieter.yaml"
    preset.write_text(QUIET_PRESET)
    files = [tone(root / "in" / f"{name}.wav", level) for name, level in (("loud", 0.5), ("soft", 0.05), ("mid", 0.2))]
    files.append(not_audio(root / "in" / "broken.wav"))
    assert plugin_host_main(["run", str(preset), str(root / "in"), "-o", str(root / "out"), "--report", "-q"]) == 1
    return root / "out" / "report.html", files


def test_split_report_has_a_row_per_input_failures_first_with_their_error(split_page: tuple[Path, list[Path]]) -> None:
    page, (song, broken) = split_page
    table = Table(page.read_text(encoding="utf-8"))
    assert [r["attrs"]["data-input"] for r in table.rows] == [str(broken), str(song)], "failures first"
    failed, done = table.rows
    assert failed["attrs"]["data-status"] == "failed" and done["attrs"]["data-status"] == "done"
    error = next(text for attrs, text in failed["cells"] if attrs.get("class") == "error")
    assert error.startswith(f"{broken}: not a readable audio file")
    assert {"bass LUFS", "bass dBTP", "other LUFS", "other dBTP"} <= set(table.headers)


def test_split_report_loudness_matches_pyloudnorm_and_links_resolve(split_page: tuple[Path, list[Path]]) -> None:
    page, _ = split_page
    table = Table(page.read_text(encoding="utf-8"))
    assert len(table.links) == 4  # a player and a link per stem
    for link in table.links:
        assert (page.parent / urllib.parse.unquote(link)).is_file(), link
    done = table.rows[1]
    for stem in ("bass", "other"):
        written, rate = audio.load(page.parent / "song" / f"{stem}.wav")
        cells = {attrs["data-metric"]: float(attrs["data-sort"]) for attrs, _ in done["cells"] if attrs.get("data-stem") == stem}
        assert cells["lufs"] == pytest.approx(pyln.Meter(rate).integrated_loudness(written.T.astype(np.float64)), abs=0.01)
        sample_peak = 20 * np.log10(np.abs(written).max())
        assert sample_peak - 0.01 <= cells["peak"] <= sample_peak + 3.1, "true peak is at or a little above the sample peak"
    data = json.loads(table.data)
    assert [d["status"] for d in data] == ["failed", "done"] and data[1]["stems"]["bass"]["file"] == "song/bass.wav"


def test_chain_report_names_the_mix_and_measures_each_file(chain_page: tuple[Path, list[Path]]) -> None:
    page, files = chain_page
    table = Table(page.read_text(encoding="utf-8"))
    assert sorted(r["attrs"]["data-input"] for r in table.rows) == sorted(str(f) for f in files)
    assert table.rows[0]["attrs"]["data-status"] == "failed"
    assert "mix LUFS" in table.headers
    for row in table.rows[1:]:
        lufs = {a["data-metric"]: float(a["data-sort"]) for a, _ in row["cells"] if a.get("data-stem") == "mix"}["lufs"]
        written, rate = audio.load(page.parent / f"{Path(row['attrs']['data-input']).stem}.wav")
        assert lufs == pytest.approx(pyln.Meter(rate).integrated_loudness(written.T.astype(np.float64)), abs=0.01)


def test_an_interrupted_batch_leaves_a_valid_page_with_the_rest_pending(tmp_path: Path) -> None:
    files = [tone(tmp_path / "in" / f"{i}.wav", 0.2, seconds=0.6) for i in range(3)]
    preset = tmp_path / "quieter.yaml"
    preset.write_text(QUIET_PRESET)

    def interrupt(event: Progress) -> None:
        if event.result is not None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(preset, files, tmp_path / "out", progress=interrupt, html_report=tmp_path / "out" / "report.html")
    table = Table((tmp_path / "out" / "report.html").read_text(encoding="utf-8"))
    assert [r["attrs"]["data-status"] for r in table.rows] == ["pending", "pending", "done"]
    assert not list((tmp_path / "out").glob(".*part*")), "the page is written atomically"


def test_report_page_in_a_headless_browser_has_no_errors_draws_and_sorts(chain_page: tuple[Path, list[Path]]) -> None:
    page_path, _ = chain_page
    browser = Page(chromium_binary())
    try:
        browser.open(page_path)
        assert browser.errors == []
        order = "Array.from(document.querySelectorAll('#files tbody tr')).map(r => r.dataset.input.split('/').pop())"
        assert browser.evaluate(order)[0] == "broken.wav"
        browser.click("th[data-stem='mix'][data-metric='lufs']")
        assert browser.evaluate(order) == ["soft.wav", "mid.wav", "loud.wav", "broken.wav"], "ascending; unmeasured last"
        browser.click("th[data-stem='mix'][data-metric='lufs']")
        assert browser.evaluate(order)[:3] == ["loud.wav", "mid.wav", "soft.wav"], "a second click reverses"
        shot = matplotlib.image.imread(io.BytesIO(browser.screenshot()), format="png")[..., :3]
        assert browser.errors == []
    finally:
        browser.close()
    assert shot.shape[0] > 300 and shot.shape[1] > 600
    assert shot.std() > 0.1, "the screenshot is not blank"
    assert (np.abs(shot - np.array([0xC6, 0x28, 0x28]) / 255).max(-1) < 0.05).sum() > 100, "the failed row is drawn in red"


class RemoteLikeEngine:
    """An engine that behaves like the Ray engine as the driver sees it: absolute paths, no audio progress,
    each file announced once it is finished (by a worker elsewhere)."""

    name, workers = "ray", 1

    def run(self, tasks, factory, notify):  # type: ignore[no-untyped-def]
        from batch_runner import attempt
        from batch_runner.ray import _absolute

        worker, results = factory(), {}
        for task in tasks:
            results[task.index] = result = attempt(worker, _absolute(task), lambda seconds: None, "ray:10.0.0.7:4242")
            notify(Progress(result.input, 0.0, result))
        return results


def test_a_remote_engines_absolute_paths_give_the_same_rows_and_relative_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("quieter.yaml").write_text(QUIET_PRESET)
    files = [tone(Path("in") / "a.wav", 0.3, seconds=0.6), not_audio(Path("in") / "b.wav")]
    report = run_batch("quieter.yaml", files, "out", engine=RemoteLikeEngine(), html_report="out/report.html")
    assert report.engine == "ray"
    table = Table(Path("out/report.html").read_text(encoding="utf-8"))
    assert [r["attrs"]["data-input"] for r in table.rows] == ["in/b.wav", "in/a.wav"], "one row per input, as given"
    assert table.links == ["a.wav", "a.wav"]
    assert "engine ray" in Path("out/report.html").read_text(encoding="utf-8")


def test_plugin_host_report_without_the_plots_extra_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pyloudnorm", None)
    song = tone(tmp_path / "a.wav", 0.3, seconds=0.6)
    assert plugin_host_main(["run", "master-bus", str(song), "-o", str(tmp_path / "out"), "--report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["plugin-host: error: plugin-host run --report needs pyloudnorm, which is not installed; "
                   "install the plots extra: pip install 'stemsplit[plots]'"]  # fmt: skip
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("output", "name"),
    [
        ("out/x/drums.wav", "drums"),
        ("out/x.wav/drums.wav", "drums"),
        ("out/cd1/x/bass.wav", "bass"),
        ("out/x.wav.wav", "mix"),
        ("out/x.wav", "mix"),
    ],
)
def test_report_columns_name_the_stems_of_every_track_the_output_rule_makes(output: str, name: str) -> None:
    from stemreports.html import output_name

    assert output_name(Path("coll/x.wav"), Path(output)) == name
