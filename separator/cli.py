"""``separator`` command line: split, make-data, train, evaluate.

Errors become one line on stderr (``error: <file>: <problem>``) and a non-zero
exit code; a failing file does not stop the others.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from separator.errors import SeparatorError

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".w64", ".caf"}
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="separator", description="Split songs into stems with deep clustering.")
    sub = parser.add_subparsers(dest="command", required=True)
    _split_parser(sub)
    _make_data_parser(sub)
    _train_parser(sub)
    _evaluate_parser(sub)
    _export_parser(sub)
    return parser


def _split_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("split", help="split audio files into stems", description="Write OUTDIR/<track>/<stem>.<ext> for every input.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (searched recursively)")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stems", metavar="LIST", help="comma-separated stem names (default: every class); the rest goes to other")
    mode.add_argument("--clusters", type=int, metavar="K", help="blind mode: split into K sources source1..sourceK")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the network and k-means run")
    p.add_argument("--model", metavar="PATH", help="checkpoint (default: the shipped model)")
    p.add_argument("--format", default="wav", choices=["wav", "flac"], dest="ext")
    p.add_argument("--bit-depth", default=None, choices=["16", "24", "32f"], help="default: 32f for WAV, 24 for FLAC")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--skip-existing", action="store_true", help="leave tracks whose stems all exist (resume an interrupted run)")
    _engine_options(p)
    _inference_options(p)


def _engine_options(p: argparse.ArgumentParser) -> None:
    """Where the files are processed: threads here, or actors on a Ray cluster (docs/cluster.md)."""
    from separator.engines import ENGINES

    p.add_argument("--engine", default="local", choices=ENGINES, help="local threads (default) or a Ray cluster (the cluster extra)")
    p.add_argument("--address", metavar="ADDR", help="Ray cluster to join: auto, ray://HOST:PORT (default: start a local one)")
    p.add_argument(
        "--workers", type=int, metavar="N", help="files at once: threads (default 1) or Ray actors (default: all the cluster fits)"
    )
    p.add_argument("--gpus-per-worker", type=float, metavar="F", help="GPUs each Ray actor reserves (fractions share a GPU)")


def _make_data_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("make-data", help="generate a multi-stem training or validation set")
    p.add_argument("out", metavar="OUTDIR")
    p.add_argument("--songs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--shard-size", type=int, default=250)
    p.add_argument("--stereo", action="store_true", help="keep stereo stems (evaluation sets)")
    p.add_argument("--soundfont", action="append", metavar="SF2", help="use only these SoundFonts (repeatable)")
    p.add_argument("--no-espeak", action="store_true", help="no espeak-ng speech in the vocals")


def _train_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from separator.train import TrainConfig

    p = sub.add_parser("train", help="train (or resume) a model; see separator/pretrained/README.md")
    for name, value in vars(TrainConfig()).items():
        kind = type(value) if value is not None else str
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value)


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("evaluate", help="SI-SDR improvement table on generated songs")
    p.add_argument("--data", required=True, metavar="DIR", help="a folder made by make-data")
    p.add_argument("--model", metavar="PATH")
    p.add_argument("--max-songs", type=int, default=50)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", metavar="FILE", help="also write the scores as JSON")
    p.add_argument("--no-oracle", action="store_true", help="skip the oracle binary-mask row")
    _inference_options(p)


def _inference_options(p: argparse.ArgumentParser) -> None:
    """Overrides of the inference settings stored in the checkpoint."""
    p.add_argument("--hardness", type=float, help="blind mode soft k-means hardness (inf: binary masks)")
    p.add_argument("--class-weight", type=float, help="blind mode: weight of the class posteriors in clustering")
    p.add_argument("--reference-db", type=float, help="RMS level (dBFS) the network hears every track at")
    p.add_argument("--mask-power", type=float, help="named mode: sharpen the masks (1: as the network gives them)")


def _inference_overrides(args: argparse.Namespace) -> dict[str, float]:
    names = ("hardness", "class_weight", "reference_db", "mask_power")
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _export_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="turn a training checkpoint into a small shippable model")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="e.g. runs/default/best.pt")
    p.add_argument("-o", "--out", default=None, metavar="PATH", help="default: the package's pretrained/default.pt")
    _inference_options(p)


def find_inputs(inputs: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Expand folders recursively to their audio files; returns ``(files, problems)``."""
    files: list[Path] = []
    problems: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
            files.extend(found) if found else problems.append(f"{path}: folder holds no audio files")
        else:
            files.append(path)
    return files, problems


