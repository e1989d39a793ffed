"""The ``.xnor`` model file: an edgesdk IR graph in a zip archive (what int8 TFLite cannot hold).

``compress --method xnor`` writes it; ``inspect``/``export``/``validate``/``profile`` read it like a
``.tflite``. Layout (format ``edgesdk-graph``, version 1):

- ``graph.json``: ``{"format", "version", "name", "inputs", "outputs", "tensors": [...], "nodes": [...]}``.
  A tensor is ``{"name", "shape", "dtype", "quant": {"scale", "zero_point", "axis"} | null, "data": key | null}``;
  a node is ``{"op", "name", "inputs", "outputs", "fields": {...}}`` with the op's fields (strides, thresholds,
  ...) from :mod:`edgesdk.ir.graph` / :mod:`edgesdk.ir.binary`.
- ``arrays.npz``: the constant tensors' data by key (``t0``, ``t1``, ...), exact dtypes.

Node annotations (``attrs``) are not stored: they are decisions of the passes, made again on loading.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.ir.graph import NODE_TYPES, Graph, QuantParams, Tensor

FORMAT = "edgesdk-graph"
VERSION = 1
SUFFIX = ".xnor"


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def graph_bytes(graph: Graph) -> bytes:
    """The archive of ``graph`` as bytes (deterministic: fixed order, fixed zip timestamps)."""
    tensors, arrays = [], {}
    for i, t in enumerate(graph.tensors.values()):
        key = None
        if t.data is not None:
            key = f"t{i}"
            arrays[key] = np.asarray(t.data)
        quant = None
        if t.quant is not None:
            quant = {
                "scale": [float(s) for s in t.quant.scale],
                "zero_point": [int(z) for z in t.quant.zero_point],
                "axis": t.quant.axis,
            }
        tensors.append(
            {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "quant": quant, "data": key}
        )
    nodes = []
    for n in graph.nodes:
        fields = {
            f.name: _jsonable(getattr(n, f.name))
            for f in dataclasses.fields(n)
            if f.name not in ("name", "inputs", "outputs", "attrs")
        }
        nodes.append({"op": n.op, "name": n.name, "inputs": n.inputs, "outputs": n.outputs, "fields": fields})
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "name": graph.name,
        "inputs": graph.inputs,
        "outputs": graph.outputs,
        "tensors": tensors,
        "nodes": nodes,
    }
    npz = io.BytesIO()
    np.savez(npz, **arrays)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in (
            ("graph.json", json.dumps(meta, indent=1).encode()),
            ("arrays.npz", npz.getvalue()),
        ):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return out.getvalue()


def save_graph(graph: Graph, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(graph_bytes(graph))
    return path


def is_graph_archive(data: bytes) -> bool:
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "graph.json" in z.namelist()
    except zipfile.BadZipFile:
        return False


def load_graph(source: str | Path | bytes, name: str | None = None) -> Graph:
    """Read an archive written by :func:`save_graph`; raises ModelFormatError on anything else."""
    from edgesdk.errors import ModelFormatError

    what = f"model {source}" if not isinstance(source, bytes) else "model"
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            meta = json.loads(z.read("graph.json"))
            with np.load(io.BytesIO(z.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ModelFormatError(f"{what} is not an edgesdk graph archive ({exc})") from exc
    if meta.get("format") != FORMAT or int(meta.get("version", 0)) > VERSION:
        raise ModelFormatError(
            f"{what} has format {meta.get('format')!r} version {meta.get('version')}; "
            f"this edgesdk reads {FORMAT} up to version {VERSION}"
        )
    graph = Graph(name=name or meta["name"])
    try:
        for t in meta["tensors"]:
            q = t["quant"]
            quant = QuantParams(np.array(q["scale"]), np.array(q["zero_point"]), q["axis"]) if q else None
            graph.add_tensor(
                Tensor(
                    t["name"], tuple(t["shape"]), t["dtype"], quant, arrays[t["data"]] if t["data"] else None
                )
            )
        for n in meta["nodes"]:
            cls = NODE_TYPES.get(n["op"])
            if cls is None:
                raise ModelFormatError(
                    f"{what}: layer {n['name']} has op {n['op']}, which edgesdk does not know"
                )
            types = {f.name: f for f in dataclasses.fields(cls)}
            fields = {}
            for k, v in n["fields"].items():
                if k in types and isinstance(v, list):
                    v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
                fields[k] = v
            graph.nodes.append(
                cls(name=n["name"], inputs=list(n["inputs"]), outputs=list(n["outputs"]), **fields)
            )
        graph.inputs = list(meta["inputs"])
        graph.outputs = list(meta["outputs"])
        graph.validate()
    except ModelFormatError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{what} is a damaged edgesdk graph archive ({exc})") from exc
    graph.sha256 = hashlib.sha256(data).hexdigest()
    if not isinstance(source, bytes):
        graph.source = str(source)
    return graph


__all__ = ["FORMAT", "SUFFIX", "VERSION", "graph_bytes", "is_graph_archive", "load_graph", "save_graph"]
