"""edgesdk's own model file (``.edgesdk``): an IR graph saved as it is, for ops no TFLite op expresses.

A model with AdderNet layers (``EDGESDK_ADDER_CONV_2D``) cannot be a ``.tflite``; it is written here instead,
and ``export``/``validate``/``profile``/``inspect`` read it through :func:`edgesdk.model.load_model` like a
``.tflite``. The format is a zip archive (NumPy's ``.npz`` container, no pickles): ``graph.json`` holds the
format name and version, the graph's name, inputs, outputs, every tensor (name, shape, dtype, quantization,
source index) and every node (op, name, inputs, outputs and the op's fields); each constant tensor's data is an
array entry ``t<k>`` of its own. Any node class registered in ``ir.graph.NODE_TYPES`` can be stored.
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

from edgesdk.errors import ModelFormatError
from edgesdk.ir import graph as ir

SUFFIX = ".edgesdk"
FORMAT = "edgesdk-ir"
VERSION = 1
_BASE_FIELDS = {"name", "inputs", "outputs", "attrs"}


def _ops_loaded() -> None:
    # Modules that register extra node classes.
    import edgesdk.ir.adder  # noqa: F401


def _plain(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def write_graph(graph: ir.Graph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` (deterministic bytes for one graph)."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    tensors = []
    for k, t in enumerate(graph.tensors.values()):
        entry: dict[str, Any] = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "index": t.index}
        if t.quant is not None:
            entry["quant"] = {
                "scale": [float(s) for s in t.quant.scale],
                "zero_point": [int(z) for z in t.quant.zero_point],
                "axis": t.quant.axis,
            }
        if t.data is not None:
            entry["data"] = f"t{k}"
            arrays[f"t{k}"] = np.ascontiguousarray(t.data)
        tensors.append(entry)
    nodes = []
    for n in graph.nodes:
        fields = {
            f.name: _plain(getattr(n, f.name)) for f in dataclasses.fields(n) if f.name not in _BASE_FIELDS
        }
        nodes.append({"op": n.op, "name": n.name, "inputs": n.inputs, "outputs": n.outputs, "fields": fields})
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "name": graph.name,
        "inputs": graph.inputs,
        "outputs": graph.outputs,
        "tensors": tensors,
        "nodes": nodes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("graph.json", date_time=(1980, 1, 1, 0, 0, 0))
        z.writestr(info, json.dumps(doc, indent=1, sort_keys=True))
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arrays[key], allow_pickle=False)
            z.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())
    return path


def is_edgesdk_file(path: str | Path) -> bool:
    path = Path(path)
    if path.suffix.lower() == SUFFIX:
        return True
    try:
        with zipfile.ZipFile(path) as z:
            return "graph.json" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def read_graph(path: str | Path) -> ir.Graph:
    """Read a ``.edgesdk`` file; a damaged or foreign file raises ``ModelFormatError``."""
    _ops_loaded()
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"model {path} does not exist")
    data = path.read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            doc = json.loads(z.read("graph.json"))
            arrays = {
                name[:-4]: np.lib.format.read_array(io.BytesIO(z.read(name)), allow_pickle=False)
                for name in z.namelist()
                if name.endswith(".npy")
            }
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ModelFormatError(f"model {path} is not a readable edgesdk model file ({exc})") from exc
    if doc.get("format") != FORMAT or int(doc.get("version", 0)) > VERSION:
        raise ModelFormatError(f"model {path} is not an edgesdk model file of version {VERSION} or older")
    g = ir.Graph(name=str(doc["name"]), source=str(path), sha256=hashlib.sha256(data).hexdigest())
    try:
        for t in doc["tensors"]:
            q = t.get("quant")
            quant = (
                ir.QuantParams(np.asarray(q["scale"]), np.asarray(q["zero_point"]), q["axis"]) if q else None
            )
            g.add_tensor(
                ir.Tensor(
                    t["name"],
                    tuple(t["shape"]),
                    t["dtype"],
                    quant,
                    data=arrays[t["data"]] if "data" in t else None,
                    index=t.get("index"),
                )
            )
        for n in doc["nodes"]:
            cls = ir.NODE_TYPES.get(n["op"])
            if cls is None:
                raise ModelFormatError(
                    f"model {path}: layer {n['name']} has op {n['op']}, unknown to this edgesdk"
                )
            fields = {k: _tuples(v) for k, v in n["fields"].items()}
            g.nodes.append(
                cls(name=n["name"], inputs=list(n["inputs"]), outputs=list(n["outputs"]), **fields)
            )
        g.inputs, g.outputs = list(doc["inputs"]), list(doc["outputs"])
        g.validate()
    except ModelFormatError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"model {path} has an inconsistent graph ({exc})") from exc
    return g


__all__ = ["SUFFIX", "is_edgesdk_file", "read_graph", "write_graph"]
