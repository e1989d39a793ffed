"""A semantic verifier run on every model right after it is read, before anything trusts it.

TFLite Micro verifies that a flatbuffer is well formed; it does not check that what the file declares makes
sense. A model whose declared output shape disagrees with what its inputs and options give, whose stride is 0,
whose zero point is 2**40 or whose scales give a shift of 90 passes a flatbuffer check and then makes generated
C read out of bounds or shift by more than the word size. This module re-derives what can be derived and
checks what cannot, so that the contract holds: **a model that ``inspect`` accepts exports, builds, runs
clean under ASan/UBSan and equals the reference; anything else is refused with one sentence** naming the
layer (operator), the tensor and the field.

Every model passes it, whatever it was read from: ``.tflite`` (:mod:`edgesdk.frontends.tflite`), edgesdk's own
archives (:mod:`edgesdk.ir.serialize`, after their sizes and JSON schema are checked), and freshly quantized or
compressed models (which are read back through one of those two).

Checks, per graph: at least one operator, input and output; layer names unique; every activation int8 (float32
only through one QUANTIZE/DEQUANTIZE at the edge). Per tensor: every dimension at least 1 and small enough that no size or byte offset overflows 32
bits, activation tensors at most :data:`MAX_ACTIVATION_BYTES`, constants at most :data:`MAX_CONSTANT_BYTES`,
constant data of exactly shape x itemsize bytes, int8 zero points in -128..127, per-channel quantization only
on weights and along the output-channel axis. Per operator: input count, output count (operators with
several outputs - SPLIT, UNPACK, ... - are refused), the output shape re-derived from the inputs and options
and equal to the declared one, stride >= 1, dilation >= 1, a window no larger than the padded input, weights
constant, int8 weights symmetric (zero point 0), int32 bias with one value per output channel, softmax beta
finite and > 0, pooling on 4-D tensors only, int32 accumulators that cannot overflow. Finally every integer
parameter the kernels will get (:func:`edgesdk.reference.params.op_params`, the single source of those
numbers) must be representable: multipliers and offsets in int32, shifts within [-31, 31].

edgesdk's own operators: BINARIZE, XNOR fully connected/conv and UNPACK_BITS (:mod:`edgesdk.ir.binary`) with
channel counts that fit the packed last dimension, one threshold and flip per channel (int32), packed int32
weights of the derived shape with zero bits past each row's end, pad value +1 or -1, UNPACK values in int8, and
packed inputs written by BINARIZE or an XNOR layer (the kernels rely on zero tail bits); AdderNet's L1
convolution (:mod:`edgesdk.ir.adder`) with int16 OHWI weights, an int32 bias per output channel, one finite
positive accumulator scale per output channel and an int32 accumulator that cannot overflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from edgesdk.errors import EdgeSDKError, ModelFormatError, UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.ir.graph import MAX_DIM

#: Largest activation tensor (bytes): more RAM than any microcontroller edgesdk targets has, by a margin.
MAX_ACTIVATION_BYTES = 4 << 20
#: Largest constant tensor (bytes).
MAX_CONSTANT_BYTES = 64 << 20
#: Largest sum of all activation tensors and of all constants (bytes): arena offsets and flash addresses stay
#: far inside 32 bits whatever the planner does.
MAX_TOTAL_ACTIVATION_BYTES = 64 << 20
MAX_TOTAL_CONSTANT_BYTES = 256 << 20
#: Largest rank of any tensor (the C backend right-aligns shapes to 4 dimensions).
MAX_RANK = 4
#: int8 x int8 products are at most 255 x 128 in magnitude (input offset applied, weights -128..127).
_MAX_PRODUCT = 255 * 128
_I32 = (-(1 << 31), (1 << 31) - 1)

#: (minimum, maximum) number of inputs of each operator ("" marks an absent optional input).
_ARITY: dict[str, tuple[int, int]] = {
    "CONV_2D": (2, 3),
    "DEPTHWISE_CONV_2D": (2, 3),
    "FULLY_CONNECTED": (2, 3),
    "AVERAGE_POOL_2D": (1, 1),
    "MAX_POOL_2D": (1, 1),
    "ADD": (2, 2),
    "MUL": (2, 2),
    "RESHAPE": (1, 2),
    "SOFTMAX": (1, 1),
    "PAD": (1, 2),
    "CONCATENATION": (1, 64),
    "MEAN": (1, 2),
    "LOGISTIC": (1, 1),
    "QUANTIZE": (1, 1),
    "DEQUANTIZE": (1, 1),
    "EDGESDK_BINARIZE": (1, 1),
    "EDGESDK_XNOR_FULLY_CONNECTED": (2, 2),
    "EDGESDK_XNOR_CONV_2D": (2, 2),
    "EDGESDK_UNPACK_BITS": (1, 1),
    "EDGESDK_ADDER_CONV_2D": (2, 3),
}
#: Operators whose output is packed bits (and whose bit inputs must come from one of them: the kernels rely on
#: the bits past the channel count being zero, which only these write).
_BIT_WRITERS = ("EDGESDK_BINARIZE", "EDGESDK_XNOR_FULLY_CONNECTED", "EDGESDK_XNOR_CONV_2D")
_BIT_READERS = ("EDGESDK_XNOR_FULLY_CONNECTED", "EDGESDK_XNOR_CONV_2D", "EDGESDK_UNPACK_BITS")


class _Fail:
    """Builds the one sentence: ``<model> is invalid: layer L (OP): tensor T: field F ...``."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __call__(self, node: ir.Node | None, msg: str, tensor: str | None = None) -> ModelFormatError:
        where = f"layer {node.name} ({node.op})" if node is not None else "graph"
        t = f", tensor {tensor}" if tensor else ""
        return ModelFormatError(f"{self.what} is invalid: {where}{t}: {msg}")


