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
import functools
import hashlib
import io
import json
import math
import typing
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.ir.graph import DTYPES, MAX_DIM, NODE_TYPES, Graph, QuantParams, Tensor
from edgesdk.util.safeio import MAX_MODEL_BYTES, Archive, read_capped, read_npy, short_error

#: Most elements a tensor of an archive may declare (checked before anything is allocated; the verifier's byte
#: caps are tighter).
MAX_ELEMENTS = 1 << 28

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
    """True for a zip archive holding ``graph.json`` (only the central directory is read)."""
    if data[:4] != b"PK\x03\x04":
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "graph.json" in z.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return False


#: Largest ``graph.json`` (bytes, inflated).
MAX_JSON_BYTES = 16 << 20
#: Largest sum of the inflated ``.npy`` members of ``arrays.npz`` (the verifier's cap on all constants, plus
#: room for the ``.npy`` headers).
MAX_ARRAYS_BYTES = (256 << 20) + (1 << 20)
#: Most operators in graph.json (four times as many tensors; the checks are linear, so reading stays a
#: matter of seconds), and most characters in one name.
MAX_NODES = 10_000
MAX_NAME = 1024
_I64 = 1 << 63


def _read_arrays(data: bytes, keys: set[str], what: str) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of ``arrays.npz`` (itself a zip), each checked as in :func:`_read_npy`."""
    from edgesdk.errors import ModelFormatError

    npz = Archive(data, f"{what}: arrays.npz", ModelFormatError)
    total = sum(npz.infos[f"{k}.npy"].file_size for k in keys if f"{k}.npy" in npz.infos)
    if total > MAX_ARRAYS_BYTES:
        raise ModelFormatError(
            f"{what}: arrays.npz inflates to {total:,} bytes, more than the {MAX_ARRAYS_BYTES:,} edgesdk allows"
        )
    out = {}
    for k in sorted(keys):
        if f"{k}.npy" not in npz.infos:
            raise ModelFormatError(f"{what}: arrays.npz has no array {k}")
        arr = read_npy(npz.read(f"{k}.npy", MAX_ARRAYS_BYTES), f"{what}: array {k}", ModelFormatError)
        if arr.dtype.name not in DTYPES:
            raise ModelFormatError(
                f"{what}: array {k} has dtype {arr.dtype.name}, which edgesdk does not support"
            )
        out[k] = arr
    return out


def _schema_error(what: str, field: str, msg: str) -> Exception:
    from edgesdk.errors import ModelFormatError

    return ModelFormatError(f"{what}: graph.json field {field} {msg}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -_I64 <= v < _I64


def _conforms(v: Any, hint: Any) -> bool:
    """Whether a JSON value fits a node field's type (int, float, bool, str and tuples of them)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is int:
        return _is_int(v)
    if hint is float:
        return _is_int(v) or isinstance(v, float)
    if hint is bool:
        return isinstance(v, bool)
    if hint is str:
        return isinstance(v, str) and len(v) <= MAX_NAME
    if origin is tuple:
        if not isinstance(v, list) or len(v) > (1 << 24):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_conforms(x, args[0]) for x in v)
        return len(v) == len(args) and all(_conforms(x, a) for x, a in zip(v, args, strict=True))
    return False


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])}"
        return f"a list of {len(args)} " + " and ".join(dict.fromkeys(_describe(a) for a in args))
    return {int: "integers", float: "numbers", bool: "true/false", str: "strings"}.get(hint, str(hint))


