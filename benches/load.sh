#!/usr/bin/env bash
# The whole system under load, beside its ceilings measured in the same run, in one table.
#
#   valid:   yima-load drives `POST /v1/scan` closed-loop over CONNECTIONS (64)
#            keep-alive connections for DURATION (20) seconds; every request a code never
#            scanned before by a member never seen before (as redis-benchmark's random
#            arguments are); gateway and Redis CPU read from /proc.
#            Requests carry the service key and name their member (the brand's back
#            end scanning for its members).
#   tokens:  the same with each member's own token (HS256 JWT) instead: the price of
#            verifying a member token per scan, as a ratio to the service-key rate.
#   forged:  the same, every code's last character changed (the HMAC tag fails), in
#            three rounds of DURATION/2 alternating with rounds against the echo server,
#            best of each (this machine's speed swings by 2x over minutes); then the
#            same with forged member tokens (a bad signature: 401) and valid codes.
#   half:    open loop at half the valid rate: latency from when each request was due.
#   drain:   the settlement worker starts and settles both phases' backlog.
#   steady:  open loop at a quarter of the valid rate with the worker running beside the
#            gateway (on this one machine they share the cores with Postgres): latency,
#            and the largest settlement lag seen (gateway /metrics, once a second).
#   ceilings: redis-benchmark EVALSHA of the same scan script with the same keys and
#            arguments (best of plain and pipelined clients); an HTTP echo server (yima-load echo, actix-web, as many threads
#            as the gateway) under the same client; the Postgres-only design
#            (benches/pg-only.sql: code UPDATE + stock UPDATE + award INSERT under row
#            locks) under pgbench with the same connection count.
# LANES=N runs the bench campaign over N lanes on the same one Redis: the cost of a laned
# scan (three script calls: reserve, claim, scan).
# Starts its own private Postgres/Redis and removes them after.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-20}
connections=${CONNECTIONS:-64}
count=${CODES:-2500000}  # enough for every phase at 50k scans/s
lanes=${LANES:-1}

. benches/common.sh
echo_port=$(yima_free_port)
yima_create_db "$run_dir" pgonly
# All the load comes from one address and the forged phase from few members.
export YIMA_LIMITS_IP_PER_MINUTE=0 YIMA_LIMITS_MEMBER_PER_MINUTE=0
tick=$(getconf CLK_TCK)
# CPU ticks used so far by a process.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# Percent of one core between two tick readings over SECONDS.
cpu_percent() { echo "($2 - $1) * 100 / $tick / $3" | bc -l; }

cargo build --release --locked --quiet -p yima -p yima-load
yima=target/release/yima
load=target/release/yima-load
$yima migrate
sed "s/^daily_scan_limit = .*/&\nlanes = $lanes/" benches/scan-campaign.toml >"$run_dir/campaign.toml"
$yima campaign apply "$run_dir/campaign.toml" 2>/dev/null
batch=$($yima batch create --campaign bench --sku BENCH --count "$count")
$yima gen --batch "$batch" --out "$run_dir/codes.txt"
# drive PORT ARGS...: one yima-load run; the service key unless `credential` says else.
drive() {
    local report
    report=$($load scan --target "127.0.0.1:$1" --codes "$run_dir/codes.txt" \
        --connections "$connections" --duration "${seconds:-$duration}" --members 100000000 \
        ${credential:---bearer $YIMA_SERVICE_TOKEN} "${@:2}")
    echo "$report" >&2
    echo "$report"
}

$load echo --listen "127.0.0.1:$echo_port" &
echo_pid=$!; pids+=("$echo_pid")
until (exec 3<>"/dev/tcp/127.0.0.1/$echo_port") 2>/dev/null; do sleep 0.1; done
$yima gateway &
gateway_pid=$!; pids+=("$gateway_pid")
wait_http "http://$YIMA_HTTP_LISTEN/readyz"

# better OLD NEW: the report with the higher rate.
better() {
    if [ -z "$1" ] || [ "$(echo "$(field rate "$2") > $(field rate "$1")" | bc)" -eq 1 ]; then
        echo "$2"
    else
        echo "$1"
    fi
}
# A member token whose signature is not the secret's: refused (401) before the body.
forged_token="$(echo -n '{"alg":"HS256","typ":"JWT"}' | base64 -w0 | tr '+/' '-_' | tr -d =).$(echo -n '{"sub":"m1","exp":4102444800}' | base64 -w0 | tr '+/' '-_' | tr -d =).c2lnbmVkLWJ5LW5vYm9keS13aXRoLXRoZS1zZWNyZXQ"
echo_report=; forged_report=; forged_token_report=
for round in 1 2 3; do
    echo "ceiling: HTTP echo, round $round" >&2
    echo_report=$(better "$echo_report" "$(seconds=$((duration / 2)) drive "$echo_port" --forge --cycle)")
    echo "gateway: forged codes, round $round" >&2
    forged_report=$(better "$forged_report" "$(seconds=$((duration / 2)) drive "$http_port" --forge --cycle)")
    echo "gateway: forged member tokens, round $round" >&2
    forged_token_report=$(better "$forged_token_report" \
        "$(seconds=$((duration / 2)) credential="--bearer $forged_token" drive "$http_port" --cycle)")
