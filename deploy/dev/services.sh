# Private Redis and PostgreSQL for the demo, the tests and the benches.
# Source this file, then: yima_install_services; yima_start_services DIR PG_PORT REDIS_PORT;
# yima_stop_services DIR. Nothing here touches a system-wide instance.

yima_sudo() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

yima_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# Installs redis-server and postgresql with apt when they are missing.
yima_install_services() {
    local need=()
    command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
    [ -n "$(yima_pg_bin)" ] || need+=(postgresql)
    yima_apt_install "${need[@]}"
}

# yima_apt_install PACKAGE... (nothing to do without packages)
yima_apt_install() {
    [ $# -eq 0 ] && return 0
    echo "yima: installing $* with apt-get" >&2
    yima_sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive yima_sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The first port the kernel hands out to outgoing connections: ports from there up may
# be a client's local port at any moment, which a server then cannot bind, though
# nothing listens on it. Our servers take ports below it.
yima_ephemeral_floor() {
    local low
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true)
    echo "${low:-32768}"
}

# Prints a TCP port on 127.0.0.1, below the ephemeral range, that nothing listens on.
yima_free_port() {
    local port floor
    floor=$(yima_ephemeral_floor)
    for _ in $(seq 200); do
        port=$((10000 + RANDOM % (floor - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "yima: no free port found" >&2
    return 1
}

# Runs a PostgreSQL tool as the user that owns the cluster (initdb refuses root).
yima_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# yima_start_postgres DIR PG_PORT [EXTRA_POSTGRES_OPTIONS]
# Initialises DIR/postgres on first use; starting a running server is a no-op.
yima_start_postgres() {
    local dir=$1 pg_port=$2 extra=${3:-}
    local bin
    bin=$(yima_pg_bin)
    mkdir -p "$dir/postgres"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/postgres"
    if [ ! -s "$dir/postgres/data/PG_VERSION" ]; then
        yima_as_pg "$bin/initdb" -D "$dir/postgres/data" -U postgres --auth=trust \
            -E UTF8 --no-locale >"$dir/postgres/initdb.log" 2>&1 \
            || { cat "$dir/postgres/initdb.log" >&2; return 1; }
    fi
    if ! yima_as_pg "$bin/pg_ctl" -D "$dir/postgres/data" status >/dev/null 2>&1; then
        yima_as_pg "$bin/pg_ctl" -D "$dir/postgres/data" -l "$dir/postgres/server.log" -w -t 60 \
            -o "-p $pg_port -k $dir/postgres -c listen_addresses=127.0.0.1 -c max_connections=200 $extra" \
            start >/dev/null || { tail -n 20 "$dir/postgres/server.log" >&2; return 1; }
    fi
}

# yima_stop_postgres DIR: a fast shutdown (sessions are cut off, nothing is lost).
yima_stop_postgres() {
    yima_as_pg "$(yima_pg_bin)/pg_ctl" -D "$1/postgres/data" -m fast -w stop >/dev/null 2>&1 || true
}

# yima_start_services DIR PG_PORT REDIS_PORT [EXTRA_POSTGRES_OPTIONS]
# Initialises DIR on first use; starting an already running set is a no-op.
yima_start_services() {
    local dir=$1 pg_port=$2 redis_port=$3 extra=${4:-}
    mkdir -p "$dir/redis"
    yima_start_postgres "$dir" "$pg_port" "$extra" || return 1
    if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
        redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes \
            --dir "$dir/redis" --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" \
            --save "" --appendonly no >/dev/null
        for _ in $(seq 100); do
            redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
        redis-cli -p "$redis_port" ping >/dev/null || { echo "yima: redis did not start" >&2; return 1; }
    fi
    echo "$pg_port $redis_port" >"$dir/ports"
}

# Creates database NAME on the private server unless it exists.
yima_create_db() {
    local dir=$1 name=$2 port
    port=$(cut -d' ' -f1 "$dir/ports")
    local psql
    psql="$(yima_pg_bin)/psql"
    "$psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAq \
        -c "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1 \
        || "$psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -q -c "CREATE DATABASE \"$name\""
}

yima_stop_services() {
    local dir=$1 redis_port
    [ -f "$dir/ports" ] || return 0
    redis_port=$(cut -d' ' -f2 "$dir/ports")
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    yima_stop_postgres "$dir"
}

# Prints a port for a cluster node: it and its cluster bus port (+10000) both free and
# below the ephemeral range.
yima_free_cluster_port() {
    local port floor
    floor=$(yima_ephemeral_floor)
    for _ in $(seq 200); do
        port=$((10000 + RANDOM % (floor - 20000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
            && ! (exec 3<>"/dev/tcp/127.0.0.1/$((port + 10000))") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "yima: no free cluster port found" >&2
    return 1
}

# yima_start_cluster DIR PORT... — a Redis Cluster of one master per port (no replicas),
# from the same redis-server binary, under DIR/cluster. Prints nothing; the seeds are
# redis://127.0.0.1:PORT for each port.
yima_start_cluster() {
    local dir=$1 port
    shift
    local nodes=()
    for port in "$@"; do
        mkdir -p "$dir/cluster/$port"
        redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --cluster-enabled yes \
            --cluster-config-file "$dir/cluster/$port/nodes.conf" --dir "$dir/cluster/$port" \
            --pidfile "$dir/cluster/$port/redis.pid" --logfile "$dir/cluster/$port/redis.log" \
            --save "" --appendonly no >/dev/null
        nodes+=("127.0.0.1:$port")
    done
    echo "$*" >"$dir/cluster/ports"
    for port in "$@"; do
        for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/cluster/create.log" 2>&1 \
        || { cat "$dir/cluster/create.log" >&2; return 1; }
    # Every node must agree the cluster is whole before clients arrive.
    for port in "$@"; do
        for _ in $(seq 200); do
            redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
            sleep 0.1
        done
        redis-cli -p "$port" cluster info | grep -q '^cluster_state:ok' \
            || { echo "yima: cluster node $port not ready" >&2; return 1; }
    done
}

yima_stop_cluster() {
    local dir=$1 port
    [ -f "$dir/cluster/ports" ] || return 0
    for port in $(cat "$dir/cluster/ports"); do
        redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    done
}