def verify_graph(graph: ir.Graph, what: str | None = None) -> None:
    """Raise :class:`ModelFormatError` (or :class:`UnsupportedOpError` for a well-formed model that uses
    something edgesdk does not run) unless ``graph`` satisfies every check in the module docstring."""
    fail = _Fail(what or f"model {graph.name}")
    if not graph.nodes:
        raise fail(None, "it holds no operators")
    if not graph.inputs or not graph.outputs:
        raise fail(None, "it has no graph inputs or no graph outputs")
    seen_names: set[str] = set()
    for node in graph.nodes:
        if not node.outputs or any(not n for n in node.outputs):
            raise fail(node, "an output tensor index is missing (-1, or an empty name)")
        if node.name in seen_names:
            raise fail(node, "another layer has the same name")
        seen_names.add(node.name)
    _check_edges(graph)
    produced: set[str] = set()
    for name in graph.inputs:
        t = graph.tensors[name]
        if t.is_const:
            raise fail(None, "a graph input is a constant", name)
    for node in graph.nodes:
        for name in node.outputs:
            if name in produced or name in graph.inputs:
                raise fail(
                    node, "the output is written twice (it is a graph input or another layer's output)", name
                )
            if graph.tensors[name].is_const:
                raise fail(node, "the output is a constant tensor", name)
            produced.add(name)
    for name in graph.outputs:
        if name not in produced:
            raise fail(
                None, "a graph output is not computed by any layer (a constant or a graph input)", name
            )
    for t in graph.tensors.values():
        _check_tensor(t, fail)
    for node in graph.nodes:
        for name in node.inputs + node.outputs:
            t = graph.tensors[name] if name else None
            if t is None or t.is_const or t.dtype == "int8":
                continue
            if t.dtype == "float32" and node.op in ("QUANTIZE", "DEQUANTIZE"):
                continue  # at the model's edge: _check_edges
            raise UnsupportedOpError(
                f"layer {node.name}: {t.dtype} activations (tensor {name}) are not supported; edgesdk computes "
                "with int8 activations"
            )
    for const, limit in ((False, MAX_TOTAL_ACTIVATION_BYTES), (True, MAX_TOTAL_CONSTANT_BYTES)):
        total = sum(t.nbytes for t in graph.tensors.values() if t.is_const == const)
        if total > limit:
            kind = "constants" if const else "activation tensors"
            raise fail(
                None, f"its {kind} take {total:,} bytes in all, more than the {limit:,} edgesdk allows"
            )
    for node in graph.nodes:
        _check_node(graph, node, fail)


def _check_edges(graph: ir.Graph) -> None:
    """Model inputs and outputs are int8; float32 only at the edge, through one QUANTIZE that reads a graph input
    (and nothing else reads it) or one DEQUANTIZE that writes a graph output (read by no layer). This is the
    rule by which the C backend cuts a model's float interface (``backends/c/generator.py``, ``_int8_view``)."""
    for node in graph.nodes:
        x = graph.tensors[node.inputs[0]] if node.inputs and node.inputs[0] else None
        if node.op == "QUANTIZE" and x is not None and x.dtype == "float32":
            if x.name not in graph.inputs or len(graph.consumers(x.name)) != 1:
                raise UnsupportedOpError(
                    f"layer {node.name}: QUANTIZE from float32 is supported only on a model input"
                )
        if node.op == "DEQUANTIZE":
            out = node.outputs[0]
            if out not in graph.outputs or graph.consumers(out):
                raise UnsupportedOpError(f"layer {node.name}: DEQUANTIZE is supported only on a model output")
    for name in graph.inputs + graph.outputs:
        t = graph.tensors[name]
        if t.dtype == "int8":
            continue
        if t.dtype == "float32":
            cons = graph.consumers(name)
            prod = graph.producer(name)
            if name in graph.inputs and len(cons) == 1 and cons[0].op == "QUANTIZE":
                continue
            if name in graph.outputs and prod is not None and prod.op == "DEQUANTIZE" and not cons:
                continue
        kind = "input" if name in graph.inputs else "output"
        raise UnsupportedOpError(
            f"model {kind} {name} is {t.dtype}; model inputs and outputs must be int8 (or float32 through "
            "one QUANTIZE or DEQUANTIZE at the edge)"
        )


