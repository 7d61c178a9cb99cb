#!/usr/bin/env bash
# Streams a ~1 GB generated JSONL file through `clustermatch index` and reports the peak memory:
# peak RSS (getrusage, as /usr/bin/time shows it) and the peaks of its anonymous part (heap) and
# file-backed part (the index's memory-mapped segments, page cache the kernel can drop), sampled
# from /proc every 0.2 s. Deletes the file and index afterwards.
#
#   tests/big/big_file.sh            # 700000 profiles, about 1.0 GB
#   N=200000 tests/big/big_file.sh   # about 290 MB
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
N=${N:-700000}
WORK=${WORK:-/tmp/cm-big}
BIN=${CLUSTERMATCH_BIN:-$CARGO_TARGET_DIR/release/clustermatch}
# In a target dir shared with other checkouts another build can replace the binary: give
# CLUSTERMATCH_BIN a private copy there.
[ -n "${CLUSTERMATCH_BIN:-}" ] || cargo build --release --bin clustermatch
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
python3 /work/shared/bench/gen_corpus.py -n "$N" --seed 1 -o "$WORK/big.jsonl"
ls -l "$WORK/big.jsonl" | awk '{printf "input: %.0f MB, '"$N"' profiles\n", $5/1e6}'
/usr/bin/time -f "%M %e" -o "$WORK/time" "$BIN" --no-config --index "$WORK/idx" index --input "$WORK/big.jsonl" &
sleep 0.2
PID=$(pgrep -P $! -f "index --input" || true)
anon=0; file=0
while kill -0 "$PID" 2>/dev/null; do
  read -r a f < <(awk '/RssAnon/{a=$2} /RssFile/{f=$2} END{print a+0, f+0}' "/proc/$PID/status" 2>/dev/null || echo "0 0")
  (( a > anon )) && anon=$a; (( f > file )) && file=$f
  sleep 0.2
done
wait
read -r peak secs < "$WORK/time"
echo "peak RSS $((peak / 1024)) MB (heap peak $((anon / 1024)) MB, mapped index files peak $((file / 1024)) MB), ${secs} s"
du -sh "$WORK/idx" | awk '{print "index size " $1}'
