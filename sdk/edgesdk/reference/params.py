"""Every integer parameter an int8 kernel needs, computed once from the IR, exactly as TFLite Micro's Prepare does.

``op_params(graph, node)`` is the single source of these numbers: the reference interpreter runs with them and
the C backend writes them into the generated C, so the two are bit-exact by construction. Each op has one
function below; every key it returns is documented there. Conventions shared by all ops:

- ``input_offset`` = -input zero point (added to each int8 input), ``output_offset`` = output zero point;
- ``output_multiplier`` / ``output_shift``: a Q0.31 multiplier and a power-of-two exponent from
  ``quantize_multiplier`` (positive shift = left), applied with ``multiply_by_quantized_multiplier``;
  per-channel ops give int32 arrays of length out_channels, per-tensor ops give Python ints;
- ``activation_min`` / ``activation_max``: the fused activation's clamp in the output's int8 domain
  (TFLite's ``CalculateActivationRangeQuantized``).

Real-valued scales are float32 in a ``.tflite``; the IR stores them as float64 holding those float32 values, and
TFLite widens them to double before multiplying. Where TFLite instead multiplies in float32 first (per-tensor
FULLY_CONNECTED's ``GetQuantizedConvolutionMultipler``) we do the same, since the last bit of the multiplier
depends on it.

For float32 graphs the same functions return the geometry and a float activation range (``float_min`` /
``float_max``) and no integer parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.ir.quantmath import (
    calculate_input_radius,
    preprocess_softmax_scaling,
    quantize_multiplier,
    quantize_multiplier_smaller_than_one_exp,
    tflite_round,
)

#: ADD's inputs are shifted left by this many bits before rescaling (TFLM: 20 for int8, 15 for int16).
ADD_LEFT_SHIFT = 20
#: Integer bits of the rescaled input difference fed to softmax's exp (Q5.26).
SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5
#: Integer bits of the logistic kernel's fixed-point input (Q4.27).
LOGISTIC_INPUT_INTEGER_BITS = 4


def _f32(x: float) -> float:
    """The float32 value of ``x`` (as a Python float), to replay a float32 operation of TFLite."""
    return float(np.float32(x))


def _qp(t: ir.Tensor, node: ir.Node) -> ir.QuantParams:
    if t.quant is None:
        raise UnsupportedOpError(f"layer {node.name}: tensor {t.name} has no quantization parameters")
    return t.quant


def is_float(graph: ir.Graph, node: ir.Node) -> bool:
    """True when the node computes in float32 (its first output is float32)."""
    return graph.tensor(node.outputs[0]).dtype == "float32"


def activation_range_quantized(activation: str, out: ir.Tensor, dtype: str = "int8") -> tuple[int, int]:
    """``CalculateActivationRangeQuantized``: the clamp of a fused activation in the output's integer domain.

    TFLite quantizes the bounds 0, 6, -1, 1 as ``zp + round(f / scale)`` with a float32 division and
    ``std::round``, and intersects them with the type's range.
    """
    info = np.iinfo(np.dtype(dtype))
    qmin, qmax = int(info.min), int(info.max)
    if out.quant is None:
        raise UnsupportedOpError(f"tensor {out.name}: a fused activation needs output quantization")
    scale = np.float32(out.quant.s)
    zp = out.quant.zp

    def quantize(f: float) -> int:
        return zp + int(tflite_round(float(np.float32(f) / scale)))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    raise UnsupportedOpError(f"tensor {out.name}: fused activation {activation} is not supported")


def activation_range_float(activation: str) -> tuple[float, float]:
    """``CalculateActivationRange`` for float kernels."""
    return {
        "NONE": (-np.inf, np.inf),
        "RELU": (0.0, np.inf),
        "RELU6": (0.0, 6.0),
        "RELU_N1_TO_1": (-1.0, 1.0),
    }[activation]


def compute_out_size(padding: str, in_size: int, filter_size: int, stride: int, dilation: int) -> int:
    """``ComputeOutSize``: SAME gives ceil(in / stride), VALID ceil((in - effective_filter + 1) / stride)."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    if padding == "VALID":
        return (in_size + stride - effective) // stride
    raise UnsupportedOpError(f"padding {padding} is not supported")


