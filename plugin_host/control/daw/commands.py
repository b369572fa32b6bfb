"""``plugin-host daw list`` and ``plugin-host daw install``: the faces of :mod:`plugin_host.control.daw`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plugin_host.control.daw import DAWS, DawError, default_dirs, install, shipped

EXIT_OK, EXIT_FAILED = 0, 1


def add_parsers(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``list`` and ``install`` on the ``daw`` sub-command's actions."""
    actions.add_parser("list", help="the scripts that ship, per DAW, and where each DAW looks").set_defaults(func=_list)
    p = actions.add_parser(
        "install",
        help="copy a DAW's scripts where it looks for them",
        description="Copy the scripts for DAW into its script folder, with this environment's plugin-host written in "
        "(so a DAW started from a desktop menu finds it). Prints every file written. See docs/daw.md.",
    )
    p.add_argument("daw", choices=sorted(DAWS), metavar="DAW", help=f"one of: {', '.join(sorted(DAWS))}")
    p.add_argument(
        "--dir",
        type=Path,
        action="append",
        metavar="DIR",
        help="install into DIR instead (repeatable); default: Ardour's scripts folder of every installed version, REAPER's Scripts",
    )
    p.set_defaults(func=_install)


def _list(args: argparse.Namespace) -> int:
    for daw, about in DAWS.items():
        print(f"{daw}: {about}")
        for script in shipped(daw):
            print(f"  {script.name}  {script.summary}")
        print(f"  installs into: {', '.join(str(d) for d in default_dirs(daw))}")
    return EXIT_OK


def _install(args: argparse.Namespace) -> int:
    try:
        written = install(args.daw, args.dir)
    except DawError as exc:
        print(f"plugin-host: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in written:
        print(f"installed {path}")
    print(f"next: {_next_step(args.daw)}")
    return EXIT_OK


def _next_step(daw: str) -> str:
    if daw == "ardour":
        return "in Ardour, Edit > Lua Scripts > Script Manager > Add/Set > 'Split Region into Stems' (docs/daw.md)"
    return "in REAPER, Actions > Show action list > New action > Load ReaScript > split_into_stems.lua (docs/daw.md)"
