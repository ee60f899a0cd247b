#!/usr/bin/env python3
"""The door loop with one camera and with two (docs/BENCHMARKS.md, "Two
cameras on one daemon").

Run from the repository root, after `cargo build --release`, with the
artifacts fetched (`scripts/fetch-artifacts.sh`):
  scripts/bench-cameras.py [SECONDS] [FPS]
Each camera replays the same scene at FPS (default 10) for SECONDS (default
60): face_recognition's photos of Obama (enrolled from another photo) and
Biden (a stranger), each shown for two seconds, with an empty hall between.
The daemon runs once with one camera, then once with two on two doors; per
camera it reports the frames taken in, processed and dropped (the loop
takes the newest frame only) and the opens, with the daemon's
frame-to-decision percentiles, from GET /api/facegate/v1/Status. Fairness
shows in the two cameras' processed frames; what the second camera costs
the first in its processed frames and latency against the one-camera run.
The daemon is $FACEGATE_BINARY, else target/release/facegate.
"""
import base64, json, os, shutil, signal, subprocess, sys, tempfile, time
from benchlib import free_port, log, request

BINARY = os.environ.get("FACEGATE_BINARY") or "target/release/facegate"
ARTIFACTS = os.path.abspath("artifacts")
PHOTOS = os.path.join(ARTIFACTS, "testdata")


def scene(folder, frames, fps):
    """`frames` frames: two seconds each of Obama, nobody, Biden, nobody,
    over again. The empty hall is a grey JPEG made by ffmpeg."""
    os.makedirs(folder)
    blank = os.path.join(folder, "blank.jpeg")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "color=c=gray:s=640x480", "-frames:v", "1", blank], check=True)
    cycle = ["obama2.jpg", None, "biden.jpg", None]
    for i in range(frames):
        shown = cycle[(i // (2 * fps)) % len(cycle)]
        source = os.path.join(PHOTOS, shown) if shown else blank
        shutil.copy(source, os.path.join(folder, f"{i:05d}.jpg"))
    os.remove(blank)


class Daemon:
    """The release daemon on a fresh port, with `tables` in its config."""

    def __init__(self, data, tables=""):
        self.base = f"http://127.0.0.1:{free_port()}"
        config = os.path.join(data, "facegate.toml")
        with open(config, "w") as f:
            f.write(f'[server]\nlisten = "{self.base[7:]}"\n'
                    f'[engine]\nmodel_dir = "{ARTIFACTS}/models"\n'
                    f'runtime_library = "{ARTIFACTS}/onnxruntime/libonnxruntime.so"\n'
                    + tables)
        self.process = subprocess.Popen(
            [BINARY, "serve", "--config", config, "--data-dir", data],
            stderr=open(os.path.join(data, "log"), "a"))
        deadline = time.time() + 60
        while not self.answers():
            if time.time() > deadline:
                sys.exit("the daemon did not start: see " + os.path.join(data, "log"))
            time.sleep(0.2)

    def answers(self):
        try:
            return request(self.base, "GET", "/api/v1/Version")[0] == 200
        except OSError:
            return False

    def call(self, method, path, body=None):
        status, reply = request(self.base, method, path, body)
        assert status < 300, (path, status, reply)
        return json.loads(reply) if reply else None

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def enrolled_data_dir(workdir):
    """A data directory where Obama is enrolled, as the tests enrol."""
    data = tempfile.mkdtemp(dir=workdir)
    daemon = Daemon(data)
    try:
        daemon.call("PUT", "/api/v1/Watchlists",
                    {"id": "staff", "displayName": "staff", "fullName": "staff"})
        with open(os.path.join(PHOTOS, "obama.jpg"), "rb") as f:
            photo = base64.b64encode(f.read()).decode()
        daemon.call("POST", "/api/v1/WatchlistMembers/Register",
                    {"id": "obama", "images": [{"data": photo}], "watchlistIds": ["staff"]})
    finally:
        daemon.stop()
    return data


def play(cameras, scenes, fps, workdir):
    """The status once every camera of a daemon with `cameras` played its
    scene to the end."""
    tables = "[edge]\n" + "".join(
        f'[[camera]]\nsource = "replay:{scenes[i]}@{fps}"\n'
        f'stream_id = "0b7f0e8a-0000-4000-8000-{i + 1:012d}"\nrelay = "fake"\n'
        for i in range(cameras))
    daemon = Daemon(enrolled_data_dir(workdir), tables)
    try:
        while True:
            status = daemon.call("GET", "/api/facegate/v1/Status")
            if all(c["camera"]["state"] == "ended" for c in status["cameras"]):
                time.sleep(2)  # the last frames' decisions
                return daemon.call("GET", "/api/facegate/v1/Status")
            time.sleep(0.5)
    finally:
        daemon.stop()


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    fps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
               if line.startswith("model name"))
    print(f"machine: {os.cpu_count()} cores, {cpu}")
    with tempfile.TemporaryDirectory() as workdir:
        frames = int(seconds * fps)
        scenes = [os.path.join(workdir, f"scene{i}") for i in range(2)]
        for folder in scenes:
            scene(folder, frames, fps)
        print(f"each camera: {frames} frames at {fps} fps")
        print("| cameras | camera | frames in | processed | dropped | opens "
              "| frame to decision p50 ms | p99 ms |")
        print("|---|---|---|---|---|---|---|---|")
        for cameras in (1, 2):
            log(f"{cameras} camera(s)")
            status = play(cameras, scenes, fps, workdir)
            for i, camera in enumerate(status["cameras"]):
                print(f"| {cameras} | {i + 1} | {camera['framesIn']} "
                      f"| {camera['framesProcessed']} | {camera['framesDropped']} "
                      f"| {camera['opens']} | {status['frameToDecisionP50Ms']:.0f} "
                      f"| {status['frameToDecisionP99Ms']:.0f} |")


if __name__ == "__main__":
    main()
