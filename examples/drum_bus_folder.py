"""Put a drum-bus compressor (and parallel saturation) on the drums of every song in a folder.

    python examples/drum_bus_folder.py ~/Music/album punchy/ --ratio 6 --drums-db 1.5

Starts from the shipped ``drum-bus`` preset and changes it the way OSC or MIDI
would (by stage and parameter name), then saves the tweaked preset next to the
outputs so the run can be repeated with ``plugin-host run punchy/drum-bus.yaml …``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from plugin_host import Chain, PluginHostError, run_batch
from plugin_host.summary import failures_line, table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compress and saturate the drums of every song in a folder.")
    parser.add_argument("songs", help="a folder of songs (searched recursively) or one file")
    parser.add_argument("out", help="where the processed songs go")
    parser.add_argument("--ratio", type=float, default=4.0, help="drum compressor ratio (1-100, default 4)")
    parser.add_argument("--threshold-db", type=float, default=-30.0, help="drum compressor threshold in dBFS (default -30)")
    parser.add_argument("--drums-db", type=float, default=0.0, help="drum level change after the bus, in dB")
    parser.add_argument("--jobs", type=int, default=1, help="songs processed at once")
    args = parser.parse_args(argv)
    try:
        chain = Chain.from_preset("drum-bus")
        chain.set_param("drum_comp", "ratio", args.ratio)
        chain.set_param("drum_comp", "threshold_db", args.threshold_db)
        chain.set_stem("drums", gain_db=args.drums_db)
        report = run_batch(chain, [args.songs], args.out, jobs=args.jobs, overwrite=True)
        saved = chain.save(Path(args.out) / "drum-bus.yaml")
    except (PluginHostError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(report, "drum-bus"))
    print(f"preset used: {saved}")
    for failed in report.failed:
        print(f"failed: {failures_line(failed)}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
