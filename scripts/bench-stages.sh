#!/usr/bin/env bash
# Per-stage latency of the face engine and, in the same run on the same
# photos, of face_recognition 1.3.0 (dlib) for comparison.
#   scripts/bench-stages.sh [RUNS]
# The dlib side lives in a venv under target/ (PyPI: dlib-bin, face_recognition).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
scripts/fetch-artifacts.sh >/dev/null
venv=target/dlib-venv
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import face_recognition" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "dlib-bin==20.0.1.post1" numpy pillow click
    "$venv/bin/pip" install -q --no-deps "face_recognition==1.3.0" "face_recognition_models==0.3.0"
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cargo bench -q -p facegate-models --bench stages -- --runs "$runs" 2>/dev/null | grep -v '^$'
echo
OMP_NUM_THREADS=1 "$venv/bin/python" scripts/bench_dlib.py artifacts/testdata "$runs"
