#!/usr/bin/env bash
# Installs what Carnet needs on Debian 12 (apt + npm) and builds the web portal.
# Idempotent: a second run installs nothing and only rebuilds what changed.
# Prerequisites (README): a C++ toolchain, CMake, Node.js 20; run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsodium-dev libsqlite3-dev libpq-dev libcurl4-openssl-dev
  libcli11-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libarchive-dev libjemalloc-dev libmagic-dev libjpeg-dev zlib1g-dev
  postgresql-15 postgresql-client-15 wrk chromium clang-format python3-aiosmtpd openssl curl
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v node >/dev/null || { echo "setup: Node.js 20 is required (see README)"; exit 1; }

# npm ci only when the lock file changed since the last install.
npm_install() {
  local dir=$1
  local stamp="$dir/node_modules/.carnet-lock"
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    echo "setup: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
}
npm_install tools/fhirgen
npm_install web
npm_install tests/e2e

# The portal: rebuilt when a source file is newer than the build.
if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/index.html web/public -newer web/dist/index.html -print -quit)" ]; then
  echo "setup: building the portal (web/dist)"
  (cd web && npm run build --silent)
fi