def compute_padding_with_offset(
    stride: int, dilation: int, in_size: int, filter_size: int, out_size: int
) -> tuple[int, int]:
    """``ComputePaddingWithOffset``: (padding before, extra padding after when the total is odd).

    The total padding ``(out - 1) * stride + effective_filter - in`` (at least 0) is split with the smaller
    half before the data, as TFLite does for both SAME and VALID.
    """
    effective = (filter_size - 1) * dilation + 1
    total = max((out_size - 1) * stride + effective - in_size, 0)
    return total // 2, total % 2


def compute_padding_height_width(
    stride: tuple[int, int],
    dilation: tuple[int, int],
    in_hw: tuple[int, int],
    filter_hw: tuple[int, int],
    padding: str,
) -> dict[str, int]:
    """``ComputePaddingHeightWidth``: output size and padding of a 2D window op.

    Keys: ``out_h``, ``out_w``, ``pad_h``, ``pad_w`` (rows/columns of padding before the data),
    ``pad_h_offset``, ``pad_w_offset`` (1 when the after-padding is one larger).
    """
    out_h = compute_out_size(padding, in_hw[0], filter_hw[0], stride[0], dilation[0])
    out_w = compute_out_size(padding, in_hw[1], filter_hw[1], stride[1], dilation[1])
    pad_h, off_h = compute_padding_with_offset(stride[0], dilation[0], in_hw[0], filter_hw[0], out_h)
    pad_w, off_w = compute_padding_with_offset(stride[1], dilation[1], in_hw[1], filter_hw[1], out_w)
    return {
        "out_h": out_h,
        "out_w": out_w,
        "pad_h": pad_h,
        "pad_w": pad_w,
        "pad_h_offset": off_h,
        "pad_w_offset": off_w,
    }


def _window_geometry(
    node: ir.Node, x: ir.Tensor, out: ir.Tensor, kernel: tuple[int, int], dilation: tuple[int, int]
) -> dict[str, Any]:
    """Padding and output size of a window op (convolution, pool) on ``x``, checked against its output tensor."""
    geo = compute_padding_height_width(node.stride, dilation, (x.shape[1], x.shape[2]), kernel, node.padding)
    _check_out_hw(node, out, geo)
    return geo


def _check_out_hw(node: ir.Node, out: ir.Tensor, geo: dict[str, int]) -> None:
    if tuple(out.shape[1:3]) != (geo["out_h"], geo["out_w"]):
        raise UnsupportedOpError(
            f"layer {node.name}: output {out.shape[1:3]} does not match the computed {(geo['out_h'], geo['out_w'])}"
        )


def per_channel_multipliers(
    input_scale: float, filter_scales: np.ndarray, output_scale: float, channels: int
):
    """``PopulateConvolutionQuantizationParams``: one (multiplier, shift) per output channel.

    ``effective = double(input_scale) * double(filter_scale[c]) / double(output_scale)``, a per-tensor filter
    scale being broadcast to every channel. Returns two int32 arrays.
    """
    scales = np.asarray(filter_scales, dtype=np.float64)
    if scales.size == 1:
        scales = np.full(channels, scales[0])
    if scales.size != channels:
        raise UnsupportedOpError(f"{scales.size} filter scales for {channels} output channels")
    mults = np.empty(channels, dtype=np.int32)
    shifts = np.empty(channels, dtype=np.int32)
    for c in range(channels):
        m, s = quantize_multiplier(float(input_scale) * float(scales[c]) / float(output_scale))
        mults[c] = m
        shifts[c] = s
    return mults, shifts


# ---------------------------------------------------------------------------------------------------------------
# One function per op
# ---------------------------------------------------------------------------------------------------------------


