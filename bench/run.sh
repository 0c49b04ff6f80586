#!/usr/bin/env bash
# bench/run.sh — the one benchmark command: pgfjord against PgBouncer on the same PostgreSQL.
#
#   bash bench/run.sh                      full run (~15 min on 2 cores), updates doc/performance.md
#   bash bench/run.sh --quick              1 repetition, short runs, smaller N (~2-3 min)
#   bash bench/run.sh --only steady,churn  only some scenarios
#   bash bench/run.sh --reps 5             repetitions per scenario (alternating A B A B ...)
#   bash bench/run.sh --out DIR            where the JSON and console log go (bench/results)
#   bash bench/run.sh --help               every option (bench/bench.py --help)
#
# 1. installs the Debian packages that are missing (apt-get update first; needs root or sudo);
# 2. builds pgfjord out of tree in build-bench/ (autoreconf -fi; ../configure CFLAGS="-O2 -g";
#    make -j2), plus the libpq load generator bench/pgfjord-loadgen;
# 3. runs /usr/bin/python3 bench/bench.py with the arguments given here.
# Environment: BENCH_SKIP_DEPS=1 skips step 1, BENCH_SKIP_BUILD=1 skips step 2.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

case " $* " in
  *" -h "*|*" --help "*)
    sed -n '2,16p' "$0"
    echo
    [ -x /usr/bin/python3 ] && exec /usr/bin/python3 bench/bench.py --help
    exit 0 ;;
esac

# --- 1. Debian packages ------------------------------------------------------------------
PKGS=(
  build-essential autoconf automake libtool pkg-config
  libevent-dev libssl-dev libc-ares-dev libinih-dev libpq-dev
  postgresql postgresql-contrib pgbouncer strace gnuplot-nox procps python3
)
if [ "${BENCH_SKIP_DEPS:-0}" != 1 ]; then
  missing=()
  for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
        echo "bench: missing packages (${missing[*]}) and not root (no sudo): install them first" >&2
        exit 1
      fi
    fi
    say "installing: ${missing[*]}"
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "${missing[@]}"
    # Debian's postgresql package starts a "main" cluster on 5432; the bench never uses it.
  else
    say "Debian packages: all present"
  fi
fi

# --- 2. build pgfjord in build-bench/ ------------------------------------------------------
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  if [ -f config.status ]; then
    echo "bench: the source tree is configured in-tree (./config.status exists)," >&2
    echo "bench: so an out-of-tree build in build-bench/ is impossible: run 'make distclean' here first." >&2
    exit 1
  fi
  NJ=2
  if [ ! -f build-bench/config.status ] || [ configure.ac -nt build-bench/config.status ] \
     || [ Makefile.am -nt build-bench/config.status ] || [ ! -x configure ]; then
    say "autoreconf -fi"
    autoreconf -fi
    mkdir -p build-bench
    say "configuring build-bench/ (CFLAGS=\"-O2 -g\")"
    (cd build-bench && ../configure CFLAGS="-O2 -g" >configure-stdout.log) \
      || { tail -n 30 build-bench/config.log >&2; exit 1; }
  fi
  say "make -j$NJ in build-bench/"
  make -C build-bench -j"$NJ" pgfjord
  # The load generator is built on its own so that a broken one does not stop the other scenarios
  # (bench.py then reports idle/herd as "loadgen unavailable").
  if ! make -C build-bench -j"$NJ" bench/pgfjord-loadgen; then
    echo "bench: WARNING: bench/pgfjord-loadgen did not build; idle and herd will be skipped" >&2
  fi
fi
[ -x build-bench/pgfjord ] || { echo "bench: build-bench/pgfjord missing" >&2; exit 1; }

# --- 3. the orchestrator ----------------------------------------------------------------------
say "bench/bench.py $*"
exec /usr/bin/python3 "$ROOT/bench/bench.py" --cmdline "bash bench/run.sh${*:+ $*}" "$@"
