#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up (which also makes and checks
# the int8 networks), formatting, lints, every test (tests/precision.rs:
# the fp32/int8 switch and the face-data migration), and the Debian
# packages for aarch64 and x86_64, checked (the x86_64 one run from a
# scratch root, the aarch64 one under qemu-user).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
arm_deb="$(scripts/package.sh --target aarch64-unknown-linux-gnu | tail -n 1)"
x86_deb="$(scripts/package.sh --target x86_64-unknown-linux-gnu | tail -n 1)"
scripts/check-package.sh "$x86_deb" "$arm_deb"
