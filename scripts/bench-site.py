#!/usr/bin/env python3
"""Site mode through the REST API (docs/BENCHMARKS.md, "Site mode").

Run from the repository root, after `cargo build --release`, with the
pinned nats-server in artifacts/nats (`scripts/setup.sh --test`):
  scripts/bench-site.py [--cluster] enrol PHOTOS N
  scripts/bench-site.py [--cluster] fanout DOORS CHANGES
  scripts/bench-site.py [--cluster] bulklink MEMBERS PER_REQUEST
--cluster: the site is a 3-node JetStream cluster on loopback (each node its
own ports and store) and every door has all three URLs and `replicas = 3`;
enrol then also measures a failover: the server leading the record bucket is
killed, and a write is retried until it is taken.
enrol: PHOTOS is a folder of face photos (searched recursively, e.g.
../shared/data/lfw-dev/images); N members are registered with one photo
each, in rotation, each file made distinct by a JPEG comment (the site keeps
an image once by content). It measures, one request at a time:
  1. N Register calls on door A of a site, while door B follows; then the
     time until B has every face in its search index;
  2. a door C joining the site afterwards: time until it has every face;
  3. the same N Register calls on a standalone daemon;
and reports nats-server's memory.
fanout: DOORS daemons join one site; CHANGES times, a watchlist is written
at one door and every door is polled until it has it: the time until the
last door has it, and nats-server's memory.
bulklink: MEMBERS members are made at door A, then linked to one watchlist
in LinkToWatchlist requests of PER_REQUEST members (after one of all of
them, whose answer it prints: 413 beyond 1,000 in site mode): the time at
A, and until door B has every link.
Everything runs on this machine, in a temporary directory; the daemons are
$FACEGATE_BINARY, else $CARGO_TARGET_DIR/release/facegate, else
target/release/facegate.
"""
import base64, json, os, signal, socket, subprocess, sys, tempfile, time
import urllib.error, urllib.request
from benchlib import distinct_jpeg, free_port, log, proc_status, request as raw_request

BINARY = os.environ.get("FACEGATE_BINARY") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release/facegate")
ARTIFACTS = os.path.abspath("artifacts")
NATS_SERVER = os.path.join(ARTIFACTS, "nats/nats-server")


