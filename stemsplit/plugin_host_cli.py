"""``plugin-host`` command line: run a preset over files, list/show/validate presets (and ``serve``, when the OSC server is present).

Errors become one line on stderr (``plugin-host: error: <file>: <problem>``).
Exit codes: 0 all done, 1 a file or preset failed, 2 bad arguments, a preset
that does not load or an engine that cannot start (nothing was processed), 130 interrupted.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from plugin_host.errors import PluginHostError
from separator.errors import SeparatorError
from stembase import interrupt

# Only light modules above: numpy, pedalboard and the engines load inside the commands that use them,
# so `--help` and `presets list` start at once and a Ctrl-C at any moment is one line (see run()).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
ENGINES = ("local", "ray")  # batch_runner.ENGINES (a test keeps them equal)
INTERRUPTED = "plugin-host: interrupted"  # start-up, serve, presets: nothing to resume
RUN_INTERRUPTED = "plugin-host: interrupted; finished files are complete, run again with --skip-existing to resume"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plugin-host",
        description="Stem-aware pedalboard effect chains from presets, over whole folders.",
        epilog="exit codes: 0 all done, 1 a file or preset failed, 2 bad arguments or preset, 130 interrupted",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run_parser(sub)
    _presets_parser(sub)
    _serve_parser(sub)
    _live_parser(sub)
    _daw_parser(sub)
    return parser


def _run_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run", help="run a preset over audio files", description="Write OUTDIR/<track>.<ext> (mix) and/or OUTDIR/<track>/<stem>.<ext>."
    )
    p.add_argument("preset", metavar="PRESET", help="a preset name (see 'plugin-host presets list') or a .yaml/.json file")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders (searched recursively) or glob patterns")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument(
        "-j",
        "--jobs",
        "--workers",
        type=int,
        metavar="N",
        help="files processed at once: threads (default 1), or Ray actors (default: as many as the cluster fits)",
    )
    existing = p.add_mutually_exclusive_group()
    existing.add_argument("--skip-existing", action="store_true", help="leave tracks whose outputs all exist (resume a batch)")
    existing.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--format", default="wav", choices=["wav", "flac"], dest="ext", help="output format (default wav)")
    p.add_argument("--bit-depth", choices=["16", "24", "32f"], help="default: 32f for WAV, 24 for FLAC")
    p.add_argument("--model", metavar="PATH", help="separator checkpoint for split presets (default: the shipped model)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where the separator runs (default auto)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary; errors only")
    p.add_argument("--engine", default="local", choices=ENGINES, help="local threads (default) or a Ray cluster (docs/cluster.md)")
    p.add_argument("--address", metavar="ADDR", help="Ray cluster to join: auto, ray://HOST:PORT (default: start a local one)")
    p.add_argument("--gpus-per-worker", type=float, metavar="F", help="GPUs each Ray actor reserves (fractions share a GPU)")
    p.add_argument(
        "--report",
        action="store_true",
        help="also write OUTDIR/report.html: loudness, peaks, thumbnails, players (the plots extra: pip install 'stemsplit[plots]')",
    )
    p.set_defaults(func=_run)


def _presets_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("presets", help="list, show or validate presets")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the presets that can be named").set_defaults(func=_list)
    show = actions.add_parser("show", help="a preset in canonical form")
    show.add_argument("preset", metavar="NAME", help="a preset name or file")
    show.add_argument("--params", action="store_true", help="list its automatable parameters instead (loads its plugins)")
    show.set_defaults(func=_show)
    validate = actions.add_parser("validate", help="check preset files completely (loads their plugins)")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(func=_validate)


def _serve_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    # ---- `serve` (the OSC server) -------------------------------------------------------------
    # plugin_host.control.osc.cli.add_serve_parser(subparsers) registers the subcommand and must call
    # set_defaults(func=handler) with handler(args) -> exit code. Without that module, no `serve`.
    try:
        from plugin_host.control.osc.cli import add_serve_parser  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    add_serve_parser(sub)


def _live_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    # ---- `live`: a JACK client that splits its input into stems (plugin_host.control.live) ----------------
    from plugin_host.control.live.cli import add_live_parser

    add_live_parser(sub)


def _daw_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    # ---- `daw`: commands for the scripts that run inside DAWs -------------------------------------
    # Each module registers its actions on `actions` and calls set_defaults(func=handler), with
    # handler(args) -> exit code; add further actions (install, list) here the same way.
    from plugin_host.control.daw.commands import add_parsers
    from plugin_host.control.daw_client import add_split_parser

    p = sub.add_parser("daw", help="commands for DAW scripts (Ardour, REAPER)", description="Commands for DAW scripts.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_split_parser(actions)
    add_parsers(actions)


# -- run -------------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from batch_runner import REPORT_NAME, make_engine, write_report
    from batch_runner.progress import ProgressBar, durations
    from plugin_host import summary
    from plugin_host.batch import DEFAULT_BIT_DEPTH, expand_inputs, run_batch
    from plugin_host.chain import Chain
    from stembase.outputs import check_output_dir

    if args.report:
        from stemreports.plots import require

        require("plugin-host run --report", "matplotlib", "pyloudnorm")  # one line, before any work
    check_output_dir(args.out)  # a file, no permission: one line before any work
    engine = make_engine(args.engine, workers=args.jobs, address=args.address, gpus_per_worker=args.gpus_per_worker, workers_label="jobs")
    on_ray = args.engine == "ray"
    chain = Chain.from_preset(args.preset, separator=None if on_ray else _separator(args))
    if chain.has_split:
        import separator.separate  # noqa: F401  # torch, while Ctrl-C still exits at once (stembase.interrupt)
        from separator.devices import keep_freed_memory

        keep_freed_memory()  # fewer page faults per segment (separator.devices)
    interrupt.raise_from_now_on()
    bit_depth = args.bit_depth or DEFAULT_BIT_DEPTH[args.ext]
    with ProgressBar(durations(expand_inputs(args.inputs, exclude=args.out)), args.quiet) as bar:
        report = run_batch(
            chain,
            args.inputs,
            args.out,
            skip_existing=args.skip_existing,
            overwrite=args.overwrite,
            ext=args.ext,
            bit_depth=args.bit_depth,
            progress=bar.update,
            load_separator=_loader(args) if on_ray else None,
            engine=engine,
            html_report=Path(args.out) / "report.html" if args.report else None,
        )
    if on_ray:
        write_report(report, Path(args.out) / REPORT_NAME, {"command": "plugin-host run", "preset": chain.name})
    if not args.quiet and summary.wants_summary(report):
        print(summary.table(report, f"plugin-host run {chain.name}"))
    warning = summary.clipping(report, bit_depth)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED


def _separator(args: argparse.Namespace) -> Any:
    """A separator to share when the user chose a model or device; else each worker loads the default."""
    if args.model is None and args.device is None:
        return None
    from separator import Separator

    return Separator.from_pretrained(args.model, device=args.device or "auto")


def _loader(args: argparse.Namespace) -> Any:
    """For Ray: each actor loads the model itself, on its own device (a GPU with --gpus-per-worker)."""
    if args.model is None and args.device is None:
        return None
    from separator import Separator

    model = str(Path(args.model).absolute()) if args.model else None  # the actors may run in another folder
    return functools.partial(Separator.from_pretrained, model, device=args.device or "auto")


# -- presets ---------------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    from plugin_host.preset import list_presets

    infos = list_presets()
    width = max((len(i.name) for i in infos), default=0)
    for info in infos:
        text = f"INVALID: {info.error}" if info.error else info.description
        print(f"{info.name:<{width}}  {text}")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    import yaml

    from plugin_host.chain import Chain
    from plugin_host.preset import load_preset

    if args.params:
        chain = Chain.from_preset(args.preset)
        for p in chain.parameters():
            print(f"{p.stage}.{p.name} = {p.value:g} {p.unit}".rstrip() + f"  [{p.minimum:g}, {p.maximum:g}] {p.scale}")
        for stem in chain.stem_names():
            print(f"stem.{stem} {chain.get_stem(stem)}")
        return EXIT_OK
    data = load_preset(args.preset)
    print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from plugin_host.chain import Chain

    failed = 0
    for file in args.files:
        try:
            chain = Chain.from_preset(Path(file))
        except PluginHostError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        split = f", split into {', '.join(chain.stem_names())}" if chain.has_split else ""
        print(f"ok: {file} ({chain.name}: {len(chain.stages())} plugin stages{split})")
    return EXIT_FAILED if failed else EXIT_OK


# -- entry points ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (``plugin-host`` exits with it)."""
    command = None
    try:
        args = get_parser().parse_args(argv)
        command = args.func
        if args.func is not _run:
            interrupt.raise_from_now_on()  # `run` says when its start-up is over
        return int(args.func(args))
    except (PluginHostError, SeparatorError) as exc:
        print(f"plugin-host: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(RUN_INTERRUPTED if command is _run else INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> None:
    interrupt.run_command(main, INTERRUPTED, EXIT_INTERRUPTED)