def _check_tensor(t: ir.Tensor, fail: _Fail) -> None:
    if len(t.shape) > MAX_RANK and not t.is_const:
        raise UnsupportedOpError(
            f"tensor {t.name} has rank {len(t.shape)}; edgesdk supports up to {MAX_RANK}"
        )
    for i, d in enumerate(t.shape):
        if not 1 <= d <= MAX_DIM:
            raise fail(None, f"dimension {i} of shape {list(t.shape)} is {d}, outside 1..{MAX_DIM}", t.name)
    limit = MAX_CONSTANT_BYTES if t.is_const else MAX_ACTIVATION_BYTES
    if t.nbytes > limit:
        raise fail(
            None,
            f"shape {list(t.shape)} {t.dtype} takes {t.nbytes:,} bytes, more than the {limit:,} edgesdk allows "
            f"for {'a constant' if t.is_const else 'an activation'}",
            t.name,
        )
    if t.is_const:
        assert t.data is not None
        if t.data.size != t.size or t.data.dtype.itemsize != t.itemsize:
            raise fail(
                None, f"buffer holds {t.data.nbytes} bytes, shape {list(t.shape)} needs {t.nbytes}", t.name
            )
        if t.data.dtype.kind == "f" and not np.all(np.isfinite(t.data)):
            raise fail(None, "constant data holds NaN or infinity", t.name)
    q = t.quant
    if q is not None and t.dtype in ("int8", "int16", "int32", "uint8"):
        if not np.all(np.isfinite(q.scale)) or np.any(q.scale <= 0) or np.any(q.scale > 1e30):
            raise fail(None, "field scale is not a finite positive number", t.name)
        if np.any(q.scale < 1e-30):
            raise fail(None, f"field scale {float(np.min(q.scale)):g} is too small to represent", t.name)
        info = np.iinfo(np.dtype(t.dtype))
        zmin, zmax = int(q.zero_point.min()), int(q.zero_point.max())
        if zmin < info.min or zmax > info.max:
            bad = zmin if zmin < info.min else zmax
            raise fail(
                None, f"field zero_point {bad} is outside the {t.dtype} range {info.min}..{info.max}", t.name
            )
        if q.scale.size > 1 and not t.is_const:
            raise UnsupportedOpError(
                f"tensor {t.name}: per-channel quantization of an activation is not supported"
            )


def _shape(graph: ir.Graph, name: str) -> tuple[int, ...]:
    return graph.tensors[name].shape


def _expect(node: ir.Node, out: ir.Tensor, shape: tuple[int, ...], fail: _Fail) -> None:
    if tuple(out.shape) != tuple(shape):
        raise fail(
            node,
            f"declared output shape {list(out.shape)} differs from {list(shape)}, the shape its inputs and "
            "options give",
            out.name,
        )


def _window(
    node: ir.Node, x: ir.Tensor, kh: int, kw: int, dil: tuple[int, int], fail: _Fail
) -> tuple[int, int]:
    """Output height and width of a window op (TFLite's ComputeOutSize), checking stride, dilation and size."""
    from edgesdk.reference.params import compute_out_size

    stride: tuple[int, int] = node.stride  # type: ignore[attr-defined]
    padding: str = node.padding  # type: ignore[attr-defined]
    for field, v in (("stride_h", stride[0]), ("stride_w", stride[1])):
        if not 1 <= v <= MAX_DIM:
            raise fail(node, f"field {field} is {v}; it must be at least 1")
    for field, v in (("dilation_h", dil[0]), ("dilation_w", dil[1])):
        if not 1 <= v <= MAX_DIM:
            raise fail(node, f"field {field} is {v}; it must be at least 1")
    if padding not in ir.PADDINGS:
        raise fail(node, f"field padding is {padding!r}")
    oh = compute_out_size(padding, x.shape[1], kh, stride[0], dil[0])
    ow = compute_out_size(padding, x.shape[2], kw, stride[1], dil[1])
    if oh < 1 or ow < 1:
        raise fail(
            node,
            f"the {kh}x{kw} window (dilation {dil[0]}x{dil[1]}) is larger than the padded "
            f"{x.shape[1]}x{x.shape[2]} input",
            x.name,
        )
    return oh, ow


