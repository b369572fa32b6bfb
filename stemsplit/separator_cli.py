"""``separator`` command line: split, make-data, train, evaluate.

Errors become one line on stderr (``error: <file>: <problem>``) and a non-zero
exit code; a failing file does not stop the others.
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from separator.errors import ModelLoadError, SeparatorError
from stembase import interrupt

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
INTERRUPTED = "separator: interrupted; no partial stems were left behind"
PLOTS_EXTRA = "needs the plots extra: pip install 'stemsplit[plots]'"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="separator", description="Split songs into stems with deep clustering.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_LazyParser)
    _split_parser(sub)
    _make_data_parser(sub)
    _tracker_data_parser(sub)
    _train_parser(sub)
    _evaluate_parser(sub)
    _export_parser(sub)
    _inspect_parser(sub)
    return parser


def _split_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("split", help="split audio files into stems", description="Write OUTDIR/<track>/<stem>.<ext> for every input.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (searched recursively)")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stems", metavar="LIST", help="comma-separated stem names (default: every class); the rest goes to other")
    mode.add_argument("--clusters", type=int, metavar="K", help="blind mode: split into K sources source1..sourceK")
    p.add_argument(
        "--start", type=float, default=0.0, metavar="S", help="split only from S seconds on (default 0; the same for every input)"
    )
    p.add_argument("--length", type=float, metavar="L", help="split only L seconds; stems are exactly this long (default: to the end)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the network and k-means run")
    p.add_argument("--model", metavar="PATH", help="checkpoint (default: the shipped model)")
    p.add_argument("--format", default="wav", choices=["wav", "flac"], dest="ext")
    p.add_argument("--bit-depth", default=None, choices=["16", "24", "32f"], help="default: 32f for WAV, 24 for FLAC")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    existing = p.add_mutually_exclusive_group()
    existing.add_argument("--skip-existing", action="store_true", help="leave tracks whose stems all exist (resume an interrupted run)")
    existing.add_argument("--overwrite", action="store_true", help="replace existing stems (by default they are refused)")
    p.add_argument("--report", action="store_true", help=f"also write OUTDIR/report.html: loudness, peaks, thumbnails ({PLOTS_EXTRA})")
    _engine_options(p)
    _threads_option(p)
    _settings_option(p)


def _engine_options(p: argparse.ArgumentParser) -> None:
    """Where the files are processed: threads here, or actors on a Ray cluster (docs/cluster.md)."""
    from batch_runner import ENGINES

    p.add_argument("--engine", default="local", choices=ENGINES, help="local threads (default) or a Ray cluster (the cluster extra)")
    p.add_argument("--address", metavar="ADDR", help="Ray cluster to join: auto, ray://HOST:PORT (default: start a local one)")
    p.add_argument(
        "-j",
        "--jobs",
        "--workers",
        dest="workers",
        type=int,
        metavar="N",
        help="files at once: threads (default 1) or Ray actors (default: all the cluster fits)",
    )
    p.add_argument("--gpus-per-worker", type=float, metavar="F", help="GPUs each Ray actor reserves (fractions share a GPU)")


def _fraction(text: str) -> float:
    """A chance from 0 to 1, for argparse (its error names the option and the value)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a chance: give a number from 0 to 1")
    return value


def _make_data_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("make-data", help="generate a multi-stem training or validation set")
    p.add_argument("out", metavar="OUTDIR")
    p.add_argument("--songs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--shard-size", type=int, default=250)
    p.add_argument("--stereo", action="store_true", help="accepted for compatibility: stems are always stereo now")
    p.add_argument("--mono", action="store_true", help="store mono downmixes (n_songs, n_slots, samples), the old layout")
    p.add_argument("--soundfont", action="append", metavar="SF2", help="use only these SoundFonts (repeatable)")
    p.add_argument("--no-espeak", action="store_true", help="no espeak-ng speech in the vocals")
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="make songs even when no source found plays some classes or an --only pattern matches none",
    )
    p.add_argument("--heavy-fx", action="store_true", help="more timbre variety per stem: EQ tilt, saturation, voice pitch, chorus, plates")
    p.add_argument(
        "--rock-guitar",
        type=_fraction,
        default=0.0,
        metavar="P",
        help="chance (0-1) that a song's guitar plays a lead line with bends or a power-chord riff, mostly through "
        "an amp and cabinet (default 0: strums and arpeggios only)",
    )
    p.add_argument(
        "--only", action="append", default=[], metavar="PAT", help="draw only from sources whose id contains PAT (repeatable or a,b)"
    )
    p.add_argument(
        "--exclude", action="append", default=[], metavar="PAT", help="leave out sources whose id contains PAT (repeatable or a,b)"
    )
    p.add_argument(
        "--sounds",
        action="append",
        default=[],
        metavar="DIR",
        help="another root of one-shot packs (DIR/PACK/...; also $SEPARATOR_SOUNDS, ~/.cache/separator/sounds)",
    )