def _split(args: argparse.Namespace) -> int:
    from separator.batch import split_files
    from separator.engines import REPORT_NAME, make_engine, table, write_report
    from separator.engines.progress import ProgressBar, durations
    from separator.separate import Separator

    bit_depth = args.bit_depth or ("24" if args.ext == "flac" else "32f")
    files, problems = find_inputs(args.inputs)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    engine = make_engine(args.engine, workers=args.workers, address=args.address, gpus_per_worker=args.gpus_per_worker)
    overrides = _inference_overrides(args)
    on_ray = args.engine == "ray"
    # on Ray the driver only names and checks the stems; every actor loads its own model on its own device
    separator = Separator.from_pretrained(args.model, device="cpu" if on_ray else args.device, **overrides)
    model = str(Path(args.model).absolute()) if args.model else None  # the actors may run in another folder
    load = functools.partial(Separator.from_pretrained, model, args.device, **overrides) if on_ray else None
    with ProgressBar(durations(files), args.quiet, failed_prefix="error", show_done=True) as bar:
        report = split_files(
            files,
            args.out,
            separator,
            load_separator=load,
            stems=args.stems,
            clusters=args.clusters,
            ext=args.ext,
            bit_depth=bit_depth,
            engine=engine,
            skip_existing=args.skip_existing,
            progress=bar.update,
        )
    if on_ray and report.results:
        write_report(report, Path(args.out) / REPORT_NAME, {"command": "separator split", "model": str(args.model or "default")})
    if not args.quiet and report.results:
        print(table(report, "separator split"))
    return EXIT_FAILED if problems or not report.ok else EXIT_OK


def _make_data(args: argparse.Namespace) -> int:
    from separator.data.make import Recipe, make_dataset

    recipe = Recipe(seed=args.seed, seconds=args.seconds)
    if args.soundfont:
        recipe.soundfonts = args.soundfont
    if args.no_espeak:
        recipe.use_espeak = False
    shards = make_dataset(args.out, args.songs, recipe, shard_size=args.shard_size, jobs=args.jobs, stereo=args.stereo)
    print(f"{args.songs} songs in {len(shards)} shards under {args.out}", file=sys.stderr)
    return EXIT_OK


def _train(args: argparse.Namespace) -> int:
    from separator.train import TrainConfig, train

    logging.getLogger("separator").setLevel(logging.INFO)
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__})
    print(f"checkpoint: {train(cfg)}", file=sys.stderr)
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    import json

    from separator.evaluate import evaluate_model, format_table
    from separator.separate import Separator

    separator = Separator.from_pretrained(args.model, device=args.device, **_inference_overrides(args))
    result = evaluate_model(separator, args.data, args.max_songs, oracle=not args.no_oracle)
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from separator.model import load_checkpoint, save_checkpoint
    from separator.separate import DEFAULT_MODEL

    model, extra = load_checkpoint(args.checkpoint)
    kept = {"step": extra.get("step"), "val": extra.get("val"), "config": extra.get("config"), "inference": _inference_overrides(args)}
    out = Path(args.out) if args.out else DEFAULT_MODEL
    save_checkpoint(model, out, kept, half=True)
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB, step {kept['step']}, inference {kept['inference']}", file=sys.stderr)
    return EXIT_OK


COMMANDS = {"split": _split, "make-data": _make_data, "train": _train, "evaluate": _evaluate, "export": _export}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (``separator`` calls ``sys.exit`` with it)."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    warnings.formatwarning = lambda message, *a, **k: f"warning: {message}\n"
    try:
        return COMMANDS[args.command](args)
    except SeparatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted; no partial stems were left behind", file=sys.stderr)
        return 130


def run() -> None:
    sys.exit(main())
