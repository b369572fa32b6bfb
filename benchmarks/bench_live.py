"""The latency/quality trade-off of ``plugin-host live``, and whether each setting keeps up in real time.

Two parts per setting (latency, window, hop, look-ahead):

* quality: the live stems of generated songs (what the client plays when its worker is on time,
  :func:`plugin_host.control.live.worker.split_offline`) against the offline split of the same songs, as
  SI-SDR improvement over the mixture, averaged over the stems present;
* real time: a jackd of its own (dummy driver, ``--no-realtime``) and the live client playing the
  songs in a loop for ``--duration`` seconds; xruns, dry blocks (worker late), windows skipped,
  seconds per window and the worker's load (mean seconds per window / hop).

    python benchmarks/bench_live.py                          # 5 minutes per setting, as issue 20 asks
    python benchmarks/bench_live.py --skip-quality --songs 4  # what BENCHMARKS.md states it ran
    python benchmarks/bench_live.py --settings 2:3:0.5:0.5    # other settings (latency:window:hop:look-ahead)
    python benchmarks/bench_live.py --skip-real-time --data data/val-out   # quality on the leave-out set

With ``--data`` the quality part plays the songs of a ``separator make-data`` folder (the model card's
leave-sources-out set, ``data/val-out``) back to back in streams of ``--group`` songs, as a live input
changes from one song to the next, and scores each stream's stems against the offline split of the
same stream.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

RATE = 44100


@dataclass(frozen=True)
class Setting:
    latency: float
    window: float
    hop: float
    lookahead: float

    def label(self) -> str:
        return f"{self.latency:g} s (window {self.window:g}, hop {self.hop:g}, look-ahead {self.lookahead:g})"


SETTINGS = (
    Setting(1.0, 2.0, 0.5, 0.25),
    Setting(1.5, 3.0, 0.5, 0.5),
    Setting(2.0, 4.0, 1.0, 0.5),
    Setting(3.0, 6.0, 1.0, 0.5),
)


def songs(count: int, seconds: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Generated songs from the bundled SoundFont and the formant singer (the test suite's songs)."""
    from separator.training.data.make import Recipe, make_song
    from separator.training.data.render import bundled_soundfont

    soundfont = bundled_soundfont()
    recipe = Recipe(seed=4242, seconds=seconds, soundfonts=[soundfont] if soundfont else [], use_espeak=False, produce=False)
    if soundfont:
        recipe = Recipe(seed=4242, seconds=seconds, soundfonts=[soundfont], use_espeak=False, only=["TimGM6mb", "formant"], produce=False)
    return [make_song(recipe, 500 + i) for i in range(count)]


def dataset_streams(folder: str, max_songs: int, group: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[list[int]]]:
    """Songs of an evaluation folder (:func:`separator.training.evaluate.iter_songs`: make-data shards, MUSDB18-HQ or
    stem folders) played back to back, ``group`` at a time: ``[(stems (5, 2, n), present (5,))]``, a stem present
    where any of its songs has it, and each stream's song lengths in frames (44.1 kHz stereo songs only)."""
    from separator.classes import CLASSES
    from separator.training.evaluate import iter_songs

    stems, present = [], []
    for refs, labels, rate in iter_songs(folder, max_songs):
        if rate != RATE or refs.shape[1] != 2 or (labels < 0).any():
            raise SystemExit(f"{folder}: needs named stereo songs at {RATE} Hz")
        song = np.zeros((len(CLASSES), *refs.shape[1:]), np.float32)
        np.add.at(song, labels, refs)  # several sources of one class add up to its stem
        stems.append(song)
        present.append(np.isin(np.arange(len(CLASSES)), labels))
    starts = range(0, len(stems), group)
    streams = [(np.concatenate(stems[i : i + group], axis=-1), np.any(present[i : i + group], axis=0)) for i in starts]
    return streams, [[song.shape[-1] for song in stems[i : i + group]] for i in starts]


def quality(
    separator: object,
    names: list[str],
    pieces: list[tuple[np.ndarray, np.ndarray]],
    setting: Setting | None,
    block: int,
    songs: list[list[int]] | None = None,
) -> float:
    """Mean SI-SDR improvement (dB) of the live stems (``setting``) or of the offline split (``None``: of each
    piece, or with ``songs``, each piece's song lengths, of each song alone, back to back)."""
    from plugin_host.control.live.plan import LivePlan
    from plugin_host.control.live.worker import split_offline
    from separator.training.metrics import si_sdr_improvement

    scores = []
    for i, (stems, present) in enumerate(pieces):
        mix = stems.sum(0)
        if setting is None and songs is not None:
            cuts = np.cumsum([0, *songs[i]])
            alone = [separator.separate(mix[:, a:b], RATE) for a, b in itertools.pairwise(cuts)]  # type: ignore[attr-defined]
            est = {name: np.concatenate([e[name] for e in alone], axis=-1) for name in names}
        elif setting is None:
            est = separator.separate(mix, RATE)  # type: ignore[attr-defined]
        else:
            plan = LivePlan(RATE, block, setting.window, setting.hop, setting.lookahead, setting.latency)
            est = split_offline(separator, mix, plan, names)  # type: ignore[arg-type]
        keep = slice(0, mix.shape[-1] - int(2 * RATE))  # the end, which a live window has not finished, is left out
        for k, name in enumerate(names):
            if present[k]:
                scores.append(si_sdr_improvement(est[name][:, keep], stems[k][:, keep], mix[:, keep]))
    return float(np.mean(scores))


