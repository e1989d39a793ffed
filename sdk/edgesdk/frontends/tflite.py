"""Read a ``.tflite`` flatbuffer into edgesdk's IR.

The file is parsed with the schema classes generated from TFLite's ``schema.fbs``
(``ai_edge_litert.schema_py_generated``), not through an interpreter: we want every field as stored
(quantization, constant buffers, operator options), and no runtime that might rewrite the graph.

What is read: subgraph 0 only (several subgraphs mean control flow, which is rejected), builtin operators
dispatched on their code (``max(deprecated_builtin_code, builtin_code)``, as TFLite itself does since the
code space outgrew the int8 field), never on a layer's name. Every tensor used by the subgraph becomes an
IR :class:`~edgesdk.ir.graph.Tensor` with its TFLite index in ``Tensor.index`` (golden vectors are keyed by
it), its quantization (per-tensor: ``axis=None``; per-channel: ``axis=quantized_dimension``) and, for
constants, its data as a native-endian numpy array of the right dtype and shape.

Names: tensor names are TFLite's (made unique by suffixing ``_1``, ``_2``, ...; an empty name becomes
``t<index>``). A node's name is the Keras layer name recovered from its output tensor's name
(``model/conv2d_3/BiasAdd;...`` -> ``conv2d_3``), or ``<op>`` when there is none, made a C identifier
and unique.

Every problem a user can meet is raised as one sentence in an edgesdk exception: missing, truncated,
corrupt or foreign files (:class:`ModelFormatError`), unsupported operators or types
(:class:`UnsupportedOpError`), float models that need calibration (:class:`CalibrationError`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import CalibrationError, EdgeSDKError, ModelFormatError, UnsupportedOpError
from edgesdk.ir import graph as ir

log = logging.getLogger(__name__)

FILE_IDENTIFIER = b"TFL3"

# TensorType -> (IR dtype, little-endian numpy dtype); filled from the schema enum at first use.
_IR_DTYPES = {
    "FLOAT32": ("float32", "<f4"),
    "INT32": ("int32", "<i4"),
    "UINT8": ("uint8", "u1"),
    "INT64": ("int64", "<i8"),
    "BOOL": ("bool", "?"),
    "INT16": ("int16", "<i2"),
    "INT8": ("int8", "i1"),
}
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_PADDINGS = {0: "SAME", 1: "VALID"}
#: Ops that may carry float tensors in an int8 model (the model's float interface).
_EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")

# Known signatures of other file formats, for a better message than "not a TFLite file".
_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"PK\x03\x04", "a ZIP archive (a .keras file?)"),
    (b"\x89HDF", "an HDF5 file (a Keras .h5 model?)"),
    (b"\x08", "possibly an ONNX/protobuf file"),
    (b"{", "a JSON/text file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "an ELF binary"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x93NUMPY", "a NumPy .npy file"),
)

_schema: Any = None


def _s() -> Any:
    """The generated schema module (imported once; it does not need TensorFlow)."""
    global _schema
    if _schema is None:
        from ai_edge_litert import schema_py_generated

        _schema = schema_py_generated
    return _schema


def _tensor_name(t: Any, idx: int) -> str:
    """A tensor's name as stored, with control characters (which have no place in a name, and would reach
    error messages and a terminal) replaced by ``?``; ``t<index>`` when it has none."""
    raw = t.name.decode("utf-8", "replace") if t.name else ""
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", "?", raw) or f"t{idx}"


def _enum_names(enum_cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _guess_format(data: bytes) -> str:
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    return "not a TFLite flatbuffer"


def _read_source(source: str | Path | bytes | bytearray | memoryview) -> tuple[bytes, str, Path | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "model", None
    path = Path(source)
    what = f"model {path}"
    if not path.exists():
        raise ModelFormatError(f"{what} does not exist")
    if path.is_dir():
        raise ModelFormatError(f"{what} is a folder, not a .tflite file")
    from edgesdk.util.safeio import MAX_MODEL_BYTES, read_capped

    return read_capped(path, what, ModelFormatError, MAX_MODEL_BYTES), what, path


def _parse(data: bytes, what: str) -> Any:
    """Check the container, then unpack the flatbuffer; any parser exception becomes ModelFormatError."""
    n = len(data)
    if n == 0:
        raise ModelFormatError(f"{what} is empty (0 bytes)")
    if n < 8:
        raise ModelFormatError(f"{what} is truncated: {n} bytes, shorter than a flatbuffer header")
    if data[4:8] != FILE_IDENTIFIER:
        raise ModelFormatError(
            f"{what} is not a TFLite model: bytes 4..8 are {data[4:8]!r}, not {FILE_IDENTIFIER!r} "
            f"({_guess_format(data)})"
        )
    root = struct.unpack_from("<I", data, 0)[0]
    if root < 8 or root + 4 > n:
        raise ModelFormatError(
            f"{what} is truncated or corrupt: root table offset {root} is outside its {n} bytes"
        )
    try:
        model = _s().ModelT.InitFromPackedBuf(data, 0)
    except Exception as exc:  # struct.error, IndexError, ValueError, UnicodeDecodeError...
        m = re.search(r"at offset (\d+)", str(exc))
        if m and int(m.group(1)) >= n:
            raise ModelFormatError(
                f"{what} is truncated or corrupt: the flatbuffer refers to byte offset {m.group(1)} "
                f"but the file has only {n} bytes"
            ) from exc
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFormatError(
            f"{what} is truncated or corrupt: the flatbuffer cannot be parsed within its {n} bytes ({detail})"
        ) from exc
    if not model.subgraphs:
        raise ModelFormatError(f"{what} holds no subgraph")
    return model


def _op_name(model: Any, opcode_index: int, what: str) -> tuple[str, str | None]:
    """Return (builtin op name, custom code or None) of an operator code."""
    codes = model.operatorCodes or []
    if not 0 <= opcode_index < len(codes):
        raise ModelFormatError(f"{what} is corrupt: operator code index {opcode_index} is out of range")
    oc = codes[opcode_index]
    code = max(int(oc.deprecatedBuiltinCode or 0), int(oc.builtinCode or 0))
    name = _enum_names(_s().BuiltinOperator).get(code, f"BUILTIN_{code}")
    custom = (
        oc.customCode.decode("utf-8", "replace") if name == "CUSTOM" and oc.customCode is not None else None
    )
    return name, custom


def _dtype(t: Any, what: str, name: str) -> str:
    tname = _enum_names(_s().TensorType).get(int(t.type), f"TYPE_{t.type}")
    if tname not in _IR_DTYPES:
        raise UnsupportedOpError(f"tensor {name} of {what} has type {tname}, which edgesdk does not support")
    return _IR_DTYPES[tname][0]


def _shape_of(t: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in (t.shape if t.shape is not None else ()))


def _signature_of(t: Any) -> tuple[int, ...]:
    if t.shapeSignature is not None and len(t.shapeSignature):
        return tuple(int(d) for d in t.shapeSignature)
    return _shape_of(t)


def tflite_io(
    source: str | Path | bytes, what: str | None = None
) -> tuple[list[tuple[str, tuple[int, ...], str]], list[tuple[str, tuple[int, ...], str]]]:
    """The graph inputs and outputs of subgraph 0 as ``(name, shape_signature, dtype)``; ``-1`` marks a
    dynamic dimension. Cheap enough to decide how to load a model before reading it whole."""
    data, default_what, _ = _read_source(source)
    what = what or default_what
    model = _parse(data, what)
    sg = model.subgraphs[0]
    tensors = sg.tensors or []

    def info(idx: int) -> tuple[str, tuple[int, ...], str]:
        if not 0 <= idx < len(tensors):
            raise ModelFormatError(f"{what} is corrupt: graph tensor index {idx} is out of range")
        t = tensors[idx]
        name = _tensor_name(t, idx)
        return name, _signature_of(t), _dtype(t, what, name)

    ins = [info(int(i)) for i in (sg.inputs if sg.inputs is not None else [])]
    outs = [info(int(i)) for i in (sg.outputs if sg.outputs is not None else [])]
    return ins, outs


def tflite_is_float(source: str | Path | bytes, what: str | None = None) -> bool:
    """True if the model computes in float (a float weight, or a float activation inside the graph rather
    than at a QUANTIZE/DEQUANTIZE edge) and so needs calibration data to become int8."""
    data, default_what, _ = _read_source(source)
    model = _parse(data, what or default_what)
    return _float_layer(model, what or default_what) is not None


def tflite_hybrid_layer(source: str | Path | bytes, what: str | None = None) -> str | None:
    """The op name of the first layer of a dynamic-range ("hybrid") quantized model - a layer that computes in
    float32 from int8 constant weights, or a DEQUANTIZE of int8 constant weights - or None."""
    data, default_what, _ = _read_source(source)
    what = what or default_what
    model = _parse(data, what)
    sg = model.subgraphs[0]
    tensors = sg.tensors or []
    s = _s()
    for op in sg.operators or []:
        name, _ = _op_name(model, int(op.opcodeIndex), what)
        ins = [int(j) for j in (op.inputs if op.inputs is not None else []) if 0 <= j < len(tensors)]
        outs = [int(j) for j in (op.outputs if op.outputs is not None else []) if 0 <= j < len(tensors)]
        const_i8 = [
            j
            for j in ins
            if int(tensors[j].type) == s.TensorType.INT8 and _buffer_has_data(model, int(tensors[j].buffer))
        ]
        float_out = any(int(tensors[j].type) == s.TensorType.FLOAT32 for j in outs)
        if const_i8 and float_out:
            return name
    return None


def _float_layer(model: Any, what: str) -> tuple[int, str] | None:
    """(operator position, op name) of the first operator that computes in float, or None."""
    sg = model.subgraphs[0]
    tensors = sg.tensors or []
    f32 = _s().TensorType.FLOAT32
    for i, op in enumerate(sg.operators or []):
        name, _ = _op_name(model, int(op.opcodeIndex), what)
        if name in _EDGE_OPS:
            continue
        idxs = [
            int(j)
            for j in list(op.inputs if op.inputs is not None else [])
            + list(op.outputs if op.outputs is not None else [])
            if j >= 0
        ]
        if any(0 <= j < len(tensors) and int(tensors[j].type) == f32 for j in idxs):
            return i, name
    return None


_KEYWORDS: dict[str, tuple[str, ...]] = {
    "CONV_2D": ("conv",),
    "DEPTHWISE_CONV_2D": ("depthwise", "conv"),
    "FULLY_CONNECTED": ("matmul", "tensordot", "dense"),
    "AVERAGE_POOL_2D": ("avgpool", "avg_pool"),
    "MAX_POOL_2D": ("maxpool", "max_pool"),
    "ADD": ("add",),
    "MUL": ("mul",),
    "RESHAPE": ("reshape",),
    "SOFTMAX": ("softmax",),
    "PAD": ("pad",),
    "PADV2": ("pad",),
    "CONCATENATION": ("concat",),
    "MEAN": ("mean",),
    "LOGISTIC": ("sigmoid", "logistic"),
}


def _layer_name(tensor_names: list[str], op: str) -> str:
    """A readable layer name from TFLite tensor names (see the module docstring).

    ``tensor_names`` are tried in order (the output's first, then the constant inputs', since the last
    layer's output is often just ``Identity`` or ``StatefulPartitionedCall:0``); ``<op>`` if none has a
    ``scope/layer/op`` path.
    """
    choice: list[str] | None = None
    for tensor_name in tensor_names:
        parts = [p for p in tensor_name.split(";") if p and "ReadVariableOp" not in p]
        paths = [p.split("/") for p in parts if "/" in p]
        for path in paths:
            if path[-1].lower().startswith("biasadd") and op in (
                "CONV_2D",
                "DEPTHWISE_CONV_2D",
                "FULLY_CONNECTED",
            ):
                choice = path
                break
        if choice is None:
            for path in paths:
                if path[-1].lower().startswith(_KEYWORDS.get(op, (op.lower(),))):
                    choice = path
                    break
        if choice is None and paths:
            choice = paths[0]
        if choice is not None:
            break
    raw = choice[-2] if choice else op.lower()
    name = re.sub(r"[^0-9A-Za-z_]", "_", raw).strip("_") or op.lower()
    if name[0].isdigit():
        name = f"l_{name}"
    return name


def _unique(name: str, taken: set[str]) -> str:
    out, k = name, 0
    while out in taken:
        k += 1
        out = f"{name}_{k}"
    taken.add(out)
    return out


class _Reader:
    """Builds one Graph from an unpacked ModelT. Kept as a class only to share the lookup tables."""

    def __init__(self, model: Any, data: bytes, what: str, graph: ir.Graph) -> None:
        self.model = model
        self.data = data
        self.what = what
        self.graph = graph
        self.sg = model.subgraphs[0]
        self.tflite_tensors = self.sg.tensors or []
        self.names: dict[int, str] = {}  # TFLite index -> IR tensor name
        self.taken: set[str] = set()
        self.node_names: set[str] = set()

    # --- tensors ---------------------------------------------------------------------------------------
    def tensor(self, idx: int) -> str:
        """IR name of TFLite tensor ``idx`` (created on first use); ``""`` for an absent optional input."""
        if idx < 0:
            return ""
        if idx in self.names:
            return self.names[idx]
        if idx >= len(self.tflite_tensors):
            raise ModelFormatError(f"{self.what} is corrupt: tensor index {idx} is out of range")
        t = self.tflite_tensors[idx]
        name = _unique(_tensor_name(t, idx), self.taken)
        dtype = _dtype(t, self.what, name)
        shape = _shape_of(t)
        self.graph.add_tensor(
            ir.Tensor(
                name=name,
                shape=shape,
                dtype=dtype,
                quant=self._quant(t, name, shape),
                data=self._data(t, name, shape, dtype),
                index=idx,
            )
        )
        self.names[idx] = name
        return name

    def _quant(self, t: Any, name: str, shape: tuple[int, ...]) -> ir.QuantParams | None:
        q = t.quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            return None
        with np.errstate(all="ignore"):
            scale = np.asarray(q.scale, dtype=np.float64)
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ModelFormatError(
                f"{self.what} is corrupt: tensor {name} has a non-positive or non-finite scale"
            )
        zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else np.zeros_like(scale), dtype=np.int64)
        if zp.size == 1 and scale.size > 1:
            zp = np.full(scale.shape, int(zp[0]), dtype=np.int64)
        if zp.shape != scale.shape:
            raise ModelFormatError(
                f"{self.what} is corrupt: tensor {name} has {scale.size} scales and {zp.size} zero points"
            )
        axis: int | None = None
        if scale.size > 1:
            axis = int(q.quantizedDimension)
            if not 0 <= axis < len(shape) or shape[axis] != scale.size:
                raise ModelFormatError(
                    f"{self.what} is corrupt: tensor {name} has {scale.size} scales along axis {axis} of shape {shape}"
                )
        return ir.QuantParams(scale=scale, zero_point=zp, axis=axis)

    def _data(self, t: Any, name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray | None:
        buffers = self.model.buffers or []
        b = int(t.buffer)
        if b == 0:
            return None
        if not 0 < b < len(buffers):
            raise ModelFormatError(
                f"{self.what} is corrupt: tensor {name} refers to buffer {b} of {len(buffers)}"
            )
        buf = buffers[b]
        if buf.data is not None and len(buf.data):
            raw = np.asarray(buf.data, dtype=np.uint8).tobytes()
        elif int(buf.offset or 0) > 1:  # large models keep buffers after the flatbuffer
            start, size = int(buf.offset), int(buf.size)
            if start + size > len(self.data):
                raise ModelFormatError(
                    f"{self.what} is truncated: tensor {name} needs bytes {start}..{start + size} "
                    f"but the file has {len(self.data)}"
                )
            raw = self.data[start : start + size]
        else:
            return None  # a variable or an activation with an empty buffer
        np_dtype = np.dtype(next(v[1] for v in _IR_DTYPES.values() if v[0] == dtype))
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if len(raw) != count * np_dtype.itemsize:
            raise ModelFormatError(
                f"{self.what} is truncated or corrupt: tensor {name} holds {len(raw)} bytes, "
                f"expected {count * np_dtype.itemsize} for shape {shape} {dtype}"
            )
        arr = np.frombuffer(raw, dtype=np_dtype).astype(np_dtype.newbyteorder("="), copy=True)
        return arr.reshape(shape)

    def has_data(self, idx: int) -> bool:
        """True if TFLite tensor ``idx`` is a constant (its buffer holds bytes)."""
        if not 0 <= idx < len(self.tflite_tensors):
            return False
        return _buffer_has_data(self.model, int(self.tflite_tensors[idx].buffer))

    # --- operators ---------------------------------------------------------------------------------------
    def const(self, name: str, layer: str, what: str) -> np.ndarray:
        t = self.graph.tensors.get(name)
        if t is None or t.data is None:
            raise UnsupportedOpError(f"layer {layer}: the {what} must be a constant tensor")
        return t.data

    def activation(self, code: int, layer: str) -> str:
        act = _ACTIVATIONS.get(int(code), f"ACTIVATION_{code}")
        if act not in ir.ACTIVATIONS:
            raise UnsupportedOpError(f"layer {layer}: fused activation {act} is not supported")
        return act

    def padding(self, code: int, layer: str) -> str:
        pad = _PADDINGS.get(int(code))
        if pad is None:
            raise ModelFormatError(f"{self.what} is corrupt: layer {layer} has padding code {code}")
        return pad

    def build(self) -> None:
        sg = self.sg
        g = self.graph
        ops = sg.operators or []
        # Graph inputs first, so they get their own names before any op output.
        g.inputs = [self.tensor(int(i)) for i in (sg.inputs if sg.inputs is not None else [])]
        for op in ops:
            opname, custom = _op_name(self.model, int(op.opcodeIndex), self.what)
            outs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
            ins = [int(i) for i in (op.inputs if op.inputs is not None else [])]
            candidates = [
                self.tflite_tensors[i].name.decode("utf-8", "replace")
                for i in outs + [j for j in ins if self.has_data(j)]
                if 0 <= i < len(self.tflite_tensors) and self.tflite_tensors[i].name
            ]
            layer = _unique(_layer_name(candidates, opname if custom is None else "custom"), self.node_names)
            if custom is not None:
                raise UnsupportedOpError(f"layer {layer}: custom op {custom} is not supported")
            builder = _BUILDERS.get(opname)
            if builder is None:
                raise UnsupportedOpError(f"layer {layer}: op {opname} is not supported")
            inputs = [self.tensor(i) for i in ins]
            outputs = [self.tensor(i) for i in outs]
            try:
                node = builder(self, layer, inputs, outputs, op.builtinOptions)
            except EdgeSDKError:
                raise
            except (AttributeError, IndexError, TypeError, ValueError, KeyError) as exc:
                raise ModelFormatError(
                    f"{self.what} is corrupt: layer {layer} ({opname}) cannot be read ({exc})"
                ) from exc
            g.nodes.append(node)
        g.outputs = [self.tensor(int(i)) for i in (sg.outputs if sg.outputs is not None else [])]


def _opt(options: Any, attr: str, default: Any) -> Any:
    return default if options is None else getattr(options, attr, default)


def _fused(r: _Reader, layer: str, o: Any, **attrs: Any) -> dict[str, Any]:
    """The fused activation of an op's options, with the op's other attributes ``attrs``."""
    return {"activation": r.activation(_opt(o, "fusedActivationFunction", 0), layer), **attrs}


def _window_options(r: _Reader, layer: str, o: Any) -> dict[str, Any]:
    """Stride, dilation, padding and fused activation of a convolution's options."""
    return {
        "stride": (int(_opt(o, "strideH", 1)), int(_opt(o, "strideW", 1))),
        "dilation": (int(_opt(o, "dilationHFactor", 1)) or 1, int(_opt(o, "dilationWFactor", 1)) or 1),
        "padding": r.padding(_opt(o, "padding", 0), layer),
        "activation": r.activation(_opt(o, "fusedActivationFunction", 0), layer),
    }


def _b_conv(r: _Reader, layer: str, ins: list[str], outs: list[str], o: Any) -> ir.Node:
    return ir.Conv2D(name=layer, inputs=ins, outputs=outs, **_window_options(r, layer, o))


def _b_dwconv(r: _Reader, layer: str, ins: list[str], outs: list[str], o: Any) -> ir.Node:
    c_in = r.graph.tensors[ins[0]].shape[-1]
    c_out = r.graph.tensors[ins[1]].shape[-1]
    mult = int(_opt(o, "depthMultiplier", 1))
    if c_in and c_out % c_in == 0 and mult != c_out // c_in:
        # TFLite's kernels derive the multiplier from the shapes; some converters leave the field stale.
        log.debug(
            "layer %s: depth_multiplier %d in the options, %d from the shapes", layer, mult, c_out // c_in
        )
        mult = c_out // c_in
    return ir.DepthwiseConv2D(
        name=layer, inputs=ins, outputs=outs, depth_multiplier=mult, **_window_options(r, layer, o)
    )


def _b_fc(r: _Reader, layer: str, ins: list[str], outs: list[str], o: Any) -> ir.Node:
    if int(_opt(o, "weightsFormat", 0)) != 0:
        raise UnsupportedOpError(f"layer {layer}: op FULLY_CONNECTED with shuffled weights is not supported")
    keep = bool(_opt(o, "keepNumDims", False))
    return ir.FullyConnected(name=layer, inputs=ins, outputs=outs, **_fused(r, layer, o, keep_num_dims=keep))


def _b_pool(cls: type[ir.Node]) -> Callable[..., ir.Node]:
    def build(r: _Reader, layer: str, ins: list[str], outs: list[str], o: Any) -> ir.Node:
        window = {
            "filter": (int(_opt(o, "filterHeight", 1)), int(_opt(o, "filterWidth", 1))),
            "stride": (int(_opt(o, "strideH", 1)), int(_opt(o, "strideW", 1))),
            "padding": r.padding(_opt(o, "padding", 0), layer),
        }
        return cls(name=layer, inputs=ins, outputs=outs, **_fused(r, layer, o, **window))

    return build


def _b_elementwise(cls: type[ir.Node]) -> Callable[..., ir.Node]:
    def build(r: _Reader, layer: str, ins: list[str], outs: list[str], o: Any) -> ir.Node:
        return cls(name=layer, inputs=ins, outputs=outs, **_fused(r, layer, o))

    return build


def _b_reshape(r: _Reader, layer: str, ins: list[str], outs: list[str], o: Any) -> ir.Node:
    # The output tensor's static shape is authoritative (options and the shape tensor may hold -1).
    return ir.Reshape(name=layer, inputs=ins, outputs=outs, new_shape=r.graph.tensors[outs[0]].shape)


def _b_softmax(r: _Reader, layer: str, ins: list[str], outs: list[str], o: Any) -> ir.Node:
    return ir.Softmax(name=layer, inputs=ins, outputs=outs, beta=float(_opt(o, "beta", 1.0)))


def _b_pad(r: _Reader, layer: str, ins: list[str], outs: list[str], o: Any) -> ir.Node:
    pads = r.const(ins[1], layer, "paddings tensor").astype(np.int64).reshape(-1, 2)
    if len(ins) > 2 and ins[2]:  # PADV2: only a pad value equal to the output zero point (i.e. zero)
        value = r.const(ins[2], layer, "pad value").reshape(-1)
        out = r.graph.tensors[outs[0]]
        zp = out.quant.zp if out.quant is not None else 0
        if value.size != 1 or int(value[0]) != zp:
            raise UnsupportedOpError(
                f"layer {layer}: op PADV2 with a pad value other than zero is not supported"
            )
        ins = ins[:2]
    return ir.Pad(name=layer, inputs=ins, outputs=outs, paddings=tuple((int(a), int(b)) for a, b in pads))


def _b_concat(r: _Reader, layer: str, ins: list[str], outs: list[str], o: Any) -> ir.Node:
    rank = len(r.graph.tensors[outs[0]].shape)
    axis = int(_opt(o, "axis", 0))
    return ir.Concatenation(
        name=layer, inputs=ins, outputs=outs, **_fused(r, layer, o, axis=axis + rank if axis < 0 else axis)
    )


def _b_mean(r: _Reader, layer: str, ins: list[str], outs: list[str], o: Any) -> ir.Node:
    rank = len(r.graph.tensors[ins[0]].shape)
    axes = r.const(ins[1], layer, "axes tensor").reshape(-1)
    norm = tuple(sorted({int(a) + rank if int(a) < 0 else int(a) for a in axes}))
    return ir.Mean(
        name=layer, inputs=ins, outputs=outs, axes=norm, keep_dims=bool(_opt(o, "keepDims", False))
    )


def _b_plain(cls: type[ir.Node]) -> Callable[..., ir.Node]:
    def build(r: _Reader, layer: str, ins: list[str], outs: list[str], o: Any) -> ir.Node:
        return cls(name=layer, inputs=ins, outputs=outs)

    return build


_BUILDERS: dict[str, Callable[..., ir.Node]] = {
    "CONV_2D": _b_conv,
    "DEPTHWISE_CONV_2D": _b_dwconv,
    "FULLY_CONNECTED": _b_fc,
    "AVERAGE_POOL_2D": _b_pool(ir.AveragePool2D),
    "MAX_POOL_2D": _b_pool(ir.MaxPool2D),
    "ADD": _b_elementwise(ir.Add),
    "MUL": _b_elementwise(ir.Mul),
    "RESHAPE": _b_reshape,
    "SOFTMAX": _b_softmax,
    "PAD": _b_pad,
    "PADV2": _b_pad,
    "CONCATENATION": _b_concat,
    "MEAN": _b_mean,
    "LOGISTIC": _b_plain(ir.Logistic),
    "QUANTIZE": _b_plain(ir.Quantize),
    "DEQUANTIZE": _b_plain(ir.Dequantize),
}

#: The TFLite builtin operators this frontend reads.
SUPPORTED_OPS: tuple[str, ...] = tuple(_BUILDERS)


def _buffer_has_data(model: Any, b: int) -> bool:
    buffers = model.buffers or []
    if not 0 < b < len(buffers):
        return False
    buf = buffers[b]
    return (buf.data is not None and len(buf.data) > 0) or int(buf.offset or 0) > 1


def _static_graph(model: Any, what: str) -> bool:
    """True if no operator needs the batch size at run time: no SHAPE op, and every RESHAPE takes its new
    shape from a constant (what a None batch leaves behind is SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE)."""
    sg = model.subgraphs[0]
    tensors = sg.tensors or []
    for op in sg.operators or []:
        name, _ = _op_name(model, int(op.opcodeIndex), what)
        if name == "SHAPE":
            return False
        ins = [int(i) for i in (op.inputs if op.inputs is not None else [])]
        if name == "RESHAPE" and len(ins) > 1 and ins[1] >= 0:
            if ins[1] >= len(tensors) or not _buffer_has_data(model, int(tensors[ins[1]].buffer)):
                return False
    return True


def _check_model(model: Any, what: str) -> None:
    """Whole-model checks that come before reading any operator, most fundamental first."""
    if len(model.subgraphs) > 1:
        raise UnsupportedOpError(
            f"{what} has {len(model.subgraphs)} subgraphs (control flow such as WHILE or IF); "
            "only single-subgraph models are supported"
        )
    sg = model.subgraphs[0]
    tensors = sg.tensors or []
    for i in sg.inputs if sg.inputs is not None else []:
        if not 0 <= int(i) < len(tensors):
            raise ModelFormatError(f"{what} is corrupt: graph input index {int(i)} is out of range")
        t = tensors[int(i)]
        name = _tensor_name(t, int(i))
        sig = _signature_of(t)
        if sig and sig[0] < 0:
            if _shape_of(t)[:1] == (1,) and _static_graph(model, what):
                # Exported with a None batch, but every shape in the graph is static: it runs at batch 1.
                log.info(
                    "input %s has a dynamic batch signature %s but a static graph; using batch 1", name, sig
                )
                sig = (1, *sig[1:])
            else:
                raise ModelFormatError(
                    f"input {name} has a dynamic batch dimension (shape {list(sig)}) and the graph computes "
                    "shapes at run time; re-export the model with keras.Input(shape, batch_size=1), or give "
                    "edgesdk the Keras model (it fixes the batch to 1)"
                )
        if any(d < 0 for d in sig):
            raise ModelFormatError(
                f"input {name} has a dynamic dimension (shape {list(sig)}); export it with a fixed shape"
            )


def _check_types(graph: ir.Graph, what: str) -> None:
    """Activations must be int8; float is allowed only at QUANTIZE/DEQUANTIZE edges."""
    for node in graph.nodes:
        for name in node.inputs + node.outputs:
            if not name:
                continue
            t = graph.tensors[name]
            if t.is_const:
                continue
            if t.dtype in ("int16", "uint8"):
                raise UnsupportedOpError(
                    f"layer {node.name}: {t.dtype} activations (tensor {name}) are not supported; "
                    "quantize the model to int8"
                )
            if t.dtype == "float32" and node.op not in _EDGE_OPS:
                raise CalibrationError(
                    f"{what} is a float model (layer {node.name} computes in float32); pass calibration data "
                    "(--calib DATA) to quantize it to int8"
                )
            if t.dtype not in ("int8", "float32", "int32"):
                raise UnsupportedOpError(
                    f"layer {node.name}: {t.dtype} activations (tensor {name}) are not supported"
                )


def read_tflite(source: str | Path | bytes, name: str | None = None) -> ir.Graph:
    """Read an int8 ``.tflite`` (path or bytes) into a :class:`Graph` (see the module docstring).

    ``name`` defaults to the file's stem (``model`` for bytes). ``graph.source`` is the path ('' for
    bytes) and ``graph.sha256`` the hash of the file's bytes.
    """
    data, what, path = _read_source(source)
    model = _parse(data, what)
    _check_model(model, what)
    graph = ir.Graph(
        name=name or (path.stem if path is not None else "model"),
        source=str(path) if path is not None else "",
        sha256=hashlib.sha256(data).hexdigest(),
    )
    reader = _Reader(model, data, what, graph)
    reader.build()
    fl = _float_layer(model, what)
    if fl is not None:
        raise CalibrationError(
            f"{what} is a float model (layer {graph.nodes[fl[0]].name} computes in float32); "
            "pass calibration data (--calib DATA) to quantize it to int8"
        )
    _check_types(graph, what)
    try:
        graph.validate()
    except ValueError as exc:
        raise ModelFormatError(f"{what} is corrupt: {exc}") from exc
    from edgesdk.frontends.verify import verify_graph

    verify_graph(graph, what)
    log.debug("read %s: %d tensors, %d layers", what, len(graph.tensors), len(graph.nodes))
    return graph


__all__ = ["SUPPORTED_OPS", "read_tflite", "tflite_hybrid_layer", "tflite_io", "tflite_is_float"]
