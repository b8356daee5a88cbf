#!/usr/bin/env bash
# What a scan costs Redis at national scale, this tree beside a base tree built side by
# side (BASE, a revision; default: the tree before compact scan answers, i.e. the parent
# of the commit that introduced them), in one table. For each,
# on the same private Redis (flushed between) and Postgres (a database each):
#   scan:    yima-load scans CODES (1,000,000) fresh codes closed-loop through the
#            gateway, spread over MEMBERS (50,000) members (20 scans each, as tradesmen
#            scan), service key; `INFO commandstats` gives the scan script's
#            usec_per_call (the only script a one-lane campaign runs);
#   settle:  `yima settle` drains the stream, then the run waits out the answer grace
#            window (GRACE seconds, 5) until Redis has expired every settled answer;
#   memory:  `used_memory` after MEMORY PURGE, before the scans, right after them (the
#            answers live) and at the end (steady state), per scan; MEMORY USAGE of
#            200 stored answers; and Redis CPU per scan in each phase (settling: the
#            worker's reads, acks, board counts and answer TTLs, and the expiries).
# With two cores or more, Redis runs alone on the last one and everything else on the
# others: `usec_per_call` is wall time inside the call, and on a shared core it would
# count the time Redis waited for the core (+30–50 % on two cores).
# Starts its own private Postgres/Redis and removes them after. The base is built once
# under target/bench-base (its own target directory: a first run builds it, ~10 min).
set -euo pipefail
cd "$(dirname "$0")/.."

count=${CODES:-1000000}
members=${MEMBERS:-50000}
grace=${GRACE:-5}
connections=${CONNECTIONS:-64}
base=${BASE:-$(git log -1 --format=%H --grep='^scan answers: five values')^}
base=$(git rev-parse --short "$base")

. benches/common.sh
export YIMA_LIMITS_IP_PER_MINUTE=0 YIMA_LIMITS_MEMBER_PER_MINUTE=0
cores=$(nproc)
pin=()
if [ "$cores" -ge 2 ] && command -v taskset >/dev/null; then
    taskset -pc "$((cores - 1))" "$redis_pid" >/dev/null
    pin=(taskset -c "0-$((cores - 2))")
    # Postgres too (its backends fork from the postmaster and inherit this), so that
    # nothing, the first tree's autovacuum included, shares Redis's core.
    postmaster=$(head -n 1 "$run_dir/postgres/data/postmaster.pid")
    for pid in "$postmaster" $(pgrep -P "$postmaster"); do
        taskset -apc "0-$((cores - 2))" "$pid" >/dev/null
    done
fi
tick=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rcli() { redis-cli -p "$redis_port" "$@"; }
used_memory() { rcli memory purge >/dev/null; rcli info memory | awk -F: '/^used_memory:/ { print $2 + 0 }'; }
expiring() { rcli info keyspace | grep -o 'expires=[0-9]*' | cut -d= -f2 || echo 0; }

echo "building this tree and base $base" >&2
cargo build --release --locked --quiet -p yima -p yima-load
base_dir=target/bench-base
if [ "$(git -C "$base_dir" rev-parse --short HEAD 2>/dev/null)" != "$base" ]; then
    git worktree remove --force "$base_dir" 2>/dev/null || rm -rf "$base_dir"
    git worktree add --detach --force "$base_dir" "$base" >/dev/null
fi
(cd "$base_dir" && CARGO_TARGET_DIR=../bench-base-target cargo build --release --locked --quiet -p yima)
load=target/release/yima-load

