#!/usr/bin/env bash
# What the scan script costs Redis in instructions, which, unlike time, does not swing
# with this machine's speed (±50 % over minutes, so two `usec_per_call` figures taken
# minutes apart can differ by more than a change to the script does). A private
# redis-server under valgrind's callgrind runs N (20,000) calls of each of:
#   bare:   `return 1` with no keys or arguments: one EVALSHA's floor;
#   args:   `return 1` with the scan's keys and arguments: what passing them costs;
#   scan:   scan.lua, a first scan of a fresh code by a returning member whose draw
#           picked nothing (as most scans are), the bench campaign's arguments.
# and prints Redis's instructions per call of each; with BASE (a revision), the same for
# that revision's scan.lua beside it. redis-benchmark's random numbers
# are zero-padded, which SETBIT refuses as an offset, so the scan's first line makes
# the serial plain (about 2,000 instructions, counted in "scan").
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/dev/services.sh
. benches/scan-script.sh

n=${N:-20000}
command -v redis-server >/dev/null || yima_apt_install redis-server
command -v valgrind >/dev/null || yima_apt_install valgrind
command -v bc >/dev/null || yima_apt_install bc
dir=$(mktemp -d /tmp/yima-ir.XXXXXX)
port=$(yima_free_port)
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    >"$dir/valgrind.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.2; done

# instructions SCRIPT ARGS...: Redis's instructions per call, over n calls after a
# warm-up (which also makes the returning member).
instructions() {
    local sha
    sha=$(redis-cli -p "$port" script load "$1")
    shift
    redis-cli -p "$port" flushall >/dev/null
    redis-benchmark -p "$port" -c 8 -n 2000 -r 100000000 -q EVALSHA "$sha" "$@" >/dev/null
    callgrind_control -z "$server" >/dev/null 2>&1
    redis-benchmark -p "$port" -c 8 -n "$n" -r 100000000 -q EVALSHA "$sha" "$@" >/dev/null
    rm -f "$dir"/cg.out.*
    callgrind_control -d "$server" >/dev/null 2>&1
    awk -v n="$n" '/^(summary|totals):/ { printf "%d", $2 / n; exit }' "$dir"/cg.out.*
}

day=$(TZ=Asia/Shanghai date +%F)
tag="bench:{bench}"
# The layout is scan.lua's header: the bench campaign baked in (bench_scan_script: 2
# levels), nothing drawn, no fallback or rebate, one-lane, no region.
args=(7 "$tag:redeemed:999:consumer" "$tag:result:999:__rand_int__:consumer"
    "$tag:member:m1" "$tag:awarded" "$tag:awarded:$day" "$tag:stats" "$tag:events"
    __rand_int__ m1 "$day:consumer" 000000
    "{\"v\":3,\"scan_id\":\"s__rand_int__\",\"campaign\":\"bench\",\"revision\":1,\"batch\":999,\"serial\":__rand_int__,\"role\":\"consumer\",\"member\":\"m1\",\"day\":\"$day\",\"at_ms\":0,\"draw\":__rand_int__,\"growth\":10,\"period\":\"${day%-*}\",\"ms_into_month\":__rand_int__}"
    "")
plain="ARGV[1] = string.format('%d', ARGV[1])"

# measure NAME SCRIPT ARGS...: sets NAME_bare, NAME_args, NAME_scan.
measure() {
    local name=$1 script=$2
    shift 2
    printf -v "${name}_bare" '%s' "$(instructions "return 1" 0)"
    printf -v "${name}_args" '%s' "$(instructions "return 1" "$@")"
    printf -v "${name}_scan" '%s' "$(instructions "$plain
$script" "$@")"
}
measure this "$(bench_scan_script)" "${args[@]}"
base_bare='' base_args='' base_scan='' label=''
if [ -n "${BASE:-}" ]; then
    label=$(git rev-parse --short "$BASE")
    script=$(bench_scan_script "$BASE")
    base_layout=("${args[@]}")
    # Before baking the script took the campaign's constants and the plan's digits as
    # arguments of their own (then the event, diverted, region and lanes); before the
    # strings-only rewrite also level 1's threshold (0) and the number of candidates.
    unbaked=("${args[@]:0:11}" "${bench_unbaked_plan[@]}" "${args[12]}" 0 "" "")
    if grep -q 'number of candidates C' <<<"$script"; then
        base_layout=("${unbaked[@]:0:15}" 0 "${unbaked[@]:15}" 0)
    elif ! grep -q 'the plan:' <<<"$script"; then
        base_layout=("${unbaked[@]}")
    fi
    measure base "$script" "${base_layout[@]}"
fi
row() { printf '%-52s %12s %12s\n' "$@"; }
echo
row "Redis instructions per call (callgrind, $n calls)" "$label" "this tree"
row "  bare: return 1, no arguments" "$base_bare" "$this_bare"
row "  args: return 1, the scan's keys and arguments" "$base_args" "$this_args"
row "  scan: scan.lua, first scan, nothing drawn" "$base_scan" "$this_scan"
if [ -n "$base_scan" ]; then
    row "  ratio scan, this / base" "" "$(printf '%.2f' "$(echo "$this_scan / $base_scan" | bc -l)")"
fi