def _conv_like(graph: ir.Graph, node: ir.Conv2D | ir.DepthwiseConv2D, depthwise: bool) -> dict[str, Any]:
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    out = graph.tensor(node.outputs[0])
    kh, kw = (w.shape[1], w.shape[2])
    geo = _window_geometry(node, x, out, (kh, kw), node.dilation)
    p: dict[str, Any] = {
        "stride_h": node.stride[0],
        "stride_w": node.stride[1],
        "dilation_h": node.dilation[0],
        "dilation_w": node.dilation[1],
        "filter_h": kh,
        "filter_w": kw,
        "in_h": x.shape[1],
        "in_w": x.shape[2],
        "in_c": x.shape[3],
        "out_c": out.shape[3],
        **geo,
    }
    if depthwise:
        p["depth_multiplier"] = out.shape[3] // x.shape[3]
        if out.shape[3] != x.shape[3] * p["depth_multiplier"]:
            raise UnsupportedOpError(
                f"layer {node.name}: output channels are not a multiple of input channels"
            )
    if is_float(graph, node):
        p["float_min"], p["float_max"] = activation_range_float(node.activation)
        return p
    xq, wq, oq = _qp(x, node), _qp(w, node), _qp(out, node)
    mults, shifts = per_channel_multipliers(xq.s, wq.scale, oq.s, out.shape[3])
    p.update(
        input_offset=-xq.zp,
        output_offset=oq.zp,
        output_multiplier=mults,
        output_shift=shifts,
    )
    p["activation_min"], p["activation_max"] = activation_range_quantized(node.activation, out)
    return p


def conv2d_params(graph: ir.Graph, node: ir.Conv2D) -> dict[str, Any]:
    """CONV_2D (TFLM ``ConvPerChannel``).

    Keys: geometry (``stride_h/w``, ``dilation_h/w``, ``filter_h/w``, ``in_h/w/c``, ``out_c``, ``out_h/w``,
    ``pad_h/w`` and their ``_offset``), ``input_offset``, ``output_offset``, per-channel ``output_multiplier`` and
    ``output_shift`` (int32 arrays, also for per-tensor weights, broadcast as TFLM does), ``activation_min/max``.
    The kernel: ``acc = bias[c] + sum w * (x + input_offset)`` over in-bounds taps (padding contributes 0),
    ``out = clamp(MBQM(acc, mult[c], shift[c]) + output_offset)``. Filter zero points are 0 for int8.
    """
    return _conv_like(graph, node, depthwise=False)


def depthwise_conv2d_params(graph: ir.Graph, node: ir.DepthwiseConv2D) -> dict[str, Any]:
    """DEPTHWISE_CONV_2D (TFLM ``DepthwiseConvPerChannel``): the keys of ``conv2d_params`` plus
    ``depth_multiplier``; output channel ``c * depth_multiplier + m`` reads input channel ``c``."""
    return _conv_like(graph, node, depthwise=True)


def fully_connected_params(graph: ir.Graph, node: ir.FullyConnected) -> dict[str, Any]:
    """FULLY_CONNECTED (TFLM ``FullyConnected`` / ``FullyConnectedPerChannel``).

    Keys: ``in_features``, ``out_features``, ``per_channel`` (bool), ``input_offset``, ``filter_offset``
    (-filter zero point; 0 for int8), ``output_offset``, ``output_multiplier`` / ``output_shift`` (int32 arrays
    of length out_features when per-channel, else Python ints), ``activation_min/max``.
    Per-tensor: the multiplier is TFLite's ``GetQuantizedConvolutionMultipler``, whose
    ``input_scale * filter_scale`` product is taken in float32 before widening to double.
    """
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    out = graph.tensor(node.outputs[0])
    p: dict[str, Any] = {"in_features": w.shape[1], "out_features": w.shape[0]}
    if is_float(graph, node):
        p["float_min"], p["float_max"] = activation_range_float(node.activation)
        return p
    xq, wq, oq = _qp(x, node), _qp(w, node), _qp(out, node)
    p["per_channel"] = bool(wq.per_channel)
    if wq.per_channel:
        p["output_multiplier"], p["output_shift"] = per_channel_multipliers(xq.s, wq.scale, oq.s, w.shape[0])
    else:
        product = _f32(np.float32(xq.s) * np.float32(wq.s))
        p["output_multiplier"], p["output_shift"] = quantize_multiplier(product / float(oq.s))
    p.update(input_offset=-xq.zp, filter_offset=-int(wq.zero_point[0]), output_offset=oq.zp)
    p["activation_min"], p["activation_max"] = activation_range_quantized(node.activation, out)
    return p


