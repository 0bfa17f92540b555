#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (label "pg"; tests/store reads CARNET_TEST_PG).
#
#   scripts/test-postgres.sh start DIR PORT   initdb (if needed) + start; prints the DSN
#   scripts/test-postgres.sh stop DIR         stops the cluster and removes DIR
#
# Only the DSN goes to stdout, so `DSN=$(scripts/test-postgres.sh start /tmp/carnet-pg 55432)`
# works; everything else goes to stderr or DIR/server.log. `start` is idempotent: with a
# cluster already running in DIR it just prints the DSN. Trust authentication and a listener on
# 127.0.0.1 only: this is for tests, never for data. fsync stays on (the default), so the
# durability tests exercise the real thing.
#
# Works on a fresh Debian 12 with the postgresql-15 package: its binaries live in
# /usr/lib/postgresql/15/bin (not on PATH). PostgreSQL refuses to run as root, so when run as
# root the cluster belongs to the `postgres` OS user.
set -euo pipefail

PGBIN=${PGBIN:-}
if [[ -z "$PGBIN" ]]; then
    for candidate in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
        if [[ -x "$candidate/pg_ctl" ]]; then
            PGBIN=$candidate
            break
        fi
    done
fi
if [[ -z "$PGBIN" ]] && command -v pg_ctl >/dev/null 2>&1; then
    PGBIN=$(dirname "$(command -v pg_ctl)")
fi

die() {
    echo "test-postgres: $*" >&2
    exit 1
}
usage() {
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
}

[[ -n "$PGBIN" && -x "$PGBIN/pg_ctl" ]] ||
    die "PostgreSQL server binaries not found (apt-get install postgresql-15, or set PGBIN)"

# Marks a directory this script created, so `stop` never removes anything else.
MARKER=.carnet-test-postgres
DBNAME=carnet_test
DBUSER=postgres

# Runs a command as the cluster owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

is_running() {
    as_owner "$PGBIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

# The port the running server listens on (line 4 of postmaster.pid).
running_port() {
    sed -n 4p "$1/data/postmaster.pid" 2>/dev/null || true
}

cmd_start() {
    local dir=$1 port=$2
    [[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ -d "$dir/data" ]] && is_running "$dir"; then
        local actual
        actual=$(running_port "$dir")
        if [[ -n "$actual" && "$actual" != "$port" ]]; then
            echo "test-postgres: cluster in $dir already runs on port $actual" >&2
            port=$actual
        fi
        echo "host=127.0.0.1 port=$port dbname=$DBNAME user=$DBUSER"
        return
    fi
    if [[ -z "$(ls -A "$dir")" ]]; then
        touch "$dir/$MARKER"
    fi
    [[ -e "$dir/$MARKER" ]] || die "$dir is not empty and was not created by this script"
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "the postgres OS user is missing"
        chown postgres:postgres "$dir"
        as_owner test -x "$dir" || die "the postgres user cannot reach $dir (check its parents)"
    fi
    chmod 700 "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        rm -rf "$dir/data"
        as_owner "$PGBIN/initdb" -D "$dir/data" -U "$DBUSER" -A trust --auth-local=trust \
            --encoding=UTF8 --locale=C.UTF-8 --no-instructions >"$dir/initdb.log" 2>&1 ||
            {
                cat "$dir/initdb.log" >&2
                die "initdb failed"
            }
    fi
    # Unix socket inside DIR (nothing shared with a system cluster in /var/run/postgresql).
    if ! as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null 2>&1; then
        tail -n 20 "$dir/server.log" >&2 || true
        die "the server did not start (port $port in use?)"
    fi
    local psql=("$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U "$DBUSER" -d postgres -tA)
    if [[ -z "$(as_owner "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'")" ]]; then
        as_owner "${psql[@]}" -c "CREATE DATABASE $DBNAME" >/dev/null
    fi
    echo "host=127.0.0.1 port=$port dbname=$DBNAME user=$DBUSER"
}

cmd_stop() {
    local dir=$1
    [[ -d "$dir" ]] || return 0
    dir=$(cd "$dir" && pwd)
    [[ -e "$dir/$MARKER" ]] || die "$dir was not created by this script; not removing it"
    if [[ -d "$dir/data" ]] && is_running "$dir"; then
        as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            die "the server in $dir did not stop"
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start)
        [[ $# -eq 3 ]] || usage
        cmd_start "$2" "$3"
        ;;
    stop)
        [[ $# -eq 2 ]] || usage
        cmd_stop "$2"
        ;;
    *) usage ;;
esac