def _tracker_data_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tracker-data",
        help="training windows with exact per-instrument stems from tracker songs (.mod .xm .it .s3m)",
        description="Render tracker modules per instrument with libopenmpt and write OUT/shard-NNNNN.npz; "
        "see docs/training-data-tracker.md. Songs from reserved packages are refused.",
    )
    p.add_argument("out", metavar="OUT")
    p.add_argument("--modules", nargs="+", required=True, metavar="DIR", help="folders searched recursively (DIR/PKG/... from dpkg -x)")
    p.add_argument("--seconds", type=float, default=4.0, help="window length (and hop) in seconds")
    p.add_argument("--max-windows-per-song", type=int, default=25, metavar="N", help="evenly spread; 0 = all")
    p.add_argument("--exclude", action="append", default=[], metavar="PAT", help="fnmatch pattern on song id or path (repeatable)")
    p.add_argument("--val", metavar="DIR", help="write the held-out songs here (they never go to OUT either way)")
    p.add_argument("--holdout-percent", type=float, default=10.0, help="share of songs held out, chosen by song-id hash")
    p.add_argument("--jobs", type=int, default=1, help="processes rendering songs (the shards are the same for any count)")


class _LazyParser(argparse.ArgumentParser):
    """A subcommand whose options are added only when it is used: ``train``'s come from a module that imports torch."""

    def __init__(self, *args: Any, populate: Callable[[argparse.ArgumentParser], None] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._populate = populate

    def _ready(self) -> None:
        if self._populate is not None:
            populate, self._populate = self._populate, None
            populate(self)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        self._ready()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._ready()
        return super().format_help()


def _train_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sub.add_parser("train", help="train (or resume) a model; see separator/pretrained/README.md", populate=_train_options)


def _train_options(p: argparse.ArgumentParser) -> None:
    from separator.training.train import OPTION_HELP, TrainConfig

    for name, value in vars(TrainConfig()).items():
        flag = f"--{name.replace('_', '-')}"
        text = OPTION_HELP[name] + (f" (default: {value})" if value not in ("", None, False) else "")
        if isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=value, help=OPTION_HELP[name])
        else:
            p.add_argument(flag, type=type(value) if value is not None else str, default=value, help=text)


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("evaluate", help="SI-SDR improvement table on generated songs or your own multitracks")
    p.add_argument(
        "--data", required=True, metavar="DIR",
        help="a folder made by make-data, MUSDB18-HQ (its test/ is read) or one folder per song: <song>/mixture.wav + <stem>.wav",
    )  # fmt: skip
    p.add_argument(
        "--stem-map",
        default="",
        metavar="MAP",
        help='for <song>/<stem>.wav folders: file name patterns to stems, e.g. "gtr*=guitar,vox*=vocals"',
    )
    p.add_argument("--model", metavar="PATH")
    p.add_argument("--max-songs", type=int, default=50)
    p.add_argument("--skip-songs", type=int, default=0, metavar="N", help="leave out the first N songs (e.g. those settings were tuned on)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--json", metavar="FILE",
        help="also write the scores as JSON, song by song too (scripts/compare-scores.py pairs two such files)",
    )  # fmt: skip
    p.add_argument("--no-oracle", action="store_true", help="skip the oracle binary-mask row")
    p.add_argument(
        "--confusion",
        action="store_true",
        help="also where each stem goes: in the mix (the named split's share of each source) and split alone",
    )
    p.add_argument("--karaoke", action="store_true", help="also score the karaoke preset's accompaniment (songs with vocals)")
    p.add_argument("--plot", metavar="PNG", help=f"also draw the table as a bar chart ({PLOTS_EXTRA})")
    p.add_argument(
        "--threads", type=int, metavar="N",
        help="CPU threads, fixed for the whole run (default: $SEPARATOR_THREADS or every core). A split follows the "
        "machine's load with its thread count, and other counts round differently: scores moved by 0.1 dB between runs",
    )  # fmt: skip
    _settings_option(p)


