"""The Winograd F(2x2,3x3) convolution unit of the HLS backend (Lavin & Gray, CVPR 2016).

The transformed weights ``U' = G' g G'^T`` and the input/output transform matrices ``B^T`` and ``A^T`` all come
from ``edgesdk.numerics.winograd`` (the module the MCU backend uses too): the HLS unit receives them as hls4ml weight
variables, so there is one source of truth for the integer math. The unit computes, per 2x2 output tile,
``4 * acc = A^T [sum_c U'_c (.) V_c] A`` with ``V_c = B^T d_c B``, shifts right by 2 (exact), adds the bias and
requantizes as TFLM does - bit for bit the direct convolution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.numerics.winograd import applicable, int_ranges, transform_weights
from edgesdk.passes.hls_winograd import MULTS_DIRECT, MULTS_WINOGRAD, SPEC, winograd_unit


def winograd_applicable(node: ir.Node, p: dict[str, Any]) -> bool:
    """A CONV_2D the unit computes: 3x3, stride 1, no dilation."""
    return node.op == "CONV_2D" and applicable(p)


def winograd_layer(node: ir.Node, w: np.ndarray, p: dict[str, Any], common: dict[str, Any]) -> dict[str, Any]:
    """The hls4ml layer dict of an ``EdgeWinogradConv`` for a CONV_2D node."""
    if not winograd_applicable(node, p):
        raise UnsupportedOpError(
            f"layer {node.name}: Winograd F(2x2,3x3) needs a 3x3 stride-1 undilated convolution"
        )
    in_c = int(w.shape[3])
    ranges = int_ranges(SPEC, in_c)
    if not ranges.get("exact_in_int32", True):
        raise UnsupportedOpError(
            f"layer {node.name}: Winograd F(2x2,3x3) over {in_c} input channels could overflow int32"
        )
    u = transform_weights(w, SPEC)  # (a, a, O, I)
    shift = SPEC.divisor_shift
    if shift is None:
        raise UnsupportedOpError(f"layer {node.name}: {SPEC.name} needs a power-of-two divisor")
    return {
        "class_name": "EdgeWinogradConv",
        **common,
        "tile_a": SPEC.a,
        "tile_m": SPEC.m,
        "tiles_h": -(-int(p["out_h"]) // SPEC.m),
        "tiles_w": -(-int(p["out_w"]) // SPEC.m),
        "transform_scale_log2": int(shift),
        "weight_bits": 16,
        "weight_data": u.astype(np.int64),
        "bt_data": SPEC.BT.astype(np.int64),
        "at_data": SPEC.AT.astype(np.int64),
    }


def estimate(node: ir.Node, p: dict[str, Any], in_c: int) -> dict[str, Any]:
    """Cycles, multipliers and weight bits of the unit, by the cost model the ``"hls"`` pipeline chose it with
    (:func:`edgesdk.passes.hls_winograd.winograd_unit`): per 2x2 output tile, the 4x4 input tile of one channel
    per cycle (load), its transform B^T d B per cycle, then one output channel per cycle (16 * in_c multiplies
    in parallel): tiles * (2 * in_c + out_c) cycles."""
    unit = winograd_unit(int(p["out_h"]), int(p["out_w"]), in_c, int(p["out_c"]))
    return {
        "weight_bits": unit["weight_bits"],
        "cycles": unit["cycles"],
        "multipliers": unit["multipliers"],
        "multipliers_per_tile": MULTS_WINOGRAD,
        "multipliers_per_tile_direct": MULTS_DIRECT,
        "tiles": unit["tiles"],
        "note": f"{MULTS_WINOGRAD} multiplies per tile and channel pair vs {MULTS_DIRECT} direct",
    }
