#!/usr/bin/env bash
# Checks Facegate's Debian packages without installing them:
#   scripts/check-package.sh X86_64.deb AARCH64.deb
# Both: the control fields and the files. The x86_64 one: extracted into a
# scratch root (dpkg -x), its daemon is started with the packaged config,
# whose paths are changed only by the scratch-root prefix, and answers
# Version and a Verify. The aarch64 one: its binary runs under qemu-user,
# and (as root) its engine with the packaged ONNX Runtime on four photos.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 2 ]] || { sed -n '2,7p' "$0" >&2; exit 2; }
x86_deb="$1" arm_deb="$2"
artifacts="${FACEGATE_ARTIFACTS:-$PWD/artifacts}"

fail() { echo "check-package: $*" >&2; exit 1; }
scratch="$(mktemp -d)"
daemon_pid=""
cleanup() {
    [[ -z "$daemon_pid" ]] || kill "$daemon_pid" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

# check_contents DEB DEBIAN_ARCH ELF_MACHINE
check_contents() {
    local deb="$1" arch="$2" machine="$3" info listing root
    info="$(dpkg-deb -I "$deb")"
    for field in "Package: facegate" "Architecture: $arch" "libc6 (>= 2.28)" "libstdc++6 (>= 6)" adduser; do
        grep -qF "$field" <<<"$info" || fail "$deb: control lacks \`$field\`"
    done
    grep -qw postinst <<<"$info" || fail "$deb: no postinst"
    listing="$(dpkg-deb -c "$deb")"
    for file in usr/bin/facegate usr/lib/facegate/libonnxruntime.so \
        etc/facegate/facegate.toml usr/lib/systemd/system/facegate.service \
        usr/share/doc/facegate/facegate.toml.example \
        usr/share/facegate/models/{fr_detect,fr_landmark,fr_feature,fr_liveness,fr_pose,fr_age,fr_gender}{,_int8}.onnx \
        usr/share/facegate/models/mtcnn_onet.onnx usr/share/doc/facegate/models/LICENSE.mtcnn; do
        grep -qE " \./$file\$" <<<"$listing" || fail "$deb: no /$file"
    done
    root="$scratch/$arch"
    dpkg -x "$deb" "$root"
    for elf in usr/bin/facegate usr/lib/facegate/libonnxruntime.so; do
        readelf -h "$root/$elf" | grep -q "Machine: *$machine" \
            || fail "$deb: /$elf is not built for $machine"
    done
    dpkg-deb -e "$deb" "$root/DEBIAN"
    grep -q "adduser --system" "$root/DEBIAN/postinst" || fail "$deb: postinst creates no user"
    # The config holds secrets: 0640 in the package, given to the service's
    # group by postinst.
    grep -qE '^-rw-r----- (root/root|0/0) .* \./etc/facegate/facegate\.toml$' <<<"$listing" \
        || fail "$deb: /etc/facegate/facegate.toml is not 0640 root:root in the package"
    grep -qF 'config=/etc/facegate/facegate.toml' "$root/DEBIAN/postinst" \
        && grep -qF 'chown root:facegate "$config"' "$root/DEBIAN/postinst" \
        || fail "$deb: postinst does not give the config to the facegate group"
    echo "check-package: $deb: $(grep -c . <<<"$listing") entries, control and ELF machine ok"
}

check_contents "$x86_deb" amd64 "Advanced Micro Devices X86-64"
check_contents "$arm_deb" arm64 AArch64

# The installed x86_64 daemon, from its scratch root, with the packaged
# config: only the /usr/ prefix moves, so a wrong path there fails here.
root="$scratch/amd64"
sed "s|\"/usr/|\"$root/usr/|" "$root/etc/facegate/facegate.toml" >"$scratch/facegate.toml"
port=$((20000 + RANDOM % 20000))
"$root/usr/bin/facegate" serve --config "$scratch/facegate.toml" \
    --listen "127.0.0.1:$port" --data-dir "$scratch/data" 2>"$scratch/daemon.log" &
daemon_pid=$!
for _ in $(seq 300); do
    grep -q "listening on" "$scratch/daemon.log" && break
    kill -0 "$daemon_pid" 2>/dev/null || fail "the packaged daemon stopped: $(cat "$scratch/daemon.log")"
    sleep 0.1
done
base="http://127.0.0.1:$port"
curl -fsS "$base/api/v1/Version" | grep -q '"fullVersion":"Facegate' \
    || fail "GET /api/v1/Version did not answer"
python3 - "$artifacts/testdata" >"$scratch/verify.json" <<'PY'
import base64, json, pathlib, sys
photo = lambda name: {"image": {"data": base64.b64encode((pathlib.Path(sys.argv[1]) / name).read_bytes()).decode()}}
print(json.dumps({"probeImage": photo("obama.jpg"), "referenceImage": photo("obama2.jpg")}))
PY
confidence="$(curl -fsS -H 'Content-Type: application/json' --data @"$scratch/verify.json" \
    "$base/api/v1/Faces/Verify" | python3 -c 'import json,sys; print(json.load(sys.stdin)["confidence"])')"
python3 -c "import sys; sys.exit(not float('$confidence') >= 60)" \
    || fail "Verify obama/obama2 gave confidence $confidence"
echo "check-package: packaged x86_64 daemon answers Version; Verify obama/obama2 = $confidence"
kill "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""

# The aarch64 binary under user-mode emulation.
version="$(qemu-aarch64-static -L /usr/aarch64-linux-gnu "$scratch/arm64/usr/bin/facegate" --version)"
[[ "$version" == facegate* ]] || fail "aarch64 facegate --version printed: $version"
echo "check-package: aarch64 binary under qemu: $version"

# Its engine too, on four photos: ONNX Runtime reads /proc/cpuinfo to pick
# its kernels and crashes on the host's x86 text, so the process gets an
# ARM one (a Cortex-A76, the Raspberry Pi 5's core) in a private mount
# namespace, which needs root (cross/README.md).
if [[ $(id -u) -ne 0 ]]; then
    echo "check-package: not root; skipped the aarch64 engine under qemu"
    exit 0
fi
root="$scratch/arm64"
sed "s|\"/usr/|\"$root/usr/|" "$root/etc/facegate/facegate.toml" >"$scratch/arm64.toml"
cat >"$scratch/cpuinfo" <<'TXT'
processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x4
CPU part	: 0xd0b
CPU revision	: 1
TXT
lfw="$scratch/lfw"
mkdir -p "$lfw/Obama" "$lfw/Biden"
photos="$artifacts/testdata"
cp "$photos/obama.jpg" "$lfw/Obama/Obama_0001.jpg"
cp "$photos/obama2.jpg" "$lfw/Obama/Obama_0002.jpg"
cp "$photos/obama3.jpg" "$lfw/Obama/Obama_0003.jpg"
cp "$photos/biden.jpg" "$lfw/Biden/Biden_0001.jpg"
printf '2\t1\nObama\t1\t2\nObama\t1\tBiden\t1\nObama\t2\t3\nObama\t3\tBiden\t1\n' >"$scratch/pairs.txt"
report="$(unshare -m sh -c "mount --bind '$scratch/cpuinfo' /proc/cpuinfo && exec \
    qemu-aarch64-static -cpu cortex-a76 -L /usr/aarch64-linux-gnu '$root/usr/bin/facegate' \
    bench --config '$scratch/arm64.toml' lfw --images '$lfw' --pairs '$scratch/pairs.txt'")"
grep -q "detection failures: 0 of 4 images" <<<"$report" || fail "aarch64 bench lfw: $report"
echo "check-package: aarch64 engine under qemu: $(head -n 1 <<<"$report")"
