#!/usr/bin/env bash
# The demo: private Redis and PostgreSQL (installed with apt if missing), the schema,
# the demo campaign, a batch of 100,000 codes written to target/demo/, the gateway
# serving it and the settlement worker writing every scan to Postgres. Real scans are
# shown, then their settled rows and a reconciliation; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/dev/services.sh

run_dir=${YIMA_DEMO_DIR:-/tmp/yima-demo}
pg_port=${YIMA_DEMO_PG_PORT:-55432}
redis_port=${YIMA_DEMO_REDIS_PORT:-56379}
listen=${YIMA_HTTP_LISTEN:-127.0.0.1:8080}

yima_install_services
command -v curl >/dev/null || yima_apt_install curl
mkdir -p "$run_dir" && chmod 755 "$run_dir"
gateway_pid=
settle_pid=
cleanup() {
    # `wait` answers a killed process's status: under `set -e` that would end the cleanup
    # before the servers are stopped.
    for pid in $gateway_pid $settle_pid; do { kill "$pid" && wait "$pid"; } 2>/dev/null || true; done
    yima_stop_services "$run_dir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM
yima_start_services "$run_dir" "$pg_port" "$redis_port"
yima_create_db "$run_dir" yima

export YIMA_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/yima"
export YIMA_REDIS_URL="redis://127.0.0.1:$redis_port"
export YIMA_HTTP_LISTEN="$listen"
# The printed URLs lead to this gateway's scan page.
export YIMA_CODE_URL_PREFIX=${YIMA_CODE_URL_PREFIX:-http://$listen/s/}
export YIMA_CODE_KEYS_FILE=${YIMA_CODE_KEYS_FILE:-config/dev-code-keys.txt}
export YIMA_DRAW_KEYS_FILE=${YIMA_DRAW_KEYS_FILE:-config/dev-draw-keys.txt}
export YIMA_ADMIN_TOKEN=${YIMA_ADMIN_TOKEN:-demo-admin-token}
export YIMA_SERVICE_TOKEN=${YIMA_SERVICE_TOKEN:-demo-service-token}
# Member tokens: the demo signs its own (HS256, a development secret) through the dev
# login, which the gateway serves on a loopback address only. A brand's real login
# issues them instead (docs/members.md).
export YIMA_MEMBERS_JWT_SECRET=${YIMA_MEMBERS_JWT_SECRET:-demo-only-member-token-secret-32b}
export YIMA_MEMBERS_DEV_LOGIN=${YIMA_MEMBERS_DEV_LOGIN:-1}
export YIMA_MEMBERS_INVITE_SECRET=${YIMA_MEMBERS_INVITE_SECRET:-demo-only-invite-secret-of-32-bytes}

cargo build --release --locked --quiet
yima=${CARGO_TARGET_DIR:-target}/release/yima
$yima migrate
applied=$($yima campaign apply config/demo-campaign.toml)
echo "$applied"
# The demo's Redis keeps nothing between runs, its Postgres does: a second run brings
# Redis back from the book of record, as an operator does after losing Redis.
case $applied in *created*) ;; *) $yima restore --campaign putty-demo ;; esac
batch=$($yima batch create --campaign putty-demo --sku PUTTY-20KG --count 100000 --region CN-31)
mkdir -p target/demo
out=target/demo/batch-$batch.csv
$yima gen --batch "$batch" --format csv --out "$out" --force
echo "demo batch $batch: $(($(wc -l <"$out") - 1)) codes in $out"

$yima gateway &
gateway_pid=$!
metrics=127.0.0.1:${YIMA_DEMO_METRICS_PORT:-9187}
$yima settle --metrics-listen "$metrics" &
settle_pid=$!
for _ in $(seq 100); do
    curl -sf "http://$listen/readyz" >/dev/null && break
    kill -0 "$gateway_pid" 2>/dev/null || { echo "the gateway did not start" >&2; exit 1; }
    sleep 0.1
done
code=$(sed -n 2p "$out" | cut -d, -f2)
other=$(sed -n 3p "$out" | cut -d, -f2)
printed=$(sed -n 4p "$out" | cut -d, -f3)
# login MEMBER: a member token from the dev login (a brand's own login in production).
login() {
    curl -sf "http://$listen/v1/dev/login" -d "{\"member\":\"$1\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p'
}
# scan TOKEN CODE: a scan as the token's member.
scan() { curl -s "http://$listen/v1/scan" -H "authorization: Bearer $1" -d "{\"code\":\"$2\"}"; echo; }
wang=$(login painter-wang)
li=$(login painter-li)

