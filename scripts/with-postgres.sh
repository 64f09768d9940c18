#!/usr/bin/env bash
# Runs a command with a throw-away PostgreSQL server for batpak's `postgres`
# feature, e.g.
#
#     scripts/with-postgres.sh cargo test -p batpak-tests --test postgres
#
# Installs what is missing (as root, Debian's packages: the server, libpq's
# headers, and libclang for libpq-sys's bindings), makes a fresh data
# directory, starts the server on a free loopback port with trust
# authentication for loopback only, exports BATPAK_PG_URL for the command,
# and stops the server and deletes the directory when it exits, whatever
# the command's outcome. The server refuses to run as root, so as root it
# runs as the `postgres` user.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi

install_if_missing() {
    local missing=()
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    [[ -e /usr/include/postgresql/libpq-fe.h ]] || missing+=(libpq-dev)
    # libpq-sys generates its bindings with bindgen, which loads libclang.
    ls /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 \
        || missing+=(libclang1)
    ls -d /usr/lib/llvm-*/lib/clang/*/include >/dev/null 2>&1 || missing+=(libclang-dev)
    if [[ ${#missing[@]} -gt 0 ]]; then
        if [[ $(id -u) -ne 0 ]]; then
            echo "with-postgres: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
            exit 1
        fi
        echo "== apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

install_if_missing
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

# As root the server runs as `postgres`; otherwise as the caller.
as_server() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

dir=$(mktemp -d /tmp/batpak-pg.XXXXXX)
chmod 755 "$dir"
[[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
stop() {
    as_server "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT

as_server "$bin/initdb" -D "$dir/data" --auth=trust --username=postgres \
    --no-sync --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
# Loopback only, trust: a throw-away server nobody else can reach.
cat >"$dir/data/pg_hba.conf" <<HBA
host all all 127.0.0.1/32 trust
local all all trust
HBA

started=""
for _ in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 40000))
    if as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300" >/dev/null 2>&1; then
        started=$port
        break
    fi
done
if [[ -z $started ]]; then
    echo "with-postgres: the server did not start" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
fi

export BATPAK_PG_URL="postgresql://postgres@127.0.0.1:$started/postgres"
echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at $BATPAK_PG_URL"
"$@"
