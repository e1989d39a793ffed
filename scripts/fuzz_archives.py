#!/usr/bin/env python3
"""Fuzz edgesdk's reader of its own model archives (``.edgesdk`` / ``.xnor``: ``graph.json`` + ``arrays.npz``).

Seeds (built here, deterministic): the MLPerf Tiny IC and AD models read from ``.tflite`` and written as
archives, an XNOR network (BINARIZE, XNOR conv and fully connected, UNPACK_BITS, RESHAPE) and an AdderNet
network (two EDGESDK_ADDER_CONV_2D). Every mutant is one to three deterministic mutations (seeded by its index):

- JSON-aware: a tensor's shape, dtype, quantization or array key; a node's field (a value of the right type from a
  list of interesting ones, or a value of the wrong JSON type), inputs, outputs or op; a node or tensor renamed to
  something hostile (terminal escapes, newlines, quotes, ``*/``, 2,000 characters); the graph's inputs and
  outputs; node order; a key removed or replaced anywhere; format and version;
- array-aware: an array's bytes, length, dtype or shape; an ``.npy`` header that lies about its shape;
- zip-level: raw bit flips and truncation, a member's declared size or compression method rewritten in the
  central directory, a member renamed, and zip bombs (a member of zeros that inflates to gigabytes).

The two stages are those of ``scripts/fuzz_models.py`` (whose driver this reuses): ``inspect`` on every mutant
(acceptance or an EdgeSDKError, nothing else, within the time limit), then a sample of the accepted ones exported,
built under ASan/UBSan and compared bit for bit with the reference.

Usage: ``python3 scripts/fuzz_archives.py --mutants 2000 --sanitize 100`` (writes
``benchmarks/results/fuzz_archives.json``). ``tests/test_fuzz_models.py`` runs a small slice.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import random
import struct
import sys
import zipfile
import zlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_models as fm  # noqa: E402

REPO = fm.REPO
RESULTS = REPO / "benchmarks" / "results" / "fuzz_archives.json"
SEEDS = ("ad.edgesdk", "adder.edgesdk", "ic.edgesdk", "xnor.xnor")
log = logging.getLogger("fuzz_archives")

JUNK: list[Any] = [None, "", "x", [], {}, [[1]], True, 1.5, -1, 0, 2**31, 2**70, "NaN", {"a": 1}]


# --- seeds -----------------------------------------------------------------------------------------------------
def _xnor_graph() -> Any:
    """int8 (1,6,6,16) -> BINARIZE -> XNOR conv 3x3 SAME (+1 padding) -> XNOR conv 3x3 stride 2 VALID (-1
    padding) -> UNPACK_BITS -> RESHAPE -> BINARIZE -> XNOR fully connected -> UNPACK_BITS (1,10)."""
    from edgesdk.ir import graph as ir
    from edgesdk.ir.binary import Binarize, UnpackBits, XnorConv2D, XnorFullyConnected
    from edgesdk.reference.binary import pack_bits, words_for

    rng = np.random.default_rng(11)
    g = ir.Graph(name="xnor")

    def t(name: str, shape: tuple[int, ...], dtype: str = "int8", q: bool = False, data: Any = None) -> str:
        quant = ir.QuantParams(np.array([0.05]), np.array([3])) if q else None
        return g.add_tensor(ir.Tensor(name, shape, dtype, quant, data)).name

    def thr(n: int, k: int) -> dict[str, Any]:
        return dict(
            threshold=tuple(int(v) for v in rng.integers(-k // 3, k // 3 + 1, n)),
            flip=tuple(bool(v) for v in rng.integers(0, 2, n)),
        )

    def weights(name: str, shape: tuple[int, ...]) -> str:
        return t(
            name,
            (*shape[:-1], words_for(shape[-1])),
            "int32",
            data=pack_bits(rng.integers(0, 2, shape) > 0).view(np.int32),
        )

    x = t("x", (1, 6, 6, 16), q=True)
    g.inputs = [x]
    b0 = t("b0", (1, 6, 6, 4))
    g.nodes.append(Binarize(name="sign0", inputs=[x], outputs=[b0], channels=16, **thr(16, 40)))
    b1 = t("b1", (1, 6, 6, 8))
    w1 = weights("w1", (33, 3, 3, 16))
    g.nodes.append(XnorConv2D(name="xconv1", inputs=[b0, w1], outputs=[b1], in_channels=16, out_channels=33,
                              kernel=(3, 3), stride=(1, 1), padding="SAME", pad_value=1, **thr(33, 144)))  # fmt: skip
    b2 = t("b2", (1, 2, 2, 4))
    w2 = weights("w2", (32, 3, 3, 33))
    g.nodes.append(XnorConv2D(name="xconv2", inputs=[b1, w2], outputs=[b2], in_channels=33, out_channels=32,
                              kernel=(3, 3), stride=(2, 2), padding="VALID", pad_value=-1, **thr(32, 297)))  # fmt: skip
    u = t("u", (1, 2, 2, 32), q=True)
    g.nodes.append(UnpackBits(name="unpack1", inputs=[b2], outputs=[u], channels=32, high=20, low=-14))
    r = t("r", (1, 128), q=True)
    g.nodes.append(ir.Reshape(name="flatten", inputs=[u], outputs=[r], new_shape=(1, 128)))
    b3 = t("b3", (1, 16))
    g.nodes.append(Binarize(name="sign3", inputs=[r], outputs=[b3], channels=128, **thr(128, 30)))
    b4 = t("b4", (1, 4))
    w4 = weights("w4", (10, 128))
    g.nodes.append(XnorFullyConnected(name="xfc", inputs=[b3, w4], outputs=[b4], in_features=128, out_features=10,
                                      **thr(10, 128)))  # fmt: skip
    y = t("y", (1, 10), q=True)
    g.nodes.append(UnpackBits(name="unpack2", inputs=[b4], outputs=[y], channels=10, high=127, low=-127))
    g.outputs = [y]
    return g


def _adder_graph() -> Any:
    """int8 (1,8,8,3) -> adder conv 3x3 SAME + bias + RELU -> adder conv 3x3 stride 2 VALID -> (1,3,3,4)."""
    from edgesdk.ir import graph as ir
    from edgesdk.ir.adder import AdderConv2D

    rng = np.random.default_rng(12)
    g = ir.Graph(name="adder")

    def act(name: str, shape: tuple[int, ...], s: float, zp: int) -> str:
        return g.add_tensor(
            ir.Tensor(name, shape, "int8", ir.QuantParams(np.array([s]), np.array([zp])))
        ).name

    def const(name: str, data: np.ndarray) -> str:
        return g.add_tensor(ir.Tensor(name, data.shape, data.dtype.name, None, data)).name

    x = act("x", (1, 8, 8, 3), 0.02, -5)
    h = act("h", (1, 8, 8, 8), 0.05, -128)
    y = act("y", (1, 3, 3, 4), 0.2, 100)
    w1 = const("w1", rng.integers(-200, 200, (8, 3, 3, 3)).astype(np.int16))
    b1 = const("b1", rng.integers(2000, 6000, 8).astype(np.int32))
    w2 = const("w2", rng.integers(-300, 300, (4, 3, 3, 8)).astype(np.int16))
    g.inputs, g.outputs = [x], [y]
    g.nodes.append(AdderConv2D(name="adder1", inputs=[x, w1, b1], outputs=[h], stride=(1, 1), padding="SAME",
                               activation="RELU", acc_scale=tuple(float(v) for v in rng.uniform(2e-4, 8e-4, 8))))  # fmt: skip
    g.nodes.append(AdderConv2D(name="adder2", inputs=[h, w2, ""], outputs=[y], stride=(2, 2), padding="VALID",
                               acc_scale=tuple(float(v) for v in rng.uniform(5e-4, 2e-3, 4))))  # fmt: skip
    return g


@cache
def seed_archives() -> dict[str, bytes]:
    """The four seed archives, each verified (an unverifiable seed would make the fuzzing meaningless)."""
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.ir.serialize import graph_bytes, load_graph

    graphs = {
        "ic.edgesdk": read_tflite(fm.MODELS / "pretrainedResnet_quant.tflite"),
        "ad.edgesdk": read_tflite(fm.MODELS / "ad01_int8.tflite"),
        "xnor.xnor": _xnor_graph(),
        "adder.edgesdk": _adder_graph(),
    }
    out = {}
    for name, g in graphs.items():
        data = graph_bytes(g)
        load_graph(data)
        out[name] = data
    return out


# --- zip writing ----------------------------------------------------------------------------------------------
def write_zip(members: list[tuple[str, bytes]], deflate: bool = True) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            z.writestr(info, data)
    return out.getvalue()


def raw_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip whose members are given already deflated: (name, raw deflate stream, inflated size, crc32). For
    bombs, whose inflated bytes never exist in memory here."""
    body, central = io.BytesIO(), io.BytesIO()
    for name, stream, size, crc in members:
        n = name.encode()
        off = body.tell()
        body.write(
            struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(stream), size, len(n), 0)
        )
        body.write(n + stream)
        central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0x21,
                crc,
                len(stream),
                size,
                len(n),
                0,
                0,
                0,
                0,
                0,
                off,
            )  # fmt: skip
        )
        central.write(n)
    cd = central.getvalue()
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cd), body.tell(), 0)
    return body.getvalue() + cd + end


