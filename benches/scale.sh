#!/usr/bin/env bash
# Scale measurement: builds an index from a generated corpus of N profiles with the release
# binary, measures build rate, index size, single-match latency (p50/p99, one thread), batch time
# (1,000 participants x top 50 + mutual, 2 threads) and peak RSS, runs the peer engines of
# ../shared/bench/peers.py on the same corpus in the same run, prints one table with ratios and
# ends with one JSON line.
#
#   benches/scale.sh 100000
#
# Environment: SCALE_DIR (work dir, default target/scale), PEERS (default tantivy,bm25s,numpy;
# "none" to skip), BENCH_DIR (where gen_corpus.py and peers.py live, default ../shared/bench or
# /work/shared/bench), SEED (default 42), QUERIES / BATCH (default 1000), WARM (postings decoded
# after opening the index, before the first query, as `clustermatch serve` does; default its
# 67108864; 0 for a cold start: lists decoded by the queries that need them), OPTIMIZE (1: run
# `clustermatch optimize` after the build and query the packed index, timed apart; 0: query
# the index as the build left it), WRITES (default 20: stored profiles upserted again one at a
# time after the queries, each committed and published as `PUT /profiles` does, with the
# snapshot warmed in the background as `serve` does and the 5 queries after each write timed;
# 0 skips).
set -euo pipefail

N=${1:?usage: benches/scale.sh N}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SCALE_DIR=${SCALE_DIR:-$ROOT/target/scale}
PEERS=${PEERS:-tantivy,bm25s,numpy}
SEED=${SEED:-42}
QUERIES=${QUERIES:-1000}
BATCH=${BATCH:-1000}
WARM=${WARM:-67108864}
OPTIMIZE=${OPTIMIZE:-1}
WRITES=${WRITES:-20}
if [ -z "${BENCH_DIR:-}" ]; then
  for d in "$ROOT/../shared/bench" /work/shared/bench; do
    [ -f "$d/gen_corpus.py" ] && BENCH_DIR=$d && break
  done
fi
[ -n "${BENCH_DIR:-}" ] || { echo "gen_corpus.py not found: set BENCH_DIR" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed to generate the corpus" >&2; exit 2; }
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "GNU time (/usr/bin/time) is needed for peak RSS: apt-get install time" >&2; exit 2; }

mkdir -p "$SCALE_DIR"
CORPUS=$SCALE_DIR/c$N.s$SEED.jsonl
if [ ! -s "$CORPUS" ]; then
  echo "generating $N profiles -> $CORPUS" >&2
  python3 "$BENCH_DIR/gen_corpus.py" -n "$N" --seed "$SEED" -o "$CORPUS"
fi

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
echo "building release binaries" >&2
cargo build --release --quiet --bin clustermatch --example scale
BIN=$TARGET/release/clustermatch
PROBE=$TARGET/release/examples/scale

IDX=$SCALE_DIR/idx$N
rm -rf "$IDX"
echo "indexing" >&2
$TIME -v -o "$SCALE_DIR/build$N.time" "$BIN" --no-config index --index "$IDX" --input "$CORPUS" 2>"$SCALE_DIR/build$N.log" || {
  echo "indexing failed (df: $(df -h "$SCALE_DIR" | awk 'NR==2 {print $4}') free):" >&2
  tail -5 "$SCALE_DIR/build$N.log" >&2
  exit 1
}
rm -f "$SCALE_DIR/optimize$N.time"
if [ "$OPTIMIZE" = 1 ]; then
  echo "optimizing" >&2
  $TIME -v -o "$SCALE_DIR/optimize$N.time" "$BIN" --no-config --index "$IDX" optimize 2>"$SCALE_DIR/optimize$N.log"
fi
# The size of the index as built (and packed), before the probe's writes add to it.
INDEX_BYTES=$(find "$IDX" -maxdepth 1 -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "measuring latency, batch and writes" >&2
$TIME -v -o "$SCALE_DIR/query$N.time" "$PROBE" --index "$IDX" --corpus "$CORPUS" \
  --queries "$QUERIES" --batch "$BATCH" --threads 2 --preload "$WARM" --writes "$WRITES" \
  >"$SCALE_DIR/probe$N.json"

PEERS_OUT=$SCALE_DIR/peers$N.jsonl
rm -f "$PEERS_OUT"
if [ "$PEERS" != none ]; then
  echo "running peers: $PEERS" >&2
  python3 "$BENCH_DIR/peers.py" "$CORPUS" --out "$PEERS_OUT" --peers "$PEERS" \
    --lat-q "$QUERIES" --batch-q "$BATCH" --tmp "$SCALE_DIR/peers-tmp" >&2 || true
fi

python3 - "$N" "$SCALE_DIR" "$INDEX_BYTES" "$PEERS_OUT" <<'PY'
import json, os, re, sys
n, d, size, peers_out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]