def _rank(node: ir.Node, t: ir.Tensor, ranks: tuple[int, ...], fail: _Fail) -> None:
    if len(t.shape) not in ranks:
        raise fail(
            node,
            f"shape {list(t.shape)} has rank {len(t.shape)}, the op needs {' or '.join(map(str, ranks))}",
            t.name,
        )


def _weights(graph: ir.Graph, node: ir.Node, fail: _Fail, int8: bool) -> tuple[ir.Tensor, ir.Tensor | None]:
    w = graph.tensors[node.inputs[1]] if node.inputs[1] else None
    if w is None or not w.is_const:
        raise UnsupportedOpError(f"layer {node.name}: the weights must be a constant tensor")
    bias = graph.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
    if bias is not None and not bias.is_const:
        raise UnsupportedOpError(f"layer {node.name}: the bias must be a constant tensor")
    if int8:
        if w.dtype != "int8":
            raise UnsupportedOpError(
                f"layer {node.name}: {w.dtype} weights (tensor {w.name}) are not supported"
            )
        if w.quant is None:
            raise fail(node, "int8 weights have no quantization", w.name)
        if np.any(w.quant.zero_point != 0):
            raise fail(
                node,
                f"field zero_point of the weights is {int(w.quant.zero_point.flat[np.argmax(w.quant.zero_point != 0)])}; int8 weights must be symmetric (0)",
                w.name,
            )
        if bias is not None and bias.dtype != "int32":
            raise UnsupportedOpError(
                f"layer {node.name}: {bias.dtype} bias (tensor {bias.name}) is not supported"
            )
    elif w.dtype != "float32" or (bias is not None and bias.dtype != "float32"):
        raise UnsupportedOpError(f"layer {node.name}: a float layer needs float32 weights and bias")
    return w, bias


def _per_channel_axis(node: ir.Node, w: ir.Tensor, axis: int, channels: int, fail: _Fail) -> None:
    q = w.quant
    if q is None or q.scale.size == 1:
        return
    if q.axis != axis or q.scale.size != channels:
        raise fail(
            node,
            f"field quantized_dimension is {q.axis} with {q.scale.size} scales; the op needs "
            f"{channels} scales along axis {axis}",
            w.name,
        )


def _accumulator(node: ir.Node, w: ir.Tensor, bias: ir.Tensor | None, depth: int, fail: _Fail) -> None:
    """The int32 accumulator of a MAC loop cannot overflow: depth x 255 x max|w| + max|bias| < 2**31."""
    assert w.data is not None
    wmax = int(np.max(np.abs(w.data.astype(np.int64)))) if w.data.size else 0
    bmax = (
        int(np.max(np.abs(bias.data.astype(np.int64))))
        if bias is not None and bias.data is not None and bias.data.size
        else 0
    )
    if depth * 255 * max(wmax, 1) + bmax > _I32[1]:
        raise fail(
            node,
            f"an int32 accumulator can overflow ({depth} products of up to 255 x {wmax} plus a bias "
            f"of up to {bmax})",
            w.name,
        )


def _check_conv(graph: ir.Graph, node: ir.Node, x: ir.Tensor, out: ir.Tensor, fail: _Fail) -> None:
    """CONV_2D and DEPTHWISE_CONV_2D: weights, window, output shape, bias, batch 1, the accumulator's range."""
    op = node.op
    _rank(node, x, (4,), fail)
    w, bias = _weights(graph, node, fail, x.dtype == "int8")
    _rank(node, w, (4,), fail)
    dil = node.dilation  # type: ignore[attr-defined]
    oh, ow = _window(node, x, w.shape[1], w.shape[2], dil, fail)
    if op == "CONV_2D":
        if w.shape[3] != x.shape[3]:
            raise fail(
                node, f"the weights have {w.shape[3]} input channels, the input has {x.shape[3]}", w.name
            )
        oc, depth = w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]
        _per_channel_axis(node, w, 0, oc, fail)
    else:
        if w.shape[0] != 1 or w.shape[3] % x.shape[3]:
            raise fail(
                node,
                f"depthwise weights of shape {list(w.shape)} do not fit {x.shape[3]} input channels",
                w.name,
            )
        if node.depth_multiplier != w.shape[3] // x.shape[3]:  # type: ignore[attr-defined]
            raise fail(
                node,
                f"field depth_multiplier is {node.depth_multiplier}, the shapes give {w.shape[3] // x.shape[3]}",
            )  # type: ignore[attr-defined]
        oc, depth = w.shape[3], w.shape[1] * w.shape[2]
        _per_channel_axis(node, w, 3, oc, fail)
    _expect(node, out, (x.shape[0], oh, ow, oc), fail)
    if bias is not None and bias.shape != (oc,):
        raise fail(
            node,
            f"bias shape {list(bias.shape)} differs from [{oc}] (one value per output channel)",
            bias.name,
        )
    if x.shape[0] != 1:
        raise UnsupportedOpError(f"layer {node.name}: batch {x.shape[0]} is not supported (batch must be 1)")
    if x.dtype == "int8":
        _accumulator(node, w, bias, depth, fail)


