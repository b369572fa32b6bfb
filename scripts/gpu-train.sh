#!/usr/bin/env bash
# Use a time-boxed GPU machine to fine-tune the shipped model, then compare the two.
#
#   scripts/gpu-train.sh MINUTES [OUTDIR]
#
# 1. makes training and validation songs with every core (separator make-data),
# 2. fine-tunes separator/pretrained/default.pt on the GPU for the minutes left,
# 3. exports the best checkpoint and evaluates it and the shipped model on the
#    same validation songs.
#
# Everything lands in OUTDIR (default runs/gpu): data/, val/, run/ (last.pt,
# best.pt, log.jsonl), model.pt, eval-*.txt/json and gpu-train.log. Run it again
# with the same OUTDIR to continue: songs already made are kept, training resumes
# from run/last.pt, and the plan (song counts) of the first run is reused.
# Works offline. See docs/training.md for the knobs (environment variables).
set -euo pipefail

usage() {
    echo "usage: $0 MINUTES [OUTDIR]   (MINUTES: whole minutes for the whole job, at least 5)" >&2
    exit 2
}
say() { printf '[gpu-train %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
    printf '[gpu-train] error: %s\n' "$*" >&2
    exit 1
}

[[ $# -ge 1 && $# -le 2 ]] || usage
[[ $1 =~ ^[0-9]+$ ]] || usage
MINUTES=$1
((MINUTES >= 5)) || die "MINUTES ($MINUTES) must be at least 5: data, training and evaluation each need one or more"
START=$(date +%s)
DEADLINE=$((START + MINUTES * 60))

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTDIR=${2:-runs/gpu}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
exec > >(tee -a "$OUTDIR/gpu-train.log") 2>&1

# Knobs (environment variables); see docs/training.md.
JOBS=${JOBS:-$(nproc)}
DATA_SHARE=${DATA_SHARE:-25}            # percent of MINUTES spent making songs (at most 20 minutes)
SONGS_PER_CORE_MINUTE=${SONGS_PER_CORE_MINUTE:-10}  # measured: 3–8 s a song on a busy core
MAX_SONGS=${MAX_SONGS:-12000}           # ~1.8 MB each in memory while training (mono, 4 s)
VAL_SONGS=${VAL_SONGS:-48}
EVAL_MINUTES=${EVAL_MINUTES:-4}         # kept back for export and the two evaluations
BATCH=${BATCH:-16}
WORKERS=${WORKERS:-$(( $(nproc) >= 4 ? ($(nproc) / 2 < 8 ? $(nproc) / 2 : 8) : 0 ))}  # processes drawing batches ahead of the GPU
LR=${LR:-0.0003}                        # fine-tuning: lower than the 1e-3 of a fresh run
VAL_EVERY=${VAL_EVERY:-1000}
TRAIN_SEED=${TRAIN_SEED:-7}             # the shipped model saw seed 1 (train) and seed 2 (validation)
VAL_SEED=${VAL_SEED:-8}
INIT=${INIT:-$REPO/separator/pretrained/default.pt}
EXTRA_TRAIN_ARGS=${EXTRA_TRAIN_ARGS:-}  # e.g. "--bf16"
MAKE_DATA_ARGS=${MAKE_DATA_ARGS:-}      # more make-data flags, e.g. "--sounds DIR"
VAL_ONLY=${VAL_ONLY:-}                  # sources of the validation songs (default: the held-out ones)
PYTHON=${PYTHON:-python}

if [[ -z ${SEPARATOR:-} ]]; then
    if command -v separator >/dev/null; then
        SEPARATOR=separator
    elif [[ -x $REPO/.venv/bin/separator ]]; then
        SEPARATOR=$REPO/.venv/bin/separator
        PYTHON=$REPO/.venv/bin/python
    else
        die "no 'separator' command: activate the environment that has it (pip install -e '.[data]'), or set SEPARATOR=/path/to/separator"
    fi
fi
[[ -f $INIT ]] || die "$INIT: model to fine-tune not found (set INIT=PATH)"

say "checking for a CUDA device"
"$PYTHON" - <<'EOF' || die "no CUDA device is visible to PyTorch; this script is for a GPU machine (on a CPU, run 'separator train' directly)"
import os, sys
import torch
if not torch.cuda.is_available():
    print(f"torch {torch.__version__} (CUDA build: {torch.version.cuda}), CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '(unset)')}", file=sys.stderr)
    sys.exit(1)
p = torch.cuda.get_device_properties(0)
print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB; torch {torch.__version__}")
EOF

# The plan is fixed by the first run, so a second run continues the same data set.
PLAN=$OUTDIR/plan.env
if [[ -f $PLAN ]]; then
    # shellcheck source=/dev/null
    source "$PLAN"
    say "resuming $OUTDIR: plan of the first run: $SONGS training songs, $VAL_SONGS validation songs"
else
    DATA_MINUTES=$((MINUTES * DATA_SHARE / 100))
    ((DATA_MINUTES <= 20)) || DATA_MINUTES=20
    ((DATA_MINUTES >= 1)) || DATA_MINUTES=1
    SONGS=$((JOBS * SONGS_PER_CORE_MINUTE * DATA_MINUTES))
    ((SONGS <= MAX_SONGS)) || SONGS=$MAX_SONGS
    printf 'SONGS=%d\nVAL_SONGS=%d\nTRAIN_SEED=%d\nVAL_SEED=%d\n' "$SONGS" "$VAL_SONGS" "$TRAIN_SEED" "$VAL_SEED" >"$PLAN"
    say "plan: $SONGS training songs (~$DATA_MINUTES min on $JOBS cores), $VAL_SONGS validation songs, then training until $EVAL_MINUTES min before the end"
fi

run() {
    say "\$ $*"
    "$@"
}

# 1. Data. make-data keeps shards that exist, so this resumes too.
# Validation on the held-out sources only (separator.training.data.sources.HELD_OUT), training never on them.
# VAL_ONLY picks other sources for a machine without the held-out ones (the comparison is then not a
# leave-sources-out one: say so where the numbers are reported).
HELD_OUT=$("$PYTHON" -c 'from separator.training.data.sources import HELD_OUT; print(",".join(HELD_OUT))')
run "$SEPARATOR" make-data "$OUTDIR/val" --songs "$VAL_SONGS" --seed "$VAL_SEED" --shard-size "$VAL_SONGS" --jobs "$JOBS" --only "${VAL_ONLY:-$HELD_OUT}"
# shellcheck disable=SC2086  # MAKE_DATA_ARGS is a list of flags
run "$SEPARATOR" make-data "$OUTDIR/data" --songs "$SONGS" --seed "$TRAIN_SEED" --shard-size 250 --jobs "$JOBS" --exclude "$HELD_OUT" $MAKE_DATA_ARGS

# 2. Training, for the time left. OUT/last.pt, when there, wins over --init.
LEFT=$((DEADLINE - $(date +%s) - EVAL_MINUTES * 60))
if ((LEFT >= 60)); then
    TRAIN_MINUTES=$(awk -v s="$LEFT" 'BEGIN { printf "%.1f", s / 60 }')
    say "training for $TRAIN_MINUTES min"
    # shellcheck disable=SC2086  # EXTRA_TRAIN_ARGS is a list of flags
    run "$SEPARATOR" train --data "$OUTDIR/data" --val-data "$OUTDIR/val" --out "$OUTDIR/run" \
        --init "$INIT" --stereo --bf16 --device cuda --minutes "$TRAIN_MINUTES" --steps 100000000 \
        --batch "$BATCH" --workers "$WORKERS" --lr "$LR" --val-every "$VAL_EVERY" $EXTRA_TRAIN_ARGS
else
    say "only $((LEFT + EVAL_MINUTES * 60)) s left: no training this time, evaluating what there is"
fi

# 3. Export the best checkpoint with the shipped model's split settings (OUTDIR/settings.json), evaluate both.
CHECKPOINT=$OUTDIR/run/best.pt
[[ -f $CHECKPOINT ]] || CHECKPOINT=$OUTDIR/run/last.pt
[[ -f $CHECKPOINT ]] || die "$OUTDIR/run has no checkpoint (no training step finished); run again with more MINUTES"
"$PYTHON" - "$INIT" "$OUTDIR/settings.json" <<'EOF'
import json, sys
from separator.model import load_checkpoint
json.dump(load_checkpoint(sys.argv[1])[1].get("inference") or {}, open(sys.argv[2], "w"), indent=1)
EOF
run "$SEPARATOR" export "$CHECKPOINT" -o "$OUTDIR/model.pt" --settings "$OUTDIR/settings.json"
for which in trained shipped; do
    model=$OUTDIR/model.pt
    [[ $which == shipped ]] && model=$INIT
    say "\$ $SEPARATOR evaluate --data $OUTDIR/val --model $model > $OUTDIR/eval-$which.txt"
    "$SEPARATOR" evaluate --data "$OUTDIR/val" --model "$model" --max-songs "$VAL_SONGS" --device cuda \
        --json "$OUTDIR/eval-$which.json" >"$OUTDIR/eval-$which.txt"
done

say "fine-tuned ($CHECKPOINT, exported as $OUTDIR/model.pt):"
cat "$OUTDIR/eval-trained.txt"
say "shipped ($INIT):"
cat "$OUTDIR/eval-shipped.txt"
say "done in $((($(date +%s) - START) / 60)) min; checkpoints, log.jsonl, tables and this log are in $OUTDIR"
