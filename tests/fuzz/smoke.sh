#!/usr/bin/env bash
# Fuzz smoke run, as CI does it: builds the cargo-fuzz targets (installing cargo-fuzz
# when missing) and runs each for FUZZ_SECONDS (30) from the committed corpus, under
# AddressSanitizer. Exits non-zero on any crash, leak or failed assertion; the input
# that did it is left in tests/fuzz/artifacts/TARGET/.
#
# For a long run: FUZZ_SECONDS=600 tests/fuzz/smoke.sh code, or
#   cargo fuzz run --fuzz-dir tests/fuzz code -- -jobs=2
# New inputs go to a scratch directory, not the committed corpus; copy in any worth
# keeping (`cargo fuzz cmin` keeps it small).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
seconds=${FUZZ_SECONDS:-30}
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(code scan_body)

if ! command -v cargo-fuzz >/dev/null; then
    echo "installing cargo-fuzz" >&2
    cargo install --locked --quiet cargo-fuzz@0.13.2
fi
# cargo fuzz passes rustc -Z flags (sanitizer, coverage); the stable toolchain takes
# them with RUSTC_BOOTSTRAP, so no nightly is needed.
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
scratch=$(mktemp -d /tmp/yima-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
    echo "fuzzing $target for ${seconds}s" >&2
    mkdir -p "$scratch/$target"
    status=0
    cargo fuzz run --fuzz-dir . "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1 || status=$?
    grep -E '^(#[0-9]+ +DONE|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb))' \
        "$scratch/$target.log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$scratch/$target.log" >&2
        echo "fuzz target $target failed (exit $status)" >&2
        exit 1
    fi
done
