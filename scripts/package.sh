#!/usr/bin/env bash
# Builds Facegate's Debian package with cargo-deb for one target:
#   scripts/package.sh [--target aarch64-unknown-linux-gnu|x86_64-unknown-linux-gnu]
# (default: this machine's). The package holds the binary, the networks
# the engine loads, that target's ONNX Runtime (the CPU build from the PyPI
# wheel pinned in models/manifest.toml, fetched by scripts/fetch-artifacts.sh),
# /etc/facegate/facegate.toml, the systemd unit, and maintainer scripts that
# create the facegate user; see [package.metadata.deb] in daemon/Cargo.toml.
# Logs go to stderr; the last line on stdout is the .deb's path.
set -euo pipefail
cd "$(dirname "$0")/.."

target="$(uname -m)-unknown-linux-gnu"
while (($#)); do
    case "$1" in
        --target) target="${2:?--target needs a triple}"; shift 2 ;;
        --target=*) target="${1#--target=}"; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "package: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$target" in
    x86_64-unknown-linux-gnu|aarch64-unknown-linux-gnu) ;;
    *) echo "package: no ONNX Runtime pinned for $target" >&2; exit 2 ;;
esac
arch="${target%%-*}"
command -v cargo-deb >/dev/null || {
    echo "package: cargo-deb is missing; run scripts/setup.sh --test" >&2; exit 1
}

artifacts="${FACEGATE_ARTIFACTS:-$PWD/artifacts}"
scripts/fetch-artifacts.sh --arch="$arch" "$artifacts" >&2
# The int8 networks are the same bytes on every architecture.
target/quantize-venv/bin/python scripts/quantize.py "$artifacts" >&2 \
    || { echo "package: the int8 networks are missing; run scripts/setup.sh" >&2; exit 1; }
runtime="$artifacts/onnxruntime"
[[ "$arch" == "$(uname -m)" ]] || runtime="$artifacts/onnxruntime-$arch"

# cargo-deb takes assets under target/release/ from the target's own
# directory, so the target's runtime and the models are staged there.
stage="target/$target/release/deb"
rm -rf "$stage"
mkdir -p "$stage/onnxruntime"
ln -s "$(cd "$artifacts/models" && pwd)" "$stage/models"
cp -L "$runtime/libonnxruntime.so" "$runtime/LICENSE" "$runtime/ThirdPartyNotices.txt" \
    "$stage/onnxruntime/"

# Stripped by the linker while building: cargo-deb's own strip would need
# the target's binutils configured.
CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo deb -p facegate --target "$target" --no-strip -- --locked
