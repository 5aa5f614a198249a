# shellcheck shell=bash
# Throwaway PostgreSQL cluster for CI.  Meant to be *sourced*:
#
#     . .ci/postgres.sh          # starts a cluster, exports the variables below
#     trap spoke_postgres_stop EXIT
#
# Exports on success:
#   SPOKE_TEST_POSTGRES_URL        postgresql+psycopg://spoke@127.0.0.1:PORT/spoke_test
#   SPOKE_TEST_POSTGRES_ADMIN_URL  postgresql+psycopg://spoke@127.0.0.1:PORT/postgres
#   SPOKE_PG_BIN                   directory holding initdb, pg_ctl, psql, ...
#   SPOKE_PG_DATA                  data directory of the cluster
#   SPOKE_PG_PORT                  TCP port (127.0.0.1 only)
#   SPOKE_PG_LOG                   server log file (pass to `pg_ctl start -l`)
#   SPOKE_PG_USER                  OS user owning the cluster (pg_ctl must run as it)
#   SPOKE_PG_CTL                   wrapper running $SPOKE_PG_BIN/pg_ctl as
#                                  SPOKE_PG_USER (pg_ctl refuses to run as root)
#
# Defines spoke_postgres_stop, which stops the cluster and removes its temp dir.
# Safe under the caller's `set -euo pipefail`: every step is checked explicitly,
# and on failure the half-built cluster is cleaned up and sourcing returns
# non-zero.

# Stop the cluster started by this file and delete its temp dir.  Idempotent,
# never fails (it is meant for EXIT traps).
spoke_postgres_stop() {
    local tmp="${_SPOKE_PG_TMP:-}" data="${SPOKE_PG_DATA:-}" bin="${SPOKE_PG_BIN:-}"
    local pid="" i
    if [ -n "$data" ] && [ -f "$data/postmaster.pid" ] && [ -x "$bin/pg_ctl" ]; then
        pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
        _spoke_pg_as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            _spoke_pg_as_owner "$bin/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
            true
        case "$pid" in
            '' | *[!0-9]*) ;;
            *)
                # Last resort if pg_ctl could not stop it.
                if [ -f "$data/postmaster.pid" ]; then
                    kill -9 "$pid" 2>/dev/null || true
                fi
                # Wait until the postmaster has really exited (a zombie
                # waiting to be reaped by init counts as exited).
                for i in $(seq 1 100); do
                    kill -0 "$pid" 2>/dev/null || break
                    case "$(cut -d ' ' -f 3 "/proc/$pid/stat" 2>/dev/null || true)" in
                        Z | X | '') break ;;
                    esac
                    sleep 0.1
                done
                ;;
        esac
    fi
    if [ -n "$tmp" ] && [ -d "$tmp" ]; then
        rm -rf -- "$tmp" 2>/dev/null || true
    fi
    unset _SPOKE_PG_TMP SPOKE_TEST_POSTGRES_URL SPOKE_TEST_POSTGRES_ADMIN_URL \
        SPOKE_PG_BIN SPOKE_PG_DATA SPOKE_PG_PORT SPOKE_PG_LOG SPOKE_PG_CTL SPOKE_PG_USER
    return 0
}

# Run a command as the cluster owner, from inside the temp dir (so an
# unreadable caller cwd, e.g. under /root, cannot break initdb/pg_ctl).
_spoke_pg_as_owner() {
    local dir="${_SPOKE_PG_TMP:-/}"
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            (cd "$dir" && runuser -u "$SPOKE_PG_USER" -- "$@")
        else
            (cd "$dir" && su -s /bin/sh "$SPOKE_PG_USER" -c 'exec "$0" "$@"' "$@")
        fi
    else
        (cd "$dir" && "$@")
    fi
}

# Newest /usr/lib/postgresql/*/bin that has the server tools.
_spoke_pg_find_bin() {
    local d found=""
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
            found="$found$d"$'\n'
        fi
    done
    [ -n "$found" ] || return 1
    printf '%s' "$found" | sort -V | tail -n 1
}

_spoke_pg_free_port() {
    local py
    for py in python3 python3.11 python; do
        if command -v "$py" >/dev/null 2>&1; then
            "$py" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' && return 0
        fi
    done
    echo "postgres.sh: no python3 found to pick a free port" >&2
    return 1
}