cat <<MSG

yima is serving the demo campaign on http://$listen (admin token: $YIMA_ADMIN_TOKEN)

A painter logs in (the demo's dev login) and scans a label with his member token:
  wang=\$(curl -s http://$listen/v1/dev/login -d '{"member":"painter-wang"}')   # {"token": ...}
  curl -s http://$listen/v1/scan -H "authorization: Bearer \$wang" -d '{"code":"$code"}'
MSG
first=$(scan "$wang" "$code")
echo "$first"
echo "The same scan again (a retry) returns the identical answer:"
scan "$wang" "$code"
echo "Another member scanning that label:"
scan "$li" "$code"
echo "A store owner registers as a dealer with an invite (yima invite) and scans the same label (一码两扫)."
echo "Dealers draw nothing: the campaign pays them a fixed 2 CNY rebate per PUTTY-20KG bag ([architectures.dealer]):"
zhang=$(login store-zhang)
invite=$($yima invite --architecture dealer --channel demo-expo)
curl -s "http://$listen/v1/me/register" -H "authorization: Bearer $zhang" \
    -d "{\"invite\":\"$invite\",\"nickname\":\"张老板\",\"phone\":\"13812345678\"}"; echo
for _ in $(seq 50); do
    # The gateway learns of the new dealer through a Postgres notification.
    answer=$(curl -s "http://$listen/v1/scan" -H "authorization: Bearer $zhang" -d "{\"code\":\"$code\",\"role\":\"dealer\"}")
    case $answer in *'"status"'*) break ;; esac
    sleep 0.1
done
echo "$answer"
echo "Without a token, or with a forged one, nothing is scanned:"
curl -s "http://$listen/v1/scan" -H "authorization: Bearer forged.token.here" -d "{\"code\":\"$other\"}"; echo
echo "The painter's own account (GET /v1/me):"
curl -s "http://$listen/v1/me" -H "authorization: Bearer $wang"; echo
scan_id=$(echo "$first" | sed -n 's/.*"scan_id":"\([^"]*\)".*/\1/p')
# No pager: a second run has more rows than the terminal and would wait for a key.
psql() { "$(yima_pg_bin)/psql" -X -P pager=off -h 127.0.0.1 -p "$pg_port" -U postgres -d yima "$@"; }
for _ in $(seq 100); do
    [ "$(psql -tAq -c "SELECT count(*) FROM scans WHERE scan_id = '$scan_id'")" = 1 ] && break
    sleep 0.1
done
echo
echo "The settlement worker wrote the scan to Postgres, the book of record:"
psql -c "SELECT scan_id, member, prize, points, growth, settled_at FROM scans
         ORDER BY settled_at DESC LIMIT 5"
echo "Redis agrees with Postgres (yima reconcile):"
$yima reconcile --campaign putty-demo
cat <<MSG

A printed label's page, as a tradesman's phone opens it (log in with any member id):
  $printed
The member centre, and a dealer's registration link:
  http://$listen/me
  http://$listen/join?invite=$invite

For operators:
  http://$listen/dashboard                          # live scan rates, stock, regions
  http://$listen/metrics                            # the gateway's Prometheus metrics
  http://$metrics/metrics                           # the worker's
  http://$listen/openapi.json                       # the HTTP contract

Try more (painter-wang's token: $wang):
  curl -s http://$listen/v1/scan -H "authorization: Bearer $li" -d '{"code":"$other"}'
  curl -s http://$listen/v1/me -H "authorization: Bearer $li"
  curl -s http://$listen/v1/members/painter-wang -H "authorization: Bearer $YIMA_SERVICE_TOKEN"
  curl -s http://$listen/v1/campaigns/putty-demo/stats
  YIMA_POSTGRES_URL=$YIMA_POSTGRES_URL YIMA_REDIS_URL=$YIMA_REDIS_URL \\
    $yima audit --campaign putty-demo --scan $scan_id
  curl -s http://$metrics/metrics | grep ^yima_        # settlement metrics
  psql -h 127.0.0.1 -p $pg_port -U postgres yima       # the book of record
Codes to scan: $out.  Ctrl-C stops the gateway, the worker and the servers.
MSG
wait -n "$gateway_pid" "$settle_pid"