def _check_meta(meta: Any, what: str) -> None:
    """graph.json against its schema: every field's presence and JSON type, each failure one sentence naming the
    field (``tensors[3].shape[1]``). Values are judged by the model verifier afterwards."""

    def need(ok: bool, field: str, msg: str) -> None:
        if not ok:
            raise _schema_error(what, field, msg)

    def names(v: Any, field: str) -> None:
        need(isinstance(v, list) and len(v) <= MAX_NODES, field, "must be a list of tensor names")
        for i, x in enumerate(v):
            need(
                isinstance(x, str) and len(x) <= MAX_NAME, f"{field}[{i}]", "must be a tensor name (a string)"
            )

    need(isinstance(meta, dict), "(top level)", "must be an object")
    need(meta.get("format") == FORMAT, "format", f"is {_clip(meta.get('format'))}, not {FORMAT!r}")
    v = meta.get("version")
    need(_is_int(v), "version", f"is {_clip(v)}, not an integer")
    need(1 <= v <= VERSION, "version", f"is {v}; this edgesdk reads versions 1 to {VERSION}")
    need(isinstance(meta.get("name"), str) and len(meta["name"]) <= MAX_NAME, "name", "must be a string")
    for key in ("inputs", "outputs"):
        names(meta.get(key), key)
    for key in ("tensors", "nodes"):
        limit = MAX_NODES * (4 if key == "tensors" else 1)
        need(isinstance(meta.get(key), list), key, "must be a list")
        need(
            len(meta[key]) <= limit, key, f"holds {len(meta[key]):,} entries, more than the {limit:,} allowed"
        )
    for i, t in enumerate(meta["tensors"]):
        f = f"tensors[{i}]"
        need(isinstance(t, dict), f, "must be an object")
        need(isinstance(t.get("name"), str) and len(t["name"]) <= MAX_NAME, f"{f}.name", "must be a string")
        f = f"tensors[{i}] ({_clip(t['name'], 60)})"
        for key in ("shape", "dtype", "quant", "data"):
            need(key in t, f"{f}.{key}", "is missing")
        need(
            isinstance(t.get("dtype"), str) and t["dtype"] in DTYPES,
            f"{f}.dtype",
            f"must be one of {', '.join(DTYPES)}",
        )
        shape = t.get("shape")
        need(
            isinstance(shape, list) and len(shape) <= 8,
            f"{f}.shape",
            "must be a list of at most 8 dimensions",
        )
        count = 1
        for k, d in enumerate(shape):
            need(
                _is_int(d) and 1 <= d <= MAX_DIM,
                f"{f}.shape[{k}]",
                f"is {_clip(d)}, not an integer in 1..{MAX_DIM}",
            )
            count *= d
        need(
            count <= MAX_ELEMENTS,
            f"{f}.shape",
            f"declares {count:,} elements, more than the {MAX_ELEMENTS:,} allowed",
        )
        need(t.get("data") is None or isinstance(t["data"], str), f"{f}.data", "must be null or an array key")
        q = t.get("quant")
        if q is None:
            continue
        need(isinstance(q, dict), f"{f}.quant", "must be null or an object")
        for key in ("scale", "zero_point", "axis"):
            need(key in q, f"{f}.quant.{key}", "is missing")
        sc, zp, ax = q.get("scale"), q.get("zero_point"), q.get("axis")
        need(
            isinstance(sc, list) and 1 <= len(sc) <= MAX_DIM,
            f"{f}.quant.scale",
            "must be a non-empty list of numbers",
        )
        need(
            all(isinstance(x, float) or _is_int(x) for x in sc), f"{f}.quant.scale", "must hold numbers only"
        )
        need(
            isinstance(zp, list) and len(zp) == len(sc),
            f"{f}.quant.zero_point",
            "must be a list as long as scale",
        )
        need(all(_is_int(x) for x in zp), f"{f}.quant.zero_point", "must hold integers only")
        need(
            ax is None or (_is_int(ax) and 0 <= ax < max(len(shape), 1)),
            f"{f}.quant.axis",
            f"is {_clip(ax)}, not null or a dimension of the tensor",
        )
    for i, n in enumerate(meta["nodes"]):
        f = f"nodes[{i}]"
        need(isinstance(n, dict), f, "must be an object")
        need(isinstance(n.get("name"), str) and len(n["name"]) <= MAX_NAME, f"{f}.name", "must be a string")
        need(isinstance(n.get("op"), str), f"{f}.op", "must be a string")
        f = f"nodes[{i}] ({_clip(n['name'], 60)})"
        cls = NODE_TYPES.get(n["op"])
        need(cls is not None, f"{f}.op", f"is {_clip(n['op'])}, an operator edgesdk does not know")
        names(n.get("inputs"), f"{f}.inputs")
        names(n.get("outputs"), f"{f}.outputs")
        fields = n.get("fields", {})
        need(isinstance(fields, dict), f"{f}.fields", "must be an object")
        hints = _field_types(cls)
        for k, val in fields.items():
            need(k in hints, f"{f}.fields.{_clip(k, 60)}", f"is not a field of op {n['op']}")
            need(_conforms(val, hints[k]), f"{f}.fields.{k}", f"is {_clip(val)}, not {_describe(hints[k])}")


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(cls)
        if f.name not in ("name", "inputs", "outputs", "attrs")
    }


def _clip(v: Any, n: int = 40) -> str:
    text = repr(v)
    return text if len(text) <= n else text[: n - 3] + "..."


