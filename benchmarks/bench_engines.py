"""Time the same batch on the local engine and on the Ray engine: throughput, and Ray's overhead per file.

    python benchmarks/bench_engines.py                              # 20 files x 60 s, karaoke, 2 workers each
    python benchmarks/bench_engines.py --preset master-bus          # an effect-only batch
    python benchmarks/bench_engines.py --files 4 --seconds 2        # a quick check that it runs
    python benchmarks/bench_engines.py --address auto --workers 8   # on a running cluster (inputs on shared storage: --work)
    python benchmarks/bench_engines.py --workers 2 --gpus-per-worker 0.5   # two actors sharing one GPU

Both engines get the same inputs, preset and number of workers (threads for local,
actors for Ray). Ray's wall time includes starting its actors and loading the model
in each (the local engine loads it once per thread too); starting the local cluster
itself is timed apart, since a catalog run joins a cluster that is already up.
Target (issue 5): Ray's throughput within 10 % of local on a 2-core machine for files
of a minute or more. Run it on an otherwise idle machine; each figure is the best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import make_inputs

from batch_runner import LocalEngine, RayEngine
from plugin_host import BatchReport, run_batch


def start_cluster(address: str | None, cpus: int, temp: Path) -> float:
    """Join ``address``, or start a local cluster of ``cpus`` CPUs; returns the seconds it took."""
    import ray

    tic = time.perf_counter()
    if address:
        ray.init(address=address, log_to_driver=False, logging_level="WARNING")
    else:
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))  # token in the environment, not in ~/.ray
        ray.init(num_cpus=cpus, include_dashboard=False, _temp_dir=str(temp), log_to_driver=False, logging_level="WARNING")
    return time.perf_counter() - tic


def timed(preset: str, inputs: list[Path], out: Path, engine: LocalEngine | RayEngine, repeats: int) -> tuple[float, BatchReport]:
    """The best wall time of ``repeats`` runs (at least one) and that run's report; every run writes every file anew."""
    runs = []
    for _ in range(max(1, repeats)):
        shutil.rmtree(out, ignore_errors=True)
        tic = time.perf_counter()
        report = run_batch(preset, inputs, out, engine=engine)
        runs.append((time.perf_counter() - tic, report))
        if not report.ok:
            raise SystemExit(f"{engine.name}: {len(report.failed)} file(s) failed, e.g. {report.failed[0].error}")
    return min(runs, key=lambda run: run[0])


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every figure of the benchmark, as JSON-ready data."""
    import ray

    inputs = make_inputs(work / "in", args.files, args.seconds)
    audio = args.files * args.seconds
    local_s, local = timed(args.preset, inputs, work / "local", LocalEngine(args.workers), args.repeats)
    with tempfile.TemporaryDirectory(prefix="ray-", dir="/tmp") as ray_temp:  # short: Ray's socket paths are limited
        cluster_s = start_cluster(args.address, args.workers, Path(ray_temp))
        try:
            engine = RayEngine(workers=args.workers, gpus_per_worker=args.gpus_per_worker)
            ray_s, on_ray = timed(args.preset, inputs, work / "ray", engine, args.repeats)
        finally:
            ray.shutdown()
    return {
        "preset": args.preset,
        "files": args.files,
        "seconds_per_file": args.seconds,
        "workers": args.workers,
        "gpus_per_worker": args.gpus_per_worker,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "cluster": args.address or "local, started here",
        "cluster_start_s": cluster_s,
        "local_s": local_s,
        "ray_s": ray_s,
        "local_throughput": audio / local_s,
        "ray_throughput": audio / ray_s,
        "ray_overhead_per_file_s": (ray_s - local_s) / args.files,
        "ray_overhead_pct": 100 * (1 - (audio / ray_s) / (audio / local_s)),
        "local_file_s": sum(r.seconds for r in local.results) / args.files,
        "ray_file_s": sum(r.seconds for r in on_ray.results) / args.files,
        "ray_workers_used": len({r.worker for r in on_ray.results}),
        # what is left of Ray's wall time once its actors' file work is shared out: actor start, model loads, scheduling
        "ray_fixed_s": ray_s - sum(r.seconds for r in on_ray.results) / len({r.worker for r in on_ray.results}),
    }


def report(r: dict[str, Any], repeats: int) -> str:
    """The figures as a few lines of text."""
    return "\n".join(
        [
            f"{r['files']} files x {r['seconds_per_file']:g} s, preset {r['preset']}, {r['workers']} workers, "
            f"{r['cpus']} CPUs, best of {repeats}",
            f"  cluster start  {r['cluster_start_s']:.2f} s ({r['cluster']}; not counted below)",
            f"  local  {r['local_s']:8.2f} s  {r['local_throughput']:7.1f} audio s per wall s  "
            f"({r['local_file_s']:.2f} s per file in a worker)",
            f"  ray    {r['ray_s']:8.2f} s  {r['ray_throughput']:7.1f} audio s per wall s  ({r['ray_file_s']:.2f} s per file in an actor, "
            f"{r['ray_workers_used']} actors used)",
            f"  ray overhead {r['ray_overhead_per_file_s']:+.3f} s per file, "
            f"{r['ray_overhead_pct']:+.1f} % of local throughput (target < 10)",
            f"  of which fixed per run (actors start, models load): about {r['ray_fixed_s']:.2f} s",
            f"  per worker: local {r['local_throughput'] / r['workers']:.1f}, ray {r['ray_throughput'] / r['workers']:.1f} "
            f"audio s per wall s ({r['gpus_per_worker']:g} GPUs per Ray worker)",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="karaoke", help="the preset to run (default karaoke: a split)")
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="threads (local) and actors (Ray); default: the CPUs")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor (the local engine uses CUDA when present)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--address", help="join this Ray cluster instead of starting a local one")
    parser.add_argument("--work", type=Path, help="folder for inputs and outputs (default: a temporary one; on a cluster, shared storage)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.address:  # the local cluster listens on loopback only (read when ray is imported)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args, args.work or Path(tmp))
    print(report(results, args.repeats))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
