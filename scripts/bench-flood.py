#!/usr/bin/env python3
"""The HTTP layer under a connection flood (docs/BENCHMARKS.md, issue 21).

Run from the repository root, after
`cargo build --release -p facegate --bin facegate`:
  scripts/bench-flood.py [--requests N] [--window S] [--interval S] [--idle N]
                         [--slow N] [--stall N] [--stall-key] [--streamers N]
                         [--connect-rate N] [--no-door]
It starts target/release/facegate on loopback with an API key and, unless
--no-door, its door loop on a replay camera (a stranger's photo every 3 s
at 5 fps, between empty frames) and the fake relay, in a temporary
directory, and creates one watchlist member (m1). Then:
  1. idle: three clients at once, each making N (default 300) authorised
     requests, one due every --interval s (default 0.1) and timed from when
     it was due (so a stall counts in every request it delays): GET
     /api/v1/Version and GET /api/v1/WatchlistMembers/m1 each on a
     keep-alive connection, and Version on a new connection each time;
  2. flood: it opens at once --idle (2000) connections that send nothing,
     --slow (200) slowloris ones (a request line, then a header byte every
     5 s), --stall (50) that send a whole POST /api/v1/Watchlists head with
     Content-Length: 5000 and never the body (without the key; with it,
     --stall-key, each stalls again once answered), and --streamers (1)
     clients writing an endless header line as fast as they can;
     --connect-rate paces the attackers' connects (default: all at once).
     Every attacker reconnects when the daemon closes it (the head timeout
     closes the silent and slow ones every 10 s), so the pressure stays on.
     Once they are open, the same requests are measured for --window s
     (default 60);
and every second it samples the daemon's VmRSS, threads and descriptors,
and the door's counters (GET /api/facegate/v1/Status). It prints p50/p99
of each request, idle against flood, and the door's frames and decisions
per second in each phase. The attackers and the sampler run in processes
of their own, so the measuring clients' latency is not the attackers' GIL.
Everything runs on this machine; every loop is bounded in time.
FACEGATE_BINARY overrides the daemon's path.
"""
import argparse, http.client, json, multiprocessing, os, re, resource, selectors
import shutil, signal, socket, struct, subprocess, sys, tempfile, threading, time, zlib
from benchlib import log, proc_status

BINARY = os.environ.get("FACEGATE_BINARY", "target/release/facegate")
ARTIFACTS = os.path.abspath("artifacts")
KEY = "flood-bench-key"
FPS = 5


# --- the daemon -------------------------------------------------------------

def blank_png(path, width=640, height=480):
    """An empty grey hall, as PNG (the standard library has no JPEG encoder)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\x5a" * (3 * width) for _ in range(height))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def scene(root, seconds):
    """A replay folder of `seconds` at FPS: a stranger for 3 frames, then
    12 empty ones (the track is forgotten), the next stranger, and so on.
    Frames are symbolic links to the test photos."""
    folder = os.path.join(root, "scene")
    os.mkdir(folder)
    blank = os.path.join(root, "blank.png")
    blank_png(blank)
    photos = [os.path.join(ARTIFACTS, "testdata", p) for p in ("obama.jpg", "biden.jpg")]
    cycle = [photos[0]] * 3 + [blank] * 12 + [photos[1]] * 3 + [blank] * 12
    for i in range(int(seconds * FPS)):
        source = cycle[i % len(cycle)]
        os.symlink(source, os.path.join(folder, f"{i:06}{os.path.splitext(source)[1]}"))
    return folder


class Daemon:
    def __init__(self, root, door_seconds):
        data = os.path.join(root, "data")
        config = os.path.join(root, "facegate.toml")
        with open(config, "w") as f:
            f.write(f'[server]\napi_key = "{KEY}"\n'
                    f'[engine]\nmodel_dir = "{ARTIFACTS}/models"\n'
                    f'runtime_library = "{ARTIFACTS}/onnxruntime/libonnxruntime.so"\n')
        args = [BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", data,
                "--config", config, "--grpc-listen", ""]
        if door_seconds:
            args += ["--camera", f"replay:{scene(root, door_seconds)}@{FPS}", "--relay", "fake"]
        self.log_path = os.path.join(root, "daemon.log")
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=open(self.log_path, "w"))
        deadline = time.monotonic() + 120
        while True:
            with open(self.log_path) as f:
                found = re.search(r"listening on (\S+)", f.read())
            if found:
                host, port = found.group(1).rsplit(":", 1)
                self.address = (host, int(port))
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                sys.exit("the daemon did not start:\n" + open(self.log_path).read())
            time.sleep(0.05)
        self.pid = self.process.pid

    def backlog(self):
        """The listening socket's backlog, from ss (Send-Q of a listener)."""
        try:
            out = subprocess.run(["ss", "-ltnH", f"sport = :{self.address[1]}"],
                                 capture_output=True, text=True, timeout=10).stdout.split()
            return out[2]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def call(address, method, path, body=None, timeout=30):
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        headers = {"X-Api-Key": KEY, "Content-Type": "application/json"}
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- the measuring client ---------------------------------------------------