def _clean_names(meta: dict[str, Any]) -> None:
    """Control characters in names (which would reach messages and a terminal) become ``?``, everywhere a name
    is written or referred to, as the ``.tflite`` reader does."""
    from edgesdk.util.escape import one_line

    meta["name"] = one_line(meta["name"])
    for key in ("inputs", "outputs"):
        meta[key] = [one_line(x) for x in meta[key]]
    for t in meta["tensors"]:
        t["name"] = one_line(t["name"])
    for n in meta["nodes"]:
        n["name"] = one_line(n["name"])
        for key in ("inputs", "outputs"):
            n[key] = [one_line(x) for x in n[key]]


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def load_graph(source: str | Path | bytes, name: str | None = None) -> Graph:
    """Read an archive written by :func:`save_graph` and verify it (:func:`edgesdk.frontends.verify.verify_graph`,
    the checks every ``.tflite`` passes too). Anything else raises ModelFormatError with one sentence: sizes are
    checked before anything is inflated, graph.json against its schema before any value is used."""
    from edgesdk.errors import ModelFormatError
    from edgesdk.frontends.verify import verify_graph

    what = f"model {source}" if not isinstance(source, bytes) else "model"
    data = (
        source
        if isinstance(source, bytes)
        else read_capped(Path(source), what, ModelFormatError, MAX_MODEL_BYTES)
    )
    if len(data) > MAX_MODEL_BYTES:
        raise ModelFormatError(
            f"{what} has {len(data):,} bytes, more than the {MAX_MODEL_BYTES:,} edgesdk reads"
        )
    archive = Archive(data, what, ModelFormatError)
    raw = archive.read("graph.json", MAX_JSON_BYTES)
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ModelFormatError(f"{what}: graph.json is not valid JSON ({short_error(exc)})") from None
    _check_meta(meta, what)
    _clean_names(meta)
    keys = {t["data"] for t in meta["tensors"] if t["data"] is not None}
    arrays = _read_arrays(archive.read("arrays.npz", MAX_ARRAYS_BYTES), keys, what) if keys else {}
    graph = Graph(name=name or meta["name"])
    for t in meta["tensors"]:
        q = t["quant"]
        try:
            quant = (
                QuantParams(np.array(q["scale"], np.float64), np.array(q["zero_point"]), q["axis"])
                if q
                else None
            )
        except OverflowError:
            raise _schema_error(
                what, f"tensors ({t['name']}).quant.scale", "holds a number out of range"
            ) from None
        data_t = None
        if t["data"] is not None:
            data_t = arrays[t["data"]]
            if data_t.dtype.name != t["dtype"] or data_t.size != math.prod(t["shape"]):
                raise ModelFormatError(
                    f"{what}: tensor {t['name']} is {t['dtype']} {t['shape']} but its array {t['data']} is "
                    f"{data_t.dtype.name} {list(data_t.shape)}"
                )
            data_t = data_t.reshape(t["shape"])
        if t["name"] in graph.tensors:
            raise ModelFormatError(f"{what}: tensor name {_clip(t['name'])} is used twice")
        graph.add_tensor(Tensor(t["name"], tuple(t["shape"]), t["dtype"], quant, data_t))
    for n in meta["nodes"]:
        fields = {k: _tuples(v) for k, v in n.get("fields", {}).items()}
        for ref in n["inputs"] + n["outputs"]:
            if ref and ref not in graph.tensors:
                raise ModelFormatError(
                    f"{what}: layer {n['name']} refers to tensor {_clip(ref)}, which is not defined"
                )
        graph.nodes.append(
            NODE_TYPES[n["op"]](
                name=n["name"], inputs=list(n["inputs"]), outputs=list(n["outputs"]), **fields
            )
        )
    for ref in meta["inputs"] + meta["outputs"]:
        if ref not in graph.tensors:
            raise ModelFormatError(f"{what}: graph input or output {_clip(ref)} is not a defined tensor")
    graph.inputs = list(meta["inputs"])
    graph.outputs = list(meta["outputs"])
    try:
        graph.validate()
    except ValueError as exc:
        raise ModelFormatError(f"{what} is corrupt: {exc}") from None
    verify_graph(graph, what)
    graph.sha256 = hashlib.sha256(data).hexdigest()
    if not isinstance(source, bytes):
        graph.source = str(source)
    return graph


__all__ = ["FORMAT", "SUFFIX", "VERSION", "graph_bytes", "is_graph_archive", "load_graph", "save_graph"]
