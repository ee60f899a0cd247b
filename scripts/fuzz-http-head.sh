#!/usr/bin/env bash
# Bounded-time fuzzing of the patched tiny_http's request heads
# (docs/BENCHMARKS.md, "The HTTP layer under a connection flood"); not part
# of scripts/test.sh.
#   scripts/fuzz-http-head.sh [SECONDS] [TARGET...]
# SECONDS (default 300) is shared evenly by the targets (default: head
# poller) of vendor/tiny_http/fuzz:
#   head    head::parse on any bytes, with limits from the input;
#   poller  bytes in up to three writes into a real Server on a Unix socket.
# Runs cargo fuzz (installed from crates.io when missing) on the stable
# toolchain with RUSTC_BOOTSTRAP=1, AddressSanitizer and debug assertions.
# Exits non-zero when a target crashes, panics or hangs; the input is then
# in vendor/tiny_http/fuzz/artifacts/TARGET/. The corpus is kept in
# vendor/tiny_http/fuzz/corpus/TARGET/ between runs (both ignored by git).
set -euo pipefail
cd "$(dirname "$0")/../vendor/tiny_http/fuzz"
seconds="${1:-300}"
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(head poller)
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
each=$(( seconds / ${#targets[@]} ))
(( each > 0 )) || each=1

seed() {  # a few well-formed and malformed heads to start from
    local dir=$1 prefix=$2
    mkdir -p "$dir"
    [[ -z "$(ls -A "$dir")" ]] || return 0
    local i=0 head
    for head in \
        'GET / HTTP/1.1\r\nHost: x\r\n\r\n' \
        'POST /api/v1/Watchlists HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' \
        'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' \
        'PUT /a?b=c HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc' \
        'GET / HTTP/1.1\r\nContent-Length: 1, 1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' \
        '\r\n\r\nGET / HTTP/1.1\r\nX-A: b\r\nConnection: close, upgrade\r\n\r\nGET / HTTP/1.1\r\n\r\n' \
        'GET / HTTP/2.0\r\n\r\n'; do
        printf "$prefix$head" >"$dir/seed-$i"
        i=$((i + 1))
    done
}

status=0
for target in "${targets[@]}"; do
    case "$target" in
        head) seed corpus/head '\x10\x02\x00\x00' ;;
        poller) seed corpus/poller '\x40\xa0' ;;
    esac
    log="target/fuzz-$target.log"
    mkdir -p target
    echo "fuzzing $target for $each s (log: vendor/tiny_http/fuzz/$log)"
    if cargo fuzz run --debug-assertions "$target" "corpus/$target" -- \
        -max_total_time="$each" -timeout=10 -max_len=4096 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|REDUCE|NEW|INITED)' "$log" | tail -1 | grep -oE 'cov: [0-9]+' || true)
    echo "$target: $result, ${runs:-?} executions in $each s, ${cov:-cov: ?}," \
         "corpus $(ls corpus/"$target" | wc -l) inputs"
    if [[ $result == FAILED ]]; then
        grep -E 'panicked|ERROR|SUMMARY|Test unit written|Crash|deadly' "$log" | head -20 || true
        tail -5 "$log"
    fi
done
exit $status
