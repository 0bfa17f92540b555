#!/usr/bin/env bash
# ctest "e2e_portal": starts the built carnet with the demo data in a fresh data folder,
# runs the Playwright tests (Debian's Chromium) against it, then stops it with SIGTERM and
# checks it shut down cleanly (exit 0).
#   tests/e2e/run.sh /path/to/carnet
#   CARNET_E2E_ONLY='documents' tests/e2e/run.sh /path/to/carnet   # only the tests whose name matches
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

# Every test signs in from 127.0.0.1: the per-address limit is raised for the suite (the
# per-identifier backoff, which the last test trips, is untouched).
"$CARNET" serve --demo --data "$WORK/data" --listen "127.0.0.1:$PORT" --web "$ROOT/web/dist" \
  --auth-attempts-per-minute 1000 >"$LOG" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { echo "e2e: server exited"; cat "$LOG"; exit 1; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "e2e: server not ready"; tail -50 "$LOG"; exit 1; }

# The demo's patients still to activate: INS from the start-up list, activation code from the
# letter the server wrote into the outbox.
activation_code() { # recipient
  local f
  for _ in $(seq 1 50); do
    f=$(grep -l "^To: .*$1" "$WORK"/data/outbox/*.eml 2>/dev/null | head -1)
    if [ -n "$f" ]; then grep -oE '[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}' "$f" | head -1; return; fi
    sleep 0.2
  done
}
ins_of() { sed -n "s/^ *$1: \([0-9]\{15\}\).*/\1/p" "$LOG" | head -1; }
ACT_INS=$(ins_of "À activer"); OPP_INS=$(ins_of "Pour essayer l'opposition")
ACT_CODE=$(activation_code activation@carnet.localhost)
OPP_CODE=$(activation_code opposition@carnet.localhost)
[ -n "$ACT_INS" ] && [ -n "$ACT_CODE" ] || { echo "e2e: no demo patient to activate"; tail -30 "$LOG"; exit 1; }

status=0
(cd "$HERE" && CARNET_URL="http://127.0.0.1:$PORT" CARNET_OUTBOX="$WORK/data/outbox" \
  CARNET_LOGIN=patient@carnet.localhost CARNET_PASSWORD=Carnet-demo-2026 \
  CARNET_ADMIN_LOGIN=admin CARNET_ADMIN_PASSWORD=Carnet-demo-2026 \
  CARNET_ACTIVATE="$ACT_INS:$ACT_CODE" CARNET_OPPOSE="$OPP_INS:$OPP_CODE" \
  CARNET_CLOSE_LOGIN=fermeture@carnet.localhost CARNET_CLOSE_PASSWORD=Carnet-demo-2026 \
  CARNET_HOLDER_LOGIN=parent@carnet.localhost CARNET_MEDECIN_LOGIN=medecin@carnet.localhost \
  node --test --test-concurrency=1 ${CARNET_E2E_ONLY:+--test-name-pattern="$CARNET_E2E_ONLY"}) || status=$?

kill -TERM "$server_pid"
if wait "$server_pid"; then
  echo "e2e: server stopped cleanly on SIGTERM"
else
  echo "e2e: server did not exit cleanly on SIGTERM"; tail -50 "$LOG"; status=1
fi
server_pid=""
exit $status
