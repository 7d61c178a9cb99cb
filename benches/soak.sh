#!/usr/bin/env bash
# Bounded soak test of `clustermatch serve` on loopback: for DURATION (default 5 minutes) a few
# wrk clients mix POST /match (by id, by profile, by text), GET /profiles/{id} (stored and
# missing), PUT and DELETE /profiles and small POST /batch plans (benches/soak.lua), while the
# server's RSS is sampled every SAMPLE seconds from /proc/PID/status.
#
# Prints requests by kind, unexpected statuses and transport errors, RSS at start / after the
# warm-up / at the end / max, and a verdict: PASS when there was no error and the RSS grew by
# less than MAX_GROWTH_MB between the end of the warm-up and the end. Exits 1 on FAIL.
#
#   benches/soak.sh                                  # 100,000 profiles, 5 minutes, 4 clients
#   N=10000 DURATION=60 WARMUP=15 benches/soak.sh    # a quicker one
#   BIN=/path/to/clustermatch benches/soak.sh        # skip the release build
#
# Needs: wrk (Debian: apt-get install -y wrk), python3; builds the release binary.
set -euo pipefail

N=${N:-100000}
DURATION=${DURATION:-300}        # seconds
WARMUP=${WARMUP:-60}             # seconds of the run before the "after warm-up" RSS
SAMPLE=${SAMPLE:-5}              # seconds between RSS samples
CLIENTS=${CLIENTS:-4}            # wrk threads = connections (one request at a time each)
MAX_GROWTH_MB=${MAX_GROWTH_MB:-64}
WORK=${WORK:-/tmp/cm}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GEN=${GEN:-$ROOT/../shared/bench/gen_corpus.py}
[ -f "$GEN" ] || GEN=/work/shared/bench/gen_corpus.py
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BUILD=1; [ -n "${BIN:-}" ] && BUILD=0
BIN=${BIN:-$TARGET/release/clustermatch}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
mkdir -p "$WORK"
[ "$BUILD" -eq 0 ] || (cd "$ROOT" && cargo build --release --bin clustermatch)

CORPUS=${CORPUS:-$WORK/c${N}.jsonl}
INDEX=${INDEX:-$WORK/idx${N}}
[ -s "$CORPUS" ] || python3 "$GEN" -n "$N" --seed 42 -o "$CORPUS"
if [ ! -f "$INDEX/meta.json" ]; then
  "$BIN" --no-config index --index "$INDEX" --input "$CORPUS"
fi

RUN_INDEX=$WORK/idx${N}-soak
rm -rf "$RUN_INDEX" && cp -r "$INDEX" "$RUN_INDEX"
"$BIN" --no-config --index "$RUN_INDEX" serve --addr 127.0.0.1:0 \
  >"$WORK/soak-serve.out" 2>"$WORK/soak-serve.log" &
SERVER=$!
SAMPLER=
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  kill -TERM "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$RUN_INDEX"
}
trap cleanup EXIT
for _ in $(seq 1 600); do grep -q listening "$WORK/soak-serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$WORK/soak-serve.out")
[ -n "$URL" ] || { echo "server did not start:" >&2; cat "$WORK/soak-serve.log" >&2; exit 1; }
case "$URL" in http://127.*) ;; *) echo "refusing a non-loopback address $URL" >&2; exit 1 ;; esac

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER/status"; }
RSS_START=$(rss)
echo "server $URL (pid $SERVER) over $N profiles; $CLIENTS clients for ${DURATION}s; RSS ${RSS_START} kB"

START=$(date +%s)
(
  while kill -0 "$SERVER" 2>/dev/null; do
    echo "$(( $(date +%s) - START )) $(rss)"
    sleep "$SAMPLE"
  done
) >"$WORK/soak-rss.txt" &
SAMPLER=$!

export CM_N=$N
wrk -t"$CLIENTS" -c"$CLIENTS" -d"${DURATION}s" --timeout 60s -s "$ROOT/benches/soak.lua" "$URL" \
  2>"$WORK/soak-wrk.err" | tee "$WORK/soak-wrk.txt"
kill "$SAMPLER" 2>/dev/null || true; SAMPLER=
echo "$(( $(date +%s) - START )) $(rss)" >>"$WORK/soak-rss.txt"
HEALTH=$(python3 -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1] + '/health').status)" "$URL" 2>&1 || true)

read -r WARM END MAX < <(awk -v w="$WARMUP" '
  { if (warm == "" && $1 >= w) warm = $2; last = $2; if ($2 > max) max = $2 }
  END { if (warm == "") warm = last; print warm, last, max }' "$WORK/soak-rss.txt")
RESULT=$(grep '^RESULT' "$WORK/soak-wrk.txt" || true)
UNEXPECTED=$(sed -n 's/.*unexpected=\([0-9]*\).*/\1/p' <<<"$RESULT")
TRANSPORT=$(sed -n 's/.*transport_errors=\([0-9]*\).*/\1/p' <<<"$RESULT")
GROWTH=$(( (END - WARM) / 1024 ))

echo "== soak summary"
grep '^KIND' "$WORK/soak-wrk.txt" || true
echo "$RESULT"
echo "RSS kB: start $RSS_START, after ${WARMUP}s warm-up $WARM, end $END, max $MAX (growth after warm-up ${GROWTH} MB)"
echo "GET /health after the run: $HEALTH"
[ -s "$WORK/soak-wrk.err" ] && { echo "first unexpected answers:"; head -5 "$WORK/soak-wrk.err"; }
if [ "${UNEXPECTED:-1}" -eq 0 ] && [ "${TRANSPORT:-1}" -eq 0 ] && [ "$GROWTH" -lt "$MAX_GROWTH_MB" ] \
   && [ "$HEALTH" = "200" ]; then
  echo "VERDICT PASS"
else
  echo "VERDICT FAIL"; exit 1
fi