def gtime(path):
    t = open(path).read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1).split(":")
    secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
    return secs, rss

build_s, build_rss = gtime(f"{d}/build{n}.time")
_, query_rss = gtime(f"{d}/query{n}.time")
optimize_s, optimize_rss = gtime(f"{d}/optimize{n}.time") if os.path.exists(f"{d}/optimize{n}.time") else (None, 0)
probe = json.load(open(f"{d}/probe{n}.json"))
ours = {"n": n, "build_per_s": round(n / build_s), "index_mb": round(size / 2**20, 1),
        "p50_ms": round(probe["p50_ms"], 3), "p99_ms": round(probe["p99_ms"], 3),
        "batch_s": round(probe["batch_s"], 3), "peak_rss_mb": round(max(build_rss, query_rss, optimize_rss)),
        "build_rss_mb": round(build_rss), "query_rss_mb": round(query_rss),
        "optimize_s": None if optimize_s is None else round(optimize_s, 2),
        "warm_s": round(probe.get("preload_s", 0.0), 3),
        "warm_postings": probe.get("preloaded", {}).get("postings", 0),
        "write_p50_ms": round(probe.get("write_p50_ms", 0.0), 1),
        "write_max_ms": round(probe.get("write_max_ms", 0.0), 1), "writes": probe.get("writes", 0),
        "after_write_p50_ms": round(probe.get("after_write_p50_ms", 0.0), 3),
        "after_write_p99_ms": round(probe.get("after_write_p99_ms", 0.0), 3)}
peers = {}
if os.path.exists(peers_out):
    for line in open(peers_out):
        p = json.loads(line)
        if "error" in p:
            print(f"peer {p['peer']} failed: {p['error'][-200:]}", file=sys.stderr)
            continue
        peers[p["peer"]] = {"build_per_s": round(p["build_per_s"]), "p50_ms": round(p["p50_ms"], 3),
                            "p99_ms": round(p["p99_ms"], 3), "batch_s": round(p["batch_s_per_1000"], 3),
                            "peak_rss_mb": round(p["peak_rss_mb"])}

rows = [("clustermatch (full score + reasons)", ours)] + [(k, v) for k, v in peers.items()]
hdr = f"{'engine':38s} {'build/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'batch s':>8s} {'RSS MB':>7s}  ratio p50 / p99 / batch (peer ÷ ours)"
print(f"\nN = {n:,}   index {ours['index_mb']} MB   (build RSS {ours['build_rss_mb']} MB, query RSS {ours['query_rss_mb']} MB)"
      f"   optimize {ours['optimize_s']} s   warm-up {ours['warm_s']} s ({ours['warm_postings']:,} postings decoded before the first query)")
if ours["writes"]:
    print(f"write of one profile (commit, merges, new snapshot; {ours['writes']} writes): "
          f"p50 {ours['write_p50_ms']} ms, max {ours['write_max_ms']} ms; "
          f"the 5 queries right after each: p50 {ours['after_write_p50_ms']} ms, p99 {ours['after_write_p99_ms']} ms")
print(hdr)
print("-" * len(hdr))
for name, r in rows:
    ratio = "" if r is ours else "{:.1f}x / {:.1f}x / {:.1f}x".format(
        r["p50_ms"] / max(ours["p50_ms"], 1e-9), r["p99_ms"] / max(ours["p99_ms"], 1e-9), r["batch_s"] / max(ours["batch_s"], 1e-9))
    print(f"{name:38s} {r['build_per_s']:>9,} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} {r['batch_s']:>8.3f} {r['peak_rss_mb']:>7,}  {ratio}")
out = {k: ours[k] for k in ("n", "build_per_s", "index_mb", "p50_ms", "p99_ms", "batch_s", "peak_rss_mb", "optimize_s", "warm_s", "write_p50_ms", "after_write_p50_ms")}
out["peers"] = {k: {"p50_ms": v["p50_ms"], "p99_ms": v["p99_ms"], "batch_s": v["batch_s"]} for k, v in peers.items()}
print(json.dumps(out))
PY
