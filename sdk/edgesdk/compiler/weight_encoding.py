"""Weight encodings: the arrays a layer's weights are stored as in flash with the kernel the passes chose.

A layer's weights are encoded once, when the passes have chosen its kernel: the kernel-selection passes store the
encoding of the candidate they take, and :func:`encode_graph` (the last step of ``passes.run_pipeline``) encodes
every other weight layer, so each CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (and adder, XNOR) node carries an
:class:`Encoding` in ``node.attrs["encoding"]``: the arrays exactly as the C backend writes them (values, C type,
bytes) and the few integers its parameters need. The C backend emits what the node carries; it encodes only a graph
that never went through the passes (a hand-built test graph), with the same :func:`encode_node`. Every weight
byte figure - the passes' candidates, the export report, :func:`edgesdk.numerics.weights.layer_weights`, ``inspect`` - is
the :attr:`Encoding.nbytes` of an encoding (:func:`weight_bytes` for a node).

The encoders are :mod:`edgesdk.ir.weightformats` (bit-planes, codes, sparse, codebook, pattern, the DSP kernels'
orders) and :mod:`edgesdk.numerics.winograd` (the transformed weights); this module picks the one of a node's kernel and
target (the folder of ``firmware/kernels/`` whose kernels the project gets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.ir import weightformats as wf
from edgesdk.ir.quantmath import multiply_by_quantized_multiplier

#: Bytes of one element of each C type an encoding writes.
CTYPE_BYTES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4, "uint32_t": 4}
#: The kernel folder of the Cortex-M DSP kernels (their weight orders, the codes FC).
DSP_TARGET = "cortex-m-dsp"
#: The kernel folder of the cores without SIMD (their FC order).
SCALAR_TARGET = "scalar"
#: The ops whose weights (input 1) an encoding stores.
ENCODED_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "EDGESDK_ADDER_CONV_2D",
    "EDGESDK_XNOR_FULLY_CONNECTED",
    "EDGESDK_XNOR_CONV_2D",
)


@dataclass(frozen=True)
class EncodedArray:
    """One constant array as written: its values (flat, C order) and C element type."""

    values: np.ndarray
    ctype: str

    @property
    def nbytes(self) -> int:
        """Bytes in flash (C has no empty array: an empty one is written with one element)."""
        return max(1, int(self.values.size)) * CTYPE_BYTES[self.ctype]


def array(values: Any, ctype: str) -> EncodedArray:
    """An :class:`EncodedArray` of ``values`` (any integer array, flattened in C order)."""
    return EncodedArray(np.asarray(values).astype(np.int64).reshape(-1), ctype)


@dataclass
class Encoding:
    """A layer's weights as its kernel stores them.

    ``arrays`` maps the C name suffix of each array (``<model>_<layer>_<suffix>``) to the array, in the order the
    backend emits them; ``info`` holds what the kernel's parameters need besides (``words``, ``wval``,
    ``code_bits``, ``row_bytes``, pattern ``taps`` ...); ``inner`` is, for a layer that decodes its weights into
    RAM per call, the encoding of the int8 kernel that runs on them (its arrays live in RAM: not counted).
    ``key`` names what it was made for (op, kernel, decoded format and kernel, target)."""

    kind: str
    key: tuple[Any, ...]
    arrays: dict[str, EncodedArray]
    info: dict[str, Any] = field(default_factory=dict)
    inner: Encoding | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of the weights in flash: the sum of the arrays'."""
        return sum(a.nbytes for a in self.arrays.values())

    def __contains__(self, name: str) -> bool:
        return name in self.arrays

    def __getitem__(self, name: str) -> EncodedArray:
        return self.arrays[name]


# ---------------------------------------------------------------------------------------------------------------
# Orders of the per-target kernels
# ---------------------------------------------------------------------------------------------------------------

#: (kernel target, op) -> reordering of the op's constant weights for that target's kernel.
WEIGHT_LAYOUTS: dict[tuple[str, str], Callable[[np.ndarray], np.ndarray]] = {
    (DSP_TARGET, "FULLY_CONNECTED"): wf.fc_weights_dsp,
    (SCALAR_TARGET, "FULLY_CONNECTED"): wf.fc_weights_scalar,
}


