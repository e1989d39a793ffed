"""NumPy kernels, integer-exact with TFLite Micro's int8 reference kernels, plus plain float32 kernels.

Each kernel takes the node's input arrays (activations carry a leading batch dimension of any size N, which
lets the tests run many inputs in one call; the model's own batch is 1), the parameters from
``edgesdk.reference.params.op_params`` and returns the output array. Integer kernels compute in int64 and
reproduce TFLM's arithmetic step by step (accumulate, add bias, requantize with the fixed-point multiplier,
add the output zero point, clamp); only the order in which exact integer sums are formed differs, which
cannot change a result.

Convolutions and matrix products are formed as float64 matrix products of integer-valued operands: every
product and partial sum is an integer below 2**53, so float64 represents each exactly whatever order BLAS
adds in, and the result is the same integer TFLM's int32 accumulator holds - at BLAS speed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.ir.quantmath import (
    exp_on_negative_values,
    get_reciprocal,
    logistic_fixed,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_greater_than_one,
    multiply_by_quantized_multiplier_smaller_than_one_exp,
    rounding_divide_by_pot,
    saturate_cast,
    saturating_rounding_doubling_high_mul,
    tflite_round_array,
    trunc_div,
)

Params = dict[str, Any]
#: A kernel: (graph, node, params, input arrays (None for an absent optional input), rounding) -> output.
Kernel = Callable[[ir.Graph, ir.Node, Params, list[np.ndarray | None], str], np.ndarray]

#: Largest |integer| a float64 holds exactly; the exact-matmul trick is checked against it.
_F64_EXACT = float(1 << 53)


def _exact_int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for integer-valued int64 arrays, via float64 BLAS, exact (checked bound)."""
    bound = float(np.abs(a).max(initial=0)) * float(np.abs(b).max(initial=0)) * a.shape[-1]
    if bound >= _F64_EXACT:
        return a @ b  # integer matmul: slow but exact
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