done
stop "$echo_pid"

echo "gateway: valid codes, closed loop" >&2
gateway_ticks=$(cpu_ticks "$gateway_pid"); redis_ticks=$(cpu_ticks "$redis_pid")
valid_report=$(drive "$http_port")
valid_gateway_cpu=$(cpu_percent "$gateway_ticks" "$(cpu_ticks "$gateway_pid")" "$duration")
valid_redis_cpu=$(cpu_percent "$redis_ticks" "$(cpu_ticks "$redis_pid")" "$duration")
valid_rate=$(field rate "$valid_report")
used=$(field codes_used "$valid_report")

echo "gateway: valid codes, closed loop, member tokens" >&2
gateway_ticks=$(cpu_ticks "$gateway_pid")
token_report=$(credential="--member-secret $YIMA_MEMBERS_JWT_SECRET" drive "$http_port" --skip "$used")
token_gateway_cpu=$(cpu_percent "$gateway_ticks" "$(cpu_ticks "$gateway_pid")" "$duration")
token_rate=$(field rate "$token_report")
used=$((used + $(field codes_used "$token_report")))

half_rate=$(echo "$valid_rate / 2" | bc)
echo "gateway: valid codes at $half_rate/s" >&2
gateway_ticks=$(cpu_ticks "$gateway_pid"); redis_ticks=$(cpu_ticks "$redis_pid")
half_report=$(drive "$http_port" --skip "$used" --rate "$half_rate")
half_gateway_cpu=$(cpu_percent "$gateway_ticks" "$(cpu_ticks "$gateway_pid")" "$duration")
half_redis_cpu=$(cpu_percent "$redis_ticks" "$(cpu_ticks "$redis_pid")" "$duration")
used=$((used + $(field codes_used "$half_report")))

echo "settlement: draining the backlog" >&2
$yima settle --consumer bench-1 &
worker_pid=$!; pids+=("$worker_pid")
backlog=0
if [ "$lanes" -le 1 ]; then tags=(bench); else tags=(); for l in $(seq 0 $((lanes - 1))); do tags+=("bench/$l"); done; fi
for tag in "${tags[@]}"; do
    backlog=$((backlog + $(redis-cli -p "$redis_port" xlen "bench:{$tag}:events")))
done
drain_started=$(date +%s.%N)
while [ "$(lag)" -gt 0 ]; do sleep 0.2; done
drain_seconds=$(echo "$(date +%s.%N) - $drain_started" | bc -l)

steady_rate=$(echo "$valid_rate / 4" | bc)
echo "gateway: valid codes at $steady_rate/s, settlement running" >&2
( while sleep 1; do lag; done ) >"$run_dir/lag.txt" &
sampler_pid=$!; pids+=("$sampler_pid")
steady_report=$(drive "$http_port" --skip "$used" --rate "$steady_rate")
stop "$sampler_pid"
max_lag=$(sort -n "$run_dir/lag.txt" | tail -n 1)
while [ "$(lag)" -gt 0 ]; do sleep 0.2; done
stop "$worker_pid"
stop "$gateway_pid"

