#!/usr/bin/env python3
"""Makes the int8 (QDQ) variants of the face networks with ONNX Runtime's own
quantization tool, from the pinned float32 files and the committed
calibration ranges, and checks them against models/manifest.toml.

  scripts/quantize.py [--print] [DEST]
      DEST defaults to $FACEGATE_ARTIFACTS, else <repo>/artifacts. Writes
      DEST/models/NAME_int8.onnx for every [[quantized]] entry whose file is
      missing or wrong, then checks each against its pinned sha256 (exit 1
      on a mismatch). --print prints the sha256s instead of checking them.

  scripts/quantize.py calibrate INPUTS [DEST]
      Measures the activation ranges again, from the network inputs that
      `facegate bench calibration-inputs` recorded in INPUTS (NAME.f32, raw
      float32), and writes them to models/calibration/NAME.json (ONNX
      Runtime's calibration cache). Done once, on the tuning part of
      LFW-dev; models/README.md says how. The ranges are committed, so
      making the files needs no photos.

Runs in the venv that scripts/setup.sh makes (target/quantize-venv), with
the [quantizer] python_packages of the manifest.
"""

import hashlib
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter
import onnxruntime
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    sys.exit("quantize.py: needs Python >= 3.11 (tomllib)")

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "models" / "manifest.toml"
# Per-channel QuantizeLinear needs opset 13; the float32 files are opset 9.
OPSET = 13


def log(message):
    print("[quantize] %s" % message, flush=True)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class RecordedInputs(CalibrationDataReader):
    """The inputs `facegate bench calibration-inputs` recorded, one by one."""

    def __init__(self, path, shape):
        self.data = np.fromfile(path, dtype="<f4").reshape([-1] + shape[1:])
        self.next = 0

    def __len__(self):
        return len(self.data)

    def get_next(self):
        if self.next >= len(self.data):
            return None
        self.next += 1
        return {"input": self.data[self.next - 1:self.next]}


def prepare(source, work):
    """Opset 13, then ONNX Runtime's recommended pre-processing (shape
    inference, batch norms folded into convolutions)."""
    model = onnx.load(source)
    # fr_age lists its weights as graph inputs too, which keeps ONNX Runtime
    # from folding them (its own remove_initializer_from_input tool does this).
    weights = {init.name for init in model.graph.initializer}
    kept = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    upgraded = work / "upgraded.onnx"
    onnx.save(onnx.version_converter.convert_version(model, OPSET), upgraded)
    prepared = work / "prepared.onnx"
    # Fixed shapes: ONNX shape inference suffices (symbolic needs sympy).
    quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
    return prepared


def quantize(source, target, entry, reader=None):
    """The one quantizer call: with a reader it measures the ranges and
    writes the calibration file; without one it reads them from it."""
    cache = REPO / entry["calibration"]
    with tempfile.TemporaryDirectory(prefix="facegate-quantize.") as work:
        prepared = prepare(source, Path(work))
        quantize_static(
            str(prepared),
            str(target),
            calibration_data_reader=reader,
            quant_format=QuantFormat.QDQ,
            per_channel=entry["per_channel"],
            # uint8 activations and int8 weights: ONNX Runtime's advice for
            # x86 CPUs; no reduced range on CPUs with VNNI.
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            reduce_range=False,
            calibrate_method=CalibrationMethod[entry.get("calibrate_method", "MinMax")],
            extra_options={"CalibPercentile": entry["percentile"]} if "percentile" in entry else {},
            nodes_to_exclude=entry.get("keep_float", []),
            calibration_cache_path=str(cache),
        )


def entries(manifest):
    models = {m["name"]: m for m in manifest["models"]}
    for entry in manifest["quantized"]:
        yield entry, models[entry["name"]]


def make(manifest, dest, print_only):
    models = dest / "models"
    bad = 0
    for entry, fp32 in entries(manifest):
        source, target = models / fp32["file"], models / entry["file"]
        if not source.is_file() or sha256(source) != fp32["sha256"]:
            sys.exit("quantize.py: %s is missing or wrong; run scripts/fetch-artifacts.sh" % source)
        if print_only or not target.is_file() or sha256(target) != entry["sha256"]:
            log("quantizing %s -> %s" % (fp32["file"], entry["file"]))
            staged = target.with_name(".%s.staging" % target.name)
            quantize(source, staged, entry)
            os.replace(staged, target)
        actual = sha256(target)
        if print_only:
            print("%s %s" % (entry["file"], actual))
        elif actual != entry["sha256"]:
            bad += 1
            log("MISMATCH %s: sha256 %s, pinned %s" % (target, actual, entry["sha256"]))
        else:
            log("%s ok (sha256 %s)" % (entry["file"], actual))
    return 1 if bad else 0


def calibrate(manifest, inputs, dest):
    for entry, fp32 in entries(manifest):
        cache = REPO / entry["calibration"]
        cache.unlink(missing_ok=True)  # measure again rather than read
        reader = RecordedInputs(inputs / ("%s.f32" % fp32["name"]), fp32["input"]["shape"])
        log("calibrating %s on %d recorded inputs" % (fp32["name"], len(reader)))
        with tempfile.TemporaryDirectory(prefix="facegate-quantize.") as work:
            quantize(dest / "models" / fp32["file"], Path(work) / "out.onnx", entry, reader)
        log("  wrote %s" % cache.relative_to(REPO))
    return 0


def main(argv):
    onnxruntime.set_default_logger_severity(3)  # errors only: the fp32 files' warnings are known
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's advice, taken (see prepare)
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = [a for a in argv[1:] if a.startswith("--")]
    if any(f not in ("--print",) for f in flags):
        print(__doc__, file=sys.stderr)
        return 2
    with open(MANIFEST, "rb") as fh:
        manifest = tomllib.load(fh)
    default_dest = Path(os.environ.get("FACEGATE_ARTIFACTS", REPO / "artifacts"))
    if args[:1] == ["calibrate"] and len(args) in (2, 3):
        dest = Path(args[2]) if len(args) == 3 else default_dest
        return calibrate(manifest, Path(args[1]), dest)
    if len(args) <= 1 and args[:1] != ["calibrate"]:
        dest = Path(args[0]) if args else default_dest
        return make(manifest, dest, "--print" in flags)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
