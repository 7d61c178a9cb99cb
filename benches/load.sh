#!/usr/bin/env bash
# Bounded load test of `clustermatch serve` on loopback: POST /match with wrk (2 connections per
# core), first alone, then with a concurrent writer upserting profiles (PUT /profiles in a loop).
# Prints requests/s, p50/p90/p99 latency and error counts; any error makes the script fail.
#
#   benches/load.sh                 # 100,000 generated profiles, 30 s per run
#   N=10000 DURATION=10s benches/load.sh
#
# Needs: wrk (Debian: apt-get install -y wrk), curl, python3; builds the release binary.
set -euo pipefail

N=${N:-100000}
DURATION=${DURATION:-30s}
CORES=$(nproc)
CONNECTIONS=${CONNECTIONS:-$((2 * CORES))}
THREADS=${THREADS:-$CORES}
WORK=${WORK:-/tmp/cm}
BATCH=${BATCH:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GEN=${GEN:-$ROOT/../shared/bench/gen_corpus.py}
[ -f "$GEN" ] || GEN=/work/shared/bench/gen_corpus.py
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
# BIN=path/to/clustermatch skips the build (use a release binary).
BUILD=1; [ -n "${BIN:-}" ] && BUILD=0
BIN=${BIN:-$TARGET/release/clustermatch}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
mkdir -p "$WORK"
[ "$BUILD" -eq 0 ] || (cd "$ROOT" && cargo build --release --bin clustermatch)

CORPUS=${CORPUS:-$WORK/c${N}.jsonl}
INDEX=${INDEX:-$WORK/idx${N}}
[ -s "$CORPUS" ] || python3 "$GEN" -n "$N" --seed 42 -o "$CORPUS"
if [ ! -f "$INDEX/meta.json" ]; then
  /usr/bin/time -f "index build: %e s, peak RSS %M KB" \
    "$BIN" --no-config index --index "$INDEX" --input "$CORPUS"
fi

# The writer's batches: the first $BATCH profiles of the corpus, renamed at each round.
python3 - "$CORPUS" "$BATCH" "$WORK/put-a.json" "$WORK/put-b.json" <<'PY'
import json, sys
corpus, n, a, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(corpus) as f:
    rows = [json.loads(next(f)) for _ in range(n)]
for path, tag in ((a, "A"), (b, "B")):
    with open(path, "w") as out:
        json.dump([dict(r, name=f"{r['name']} {tag}") for r in rows], out)
PY

RUN_INDEX=$WORK/idx${N}-run
rm -rf "$RUN_INDEX" && cp -r "$INDEX" "$RUN_INDEX"
"$BIN" --no-config --index "$RUN_INDEX" serve --addr 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVER=$!
cleanup() { kill -TERM "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 600); do grep -q listening "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$WORK/serve.out")
[ -n "$URL" ] || { echo "server did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
echo "server $URL over $N profiles; $THREADS wrk threads, $CONNECTIONS connections, $DURATION per run"

export CM_N=$N
LUA=$ROOT/benches/load.lua
wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s "$LUA" "$URL" >/dev/null   # warm-up

echo "== POST /match, no writer"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA" "$URL" | tee "$WORK/load-read.txt"

echo "== POST /match with a concurrent writer (PUT /profiles, $BATCH profiles a request, back to back)"
rm -f "$WORK/writer.stop" "$WORK/writer.txt"
(
  i=0
  while [ ! -f "$WORK/writer.stop" ]; do
    f=$WORK/put-a.json; [ $((i % 2)) -eq 1 ] && f=$WORK/put-b.json
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X PUT -H 'Content-Type: application/json' \
      --data-binary @"$f" "$URL/profiles" >>"$WORK/writer.txt"
    i=$((i + 1))
  done
) &
WRITER=$!
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA" "$URL" | tee "$WORK/load-write.txt"
touch "$WORK/writer.stop"
wait "$WRITER"
awk '{ n++; if ($1 != 200) bad++; t += $2; if ($2 > max) max = $2 }
     END { printf "RESULT writer puts=%d errors=%d mean_s=%.3f max_s=%.3f\n", n, bad, t / n, max }' \
  "$WORK/writer.txt" | tee -a "$WORK/load-write.txt"

fail=0
grep -h '^RESULT' "$WORK/load-read.txt" "$WORK/load-write.txt" | grep -qv 'errors=0' && fail=1
grep -q 'Non-2xx\|Socket errors' "$WORK/load-read.txt" "$WORK/load-write.txt" && fail=1
echo "== summary"
grep -h '^RESULT' "$WORK/load-read.txt" "$WORK/load-write.txt"
[ "$fail" -eq 0 ] || { echo "errors during the load test" >&2; exit 1; }
