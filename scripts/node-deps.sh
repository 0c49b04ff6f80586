#!/usr/bin/env bash
# Install the npm packages of the node client tests (test_prepared.py): node-postgres ("pg")
# and postgres.js ("postgres"), from the npm registry, into test/integration/.node (ignored by
# git; PGFJORD_NODE_DIR overrides it). Does nothing when both are there already.
#
#   bash scripts/node-deps.sh     exit 0: installed; 2: no npm; other: npm failed (offline?)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${PGFJORD_NODE_DIR:-$ROOT/test/integration/.node}"
PKGS=(pg@8 postgres@3)

if [ -d "$DIR/node_modules/pg" ] && [ -d "$DIR/node_modules/postgres" ]; then
  echo "node-deps: pg and postgres already in $DIR"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "node-deps: npm not found (install nodejs and npm)" >&2
  exit 2
fi
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{ "private": true }' > "$DIR/package.json"
echo "node-deps: installing ${PKGS[*]} into $DIR"
npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "${PKGS[@]}"
echo "node-deps: done"