# run NAME YIMA: one tree's phases (YIMA: the binary and its global options); sets the
# results as NAME_<measure>.
run() {
    local name=$1 yima=$2 report gateway_pid worker_pid ticks before live after started
    rcli flushall >/dev/null
    yima_create_db "$run_dir" "yima_$name"
    export YIMA_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/yima_$name"
    $yima migrate
    $yima campaign apply benches/scan-campaign.toml 2>/dev/null
    local batch
    batch=$($yima batch create --campaign bench --sku BENCH --count "$count")
    [ -s "$run_dir/codes-$batch.txt" ] || $yima gen --batch "$batch" --out "$run_dir/codes-$batch.txt"
    "${pin[@]}" $yima gateway &
    gateway_pid=$!; pids+=("$gateway_pid")
    wait_http "http://$YIMA_HTTP_LISTEN/readyz"
    before=$(used_memory)
    local expiring_before
    expiring_before=$(expiring)
    rcli config resetstat >/dev/null
    ticks=$(cpu_ticks "$redis_pid")
    echo "$name: scanning $count codes" >&2
    report=$("${pin[@]}" $load scan --target "$YIMA_HTTP_LISTEN" --codes "$run_dir/codes-$batch.txt" \
        --connections "$connections" --duration 3600 --members "$members" \
        --bearer "$YIMA_SERVICE_TOKEN")
    echo "$report" >&2
    local scanned
    scanned=$(field ok "$report")
    local stats
    # The script's own commands are counted too: where its time goes, for the log.
    rcli info commandstats | grep -o '^cmdstat_[a-z]*:calls=[0-9]*,usec=[0-9]*,usec_per_call=[0-9.]*' >&2
    stats=$(rcli info commandstats | grep '^cmdstat_evalsha:')
    local scan_ticks
    scan_ticks=$(cpu_ticks "$redis_pid")
    # What one live answer costs: MEMORY USAGE of a sample of them (key, value, TTL).
    local sample
    sample=$({ rcli --scan --pattern 'bench:{bench}:result:*' || true; } | head -n 200 |
        while read -r key; do rcli memory usage "$key"; done |
        awk '{ n += $1; c++ } END { if (c) printf "%.0f", n / c; else print 0 }')
    live=$(used_memory)
    echo "$name: settling, then waiting out the grace window" >&2
    # A base from before the grace window knows no such setting and refuses it; one
    # that knows it gets the same window, so both pay for expiring their answers.
    local graced=1
    [ "$name" = this ] || grep -q '^answer_grace_seconds' "$base_dir/config/yima.toml" || graced=0
    if [ "$graced" = 1 ]; then export YIMA_REDIS_ANSWER_GRACE_SECONDS=$grace; fi
    "${pin[@]}" $yima settle --consumer bench &
    unset YIMA_REDIS_ANSWER_GRACE_SECONDS
    worker_pid=$!; pids+=("$worker_pid")
    while [ "$(lag)" -gt 0 ]; do sleep 0.5; done
    # The worker trims what it acknowledged once a second.
    while [ "$(rcli xlen 'bench:{bench}:events')" -gt 1000 ]; do sleep 0.5; done
    if [ "$graced" = 1 ]; then
        started=$(date +%s)
        while [ "$(expiring)" -gt $((expiring_before + 10)) ]; do
            [ $(($(date +%s) - started)) -lt $((grace + 300)) ] || { echo "answers never expired" >&2; exit 1; }
            sleep 1
        done
    fi
    stop "$worker_pid"; stop "$gateway_pid"
    after=$(used_memory)
    local cpu_us settle_us
    cpu_us=$(echo "($scan_ticks - $ticks) * 1000000 / $tick / $scanned" | bc -l)
    settle_us=$(echo "($(cpu_ticks "$redis_pid") - $scan_ticks) * 1000000 / $tick / $scanned" | bc -l)
    printf -v "${name}_rate" '%.0f' "$(field rate "$report")"
    printf -v "${name}_scanned" '%s' "$scanned"
    printf -v "${name}_usec" '%s' "$(echo "$stats" | grep -o 'usec_per_call=[0-9.]*' | cut -d= -f2)"
    printf -v "${name}_live" '%.0f' "$(echo "($live - $before) / $scanned" | bc -l)"
    printf -v "${name}_steady" '%.1f' "$(echo "($after - $before) / $scanned" | bc -l)"
    printf -v "${name}_cpu" '%.1f' "$cpu_us"
    printf -v "${name}_settle_cpu" '%.1f' "$settle_us"
    printf -v "${name}_answer" '%s' "$sample"
    # Nothing of this tree keeps working while the next one is measured.
    "$(yima_pg_bin)/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -q \
        -c "DROP DATABASE \"yima_$name\" WITH (FORCE)"
}

# The base reads its own configuration file (a newer one has keys it does not know).
run base "target/bench-base-target/release/yima --config $base_dir/config/yima.toml"
run this target/release/yima

row() { printf '%-52s %12s %12s %10s\n' "$@"; }
echo
row "measure ($count codes, $members members)" "base $base" "this tree" "target"
row "scans answered 200 (closed loop, $connections conn)" "$base_scanned" "$this_scanned" ""
row "  scans/s" "$base_rate" "$this_rate" ""
row "scan script usec_per_call (INFO commandstats)" "$base_usec" "$this_usec" "<= 12"
row "Redis CPU us per scan, scanning" "$base_cpu" "$this_cpu" ""
row "Redis CPU us per scan, settling (boards, grace)" "$base_settle_cpu" "$this_settle_cpu" ""
row "one stored answer, bytes (MEMORY USAGE, 200 keys)" "$base_answer" "$this_answer" ""
row "Redis bytes per scan, answers live (unsettled)" "$base_live" "$this_live" ""
row "Redis bytes per scan, settled + ${grace}s grace" "$base_steady" "$this_steady" "<= 32"