def _settings_option(p: argparse.ArgumentParser) -> None:
    """``--settings FILE``: split settings over the model file's own (docs/settings.md)."""
    p.add_argument(
        "--settings", metavar="FILE", help="TOML or JSON file of split settings over the model's own (experts; docs/settings.md)"
    )


def _threads_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads for the network and masks (default: $SEPARATOR_THREADS or all cores)"
    )


def _settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--settings`` file's settings (checked), or none."""
    from separator.settings import read_overrides

    return read_overrides(args.settings) if getattr(args, "settings", None) else {}


def _export_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="turn a training checkpoint (or several, as an ensemble) into a small shippable model")
    p.add_argument(
        "checkpoint", metavar="CHECKPOINT", nargs="+", help="e.g. runs/default/best.pt; several make an ensemble that splits as one model"
    )
    p.add_argument("-o", "--out", default=None, metavar="PATH", help="default: the package's pretrained/default.pt")
    _settings_option(p)


def _inspect_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "inspect",
        help="picture of a split: spectrogram, where each stem is taken from, stem levels",
        description=f"Write a PNG: the mixture's spectrogram, a stem map and each stem's level over time ({PLOTS_EXTRA}).",
    )
    p.add_argument("input", metavar="INPUT", help="an audio file")
    p.add_argument("-o", "--out", metavar="PNG", help="the picture (default: INPUT's name with .png, in this folder)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stems", metavar="LIST", help="comma-separated stem names (default: every class); the rest goes to other")
    mode.add_argument("--clusters", type=int, metavar="K", help="blind mode: K sources source1..sourceK")
    p.add_argument("--start", type=float, metavar="S", help="picture of a range starting at S seconds (default: the whole file)")
    p.add_argument("--length", type=float, metavar="L", help="range length in seconds (default: to the end)")
    p.add_argument("--width", type=int, default=1600, help="picture width in pixels")
    p.add_argument("--height", type=int, default=1000, help="picture height in pixels")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--model", metavar="PATH", help="checkpoint (default: the shipped model)")
    _settings_option(p)


def _inspect(args: argparse.Namespace) -> int:
    from separator.separate import Separator
    from stemreports.analysis import inspect_file
    from stemreports.plots import require

    require("separator inspect", "matplotlib")  # one line, before the model loads
    out = Path(args.out) if args.out else Path(Path(args.input).stem + ".png")
    separator = Separator.from_pretrained(args.model, device=args.device, **_settings_overrides(args))
    picture = inspect_file(args.input, out, separator, args.stems, args.clusters, args.start, args.length, args.width, args.height)
    print(f"{picture.path}: {', '.join(picture.overview.names)}", file=sys.stderr)
    return EXIT_OK


def find_inputs(inputs: Sequence[str], exclude: str | Path | None = None) -> tuple[list[Path], list[str]]:
    """Expand files, folders and globs as ``plugin-host run`` does (:mod:`batch_runner.inputs`: hidden and
    temporary files and everything under ``exclude``, the output folder, left out); returns ``(files, problems)``."""
    from batch_runner.inputs import empty_folders, expand_inputs

    problems = [f"{folder}: folder holds no audio files" for folder in empty_folders(inputs, exclude)]
    return expand_inputs(inputs, exclude), problems


