#!/usr/bin/env bash
# scripts/test.sh — the test command of pgfjord.
#
#   bash scripts/test.sh             normal build (build/) + unit + integration tests, then the
#                                    ASan build (build-asan/) + unit + integration tests
#   bash scripts/test.sh --asan      only the ASan build and its tests   (or PGFJORD_ASAN=1)
#   bash scripts/test.sh --no-asan   only the normal build and its tests (or PGFJORD_ASAN=0)
#   bash scripts/test.sh ... -- ARGS extra pytest arguments, e.g. -- -k auth -x
#
# Steps: scripts/deps.sh (skip with PGFJORD_SKIP_DEPS=1), autoreconf -fi, configure, make -j2,
# make check (cmocka unit tests), then
#   /usr/bin/python3 -m pytest test/integration -q
# with PGFJORD_BIN pointing at the binary just built. The last line printed is the combined
# result "N passed, N failed"; the exit status is non-zero if anything failed.
#
# Both builds are out of tree (`../configure` in build/ and build-asan/, --enable-asan for the
# latter) so that they coexist. autoconf refuses that while the source tree itself is configured
# (an in-tree `./configure`), so in that case this script runs `make distclean` there first.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
PY=/usr/bin/python3
JOBS=${PGFJORD_JOBS:-2}

normal=1
asan=1
case "${PGFJORD_ASAN:-}" in
  1|yes|true) normal=0 ;;
  0|no|false) asan=0 ;;
esac
PYTEST_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --asan) normal=0; asan=1 ;;
    --no-asan) asan=0; normal=1 ;;
    --) shift; PYTEST_ARGS=("$@"); break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

LOGDIR=${PGFJORD_TEST_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/pgfjord-test-logs.XXXXXX")}
mkdir -p "$LOGDIR"

PASSED=0
FAILED=0
SKIPPED=0
SUMMARY=()
START=$(date +%s)

note() { printf '\n==== %s\n' "$*"; }

fail_step() {  # a build step failed: count it as one failure
  FAILED=$((FAILED + 1))
  SUMMARY+=("$1: FAILED ($2)")
  echo "test.sh: $1: $2 failed" >&2
}

# run_logged LOG CMD...: run CMD, output to terminal and LOG, return CMD's status
run_logged() {
  local log=$1
  shift
  "$@" 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}

# unit tests: automake's test-suite summary ("# PASS:  N", "# FAIL:  N", ...)
unit_tests() {  # $1 = phase name, $2 = build dir
  local phase=$1 dir=$2 log="$LOGDIR/$1-unit.log" rc p f
  note "$phase: make check (unit tests)"
  (cd "$dir" && run_logged "$log" make -j"$JOBS" check)
  rc=$?
  p=$(sed -n 's/^# PASS: *\([0-9]*\).*/\1/p' "$log" | tail -n1)
  f=0
  for k in FAIL ERROR XPASS; do
    n=$(sed -n "s/^# $k: *\([0-9]*\).*/\1/p" "$log" | tail -n1)
    f=$((f + ${n:-0}))
  done
  if [ -z "$p" ]; then
    # no test-suite summary: the unit tests did not even build/run
    p=0
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  SUMMARY+=("$phase unit: $p passed, $f failed")
}

# integration tests: pytest's summary line ("3 failed, 70 passed, 9 skipped, 1 error in 50s")
integration_tests() {  # $1 = phase name, $2 = binary
  local phase=$1 bin=$2 log="$LOGDIR/$1-integration.log" rc line p f e s
  note "$phase: integration tests against $bin"
  if [ ! -x "$bin" ]; then
    fail_step "$phase integration" "binary $bin missing"
    return
  fi
  PGFJORD_BIN="$bin" run_logged "$log" timeout --signal=INT --kill-after=60 1200 \
    "$PY" -m pytest test/integration -q -p no:cacheprovider -rfE ${PYTEST_ARGS[@]+"${PYTEST_ARGS[@]}"}
  rc=$?
  line=$(grep -E '^(=+ )?[0-9]+ (passed|failed|errors?|skipped|deselected)|no tests ran' "$log" \
         | tail -n1)
  p=$(grep -Eo '[0-9]+ passed' <<<"$line" | grep -Eo '[0-9]+' || true)
  f=$(grep -Eo '[0-9]+ failed' <<<"$line" | grep -Eo '[0-9]+' || true)
  e=$(grep -Eo '[0-9]+ errors?' <<<"$line" | grep -Eo '[0-9]+' || true)
  s=$(grep -Eo '[0-9]+ skipped' <<<"$line" | grep -Eo '[0-9]+' || true)
  p=${p:-0}; f=$(( ${f:-0} + ${e:-0} )); s=${s:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # crashed, timed out, collection error
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  SKIPPED=$((SKIPPED + s))
  SUMMARY+=("$phase integration: ${line:-no pytest summary (exit $rc)}")
}

# ------------------------------------------------------------------------------------------
if [ "${PGFJORD_SKIP_DEPS:-0}" != 1 ]; then
  note "dependencies"
  bash scripts/deps.sh || { fail_step deps "scripts/deps.sh"; }
fi

note "autoreconf -fi"
if ! autoreconf -fi; then
  fail_step autoreconf "autoreconf -fi"
  normal=0
  asan=0
fi

# out-of-tree builds need an unconfigured source tree
if [ -f "$ROOT/config.status" ] && [ $((normal + asan)) -gt 0 ]; then
  note "the source tree is configured in-tree: make distclean (builds go to build/, build-asan/)"
  (make distclean >/dev/null 2>&1) || rm -f "$ROOT/config.status"
fi

build() {  # $1 = dir, then configure arguments
  local dir=$1
  shift
  mkdir -p "$ROOT/$dir" && (cd "$ROOT/$dir" && ../configure "$@" && make -j"$JOBS")
}

if [ "$normal" = 1 ]; then
  note "normal build: build/ (../configure && make -j$JOBS)"
  if build build; then
    unit_tests normal "$ROOT/build"
    integration_tests normal "$ROOT/build/pgfjord"
  else
    fail_step "normal build" "configure/make"
  fi
fi

if [ "$asan" = 1 ]; then
  note "ASan build: build-asan/ (../configure --enable-asan && make -j$JOBS)"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  if build build-asan --enable-asan; then
    unit_tests asan "$ROOT/build-asan"
    integration_tests asan "$ROOT/build-asan/pgfjord"
  else
    fail_step "asan build" "configure/make"
  fi
fi

END=$(date +%s)
note "summary ($((END - START)) s; logs in $LOGDIR)"
for l in "${SUMMARY[@]}"; do echo "  $l"; done
[ "$SKIPPED" -gt 0 ] && echo "  ($SKIPPED skipped)"
echo "$PASSED passed, $FAILED failed"
if [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]; then
  exit 0
fi
exit 1