def weight_layout(target: str | None, op: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """The weight reordering ``target``'s kernel for ``op`` expects, or None for the portable layout: the layout
    of the most specific folder of the target's chain that has a kernel for the op (``helium`` reads the DSP
    FULLY_CONNECTED kernel and its layout). Same bytes, same count: only the order differs."""
    from edgesdk.compiler import kernels
    from edgesdk.util.resources import firmware_dir

    for folder in kernels.kernel_target_chain(target):
        if (folder, op) in WEIGHT_LAYOUTS:
            return WEIGHT_LAYOUTS[(folder, op)]
        name = kernels.op_sources().get(op)
        if name and (firmware_dir() / "kernels" / folder / name).is_file():
            return None  # this folder's own kernel reads the portable layout
    return None


# ---------------------------------------------------------------------------------------------------------------
# Encodings of the storage formats (also the passes' candidates)
# ---------------------------------------------------------------------------------------------------------------


def planes_arrays(planes: wf.WeightPlanes, codes: tuple[np.ndarray, np.ndarray] | None = None) -> Encoding:
    """Ternary/binary rows as the packed kernels store them: bit-planes and, where the rows' magnitudes are not
    one common value, the magnitudes (``wpos``, ``wneg``); with ``codes`` (:func:`~edgesdk.ir.weightformats.
    code_rows`) the rows as codes for the DSP codes FC instead (one magnitude a row, ``wpos``)."""
    wpos, wneg = (planes.wpos, planes.wneg) if codes is None else (codes[1], codes[1])
    sym = int(wpos[0]) if np.all(wpos == wpos[0]) and np.all(wneg == wpos[0]) else None
    arrays: dict[str, EncodedArray] = {}
    if codes is None:
        arrays["plane_pos"] = array(planes.pos, "uint32_t")
        if planes.neg is not None:
            arrays["plane_neg"] = array(planes.neg, "uint32_t")
    if sym is None:
        arrays["wpos"] = array(wpos, "int16_t")
        if codes is None:
            arrays["wneg"] = array(wneg, "int16_t")
    if codes is not None:
        arrays["codes"] = array(wf.interleave_rows4(codes[0], planes.kind == "binary"), "uint8_t")
    info = {"words": planes.words, "wval": sym if sym is not None else 127, "codes": codes is not None}
    return Encoding(planes.kind, (), arrays, info)


def sparse_arrays(sp: wf.Sparse, count_names: tuple[str, str] = ("row_count", "row_count")) -> Encoding:
    """Sparse rows: the row counts (uint8, or int16 when a row has 256 entries or more; named
    ``count_names[0]`` or ``[1]``), the entries, the values or codebooks, each row's codebook."""
    wide = sp.count_bytes != 1
    arrays = {
        count_names[wide]: array(sp.row_count, "int16_t" if wide else "uint8_t"),
        "entries": array(sp.entries, "uint8_t"),
        "values": array(sp.values, "int8_t"),
    }
    if sp.row_group is not None:
        arrays["row_group"] = array(sp.row_group, "uint8_t")
    kind = "sparse_codebook" if sp.code_bits else "sparse"
    return Encoding(kind, (), arrays, {"code_bits": sp.code_bits, "count_bytes": sp.count_bytes})


def codebook_arrays(cb: wf.Codebook) -> Encoding:
    """Codebook storage: the packed codes, each channel's table, the tables."""
    arrays = {
        "codes": array(cb.packed, "uint8_t"),
        "row_group": array(cb.row_group, "uint8_t"),
        "codebook": array(cb.table, "int8_t"),
    }
    info = {"code_bits": cb.bits, "codebook_size": int(cb.table.shape[1]), "row_bytes": cb.row_bytes}
    return Encoding("codebook", (), arrays, info)


def pattern_arrays(pt: wf.Patterns) -> Encoding:
    """Pattern storage: the kept kernels' tap values, their input channels, the end of each (channel, pattern)."""
    arrays = {
        "pattern_values": array(pt.values, "int8_t"),
        "kernel_ic": array(pt.kernel_ic, "int16_t"),
        "group_end": array(pt.group_end, "int32_t"),
    }
    return Encoding("pattern", (), arrays, {"taps": list(pt.taps), "kernels_total": pt.kernels_total})


# ---------------------------------------------------------------------------------------------------------------
# One encoder per kernel
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class _Layer:
    """What an encoder reads: the graph, the node, its int8 weights (int64) and the kernel target."""

    graph: ir.Graph
    node: ir.Node
    w: np.ndarray
    target: str | None

    @property
    def rows(self) -> np.ndarray:
        return self.w.reshape(self.w.shape[0], -1)

    def params(self) -> dict[str, Any]:
        from edgesdk.reference.params import op_params

        return op_params(self.graph, self.node)

    def refuse(self, why: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"layer {self.node.name}: {why}")


def _int8(layer: _Layer) -> Encoding:
    layout = weight_layout(layer.target, layer.node.op)
    return Encoding("int8", (), {"weights": array(layout(layer.w) if layout else layer.w, "int8_t")})


def _int8_and_int16(layer: _Layer) -> Encoding:
    """The specialised convolution with an int16 copy for its interior path (``specialized16``)."""
    enc = _int8(layer)
    dilated = tuple(getattr(layer.node, "dilation", (1, 1)))[1] != 1
    enc.arrays["weights16"] = array(wf.weights_int16(layer.w, dilated), "int16_t")
    return enc


def _fc_int8(layer: _Layer) -> Encoding:
    """A convolution run by the int8 FC kernel: its (out, K) rows in the target's FC order."""
    layout = weight_layout(layer.target, "FULLY_CONNECTED")
    return Encoding("int8", (), {"weights": array(layout(layer.rows) if layout else layer.rows, "int8_t")})


def _im2col_int8(layer: _Layer) -> Encoding:
    """An im2col convolution run by the int8 FC kernel: on a target with an FC order each window's row is padded
    with zero weights to a multiple of 4 bytes (the kernel's fast paths take whole words), then reordered."""
    layout = weight_layout(layer.target, "FULLY_CONNECTED")
    if not layout:
        return _fc_int8(layer)
    rows = np.pad(layer.rows, ((0, 0), (0, (-layer.rows.shape[1]) % 4)))
    return Encoding("int8", (), {"weights": array(layout(rows), "int8_t")})


def _im2col_x16(layer: _Layer) -> Encoding:
    """im2col into int16 pairs (``im2col_x16``): the window's bytes in the kernel's column order (whole words of
    each row, then the rows' leftover bytes), zero weights where no tap; the int8 weights' bytes plus the padding."""
    return Encoding("int8", (), {"weights": array(wf.im2col_x16_weights(layer.w), "int8_t")})


def _w16(layer: _Layer) -> Encoding:
    """The int16-weight FC body (an FC, a 1x1 or an im2col convolution): the weight offset of an FC added."""
    offset = int(layer.params()["filter_offset"]) if layer.node.op == "FULLY_CONNECTED" else 0
    return Encoding("int16", (), {"weights16": array(wf.fc_weights_w16(layer.rows, offset), "int16_t")})


def uses_codes(graph: ir.Graph, node: ir.Node, target: str | None) -> bool:
    """Whether a ternary/binary layer runs as the DSP codes FC (an FC, or a 1x1 stride-1 convolution on the
    Cortex-M DSP target): the rows are then stored as codes, if every row has one magnitude."""
    if target != DSP_TARGET:
        return False
    from edgesdk.reference.params import op_params

    return node.op == "FULLY_CONNECTED" or pointwise_as_fc(op_params(graph, node))


def pointwise_as_fc(p: dict[str, Any]) -> bool:
    """Conv parameters (``op_params``) of a fully-connected layer over the pixels: 1x1, stride 1, no dilation
    (so no padding). On DSP targets the C backend runs such a ternary/binary layer as the codes FC."""
    keys = ("filter_h", "filter_w", "stride_h", "stride_w", "dilation_h", "dilation_w")
    return all(int(p[k]) == 1 for k in keys)


def packed_encoding(planes: wf.WeightPlanes, codes_wanted: bool) -> Encoding:
    """The packed kernels' encoding of ``planes``: codes where ``codes_wanted`` and every row has one magnitude,
    else bit-planes."""
    codes = wf.code_rows(planes) if codes_wanted else None
    return planes_arrays(planes, codes)


def _packed(layer: _Layer) -> Encoding:
    kind = str(layer.node.attrs["kernel"])
    planes = wf.weight_planes(layer.rows, allow_binary=kind == "binary")
    if planes is None or planes.kind != kind:
        raise layer.refuse(f"weights are not {kind}; the {kind} kernel cannot run it")
    return packed_encoding(planes, uses_codes(layer.graph, layer.node, layer.target))


def sparse_code_bits(w: np.ndarray) -> int | None:
    """The code width of the sparse-codebook format for ``w``: its distinct values per row (with 0)."""
    return wf.bits_for(wf.max_distinct(w))


def _sparse(layer: _Layer) -> Encoding:
    bits = 0
    if layer.node.attrs.get("kernel") == "sparse_codebook":
        bits = int(layer.node.attrs.get("kernel_report", {}).get("code_bits", 0)) or sparse_code_bits(layer.w)
        if bits is None:
            raise layer.refuse("too many distinct weights for a sparse codebook")
    sp = wf.sparse_encode(layer.rows, bits)
    if sp is None:
        raise layer.refuse(f"its weights do not fit the sparse format with {bits}-bit codes")
    return sparse_arrays(sp)


def _codebook(layer: _Layer) -> Encoding:
    cb = wf.codebook_encode(layer.w)
    if cb is None:
        raise layer.refuse("more than 16 distinct weights in an output channel, no codebook kernel")
    return codebook_arrays(cb)


def _pattern(layer: _Layer) -> Encoding:
    taps = int(layer.node.attrs.get("kernel_report", {}).get("taps", 4))
    pt = wf.pattern_encode(layer.w, taps)
    if pt is None:
        raise layer.refuse(f"its 3x3 kernels do not follow a few {taps}-tap patterns")
    enc = pattern_arrays(pt)
    enc.info["n_taps"] = taps
    return enc


def _winograd(layer: _Layer) -> Encoding:
    from edgesdk.numerics.winograd import winograd_weights

    u = winograd_weights(layer.w)
    return Encoding(
        "winograd-int16", (), {"winograd_weights": array(u, "int16_t")}, {"c_pad": 2 * u.shape[2]}
    )


def _winograd_dw(layer: _Layer) -> Encoding:
    from edgesdk.numerics.winograd import winograd_dw_weights

    return Encoding(
        "winograd-int16", (), {"winograd_dw_weights": array(winograd_dw_weights(layer.w), "int16_t")}
    )


def _decoded(layer: _Layer) -> Encoding:
    """Compressed weights in flash (the decoder's arrays and fields) and, as ``inner``, the int8 kernel's
    weights they are decoded into."""
    info = layer.node.attrs["decoded"]
    fmt, inner_kernel = str(info["format"]), str(info["inner"])
    name, rows = layer.node.name, layer.rows
    if fmt in ("ternary", "binary"):
        planes = wf.weight_planes(rows, allow_binary=fmt == "binary")
        if planes is None or planes.kind != fmt:
            raise layer.refuse(f"weights are not {fmt}; they cannot be decoded as such")
        enc = planes_arrays(planes)
    elif fmt == "int8":
        enc = Encoding("int8", (), {"weights8": array(rows, "int8_t")})
    elif fmt == "codebook":
        cb = wf.codebook_encode(rows)
        if cb is None:
            raise layer.refuse("more than 16 distinct weights per channel, no codebook")
        enc = codebook_arrays(cb)
    else:
        sp = wf.sparse_encode(rows, (sparse_code_bits(rows) or 0) if fmt == "sparse_codebook" else 0)
        if sp is None:
            raise layer.refuse("the weights cannot be stored sparse")
        enc = sparse_arrays(sp, ("row_count8", "row_count16"))
    inner = _ENCODERS.get(inner_kernel) if inner_kernel else _int8
    if inner is None or inner is _decoded:
        raise UnsupportedOpError(f"layer {name}: no decoded kernel for {fmt} weights under {inner_kernel!r}")
    enc.kind, enc.inner = fmt, inner(layer)
    return enc


def one_hot_taps(weights: np.ndarray) -> np.ndarray | None:
    """Index of the one non-zero tap of each output channel of depthwise weights ``1 x KH x KW x C``, or None
    if some channel has more than one non-zero tap. A channel with no non-zero tap gets index 0 (its
    output is constant, which the table also expresses)."""
    w = np.asarray(weights).reshape(-1, weights.shape[-1])  # (KH*KW, C)
    nonzero = w != 0
    if np.any(nonzero.sum(axis=0) > 1):
        return None
    return np.argmax(nonzero, axis=0)


def shift_tables(
    weights: np.ndarray, bias: np.ndarray | None, p: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lut [C, 256] int8, pad value [C] int8, tap row [C], tap column [C]) of a one-hot depthwise layer.

    ``lut[c, x + 128]`` is the int8 output of channel ``c`` when its tap reads ``x``; ``pad[c]`` the output
    when the tap falls in the padding (the accumulator is the bias alone, as in TFLite Micro).
    """
    _, kh, kw, c = weights.shape
    taps = one_hot_taps(weights)
    if taps is None:
        raise ValueError("the depthwise weights are not one-hot")
    flat = weights.reshape(kh * kw, c).astype(np.int64)
    wv = flat[taps, np.arange(c)]  # the non-zero weight of each channel (0 for an empty channel)
    b = np.zeros(c, np.int64) if bias is None else bias.astype(np.int64)
    xs = np.arange(-128, 128, dtype=np.int64)
    acc = (xs[None, :] + p["input_offset"]) * wv[:, None] + b[:, None]  # (C, 256)
    acc = np.concatenate([acc, b[:, None]], axis=1)  # last column: the padding case
    mult = np.asarray(p["output_multiplier"], np.int64).reshape(-1)
    shift = np.asarray(p["output_shift"], np.int64).reshape(-1)
    if mult.size == 1:
        mult, shift = np.full(c, mult[0]), np.full(c, shift[0])
    # The C kernels accumulate in int32: wrap as they do (the values stay far from the limits for int8).
    acc = ((acc + (1 << 31)) % (1 << 32)) - (1 << 31)
    out = multiply_by_quantized_multiplier(acc, mult[:, None], shift[:, None], "double") + p["output_offset"]
    out = np.clip(out, p["activation_min"], p["activation_max"]).astype(np.int8)
    return out[:, :256], out[:, 256], (taps // kw) * p["dilation_h"], (taps % kw) * p["dilation_w"]


def _shift(layer: _Layer) -> Encoding:
    """The shift kernel's tables (:func:`shift_tables`) and each channel's tap offset from the window origin."""
    if one_hot_taps(layer.w) is None:
        raise layer.refuse("the shift kernel needs one non-zero tap per channel")
    p = layer.params()
    bias_name = layer.node.inputs[2] if len(layer.node.inputs) > 2 else ""
    bias = layer.graph.tensor(bias_name).data if bias_name else None
    lut, pad, tap_y, tap_x = shift_tables(np.asarray(layer.graph.tensor(layer.node.inputs[1]).data), bias, p)
    x = layer.graph.tensor(layer.node.inputs[0])
    in_w, in_c, mult = int(x.shape[2]), int(x.shape[3]), int(p["depth_multiplier"])
    ic = np.arange(lut.shape[0]) // mult
    delta = (tap_y * in_w + tap_x) * in_c + ic  # element offset of each channel's tap from the window origin
    arrays = {
        "tap_y": array(tap_y, "int16_t"),
        "tap_x": array(tap_x, "int16_t"),
        "delta": array(delta, "int32_t"),
        "lut": array(lut, "int8_t"),
        "pad_value": array(pad, "int8_t"),
    }
    return Encoding("shift", (), arrays)


def _raw(ctype: str) -> Callable[[_Layer], Encoding]:
    """Weights written as they are (the adder layers' int16, the XNOR layers' bit words as uint32)."""
    if ctype == "uint32_t":
        return lambda layer: Encoding(ctype, (), {"weights": array(layer.w.astype(np.uint32), ctype)})
    return lambda layer: Encoding(ctype, (), {"weights": array(layer.w, ctype)})


#: Kernel name (``node.attrs["kernel"]``; "" for none) -> its encoder.
_ENCODERS: dict[str, Callable[[_Layer], Encoding]] = {
    "": _int8,
    "dense": _int8,
    "specialized": _int8,
    "inplace": _int8,
    "specialized16": _int8_and_int16,
    "pointwise_s8": _fc_int8,
    "im2col_s8": _im2col_int8,
    "im2col_x16": _im2col_x16,
    "w16": _w16,
    "pointwise_w16": _w16,
    "im2col_w16": _w16,
    "ternary": _packed,
    "binary": _packed,
    "sparse": _sparse,
    "sparse_codebook": _sparse,
    "codebook": _codebook,
    "pattern": _pattern,
    "winograd": _winograd,
    "winograd_dw": _winograd_dw,
    "decoded": _decoded,
    "shift": _shift,
}
_RAW = {
    "EDGESDK_ADDER_CONV_2D": ("int16", _raw("int16_t")),
    "EDGESDK_XNOR_FULLY_CONNECTED": ("int32", _raw("uint32_t")),
    "EDGESDK_XNOR_CONV_2D": ("int32", _raw("uint32_t")),
}


def _encoder(op: str, kernel: str) -> Callable[[_Layer], Encoding] | None:
    """The encoder of ``kernel``; a kernel name no row of the kernel table lowers for ``op`` runs the op's
    default lowering (as the C backend does): the int8 encoder."""
    if kernel in _ENCODERS:
        return _ENCODERS[kernel]
    from edgesdk.compiler import kernels

    own = any(op in k.lower and kernel in k.attr_values for k in kernels.KERNELS)
    return None if own else _int8


def encoding_key(node: ir.Node, target: str | None) -> tuple[Any, ...]:
    """What an encoding of ``node`` depends on besides its weights: op, kernel, decoded format and kernel, target."""
    decoded = node.attrs.get("decoded") or {}
    return (node.op, node.attrs.get("kernel", ""), decoded.get("format"), decoded.get("inner"), target)


def encode_node(graph: ir.Graph, node: ir.Node, target: str | None) -> Encoding | None:
    """The encoding of ``node``'s weights for its kernel (``node.attrs["kernel"]``) on ``target``; None for a
    layer without constant weights of the op's type or with a kernel that has no encoder. Raises
    :class:`~edgesdk.errors.UnsupportedOpError` when the weights do not fit the chosen kernel."""
    if node.op not in ENCODED_OPS or len(node.inputs) < 2 or not node.inputs[1]:
        return None
    t = graph.tensor(node.inputs[1])
    dtype, encoder = _RAW.get(node.op, ("int8", _encoder(node.op, str(node.attrs.get("kernel", "")))))
    if t.data is None or t.dtype != dtype or encoder is None:
        return None
    enc = encoder(_Layer(graph, node, np.asarray(t.data).astype(np.int64), target))
    enc.key = encoding_key(node, target)
    return enc


def store(node: ir.Node, enc: Encoding, target: str | None) -> None:
    """Put ``enc`` (built for the kernel the node has now, on ``target``) into the node: what a pass that chose a
    kernel and encoded its candidate does, so that the encoding is not computed again."""
    enc.key = encoding_key(node, target)
    node.attrs["encoding"] = enc


def node_encoding(graph: ir.Graph, node: ir.Node, target: str | None) -> Encoding | None:
    """The encoding ``node`` carries for its kernel on ``target``, or (a graph that did not go through the passes,
    or passes run for another target) the one :func:`encode_node` gives, without storing it."""
    enc = node.attrs.get("encoding")
    if isinstance(enc, Encoding) and enc.key == encoding_key(node, target):
        return enc
    return encode_node(graph, node, target)


def encode_graph(graph: ir.Graph, target: str | None) -> None:
    """Store in every weight layer of ``graph`` the encoding of its chosen kernel on ``target`` (the last step of
    the pass pipeline). A layer whose weights do not fit a kernel forced on it is left without one: the backend
    says so when it lowers the layer."""
    for node in graph.nodes:
        enc = node.attrs.get("encoding")
        if isinstance(enc, Encoding) and enc.key == encoding_key(node, target):
            continue
        node.attrs.pop("encoding", None)
        try:
            enc = encode_node(graph, node, target)
        except UnsupportedOpError:
            continue
        if enc is not None:
            node.attrs["encoding"] = enc
    for node in graph.nodes:  # the report's weight bytes are the encoding's, whatever a pass estimated
        enc = node.attrs.get("encoding")
        if isinstance(enc, Encoding) and "weight_bytes" in node.attrs.get("kernel_report", {}):
            node.attrs["kernel_report"]["weight_bytes"] = enc.nbytes


def weight_bytes(graph: ir.Graph, node: ir.Node, target: str | None) -> int | None:
    """Bytes of ``node``'s weights in flash with its kernel on ``target`` (its encoding's), None for a layer with
    no encoding (no constant weights, or a kernel that writes tables of its own)."""
    try:
        enc = node_encoding(graph, node, target)
    except UnsupportedOpError:
        return None
    return None if enc is None else enc.nbytes


__all__ = [
    "DSP_TARGET",
    "SCALAR_TARGET",
    "EncodedArray",
    "Encoding",
    "codebook_arrays",
    "encode_graph",
    "encode_node",
    "node_encoding",
    "packed_encoding",
    "pattern_arrays",
    "planes_arrays",
    "sparse_arrays",
    "store",
    "weight_bytes",
    "weight_layout",
]