ENDPOINTS = [("Version", "/api/v1/Version"), ("WatchlistMembers/m1", "/api/v1/WatchlistMembers/m1")]


def measure(address, pairs, interval):
    """Three clients at once, each making `pairs` requests, one due every
    `interval` s: Version and WatchlistMembers/m1 each on a keep-alive
    connection of its own, and Version on a new connection each time. Each
    request is timed from when it was due, so a stall that delays the ones
    after it counts in every one of them (no coordinated omission); a failed
    request (it reconnects) counts with the time it took. Returns
    {name: [ms]} and the count of failed requests."""
    times = {}
    failures = []
    started = time.monotonic() + 0.05
    headers = {"X-Api-Key": KEY}

    def client(name, path, keep_alive):
        times[name] = []
        keep = None
        for i in range(pairs):
            due = started + i * interval
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            since = time.perf_counter() - max(0.0, time.monotonic() - due)
            try:
                if keep is None:
                    keep = http.client.HTTPConnection(*address, timeout=30)
                keep.request("GET", path, headers=headers)
                response = keep.getresponse()
                response.read()
                assert response.status == 200, response.status
            except (OSError, http.client.HTTPException, AssertionError):
                failures.append(name)
                keep = None
            times[name].append((time.perf_counter() - since) * 1000)
            if not keep_alive and keep is not None:
                keep.close()
                keep = None
        if keep is not None:
            keep.close()

    clients = [threading.Thread(target=client, args=(name, path, True)) for name, path in ENDPOINTS]
    clients.append(threading.Thread(target=client, args=(
        "Version, new connection", "/api/v1/Version", False)))
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    return {name: times[name] for name in [n for n, _ in ENDPOINTS] + ["Version, new connection"]}, \
        len(failures)


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round((len(values) - 1) * q))]


# --- the sampler ------------------------------------------------------------

def sampler(pid, address, path, stop_at):
    """Every second until `stop_at` (or the daemon is gone): the daemon's
    VmRSS (KiB), threads, descriptors, and the door's counters; JSON lines."""
    with open(path, "w") as out:
        while time.time() < stop_at:
            t = time.time()
            try:
                status = proc_status(pid, ("VmRSS", "Threads"))
                fds = len(os.listdir(f"/proc/{pid}/fd"))
            except (FileNotFoundError, ProcessLookupError):
                return
            sample = {"t": t, "rss_kib": int(status["VmRSS"].split()[0]),
                      "threads": int(status["Threads"]), "fds": fds}
            try:
                code, body = call(address, "GET", "/api/facegate/v1/Status", timeout=5)
                if code == 200:
                    s = json.loads(body)
                    sample.update({k: s.get(k) for k in (
                        "framesIn", "framesProcessed", "framesDropped", "opens", "denials")})
                    sample["camera"] = (s.get("camera") or {}).get("state")
            except (OSError, http.client.HTTPException, ValueError):
                sample["status_failed"] = True
            out.write(json.dumps(sample) + "\n")
            out.flush()
            time.sleep(max(0.0, 1.0 - (time.time() - t)))


# --- the attackers ----------------------------------------------------------

