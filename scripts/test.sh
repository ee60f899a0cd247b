#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, formatting, lints, every
# test, and the aarch64 cross build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
cargo build --locked --release -p facegate --target aarch64-unknown-linux-gnu
echo "aarch64 build: $(file -b target/aarch64-unknown-linux-gnu/release/facegate 2>/dev/null || echo built)"
