#!/usr/bin/env bash
# Settlement throughput, beside its ceiling measured in the same run:
#   settle:  `yima settle` (release build, batches of BATCH) drains EVENTS award events
#            from the stream; each is one redemption, one scan (also the member's
#            ledger entry), one award and a member balance upsert, in one transaction
#            per batch, acknowledged after commit;
#   ceiling: COPY of the same award rows into the same table (its indexes included):
#            Postgres's fastest way in for rows that are already built; and, like for
#            like, COPY of every row settlement wrote (4 tables); best of 3.
#   where the time goes: CPU per award of the workers, Postgres and Redis.
# Starts its own private Postgres/Redis and removes them after.
set -euo pipefail
cd "$(dirname "$0")/.."

events=${EVENTS:-200000}
batch_size=${BATCH:-1000}
workers=${WORKERS:-$(nproc)}  # one per core: each overlaps its stream reads with its transactions

. benches/common.sh
# CPU ticks used so far by the given processes and their reaped children.
cpu_ticks() {
    local total=0 pid fields
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        fields=$(sed 's/^.*) //' "/proc/$pid/stat")
        total=$((total + $(echo "$fields" | awk '{ print $12 + $13 + $14 + $15 }')))
    done
    echo "$total"
}
postgres_pids() {
    local postmaster
    postmaster=$(head -n 1 "$run_dir/postgres/data/postmaster.pid")
    echo "$postmaster" $(pgrep -P "$postmaster")
}

cargo build --release --locked --quiet
yima=target/release/yima
$yima migrate
$yima campaign apply benches/scan-campaign.toml 2>/dev/null
batch=$($yima batch create --campaign bench --sku BENCH --count "$events")

# The events the gateway would have appended: every one a won cup (an award).
echo "filling the stream with $events award events" >&2
awk -v n="$events" -v batch="$batch" 'BEGIN {
    for (i = 0; i < n; i++)
        printf "XADD bench:{bench}:events * event \"{\\\"v\\\":3,\\\"scan_id\\\":\\\"s%d\\\",\\\"campaign\\\":\\\"bench\\\",\\\"revision\\\":1,\\\"batch\\\":%d,\\\"serial\\\":%d,\\\"role\\\":\\\"consumer\\\",\\\"member\\\":\\\"m%d\\\",\\\"day\\\":\\\"2026-06-01\\\",\\\"at_ms\\\":1780286400000,\\\"draw\\\":1,\\\"growth\\\":10}\\n1 cup item 5900 won cup 10 10 1\"\r\n", i, batch, i, i % 10007
}' | redis-cli -p "$redis_port" --pipe >/dev/null

echo "settle: $workers worker(s), batches of $batch_size" >&2
pg_ticks_before=$(cpu_ticks $(postgres_pids))
redis_ticks_before=$(cpu_ticks "$redis_pid")
started=$(date +%s.%N)
metrics_ports=()
for w in $(seq "$workers"); do
    metrics_ports+=("$(yima_free_port)")
    $yima settle --consumer "bench-$w" --batch-size "$batch_size" \
        --metrics-listen "127.0.0.1:${metrics_ports[-1]}" &
    pids+=($!)
done
# Done when the workers have settled every event (read off their metrics: polling
# Postgres with count(*) would take CPU from the run it measures).
settled_so_far() {
    local port
    for port in "${metrics_ports[@]}"; do
        curl -fs "127.0.0.1:$port/metrics" || true
    done | awk '$1 == "yima_settled_events_total" { n += $2 } END { printf "%d\n", n }'
}
while [ "$(settled_so_far)" -lt "$events" ]; do sleep 0.2; done
finished=$(date +%s.%N)
worker_ticks=$(cpu_ticks "${pids[@]}")
pg_ticks=$(($(cpu_ticks $(postgres_pids)) - pg_ticks_before))
redis_ticks=$(($(cpu_ticks "$redis_pid") - redis_ticks_before))
for pid in "${pids[@]}"; do kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; done
pids=()
settle_seconds=$(echo "$finished - $started" | bc -l)
settle_rate=$(echo "$events / $settle_seconds" | bc -l)

# What each award left in Postgres, table by table (heap, indexes and TOAST; every
# partition of `scans`), before the ceilings below rewrite the tables.
psql -c "CHECKPOINT" >/dev/null
declare -A bytes
for table in scans redemptions awards members; do
    bytes[$table]=$(psql -c "SELECT coalesce(sum(pg_total_relation_size(relid)), pg_total_relation_size('$table'))
                               FROM pg_partition_tree('$table')")
done

# Ceilings: the rows settlement wrote, truncated and put back by COPY, table by table,
# best of three rounds (a ceiling should not be lowered by a noisy moment). The award
# table alone is the ceiling #4 names; all four tables is like for like.
tables=(redemptions scans awards members)
for table in "${tables[@]}"; do
    psql -c "\\copy (SELECT * FROM $table) TO '$run_dir/$table.copy'"
done
declare -A copy_seconds
for round in 1 2 3; do
    psql -c "TRUNCATE redemptions, scans, awards, payouts, members" 2>/dev/null
    psql -c "VACUUM ANALYZE redemptions, scans, awards, members"
    for table in "${tables[@]}"; do
        copy_started=$(date +%s.%N)
        psql -c "\\copy $table FROM '$run_dir/$table.copy'"
        seconds=$(echo "$(date +%s.%N) - $copy_started" | bc -l)
        if [ "$round" -eq 1 ] || [ "$(echo "$seconds < ${copy_seconds[$table]}" | bc -l)" -eq 1 ]; then
            copy_seconds[$table]=$seconds
        fi
    done
done
copy_rate=$(echo "$events / ${copy_seconds[awards]}" | bc -l)
all_seconds=$(for table in "${tables[@]}"; do echo "${copy_seconds[$table]}"; done | paste -sd+ | bc -l)
all_rate=$(echo "$events / $all_seconds" | bc -l)
rows=$(psql -c 'SELECT count(*) FROM awards')

printf '\n%-52s %12s\n' "measure" "value"
printf '%-52s %12d\n' "award events" "$events"
printf '%-52s %12.2f\n' "settle: seconds to drain" "$settle_seconds"
printf '%-52s %12.0f\n' "settle: awards/s (4 rows each, acked)" "$settle_rate"
tick=$(getconf CLK_TCK)
for part in worker:$worker_ticks postgres:$pg_ticks redis:$redis_ticks; do
    printf '%-52s %12.1f\n' "CPU µs per award: ${part%%:*}" \
        "$(echo "${part#*:} / $tick * 1000000 / $events" | bc -l)"
done
for table in scans redemptions awards members; do
    printf '%-52s %12.0f\n' "Postgres bytes per award: $table" "$(echo "${bytes[$table]} / $events" | bc -l)"
done
printf '%-52s %12.0f\n' "ceiling: COPY into awards, rows/s" "$copy_rate"
printf '%-52s %12d\n' "rows copied into awards" "$rows"
printf '%-52s %12.2f\n' "ratio settle / COPY awards" "$(echo "$settle_rate / $copy_rate" | bc -l)"
printf '%-52s %12.0f\n' "like for like: COPY of all 4 tables, awards/s" "$all_rate"
printf '%-52s %12.2f\n' "ratio settle / COPY all 4 tables" "$(echo "$settle_rate / $all_rate" | bc -l)"