def real_time(separator: object, names: list[str], audio: np.ndarray, setting: Setting, duration: float, block: int) -> dict[str, float]:
    """Run the live client on a jackd of its own for ``duration`` seconds, looping ``audio``."""
    server = f"stemsplit-bench-{os.getpid()}"
    os.environ.update(JACK_DEFAULT_SERVER=server, JACK_NO_START_SERVER="1")
    jackd = subprocess.Popen(
        [shutil.which("jackd") or "jackd", "--name", server, "--no-realtime", "-d", "dummy", "-r", str(RATE), "-p", str(block)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from plugin_host.control.live.client import FilePlayer, LiveClient, LiveError, open_client

        client = None
        for _ in range(100):
            try:
                client = open_client("stemsplit-bench")
                break
            except LiveError:
                time.sleep(0.1)
        if client is None:
            raise SystemExit("jackd did not start")
        live = LiveClient(
            client, separator, names, setting.window, setting.hop, setting.lookahead, setting.latency, player=FilePlayer(audio, loop=True)
        )  # type: ignore[arg-type]
        live.start()
        time.sleep(duration)
        stats = live.stats()
        live.stop()
        return {
            "xruns": stats.xruns,
            "dry blocks": stats.misses,
            "blocks": live.frames // block,
            "windows": stats.windows,
            "skipped": stats.skipped,
            "mean": stats.worker_mean,
            "max": stats.worker_max,
            "load": stats.load,
            "budget": live.plan.budget,
        }
    finally:
        jackd.terminate()
        jackd.wait()


def _settings(text: str) -> tuple[Setting, ...]:
    """``"2:4:1:0.5,3:6:1:0.5"`` → settings (latency, window, hop, look-ahead in seconds)."""
    try:
        return tuple(Setting(*(float(v) for v in item.split(":"))) for item in text.split(","))
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"expected latency:window:hop:lookahead[,...] in seconds, got {text!r}") from exc


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=300.0, help="seconds of real time per setting (default 300, as issue 20 asks)")
    p.add_argument("--songs", type=int, default=8, help="generated songs for the quality part (default 8)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each song (default 10)")
    p.add_argument("--data", help="quality on the songs of this make-data folder instead (e.g. data/val-out, the leave-out set)")
    p.add_argument("--max-songs", type=int, default=48, help="with --data: songs read (default 48)")
    p.add_argument("--group", type=int, default=6, help="with --data: songs played back to back per stream (default 6)")
    p.add_argument("--block", type=int, default=1024, help="JACK period in frames (default 1024)")
    p.add_argument("--skip-real-time", action="store_true", help="only the quality part")
    p.add_argument("--skip-quality", action="store_true", help="only the real-time part")
    p.add_argument("--settings", type=_settings, help='"latency:window:hop:lookahead,..." in seconds (default: the table\'s four)')
    p.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="model threads (default: as plugin-host live)")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as plugin-host live, before torch loads

    import torch

    from plugin_host.control.live.plan import LIVE_SETTINGS
    from separator import Separator

    separator = Separator.from_pretrained(device="cpu", threads=args.threads, **LIVE_SETTINGS)  # as plugin-host live
    names = separator.stem_names()
    pieces, lengths = dataset_streams(args.data, args.max_songs, args.group) if args.data else (songs(args.songs, args.seconds), None)
    audio = np.concatenate([s.sum(0) for s, _ in pieces], axis=-1).astype(np.float32)
    machine = platform.processor() or platform.machine()
    print(f"# {machine}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    what = (
        f"{args.data}: {len(pieces)} streams of {args.group} songs" if args.data else f"{args.songs} generated songs of {args.seconds:g} s"
    )
    print(f"# {what}; {args.duration:g} s of real time per setting; {args.block}-frame blocks")
    offline = float("nan") if args.skip_quality else quality(separator, names, pieces, None, args.block)
    print(f"offline split: SI-SDRi {offline:.2f} dB", flush=True)
    if lengths and not args.skip_quality:
        alone = quality(separator, names, pieces, None, args.block, lengths)
        print(f"offline split of each song alone, back to back: SI-SDRi {alone:.2f} dB", flush=True)
    print("| delay | SI-SDRi live | vs offline | budget per window | mean / max per window | worker load | dry blocks | skipped | xruns |")
    print("|---|---|---|---|---|---|---|---|---|")
    for setting in args.settings or SETTINGS:
        live = float("nan") if args.skip_quality else quality(separator, names, pieces, setting, args.block)
        row = f"| {setting.label()} | {live:.2f} dB | {live - offline:+.2f} dB"
        if args.skip_real_time:
            print(row + " | | | | | | |", flush=True)
            continue
        r = real_time(separator, names, audio, setting, args.duration, args.block)
        timing = f"{r['budget']:.2f} s | {r['mean']:.2f} / {r['max']:.2f} s | {r['load']:.0%}"
        counts = (
            f"{int(r['dry blocks'])} of {int(r['blocks'])} | {int(r['skipped'])} of {int(r['windows'] + r['skipped'])} | {int(r['xruns'])}"
        )
        print(f"{row} | {timing} | {counts} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
