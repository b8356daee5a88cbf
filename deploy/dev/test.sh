#!/usr/bin/env bash
# The whole test suite, as CI runs it: private Redis and PostgreSQL on free ports under
# a temporary directory, then fmt, clippy, every test against them, and a fuzz smoke
# run. The servers are stopped and removed on exit, also when something fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/dev/services.sh

yima_install_services
# tests/it/dashboard.rs and tests/it/pages.rs drive headless Chromium (the pages
# through chromedriver); WenQuanYi draws the Chinese in their screenshots.
command -v chromium >/dev/null || yima_apt_install chromium fonts-dejavu-core
command -v chromedriver >/dev/null || yima_apt_install chromium-driver
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || yima_apt_install fonts-wqy-microhei
# promtool (Prometheus's linter) checks what /metrics exports.
command -v promtool >/dev/null || yima_apt_install prometheus
# schemathesis comes from PyPI into a throw-away venv (deploy/dev/schemathesis.sh).
python3 -c 'import ensurepip' 2>/dev/null || yima_apt_install python3 python3-venv
run_dir=$(mktemp -d /tmp/yima-test.XXXXXX)
chmod 755 "$run_dir"
trap 'yima_stop_services "$run_dir"; yima_stop_cluster "$run_dir"; rm -rf "$run_dir"' EXIT

pg_port=$(yima_free_port)
redis_port=$(yima_free_port)
while [ "$redis_port" = "$pg_port" ]; do redis_port=$(yima_free_port); done
# Test data is thrown away, so durability is switched off for speed.
yima_start_services "$run_dir" "$pg_port" "$redis_port" \
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
export YIMA_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
export YIMA_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
# tests/it/cluster.rs: a 3-master Redis Cluster from the same redis-server binary.
cluster_ports=()
while [ ${#cluster_ports[@]} -lt 3 ]; do
    port=$(yima_free_cluster_port)
    case " $pg_port $redis_port ${cluster_ports[*]} " in *" $port "*) continue ;; esac
    cluster_ports+=("$port")
done
yima_start_cluster "$run_dir" "${cluster_ports[@]}"
export YIMA_TEST_REDIS_CLUSTER_URL=$(printf 'redis://127.0.0.1:%s,' "${cluster_ports[@]}" | sed 's/,$//')
echo "test services: postgres :$pg_port, redis :$redis_port, cluster :${cluster_ports[*]} (in $run_dir)"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Sum every test binary's result so the run ends with one closing line.
status=0
cargo test --workspace --locked 2>&1 | tee "$run_dir/test.log" || status=$?
total() { grep -E '^test result:' "$run_dir/test.log" | grep -oE "[0-9]+ $1" | awk '{n += $1} END {print n + 0}'; }
# A short fuzz run of each cargo-fuzz target from its committed corpus (tests/fuzz).
fuzz=passed
FUZZ_SECONDS=${FUZZ_SECONDS:-10} tests/fuzz/smoke.sh || { fuzz=failed; status=1; }
# The OpenAPI document against the gateway it describes: every check, 0 failures.
contract=passed
deploy/dev/schemathesis.sh "$run_dir" "$pg_port" "$redis_port" >"$run_dir/schemathesis.log" 2>&1 \
    || { contract=failed; status=1; cat "$run_dir/schemathesis.log"; }
tail -n 3 "$run_dir/schemathesis.log"
echo "tests: $(total passed) passed, $(total failed) failed; fuzz smoke run: $fuzz; schemathesis: $contract"
exit "$status"