def _pool_params(graph: ir.Graph, node: ir.AveragePool2D | ir.MaxPool2D) -> dict[str, Any]:
    x, out = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    geo = _window_geometry(node, x, out, node.filter, (1, 1))
    p: dict[str, Any] = {
        "filter_h": node.filter[0],
        "filter_w": node.filter[1],
        "stride_h": node.stride[0],
        "stride_w": node.stride[1],
        **geo,
    }
    if is_float(graph, node):
        p["float_min"], p["float_max"] = activation_range_float(node.activation)
        return p
    xq, oq = _qp(x, node), _qp(out, node)
    if xq.zp != oq.zp or not np.float32(xq.s) == np.float32(oq.s):
        raise UnsupportedOpError(f"layer {node.name}: int8 pooling needs equal input and output quantization")
    p["activation_min"], p["activation_max"] = activation_range_quantized(node.activation, out)
    return p


def average_pool2d_params(graph: ir.Graph, node: ir.AveragePool2D) -> dict[str, Any]:
    """AVERAGE_POOL_2D (TFLM int8 ``AveragePool``): geometry (``filter_h/w``, ``stride_h/w``, ``out_h/w``,
    ``pad_h/w``), ``activation_min/max``. The kernel sums raw int8 values over the in-bounds part of the window
    (``count`` taps) and rounds ``sum / count`` half away from zero: ``(sum +- count/2) / count`` in C
    integer division. Input and output share scale and zero point, so there is no multiplier."""
    return _pool_params(graph, node)


def max_pool2d_params(graph: ir.Graph, node: ir.MaxPool2D) -> dict[str, Any]:
    """MAX_POOL_2D: the geometry of ``average_pool2d_params`` and ``activation_min/max``; the maximum over
    the in-bounds part of each window, clamped."""
    return _pool_params(graph, node)


def _binary_quant(graph: ir.Graph, node: ir.Node) -> tuple[Any, Any, Any, tuple[int, int]] | None:
    """The quantization of an ADD/MUL's two inputs and output and its output clamp; None for a float layer."""
    if is_float(graph, node):
        return None
    out = graph.tensor(node.outputs[0])
    a, b = (_qp(graph.tensor(name), node) for name in node.inputs[:2])
    return a, b, _qp(out, node), activation_range_quantized(node.activation, out)


def _float_clamp(node: ir.Node) -> dict[str, Any]:
    """The parameters of a float ADD/MUL: the clamp of its fused activation."""
    lo, hi = activation_range_float(node.activation)
    return {"float_min": lo, "float_max": hi}


def add_params(graph: ir.Graph, node: ir.Add) -> dict[str, Any]:
    """ADD (TFLM int8 ``Add``).

    Keys: ``left_shift`` (20), ``input1_offset``, ``input2_offset`` (-zero points), ``input1_multiplier``,
    ``input1_shift``, ``input2_multiplier``, ``input2_shift``, ``output_multiplier``, ``output_shift``
    (shifts <= 0), ``output_offset``, ``activation_min/max``. The kernel:
    ``s_i = MBQM((x_i + input_i_offset) << left_shift, input_i_multiplier, input_i_shift)``,
    ``out = clamp(MBQM(s_1 + s_2, output_multiplier, output_shift) + output_offset)``, with the real
    multipliers ``scale_i / (2 max(scale_1, scale_2))`` and ``2 max(scale) / (2**left_shift * out_scale)``.
    """
    q = _binary_quant(graph, node)
    if q is None:
        return _float_clamp(node)
    aq, bq, oq, (lo, hi) = q
    s1, s2, so = float(aq.s), float(bq.s), float(oq.s)
    twice_max_input_scale = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier_smaller_than_one_exp(s1 / twice_max_input_scale)
    m2, sh2 = quantize_multiplier_smaller_than_one_exp(s2 / twice_max_input_scale)
    mo, sho = quantize_multiplier_smaller_than_one_exp(
        twice_max_input_scale / (float(1 << ADD_LEFT_SHIFT) * so)
    )
    return {
        "left_shift": ADD_LEFT_SHIFT,
        "input1_offset": -aq.zp,
        "input2_offset": -bq.zp,
        "input1_multiplier": m1,
        "input1_shift": sh1,
        "input2_multiplier": m2,
        "input2_shift": sh2,
        "output_multiplier": mo,
        "output_shift": sho,
        "output_offset": oq.zp,
        "activation_min": lo,
        "activation_max": hi,
    }


