#!/usr/bin/env bash
# Source coverage of a fuzz corpus, split into clustermatch's own code (src/) and the crates it
# calls (calamine, zip, quick-xml, csv, serde_json, toml, ...). libFuzzer's "cov:" counts edges in
# everything that is instrumented; this says whether new edges are still found in our code.
#
#   fuzz/coverage.sh xlsx                      # corpus/xlsx + seeds/xlsx
#   fuzz/coverage.sh xlsx /tmp/xlsx-snapshot   # any directory of inputs
#
# Run it on a copy of the corpus taken earlier in a campaign and on the corpus at its end: equal
# own-code figures mean our code has reached its plateau, whatever libFuzzer's count still does.
# Needs cargo-fuzz and `rustup component add llvm-tools` (llvm-cov, llvm-profdata); builds into
# $COVERAGE_TARGET_DIR (default ../target/fuzz-coverage) with coverage instrumentation.
set -euo pipefail
cd "$(dirname "$0")"
TARGET=${1:?usage: fuzz/coverage.sh TARGET [CORPUS_DIR...]}
shift
DIRS=("$@")
[ ${#DIRS[@]} -gt 0 ] || DIRS=("corpus/$TARGET" "seeds/$TARGET")
SYSROOT=$(rustc --print sysroot)
TOOLS=$(ls -d "$SYSROOT"/lib/rustlib/*/bin | head -1)
[ -x "$TOOLS/llvm-cov" ] || { echo "llvm-cov not found: rustup component add llvm-tools" >&2; exit 2; }
export PATH=$TOOLS:$PATH RUSTC_BOOTSTRAP=1
OUT=${COVERAGE_TARGET_DIR:-$(pwd)/../target/fuzz-coverage}
mkdir -p logs
rm -rf "coverage/$TARGET"
cargo fuzz coverage -s none -a --target-dir "$OUT" "$TARGET" "${DIRS[@]}" >"logs/coverage-$TARGET.log" 2>&1 || {
  echo "coverage run failed, see fuzz/logs/coverage-$TARGET.log" >&2; exit 1; }
BIN=$(find "$OUT" -path "*/release/$TARGET" -type f | head -1)
PROF=coverage/$TARGET/coverage.profdata
own=$(llvm-cov report "$BIN" -instr-profile="$PROF" \
  --ignore-filename-regex='(\.cargo|\.rustup|rustc|fuzz_targets)' | grep '^TOTAL')
all=$(llvm-cov report "$BIN" -instr-profile="$PROF" | grep '^TOTAL')
# TOTAL regions missed cover functions missed cover lines missed cover ...
echo "$TARGET: $(find "${DIRS[@]}" -type f | wc -l) inputs"
echo "$own" | awk '{printf "  own code (src/):  regions %d of %d, lines %d of %d\n", $2-$3, $2, $8-$9, $8}'
echo "$all" | awk '{printf "  everything:       regions %d of %d, lines %d of %d\n", $2-$3, $2, $8-$9, $8}'
