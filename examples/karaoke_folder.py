"""Make karaoke (instrumental) versions of every song in a folder.

    python examples/karaoke_folder.py ~/Music/album karaoke/ --jobs 2

Writes ``karaoke/<song>.wav`` for each song (sub-folders are kept), skipping songs
already done, so an interrupted run picks up where it stopped. The same as
``plugin-host run karaoke ~/Music/album -o karaoke/ --skip-existing``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from plugin_host import Chain, PluginHostError, run_batch
from plugin_host.summary import failures_line, table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Remove the vocals from every song in a folder.")
    parser.add_argument("songs", help="a folder of songs (searched recursively) or one file")
    parser.add_argument("out", help="where the karaoke versions go")
    parser.add_argument("--jobs", type=int, default=1, help="songs processed at once")
    parser.add_argument(
        "--vocals-db", type=float, default=None, help="keep the vocals this many dB down instead of muting them (a guide vocal)"
    )
    args = parser.parse_args(argv)
    try:
        chain = Chain.from_preset("karaoke")
        if args.vocals_db is not None:
            chain.set_stem("vocals", mute=False, gain_db=args.vocals_db)
        report = run_batch(chain, [args.songs], args.out, jobs=args.jobs, skip_existing=True)
    except PluginHostError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(report, "karaoke"))
    for failed in report.failed:
        print(f"failed: {failures_line(failed)}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