def mul_params(graph: ir.Graph, node: ir.Mul) -> dict[str, Any]:
    """MUL (TFLM int8 ``Mul``): ``input1_offset``, ``input2_offset``, ``output_offset``,
    ``output_multiplier`` / ``output_shift`` for ``scale_1 * scale_2 / out_scale`` (double precision),
    ``activation_min/max``. Kernel: ``clamp(MBQM((x1 + off1) * (x2 + off2), mult, shift) + output_offset)``."""
    q = _binary_quant(graph, node)
    if q is None:
        return _float_clamp(node)
    aq, bq, oq, (lo, hi) = q
    mult, shift = quantize_multiplier(float(aq.s) * float(bq.s) / float(oq.s))
    return {
        "input1_offset": -aq.zp,
        "input2_offset": -bq.zp,
        "output_offset": oq.zp,
        "output_multiplier": mult,
        "output_shift": shift,
        "activation_min": lo,
        "activation_max": hi,
    }


def softmax_params(graph: ir.Graph, node: ir.Softmax, rounding: str = "double") -> dict[str, Any]:
    """SOFTMAX (TFLM int8, ``PreprocessSoftmaxScaling`` + ``CalculateInputRadius``).

    Keys: ``beta``, ``input_beta_multiplier``, ``input_beta_left_shift`` (take ``x - max(x)`` to Q5.26),
    ``diff_min`` (negative: differences below it give exp = 0 and output -128). The output must be
    scale 1/256, zero point -128.
    """
    x, out = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    if is_float(graph, node):
        return {"beta": float(node.beta)}
    xq, oq = _qp(x, node), _qp(out, node)
    if oq.zp != -128 or not np.isclose(oq.s, 1.0 / 256.0):
        raise UnsupportedOpError(
            f"layer {node.name}: int8 softmax needs output scale 1/256 and zero point -128"
        )
    mult, shift = preprocess_softmax_scaling(node.beta, xq.s, SOFTMAX_SCALED_DIFF_INTEGER_BITS, rounding)  # type: ignore[arg-type]
    diff_min = -calculate_input_radius(SOFTMAX_SCALED_DIFF_INTEGER_BITS, shift)
    return {
        "beta": float(node.beta),
        "input_beta_multiplier": mult,
        "input_beta_left_shift": shift,
        "diff_min": diff_min,
    }


