#!/usr/bin/env python3
"""Zero subnormal float32 weights in an ONNX model, in place, stdlib only.

Walks the protobuf wire format directly (no `onnx` package needed):

  ModelProto.graph(7) -> GraphProto
    .initializer(5)          TensorProto
    .node(1) -> NodeProto.attribute(5) -> AttributeProto
        .t(5) / .tensors(10)  TensorProto   (Constant nodes etc.)
        .g(6) / .graphs(11)   GraphProto    (If/Loop/Scan bodies, recursed)
  TensorProto: data_type(2) == 1 (FLOAT) with
        raw_data(9)    little-endian float32 bytes, or
        float_data(4)  packed (wire type 2) or unpacked fixed32 (wire type 5)

A float32 is subnormal when its exponent bits are all 0 and its mantissa is
non-zero. Each such 4-byte word is overwritten with 0x00000000 (+0.0). Byte
lengths never change, so the file is patched at fixed offsets and every
protobuf length prefix stays valid.

Usage: flush_subnormals.py [--dry-run] MODEL.onnx [MODEL.onnx ...]
Prints "<file>: flushed N subnormal float32 values (of M float32 values)".
Re-running on an already flushed file reports 0 and leaves it byte-identical.
"""

import os
import sys
import tempfile
from array import array

FLOAT = 1  # TensorProto.DataType.FLOAT


class WireError(ValueError):
    pass


def read_varint(buf, pos, end):
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def fields(buf, start, end):
    """Yield (field_number, wire_type, value, value_start, value_end).

    For wire type 0 value is the int; for 2 the payload is buf[value_start:value_end];
    for 1/5 the fixed-width payload likewise.
    """
    pos = start
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        field, wt = key >> 3, key & 7
        if wt == 0:
            val, npos = read_varint(buf, pos, end)
            yield field, wt, val, pos, npos
            pos = npos
        elif wt == 1:
            yield field, wt, None, pos, pos + 8
            pos += 8
        elif wt == 2:
            ln, pos = read_varint(buf, pos, end)
            if pos + ln > end:
                raise WireError("length-delimited field overruns its message")
            yield field, wt, None, pos, pos + ln
            pos += ln
        elif wt == 5:
            yield field, wt, None, pos, pos + 4
            pos += 4
        else:
            raise WireError("unsupported wire type %d at offset %d" % (wt, pos))
    if pos != end:
        raise WireError("message overruns its bounds")


def tensor_float_spans(buf, start, end, out):
    """Append (offset, nbytes) spans holding float32 payload of one TensorProto."""
    data_type = None
    spans = []
    for f, wt, val, s, e in fields(buf, start, end):
        if f == 2 and wt == 0:
            data_type = val
        elif f == 9 and wt == 2:  # raw_data
            spans.append((s, e - s))
        elif f == 4 and wt == 2:  # float_data, packed
            spans.append((s, e - s))
        elif f == 4 and wt == 5:  # float_data, unpacked
            spans.append((s, 4))
    if data_type == FLOAT:
        for s, n in spans:
            if n % 4:
                raise WireError("float payload of %d bytes is not a multiple of 4" % n)
        out.extend(spans)


def graph_float_spans(buf, start, end, out):
    for f, wt, _, s, e in fields(buf, start, end):
        if wt != 2:
            continue
        if f == 5:  # initializer
            tensor_float_spans(buf, s, e, out)
        elif f == 1:  # node
            for nf, nwt, _, ns, ne in fields(buf, s, e):
                if nf == 5 and nwt == 2:  # attribute
                    attribute_float_spans(buf, ns, ne, out)


def attribute_float_spans(buf, start, end, out):
    for f, wt, _, s, e in fields(buf, start, end):
        if wt != 2:
            continue
        if f in (5, 10):  # t, tensors
            tensor_float_spans(buf, s, e, out)
        elif f in (6, 11):  # g, graphs
            graph_float_spans(buf, s, e, out)


def model_float_spans(buf):
    out = []
    seen_graph = False
    for f, wt, _, s, e in fields(buf, 0, len(buf)):
        if f == 7 and wt == 2:
            seen_graph = True
            graph_float_spans(buf, s, e, out)
    if not seen_graph:
        raise WireError("no ModelProto.graph field: not an ONNX model?")
    return out


def flush(buf):
    """Zero subnormal float32 words in bytearray buf. Returns (flushed, total)."""
    flushed = 0
    total = 0
    for off, n in model_float_spans(buf):
        words = array("I")
        words.frombytes(bytes(buf[off:off + n]))
        if sys.byteorder != "little":
            words.byteswap()
        total += len(words)
        for i, w in enumerate(words):
            if w & 0x7F800000 == 0 and w & 0x007FFFFF:
                buf[off + 4 * i:off + 4 * i + 4] = b"\0\0\0\0"
                flushed += 1
    return flushed, total


def main(argv):
    dry = False
    paths = []
    for a in argv:
        if a == "--dry-run":
            dry = True
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            paths.append(a)
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    for path in paths:
        with open(path, "rb") as fh:
            buf = bytearray(fh.read())
        size = len(buf)
        try:
            flushed, total = flush(buf)
        except WireError as exc:
            print("%s: cannot parse ONNX protobuf: %s" % (path, exc), file=sys.stderr)
            return 1
        assert len(buf) == size
        if flushed and not dry:
            d = os.path.dirname(os.path.abspath(path))
            fd, tmp = tempfile.mkstemp(dir=d, prefix=".flush-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(buf)
                os.chmod(tmp, os.stat(path).st_mode & 0o777)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        print("%s: %s %d subnormal float32 values (of %d float32 values)"
              % (path, "found" if dry else "flushed", flushed, total))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
