#!/usr/bin/env python3
"""Memory of the idle daemon with many enrolled faces (docs/BENCHMARKS.md,
"Memory"), through the REST API as a user enrols.

Run from the repository root, after `cargo build --release`:
  scripts/measure-rss.py enrol   PRECISION DATADIR N  register N members (one photo each), stop
  scripts/measure-rss.py measure PRECISION DATADIR    start; VmRSS 2 s after start; one Search;
                                                       VmRSS and VmHWM 2 s later; stop
  scripts/measure-rss.py boot    PRECISION DATADIR    start until it answers (a face-data migration), stop
PRECISION is fp32 or int8. The daemon is target/release/facegate on port
18098 (RSS_PORT), without gRPC; requests go one at a time. The photos are
the test photos in rotation; RSS_DISTINCT=1 makes each member's file
distinct (a JPEG comment), since the store keeps an image once by content.
"""
import base64, contextlib, os, signal, subprocess, sys, time
from benchlib import distinct_jpeg, log, proc_status as status_fields, request

PORT = int(os.environ.get("RSS_PORT", "18098"))
BASE = f"http://127.0.0.1:{PORT}"
TESTDATA = "artifacts/testdata"
BINARY = "target/release/facegate"
PHOTOS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]
WL_ID = "wl-rss"

def b64(name, tag=None):
    with open(os.path.join(TESTDATA, name), "rb") as f:
        data = f.read()
    # RSS_DISTINCT=1: every member's photo a distinct file, same pixels.
    if tag is not None:
        data = distinct_jpeg(data, tag)
    return base64.b64encode(data).decode()

DISTINCT = os.environ.get("RSS_DISTINCT") == "1"

def req(method, path, body=None, timeout=120):
    return request(BASE, method, path, body, timeout)

def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])

def db_size(datadir):
    p = os.path.join(datadir, "facegate.redb")
    return os.path.getsize(p) if os.path.exists(p) else None

@contextlib.contextmanager
def running(precision, datadir, tag):
    """The daemon on `datadir`, answering, until the block ends."""
    os.makedirs(datadir, exist_ok=True)
    config = datadir.rstrip("/") + ".toml"
    with open(config, "w") as f:
        f.write(f'[engine]\nprecision = "{precision}"\n')
    log_path = datadir.rstrip("/") + f"-{tag}.log"
    logf = open(log_path, "a")
    t0 = time.time()
    p = subprocess.Popen([BINARY, "serve", "--config", config,
                          "--listen", f"127.0.0.1:{PORT}", "--grpc-listen", "",
                          "--data-dir", datadir],
                         stdout=logf, stderr=subprocess.STDOUT)
    # p.pid is the daemon itself (no wrapper), so it is the pid to read and signal
    while True:
        if p.poll() is not None:
            raise SystemExit(f"daemon exited rc={p.returncode}, see {log_path}")
        try:
            s, _ = req("GET", "/api/v1/Version", timeout=5)
            if s == 200:
                break
        except Exception:
            pass
        time.sleep(0.5)
    log(f"[{tag}] daemon pid {p.pid} answers after {time.time()-t0:.1f} s")
    try:
        yield p
    finally:
        os.kill(p.pid, signal.SIGTERM)  # only our own pid
        rc = p.wait(timeout=60)
        log(f"[{tag}] daemon pid {p.pid} stopped rc={rc}")

def enrol(precision, datadir, n):
    tag = f"{precision}-{os.path.basename(datadir)}-enrol"
    with running(precision, datadir, tag) as p:
        s, b = req("PUT", "/api/v1/Watchlists",
                   {"id": WL_ID, "displayName": "rss", "fullName": "rss", "threshold": 40})
        log(f"[{tag}] upsert watchlist -> {s}")
        imgs = [b64(x) for x in PHOTOS]
        fails = 0
        t0 = time.time()
        for i in range(1, n + 1):
            img = (b64(PHOTOS[(i - 1) % len(PHOTOS)], f"member m{i:05d}") if DISTINCT
                   else imgs[(i - 1) % len(imgs)])
            body = {"id": f"m{i:05d}", "images": [{"data": img}],
                    "watchlistIds": [WL_ID]}
            try:
                s, b = req("POST", "/api/v1/WatchlistMembers/Register", body)
            except Exception as e:
                s, b = None, str(e).encode()
            if s != 201:
                fails += 1
                if fails <= 20:
                    log(f"[{tag}] m{i:05d} -> {s} {b[:300]!r}")
            if i % 500 == 0 or i == n:
                el = time.time() - t0
                log(f"[{tag}] {i}/{n} registered, {fails} failures, {el:.0f} s "
                    f"({el/i*1000:.0f} ms/req), load {loadavg()}, {status_fields(p.pid)}")
        log(f"[{tag}] ENROL DONE n={n} failures={fails} time={time.time()-t0:.1f} s "
            f"db={db_size(datadir)}")

def measure(precision, datadir):
    tag = f"{precision}-{os.path.basename(datadir)}-measure"
    with running(precision, datadir, tag) as p:
        time.sleep(2)
        after_start = status_fields(p.pid)
        log(f"[{tag}] after start (+2 s): {after_start} load {loadavg()}")
        body = {"image": {"data": b64("obama2.jpg")}, "watchlistIds": [WL_ID],
                "threshold": 40, "maxResultCount": 1}
        t0 = time.time()
        s, b = req("POST", "/api/v1/Watchlists/Search", body)
        log(f"[{tag}] search -> {s} in {time.time()-t0:.2f} s: {b[:400]!r}")
        time.sleep(2)
        after = status_fields(p.pid)
        log(f"[{tag}] after search (+2 s): {after} load {loadavg()}")
        log(f"[{tag}] RESULT precision={precision} datadir={datadir} "
            f"rss_start={after_start['VmRSS']} rss_search={after['VmRSS']} hwm={after['VmHWM']} "
            f"db_bytes={db_size(datadir)}")

def boot(precision, datadir):
    tag = f"{precision}-{os.path.basename(datadir)}-boot"
    with running(precision, datadir, tag) as p:
        log(f"[{tag}] after boot: {status_fields(p.pid)}")

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "enrol":
        enrol(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "measure":
        measure(sys.argv[2], sys.argv[3])
    elif cmd == "boot":
        boot(sys.argv[2], sys.argv[3])