def attackers(address, counts, stall_head, stall_again, stop_at, rate, report):
    """Holds counts[kind] connections of each kind open until `stop_at` (a
    shared Value), reconnecting each one the daemon closes. kinds: idle
    (sends nothing), slow (a request line, then one header byte every 5 s), stall (a whole
    head announcing a body that never comes; once answered, with
    `stall_again`, it reconnects and stalls again). `rate`: connects per
    second at most (0: all at once)."""
    selector = selectors.DefaultSelector()
    state = {}  # socket -> [kind, connected, next byte due, bytes sent]
    opened = {kind: 0 for kind in counts}
    closed = {kind: 0 for kind in counts}
    refused = 0
    pending = [kind for kind, n in counts.items() for _ in range(n)]

    def open_one(kind):
        nonlocal refused
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(address)
        if err not in (0, 115):  # EINPROGRESS
            s.close()
            refused += 1
            pending.append(kind)
            return
        state[s] = [kind, False, 0.0, 0]
        selector.register(s, selectors.EVENT_WRITE)
        opened[kind] += 1

    def drop(s):
        kind = state.pop(s)[0]
        selector.unregister(s)
        s.close()
        closed[kind] += 1
        if time.time() < stop_at.value:
            pending.append(kind)

    slow_line = b"X-Slow: " + b"a" * 1000
    most_connected = {kind: 0 for kind in counts}
    next_count = 0.0
    tokens, last = 0.0, time.time()
    while time.time() < stop_at.value:
        if rate:
            now = time.time()
            tokens = min(tokens + (now - last) * rate, max(1.0, rate * 0.02))
            last = now
        if time.time() >= next_count:  # how many have completed their connect
            next_count = time.time() + 1
            for kind in counts:
                n = sum(1 for e in state.values() if e[0] == kind and e[1])
                most_connected[kind] = max(most_connected[kind], n)
        take = len(pending) if not rate else int(tokens)
        batch, pending[:] = pending[:take], pending[take:]
        if rate:
            tokens -= len(batch)
        for kind in batch:
            open_one(kind)
        now = time.time()
        for key, events in selector.select(timeout=0.2):
            s = key.fileobj
            entry = state.get(s)
            if entry is None:
                continue
            kind, connected = entry[0], entry[1]
            if not connected:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    drop(s)
                    continue
                entry[1] = True
                selector.modify(s, selectors.EVENT_READ)
                try:
                    if kind == "slow":
                        s.send(b"GET / HTTP/1.1\r\n")
                        entry[2] = now + 5
                    elif kind == "stall":
                        s.send(stall_head)
                except OSError:
                    drop(s)
                continue
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            # A stalled request that was answered (its body timed out, with
            # the key) frees its worker: stall another one.
            if not data or (kind == "stall" and stall_again):
                drop(s)
        # One more header byte of every slowloris connection that is due.
        for s, entry in list(state.items()):
            if entry[0] == "slow" and entry[1] and entry[2] <= now:
                try:
                    s.send(slow_line[entry[3] % len(slow_line):][:1])
                except OSError:
                    drop(s)
                    continue
                entry[3] += 1
                entry[2] = now + 5
        if pending:
            time.sleep(0.01)
    report.put({"opened": opened, "closed": closed, "connect_failed": refused,
                "most_connected": most_connected,
                "open_at_end": {k: sum(1 for e in state.values() if e[0] == k) for k in counts}})
    for s in list(state):
        s.close()


def streamer(address, stop_at, report):
    """One client writing an endless header line as fast as it can,
    reconnecting whenever the daemon closes it."""
    chunk = b"a" * 65536
    connections, sent = 0, 0
    while time.time() < stop_at.value:
        try:
            with socket.create_connection(address, timeout=5) as s:
                connections += 1
                s.sendall(b"GET /api/v1/Version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ")
                while time.time() < stop_at.value:
                    s.sendall(chunk)
                    sent += len(chunk)
        except OSError:
            time.sleep(0.001)
    report.put({"connections": connections, "bytes": sent})


# --- the run ----------------------------------------------------------------

