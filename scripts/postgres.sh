#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the catalog store's tests (.ci/run, tests/conftest.py):
# Debian's postgresql is installed when missing, and the cluster is made by initdb in a new
# temporary folder, run by a non-root user (root runs it as "postgres"), listening on 127.0.0.1
# only, on a free port, with trust authentication for its one user, grlm.
#
#   eval "$(bash scripts/postgres.sh start)"   # exports GRLM_TEST_POSTGRES_URL and _DIR
#   bash scripts/postgres.sh down DIR           # stops the server, keeps its data
#   bash scripts/postgres.sh up DIR             # starts it again, same port
#   bash scripts/postgres.sh stop DIR           # stops it and removes DIR
set -euo pipefail

bin_dir() {
  local initdb
  for initdb in /usr/lib/postgresql/*/bin/initdb; do
    [ -x "$initdb" ] && { dirname "$initdb"; return 0; }
  done
  initdb=$(command -v initdb) && { dirname "$initdb"; return 0; }
  return 1
}

install_postgres() {
  bin_dir >/dev/null && return 0
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "postgres.sh: PostgreSQL is missing and neither root nor sudo can install it" >&2; exit 1; }
    sudo=(sudo -n)
  fi
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq postgresql >&2
}

# Runs a command as the cluster's owner: ourselves, or "postgres" when we are root (the server
# refuses to run as root).
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  install_postgres
  local bin dir port
  bin=$(bin_dir)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/grlm-postgres.XXXXXX")
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && { as_owner true; chown postgres "$dir"; }
  as_owner "$bin/initdb" -D "$dir/data" -U grlm --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  for _ in 1 2 3; do  # a port taken between choosing and binding it: choose again
    port=$(free_port)
    as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
EOF
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >&2; then
      as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U grlm grlm_test
      echo "export GRLM_TEST_POSTGRES_URL=postgresql://grlm@127.0.0.1:$port/grlm_test"
      echo "export GRLM_TEST_POSTGRES_DIR=$dir"
      return 0
    fi
  done
  cat "$dir/server.log" >&2
  exit 1
}

cluster_dir() {
  [ -n "${1:-}" ] && [ -f "$1/data/PG_VERSION" ] || { echo "postgres.sh: not a cluster folder: '${1:-}'" >&2; exit 2; }
}

case "${1:-}" in
  start) start ;;
  down) cluster_dir "${2:-}"; as_owner "$(bin_dir)/pg_ctl" -D "$2/data" -m fast -w stop >&2 ;;
  up) cluster_dir "${2:-}"; as_owner "$(bin_dir)/pg_ctl" -D "$2/data" -l "$2/server.log" -w -t 60 start >&2 ;;
  stop)
    cluster_dir "${2:-}"
    as_owner "$(bin_dir)/pg_ctl" -D "$2/data" -m immediate -w stop >&2 || true
    rm -rf "$2"
    ;;
  *) echo "usage: postgres.sh start | down DIR | up DIR | stop DIR" >&2; exit 2 ;;
esac
