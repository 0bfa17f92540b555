#!/usr/bin/env bash
# ctest "e2e_portal": starts the built carnet with the demo data in a fresh data folder,
# runs the Playwright tests (Debian's Chromium) against it, then stops it with SIGTERM and
# checks it shut down cleanly (exit 0).
#   tests/e2e/run.sh /path/to/carnet
set -euo pipefail
CARNET=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/carnet-e2e.XXXXXX)
PORT=${CARNET_E2E_PORT:-18080}
LOG="$WORK/server.log"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

[ -f "$ROOT/web/dist/index.html" ] || { echo "e2e: web/dist missing (run scripts/setup.sh)"; exit 1; }
[ -d "$HERE/node_modules/playwright-core" ] || { echo "e2e: run npm ci in tests/e2e"; exit 1; }

"$CARNET" serve --demo --data "$WORK/data" --listen "127.0.0.1:$PORT" --web "$ROOT/web/dist" \
  >"$LOG" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { echo "e2e: server exited"; cat "$LOG"; exit 1; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "e2e: server not ready"; tail -50 "$LOG"; exit 1; }

status=0
(cd "$HERE" && CARNET_URL="http://127.0.0.1:$PORT" node --test --test-concurrency=1) || status=$?

kill -TERM "$server_pid"
if wait "$server_pid"; then
  echo "e2e: server stopped cleanly on SIGTERM"
else
  echo "e2e: server did not exit cleanly on SIGTERM"; tail -50 "$LOG"; status=1
fi
server_pid=""
exit $status
