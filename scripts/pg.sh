# shellcheck shell=bash
# Throwaway PostgreSQL for tests: sourced by scripts/test.
#
# pg_start creates a cluster in a temporary folder, on a free loopback port,
# with its socket in that folder (not /var/run), fsync off and asynchronous
# commit (a test cluster needs speed, not durability), and exports
# TEST_PG_URL. pg_stop removes it. initdb refuses to run as root, so
# as root the cluster belongs to the `postgres` user.

pg_bin_dir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        echo "$dir"
    fi
}

pg_as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_install_if_missing() {
    if [[ -n "$(pg_bin_dir)" ]]; then
        return
    fi
    echo "pg.sh: PostgreSQL is not installed; installing it with apt." >&2
    local sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    if [[ -z "$(pg_bin_dir)" ]]; then
        echo "pg.sh: PostgreSQL could not be installed." >&2
        return 1
    fi
}

pg_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_start() {
    pg_install_if_missing
    local bin port
    bin=$(pg_bin_dir)
    if [[ "$(id -u)" == 0 ]] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
    fi
    PG_TMP=$(mktemp -d /tmp/handoff-pg.XXXXXX)
    chmod 755 "$PG_TMP"
    [[ "$(id -u)" == 0 ]] && chown postgres "$PG_TMP"
    port=$(pg_free_port)
    pg_as_owner "$bin/initdb" -D "$PG_TMP/data" -U postgres --auth=trust -E UTF8 --no-locale >"$PG_TMP/initdb.log" 2>&1 || {
        cat "$PG_TMP/initdb.log" >&2
        return 1
    }
    pg_as_owner "$bin/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
        -o "-p $port -k $PG_TMP -c listen_addresses=127.0.0.1 -F -c synchronous_commit=off -c max_connections=300 -c full_page_writes=off" \
        start >/dev/null || {
        cat "$PG_TMP/server.log" >&2
        return 1
    }
    PG_BIN="$bin"
    export TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "pg.sh: throwaway PostgreSQL on 127.0.0.1:$port ($PG_TMP)" >&2
}

pg_stop() {
    if [[ -n "${PG_TMP:-}" && -d "$PG_TMP/data" ]]; then
        pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    [[ -n "${PG_TMP:-}" ]] && rm -rf "$PG_TMP"
    PG_TMP=""
}
