#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for newsroom's tests and benchmarks, owned
# by the run: its own data folder, socket folder and port, trust
# authentication on loopback only, stopped and removed by `stop`.
#
#   scripts/pg-cluster.sh start DIR [PORT]   prints the URL to use:
#       export NEWSROOM_TEST_POSTGRES=$(scripts/pg-cluster.sh start /tmp/pg)
#   scripts/pg-cluster.sh stop DIR
#
# Needs Debian's `postgresql` package (initdb and pg_ctl under
# /usr/lib/postgresql/*/bin). Run as root, the cluster belongs to the
# `postgres` user the package creates, since initdb refuses root.
set -euo pipefail

command=${1:?usage: pg-cluster.sh start|stop DIR [PORT]}
dir=${2:?usage: pg-cluster.sh start|stop DIR [PORT]}
port=${3:-55432}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "pg-cluster: no PostgreSQL server found (apt-get install postgresql)" >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$command" in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$dir/data" -U newsroom -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_owner mkdir -p "$dir/socket"
    # fsync stays on: the durability the store promises is measured with it.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir/socket -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://newsroom@127.0.0.1:$port/postgres"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg-cluster.sh start|stop DIR [PORT]" >&2
    exit 2
    ;;
esac