def _split(args: argparse.Namespace) -> int:
    from batch_runner import REPORT_NAME, make_engine, table, write_report
    from batch_runner.progress import ProgressBar, durations
    from batch_runner.report import wants_summary
    from separator.devices import keep_freed_memory
    from separator.separate import Separator
    from stembase.outputs import check_output_dir
    from stemsplit.split_batch import split_files

    if args.report:
        from stemreports.plots import require

        require("separator split --report", "matplotlib", "pyloudnorm")  # one line, before the model loads
    bit_depth = args.bit_depth or ("24" if args.ext == "flac" else "32f")
    check_output_dir(args.out)  # a file, no permission: one line before the model loads
    files, problems = find_inputs(args.inputs, exclude=args.out)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    engine = make_engine(
        args.engine, workers=args.workers, address=args.address, gpus_per_worker=args.gpus_per_worker, workers_label="jobs"
    )
    overrides = _settings_overrides(args)
    on_ray = args.engine == "ray"
    # on Ray the driver only names and checks the stems; every actor loads its own model on its own device
    keep_freed_memory()  # fewer page faults per segment (separator.devices)
    separator = Separator.from_pretrained(args.model, device="cpu" if on_ray else args.device, threads=args.threads, **overrides)
    model = str(Path(args.model).absolute()) if args.model else None  # the actors may run in another folder
    load = functools.partial(Separator.from_pretrained, model, args.device, threads=args.threads, **overrides) if on_ray else None
    seconds = {f: _range_seconds(total, args.start, args.length) for f, total in durations(files).items()}
    with ProgressBar(seconds, args.quiet, failed_prefix="error", show_done=True) as bar:
        report = split_files(
            args.inputs,
            args.out,
            separator,
            load_separator=load,
            stems=args.stems,
            clusters=args.clusters,
            ext=args.ext,
            bit_depth=bit_depth,
            engine=engine,
            skip_existing=args.skip_existing,
            overwrite=args.overwrite,
            progress=bar.update,
            html_report=Path(args.out) / "report.html" if args.report else None,
            start=args.start,
            length=args.length,
        )
    if on_ray and report.results:
        write_report(report, Path(args.out) / REPORT_NAME, {"command": "separator split", "model": str(args.model or "default")})
    if not args.quiet and wants_summary(report):
        print(table(report, "separator split"))
    return EXIT_FAILED if problems or not report.ok else EXIT_OK


def _range_seconds(total: float, start: float, length: float | None) -> float:
    """The seconds of a file of ``total`` seconds that ``--start``/``--length`` take (what the progress bar counts)."""
    rest = max(0.0, total - max(0.0, start))
    return rest if length is None else min(max(0.0, length), rest)


def _make_data(args: argparse.Namespace) -> int:
    from separator.training.data.make import Recipe, drawn_counts, format_counts, format_sources, make_dataset
    from stembase.outputs import check_output_dir

    check_output_dir(args.out, "the OUTDIR argument")  # a file, no permission: one line before any work

    def patterns(values: list[str]) -> list[str]:
        return [p.strip() for v in values for p in v.split(",") if p.strip()]

    recipe = Recipe(
        seed=args.seed,
        seconds=args.seconds,
        only=patterns(args.only),
        exclude=patterns(args.exclude),
        heavy_fx=args.heavy_fx,
        rock_guitar=args.rock_guitar,
    )
    recipe.sounds = [*args.sounds, *recipe.sounds]
    if args.soundfont:
        recipe.soundfonts = args.soundfont
    if args.no_espeak:
        recipe.use_espeak = False
    print(format_sources(recipe), file=sys.stderr)
    shards = make_dataset(
        args.out, args.songs, recipe, shard_size=args.shard_size, jobs=args.jobs, stereo=not args.mono, allow_missing=args.allow_missing
    )
    print(format_counts(drawn_counts(shards)), file=sys.stderr)
    print(f"{args.songs} songs in {len(shards)} shards under {args.out}", file=sys.stderr)
    return EXIT_OK


def _tracker_data(args: argparse.Namespace) -> int:
    from separator.training.data.tracker import TrackerRecipe, build_dataset, find_songs, label_shares, libopenmpt, package_table
    from stembase.outputs import check_output_dir

    libopenmpt()  # a missing library is one line, before any work
    check_output_dir(args.out, "the OUT argument")
    if args.val:
        check_output_dir(args.val, "--val")
    songs, refused = find_songs(args.modules, args.exclude)
    if refused:
        print(f"refused {len(refused)} files from reserved packages (e.g. {refused[0]})", file=sys.stderr)
    if not songs:
        print(f"error: no module files (.mod .xm .it .s3m .zik, .dat archives) under {' '.join(args.modules)}", file=sys.stderr)
        return EXIT_FAILED
    limit = args.max_windows_per_song or None
    recipe = TrackerRecipe(seconds=args.seconds, max_windows_per_song=limit, holdout_percent=args.holdout_percent)
    stats = build_dataset(songs, args.out, recipe, val_out=args.val, jobs=max(1, args.jobs))
    for package, row in package_table(stats).items():
        print(f"{package:24s} {row['songs']:3d} songs {row['windows']:5d} windows  labelled {row['labelled']:.0%}"
              f"  ({row['held_out']} held out, {row['failed']} failed)", file=sys.stderr)  # fmt: skip
    train = [s for s in stats if not s.held_out]
    shares = label_shares([sum(column) for column in zip(*(s.label_energy for s in train), strict=True)] if train else [0.0] * 6)
    print(f"{sum(s.windows for s in train)} windows from {sum(bool(s.windows) for s in train)} songs under {args.out}; energy share: "
          + ", ".join(f"{name} {share:.1%}" for name, share in shares.items()), file=sys.stderr)  # fmt: skip
    return EXIT_OK


