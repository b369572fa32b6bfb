#!/usr/bin/env bash
# Score two model files with the same commands on the sets not used for choosing (issue 18):
#   scripts/compare-models.sh OLD.pt NEW.pt [OUTDIR]
# Sets: data/val-out (48 songs, leave-sources-out; --karaoke), its band-limited copies
# data/val-out-lp3800 and data/val-out-8k-mono (scripts/band-limit-data.py), and the tracker
# validation windows 48.. (data/tracker-val; windows 0-47 are for choosing). Missing sets are skipped.
# Writes OUTDIR/<name>-<set>.txt/.json; run niced, one thread: it takes a while on 2 shared cores.
set -u
OLD=$1; NEW=$2; OUT=${3:-runs/compare}
mkdir -p "$OUT"
SEP=${SEPARATOR:-separator}
run() {  # name model set args...
    local name=$1 model=$2 set=$3; shift 3
    [ -d "data/$set" ] || { echo "skip data/$set (not there)"; return; }
    echo "+ $SEP evaluate --model $model --data data/$set $*"
    OMP_NUM_THREADS=1 nice -n 15 "$SEP" evaluate --model "$model" --data "data/$set" "$@" \
        --json "$OUT/$name-$set.json" > "$OUT/$name-$set.txt" 2>&1
    tail -n 9 "$OUT/$name-$set.txt"
}
for pair in "old $OLD" "new $NEW"; do
    set -- $pair
    run "$1" "$2" val-out --max-songs 48 --karaoke
    run "$1" "$2" val-out-lp3800 --max-songs 48 --karaoke --no-oracle
    run "$1" "$2" val-out-8k-mono --max-songs 48 --karaoke --no-oracle
    run "$1" "$2" tracker-val --skip-songs 48 --max-songs 1000 --no-oracle
done
