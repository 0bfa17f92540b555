#!/usr/bin/env bash
# README command 1: install what is missing, build Release, start Carnet on the embedded
# default (SQLite under ./data) with the demo data, on 127.0.0.1:8080.
# Extra arguments go to `carnet serve` (e.g. --listen 127.0.0.1:9090).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target carnet
exec build/release/src/carnet serve --demo "$@"