_spoke_pg_setup() {
    local bin tmp data port log user try url_base log_lines

    # 1. Locate (or install) the server binaries.
    if ! bin="$(_spoke_pg_find_bin)"; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "postgres.sh: PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin" >&2
            echo "postgres.sh: not root, so cannot install them; run: apt-get install postgresql" >&2
            return 1
        fi
        if ! command -v apt-get >/dev/null 2>&1; then
            echo "postgres.sh: PostgreSQL not installed and apt-get unavailable" >&2
            return 1
        fi
        echo "postgres.sh: installing PostgreSQL from Debian packages..." >&2
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update </dev/null &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql </dev/null; }; then
            echo "postgres.sh: apt-get install postgresql failed" >&2
            return 1
        fi
        if ! bin="$(_spoke_pg_find_bin)"; then
            echo "postgres.sh: PostgreSQL installed but initdb/pg_ctl still not found" >&2
            return 1
        fi
    fi

    # 2. Pick the owning OS user (the server refuses to run as root).
    if [ "$(id -u)" -eq 0 ]; then
        user="spokeci"
        if ! id -u "$user" >/dev/null 2>&1; then
            # Concurrent runs may race here; accept "already exists".
            useradd --system --no-create-home --shell /usr/sbin/nologin "$user" >/dev/null 2>&1 ||
                id -u "$user" >/dev/null 2>&1 || {
                echo "postgres.sh: could not create system user $user" >&2
                return 1
            }
        fi
        tmp="$(mktemp -d /tmp/spoke-pg.XXXXXX)" || return 1
        if ! chown "$user:" "$tmp"; then
            rm -rf -- "$tmp"
            echo "postgres.sh: could not chown $tmp to $user" >&2
            return 1
        fi
    else
        user="$(id -un)"
        tmp="$(mktemp -d "${TMPDIR:-/tmp}/spoke-pg.XXXXXX")" || return 1
    fi
    data="$tmp/data"
    log="$tmp/postgres.log"

    # Record state first so spoke_postgres_stop can clean up from here on.
    _SPOKE_PG_TMP="$tmp"
    export SPOKE_PG_BIN="$bin" SPOKE_PG_DATA="$data" SPOKE_PG_LOG="$log" SPOKE_PG_USER="$user"

    # 3. initdb.
    if ! _spoke_pg_as_owner mkdir -m 0700 "$tmp/sock"; then
        echo "postgres.sh: could not create socket dir" >&2
        return 1
    fi
    if ! _spoke_pg_as_owner "$bin/initdb" -D "$data" -U spoke --auth=trust \
        --encoding=UTF8 --locale=C >"$tmp/initdb.log" 2>&1; then
        echo "postgres.sh: initdb failed:" >&2
        cat "$tmp/initdb.log" >&2
        return 1
    fi
    if ! _spoke_pg_as_owner sh -c 'cat >>"$1"' sh "$data/postgresql.conf" <<EOF

# --- added by .ci/postgres.sh (throwaway CI cluster) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp/sock'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
include_if_exists = 'spoke_port.conf'
EOF
    then
        echo "postgres.sh: could not write postgresql.conf" >&2
        return 1
    fi

    # 4. Start on a free port; retry if another process grabbed it meanwhile.
    for try in 1 2 3 4 5; do
        port="$(_spoke_pg_free_port)" || return 1
        if ! printf "port = %s\n" "$port" | _spoke_pg_as_owner sh -c 'cat >"$1"' sh "$data/spoke_port.conf"; then
            echo "postgres.sh: could not write port config" >&2
            return 1
        fi
        log_lines=0
        if [ -f "$log" ]; then
            log_lines="$(wc -l <"$log")" || log_lines=0
        fi
        if _spoke_pg_as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 2>&1; then
            break
        fi
        if [ "$try" -lt 5 ] &&
            tail -n "+$((log_lines + 1))" "$log" 2>/dev/null | grep -E 'could not bind|[Aa]ddress already in use' >/dev/null; then
            echo "postgres.sh: port $port taken, retrying" >&2
            continue
        fi
        echo "postgres.sh: pg_ctl start failed; server log:" >&2
        tail -n 50 "$log" >&2 2>/dev/null || true
        return 1
    done
    export SPOKE_PG_PORT="$port"

    # 5. Wrapper so callers (fault tests running as root) can use pg_ctl.
    {
        printf '#!/bin/sh\n# pg_ctl for the throwaway CI cluster, run as its owner.\n'
        printf 'cd %q || exit 1\n' "$tmp"
        if [ "$(id -u)" -eq 0 ]; then
            printf 'if [ "$(id -u)" -eq 0 ]; then exec runuser -u %q -- %q "$@"; fi\n' "$user" "$bin/pg_ctl"
        fi
        printf 'exec %q "$@"\n' "$bin/pg_ctl"
    } >"$tmp/pg_ctl" && chmod 0755 "$tmp/pg_ctl" || {
        echo "postgres.sh: could not write pg_ctl wrapper" >&2
        return 1
    }
    export SPOKE_PG_CTL="$tmp/pg_ctl"

    # 6. Test database and URLs.
    if ! "$bin/createdb" -h 127.0.0.1 -p "$port" -U spoke spoke_test; then
        echo "postgres.sh: createdb spoke_test failed" >&2
        return 1
    fi
    url_base="postgresql+psycopg://spoke@127.0.0.1:$port"
    export SPOKE_TEST_POSTGRES_URL="$url_base/spoke_test"
    export SPOKE_TEST_POSTGRES_ADMIN_URL="$url_base/postgres"
    return 0
}

if _spoke_pg_setup; then
    echo "postgres.sh: PostgreSQL ($SPOKE_PG_BIN) running on 127.0.0.1:$SPOKE_PG_PORT, data in $SPOKE_PG_DATA" >&2
else
    _spoke_pg_rc=$?
    spoke_postgres_stop
    return "$_spoke_pg_rc" 2>/dev/null || exit "$_spoke_pg_rc"
fi
