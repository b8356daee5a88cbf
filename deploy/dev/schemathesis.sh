#!/usr/bin/env bash
# schemathesis (from PyPI, in a throw-away venv) against a real gateway: every check,
# every operation of /openapi.json; exits non-zero on any failure.
#
#   deploy/dev/schemathesis.sh RUN_DIR PG_PORT REDIS_PORT
#
# test.sh calls it with the servers it started; the gateway runs on the demo campaign
# in a database and key prefix of its own, and stops when this script exits.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/dev/services.sh
run_dir=$1 pg_port=$2 redis_port=$3
command -v curl >/dev/null || yima_apt_install curl

venv="$run_dir/schemathesis-venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'

yima_create_db "$run_dir" schemathesis
port=$(yima_free_port)
export YIMA_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/schemathesis"
export YIMA_REDIS_URL="redis://127.0.0.1:$redis_port" YIMA_KEY_PREFIX=schemathesis
export YIMA_CODE_KEYS_FILE=config/dev-code-keys.txt YIMA_DRAW_KEYS_FILE=config/dev-draw-keys.txt
export YIMA_ADMIN_TOKEN=schemathesis-admin-token YIMA_HTTP_LISTEN="127.0.0.1:$port"
export YIMA_SERVICE_TOKEN=schemathesis-service-token YIMA_MEMBERS_DEV_LOGIN=1
export YIMA_MEMBERS_JWT_SECRET=schemathesis-member-token-secret-32b
export YIMA_MEMBERS_INVITE_SECRET=schemathesis-invite-secret-of-32-bytes
export YIMA_LIMITS_MEMBER_PER_MINUTE=0 YIMA_LIMITS_IP_PER_MINUTE=0 RUST_LOG=warn
# The binary exactly as `cargo test` builds it (test.sh has just done so): a plain
# `cargo build` would resolve features without the dev-dependencies and compile much
# of the tree a second time.
cargo test --locked --quiet --no-run --test it
yima=${CARGO_TARGET_DIR:-target}/debug/yima
"$yima" migrate
"$yima" campaign apply config/demo-campaign.toml
"$yima" gateway --workers 2 >"$run_dir/schemathesis-gateway.log" 2>&1 &
gateway=$!
trap 'kill "$gateway" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done
# A member token as the demo's dev login hands it out (schemathesis.toml says which
# routes get which credential).
SCHEMATHESIS_MEMBER_TOKEN=$(curl -fsS "http://127.0.0.1:$port/v1/dev/login" -d '{"member":"schemathesis"}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
export SCHEMATHESIS_MEMBER_TOKEN
"$venv/bin/schemathesis" --no-color --config-file deploy/dev/schemathesis.toml \
    run "http://127.0.0.1:$port/openapi.json" --checks all --wait-for-schema 30
