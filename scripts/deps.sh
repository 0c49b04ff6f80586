#!/usr/bin/env bash
# Install the Debian 12 packages needed to build and test pgfjord, only those that are missing.
# Runs `apt-get update` first whenever something has to be installed. Needs root (or sudo).
#
#   bash scripts/deps.sh          install what is missing
#   bash scripts/deps.sh --check  only list what is missing (exit 1 if anything is)
set -euo pipefail

PKGS=(
  build-essential autoconf automake libtool pkg-config
  libevent-dev libssl-dev libc-ares-dev libinih-dev libpq-dev libcmocka-dev
  postgresql postgresql-contrib pgbouncer
  python3-pytest python3-psycopg python3-asyncpg
  default-jdk-headless libpostgresql-jdbc-java
  procps
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# The node client tests (test_prepared.py) need node and npm; a machine that has them from
# elsewhere (NodeSource) keeps its own, Debian's are installed otherwise.
if ! command -v npm >/dev/null 2>&1; then
  for p in nodejs npm; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi

if [ "${1:-}" = "--check" ]; then
  if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#PKGS[@]} packages installed"
    exit 0
  fi
  echo "deps: missing: ${missing[*]}"
  exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages already installed"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "deps: missing packages (${missing[*]}) and not root (no sudo): install them first" >&2
    exit 1
  fi
fi

echo "deps: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  "${missing[@]}"
echo "deps: done"
