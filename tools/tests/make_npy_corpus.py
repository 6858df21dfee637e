#!/usr/bin/env python3
"""Writes the .npy corpus of tests/npy-corpus/ (no numpy needed).

good-*:  valid files the reader must accept (they also seed the fuzzer);
bad-*:   malformed files the reader must reject with one error line;
wrong-*: valid .npy files that are not a usable trace (dtype, rank, M = 0).
"""
import os
import struct
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "tests", "npy-corpus")
os.makedirs(out, exist_ok=True)


def header(text, version=1, pad=True):
    body = text.encode("latin-1")
    pre = 10 if version == 1 else 12
    if pad:
        body += b" " * ((64 - (pre + len(body) + 1) % 64) % 64) + b"\n"
    size = struct.pack("<H", len(body)) if version == 1 else struct.pack("<I", len(body))
    return b"\x93NUMPY" + bytes([version, 0]) + size + body


def npy(descr, shape, data, fortran="False", version=1):
    shape_txt = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    return header("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_txt), version) + data


def floats(n, fmt="<f", start=0.25):
    return b"".join(struct.pack(fmt, start * ((i * 7) % 11 - 5)) for i in range(n))


files = {
    # valid
    "good-f32-2x3x4": npy("<f4", (2, 3, 4), floats(24)),
    "good-f64-2x3x4": npy("<f8", (2, 3, 4), floats(24, "<d")),
    "good-f16-2x3x4": npy("<f2", (2, 3, 4), floats(24, "<e")),
    "good-v2-f32-3x4": npy("<f4", (3, 4), floats(12), version=2),
    "good-empty-0x3x4": npy("<f4", (0, 3, 4), b""),
    "good-nan-logits": npy("<f4", (1, 2, 4), floats(3) + struct.pack("<f", float("nan")) + floats(4)),
    # malformed
    "bad-empty": b"",
    "bad-magic": b"\x93NUMPZ" + npy("<f4", (2,), floats(2))[6:],
    "bad-version": b"\x93NUMPY\x04\x00" + npy("<f4", (2,), floats(2))[8:],
    "bad-preamble-short": b"\x93NUMPY\x01\x00\x76",
    "bad-header-truncated": npy("<f4", (2, 3, 4), floats(24))[:40],
    "bad-header-len-absurd": b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{'descr': '<f4'",
    "bad-header-not-dict": header("[1, 2, 3]") + floats(2),
    "bad-header-missing-shape": header("{'descr': '<f4', 'fortran_order': False, }") + floats(2),
    "bad-header-extra-key": header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }") + floats(2),
    "bad-header-dup-key": header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }")
    + floats(2),
    "bad-header-unterminated": header("{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }") + floats(2),
    "bad-header-nul": header("{'descr': '<f4', 'fortran_order': False,\0 'shape': (2,), }") + floats(2),
    "bad-header-trailing": header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk") + floats(2),
    "bad-header-newline-key": header("{'de\nscr': '<f4', 'fortran_order': False, 'shape': (2,), }") + floats(2),
    "bad-bool": npy("<f4", (2,), floats(2), fortran="Maybe"),
    "bad-fortran-order": npy("<f4", (2, 3), floats(6), fortran="True"),
    "bad-dtype-unknown": npy("<c8", (2,), floats(4)),
    "bad-dtype-object": npy("|O", (2,), b"\0" * 16),
    "bad-dtype-big-endian": npy(">f4", (2,), floats(2, ">f")),
    "bad-dtype-structured": header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }") + floats(2),
    "bad-shape-absurd": npy("<f4", (1000000000, 1000000, 1000), floats(24)),
    "bad-shape-large-truncated": npy("<f4", (1000000, 1000000), floats(16)),
    "bad-shape-overflow": npy("<f4", (4294967296, 4294967296, 4294967296), floats(4)),
    "bad-shape-huge-dim": npy("<f4", (9223372036854775807,), floats(4)),
    "bad-shape-negative": npy("<f4", (-1, 4), floats(4)),
    "bad-shape-float": header("{'descr': '<f4', 'fortran_order': False, 'shape': (2.5, 3), }") + floats(8),
    "bad-shape-too-many-dims": npy("<f4", (1,) * 33, floats(1)),
    "bad-data-truncated": npy("<f4", (2, 3, 4), floats(24)[:50]),
    "bad-data-trailing": npy("<f4", (2, 3, 4), floats(24) + b"\0\0\0"),
    # valid .npy, unusable as a trace
    "wrong-dtype-i4": npy("<i4", (2, 3, 4), b"\1\0\0\0" * 24),
    "wrong-f64-beyond-f32": npy("<f8", (2, 3, 4), floats(23, "<d") + struct.pack("<d", 1e300)),
    "wrong-rank-1": npy("<f4", (4,), floats(4)),
    "wrong-rank-4": npy("<f4", (1, 2, 3, 4), floats(24)),
    "wrong-zero-experts": npy("<f4", (2, 3, 0), b""),
}
for name, data in files.items():
    with open(os.path.join(out, name + ".npy"), "wb") as f:
        f.write(data)
print("wrote %d files to %s" % (len(files), out))
