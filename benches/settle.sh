#!/usr/bin/env bash
# Settlement throughput, beside its ceiling measured in the same run:
#   settle:  `yima settle` (release build, batches of BATCH) drains EVENTS award events
#            from the stream; each is one scan, one award, one ledger entry and a member
#            balance upsert, in one transaction per batch, acknowledged after commit;
#   ceiling: COPY of the same award rows into the same table (its indexes and foreign
#            key included): Postgres's fastest way in for rows that are already built;
#            and, like for like, COPY of every row settlement wrote (4 tables).
# Starts its own private Postgres/Redis and removes them after.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/dev/services.sh

events=${EVENTS:-200000}
batch_size=${BATCH:-1000}
workers=${WORKERS:-1}

yima_install_services
command -v bc >/dev/null || yima_apt_install bc
run_dir=$(mktemp -d /tmp/yima-bench.XXXXXX)
chmod 755 "$run_dir"
worker_pids=()
cleanup() {
    for pid in "${worker_pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    yima_stop_services "$run_dir"
    rm -rf "$run_dir"
}
trap cleanup EXIT
pg_port=$(yima_free_port)
redis_port=$(yima_free_port)
yima_start_services "$run_dir" "$pg_port" "$redis_port" "${PG_OPTIONS:-}"
yima_create_db "$run_dir" yima
export YIMA_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/yima"
export YIMA_REDIS_URL="redis://127.0.0.1:$redis_port"
export YIMA_KEY_PREFIX=bench
export YIMA_CODE_KEYS_FILE=config/dev-code-keys.txt
export RUST_LOG=warn
psql() { "$(yima_pg_bin)/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d yima -tAq "$@"; }

cargo build --release --locked --quiet
yima=target/release/yima
$yima migrate
$yima campaign apply benches/scan-campaign.toml 2>/dev/null
batch=$($yima batch create --campaign bench --sku BENCH --count "$events")

# The events the gateway would have appended: every one a won cup (an award).
echo "filling the stream with $events award events" >&2
awk -v n="$events" -v batch="$batch" 'BEGIN {
    for (i = 0; i < n; i++)
        printf "XADD bench:{bench}:events * v 1 scan_id s%d campaign bench revision 1 batch %d serial %d role consumer member m%d day 2026-06-01 at_ms 1780286400000 level 1 draw 1 drawn cup prize cup kind item value 5900 points 10 growth 10 status won\r\n", i, batch, i, i % 10007
}' | redis-cli -p "$redis_port" --pipe >/dev/null

echo "settle: $workers worker(s), batches of $batch_size" >&2
started=$(date +%s.%N)
for w in $(seq "$workers"); do
    $yima settle --consumer "bench-$w" --batch-size "$batch_size" &
    worker_pids+=($!)
done
while [ "$(psql -c 'SELECT count(*) FROM awards')" -lt "$events" ]; do sleep 0.05; done
finished=$(date +%s.%N)
for pid in "${worker_pids[@]}"; do kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; done
worker_pids=()
settle_seconds=$(echo "$finished - $started" | bc -l)
settle_rate=$(echo "$events / $settle_seconds" | bc -l)

# Ceilings: the rows settlement wrote, truncated and put back by COPY, table by table.
# The award table alone is the ceiling #4 names; all four tables is like for like.
for table in scans awards points_ledger members; do
    psql -c "\\copy $table TO '$run_dir/$table.copy'"
done
psql -c "TRUNCATE scans, awards, payouts, points_ledger, members" 2>/dev/null
psql -c "VACUUM ANALYZE scans, awards, points_ledger, members"
declare -A copy_seconds
for table in scans awards points_ledger members; do
    copy_started=$(date +%s.%N)
    psql -c "\\copy $table FROM '$run_dir/$table.copy'"
    copy_seconds[$table]=$(echo "$(date +%s.%N) - $copy_started" | bc -l)
done
copy_rate=$(echo "$events / ${copy_seconds[awards]}" | bc -l)
all_seconds=$(echo "${copy_seconds[scans]} + ${copy_seconds[awards]} + ${copy_seconds[points_ledger]} + ${copy_seconds[members]}" | bc -l)
all_rate=$(echo "$events / $all_seconds" | bc -l)
rows=$(psql -c 'SELECT count(*) FROM awards')

printf '\n%-52s %12s\n' "measure" "value"
printf '%-52s %12d\n' "award events" "$events"
printf '%-52s %12.2f\n' "settle: seconds to drain" "$settle_seconds"
printf '%-52s %12.0f\n' "settle: awards/s (scan+award+ledger+balance, acked)" "$settle_rate"
printf '%-52s %12.0f\n' "ceiling: COPY into awards, rows/s" "$copy_rate"
printf '%-52s %12d\n' "rows copied into awards" "$rows"
printf '%-52s %12.2f\n' "ratio settle / COPY awards" "$(echo "$settle_rate / $copy_rate" | bc -l)"
printf '%-52s %12.0f\n' "like for like: COPY of all 4 tables, awards/s" "$all_rate"
printf '%-52s %12.2f\n' "ratio settle / COPY all 4 tables" "$(echo "$settle_rate / $all_rate" | bc -l)"