def _check_fc(graph: ir.Graph, node: ir.Node, x: ir.Tensor, out: ir.Tensor, fail: _Fail) -> None:
    """FULLY_CONNECTED: weights against the input's rows, output shape, bias, the accumulator's range."""
    w, bias = _weights(graph, node, fail, x.dtype == "int8")
    _rank(node, w, (2,), fail)
    oc, ic = w.shape
    if x.size % ic:
        raise fail(node, f"{x.size} input values are not a whole number of rows of {ic}", x.name)
    rows = x.size // ic
    if node.keep_num_dims:  # type: ignore[attr-defined]
        if x.shape[-1] != ic:
            raise fail(
                node, f"the input's last dimension {x.shape[-1]} differs from the weights' {ic}", x.name
            )
        _expect(node, out, (*x.shape[:-1], oc), fail)
    else:
        if rows != x.shape[0]:
            raise UnsupportedOpError(
                f"layer {node.name}: FULLY_CONNECTED over {rows} rows of a {list(x.shape)} input is not "
                "supported (flatten the input first)"
            )
        _expect(node, out, (rows, oc), fail)
    _per_channel_axis(node, w, 0, oc, fail)
    if bias is not None and bias.shape != (oc,):
        raise fail(
            node, f"bias shape {list(bias.shape)} differs from [{oc}] (one value per output)", bias.name
        )
    if x.dtype == "int8":
        _accumulator(node, w, bias, ic, fail)


def _check_pool(graph: ir.Graph, node: ir.Node, x: ir.Tensor, out: ir.Tensor, fail: _Fail) -> None:
    """The pools: window, output shape, batch 1, the average's int32 sum."""
    op = node.op
    _rank(node, x, (4,), fail)
    kh, kw = node.filter  # type: ignore[attr-defined]
    for field, v in (("filter_height", kh), ("filter_width", kw)):
        if not 1 <= v <= MAX_DIM:
            raise fail(node, f"field {field} is {v}; it must be at least 1")
    oh, ow = _window(node, x, kh, kw, (1, 1), fail)
    _expect(node, out, (x.shape[0], oh, ow, x.shape[3]), fail)
    if x.shape[0] != 1:
        raise UnsupportedOpError(f"layer {node.name}: batch {x.shape[0]} is not supported (batch must be 1)")
    if op == "AVERAGE_POOL_2D" and kh * kw * 128 > _I32[1]:
        raise fail(node, f"a {kh}x{kw} window overflows the int32 sum")


def _check_binary(graph: ir.Graph, node: ir.Node, x: ir.Tensor, out: ir.Tensor, fail: _Fail) -> None:
    """ADD and MUL: the inputs broadcast to the output and have one type."""
    y = graph.tensors[node.inputs[1]]
    try:
        shape = np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        raise fail(
            node, f"input shapes {list(x.shape)} and {list(y.shape)} do not broadcast", y.name
        ) from None
    _expect(node, out, tuple(shape), fail)
    if x.dtype != y.dtype:
        raise fail(node, f"the inputs have types {x.dtype} and {y.dtype}", y.name)


def _check_reshape(graph: ir.Graph, node: ir.Node, x: ir.Tensor, out: ir.Tensor, fail: _Fail) -> None:
    """RESHAPE keeps the number of values."""
    if out.size != x.size:
        raise fail(
            node,
            f"reshaping {x.size} values ({list(x.shape)}) to {list(out.shape)} ({out.size})",
            out.name,
        )


def _check_same_shape(graph: ir.Graph, node: ir.Node, x: ir.Tensor, out: ir.Tensor, fail: _Fail) -> None:
    """Element-wise ops: the output has the input's shape (SOFTMAX: a finite positive beta)."""
    op = node.op
    _expect(node, out, x.shape, fail)
    if op == "SOFTMAX":
        beta = float(node.beta)  # type: ignore[attr-defined]
        if not math.isfinite(beta) or beta <= 0:
            raise fail(node, f"field beta is {beta}; it must be finite and positive")


def _check_pad(graph: ir.Graph, node: ir.Node, x: ir.Tensor, out: ir.Tensor, fail: _Fail) -> None:
    """PAD: one row of non-negative paddings per dimension."""
    pads = node.paddings  # type: ignore[attr-defined]
    if len(pads) != len(x.shape):
        raise fail(node, f"field paddings has {len(pads)} rows for a rank-{len(x.shape)} input")
    for i, (a, b) in enumerate(pads):
        if not (0 <= a <= MAX_DIM and 0 <= b <= MAX_DIM):
            raise fail(node, f"field paddings[{i}] is ({a}, {b}); paddings must be non-negative")
    _expect(node, out, tuple(d + a + b for d, (a, b) in zip(x.shape, pads, strict=True)), fail)