def logistic_params(graph: ir.Graph, node: ir.Logistic) -> dict[str, Any]:
    """LOGISTIC (TFLM int8 reference kernel ``reference_integer_ops::Logistic``).

    Keys: ``input_zero_point``, ``input_multiplier`` and ``input_left_shift`` (``frexp`` of
    ``input_scale * 2**27``, the significand rounded to Q0.31 without the 2**31 correction, as TFLM's Prepare
    does), ``input_range_radius`` (inputs ``x - zp`` at or beyond +-radius saturate to -128 / 127).
    The output must have zero point -128 (scale 1/256).
    """
    x, out = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    if is_float(graph, node):
        return {}
    xq, oq = _qp(x, node), _qp(out, node)
    if oq.zp != -128:
        raise UnsupportedOpError(f"layer {node.name}: int8 logistic needs output zero point -128")
    real = float(xq.s) * float(1 << (31 - LOGISTIC_INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    mult = int(tflite_round(q * (1 << 31)))
    if mult == 1 << 31:  # TFLM casts this to int32 without correction: it wraps to INT32_MIN
        mult = -(1 << 31)
    return {
        "input_zero_point": xq.zp,
        "input_multiplier": mult,
        "input_left_shift": left_shift,
        "input_range_radius": calculate_input_radius(LOGISTIC_INPUT_INTEGER_BITS, left_shift, 31),
    }


def _resolve_axes(axes: tuple[int, ...], rank: int) -> tuple[int, ...]:
    out: list[int] = []
    for a in axes:
        a = a + rank if a < 0 else a
        if not 0 <= a < rank:
            raise UnsupportedOpError(f"axis {a} out of range for rank {rank}")
        if a not in out:
            out.append(a)
    return tuple(out)


def mean_params(graph: ir.Graph, node: ir.Mean) -> dict[str, Any]:
    """MEAN (TFLM ``EvalIntegerMean``).

    Keys: ``axes`` (resolved, non-negative, deduplicated), ``num_elements`` (reduced count), ``keep_dims``,
    ``same_quant`` (bool), and when int8: ``input_zero_point``, ``output_zero_point``, ``multiplier``/``shift``
    (``QuantizeMultiplier(in_scale / out_scale)``) and ``mean_multiplier``/``mean_shift`` (the same with
    1/num_elements folded in as ``QuantizedMeanOrSum`` does: ``shift' = min(floor(log2 n), 32, 31 + shift)``,
    ``mult' = (mult << shift') / n`` truncated, ``shift - shift'``).

    With equal input/output quantization (``same_quant``) TFLM sums the raw int8 values and divides by the
    count in C (truncating toward zero) - no rounding. Otherwise:
    ``clamp(MBQM(sum - in_zp * n, mean_multiplier, mean_shift) + out_zp)``.
    """
    x, out = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    axes = node.axes
    if not axes and len(node.inputs) > 1 and node.inputs[1]:
        data = graph.tensor(node.inputs[1]).data
        axes = tuple(int(a) for a in np.atleast_1d(data)) if data is not None else ()
    axes = _resolve_axes(axes, len(x.shape))
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64)) if axes else 1
    p: dict[str, Any] = {"axes": axes, "num_elements": n, "keep_dims": bool(node.keep_dims)}
    if is_float(graph, node):
        return p
    xq, oq = _qp(x, node), _qp(out, node)
    mult, shift = quantize_multiplier(float(xq.s) / float(oq.s))
    extra = n.bit_length() - 1
    extra = min(extra, 32, 31 + shift)
    mean_mult = int((mult << extra) // n)
    p.update(
        same_quant=bool(xq.zp == oq.zp and np.float32(xq.s) == np.float32(oq.s)),
        input_zero_point=xq.zp,
        output_zero_point=oq.zp,
        multiplier=mult,
        shift=shift,
        mean_multiplier=mean_mult,
        mean_shift=shift - extra,
    )
    return p


def quantize_params(graph: ir.Graph, node: ir.Quantize) -> dict[str, Any]:
    """QUANTIZE.

    float32 -> int8 (``AffineQuantize``): keys ``mode="affine"``, ``scale`` (the output scale as a double),
    ``zero_point``, ``qmin``, ``qmax``; ``q = clamp(round(x / scale) + zp)`` with the division in double and
    ``std::round``.
    int8 -> int8 (``Requantize``): ``mode="requantize"``, ``input_zero_point``, ``output_zero_point``,
    ``output_multiplier``/``output_shift`` for ``in_scale / out_scale``;
    ``q = clamp(MBQM(x - in_zp, mult, shift) + out_zp)``.
    """
    x, out = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    oq = _qp(out, node)
    info = np.iinfo(np.dtype(out.dtype))
    if x.dtype == "float32":
        return {
            "mode": "affine",
            "scale": float(oq.s),
            "zero_point": oq.zp,
            "qmin": int(info.min),
            "qmax": int(info.max),
        }
    xq = _qp(x, node)
    mult, shift = quantize_multiplier(float(xq.s) / float(oq.s))
    return {
        "mode": "requantize",
        "input_zero_point": xq.zp,
        "output_zero_point": oq.zp,
        "output_multiplier": mult,
        "output_shift": shift,
        "qmin": int(info.min),
        "qmax": int(info.max),
    }


def dequantize_params(graph: ir.Graph, node: ir.Dequantize) -> dict[str, Any]:
    """DEQUANTIZE: ``scale`` (double), ``zero_point``; ``y = float32(scale * (q - zp))`` computed in double."""
    xq = _qp(graph.tensor(node.inputs[0]), node)
    return {"scale": float(xq.s), "zero_point": xq.zp}


def concatenation_params(graph: ir.Graph, node: ir.Concatenation) -> dict[str, Any]:
    """CONCATENATION.

    Keys: ``axis`` (non-negative), and when int8 one entry per input in ``inputs``: ``{"requantize": bool,
    "input_zero_point", "output_multiplier", "output_shift"}`` plus ``output_zero_point``,
    ``activation_min/max``. An input whose quantization equals the output's is copied byte for byte (what
    every TFLite converter output has: TFLite rejects int8 concatenation with differing scales, TFLM copies the
    bytes regardless). An input with other quantization is requantized as QUANTIZE int8->int8 does:
    ``clamp(MBQM(x - in_zp, mult, shift) + out_zp)``.
    """
    out = graph.tensor(node.outputs[0])
    axis = node.axis + len(out.shape) if node.axis < 0 else node.axis
    p: dict[str, Any] = {"axis": axis}
    if is_float(graph, node):
        p["float_min"], p["float_max"] = activation_range_float(node.activation)
        return p
    oq = _qp(out, node)
    entries = []
    for name in node.inputs:
        xq = _qp(graph.tensor(name), node)
        same = xq.zp == oq.zp and np.float32(xq.s) == np.float32(oq.s)
        mult, shift = (0, 0) if same else quantize_multiplier(float(xq.s) / float(oq.s))
        entries.append(
            {
                "requantize": not same,
                "input_zero_point": xq.zp,
                "output_multiplier": mult,
                "output_shift": shift,
            }
        )
    p["inputs"] = entries
    p["output_zero_point"] = oq.zp
    p["activation_min"], p["activation_max"] = activation_range_quantized(node.activation, out)
    return p


def pad_params(graph: ir.Graph, node: ir.Pad) -> dict[str, Any]:
    """PAD: ``paddings`` ((before, after) per dimension) and ``pad_value`` (the output zero point for int8 -
    a real 0 - or 0.0 for float). Input and output share quantization."""
    x, out = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    paddings = node.paddings
    if not paddings and len(node.inputs) > 1 and node.inputs[1]:
        data = graph.tensor(node.inputs[1]).data
        if data is not None:
            paddings = tuple((int(a), int(b)) for a, b in np.asarray(data).reshape(-1, 2))
    paddings = tuple(tuple(int(v) for v in pb) for pb in paddings)
    if len(paddings) != len(x.shape):
        raise UnsupportedOpError(
            f"layer {node.name}: {len(paddings)} paddings for a rank-{len(x.shape)} input"
        )
    if is_float(graph, node):
        return {"paddings": paddings, "pad_value": 0.0}
    xq, oq = _qp(x, node), _qp(out, node)
    if xq.zp != oq.zp:
        raise UnsupportedOpError(f"layer {node.name}: int8 PAD needs equal input and output zero points")
    return {"paddings": paddings, "pad_value": oq.zp}


def reshape_params(graph: ir.Graph, node: ir.Reshape) -> dict[str, Any]:
    """RESHAPE: ``shape`` (the output tensor's shape). Bytes are unchanged."""
    return {"shape": graph.tensor(node.outputs[0]).shape}


_PARAMS = {
    "CONV_2D": conv2d_params,
    "DEPTHWISE_CONV_2D": depthwise_conv2d_params,
    "FULLY_CONNECTED": fully_connected_params,
    "AVERAGE_POOL_2D": average_pool2d_params,
    "MAX_POOL_2D": max_pool2d_params,
    "ADD": add_params,
    "MUL": mul_params,
    "SOFTMAX": softmax_params,
    "LOGISTIC": logistic_params,
    "MEAN": mean_params,
    "QUANTIZE": quantize_params,
    "DEQUANTIZE": dequantize_params,
    "CONCATENATION": concatenation_params,
    "PAD": pad_params,
    "RESHAPE": reshape_params,
}


def op_params(graph: ir.Graph, node: ir.Node) -> dict[str, Any]:
    """Every parameter the kernel of ``node`` needs (see the per-op functions for the keys)."""
    fn = _PARAMS.get(node.op)
    if fn is None:
        raise UnsupportedOpError(
            f"layer {node.name}: op {node.op} is not supported by the reference interpreter"
        )
    return fn(graph, node)  # type: ignore[operator]
