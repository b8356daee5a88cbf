#!/usr/bin/env bash
# Code generation throughput against its ceiling, measured in the same run:
#   - `yima gen` of COUNT codes (default 10M) to /dev/null on 1 core and on all cores,
#   - openssl's HMAC-SHA256 rate on 16-byte messages (one HMAC per code is the floor
#     of the work), and the ratio of the two;
#   - duplicates among those COUNT codes (must be 0);
#   - peak RSS of generating RSS_COUNT codes (default 100M) with all cores.
# Starts its own private Postgres/Redis (deploy/dev/services.sh) and removes them after.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/dev/services.sh

count=${COUNT:-10000000}
rss_count=${RSS_COUNT:-100000000}
cores=$(nproc)

yima_install_services
[ -x /usr/bin/time ] || yima_apt_install time
command -v bc >/dev/null || yima_apt_install bc
run_dir=$(mktemp -d /tmp/yima-bench.XXXXXX)
chmod 755 "$run_dir"
trap 'yima_stop_services "$run_dir"; rm -rf "$run_dir"' EXIT
yima_start_services "$run_dir" "$(yima_free_port)" "$(yima_free_port)"
yima_create_db "$run_dir" yima
export YIMA_POSTGRES_URL="postgres://postgres@127.0.0.1:$(cut -d' ' -f1 "$run_dir/ports")/yima"
export YIMA_REDIS_URL="redis://127.0.0.1:$(cut -d' ' -f2 "$run_dir/ports")"
export YIMA_CODE_KEYS_FILE=config/dev-code-keys.txt
export YIMA_DRAW_KEYS_FILE=config/dev-draw-keys.txt

cargo build --release --locked --quiet
yima=target/release/yima
$yima migrate 2>/dev/null
$yima campaign apply config/demo-campaign.toml 2>/dev/null
batch=$($yima batch create --campaign putty-demo --sku BENCH --count "$count" 2>/dev/null)
big=$($yima batch create --campaign putty-demo --sku BENCH --count "$rss_count" 2>/dev/null)

rate() { # rate THREADS -> codes/s of gen to /dev/null
    local start end
    start=$(date +%s.%N)
    $yima gen --batch "$batch" --threads "$1" >/dev/null
    end=$(date +%s.%N)
    echo "$count / ($end - $start)" | bc -l
}
one=$(rate 1)
all=$(rate "$cores")
openssl_bytes=$(openssl speed -seconds 3 -hmac sha256 -bytes 16 2>/dev/null | awk '/^hmac\(sha256\)/ {print $2}')
openssl_rate=$(echo "${openssl_bytes%k} * 1000 / 16" | bc -l)
dups=$($yima gen --batch "$batch" | sort -S 40% --parallel="$cores" | uniq -d | wc -l)
rss_kb=$( { /usr/bin/time -f '%M' $yima gen --batch "$big" --threads "$cores" >/dev/null; } 2>&1 | tail -n 1)

printf '\n%-44s %14s\n' "measure" "value"
printf '%-44s %14.0f\n' "openssl HMAC-SHA256 16 B (per second, 1 core)" "$openssl_rate"
printf '%-44s %14.0f\n' "yima gen, 1 thread (codes/s)" "$one"
printf '%-44s %14.0f\n' "yima gen, $cores threads (codes/s)" "$all"
printf '%-44s %14.2f\n' "ratio 1 thread / openssl" "$(echo "$one / $openssl_rate" | bc -l)"
printf '%-44s %14.2f\n' "ratio $cores threads / openssl" "$(echo "$all / $openssl_rate" | bc -l)"
printf '%-44s %14d\n' "duplicates among $count codes" "$dups"
printf '%-44s %14.1f\n' "peak RSS, $rss_count codes, $cores threads (MB)" "$(echo "$rss_kb / 1024" | bc -l)"
[ "$dups" -eq 0 ] || { echo "DUPLICATE CODES" >&2; exit 1; }