def _check_concat(graph: ir.Graph, node: ir.Node, x: ir.Tensor, out: ir.Tensor, fail: _Fail) -> None:
    """CONCATENATION: the inputs fit the output along the axis and have its type."""
    parts = [graph.tensors[n] for n in node.inputs if n]
    rank = len(out.shape)
    axis = node.axis  # type: ignore[attr-defined]
    if not 0 <= axis < rank:
        raise fail(node, f"field axis is {axis} for rank-{rank} tensors")
    for p in parts:
        if len(p.shape) != rank or any(p.shape[i] != out.shape[i] for i in range(rank) if i != axis):
            raise fail(
                node,
                f"input shape {list(p.shape)} does not fit output shape {list(out.shape)} along axis {axis}",
                p.name,
            )
        if p.dtype != out.dtype:
            raise fail(node, f"input type {p.dtype} differs from the output's {out.dtype}", p.name)
    _expect(
        node,
        out,
        tuple(sum(p.shape[axis] for p in parts) if i == axis else out.shape[i] for i in range(rank)),
        fail,
    )


def _check_mean(graph: ir.Graph, node: ir.Node, x: ir.Tensor, out: ir.Tensor, fail: _Fail) -> None:
    """MEAN: axes in range, the output's shape."""
    rank = len(x.shape)
    axes = node.axes  # type: ignore[attr-defined]
    if any(not 0 <= a < rank for a in axes):
        raise fail(node, f"field axes {list(axes)} is out of range for a rank-{rank} input")
    if node.keep_dims:  # type: ignore[attr-defined]
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    if tuple(out.shape) != shape and out.size != int(np.prod(shape, dtype=np.int64)):
        _expect(node, out, shape, fail)


#: The shape and field checks of each built-in op.
_OP_CHECKS: dict[str, Callable[[ir.Graph, ir.Node, ir.Tensor, ir.Tensor, _Fail], None]] = {
    **dict.fromkeys(("CONV_2D", "DEPTHWISE_CONV_2D"), _check_conv),
    **dict.fromkeys(("FULLY_CONNECTED",), _check_fc),
    **dict.fromkeys(("AVERAGE_POOL_2D", "MAX_POOL_2D"), _check_pool),
    **dict.fromkeys(("ADD", "MUL"), _check_binary),
    **dict.fromkeys(("RESHAPE",), _check_reshape),
    **dict.fromkeys(("SOFTMAX", "LOGISTIC", "QUANTIZE", "DEQUANTIZE"), _check_same_shape),
    **dict.fromkeys(("PAD",), _check_pad),
    **dict.fromkeys(("CONCATENATION",), _check_concat),
    **dict.fromkeys(("MEAN",), _check_mean),
}


def _check_node(graph: ir.Graph, node: ir.Node, fail: _Fail) -> None:
    if len(node.outputs) != 1:
        raise UnsupportedOpError(
            f"layer {node.name}: op {node.op} has {len(node.outputs)} outputs; operators with several outputs "
            "are not supported"
        )
    lo, hi = _ARITY.get(node.op, (1, 64))
    if not lo <= len(node.inputs) <= hi or not node.inputs[0]:
        raise fail(node, f"it has {len(node.inputs)} inputs, the op takes {lo}..{hi}")
    for name in node.inputs[:lo]:
        if not name:
            raise fail(node, "a required input is missing")
    x = graph.tensors[node.inputs[0]]
    out = graph.tensors[node.outputs[0]]
    int8 = out.dtype == "int8"
    op = node.op
    act = getattr(node, "activation", "NONE")
    if act not in ir.ACTIVATIONS:
        raise fail(node, f"field activation is {act!r}, not one of {', '.join(ir.ACTIVATIONS)}")
    if op.startswith("EDGESDK_"):
        _check_custom(graph, node, x, out, fail)
    elif op in _OP_CHECKS:
        _OP_CHECKS[op](graph, node, x, out, fail)
    # Every integer the kernel will get, from the one function that computes them.
    if int8 or x.dtype == "int8":
        _check_params(graph, node, fail)