def _window_taps(
    x: np.ndarray, p: Params, fill: float | int, kh: int, kw: int, dh: int = 1, dw: int = 1
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Pad an NHWC array the TFLite way and return it with the list of (N, OH, OW, C) views, one per tap."""
    n, h, w, c = x.shape
    oh, ow, sh, sw = p["out_h"], p["out_w"], p["stride_h"], p["stride_w"]
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    after_h = max(0, need_h - h - p["pad_h"])
    after_w = max(0, need_w - w - p["pad_w"])
    xp = np.pad(x, ((0, 0), (p["pad_h"], after_h), (p["pad_w"], after_w), (0, 0)), constant_values=fill)
    taps = []
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            taps.append(xp[:, r0 : r0 + (oh - 1) * sh + 1 : sh, c0 : c0 + (ow - 1) * sw + 1 : sw, :])
    return xp, taps


def _valid_counts(h: int, w: int, p: Params, kh: int, kw: int) -> np.ndarray:
    """How many taps of each output window fall inside the input (pooling's divisor), shape (1, OH, OW, 1)."""
    ones = np.ones((1, h, w, 1), dtype=np.int64)
    _, taps = _window_taps(ones, p, 0, kh, kw)
    return np.sum(taps, axis=0)


def _requantize_clamp(
    acc: np.ndarray, mult: Any, shift: Any, offset: int, lo: int, hi: int, rounding: str
) -> np.ndarray:
    out = multiply_by_quantized_multiplier(acc, mult, shift, rounding) + offset  # type: ignore[arg-type]
    return saturate_cast(np.clip(out, lo, hi), "int8")


def requantize_per_channel(acc: np.ndarray, bias: np.ndarray | None, p: Params) -> np.ndarray:
    """``acc`` (+ ``bias``) requantized per output channel with the layer's multipliers and shifts, offset and
    clamped to int8: always double rounding, as TFLM's per-channel kernels (convolutions, AdderNet)."""
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    return _requantize_clamp(
        acc,
        p["output_multiplier"].astype(np.int64),
        p["output_shift"].astype(np.int64),
        p["output_offset"],
        p["activation_min"],
        p["activation_max"],
        "double",
    )


def _float_act(y: np.ndarray, p: Params) -> np.ndarray:
    lo, hi = p.get("float_min", -np.inf), p.get("float_max", np.inf)
    return np.clip(y, lo, hi).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Convolutions and fully connected
# ---------------------------------------------------------------------------------------------------------------


def conv2d(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """CONV_2D: im2col, one exact matrix product, per-channel requantization (always double rounding, as TFLM
    and TFLite's reference kernel both do)."""
    x, w, bias = args[0], args[1], args[2] if len(args) > 2 else None
    assert x is not None and w is not None
    o, kh, kw, _ = w.shape
    n = x.shape[0]
    floating = x.dtype == np.float32
    xs = x.astype(np.float32) if floating else x.astype(np.int64) + p["input_offset"]
    _, taps = _window_taps(xs, p, 0, kh, kw, p["dilation_h"], p["dilation_w"])
    cols = np.stack(taps, axis=3).reshape(n * p["out_h"] * p["out_w"], -1)  # (rows, KH*KW*C)
    wm = w.reshape(o, -1)
    if floating:
        acc = cols @ wm.astype(np.float32).T
        if bias is not None:
            acc = acc + bias.astype(np.float32)
        return _float_act(acc, p).reshape(n, p["out_h"], p["out_w"], o)
    out = requantize_per_channel(_exact_int_matmul(cols, wm.astype(np.int64).T), bias, p)
    return out.reshape(n, p["out_h"], p["out_w"], o)


def depthwise_conv2d(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """DEPTHWISE_CONV_2D: one multiply-accumulate per tap over all channels; output channel ``c*M + m`` reads
    input channel ``c``."""
    x, w, bias = args[0], args[1], args[2] if len(args) > 2 else None
    assert x is not None and w is not None
    _, kh, kw, oc = w.shape
    m = p["depth_multiplier"]
    floating = x.dtype == np.float32
    xs = x.astype(np.float32) if floating else x.astype(np.int64) + p["input_offset"]
    if m > 1:
        xs = np.repeat(xs, m, axis=3)
    _, taps = _window_taps(xs, p, 0, kh, kw, p["dilation_h"], p["dilation_w"])
    wk = w.reshape(kh * kw, oc).astype(np.float32 if floating else np.int64)
    acc = np.zeros(taps[0].shape, dtype=np.float32 if floating else np.int64)
    for t, tap in enumerate(taps):
        acc += tap * wk[t]
    if floating:
        return _float_act(acc if bias is None else acc + bias.astype(acc.dtype), p)
    return requantize_per_channel(acc, bias, p)


def fully_connected(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """FULLY_CONNECTED: rows of ``in_features`` times the (out, in) weights.

    ``rounding`` selects the requantization of this op only, per-tensor and per-channel alike: TFLM rounds
    twice (``"double"``); ai-edge-litert's reference FULLY_CONNECTED rounds once (``"single"``), measured
    layer by layer on the MLPerf Tiny models and on the generated test models.
    """
    x, w, bias = args[0], args[1], args[2] if len(args) > 2 else None
    assert x is not None and w is not None
    out_t = graph.tensor(node.outputs[0])
    n = x.shape[0]
    floating = x.dtype == np.float32
    rows = x.reshape(-1, p["in_features"])
    if floating:
        acc = rows.astype(np.float32) @ w.astype(np.float32).T
        if bias is not None:
            acc = acc + bias.astype(np.float32)
        return _float_act(acc, p).reshape((n,) + out_t.shape[1:])
    xs = rows.astype(np.int64) + p["input_offset"]
    ws = w.astype(np.int64) + p["filter_offset"]
    acc = _exact_int_matmul(xs, ws.T)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    if p["per_channel"]:
        mult, shift, rnd = (
            p["output_multiplier"].astype(np.int64),
            p["output_shift"].astype(np.int64),
            rounding,
        )
    else:
        mult, shift, rnd = p["output_multiplier"], p["output_shift"], rounding
    out = _requantize_clamp(
        acc, mult, shift, p["output_offset"], p["activation_min"], p["activation_max"], rnd
    )
    return out.reshape((n,) + out_t.shape[1:])


# ---------------------------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------------------------


def average_pool2d(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """AVERAGE_POOL_2D: the sum over the in-bounds taps divided by their count, rounded half away from zero
    with C integer division as TFLM does."""
    x = args[0]
    assert x is not None
    kh, kw = p["filter_h"], p["filter_w"]
    counts = _valid_counts(x.shape[1], x.shape[2], p, kh, kw)
    if x.dtype == np.float32:
        _, taps = _window_taps(x.astype(np.float32), p, 0.0, kh, kw)
        return _float_act(np.sum(taps, axis=0) / counts.astype(np.float32), p)
    _, taps = _window_taps(x.astype(np.int64), p, 0, kh, kw)
    acc = np.sum(taps, axis=0)
    half = counts // 2
    avg = np.where(acc > 0, trunc_div(acc + half, counts), trunc_div(acc - half, counts))
    return saturate_cast(np.clip(avg, p["activation_min"], p["activation_max"]), "int8")


def max_pool2d(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """MAX_POOL_2D: the maximum over the in-bounds taps, clamped to the activation range."""
    x = args[0]
    assert x is not None
    if x.dtype == np.float32:
        _, taps = _window_taps(x.astype(np.float32), p, -np.inf, p["filter_h"], p["filter_w"])
        return _float_act(np.max(taps, axis=0), p)
    _, taps = _window_taps(x.astype(np.int64), p, -(1 << 40), p["filter_h"], p["filter_w"])
    return saturate_cast(np.clip(np.max(taps, axis=0), p["activation_min"], p["activation_max"]), "int8")


# ---------------------------------------------------------------------------------------------------------------
# Elementwise
# ---------------------------------------------------------------------------------------------------------------


def add(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """ADD with broadcasting: both inputs shifted left 20 bits, rescaled to a common scale, summed, rescaled
    to the output (three double-rounded requantizations, as TFLM)."""
    a, b = args[0], args[1]
    assert a is not None and b is not None
    if a.dtype == np.float32:
        return _float_act(a.astype(np.float32) + b.astype(np.float32), p)
    ls = p["left_shift"]
    sa = (a.astype(np.int64) + p["input1_offset"]) << ls
    sb = (b.astype(np.int64) + p["input2_offset"]) << ls
    ra = multiply_by_quantized_multiplier_smaller_than_one_exp(sa, p["input1_multiplier"], p["input1_shift"])
    rb = multiply_by_quantized_multiplier_smaller_than_one_exp(sb, p["input2_multiplier"], p["input2_shift"])
    out = (
        multiply_by_quantized_multiplier_smaller_than_one_exp(
            ra + rb, p["output_multiplier"], p["output_shift"]
        )
        + p["output_offset"]
    )
    return saturate_cast(np.clip(out, p["activation_min"], p["activation_max"]), "int8")


def mul(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """MUL with broadcasting: the product of the offset inputs, requantized once (double rounding)."""
    a, b = args[0], args[1]
    assert a is not None and b is not None
    if a.dtype == np.float32:
        return _float_act(a.astype(np.float32) * b.astype(np.float32), p)
    prod = (a.astype(np.int64) + p["input1_offset"]) * (b.astype(np.int64) + p["input2_offset"])
    out = (
        multiply_by_quantized_multiplier(prod, p["output_multiplier"], p["output_shift"]) + p["output_offset"]
    )
    return saturate_cast(np.clip(out, p["activation_min"], p["activation_max"]), "int8")


def softmax(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """SOFTMAX over the last axis, TFLM's int8 fixed-point algorithm.

    Differences to the row maximum are rescaled to Q5.26, exponentiated with gemmlowp's
    ``exp_on_negative_values``, summed in Q12.19 (each term rounded by 2**-12), the sum inverted with
    ``GetReciprocal``; each output is ``exp * (1/sum)`` rounded to 8 fractional bits, minus 128.
    Differences below ``diff_min`` contribute nothing and give -128.
    """
    x = args[0]
    assert x is not None
    if x.dtype == np.float32:
        z = p["beta"] * (x.astype(np.float32) - np.max(x, axis=-1, keepdims=True))
        e = np.exp(z)
        return (e / np.sum(e, axis=-1, keepdims=True)).astype(np.float32)
    xi = x.astype(np.int64)
    diff = xi - np.max(xi, axis=-1, keepdims=True)
    valid = diff >= p["diff_min"]
    rescaled = multiply_by_quantized_multiplier_greater_than_one(
        np.where(valid, diff, 0), p["input_beta_multiplier"], p["input_beta_left_shift"]
    )
    exp_q0 = exp_on_negative_values(rescaled, 5)
    sum_of_exps = np.sum(np.where(valid, rounding_divide_by_pot(exp_q0, 12), 0), axis=-1, keepdims=True)
    shifted_scale, num_bits_over_unit = get_reciprocal(sum_of_exps, 12)
    unsat = rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(shifted_scale, exp_q0), num_bits_over_unit + 31 - 8
    )
    out = np.where(valid, np.clip(unsat - 128, -128, 127), -128)
    return out.astype(np.int8)


def logistic(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """LOGISTIC: TFLM's int8 reference kernel - saturate beyond +-radius, else rescale to Q4.27, gemmlowp's
    fixed-point logistic, round to 8 fractional bits, minus 128."""
    x = args[0]
    assert x is not None
    if x.dtype == np.float32:
        return (1.0 / (1.0 + np.exp(-x.astype(np.float32)))).astype(np.float32)
    inp = x.astype(np.int64) - p["input_zero_point"]
    radius = p["input_range_radius"]
    inside = (inp > -radius) & (inp < radius)
    q4 = multiply_by_quantized_multiplier(
        np.where(inside, inp, 0), p["input_multiplier"], p["input_left_shift"]
    )
    q0 = logistic_fixed(q4, 4)
    val = np.clip(rounding_divide_by_pot(q0, 31 - 8) - 128, -128, 127)
    out = np.where(inp <= -radius, -128, np.where(inp >= radius, 127, val))
    return out.astype(np.int8)


# ---------------------------------------------------------------------------------------------------------------
# Shape and data movement
# ---------------------------------------------------------------------------------------------------------------


def _batched_shape(x: np.ndarray, shape: tuple[int, ...]) -> tuple[int, ...]:
    n = x.shape[0]
    if n == 1 or not shape:
        return shape
    if shape[0] != 1:
        raise UnsupportedOpError(f"cannot carry a batch of {n} through a reshape to {shape}")
    return (n,) + tuple(shape[1:])


def reshape(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """RESHAPE: the same bytes in the output tensor's shape."""
    x = args[0]
    assert x is not None
    return x.reshape(_batched_shape(x, p["shape"]))


def pad(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """PAD with the output zero point (a real 0) for int8, 0.0 for float."""
    x = args[0]
    assert x is not None
    return np.pad(x, p["paddings"], constant_values=np.asarray(p["pad_value"]).astype(x.dtype))


def concatenation(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """CONCATENATION: inputs with the output's quantization are copied, others requantized (see params)."""
    arrays = [a for a in args if a is not None]
    if arrays[0].dtype == np.float32:
        return _float_act(np.concatenate(arrays, axis=p["axis"]), p)
    parts = []
    for a, e in zip(arrays, p["inputs"], strict=True):
        if e["requantize"]:
            v = multiply_by_quantized_multiplier(
                a.astype(np.int64) - e["input_zero_point"], e["output_multiplier"], e["output_shift"]
            )
            a = saturate_cast(v + p["output_zero_point"], "int8")
        parts.append(a)
    out = np.concatenate(parts, axis=p["axis"])
    return saturate_cast(np.clip(out, p["activation_min"], p["activation_max"]), "int8")


def mean(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """MEAN over ``axes`` as TFLM's ``EvalIntegerMean``: with equal quantization the raw sum divided by the
    count, truncated; otherwise the zero-point-corrected sum requantized with 1/count folded in."""
    x = args[0]
    assert x is not None
    axes, n = p["axes"], p["num_elements"]
    if 0 in axes and x.shape[0] != 1:
        raise UnsupportedOpError(f"layer {node.name}: MEAN over the batch axis cannot run batched")
    out_shape = _batched_shape(x, graph.tensor(node.outputs[0]).shape)
    if x.dtype == np.float32:
        return np.mean(x.astype(np.float32), axis=axes).astype(np.float32).reshape(out_shape)
    total = np.sum(x.astype(np.int64), axis=axes)
    if p["same_quant"]:
        out = trunc_div(total, n)
    else:
        shifted = total - p["input_zero_point"] * n
        out = (
            multiply_by_quantized_multiplier(shifted, p["mean_multiplier"], p["mean_shift"])
            + p["output_zero_point"]
        )
    return saturate_cast(out, "int8").reshape(out_shape)


def quantize(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """QUANTIZE: float32 -> int8 as ``AffineQuantize`` (double division, round half away from zero), or
    int8 -> int8 as ``Requantize``."""
    x = args[0]
    assert x is not None
    out_dtype = graph.tensor(node.outputs[0]).dtype
    if p["mode"] == "affine":
        q = tflite_round_array(x.astype(np.float32).astype(np.float64) / p["scale"])
        q = np.clip(q, -(2.0**31), 2.0**31 - 1).astype(np.int64) + p["zero_point"]
        return saturate_cast(np.clip(q, p["qmin"], p["qmax"]), out_dtype)
    v = multiply_by_quantized_multiplier(
        x.astype(np.int64) - p["input_zero_point"], p["output_multiplier"], p["output_shift"]
    )
    return saturate_cast(np.clip(v + p["output_zero_point"], p["qmin"], p["qmax"]), out_dtype)


def dequantize(
    graph: ir.Graph, node: ir.Node, p: Params, args: list[np.ndarray | None], rounding: str
) -> np.ndarray:
    """DEQUANTIZE: ``float32(scale * (q - zp))`` with the product in double."""
    x = args[0]
    assert x is not None
    return (p["scale"] * (x.astype(np.int64) - p["zero_point"]).astype(np.float64)).astype(np.float32)


KERNELS: dict[str, Kernel] = {
    "CONV_2D": conv2d,
    "DEPTHWISE_CONV_2D": depthwise_conv2d,
    "FULLY_CONNECTED": fully_connected,
    "AVERAGE_POOL_2D": average_pool2d,
    "MAX_POOL_2D": max_pool2d,
    "ADD": add,
    "MUL": mul,
    "SOFTMAX": softmax,
    "LOGISTIC": logistic,
    "RESHAPE": reshape,
    "PAD": pad,
    "CONCATENATION": concatenation,
    "MEAN": mean,
    "QUANTIZE": quantize,
    "DEQUANTIZE": dequantize,
}
