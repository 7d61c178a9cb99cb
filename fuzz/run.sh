#!/usr/bin/env bash
# Reruns the fuzz campaigns of clustermatch's parsers of outside data, each target for SECONDS
# (default 180) from its committed seeds and corpus, and prints executions and coverage.
#
#   fuzz/run.sh            # every target, 3 minutes each
#   fuzz/run.sh 600 csv    # one target, 10 minutes
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo-fuzz wants nightly; on the stable
# toolchain RUSTC_BOOTSTRAP=1 unlocks the -Z flags it passes. Built without a sanitizer (`-s none`:
# the code is safe Rust, and it runs several times faster) but with debug assertions (`-a`), so
# integer overflows panic. libFuzzer limits: 2 GB RSS, 10 s a run.
#
# To commit a grown corpus, minimise it first, keeping every covered edge (counter features
# only make it several times bigger):
#   RUSTC_BOOTSTRAP=1 cargo fuzz cmin -s none -a TARGET corpus/TARGET -- -use_counters=0
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-180}
shift || true
TARGETS=${*:-"jsonl csv xlsx sheet_xml config event_files slots http_body planner"}
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none -a
mkdir -p logs
for t in $TARGETS; do
  mkdir -p "corpus/$t"
  cargo fuzz run -s none -a "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
    -max_len=65536 -print_final_stats=1 >"logs/$t.log" 2>&1 || {
      echo "$t: FAILED, see fuzz/logs/$t.log and fuzz/artifacts/$t/"; tail -30 "logs/$t.log"; exit 1; }
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$')
  last=$(grep -E '^#[0-9]+' "logs/$t.log" | tail -1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' || true)
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' || true)
  corp=$(echo "$last" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' || true)
  echo "$t: ${execs} executions, ${cov}, ${ft}, ${corp} in ${SECONDS_EACH}s"
  # Coverage at half time and at 90 %: the time of a status line is its executions over its
  # (average) exec/s. A plateau: no or ~1 new edge between 90 % and the end.
  grep -E '^#[0-9]+' "logs/$t.log" | awk -v total="$SECONDS_EACH" -v name="$t" '
    { n = substr($1, 2) + 0; c = ""; e = 0
      for (i = 2; i < NF; i++) { if ($i == "cov:") c = $(i + 1); if ($i == "exec/s:") e = $(i + 1) + 0 }
      if (c == "" || e == 0) next
      s = n / e
      if (s <= total * 0.5) { h = c; hn = n }
      if (s <= total * 0.9) { l = c; ln = n }
      last = c; lastn = n }
    END { if (last != "") printf "%s: cov %s at half time (#%d), %s at 90 %% (#%d), %s at the end (#%d)\n", name, h, hn, l, ln, last, lastn }'
done
