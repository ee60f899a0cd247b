#!/usr/bin/env bash
# Installs what building, running and testing Facegate needs, idempotently:
#   scripts/setup.sh          build dependencies, then the models, ONNX
#                             Runtime and the site tests' nats-server
#                             (scripts/fetch-artifacts.sh, checked by sha256),
#                             then the int8 models made from them
#                             (scripts/quantize.py, checked by sha256)
#   scripts/setup.sh --test   plus what the test suite, the aarch64 build and
#                             the Debian packages need (cargo-deb, qemu-user,
#                             Chromium and its WebDriver for the console)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=false
[[ "${1:-}" == "--test" ]] && want_test=true

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "setup: need root to run: $*" >&2; exit 1
    fi
}

# Debian/Ubuntu packages; only the missing ones are installed.
# libclang-dev: the v4l crate generates its V4L2 bindings with bindgen.
# protobuf-compiler, libprotobuf-dev: protoc and google/protobuf/*.proto,
# which tonic's build step compiles the access-notification .proto with.
# g++, nasm: openh264, the IP camera decoder, is C++ built from source, with
# x86 assembly (without nasm it builds, 14% slower).
packages=(pkg-config gcc g++ libc6-dev libclang-dev protobuf-compiler libprotobuf-dev nasm)
if $want_test; then
    # qemu-user-static runs the aarch64 build; curl talks to the packaged daemon;
    # the console's tests drive headless Chromium through its WebDriver; the
    # TLS tests make their certificates with openssl. (The site tests'
    # nats-server is an artifact: scripts/fetch-artifacts.sh, below.) The
    # RTSP tests' camera is GStreamer's RTSP server through python3-gi, with
    # its demuxer, parser and payloader, serving what ffmpeg encodes.
    packages+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static curl
        chromium chromium-driver openssl
        ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
        gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
fi
# The artifact fetcher uses the ordinary registry clients.
command -v npm >/dev/null || packages+=(npm)
command -v python3 >/dev/null || packages+=(python3)
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)
# The quantizer's venv (Debian splits venv's pip bootstrap out).
python3 -c 'import ensurepip' >/dev/null 2>&1 || packages+=(python3-venv)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
    echo "setup: Rust is missing. Install it with rustup (https://rustup.rs), then re-run." >&2
    exit 1
fi

if $want_test; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
    if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
        echo "setup: adding the aarch64-unknown-linux-gnu Rust target"
        rustup target add aarch64-unknown-linux-gnu
    fi
    # cargo-deb builds the Debian packages (scripts/package.sh).
    if ! command -v cargo-deb >/dev/null; then
        echo "setup: installing cargo-deb"
        cargo install --locked cargo-deb
    fi
fi

# The tests' second template model (SFace) only with --test.
if $want_test; then scripts/fetch-artifacts.sh --test; else scripts/fetch-artifacts.sh; fi

# The int8 networks are made here rather than fetched: ONNX Runtime's own
# quantizer, the PyPI versions pinned in models/manifest.toml [quantizer],
# in a venv of its own; the files are checked against their pinned sha256.
venv=target/quantize-venv
mapfile -t pins < <(python3 scripts/artifact_tool.py list models/manifest.toml quantizer.python_packages)
if ! [[ -x "$venv/bin/python" ]] || [[ "$(cat "$venv/pins" 2>/dev/null)" != "${pins[*]}" ]]; then
    echo "setup: installing ${pins[*]} in $venv"
    python3 -m venv --clear "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: "${pins[@]}"
    echo "${pins[*]}" >"$venv/pins"
fi
"$venv/bin/python" scripts/quantize.py

# The OSDP tests' access-control panel: libosdp's ControlPanel from PyPI,
# pinned, in a venv of its own (tests/osdp_panel.py).
if $want_test; then
    test_venv=target/test-venv
    test_pins="libosdp==3.2.9"
    if ! [[ -x "$test_venv/bin/python" ]] || [[ "$(cat "$test_venv/pins" 2>/dev/null)" != "$test_pins" ]]; then
        echo "setup: installing $test_pins in $test_venv"
        python3 -m venv --clear "$test_venv"
        "$test_venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: $test_pins
        echo "$test_pins" >"$test_venv/pins"
    fi
fi
