#!/usr/bin/env bash
# Installs what is needed, builds Facegate, and runs the daemon on its
# built-in defaults: the API on 127.0.0.1:8098, data in ./facegate-data.
# Extra arguments go to `facegate serve`, e.g. --listen 127.0.0.1:9000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p facegate
exec target/release/facegate serve "$@"
