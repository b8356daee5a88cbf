#!/usr/bin/env bash
# The demo: private Redis and PostgreSQL (installed with apt if missing), the schema,
# the demo campaign, a batch of 100,000 codes written to target/demo/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/dev/services.sh

run_dir=${YIMA_DEMO_DIR:-/tmp/yima-demo}
pg_port=${YIMA_DEMO_PG_PORT:-55432}
redis_port=${YIMA_DEMO_REDIS_PORT:-56379}

yima_install_services
mkdir -p "$run_dir" && chmod 755 "$run_dir"
trap 'yima_stop_services "$run_dir"' EXIT
yima_start_services "$run_dir" "$pg_port" "$redis_port"
yima_create_db "$run_dir" yima

export YIMA_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/yima"
export YIMA_REDIS_URL="redis://127.0.0.1:$redis_port"
export YIMA_CODE_KEYS_FILE=${YIMA_CODE_KEYS_FILE:-config/dev-code-keys.txt}

cargo build --release --locked --quiet
yima=target/release/yima
$yima migrate
$yima campaign apply config/demo-campaign.toml
batch=$($yima batch create --campaign putty-demo --sku PUTTY-20KG --count 100000 --region CN-31)
mkdir -p target/demo
out=target/demo/batch-$batch.csv
$yima gen --batch "$batch" --format csv --out "$out" --force

echo
echo "demo batch $batch: $(($(wc -l <"$out") - 1)) codes in $out"
head -n 4 "$out"