def deflated_zeros(prefix: bytes, zeros: int, chunk: int = 1 << 20) -> bytes:
    """A raw deflate stream of ``prefix`` then ``zeros`` zero bytes, made from one compressed chunk repeated (each
    chunk ends in a full flush, so every chunk compresses to the same bytes): kilobytes for gigabytes."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    n, rest = divmod(zeros, chunk)
    return head + block * n + c.compress(bytes(rest)) + c.flush()


def zip_bomb(inflated: int = 3 << 30) -> bytes:
    """An archive whose ``arrays.npz`` holds one ``.npy`` of ``inflated`` zero bytes (a valid header, shape
    ``(inflated,)`` int8): tens of kilobytes on disk, gigabytes if a reader inflates it. Its CRC is left 0: a
    reader that inflates the member runs out of memory before it could compare."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|i1", "fortran_order": False, "shape": (inflated,)}
    )
    hdr = header.getvalue()
    inner = raw_zip([("t0.npy", deflated_zeros(hdr, inflated), len(hdr) + inflated, 0)])
    meta = {"format": "edgesdk-graph", "version": 1, "name": "bomb", "inputs": ["x"], "outputs": ["y"],
            "tensors": [{"name": "x", "shape": [1, 4], "dtype": "int8", "quant": None, "data": None},
                        {"name": "w", "shape": [64], "dtype": "int8", "quant": None, "data": "t0"},
                        {"name": "y", "shape": [1, 4], "dtype": "int8", "quant": None, "data": None}],
            "nodes": []}  # fmt: skip
    return write_zip([("graph.json", json.dumps(meta).encode()), ("arrays.npz", inner)])