echo "ceiling: Postgres-only design under pgbench" >&2
psql() { "$(yima_pg_bin)/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d pgonly -tAq "$@"; }
psql -f benches/pg-only-schema.sql 2>/dev/null
pgbench_out=$("$(yima_pg_bin)/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -n \
    -f benches/pg-only.sql -c "$connections" -j 2 -T "$duration" pgonly 2>&1)
pg_rate=$(echo "$pgbench_out" | awk '/^tps/ { print $3 }')
pg_latency=$(echo "$pgbench_out" | awk '/^latency average/ { print $4 }')

# The same script, the same key layout and arguments as ScanCall sends.
echo "ceiling: redis-benchmark EVALSHA scan.lua" >&2
. benches/scan-script.sh
sha=$(redis-cli -p "$redis_port" script load "$(bench_scan_script)")
day=$(TZ=Asia/Shanghai date +%F)
tag="bench:{bench}"
# A fresh code and a fresh member of the bench campaign whose draw picked nothing (as
# most scans: the ceiling of a no-prize scan), redis-benchmark's __rand_int__ for the
# code and the member. Its random numbers are zero-padded, which SETBIT refuses as an
# offset (the gateway sends plain ones), so each call redeems bit 7 of a bitmap of its
# own: making a key is a little dearer than setting a bit, so the ceiling errs low.
scan_args=(7 "$tag:redeemed:__rand_int__:consumer" "$tag:result:999:__rand_int__:consumer"
    "$tag:member:m__rand_int__" "$tag:awarded" "$tag:awarded:$day" "$tag:stats"
    "$tag:events"
    7 m__rand_int__ "$day:consumer" 000000
    "{\"v\":3,\"scan_id\":\"s__rand_int__\",\"campaign\":\"bench\",\"revision\":1,\"batch\":999,\"serial\":__rand_int__,\"role\":\"consumer\",\"member\":\"m__rand_int__\",\"day\":\"$day\",\"at_ms\":0,\"draw\":__rand_int__,\"growth\":10,\"period\":\"${day%-*}\",\"ms_into_month\":__rand_int__}"
    "" phone 1000 -1 item 299900)
script_rate=0
for clients in "-c $connections" "-c 1 -P $connections"; do
    ceiling_out=$(redis-benchmark -p "$redis_port" $clients -n $((connections * 5000)) -r 100000000 -q \
        EVALSHA "$sha" "${scan_args[@]}")
    rate=$(echo "$ceiling_out" | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -n 1 | cut -d' ' -f1)
    echo "redis-benchmark $clients: $rate/s" >&2
    if [ "$(echo "$rate > $script_rate" | bc)" -eq 1 ]; then script_rate=$rate; fi
done

row() { printf '%-44s %12s %12s\n' "$@"; }
num() { printf '%.0f' "$1"; }
dec() { printf '%.2f' "$1"; }
echo
row "measure (lanes: $lanes)" "value" "target"
row "valid scans/s (closed loop, $connections conn)" "$(num "$valid_rate")" ""
row "  p50 / p99 / p99.9 ms" "$(field p50_ms "$valid_report")/$(field p99_ms "$valid_report")/$(field p999_ms "$valid_report")" ""
row "  gateway CPU % / Redis CPU %" "$(num "$valid_gateway_cpu")/$(num "$valid_redis_cpu")" ""
row "  non-2xx answers" "$(($(field client_errors "$valid_report") + $(field server_errors "$valid_report")))" "0"
row "valid scans/s, member tokens (JWT each)" "$(num "$token_rate")" ""
row "  p50 / p99 / p99.9 ms" "$(field p50_ms "$token_report")/$(field p99_ms "$token_report")/$(field p999_ms "$token_report")" ""
row "  gateway CPU %" "$(num "$token_gateway_cpu")" ""
row "  non-2xx answers" "$(($(field client_errors "$token_report") + $(field server_errors "$token_report")))" "0"
row "forged rejections/s (404, best of 3)" "$(num "$(field rate "$forged_report")")" ""
row "  answers that were not 404s" "$(($(field ok "$forged_report") + $(field server_errors "$forged_report")))" "0"
row "forged-token rejections/s (401, best of 3)" "$(num "$(field rate "$forged_token_report")")" ""
row "  answers that were not 401s" "$(($(field ok "$forged_token_report") + $(field server_errors "$forged_token_report")))" "0"
row "half rate: scans/s (open loop)" "$(num "$(field rate "$half_report")")" ""
row "  p50 / p99 / p99.9 ms" "$(field p50_ms "$half_report")/$(field p99_ms "$half_report")/$(field p999_ms "$half_report")" ""
row "  gateway CPU % / Redis CPU %" "$(num "$half_gateway_cpu")/$(num "$half_redis_cpu")" ""
row "settlement: backlog drained, events/s" "$(num "$(echo "$backlog / $drain_seconds" | bc -l)")" ""
row "quarter rate + worker: scans/s" "$(num "$(field rate "$steady_report")")" ""
row "  p50 / p99 / p99.9 ms" "$(field p50_ms "$steady_report")/$(field p99_ms "$steady_report")/$(field p999_ms "$steady_report")" ""
row "  largest settlement lag (events)" "$max_lag" ""
row "ceiling: redis-benchmark of scan.lua/s" "$(num "$script_rate")" ""
row "ceiling: HTTP echo/s (same client, best of 3)" "$(num "$(field rate "$echo_report")")" ""
row "ceiling: Postgres-only design tps (pgbench)" "$(num "$pg_rate")" ""
row "  its latency average ms" "$pg_latency" ""
row "ratio valid / redis-benchmark" "$(dec "$(echo "$valid_rate / $script_rate" | bc -l)")" ">= 0.80"
row "ratio valid / Postgres-only" "$(dec "$(echo "$valid_rate / $pg_rate" | bc -l)")" ">= 20"
row "ratio forged / HTTP echo" "$(dec "$(echo "$(field rate "$forged_report") / $(field rate "$echo_report")" | bc -l)")" ">= 0.90"
row "ratio forged tokens / HTTP echo" "$(dec "$(echo "$(field rate "$forged_token_report") / $(field rate "$echo_report")" | bc -l)")" ""
row "ratio member tokens / service key" "$(dec "$(echo "$token_rate / $valid_rate" | bc -l)")" ""
row "half-rate p99 ms" "$(field p99_ms "$half_report")" "<= 5"
