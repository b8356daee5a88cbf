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
