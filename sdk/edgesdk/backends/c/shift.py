"""Lowering of the ``shift`` kernel variant of DEPTHWISE_CONV_2D (chosen by ``edgesdk.passes.shift``).

The layer's int8 result, requantization and fused activation included, is tabulated per output channel for
all 256 input values with the reference's own integer math (``edgesdk.ir.quantmath``), so the C kernel
(``firmware/kernels/ed_shift.c``) only gathers and looks up and is bit-identical to the dense kernel.
"""

from __future__ import annotations

import numpy as np

from edgesdk.backends.c.generator import _LayerBuilder
from edgesdk.errors import UnsupportedOpError
from edgesdk.ir.quantmath import multiply_by_quantized_multiplier
from edgesdk.passes.shift import one_hot_taps


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


def lower_shift(b: _LayerBuilder) -> None:
    p, node = b.p, b.node
    w, x = b.t(1), b.t(0)
    if w.data is None or w.dtype != "int8":
        raise UnsupportedOpError(f"layer {node.name}: the shift kernel needs constant int8 weights")
    bias = b.t(2).data if len(node.inputs) > 2 and node.inputs[2] else None
    lut, pad, tap_y, tap_x = shift_tables(w.data, bias, p)
    in_w, in_c, mult = int(x.shape[2]), int(x.shape[3]), int(p["depth_multiplier"])
    ic = np.arange(lut.shape[0]) // mult
    delta = (tap_y * in_w + tap_x) * in_c + ic  # element offset of each channel's tap from the window origin
    b.act_input(0)
    b.conv_fields(
        "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "stride_h", "stride_w", "pad_top", "pad_left"
    )
    b.ptr_field("tap_y", b.const_array("tap_y", tap_y, "int16_t"))
    b.ptr_field("tap_x", b.const_array("tap_x", tap_x, "int16_t"))
    b.ptr_field("delta", b.const_array("delta", delta, "int32_t"))
    b.ptr_field("lut", b.const_array("lut", lut.astype(np.int64), "int8_t"))
    b.ptr_field("pad_value", b.const_array("pad_value", pad.astype(np.int64), "int8_t"))
    b.kernel, b.params_type = "ed_shift_s8", "ed_shift_params_t"
    b.kernel_files = ["ed_shift.c"]