def _train(args: argparse.Namespace) -> int:
    from separator.training.train import TrainConfig, train

    logging.getLogger("separator").setLevel(logging.INFO)
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__})
    print(f"checkpoint: {train(cfg)}", file=sys.stderr)
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    import json

    from separator.devices import measuring_threads
    from separator.separate import Separator
    from separator.training.evaluate import evaluate_model, format_table

    threads = measuring_threads(args.threads)
    separator = Separator.from_pretrained(args.model, device=args.device, threads=threads, **_settings_overrides(args))
    if args.plot:
        from stemreports.plots import require

        require("--plot", "matplotlib")  # before the evaluation's minutes of work
    result = evaluate_model(
        separator, args.data, args.max_songs, oracle=not args.no_oracle, karaoke=args.karaoke, skip_songs=args.skip_songs,
        stem_map=args.stem_map or None, in_mix=args.confusion, per_song=bool(args.json),
    )  # fmt: skip
    print(format_table(result))
    if args.confusion:
        from separator.training.evaluate import confusion, format_confusion

        if "in_mix" in result:  # every scored song has two audible sources, so there is one unless nothing was heard
            print(format_confusion(result["in_mix"], "in the mix → share"))
        result["confusion"] = confusion(separator, args.data, args.max_songs, args.stem_map or None, args.skip_songs)
        print(format_confusion(result["confusion"]))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if args.plot:
        from stemreports.plots import plot_scores

        print(f"chart: {plot_scores(result, args.plot)}", file=sys.stderr)
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from separator.model import ChimeraEnsemble, ChimeraNet, Network, load_checkpoint, save_checkpoint
    from separator.separate import DEFAULT_MODEL
    from separator.settings import SplitSettings

    loaded = [load_checkpoint(path) for path in args.checkpoint]
    described = [{"step": extra.get("step"), "val": extra.get("val"), "config": extra.get("config")} for _, extra in loaded]
    model: Network = loaded[0][0]
    settings = (model.split_settings or SplitSettings()).replace(**_settings_overrides(args))
    kept = {**described[0], "inference": settings.to_dict()}  # every setting, so the file says how it splits
    if len(loaded) > 1:
        members = [m for net, _ in loaded for m in (net.members if isinstance(net, ChimeraEnsemble) else [net])]
        try:
            model = ChimeraEnsemble([m for m in members if isinstance(m, ChimeraNet)])
        except ValueError as exc:
            raise ModelLoadError(f"{', '.join(args.checkpoint)}: {exc}") from exc
        kept["members"] = described
    out = Path(args.out) if args.out else DEFAULT_MODEL
    save_checkpoint(model, out, kept, half=True)
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB, step {kept['step']}, inference {kept['inference']}", file=sys.stderr)
    return EXIT_OK


COMMANDS = {
    "split": _split,
    "make-data": _make_data,
    "tracker-data": _tracker_data,
    "train": _train,
    "evaluate": _evaluate,
    "export": _export,
    "inspect": _inspect,
}


def _import_torch() -> None:
    """Import torch and the separator while Ctrl-C still exits at once (:mod:`stembase.interrupt`).

    The cyclic garbage collector is off while torch loads (its passes over the 170,000 new objects free
    nothing and cost 0.1 s), and those objects are then frozen out of later collections (:func:`gc.freeze`).
    """
    gc.disable()
    try:
        import separator.separate  # noqa: F401
    finally:
        gc.enable()
        gc.freeze()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (``separator`` calls ``sys.exit`` with it)."""
    # numpy's and scipy's OpenBLAS: one thread unless asked (their matrices here are tiny, and their idle
    # threads spin on the cores torch needs); set before numpy loads, which the parser's imports do
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        args = get_parser().parse_args(argv)
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
        warnings.formatwarning = lambda message, *a, **k: f"warning: {message}\n"
        if args.command in ("split", "evaluate", "export", "inspect", "train"):
            _import_torch()
        interrupt.raise_from_now_on()
        return COMMANDS[args.command](args)
    except SeparatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_FAILED
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> None:
    interrupt.run_command(main, INTERRUPTED, EXIT_INTERRUPTED, skip_teardown=True)
