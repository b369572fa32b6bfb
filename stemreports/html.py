"""The report page of a batch (``report.html``): one self-contained page to judge a batch by ear and by eye.

One row per input, failures first: status and error, duration, real-time factor,
and per written stem (or mix) its integrated loudness (ITU-R BS.1770, LUFS, by
pyloudnorm), its true peak (dBTP, 4× oversampled, BS.1770-4), a spectrogram
thumbnail (embedded PNG) and an audio player linked relatively, so the folder can
be moved or served as it is. Columns sort on a click (inline script, no network,
no external fonts). The page is rewritten atomically after every finished file,
so an interrupted batch still has a valid page; unfinished inputs show as
``pending``.

>>> page = HtmlReport("stems/report.html", "separator split", inputs=files)
>>> report = split_files(files, "stems/", sep, progress=page.update)
>>> page.finish(report)
"""

from __future__ import annotations

import datetime
import html
import json
import math
import os
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from batch_runner.report import duration, failures_line
from batch_runner.results import DONE, FAILED, SKIPPED, BatchReport, FileResult, Progress, ProgressFn
from stembase import audio as audio_io
from stembase.errors import StemsplitError
from stembase.outputs import write_atomic
from stemreports.plots import as_data_uri, band_overview, require, thumbnail_png

HTML_NAME = "report.html"
PENDING = "pending"
STATUS_ORDER = {FAILED: 0, PENDING: 1, DONE: 2, SKIPPED: 3}
THUMB_COLUMNS = 160
TRUE_PEAK_OVERSAMPLING = 4


@dataclass
class StemStats:
    """One written file, measured: ``lufs`` integrated loudness (``-inf`` for silence, ``None`` when too short), ``peak_db`` in dBTP."""

    name: str
    path: Path
    lufs: float | None
    peak_db: float
    thumbnail: str
    seconds: float


def measure(path: str | Path, name: str | None = None) -> StemStats:
    """Loudness, true peak and a thumbnail of one audio file (read whole, one file at a time).

    Raises:
        AudioLoadError: the file cannot be read.
        PlotError: pyloudnorm or matplotlib missing.
    """
    pyln = require("the report", "pyloudnorm")["pyloudnorm"]
    path = Path(path)
    audio, rate = audio_io.load(path)
    try:
        lufs: float | None = float(pyln.Meter(rate).integrated_loudness(audio.T.astype(np.float64)))
    except ValueError:  # shorter than one 400 ms gating block
        lufs = None
    blocks = (audio[:, i : i + rate * 10] for i in range(0, audio.shape[-1], rate * 10))
    thumb = thumbnail_png(band_overview(blocks, audio.shape[-1], rate, THUMB_COLUMNS), rate)
    return StemStats(name or path.stem, path, lufs, true_peak_db(audio), as_data_uri(thumb), audio.shape[-1] / rate)


def true_peak_db(audio: np.ndarray, block: int = 1 << 16) -> float:
    """Peak of ``(channels, samples)`` audio oversampled 4× (ITU-R BS.1770-4 true peak), in dBTP; ``-inf`` for silence.

    Oversampled block by block with a margin either side, so memory stays small.
    """
    from scipy.signal import resample_poly

    pad, up = 64, TRUE_PEAK_OVERSAMPLING
    peak = float(np.abs(audio).max(initial=0.0))
    for i in range(0, audio.shape[-1], block):
        lo = max(0, i - pad)
        part = resample_poly(audio[:, lo : i + block + pad].astype(np.float64), up, 1, axis=-1)
        inner = part[:, (i - lo) * up : (i - lo + block) * up]
        peak = max(peak, float(np.abs(inner).max(initial=0.0)))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def output_name(result_input: Path, output: Path) -> str:
    """A column name for an output: its stem name, or ``mix`` for a chain's mixed file (``OUT/<track>.<ext>``)."""
    return output.stem if output.parent.name in (result_input.stem, result_input.name) else "mix"  # track "x" or "x.wav"


@dataclass
class _Row:
    input: Path
    status: str = PENDING
    result: FileResult | None = None
    stems: list[StemStats] = field(default_factory=list)
    note: str | None = None  # why a stem could not be measured


