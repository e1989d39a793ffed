"""Reference semantics of ``EDGESDK_ADDER_CONV_2D`` (see :mod:`edgesdk.ir.adder`): parameters and kernel.

Registered in ``reference.params`` and ``reference.kernels`` when imported (``edgesdk.reference`` does).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.ir.adder import AdderConv2D
from edgesdk.reference import kernels as K
from edgesdk.reference import params as P


def adder_conv2d_params(graph: ir.Graph, node: AdderConv2D) -> dict[str, Any]:
    """Geometry as CONV_2D, ``input_zero_point``, per-channel ``output_multiplier``/``output_shift`` from
    ``acc_scale / s_y``, ``output_offset`` and the activation clamp."""
    x, w, out = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1]), graph.tensor(node.outputs[0])
    if x.dtype != "int8" or w.dtype != "int16" or out.dtype != "int8":
        raise UnsupportedOpError(
            f"layer {node.name}: {node.op} needs int8 activations and int16 weights "
            f"(got {x.dtype}, {w.dtype}, {out.dtype})"
        )
    o, kh, kw, c = w.shape
    if c != x.shape[3] or out.shape[3] != o or len(node.acc_scale) != o:
        raise UnsupportedOpError(f"layer {node.name}: {node.op} has inconsistent shapes or scales")
    geo = P.compute_padding_height_width(
        node.stride, (1, 1), (x.shape[1], x.shape[2]), (kh, kw), node.padding
    )
    xq, oq = P._qp(x, node), P._qp(out, node)
    mults, shifts = P.per_channel_multipliers(1.0, np.asarray(node.acc_scale), oq.s, o)
    lo, hi = P.activation_range_quantized(node.activation, out)
    return {
        "stride_h": node.stride[0],
        "stride_w": node.stride[1],
        "dilation_h": 1,
        "dilation_w": 1,
        "filter_h": kh,
        "filter_w": kw,
        "in_h": x.shape[1],
        "in_w": x.shape[2],
        "in_c": c,
        "out_c": o,
        **geo,
        "input_zero_point": xq.zp,
        "output_offset": oq.zp,
        "output_multiplier": mults,
        "output_shift": shifts,
        "activation_min": lo,
        "activation_max": hi,
    }


def adder_conv2d(
    graph: ir.Graph, node: ir.Node, p: dict[str, Any], args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """``acc = -Σ |(x - zp_x) - w|`` over the window (padding reads 0, i.e. real zero), + bias, requantized."""
    x, w, bias = args[0], args[1], args[2] if len(args) > 2 else None
    assert x is not None and w is not None
    o, kh, kw, _ = w.shape
    n = x.shape[0]
    xs = x.astype(np.int64) - p["input_zero_point"]
    _, taps = K._window_taps(xs, p, 0, kh, kw)
    cols = np.stack(taps, axis=3).reshape(n * p["out_h"] * p["out_w"], -1)  # (rows, KH*KW*C)
    wm = w.reshape(o, -1).astype(np.int64)
    acc = np.empty((cols.shape[0], o), dtype=np.int64)
    for k in range(o):
        acc[:, k] = -np.abs(cols - wm[k]).sum(axis=1)
    return K.requantize_per_channel(acc, bias, p).reshape(n, p["out_h"], p["out_w"], o)


P._PARAMS[AdderConv2D.op] = adder_conv2d_params  # type: ignore[assignment]
K.KERNELS[AdderConv2D.op] = adder_conv2d