def _check_custom(graph: ir.Graph, node: ir.Node, x: ir.Tensor, out: ir.Tensor, fail: _Fail) -> None:
    """The operators of edgesdk's own archives (:mod:`edgesdk.ir.binary`, :mod:`edgesdk.ir.adder`): every shape
    and field against what the reference and the kernels in ``firmware/kernels/ed_xnor.c``/``ed_adder.c`` read."""
    from edgesdk.reference.binary import words_for
    from edgesdk.reference.xnor import conv_pads

    op = node.op
    for t in (x, out):
        if t.dtype != "int8":
            raise fail(node, f"the tensor is {t.dtype}; the op reads and writes int8", t.name)
    if op in _BIT_READERS:
        prod = graph.producer(x.name)
        if prod is None or prod.op not in _BIT_WRITERS:
            raise fail(
                node,
                "its packed-bit input is not written by EDGESDK_BINARIZE or an XNOR layer",
                x.name,
            )
    if op == "EDGESDK_ADDER_CONV_2D":
        _check_adder(graph, node, x, out, fail)
        return
    if op == "EDGESDK_UNPACK_BITS":
        c = _positive(node, "channels", fail)
        _bits_dim(node, x, c, fail)
        _expect(node, out, (*x.shape[:-1], c), fail)
        for field in ("high", "low"):
            v = getattr(node, field)
            if not -128 <= v <= 127:
                raise fail(node, f"field {field} is {v}, outside the int8 range -128..127")
        return
    if op == "EDGESDK_BINARIZE":
        c = _positive(node, "channels", fail)
        if x.shape[-1:] != (c,):
            raise fail(
                node, f"field channels is {c}, the input's last dimension is {list(x.shape)[-1:]}", x.name
            )
        _expect(node, out, (*x.shape[:-1], 4 * words_for(c)), fail)
        _thresholds(node, c, fail)
        return
    w = graph.tensors[node.inputs[1]] if node.inputs[1] else None
    if w is None or not w.is_const or w.dtype != "int32":
        raise fail(node, "the packed weights must be a constant int32 tensor", node.inputs[1] or None)
    assert w.data is not None
    if op == "EDGESDK_XNOR_FULLY_CONNECTED":
        k, o = _positive(node, "in_features", fail), _positive(node, "out_features", fail)
        _bits_dim(node, x, k, fail)
        if x.size != x.shape[-1]:
            raise UnsupportedOpError(
                f"layer {node.name}: {op} over a {list(x.shape)} input (batch must be 1)"
            )
        _expect(node, w, (o, words_for(k)), fail)
        _expect(node, out, (*x.shape[:-1], 4 * words_for(o)), fail)
        _thresholds(node, o, fail)
        _zero_tails(node, w, k, fail)
        return
    c, o = _positive(node, "in_channels", fail), _positive(node, "out_channels", fail)
    _rank(node, x, (4,), fail)
    _bits_dim(node, x, c, fail)
    if x.shape[0] != 1:
        raise UnsupportedOpError(f"layer {node.name}: batch {x.shape[0]} is not supported (batch must be 1)")
    kh, kw = node.kernel  # type: ignore[attr-defined]
    for field, v in (("kernel[0]", kh), ("kernel[1]", kw)):
        if not 1 <= v <= MAX_DIM:
            raise fail(node, f"field {field} is {v}; it must be at least 1")
    for field, v in (("stride[0]", node.stride[0]), ("stride[1]", node.stride[1])):  # type: ignore[attr-defined]
        if not 1 <= v <= MAX_DIM:
            raise fail(node, f"field {field} is {v}; it must be at least 1")
    if node.padding not in ir.PADDINGS:  # type: ignore[attr-defined]
        raise fail(node, f"field padding is {node.padding!r}")  # type: ignore[attr-defined]
    if node.pad_value not in (1, -1):  # type: ignore[attr-defined]
        raise fail(node, f"field pad_value is {node.pad_value}; padded taps read +1 or -1")  # type: ignore[attr-defined]
    _expect(node, w, (o, kh, kw, words_for(c)), fail)
    oh = conv_pads(x.shape[1], kh, node.stride[0], node.padding)[0]  # type: ignore[attr-defined]
    ow = conv_pads(x.shape[2], kw, node.stride[1], node.padding)[0]  # type: ignore[attr-defined]
    if oh < 1 or ow < 1:
        raise fail(node, f"the {kh}x{kw} window is larger than the {x.shape[1]}x{x.shape[2]} input", x.name)
    _expect(node, out, (1, oh, ow, 4 * words_for(o)), fail)
    _thresholds(node, o, fail)
    _zero_tails(node, w, c, fail)


def _positive(node: ir.Node, field: str, fail: _Fail) -> int:
    v = getattr(node, field)
    if not 1 <= v <= MAX_DIM:
        raise fail(node, f"field {field} is {v}, outside 1..{MAX_DIM}")
    return int(v)


def _bits_dim(node: ir.Node, x: ir.Tensor, bits: int, fail: _Fail) -> None:
    from edgesdk.reference.binary import words_for

    if not x.shape or x.shape[-1] != 4 * words_for(bits):
        raise fail(
            node,
            f"the packed input's last dimension is {list(x.shape)[-1:]}, {bits} bits take "
            f"{4 * words_for(bits)} bytes",
            x.name,
        )