class HtmlReport:
    """``report.html`` of a batch, rewritten as files finish; pass :meth:`update` as the batch's ``progress``.

    Args:
        path: the page (its folder holds the outputs; links are relative to it).
        title: the command, e.g. ``separator split``.
        inputs: every input, so unfinished ones show as pending.
        about: run facts shown under the title (preset, model).
        forward: another progress function to call with every event (a progress bar).
    Raises:
        PlotError: matplotlib or pyloudnorm is missing (the plots extra); raised here, before any work.
    """

    def __init__(
        self,
        path: str | Path,
        title: str,
        inputs: Sequence[str | Path] = (),
        about: dict[str, Any] | None = None,
        forward: ProgressFn | None = None,
    ) -> None:
        require(f"{title} --report", "matplotlib", "pyloudnorm")
        self.path, self.title, self.about, self.forward = Path(path), title, dict(about or {}), forward
        self.rows: dict[Path, _Row] = {Path(f).resolve(): _Row(Path(f)) for f in inputs}
        self.batch: BatchReport | None = None
        self.write()

    def update(self, event: Progress) -> None:
        """A batch's progress function: measures and writes a finished file's row, then calls ``forward``.

        The row is written first, so a progress bar interrupted by Ctrl-C leaves it on the page.
        """
        if event.result is not None:
            self.add(event.result)
        if self.forward is not None:
            self.forward(event)

    def add(self, result: FileResult) -> None:
        row = self.rows.setdefault(result.input.resolve(), _Row(result.input))
        row.status, row.result, row.stems, row.note = result.status, result, [], None
        if result.status in (DONE, SKIPPED):
            for out in result.outputs:
                try:
                    row.stems.append(measure(out, output_name(result.input, out)))
                except StemsplitError as exc:
                    row.note = str(exc)
        self.write()

    def finish(self, report: BatchReport) -> Path:
        """Write the final page with the batch's totals; returns its path."""
        self.batch = report
        for result in report.results:
            row = self.rows.get(result.input.resolve())
            if row is None or row.result is None:
                self.add(result)
        return self.write()

    def write(self) -> Path:
        """Rewrite the page atomically.

        Raises:
            FileWriteError: it cannot be written.
        """
        return write_atomic(self.path, render_page(self))


# -- the page --------------------------------------------------------------------------------------


def _ordered(rows: list[_Row]) -> list[_Row]:
    """Failures first, then pending, done, skipped; input order within each."""
    return sorted(rows, key=lambda r: STATUS_ORDER.get(r.status, 9))


