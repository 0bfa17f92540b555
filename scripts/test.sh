#!/usr/bin/env bash
# README command 2: install what is missing, build with AddressSanitizer + UBSan, start a
# throwaway PostgreSQL on 127.0.0.1, and run every test: unit, store and API suites on
# both engines, the importer on the Synthea set, and the portal in Chromium (Playwright).
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

PG_DIR=$(mktemp -d /tmp/carnet-test-pg.XXXXXX)
PG_PORT=${CARNET_TEST_PG_PORT:-55439}
cleanup() { bash scripts/test-postgres.sh stop "$PG_DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
rmdir "$PG_DIR"  # test-postgres.sh creates it owned by the postgres user
export CARNET_TEST_PG
CARNET_TEST_PG=$(bash scripts/test-postgres.sh start "$PG_DIR" "$PG_PORT")
echo "test: PostgreSQL at $CARNET_TEST_PG"

cmake --preset dev >/dev/null
cmake --build --preset dev
ctest --preset dev