def _thresholds(node: ir.Node, channels: int, fail: _Fail) -> None:
    thr, flip = node.threshold, node.flip  # type: ignore[attr-defined]
    if len(thr) != channels or len(flip) != channels:
        raise fail(
            node, f"fields threshold and flip hold {len(thr)} and {len(flip)} values for {channels} channels"
        )
    if thr and not _I32[0] <= min(thr) <= max(thr) <= _I32[1]:
        raise fail(node, "field threshold holds a value that does not fit in int32")


def _zero_tails(node: ir.Node, w: ir.Tensor, bits: int, fail: _Fail) -> None:
    """Bits past ``bits`` in the last word of every weight row must be zero, as the packing writes them."""
    assert w.data is not None
    rem = bits % 32
    if rem and np.any(w.data.reshape(-1, w.shape[-1])[:, -1].view(np.uint32) >> np.uint32(rem)):
        raise fail(node, f"weight rows have bits set past their {bits} valid bits", w.name)


def _check_adder(graph: ir.Graph, node: ir.Node, x: ir.Tensor, out: ir.Tensor, fail: _Fail) -> None:
    """AdderNet's L1 convolution (:mod:`edgesdk.ir.adder`): int16 weights OHWI, int32 bias, one accumulator
    scale per output channel, and an accumulator that cannot overflow."""
    _rank(node, x, (4,), fail)
    w = graph.tensors[node.inputs[1]] if node.inputs[1] else None
    if w is None or not w.is_const or w.dtype != "int16":
        raise fail(node, "the weights must be a constant int16 tensor", node.inputs[1] or None)
    _rank(node, w, (4,), fail)
    bias = graph.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
    o = w.shape[0]
    if bias is not None and (not bias.is_const or bias.dtype != "int32" or bias.shape != (o,)):
        raise fail(node, f"the bias must be a constant int32 tensor of shape [{o}]", bias.name)
    if w.shape[3] != x.shape[3]:
        raise fail(node, f"the weights have {w.shape[3]} input channels, the input has {x.shape[3]}", w.name)
    oh, ow = _window(node, x, w.shape[1], w.shape[2], (1, 1), fail)
    _expect(node, out, (x.shape[0], oh, ow, o), fail)
    if x.shape[0] != 1:
        raise UnsupportedOpError(f"layer {node.name}: batch {x.shape[0]} is not supported (batch must be 1)")
    scales = np.asarray(node.acc_scale, dtype=np.float64)  # type: ignore[attr-defined]
    if (
        scales.shape != (o,)
        or not np.all(np.isfinite(scales))
        or np.any(scales <= 1e-30)
        or np.any(scales > 1e30)
    ):
        raise fail(node, f"field acc_scale must hold {o} finite positive numbers (one per output channel)")
    for t in (x, out):
        if t.quant is None:
            raise fail(node, "the tensor has no quantization parameters", t.name)
    assert w.data is not None
    depth = w.shape[1] * w.shape[2] * w.shape[3]
    wmax = int(np.max(np.abs(w.data.astype(np.int64))))
    bmax = (
        int(np.max(np.abs(bias.data.astype(np.int64)))) if bias is not None and bias.data is not None else 0
    )
    if depth * (255 + wmax) + bmax > _I32[1]:
        raise fail(
            node,
            f"an int32 accumulator can overflow ({depth} terms of up to {255 + wmax} plus a bias of up to {bmax})",
            w.name,
        )


def _ints(value: Any) -> list[int]:
    if isinstance(value, (bool, np.bool_)):
        return []
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        return [int(value.min()), int(value.max())] if value.size else []
    return []


def _check_params(graph: ir.Graph, node: ir.Node, fail: _Fail) -> None:
    from edgesdk.reference.params import op_params

    try:
        params = op_params(graph, node)
    except EdgeSDKError:
        raise
    except (ValueError, ZeroDivisionError, OverflowError, ArithmeticError) as exc:
        raise fail(node, f"its quantization parameters cannot be represented ({exc})") from None
    items: list[tuple[str, Any]] = list(params.items())
    for entry in params.get("inputs", []) if isinstance(params.get("inputs"), list) else []:
        items += list(entry.items())
    for key, value in items:
        for v in _ints(value):
            if "shift" in key and not -31 <= v <= 31:
                raise fail(node, f"the derived {key} is {v}, outside -31..31 (a scale is out of range)")
            if not _I32[0] <= v <= _I32[1]:
                raise fail(node, f"the derived {key} is {v}, which does not fit in int32")
        if isinstance(value, float) and not math.isfinite(value) and key not in ("float_min", "float_max"):
            raise fail(node, f"the derived {key} is {value}")


__all__ = [
    "MAX_ACTIVATION_BYTES",
    "MAX_CONSTANT_BYTES",
    "MAX_TOTAL_ACTIVATION_BYTES",
    "MAX_TOTAL_CONSTANT_BYTES",
    "verify_graph",
]