def _stem_columns(rows: list[_Row]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names.update((s.name, None) for s in row.stems)
    ordered = sorted(names, key=lambda n: n != "mix")  # the mix first, then stems in the order they were written
    return ordered


def _num(value: float | None, unit: str = "") -> tuple[str, str]:
    """``(sort key, display)`` of a number that may be missing or infinite."""
    if value is None:
        return "", "–"
    if math.isinf(value):
        return ("-1e9" if value < 0 else "1e9"), ("−∞" if value < 0 else "∞") + unit
    return f"{value:.3f}", f"{value:.1f}{unit}".replace("-", "−")


def _link(target: Path, page: Path) -> str:
    rel = os.path.relpath(target.absolute(), page.absolute().parent)
    return urllib.parse.quote(Path(rel).as_posix())


def render_page(report: HtmlReport) -> str:
    rows = _ordered(list(report.rows.values()))
    stems = _stem_columns(rows)
    head = [
        "<th data-type=text>status</th>",
        "<th data-type=text>input</th>",
        "<th data-type=text>error</th>",
        "<th data-type=num>duration</th>",
        "<th data-type=num title='audio seconds per second of processing'>real-time ×</th>",
    ]
    for name in stems:
        n = html.escape(name)
        head += [
            f"<th data-type=num data-stem='{n}' data-metric=lufs title='integrated loudness, ITU-R BS.1770'>{n} LUFS</th>",
            f"<th data-type=num data-stem='{n}' data-metric=peak title='true peak, 4× oversampled'>{n} dBTP</th>",
            f"<th class=media>{n}</th>",
        ]
    body = "\n".join(_row_html(row, stems, report.path) for row in rows)
    counts = {s: sum(r.status == s for r in rows) for s in (FAILED, PENDING, DONE, SKIPPED)}
    return PAGE.format(
        title=html.escape(f"{report.title} — report"),
        heading=html.escape(report.title),
        summary=html.escape(_summary(report, counts)),
        about="".join(f"<span><b>{html.escape(str(k))}</b> {html.escape(str(v))}</span>" for k, v in report.about.items()),
        head="".join(head),
        body=body,
        data=json.dumps(_data(rows, report.path)).replace("</", "<\\/"),
        style=STYLE,
        script=SCRIPT,
    )


def _summary(report: HtmlReport, counts: dict[str, int]) -> str:
    parts = [f"{len(report.rows)} files", *(f"{n} {s}" for s, n in counts.items() if n)]
    if report.batch is not None:
        b = report.batch
        parts += [
            f"wall time {duration(b.seconds)}",
            f"real-time factor {b.realtime_factor:.1f}×",
            f"engine {b.engine} ({b.jobs} worker{'s' if b.jobs != 1 else ''})",
        ]
    else:
        parts.append("in progress")
    stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return " · ".join(parts) + f" · updated {stamp}"


def _row_html(row: _Row, stems: list[str], page: Path) -> str:
    r = row.result
    error = failures_line(r) if r is not None and r.status == FAILED else (row.note or "")
    seconds = r.audio_seconds if r is not None else 0.0
    rtf = r.audio_seconds / r.seconds if r is not None and r.status == DONE and r.seconds > 0 else None
    rtf_key, rtf_text = _num(rtf, "×")
    cells = [
        f"<td class='status {row.status}' data-sort='{STATUS_ORDER.get(row.status, 9)}'>{row.status}</td>",
        f"<td class=input data-sort='{html.escape(str(row.input))}'>{html.escape(str(row.input))}</td>",
        f"<td class=error data-sort='{html.escape(error)}'>{html.escape(error)}</td>",
        f"<td class=num data-sort='{seconds:.3f}'>{duration(seconds) if seconds else '–'}</td>",
        f"<td class=num data-sort='{rtf_key}'>{rtf_text}</td>",
    ]
    by_name = {s.name: s for s in row.stems}
    for name in stems:
        s = by_name.get(name)
        if s is None:
            cells += ["<td class=num data-sort=''>–</td>"] * 2 + ["<td class=media></td>"]
            continue
        (lk, lt), (pk, pt) = _num(s.lufs), _num(s.peak_db)
        hot = " hot" if s.peak_db > -1.0 else ""
        link = _link(s.path, page)
        cells += [
            f"<td class=num data-stem='{html.escape(name)}' data-metric=lufs data-sort='{lk}'>{lt}</td>",
            f"<td class='num{hot}' data-stem='{html.escape(name)}' data-metric=peak data-sort='{pk}'>{pt}</td>",
            f"<td class=media><img alt='spectrogram of {html.escape(name)}' src='{s.thumbnail}' width={THUMB_COLUMNS} height=48>"
            f"<audio controls preload=none src='{link}'></audio><a href='{link}'>{html.escape(s.path.name)}</a></td>",
        ]
    return f"<tr data-input='{html.escape(str(row.input))}' data-status='{row.status}'>{''.join(cells)}</tr>"


def _data(rows: list[_Row], page: Path) -> list[dict[str, Any]]:
    """The rows as data, embedded in the page for scripts and audits."""
    out = []
    for row in rows:
        r = row.result
        out.append(
            {
                "input": str(row.input),
                "status": row.status,
                "error": (r.error if r is not None else None) or row.note,
                "audio_seconds": r.audio_seconds if r is not None else None,
                "seconds": r.seconds if r is not None else None,
                "stems": {
                    s.name: {"file": _link(s.path, page), "lufs": _finite(s.lufs), "true_peak_db": _finite(s.peak_db)} for s in row.stems
                },
            }
        )
    return out


def _finite(value: float | None) -> float | str | None:
    return value if value is None or math.isfinite(value) else str(value)


STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px;color:#1d1d1f;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}.summary{color:#555;margin-bottom:4px}.about span{margin-right:16px;color:#555}
table{border-collapse:collapse;margin-top:12px;background:#fff}
th,td{border-bottom:1px solid #e3e3e3;padding:4px 8px;text-align:left;vertical-align:middle;white-space:nowrap}
th{position:sticky;top:0;background:#f0f0f0;cursor:pointer;user-select:none;font-weight:600}
th.media{cursor:default}th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.error{white-space:normal;max-width:420px;color:#b00020}
td.status.failed{color:#fff;background:#c62828}td.status.done{color:#1b5e20}td.status.pending{color:#8a6d00}
td.status.skipped{color:#555}td.hot{color:#b00020;font-weight:600}
td.media img{display:block;border-radius:2px}td.media audio{display:block;width:160px;height:28px}
td.media a{font-size:11px;color:#555}
"""

SCRIPT = """
(function () {
  var table = document.getElementById("files");
  var heads = table.tHead.rows[0].cells;
  function key(row, i, numeric) {
    var v = row.cells[i].getAttribute("data-sort");
    if (!numeric) return (v || "").toLowerCase();
    return v === null || v === "" ? NaN : parseFloat(v);
  }
  function sortBy(i) {
    var th = heads[i], numeric = th.getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, i, numeric), y = key(b, i, numeric);
      if (numeric) {
        if (isNaN(x)) return isNaN(y) ? 0 : 1;
        if (isNaN(y)) return -1;
        return (x - y) * dir;
      }
      return x < y ? -dir : x > y ? dir : 0;
    });
    for (var j = 0; j < heads.length; j++) heads[j].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  for (var i = 0; i < heads.length; i++) {
    if (heads[i].className === "media") continue;
    heads[i].addEventListener("click", sortBy.bind(null, i));
  }
})();
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>{style}</style>
</head>
<body>
<h1>{heading}</h1>
<div class="summary">{summary}</div>
<div class="about">{about}</div>
<table id="files">
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
<script type="application/json" id="report-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""
