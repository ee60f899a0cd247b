"""What the benchmark scripts share: logging, requests to a daemon, photos
made distinct, a process's memory from /proc, and free ports."""
import json, socket, time, urllib.error, urllib.request


def log(*parts):
    print(time.strftime("%H:%M:%S ") + " ".join(str(p) for p in parts), flush=True)


def request(base, method, path, body=None, timeout=120):
    """(status, body bytes) of one JSON request to the daemon at `base`."""
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(base + path, data=data, method=method,
                               headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(r, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def distinct_jpeg(data, tag):
    """The JPEG with a comment (COM segment) after SOI: a distinct file with
    the same pixels, since the daemon and the site keep an image once by
    content."""
    comment = tag.encode()
    return data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]


def proc_status(pid, fields=("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads")):
    """The named fields of /proc/PID/status, as text."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in fields:
                out[key] = value.strip()
    return out


def free_port():
    """A port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
