#!/usr/bin/env bash
# The checks for a lent GPU machine (see /work/.library/device or any CUDA box), in one call of under 10 minutes:
# CUDA tests, the 3-minute split on CUDA against the same machine's CPUs, scripts/gpu-train.sh end to end,
# and training throughput of the shipped network and a bigger one.
#
#   scripts/gpu-check.sh --prepare    # here, with the project installed: wheels the GPU image lacks (.whl/),
#                                     # and the benchmark's 3-minute mixture as FLAC (.gpu/mix3.flac)
#   scripts/gpu-check.sh              # there: carry .whl and .gpu (both git-ignored); log in $OUT/log.txt
#
# The GPU image has torch, numpy, scipy and scikit-learn but no SoundFonts or voices, so gpu-train.sh makes its
# songs from the SoundFont pretty_midi carries and the formant singer (VAL_ONLY): its two tables compare the
# models on those sounds, not on the held-out ones.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ${1:-} == --prepare ]]; then
    set -e
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >>.git/info/exclude
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >>.git/info/exclude
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl soundfile cffi pycparser pedalboard mido python-osc tinysoundfont \
        pretty_midi importlib_resources
    mkdir -p .gpu
    python - <<'PY'
import sys
from pathlib import Path
import soundfile as sf
sys.path.insert(0, "benchmarks")
from bench_separate import make_mixture
make_mixture(Path(".gpu/mix3.wav"), 3.0)
x, rate = sf.read(".gpu/mix3.wav", dtype="int16")
sf.write(".gpu/mix3.flac", x, rate, subtype="PCM_16")
Path(".gpu/mix3.wav").unlink()
PY
    du -sh .whl .gpu
    exit 0
fi

OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
T0=$(date +%s)
say() { printf '\n=== [%4ds] %s\n' $(($(date +%s) - T0)) "$*"; }
if [[ -d .whl ]]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 PYTHON=python3
if ! command -v separator >/dev/null; then
    mkdir -p /tmp/bin
    printf '#!/bin/sh\nexec python3 -c "import sys; from stemsplit.separator_cli import run; sys.argv[0]=\\"separator\\"; sys.exit(run())" "$@"\n' >/tmp/bin/separator
    chmod +x /tmp/bin/separator
    export PATH=/tmp/bin:$PATH
fi

say "machine"
nvidia-smi -L
nproc
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
say "CUDA tests"
timeout 90 python3 -m pytest -q -p no:cacheprovider -rs tests/test_kmeans.py 2>&1 | tail -8
say "3-minute split, CUDA and this machine's CPUs"
python3 -c "import soundfile as sf; x, r = sf.read('.gpu/mix3.flac', dtype='int16'); sf.write('/tmp/mix3.wav', x, r, subtype='PCM_16')"
timeout 150 python3 benchmarks/bench_split_devices.py /tmp/mix3.wav --runs 2
say "gpu-train.sh (5 minutes)"
VAL_ONLY=TimGM6mb,formant MAKE_DATA_ARGS="--only TimGM6mb,formant --no-espeak --heavy-fx" VAL_SONGS=24 EVAL_MINUTES=1 \
    EXTRA_TRAIN_ARGS="--dc-magnitude 1 --ema 0.998 --val-songs 24" VAL_EVERY=500 timeout 330 bash scripts/gpu-train.sh 5 /tmp/gt
cp /tmp/gt/run/log.jsonl "$OUT/gt-log.jsonl" 2>/dev/null
cp /tmp/gt/eval-trained.json /tmp/gt/eval-shipped.json "$OUT/" 2>/dev/null
say "training throughput, bf16, 24 s each: hidden layers batch workers"
for spec in "256 2 16 0" "256 2 16 8" "384 3 32 8"; do
    read -r hidden layers batch workers <<<"$spec"
    run=/tmp/tp-$hidden-$layers-$batch-$workers
    timeout 60 separator train --data /tmp/gt/data --out "$run" --stereo --bf16 --device cuda --hidden "$hidden" --layers "$layers" \
        --batch "$batch" --workers "$workers" --minutes 0.4 --steps 100000 --log-every 25 --save-every 100000 --val-every 100000 2>&1 | tail -1
    python3 -c "import json, sys; r = [json.loads(l) for l in open(sys.argv[1]) if 'sec_per_step' in l]; h = r[len(r) // 2:]; print(sys.argv[2], 'steps', r[-1]['step'], 'sec/step (second half)', round(sum(x['sec_per_step'] for x in h) / len(h), 4))" "$run/log.jsonl" "$spec"
done
say "done"