# --- mutations ------------------------------------------------------------------------------------------------
def _split(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        meta = json.loads(z.read("graph.json"))
        with np.load(io.BytesIO(z.read("arrays.npz")), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    return meta, arrays


def _join(meta: Any, arrays: dict[str, np.ndarray], npz: bytes | None = None) -> bytes:
    if npz is None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        npz = buf.getvalue()
    return write_zip([("graph.json", json.dumps(meta).encode()), ("arrays.npz", npz)])


def _interesting_int(rng: random.Random) -> int:
    return rng.choice(fm.INTERESTING_INTS + [10**9, 2**63 - 1, -(2**63), 2**64])


def _value_like(rng: random.Random, v: Any) -> Any:
    """A value of the same JSON shape as ``v`` with one part changed, or (sometimes) of another type."""
    if rng.random() < 0.15:
        return rng.choice(JUNK)
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return _interesting_int(rng)
    if isinstance(v, float):
        return rng.choice(fm.INTERESTING_FLOATS)
    if isinstance(v, str):
        return rng.choice(["SAME", "VALID", "RELU", "RELU6", "NONE", "TANH", "", "same", "x\ny"])
    if isinstance(v, list):
        v = list(v)
        r = rng.random()
        if v and r < 0.7:
            i = rng.randrange(len(v))
            v[i] = _value_like(rng, v[i])
        elif v and r < 0.85:
            v.pop(rng.randrange(len(v)))
        else:
            v.append(_value_like(rng, v[-1]) if v else 1)
        return v
    return rng.choice(JUNK)


def _walk(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, (*path, k))
    elif isinstance(obj, list) and len(obj) <= 64:
        for i, v in enumerate(obj):
            yield from _walk(v, (*path, i))


def _json_mutation(rng: random.Random, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    tensors, nodes = meta["tensors"], meta["nodes"]
    names = [t["name"] for t in tensors]
    kind = rng.randrange(15)
    if kind in (0, 1):
        t = rng.choice(tensors)
        t["shape"] = _value_like(rng, t["shape"]) if rng.random() < 0.8 else [_interesting_int(rng)]
        return f"tensor {t['name']}: shape = {t['shape']}"
    if kind == 2:
        t = rng.choice(tensors)
        t["dtype"] = rng.choice(
            ["int8", "uint8", "int16", "int32", "int64", "float32", "bool", "float64", "O", 7]
        )
        return f"tensor {t['name']}: dtype = {t['dtype']}"
    if kind == 3:
        t = rng.choice([t for t in tensors if t["quant"]] or tensors)
        if not t["quant"]:
            t["quant"] = {"scale": [0.1], "zero_point": [0], "axis": None}
        key = rng.choice(["scale", "zero_point", "axis"])
        t["quant"][key] = _value_like(rng, t["quant"][key])
        return f"tensor {t['name']}: quant.{key} = {str(t['quant'][key])[:60]}"
    if kind == 4:
        t = rng.choice(tensors)
        t["data"] = rng.choice([None, "t0", "nope", 3, *[k for k in arrays][:8]])
        return f"tensor {t['name']}: data = {t['data']}"
    if kind in (5, 6, 7, 8):  # node fields: the most productive
        n = rng.choice([n for n in nodes if n.get("fields")] or nodes)
        if not n.get("fields"):
            return "no fields"
        k = rng.choice(sorted(n["fields"]))
        n["fields"][k] = _value_like(rng, n["fields"][k])
        return f"node {n['name']} ({n['op']}): {k} = {str(n['fields'][k])[:60]}"
    if kind == 9:
        n = rng.choice(nodes)
        key = rng.choice(["inputs", "outputs"])
        seq = list(n[key])
        choice = rng.random()
        if seq and choice < 0.6:
            seq[rng.randrange(len(seq))] = rng.choice([*names, "", "missing"])
        elif seq and choice < 0.8:
            seq.pop(rng.randrange(len(seq)))
        else:
            seq.append(rng.choice([*names, ""]))
        n[key] = seq
        return f"node {n['name']}: {key} = {seq}"[:160]
    if kind == 10:
        n = rng.choice(nodes)
        n["op"] = rng.choice([*sorted({m["op"] for m in nodes}), "CONV_2D", "EDGESDK_XNOR_CONV_2D",
                              "EDGESDK_BINARIZE", "EDGESDK_UNPACK_BITS", "EDGESDK_ADDER_CONV_2D",
                              "FULLY_CONNECTED", "ADD", "NOPE"])  # fmt: skip
        return f"node {n['name']}: op = {n['op']}"
    if kind == 11:
        key = rng.choice(["inputs", "outputs"])
        meta[key] = _value_like(rng, meta[key]) if rng.random() < 0.5 else [rng.choice(names)]
        return f"graph {key} = {str(meta[key])[:80]}"
    if kind == 14:  # a name that is hostile where it lands: terminal escapes, quotes, C comment ends, length
        new = rng.choice(["a\nb", "\x1b[2J\x1b]0;t\x07", 'q"*/ $(x)', "x" * 2000, "", "\u2028", "a/../b"])
        if rng.random() < 0.5:
            n = rng.choice(nodes)
            n["name"] = new
            return f"node name = {new[:20]!r}"
        t = rng.choice(tensors)
        old_name, t["name"] = t["name"], new
        for n in nodes:  # renamed consistently, so the graph stays whole
            n["inputs"] = [new if x == old_name else x for x in n["inputs"]]
            n["outputs"] = [new if x == old_name else x for x in n["outputs"]]
        meta["inputs"] = [new if x == old_name else x for x in meta["inputs"]]
        meta["outputs"] = [new if x == old_name else x for x in meta["outputs"]]
        return f"tensor {old_name[:40]} renamed {new[:20]!r}"
    if kind == 12:
        if len(nodes) > 1:
            i = rng.randrange(len(nodes) - 1)
            nodes[i], nodes[i + 1] = nodes[i + 1], nodes[i]
            return f"nodes {i} and {i + 1} swapped"
        return "nothing"
    # anywhere: a key removed, or a value replaced by junk; or format/version
    paths = [p for p, _ in _walk(meta) if p]
    path = rng.choice(paths)
    parent = meta
    for k in path[:-1]:
        parent = parent[k]
    r = rng.random()
    if r < 0.3 and isinstance(parent, dict):
        del parent[path[-1]]
        return f"removed {'/'.join(map(str, path))}"
    if r < 0.4:
        key = rng.choice(["format", "version"])
        meta[key] = rng.choice(JUNK + [2, 0, "edgesdk-graph"])
        return f"{key} = {meta[key]}"
    parent[path[-1]] = rng.choice(JUNK)
    return f"{'/'.join(map(str, path))} = {parent[path[-1]]}"


def _array_mutation(
    rng: random.Random, meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> tuple[str, bytes | None]:
    """Returns what changed and, for a lying header, the npz bytes to use instead of writing ``arrays``."""
    if not arrays:
        return "no arrays", None
    k = rng.choice(sorted(arrays))
    a = arrays[k]
    kind = rng.randrange(6)
    if kind == 0:
        b = a.copy().reshape(-1)
        idx = [rng.randrange(b.size) for _ in range(rng.choice([1, 4, 64]))] if b.size else []
        info = np.iinfo(b.dtype) if b.dtype.kind in "iu" else None
        for i in idx:
            b[i] = (
                rng.choice([info.min, info.max, 0, -1 if info.min < 0 else 1])
                if info
                else rng.choice(fm.INTERESTING_FLOATS)
            )
        arrays[k] = b.reshape(a.shape)
        return f"array {k}: {len(idx)} values set", None
    if kind == 1:
        arrays[k] = a.reshape(-1)[: rng.randrange(max(a.size, 1))]
        return f"array {k}: shortened to {arrays[k].size}", None
    if kind == 2:
        arrays[k] = a.astype(
            rng.choice([np.int8, np.int16, np.int32, np.int64, np.float32, np.uint8, np.float64, np.bool_])
        )
        return f"array {k}: dtype {arrays[k].dtype}", None
    if kind == 3:
        arrays[k] = a.reshape(-1)
        return f"array {k}: flattened", None
    # a .npy header that lies: declared shape (or dtype) not matching the bytes that follow
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    members = []
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        for name in z.namelist():
            members.append((name, z.read(name)))
    i = next(j for j, (n, _) in enumerate(members) if n == f"{k}.npy")
    hdr = io.BytesIO()
    shape = rng.choice([(10**12,), (2**31,), (a.size + 1,), (max(a.size - 1, 0),), (-1,), (a.size, 2**40)])
    descr = rng.choice([a.dtype.str, "|O", "<f8", ">i4", "|V8", "<U3"])
    try:
        np.lib.format.write_array_header_1_0(
            hdr, {"descr": descr, "fortran_order": rng.random() < 0.2, "shape": shape}
        )
    except ValueError:
        hdr = io.BytesIO(b"\x93NUMPY\x01\x00" + struct.pack("<H", 16) + b"{'descr': 3}   \n")
    body = np.ascontiguousarray(a).tobytes()
    members[i] = (members[i][0], hdr.getvalue() + body)
    return f"array {k}: header says {descr} {shape}", write_zip(members, deflate=rng.random() < 0.5)


def _zip_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    buf = bytearray(data)
    kind = rng.randrange(6)
    if kind <= 1:
        return fm._raw(rng, data)
    cd = data.rfind(b"PK\x01\x02")
    if kind == 2 and cd >= 0:  # declared inflated size in the central directory
        v = rng.choice([0, 1, 100, 2**20, 2**31 - 1, 2**32 - 1])
        buf[cd + 24 : cd + 28] = struct.pack("<I", v)
        return f"central directory: file size = {v}", bytes(buf)
    if kind == 3 and cd >= 0:  # compression method
        v = rng.choice([0, 1, 9, 12, 14, 99])
        buf[cd + 10 : cd + 12] = struct.pack("<H", v)
        return f"central directory: method = {v}", bytes(buf)
    if kind == 4:
        name = rng.choice([b"graph.json", b"arrays.npz"])
        i = data.find(name)
        buf[i : i + len(name)] = name[::-1]
        return f"member {name.decode()} renamed", bytes(buf)
    size = rng.choice([1 << 20, 64 << 20, 300 << 20])
    npz = raw_zip([("t0.npy", deflated_zeros(b"", size), size, 0)])
    members = [("graph.json", data_member(data, "graph.json")), ("arrays.npz", npz)]
    return f"arrays.npz member of {size} zeros", write_zip(members)


def data_member(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read(name)


def mutants(seed: int, count: int) -> Iterator[fm.Mutant]:
    """``count`` deterministic archive mutants: the same (seed, count) always gives the same bytes."""
    seeds = seed_archives()
    split = {name: _split(data) for name, data in seeds.items()}
    names = sorted(seeds)
    for i in range(count):
        rng = random.Random(f"archive:{seed}:{i}")
        name = names[i % len(names)]
        r = rng.random()
        if r < 0.12:
            what, data = _zip_mutation(rng, seeds[name])
            yield fm.Mutant(i, name, "raw", what, data)
            continue
        meta, arrays = copy.deepcopy(split[name][0]), dict(split[name][1])
        whats, npz = [], None
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            try:
                if rng.random() < 0.2:
                    what, npz = _array_mutation(rng, meta, arrays)
                else:
                    what = _json_mutation(rng, meta, arrays)
            except (KeyError, TypeError, IndexError, AttributeError, ValueError, StopIteration):
                break  # an earlier mutation broke the structure this one walks: keep what was done
            whats.append(what)
        yield fm.Mutant(i, name, "json", "; ".join(whats), _join(meta, arrays, npz))


def category(m: fm.Mutant) -> str:
    """What a mutant changed, coarsely (``json:tensor:shape``, ``json:node:stride``, ``raw:flip`` ...)."""
    first = m.what.split(";")[0]
    if m.kind == "raw":
        return "raw:" + first.split()[0]
    head = first.split()[0]
    field = (
        first.split(":")[-1].split("=")[0].strip().split()[-1]
        if ":" in first
        else first.split("=")[0].strip()
    )
    return f"json:{head}:{field}"


def bomb_refusal(workdir: Path | None = None, inflated: int = 3 << 30) -> dict[str, Any]:
    """``inspect`` on :func:`zip_bomb` written to a file: its size, what it inflates to, the time to refuse it
    and the sentence."""
    import tempfile
    import time

    from edgesdk.compiler.model import load_model
    from edgesdk.errors import EdgeSDKError

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "bomb.edgesdk"
        path.write_bytes(zip_bomb(inflated))
        t0 = time.perf_counter()
        try:
            load_model(path)
            message = "accepted"
        except EdgeSDKError as exc:
            message = f"{type(exc).__name__}: {exc}".replace(str(path), "bomb.edgesdk")
        seconds = time.perf_counter() - t0
        return {
            "archive_bytes": path.stat().st_size,
            "inflates_to_bytes": inflated,
            "refused_in_s": round(seconds, 4),
            "message": message,
        }


def run(
    count: int, sanitize: int, seed: int = 1, show_progress: bool = False, workdir: Path | None = None
) -> dict[str, Any]:
    """The two stages of ``scripts/fuzz_models.py`` over archive mutants, and the zip bomb's refusal."""
    result = fm.run(
        count, sanitize, seed, show_progress, workdir, source=mutants, models=SEEDS, category=category
    )
    result["zip_bomb"] = bomb_refusal(workdir)
    return result


def main(argv: list[str] | None = None) -> int:
    return fm.main(argv, run, RESULTS, 2000, 100, "archive mutants")


if __name__ == "__main__":
    sys.exit(main())
