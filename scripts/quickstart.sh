#!/usr/bin/env bash
# scripts/quickstart.sh — try pgfjord in one command.
#
# Installs the dependencies (scripts/deps.sh), builds pgfjord (in build/), creates a
# throwaway PostgreSQL 15 cluster in a temporary directory (port 54329, role "app" with password
# "app", database "app"), writes a pgfjord config (127.0.0.1:6432, md5 auth, userlist taken from
# pg_authid, transaction pooling) and starts pgfjord in the BACKGROUND (daemon mode, -d).
# It prints the psql line to connect and the commands that stop both processes by PID.
#
#   bash scripts/quickstart.sh               background (default)
#   bash scripts/quickstart.sh --foreground  pgfjord stays in the foreground; Ctrl-C stops it
#
# Environment: QS_DIR (work dir, default a new /tmp/pgfjord-quickstart.XXXXXX), QS_PG_PORT
# (54329), QS_PORT (6432), PGFJORD_BIN (use this binary instead of building),
# PGFJORD_SKIP_DEPS=1 (do not run deps.sh).
# When run as root, PostgreSQL and pgfjord run as the "postgres" user (both refuse root).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
PGBIN=/usr/lib/postgresql/15/bin
FOREGROUND=0
case "${1:-}" in
  --foreground|-f) FOREGROUND=1 ;;
  ""|--background) ;;
  -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
  *) echo "quickstart: unknown argument: $1" >&2; exit 2 ;;
esac

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

port_busy() {  # is something listening on 127.0.0.1:$1 ?
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
free_port_from() {  # first free port at or above $1
  local p=$1
  while port_busy "$p"; do p=$((p + 1)); done
  echo "$p"
}

# 1. dependencies
if [ "${PGFJORD_SKIP_DEPS:-0}" != 1 ]; then
  say "installing missing dependencies (scripts/deps.sh)"
  bash scripts/deps.sh
fi

# 2. build
if [ -n "${PGFJORD_BIN:-}" ]; then
  BIN=$(readlink -f "$PGFJORD_BIN")
  say "using $BIN"
else
  NJ=$(nproc 2>/dev/null || echo 2)
  if [ -f config.status ]; then
    # the source tree is configured in-tree: build there
    say "building pgfjord in the source tree (make)"
    make -j"$NJ"
    BIN="$ROOT/pgfjord"
  else
    say "building pgfjord in build/ (autoreconf -fi && ../configure && make)"
    if [ ! -f build/config.status ] || [ configure.ac -nt build/config.status ] \
       || [ Makefile.am -nt build/config.status ]; then
      autoreconf -fi
      mkdir -p build
      (cd build && ../configure)
    fi
    make -C build -j"$NJ"
    BIN="$ROOT/build/pgfjord"
  fi
fi
"$BIN" -V | head -n1

# 3. a throwaway PostgreSQL
if [ "$(id -u)" -eq 0 ]; then
  AS=(runuser -u postgres --)
else
  AS=()
fi
DIR=${QS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/pgfjord-quickstart.XXXXXX")}
mkdir -p "$DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
chmod 700 "$DIR"
cp "$BIN" "$DIR/pgfjord"      # so that path permissions never matter
chmod 755 "$DIR/pgfjord"
[ "$(id -u)" -eq 0 ] && chown postgres: "$DIR/pgfjord"

PG_PORT=$(free_port_from "${QS_PG_PORT:-54329}")
PORT=$(free_port_from "${QS_PORT:-6432}")
[ "$PORT" != "${QS_PORT:-6432}" ] && say "port ${QS_PORT:-6432} is taken (a PgBouncer service?); using $PORT"

say "creating PostgreSQL cluster in $DIR/data (port $PG_PORT)"
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth-local=trust --auth-host=md5 \
  -E UTF8 --locale=C --no-sync >"$DIR/initdb.log"
cat >>"$DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DIR'
EOF
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w start >/dev/null
PG_PID=$(head -n1 "$DIR/data/postmaster.pid")

PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PG_PORT" -U postgres)
"${PSQL[@]}" -d postgres <<'EOF'
SET password_encryption = 'md5';
CREATE ROLE app LOGIN PASSWORD 'app';
CREATE DATABASE app OWNER app;
EOF

# 4. pgfjord config: userlist copied from pg_authid, md5 auth, transaction pooling
"${PSQL[@]}" -d postgres -Atc \
  "SELECT format('\"%s\" \"%s\"', rolname, rolpassword) FROM pg_authid WHERE rolname = 'app'" \
  >"$DIR/userlist.txt"
cat >"$DIR/pgfjord.ini" <<EOF
[databases]
app = host=127.0.0.1 port=$PG_PORT dbname=app

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir = $DIR
auth_type = md5
auth_file = $DIR/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
admin_users = app
logfile = $DIR/pgfjord.log
pidfile = $DIR/pgfjord.pid
EOF
[ "$(id -u)" -eq 0 ] && chown postgres: "$DIR/userlist.txt" "$DIR/pgfjord.ini"
chmod 600 "$DIR/userlist.txt"

CONN="psql \"host=127.0.0.1 port=$PORT dbname=app user=app password=app\""
ADMIN="psql \"host=127.0.0.1 port=$PORT dbname=pgbouncer user=app password=app\" -c 'SHOW POOLS'"
STOP_PG="kill -INT $PG_PID    # PostgreSQL (postmaster PID), then: rm -rf $DIR"

if [ "$FOREGROUND" = 1 ]; then
  say "starting pgfjord in the FOREGROUND on 127.0.0.1:$PORT (Ctrl-C stops it)"
  echo
  echo "  connect:        $CONN"
  echo "  admin console:  $ADMIN"
  echo "  afterwards:     $STOP_PG"
  echo
  cd "$DIR"
  exec "${AS[@]}" "$DIR/pgfjord" "$DIR/pgfjord.ini"
fi

say "starting pgfjord in the BACKGROUND (daemon) on 127.0.0.1:$PORT"
(cd "$DIR" && "${AS[@]}" "$DIR/pgfjord" -d "$DIR/pgfjord.ini")
for _ in $(seq 1 100); do
  [ -s "$DIR/pgfjord.pid" ] && port_busy "$PORT" && break
  sleep 0.1
done
if ! [ -s "$DIR/pgfjord.pid" ] || ! port_busy "$PORT"; then
  echo "pgfjord did not start; see $DIR/pgfjord.log" >&2
  tail -n 20 "$DIR/pgfjord.log" >&2 || true
  exit 1
fi
PF_PID=$(cat "$DIR/pgfjord.pid")

# smoke test through the pooler
if "$PGBIN/psql" -X -Atc "select 'pgfjord works: ' || version()" \
     "host=127.0.0.1 port=$PORT dbname=app user=app password=app connect_timeout=10"; then
  :
else
  echo "the smoke query through pgfjord failed; see $DIR/pgfjord.log" >&2
  exit 1
fi

cat <<EOF

pgfjord is running in the background (PID $PF_PID), PostgreSQL $PG_PORT (PID $PG_PID).
Files (config, userlist, logs): $DIR

  connect:        $CONN
  admin console:  $ADMIN
  stop pgfjord:   kill $PF_PID
  stop postgres:  $STOP_PG
EOF