def listen_overflows():
    """The kernel's count of connections dropped from a full accept queue."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    names, values = lines[0].split(), lines[1].split()
    return int(values[names.index("ListenOverflows")])


def raise_nofile(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            wanted = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


def phase(samples, start, end):
    return [s for s in samples if start <= s["t"] <= end]


def door_rate(samples, key):
    have = [s for s in samples if s.get(key) is not None]
    if len(have) < 2:
        return None, None
    first, last = have[0], have[-1]
    return last[key] - first[key], (last[key] - first[key]) / (last["t"] - first["t"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--window", type=float, default=60)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--stall", type=int, default=50)
    parser.add_argument("--stall-key", action="store_true",
                        help="the stalling POSTs send the API key (an authorised client)")
    parser.add_argument("--streamers", type=int, default=1,
                        help="clients writing an endless header line (0: none)")
    parser.add_argument("--connect-rate", type=float, default=0,
                        help="attackers' connects per second at most (0: all at once)")
    parser.add_argument("--no-door", action="store_true")
    args = parser.parse_args()
    attack_total = args.idle + args.slow + args.stall + args.streamers
    limit = raise_nofile(attack_total + 1024)
    root = tempfile.mkdtemp(prefix="facegate-flood-")
    baseline_seconds = args.requests * args.interval
    ramp_max = 30
    door_seconds = None if args.no_door else 60 + baseline_seconds + ramp_max + args.window + 30
    multiprocessing.set_start_method("fork")
    log(f"machine: {os.cpu_count()} cores; this client's open-file limit {limit}")
    daemon = Daemon(root, door_seconds)
    try:
        run(args, root, daemon, attack_total, baseline_seconds, ramp_max)
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


def run(args, root, daemon, attack_total, baseline_seconds, ramp_max):
    address = daemon.address
    log(f"daemon {daemon.pid} listening on {address[0]}:{address[1]}")
    code, body = call(address, "PUT", "/api/v1/WatchlistMembers",
                      {"id": "m1", "displayName": "M", "fullName": "M"})
    assert code == 200, (code, body)
    samples_path = os.path.join(root, "samples.jsonl")
    end_of_all = time.time() + 30 + baseline_seconds + ramp_max + args.window + 60
    sampling = multiprocessing.Process(target=sampler,
                                       args=(daemon.pid, address, samples_path, end_of_all))
    sampling.start()
    time.sleep(10)  # the door loop warms up; the first samples
    log(f"1. idle: {args.requests} requests of each client, one every {args.interval} s")
    idle_start = time.time()
    idle_times, idle_failures = measure(address, args.requests, args.interval)
    idle_end = time.time()

    stall_head = (b"POST /api/v1/Watchlists HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 5000\r\n"
                  + (f"X-Api-Key: {KEY}\r\n".encode() if args.stall_key else b"") + b"\r\n")
    # The attackers stop at the end of the measuring (or this, at the latest).
    stop_at = multiprocessing.Value("d", time.time() + ramp_max + args.window + 5)
    report = multiprocessing.Queue()
    counts = {"idle": args.idle, "slow": args.slow, "stall": args.stall}
    attack = [multiprocessing.Process(target=attackers,
                                      args=(address, counts, stall_head, args.stall_key, stop_at,
                                            args.connect_rate, report))]
    attack += [multiprocessing.Process(target=streamer, args=(address, stop_at, report))
               for _ in range(args.streamers)]
    overflows = listen_overflows()
    log(f"2. flood: {args.idle} idle, {args.slow} slowloris, {args.stall} stalled bodies"
        f"{' (with the key)' if args.stall_key else ''}, {args.streamers} endless header line(s)")
    flood_open = time.time()
    for p in attack:
        p.start()
    # Until the daemon holds them all (or ramp_max s).
    wanted = attack_total + 16
    while time.time() < flood_open + ramp_max:
        if len(os.listdir(f"/proc/{daemon.pid}/fd")) >= wanted:
            break
        time.sleep(0.2)
    flood_start = time.time()
    log(f"   {len(os.listdir(f'/proc/{daemon.pid}/fd'))} daemon descriptors after "
        f"{flood_start - flood_open:.1f} s; measuring for {args.window} s")
    pairs = int(args.window / args.interval)
    flood_times, flood_failures = measure(address, pairs, args.interval)
    flood_end = time.time()
    stop_at.value = flood_end
    overflows = listen_overflows() - overflows
    results = [report.get(timeout=60) for _ in attack]
    for p in attack:
        p.join(30)
    time.sleep(3)
    sampling.terminate()
    sampling.join()
    with open(samples_path) as f:
        samples = [json.loads(line) for line in f]

    # --- the report
    print()
    print(f"requests (3 clients at once, each one request due every {args.interval} s, "
          f"timed from when it was due; idle {args.requests} each, flood {pairs} each "
          f"over {args.window:.0f} s)")
    print("| request | idle p50 ms | idle p99 ms | flood p50 ms | flood p99 ms | p99 flood/idle |")
    print("|---|---|---|---|---|---|")
    for name in idle_times:
        i50, i99 = percentile(idle_times[name], 0.5), percentile(idle_times[name], 0.99)
        f50, f99 = percentile(flood_times[name], 0.5), percentile(flood_times[name], 0.99)
        print(f"| {name} | {i50:.2f} | {i99:.2f} | {f50:.2f} | {f99:.2f} | {f99 / i99:.1f}x |")
    print(f"failed requests: idle {idle_failures}, flood {flood_failures}; "
          f"flood max {max(max(v) for v in flood_times.values() if v):.1f} ms; "
          f"flood requests over 1 s: {sum(1 for v in flood_times.values() for x in v if x > 1000)}")
    idle_s = phase(samples, idle_start, idle_end)
    flood_s = phase(samples, flood_open, flood_end)
    idle_rss = sorted(s["rss_kib"] for s in idle_s)[len(idle_s) // 2] / 1024
    max_rss = max(s["rss_kib"] for s in flood_s) / 1024
    print()
    print("| daemon | idle | flood (max) | bound |")
    print("|---|---|---|---|")
    print(f"| VmRSS MiB | {idle_rss:.1f} (median) | {max_rss:.1f} (+{max_rss - idle_rss:.1f}) | +50 |")
    print(f"| threads | {max(s['threads'] for s in idle_s)} | "
          f"{max(s['threads'] for s in flood_s)} | - |")
    print(f"| descriptors | {max(s['fds'] for s in idle_s)} | "
          f"{max(s['fds'] for s in flood_s)} | max_connections 4096 (+256 limit) |")
    under = [s["fds"] for s in phase(samples, flood_start, flood_end)]
    print(f"descriptors while measuring: min {min(under)}, median "
          f"{sorted(under)[len(under) // 2]}, max {max(under)}")
    if not args.no_door:
        print()
        print("| door loop | idle | flood |")
        print("|---|---|---|")
        for key in ("framesIn", "framesProcessed", "framesDropped", "denials", "opens"):
            (i_n, i_rate), (f_n, f_rate) = door_rate(idle_s, key), door_rate(
                phase(samples, flood_start, flood_end), key)
            fmt = lambda n, r: "-" if n is None else f"{n} ({r:.2f}/s)"
            print(f"| {key} | {fmt(i_n, i_rate)} | {fmt(f_n, f_rate)} |")
        states = sorted({s.get("camera") for s in flood_s if s.get("camera")})
        failed = sum(1 for s in flood_s if s.get("status_failed"))
        print(f"camera state during the flood: {', '.join(states)}; "
              f"status requests failed: {failed} of {len(flood_s)}")
        timeline = phase(samples, flood_start, flood_end)[::10]
        print("framesProcessed every ~10 s of the flood: "
              + ", ".join(str(s.get("framesProcessed")) for s in timeline))
    print()
    print("attackers:", json.dumps(results))
    print(f"accept queue overflows (TcpExtListenOverflows, whole machine) during the flood: "
          f"{overflows}; the listener's backlog is {daemon.backlog()}")
    log_size = os.path.getsize(daemon.log_path)
    print(f"daemon log: {log_size} bytes; its last lines:")
    with open(daemon.log_path) as f:
        for line in f.readlines()[-5:]:
            print("   ", line.rstrip()[:200])


if __name__ == "__main__":
    main()
