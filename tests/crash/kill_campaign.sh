#!/usr/bin/env bash
# Crash-safety campaign: the release indexer, upserting PROFILES generated profiles (half of them
# replacing stored ones) into an index of PROFILES/2, is killed with SIGKILL at a random moment
# RUNS times; after each kill the index must open and hold exactly the state before or after the
# run (every id, and a hash of every stored profile). Then the disk-full case on a 20 MB tmpfs
# (needs root). Prints the runs survived.
#
#   tests/crash/kill_campaign.sh                  # 200 runs, 20000 profiles
#   RUNS=500 PROFILES=50000 SEED=7 tests/crash/kill_campaign.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [ -z "${CLUSTERMATCH_BIN:-}" ]; then
  # A private copy: in a target dir shared with other checkouts, another build can replace
  # release/clustermatch while the campaign runs.
  cargo build --release --bin clustermatch
  BIN_DIR=$(mktemp -d)
  trap 'rm -rf "$BIN_DIR"' EXIT
  cp "$CARGO_TARGET_DIR/release/clustermatch" "$BIN_DIR/clustermatch"
  export CLUSTERMATCH_BIN="$BIN_DIR/clustermatch"
fi
export CRASH_RUNS=${RUNS:-200} CRASH_PROFILES=${PROFILES:-20000} CRASH_SEED=${SEED:-1}
cargo test --test crash -- --ignored --nocapture --test-threads 1 kill_campaign_long disk_full_20m
