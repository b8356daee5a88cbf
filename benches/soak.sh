#!/usr/bin/env bash
# Soak: valid scans at half the system's maximum rate for DURATION seconds (1800), with
# the gateway and a settlement worker running throughout, driven one minute at a time.
#
#   max rate: yima-load closed loop for 20 s with the worker settling at the same time
#             (the whole system on this machine), unless RATE is given.
#   soak:     open loop at half that rate, MINUTES of 60 s, each on fresh codes and
#             200,000 members (member rate limits on, as configured by default).
#
# Prints a row per minute (rate, p99, errors, RSS of gateway, worker and Redis, largest
# settlement lag) and exits 1 unless every promise holds:
#   - 0 errors: every scan answered 2xx, and every minute held at least 95 % of the rate;
#   - RSS flat: gateway and worker grow by at most max(10 %, 16 MiB) from the end of
#     warm-up (minute 5, or half way on short runs) to the end;
#   - settlement lag bounded: never more than 10 seconds' worth of scans, and 0 within
#     60 s of the last scan;
#   - nothing lost: Postgres holds exactly the scans answered, none rejected, and
#     `yima reconcile` finds Redis and Postgres in agreement.
# Starts its own private Postgres/Redis and removes them after.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-1800}
connections=${CONNECTIONS:-64}
members=200000

. benches/common.sh
# All the load comes from one address; the member limits stay as configured.
export YIMA_LIMITS_IP_PER_MINUTE=0
rss_mib() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

cargo build --release --locked --quiet -p yima -p yima-load
yima=target/release/yima
load=target/release/yima-load
$yima migrate
sed 's/^id = "bench"/id = "soak"/' benches/scan-campaign.toml >"$run_dir/campaign.toml"
$yima campaign apply "$run_dir/campaign.toml" >/dev/null
drive() {
    $load scan --target "127.0.0.1:$http_port" --connections "$connections" \
        --members "$members" --bearer "$YIMA_SERVICE_TOKEN" "$@"
}

$yima gateway &
gateway_pid=$!; pids+=("$gateway_pid")
wait_http "http://$YIMA_HTTP_LISTEN/readyz"
$yima settle --consumer soak-1 &
worker_pid=$!; pids+=("$worker_pid")
answered=0

if [ -z "${RATE:-}" ]; then
    echo "max rate: closed loop for 20 s, settlement running" >&2
    probe=$($yima batch create --campaign soak --sku PROBE --count 1500000)
    $yima gen --batch "$probe" --out "$run_dir/probe.txt"
    report=$(drive --codes "$run_dir/probe.txt" --duration 20)
    echo "$report" >&2
    answered=$((answered + $(field ok "$report")))
    RATE=$(echo "$(field rate "$report") / 2" | bc)
    rm "$run_dir/probe.txt"
fi
minutes=$(( (duration + 59) / 60 ))
per_minute=$((RATE * 63))  # 5 % spare: a minute never runs out of codes
echo "soak: $RATE scans/s for $minutes minutes; generating $((per_minute * minutes)) codes" >&2
batch=$($yima batch create --campaign soak --sku SOAK --count $((per_minute * minutes)))
$yima gen --batch "$batch" --out "$run_dir/codes.txt" --split "$per_minute"
while [ "$(lag)" -gt 0 ]; do sleep 0.2; done

( while sleep 1; do lag; done ) >>"$run_dir/lag.txt" &
sampler_pid=$!; pids+=("$sampler_pid")
row() { printf '%-7s %9s %8s %7s %12s %11s %11s %9s\n' "$@"; }
row minute scans/s p99_ms errors "gateway_MiB" "worker_MiB" "redis_MiB" max_lag
errors=0; short=0; worst_lag=0; warm=$(( minutes >= 10 ? 5 : (minutes + 1) / 2 ))
files=("$run_dir"/codes-*.txt)
for minute in $(seq 1 "$minutes"); do
    : >"$run_dir/lag.txt"
    report=$(drive --codes "${files[$((minute - 1))]}" --rate "$RATE" --duration 60)
    minute_errors=$(($(field client_errors "$report") + $(field server_errors "$report")))
    errors=$((errors + minute_errors))
    answered=$((answered + $(field ok "$report")))
    if [ "$(echo "$(field rate "$report") < $RATE * 0.95" | bc)" -eq 1 ]; then short=$((short + 1)); fi
    minute_lag=$(sort -n "$run_dir/lag.txt" | tail -n 1)
    minute_lag=${minute_lag:-0}
    [ "$minute_lag" -gt "$worst_lag" ] && worst_lag=$minute_lag
    gateway_rss=$(rss_mib "$gateway_pid"); worker_rss=$(rss_mib "$worker_pid")
    redis_rss=$(rss_mib "$redis_pid")
    [ "$minute" -eq "$warm" ] && { warm_gateway=$gateway_rss; warm_worker=$worker_rss; }
    row "$minute" "$(printf '%.0f' "$(field rate "$report")")" "$(field p99_ms "$report")" \
        "$minute_errors" "$gateway_rss" "$worker_rss" "$redis_rss" "$minute_lag"
    rm "${files[$((minute - 1))]}"
done
stop "$sampler_pid"
drained=0
for _ in $(seq 600); do
    if [ "$(lag)" -eq 0 ]; then drained=1; break; fi
    sleep 0.1
done
settled=$(psql -c "SELECT count(*) FROM scans")
rejected=$(psql -c "SELECT count(*) FROM rejected_redemptions")
reconciled=ok
$yima reconcile --campaign soak >"$run_dir/reconcile.txt" 2>&1 || reconciled=failed

# grown OLD NEW: whether NEW exceeds OLD by more than max(10 %, 16 MiB).
grown() { [ "$(echo "$2 - $1 > ($1 * 0.10 > 16) * $1 * 0.10 + ($1 * 0.10 <= 16) * 16" | bc)" -eq 1 ]; }
failed=()
[ "$errors" -eq 0 ] || failed+=("$errors scans were not answered 2xx")
[ "$short" -eq 0 ] || failed+=("$short minutes fell below 95 % of $RATE scans/s")
grown "$warm_gateway" "$gateway_rss" && failed+=("gateway RSS grew from $warm_gateway to $gateway_rss MiB")
grown "$warm_worker" "$worker_rss" && failed+=("worker RSS grew from $warm_worker to $worker_rss MiB")
[ "$worst_lag" -le $((RATE * 10)) ] || failed+=("settlement lag reached $worst_lag events (over 10 s of scans)")
[ "$drained" -eq 1 ] || failed+=("settlement lag not 0 within 60 s of the last scan")
[ "$settled" -eq "$answered" ] || failed+=("$answered scans answered, $settled in Postgres")
[ "$rejected" -eq 0 ] || failed+=("$rejected redemptions rejected")
[ "$reconciled" = ok ] || failed+=("reconcile: $(head -c 500 "$run_dir/reconcile.txt")")

echo
echo "scans answered $answered, settled $settled, rejected $rejected, reconcile $reconciled"
echo "RSS after warm-up (minute $warm) -> end: gateway $warm_gateway -> $gateway_rss MiB, worker $warm_worker -> $worker_rss MiB"
echo "largest settlement lag $worst_lag events (bound $((RATE * 10)))"
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'SOAK FAILED: %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "soak passed"