def free_ports(n):
    """n different free ports (all bound at once, then let go)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def request(port, method, path, body=None):
    code, answer = raw_request(f"http://127.0.0.1:{port}", method, path, body)
    return code, json.loads(answer or b"null") if code < 300 else answer


def status(port):
    return request(port, "GET", "/api/facegate/v1/Status")[1]


class Daemon:
    def __init__(self, root, name, site_config):
        self.port = free_port()
        data = os.path.join(root, name)
        config = os.path.join(root, name + ".toml")
        with open(config, "w") as f:
            f.write(f'[engine]\nmodel_dir = "{ARTIFACTS}/models"\n'
                    f'runtime_library = "{ARTIFACTS}/onnxruntime/libonnxruntime.so"\n'
                    + site_config)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [BINARY, "serve", "--config", config, "--data-dir", data,
             "--listen", f"127.0.0.1:{self.port}", "--grpc-listen", ""],
            stdout=subprocess.DEVNULL, stderr=open(data + ".log", "w"))
        while True:
            try:
                status(self.port)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        self.listening = time.monotonic()

    def has(self, path):
        return request(self.port, "GET", path)[0] == 200

    def wait_linked(self):
        while True:
            site = status(self.port)["site"]
            if site["connected"] and site["followingRecords"]:
                return
            time.sleep(0.05)

    def wait_faces(self, n):
        while status(self.port)["galleryFaces"] < n:
            time.sleep(0.05)
        return time.monotonic()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait()


def photos(folder, n):
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder)
                   for f in fs if f.lower().endswith((".jpg", ".jpeg")))
    for i in range(n):
        with open(files[i % len(files)], "rb") as f:
            yield i, base64.b64encode(distinct_jpeg(f.read(), f"member {i}")).decode()


def register_all(door, folder, n):
    """Registers n members at door; returns (seconds, members registered)."""
    body = {"id": "staff", "displayName": "Staff", "fullName": "Staff"}
    code, answer = request(door.port, "PUT", "/api/v1/Watchlists", body)
    assert code == 200, answer
    started, registered = time.monotonic(), 0
    for i, photo in photos(folder, n):
        body = {"id": f"m{i:05}", "images": [{"data": photo}], "watchlistIds": ["staff"]}
        code, answer = request(door.port, "POST", "/api/v1/WatchlistMembers/Register", body)
        if code == 201:
            registered += 1
        elif code != 400:  # a photo without a usable face
            raise SystemExit(f"Register answered {code}: {answer}")
        if (i + 1) % 1000 == 0:
            log(f"  {i + 1} of {n}")
    return time.monotonic() - started, registered


def rss_mib(pid):
    return int(proc_status(pid, ("VmRSS",))["VmRSS"].split()[0]) / 1024


def wait_port(port):
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)


class Site:
    """A nats-server with JetStream in `root`."""

    def __init__(self, root):
        self.port = free_port()
        self.process = subprocess.Popen(
            [NATS_SERVER, "--jetstream", "--addr", "127.0.0.1", "--port", str(self.port),
             "--store_dir", os.path.join(root, "nats")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def config(self, door):
        return (f'[site]\nnats_url = "nats://127.0.0.1:{self.port}"\n'
                f'site_id = "bench"\ndoor_id = "{door}"\n')

    def rss(self):
        return f"nats-server VmRSS {rss_mib(self.process.pid):.0f} MiB"

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait()


class Cluster:
    """Three nats-servers with JetStream in one cluster in `root`; doors get
    all three URLs and replicas = 3."""
    SIZE = 3

    def __init__(self, root):
        ports = free_ports(3 * self.SIZE)
        self.ports, routes, self.monitors = (ports[k * self.SIZE:(k + 1) * self.SIZE]
                                             for k in range(3))
        self.configs, self.processes = [], [None] * self.SIZE
        for i in range(self.SIZE):
            others = ", ".join(f'"nats-route://127.0.0.1:{routes[o]}"'
                               for o in range(self.SIZE) if o != i)
            path = os.path.join(root, f"n{i}.conf")
            with open(path, "w") as f:
                f.write(f'server_name: "n{i}"\nlisten: "127.0.0.1:{self.ports[i]}"\n'
                        f'http: "127.0.0.1:{self.monitors[i]}"\n'
                        f'jetstream {{\n  store_dir: "{os.path.join(root, f"n{i}")}"\n}}\n'
                        f'cluster {{\n  name: "bench"\n  listen: "127.0.0.1:{routes[i]}"\n'
                        f'  routes: [{others}]\n}}\n')
            self.configs.append(path)
        started = time.monotonic()
        for i in range(self.SIZE):
            self.start(i)
        self.wait_meta_leader()
        log(f"3-node cluster: JetStream meta leader elected "
            f"{time.monotonic() - started:.1f} s after the first start")

    def start(self, i):
        self.processes[i] = subprocess.Popen(
            [NATS_SERVER, "--config", self.configs[i]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.ports[i])

    def jsz(self, i, query=""):
        url = f"http://127.0.0.1:{self.monitors[i]}/jsz{query}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
            return None

    def running(self):
        return [i for i, p in enumerate(self.processes) if p is not None]

    def wait_meta_leader(self):
        while not all((self.jsz(i) or {}).get("meta_cluster", {}).get("leader")
                      for i in self.running()):
            time.sleep(0.05)

    def stream_leader(self, stream):
        """The index of the server leading `stream`."""
        for i in self.running():
            jsz = self.jsz(i, "?accounts=true&streams=true") or {}
            for account in jsz.get("account_details", []):
                for detail in account.get("stream_detail", []):
                    if detail.get("name") == stream and detail.get("cluster", {}).get("leader"):
                        return int(detail["cluster"]["leader"].lstrip("n"))
        raise SystemExit(f"no server leads {stream}")

    def kill(self, i):
        self.processes[i].kill()
        self.processes[i].wait()
        self.processes[i] = None

    def config(self, door):
        urls = ",".join(f"nats://127.0.0.1:{port}" for port in self.ports)
        return (f'[site]\nnats_url = "{urls}"\n'
                f'site_id = "bench"\ndoor_id = "{door}"\nreplicas = 3\n')

    def rss(self):
        return "nats-servers VmRSS " + ", ".join(
            f"n{i} {rss_mib(self.processes[i].pid):.0f} MiB" for i in self.running())

    def stop(self):
        for i in self.running():
            self.processes[i].send_signal(signal.SIGTERM)
        for i in self.running():
            self.processes[i].wait()


def failover(site, door):
    """Kills the server leading the record bucket; the time until a write at
    `door` is taken again, and the writes refused meanwhile."""
    down = site.stream_leader("KV_FACEGATE_bench")
    log(f"failover: killing n{down}, which leads KV_FACEGATE_bench")
    site.kill(down)
    started, refused = time.monotonic(), 0
    while True:
        body = {"id": f"after-n{down}-{refused}", "displayName": "W", "fullName": "W"}
        code, answer = request(door.port, "PUT", "/api/v1/Watchlists", body)
        if code == 200:
            break
        if code != 503:
            raise SystemExit(f"a write answered {code}: {answer}")
        refused += 1
        time.sleep(0.05)
    log(f"   a write was taken {time.monotonic() - started:.2f} s after the kill "
        f"({refused} answered 503 before)")
    started = time.monotonic()
    site.start(down)
    site.wait_meta_leader()
    log(f"   n{down} restarted: meta leader known to all {time.monotonic() - started:.2f} s "
        "after its start")


def enrol(root, folder, n, make_site):
    site = make_site(root)
    try:
        a, b = Daemon(root, "a", site.config("a")), Daemon(root, "b", site.config("b"))
        a.wait_linked()
        b.wait_linked()
        log(f"1. registering {n} members at door A of the site (door B follows)")
        seconds, registered = register_all(a, folder, n)
        done = time.monotonic()
        b_all = b.wait_faces(registered)
        log(f"   A: {registered} registered in {seconds:.1f} s = {registered / seconds:.1f}/s")
        log(f"   B: every face searchable {b_all - done:.2f} s after A's last answer "
            f"({b_all - done + seconds:.1f} s from the first Register)")
        log("2. door C joins")
        c = Daemon(root, "c", site.config("c"))
        c_all = c.wait_faces(registered)
        log(f"   C: every face searchable {c_all - c.started:.1f} s after its start "
            f"({c_all - c.listening:.1f} s after it listened)")
        log(f"   {site.rss()}, "
            f"A {rss_mib(a.process.pid):.0f} MiB, "
            f"B {rss_mib(b.process.pid):.0f} MiB, "
            f"C {rss_mib(c.process.pid):.0f} MiB")
        if isinstance(site, Cluster):
            failover(site, a)
        for door in (a, b, c):
            door.stop()
    finally:
        site.stop()
    log(f"3. registering {n} members at a standalone daemon")
    alone = Daemon(root, "alone", "")
    alone_seconds, alone_registered = register_all(alone, folder, n)
    alone.stop()
    log(f"   standalone: {alone_registered} registered in {alone_seconds:.1f} s "
        f"= {alone_registered / alone_seconds:.1f}/s")
    log(f"   site / standalone enrolment rate: "
        f"{(registered / seconds) / (alone_registered / alone_seconds):.2f}")


def fanout(root, doors, changes, make_site):
    site = make_site(root)
    members = []
    try:
        log(f"starting {doors} doors")
        for i in range(doors):
            members.append(Daemon(root, f"door{i:03}", site.config(f"door{i:03}")))
        for door in members:
            door.wait_linked()
        log(f"with {doors} doors linked: {site.rss()}")
        times = []
        for change in range(changes):
            path = f"/api/v1/Watchlists/w{change}"
            body = {"id": f"w{change}", "displayName": "W", "fullName": "W"}
            started = time.monotonic()
            code, answer = request(members[0].port, "PUT", "/api/v1/Watchlists", body)
            assert code == 200, answer
            waiting = list(members)
            while waiting:
                waiting = [door for door in waiting if not door.has(path)]
            times.append(time.monotonic() - started)
        times.sort()
        log(f"one change at every door of {doors}: median {times[len(times) // 2] * 1000:.0f} ms, "
            f"slowest {times[-1] * 1000:.0f} ms ({changes} changes; polled one door at a time)")
        log(f"{site.rss()}; a door's VmRSS {rss_mib(members[-1].process.pid):.0f} MiB")
    finally:
        for door in members:
            door.stop()
        site.stop()


def bulklink(root, members, per_request, make_site):
    """Links `members` members to one watchlist at door A, `per_request` in
    each LinkToWatchlist (a site stores one write of at most 1,000 records
    atomically); the time until door B has them all."""
    site = make_site(root)
    try:
        a, b = Daemon(root, "a", site.config("a")), Daemon(root, "b", site.config("b"))
        a.wait_linked()
        b.wait_linked()
        body = {"id": "staff", "displayName": "Staff", "fullName": "Staff"}
        assert request(a.port, "PUT", "/api/v1/Watchlists", body)[0] == 200
        ids = [f"m{i:05}" for i in range(members)]
        started = time.monotonic()
        for member in ids:
            body = {"id": member, "displayName": member, "fullName": member}
            code, answer = request(a.port, "PUT", "/api/v1/WatchlistMembers", body)
            assert code == 200, answer
        log(f"{members} members created one PUT at a time in {time.monotonic() - started:.1f} s")
        everyone = {"watchlistId": "staff", "watchlistMembersIds": ids}
        code, _ = request(a.port, "POST", "/api/v1/WatchlistMembers/LinkToWatchlist", everyone)
        log(f"one LinkToWatchlist of all {members}: {code}")
        started = time.monotonic()
        for first in range(0, members, per_request):
            body = {"watchlistId": "staff", "watchlistMembersIds": ids[first:first + per_request]}
            code, answer = request(a.port, "POST", "/api/v1/WatchlistMembers/LinkToWatchlist", body)
            assert code == 204, (code, answer)
        linked = time.monotonic()
        log(f"linked in {(members + per_request - 1) // per_request} requests of {per_request}: "
            f"{linked - started:.2f} s at door A")
        path = "/api/v1/Watchlists/staff/WatchlistMembers?PageSize=1&ShowTotalCount=true"
        while request(b.port, "GET", path)[1].get("totalItemsCount", 0) < members:
            time.sleep(0.05)
        log(f"door B has every link {time.monotonic() - linked:.2f} s after A's last answer")
        for door in (a, b):
            door.stop()
    finally:
        site.stop()


def main():
    commands = {
        "enrol": (enrol, str, int),
        "fanout": (fanout, int, int),
        "bulklink": (bulklink, int, int),
    }
    args = sys.argv[1:]
    make_site = Site
    if args[:1] == ["--cluster"]:
        args, make_site = args[1:], Cluster
    if len(args) != 3 or args[0] not in commands:
        raise SystemExit(__doc__)
    if not os.access(NATS_SERVER, os.X_OK):
        raise SystemExit(f"{NATS_SERVER} is missing: run scripts/setup.sh --test")
    run, first, second = commands[args[0]]
    log("machine:", subprocess.run(["sh", "-c", "nproc; grep -m1 'model name' /proc/cpuinfo"],
                                   capture_output=True, text=True).stdout.replace("\n", " "))
    log("nats-server:", subprocess.run([NATS_SERVER, "--version"], capture_output=True,
                                       text=True).stdout.strip(),
        "(3-node cluster, replicas = 3)" if make_site is Cluster else "(one server)")
    with tempfile.TemporaryDirectory() as root:
        run(root, first(args[1]), second(args[2]), make_site)


if __name__ == "__main__":
    main()
