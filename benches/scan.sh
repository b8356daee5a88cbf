#!/usr/bin/env bash
# Whole-system scan throughput, beside its ceiling measured in the same run:
#   gateway: wrk, CONNECTIONS (64) connections for DURATION (20 s), every request a valid
#            code never scanned before (benches/scan.lua), release build;
#   ceiling: redis-benchmark of the same scan.lua (EVALSHA, same keys and arguments as
#            the gateway sends, random serials and members) with the same client count.
# Starts its own private Postgres/Redis and removes them after.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/dev/services.sh

duration=${DURATION:-20}
connections=${CONNECTIONS:-64}
count=${CODES:-1000000}
threads=2

yima_install_services
command -v wrk >/dev/null || yima_apt_install wrk
command -v bc >/dev/null || yima_apt_install bc
command -v curl >/dev/null || yima_apt_install curl
run_dir=$(mktemp -d /tmp/yima-bench.XXXXXX)
chmod 755 "$run_dir"
gateway_pid=
cleanup() {
    [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
    yima_stop_services "$run_dir"
    rm -rf "$run_dir"
}
trap cleanup EXIT
pg_port=$(yima_free_port)
redis_port=$(yima_free_port)
http_port=$(yima_free_port)
yima_start_services "$run_dir" "$pg_port" "$redis_port"
yima_create_db "$run_dir" yima
export YIMA_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/yima"
export YIMA_REDIS_URL="redis://127.0.0.1:$redis_port"
export YIMA_HTTP_LISTEN="127.0.0.1:$http_port"
export YIMA_KEY_PREFIX=bench
export YIMA_CODE_KEYS_FILE=config/dev-code-keys.txt
export RUST_LOG=warn

cargo build --release --locked --quiet
yima=target/release/yima
$yima migrate
$yima campaign apply benches/scan-campaign.toml 2>/dev/null
batch=$($yima batch create --campaign bench --sku BENCH --count "$count")
$yima gen --batch "$batch" --out "$run_dir/codes.txt"

$yima gateway &
gateway_pid=$!
for _ in $(seq 100); do curl -sf "http://$YIMA_HTTP_LISTEN/readyz" >/dev/null && break; sleep 0.1; done

echo "gateway: wrk -t$threads -c$connections -d${duration}s, unique codes" >&2
wrk_out=$(SCAN_CODES="$run_dir/codes.txt" WRK_THREADS=$threads \
    wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s benches/scan.lua "http://$YIMA_HTTP_LISTEN")
echo "$wrk_out" >&2
gateway_rate=$(echo "$wrk_out" | awk '/^Requests\/sec/ {print $2}')
p50=$(echo "$wrk_out" | awk '$1 == "50%" {print $2}')
p99=$(echo "$wrk_out" | awk '$1 == "99%" {print $2}')
errors=$(echo "$wrk_out" | awk '/Non-2xx/ {print $5}')
scans=$(redis-cli -p "$redis_port" hget "bench:{bench}:stats" scans)
kill "$gateway_pid"; wait "$gateway_pid" 2>/dev/null || true; gateway_pid=

# The same script, the same key layout and arguments as ScanCall sends.
sha=$(redis-cli -p "$redis_port" script load "$(cat crates/store/src/scan.lua)")
tag="bench:{bench}"
day=$(TZ=Asia/Shanghai date +%F)
phone='{"id":"phone","kind":"item","name":"5G phone","value":299900}'
cup='{"id":"cup","kind":"item","name":"Insulated cup","value":5900}'
echo "ceiling: redis-benchmark -c $connections EVALSHA scan.lua" >&2
ceiling_out=$(redis-benchmark -p "$redis_port" -c "$connections" -n $((connections * 5000)) -r 100000000 -q \
    EVALSHA "$sha" 9 "$tag:redeemed:999:consumer" "$tag:result:999:__rand_int__:consumer" \
    "$tag:member:m__rand_int__" "$tag:daily:$day:consumer:m__rand_int__" "$tag:awarded" \
    "$tag:awarded:$day" "$tag:stats" "$tag:events" "$tag:board:${day%-*}" \
    __rand_int__ m__rand_int__ s__rand_int__ 1000000 604800 10 10 __rand_int__ \
    "0,100" "5000,105000;8000,208000" 0 2 \
    phone 1000 -1 item 299900 "$phone" cup 1000000 -1 item 5900 "$cup" \
    "\"v\":2,\"scan_id\":\"s__rand_int__\",\"campaign\":\"bench\",\"revision\":1,\"batch\":999,\"serial\":__rand_int__,\"role\":\"consumer\",\"member\":\"m__rand_int__\",\"day\":\"$day\",\"at_ms\":0,\"draw\":__rand_int__,\"growth\":10" __rand_int__ 0 "")
ceiling=$(echo "$ceiling_out" | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -n 1 | cut -d' ' -f1)
ceiling_p50=$(echo "$ceiling_out" | tr '\r' '\n' | grep -o 'p50=[0-9.]* msec' | tail -n 1)

printf '\n%-46s %12s\n' "measure" "value"
printf '%-46s %12.0f\n' "gateway scans/s (wrk, $connections conn, unique codes)" "$gateway_rate"
printf '%-46s %12s\n' "gateway latency p50" "$p50"
printf '%-46s %12s\n' "gateway latency p99" "$p99"
printf '%-46s %12s\n' "non-2xx responses" "${errors:-0}"
printf '%-46s %12s\n' "redemptions counted in Redis" "$scans"
printf '%-46s %12.0f\n' "ceiling: redis-benchmark EVALSHA scan.lua/s" "$ceiling"
printf '%-46s %12s\n' "ceiling latency" "$ceiling_p50"
printf '%-46s %12.2f\n' "ratio gateway / ceiling" "$(echo "$gateway_rate / $ceiling" | bc -l)"
