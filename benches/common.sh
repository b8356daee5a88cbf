# The start every whole-system bench shares (load.sh, settle.sh, soak.sh); sourced from
# the repository root. Installs what is missing, starts a private Postgres (with
# PG_OPTIONS) and Redis under a temporary directory, creates database `yima`, exports
# the settings the yima binary reads, and on exit stops every process a script added
# to `pids`, then the servers, and removes the directory.
. deploy/dev/services.sh

yima_install_services
command -v bc >/dev/null || yima_apt_install bc
command -v curl >/dev/null || yima_apt_install curl
run_dir=$(mktemp -d /tmp/yima-bench.XXXXXX)
chmod 755 "$run_dir"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do { kill "$pid" && wait "$pid"; } 2>/dev/null || true; done
    yima_stop_services "$run_dir"
    rm -rf "$run_dir"
}
trap cleanup EXIT
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }
pg_port=$(yima_free_port)
redis_port=$(yima_free_port)
http_port=$(yima_free_port)
yima_start_services "$run_dir" "$pg_port" "$redis_port" "${PG_OPTIONS:-}"
yima_create_db "$run_dir" yima
redis_pid=$(cat "$run_dir/redis/redis.pid")
export YIMA_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/yima"
export YIMA_REDIS_URL="redis://127.0.0.1:$redis_port"
export YIMA_HTTP_LISTEN="127.0.0.1:$http_port"
export YIMA_KEY_PREFIX=bench
export YIMA_CODE_KEYS_FILE=config/dev-code-keys.txt
export YIMA_DRAW_KEYS_FILE=config/dev-draw-keys.txt
export RUST_LOG=warn
# The brand's back end scans for the members it names; member tokens are HS256 under
# a bench-only secret (yima-load signs them as the brand's login would).
export YIMA_SERVICE_TOKEN=bench-service-token
export YIMA_MEMBERS_JWT_SECRET=bench-only-member-token-secret-32b

psql() { "$(yima_pg_bin)/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d yima -tAq "$@"; }
# field NAME LINE: the value of NAME=... in a yima-load report.
field() { echo "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
wait_http() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }
# Settlement lag as the gateway reports it, summed over streams.
lag() { curl -fs "http://$YIMA_HTTP_LISTEN/metrics" | awk '$1 ~ /^yima_settle_lag/ { n += $2 } END { printf "%d\n", n }'; }
# scan_script_arguments BATCH DAY: sets `scan_args` to `EVALSHA <sha>`'s keys and
# arguments for redis-benchmark, the layout ScanCall sends for a fresh code and a fresh
# member of the bench campaign whose draw picked nothing (as most scans: the ceiling of
# a no-prize scan), with redis-benchmark's __rand_int__ for the serial and the member.
scan_script_arguments() {
    local tag="bench:{bench}" batch=$1 day=$2
    scan_args=(7 "$tag:redeemed:$batch:consumer" "$tag:result:$batch:__rand_int__:consumer"
        "$tag:member:m__rand_int__" "$tag:awarded" "$tag:awarded:$day" "$tag:stats"
        "$tag:events"
        __rand_int__ m__rand_int__ "$day:consumer" 1000000 10 10 2 0 100 0 0 0 0
        "{\"v\":3,\"scan_id\":\"s__rand_int__\",\"campaign\":\"bench\",\"revision\":1,\"batch\":$batch,\"serial\":__rand_int__,\"role\":\"consumer\",\"member\":\"m__rand_int__\",\"day\":\"$day\",\"at_ms\":0,\"draw\":__rand_int__,\"growth\":10,\"period\":\"${day%-*}\",\"ms_into_month\":__rand_int__}"
        0 "" "" 1 phone 1000 -1 item 299900)
}
