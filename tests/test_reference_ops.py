"""Each op of the reference interpreter on tiny hand-built graphs, without any frontend.

The vectorized kernels are checked against plain loops written the way TFLite Micro's reference kernels walk
their windows (origin = out * stride - pad, taps outside the input skipped), using the scalar fixed-point
primitives that ``test_quantmath.py`` pins; plus known values for the rounding rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.ir.quantmath import multiply_by_quantized_multiplier as mbqm
from edgesdk.ir.quantmath import quantize_multiplier
from edgesdk.reference import Reference, op_params
from edgesdk.reference.params import activation_range_quantized, compute_padding_height_width

RNG = np.random.default_rng(7)


def _q(scale: float | list[float], zp: int | list[int] = 0, axis: int | None = None) -> ir.QuantParams:
    scale_arr = np.asarray(scale, dtype=np.float32).astype(np.float64)  # scales are float32 in a .tflite
    zp_arr = np.broadcast_to(np.asarray(zp), scale_arr.shape) if scale_arr.ndim else np.asarray(zp)
    return ir.QuantParams(scale_arr, zp_arr, axis)


def _graph(node: ir.Node, tensors: list[ir.Tensor], inputs: list[str]) -> ir.Graph:
    g = ir.Graph(name="t")
    for t in tensors:
        g.add_tensor(t)
    g.nodes.append(node)
    g.inputs = inputs
    g.outputs = list(node.outputs)
    return g


def _rand_i8(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.integers(-128, 128, size=shape, dtype=np.int8)


# --- loops in TFLM's order --------------------------------------------------------------------------------------


def _loop_conv(x, w, b, p, depthwise: bool):
    _, h, wd, c = x.shape
    oc, kh, kw = w.shape[3] if depthwise else w.shape[0], w.shape[1], w.shape[2]
    out = np.zeros((1, p["out_h"], p["out_w"], oc), dtype=np.int64)
    for oy in range(p["out_h"]):
        for ox in range(p["out_w"]):
            for o in range(oc):
                acc = 0
                for ky in range(kh):
                    for kx in range(kw):
                        iy = oy * p["stride_h"] - p["pad_h"] + ky * p["dilation_h"]
                        ix = ox * p["stride_w"] - p["pad_w"] + kx * p["dilation_w"]
                        if not (0 <= iy < h and 0 <= ix < wd):
                            continue
                        if depthwise:
                            ic = o // p["depth_multiplier"]
                            acc += int(w[0, ky, kx, o]) * (int(x[0, iy, ix, ic]) + p["input_offset"])
                        else:
                            for ic in range(c):
                                acc += int(w[o, ky, kx, ic]) * (int(x[0, iy, ix, ic]) + p["input_offset"])
                acc += int(b[o])
                v = (
                    int(mbqm(acc, int(p["output_multiplier"][o]), int(p["output_shift"][o])))
                    + p["output_offset"]
                )
                out[0, oy, ox, o] = min(max(v, p["activation_min"]), p["activation_max"])
    return out.astype(np.int8)


def _conv_graph(depthwise: bool, in_shape, kernel, out_c, stride, dilation, padding, activation, mult=1):
    x = ir.Tensor("x", in_shape, "int8", _q(0.05, -3))
    if depthwise:
        out_c = in_shape[3] * mult
        w_shape = (1, *kernel, out_c)
        axis = 3
    else:
        w_shape = (out_c, *kernel, in_shape[3])
        axis = 0
    w_scales = list(RNG.uniform(0.002, 0.02, out_c))
    w = ir.Tensor("w", w_shape, "int8", _q(w_scales, 0, axis), data=_rand_i8(w_shape))
    b = ir.Tensor("b", (out_c,), "int32", data=RNG.integers(-3000, 3000, out_c).astype(np.int32))
    geo = compute_padding_height_width(stride, dilation, in_shape[1:3], kernel, padding)
    y = ir.Tensor("y", (1, geo["out_h"], geo["out_w"], out_c), "int8", _q(0.04, 5))
    if depthwise:
        node = ir.DepthwiseConv2D("dw", ["x", "w", "b"], ["y"], stride, dilation, padding, mult, activation)
    else:
        node = ir.Conv2D("conv", ["x", "w", "b"], ["y"], stride, dilation, padding, activation)
    return _graph(node, [x, w, b, y], ["x"])


@pytest.mark.parametrize(
    ("in_shape", "kernel", "out_c", "stride", "dilation", "padding", "activation"),
    [
        ((1, 7, 7, 3), (3, 3), 4, (1, 1), (1, 1), "SAME", "NONE"),
        ((1, 8, 9, 2), (3, 3), 5, (2, 2), (1, 1), "SAME", "RELU"),
        ((1, 9, 8, 3), (3, 2), 3, (2, 1), (1, 1), "VALID", "RELU6"),
        ((1, 9, 9, 2), (3, 3), 2, (1, 1), (2, 2), "SAME", "NONE"),
        ((1, 5, 5, 33), (1, 1), 31, (1, 1), (1, 1), "VALID", "RELU_N1_TO_1"),
    ],
)
def test_conv2d_matches_loop(in_shape, kernel, out_c, stride, dilation, padding, activation) -> None:
    g = _conv_graph(False, in_shape, kernel, out_c, stride, dilation, padding, activation)
    x = _rand_i8(in_shape)
    p = op_params(g, g.nodes[0])
    want = _loop_conv(x, g.tensor("w").data, g.tensor("b").data, p, depthwise=False)
    np.testing.assert_array_equal(Reference(g).run(x), want)


@pytest.mark.parametrize(
    ("in_shape", "kernel", "mult", "stride", "dilation", "padding"),
    [
        ((1, 7, 7, 3), (3, 3), 1, (1, 1), (1, 1), "SAME"),
        ((1, 8, 8, 2), (3, 3), 2, (2, 2), (1, 1), "SAME"),
        ((1, 9, 9, 1), (5, 5), 3, (2, 2), (1, 1), "VALID"),
        ((1, 9, 9, 4), (3, 3), 1, (1, 1), (2, 2), "SAME"),
    ],
)
def test_depthwise_matches_loop(in_shape, kernel, mult, stride, dilation, padding) -> None:
    g = _conv_graph(True, in_shape, kernel, 0, stride, dilation, padding, "RELU", mult)
    x = _rand_i8(in_shape)
    p = op_params(g, g.nodes[0])
    assert p["depth_multiplier"] == mult
    want = _loop_conv(x, g.tensor("w").data, g.tensor("b").data, p, depthwise=True)
    np.testing.assert_array_equal(Reference(g).run(x), want)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("rounding", ["double", "single"])
def test_fully_connected_matches_loop(per_channel: bool, rounding: str) -> None:
    n_in, n_out = 37, 11
    x = ir.Tensor("x", (1, n_in), "int8", _q(0.07, 9))
    scales = list(RNG.uniform(0.002, 0.02, n_out)) if per_channel else 0.01
    w = ir.Tensor(
        "w", (n_out, n_in), "int8", _q(scales, 0, 0 if per_channel else None), data=_rand_i8((n_out, n_in))
    )
    b = ir.Tensor("b", (n_out,), "int32", data=RNG.integers(-2000, 2000, n_out).astype(np.int32))
    y = ir.Tensor("y", (1, n_out), "int8", _q(0.09, -7))
    g = _graph(ir.FullyConnected("fc", ["x", "w", "b"], ["y"], "RELU"), [x, w, b, y], ["x"])
    p = op_params(g, g.nodes[0])
    assert p["per_channel"] is per_channel
    xs = _rand_i8((1, n_in))
    want = []
    for o in range(n_out):
        acc = sum(int(w.data[o, i]) * (int(xs[0, i]) + p["input_offset"]) for i in range(n_in)) + int(
            b.data[o]
        )
        m = p["output_multiplier"][o] if per_channel else p["output_multiplier"]
        s = p["output_shift"][o] if per_channel else p["output_shift"]
        v = int(mbqm(acc, int(m), int(s), rounding)) + p["output_offset"]  # type: ignore[arg-type]
        want.append(min(max(v, p["activation_min"]), p["activation_max"]))
    np.testing.assert_array_equal(Reference(g, rounding=rounding).run(xs.ravel()).ravel(), want)


def test_per_tensor_fc_multiplier_uses_a_float32_scale_product() -> None:
    """TFLite's GetQuantizedConvolutionMultipler multiplies input and filter scales in float32."""
    x = ir.Tensor("x", (1, 4), "int8", _q(0.0123456789, 0))
    w = ir.Tensor("w", (2, 4), "int8", _q(0.00987654321), data=_rand_i8((2, 4)))
    y = ir.Tensor("y", (1, 2), "int8", _q(0.0555555, 0))
    g = _graph(ir.FullyConnected("fc", ["x", "w", ""], ["y"]), [x, w, y], ["x"])

    product = float(np.float32(np.float32(x.quant.s) * np.float32(w.quant.s)))
    p = op_params(g, g.nodes[0])
    assert (p["output_multiplier"], p["output_shift"]) == quantize_multiplier(product / y.quant.s)
    # and for these scales the product taken in double would give another multiplier
    assert p["output_multiplier"] != quantize_multiplier(x.quant.s * w.quant.s / y.quant.s)[0]


def _pool_graph(cls, in_shape, filt, stride, padding, activation="NONE"):
    x = ir.Tensor("x", in_shape, "int8", _q(0.1, 4))
    geo = compute_padding_height_width(stride, (1, 1), in_shape[1:3], filt, padding)
    y = ir.Tensor("y", (1, geo["out_h"], geo["out_w"], in_shape[3]), "int8", _q(0.1, 4))
    return _graph(cls("pool", ["x"], ["y"], filt, stride, padding, activation), [x, y], ["x"])


@pytest.mark.parametrize(
    ("filt", "stride", "padding"),
    [((2, 2), (2, 2), "VALID"), ((3, 3), (1, 1), "SAME"), ((3, 2), (2, 2), "SAME")],
)
def test_pools_match_loop(filt, stride, padding) -> None:
    in_shape = (1, 7, 6, 5)
    x = _rand_i8(in_shape)
    for cls in (ir.AveragePool2D, ir.MaxPool2D):
        g = _pool_graph(cls, in_shape, filt, stride, padding, "RELU")
        p = op_params(g, g.nodes[0])
        want = np.zeros((1, p["out_h"], p["out_w"], in_shape[3]), dtype=np.int64)
        for oy in range(p["out_h"]):
            for ox in range(p["out_w"]):
                for c in range(in_shape[3]):
                    vals = [
                        int(x[0, iy, ix, c])
                        for iy in range(oy * stride[0] - p["pad_h"], oy * stride[0] - p["pad_h"] + filt[0])
                        for ix in range(ox * stride[1] - p["pad_w"], ox * stride[1] - p["pad_w"] + filt[1])
                        if 0 <= iy < in_shape[1] and 0 <= ix < in_shape[2]
                    ]
                    if cls is ir.MaxPool2D:
                        v = max(vals)
                    else:
                        s, n = sum(vals), len(vals)
                        v = int((s + n // 2) / n) if s > 0 else int((s - n // 2) / n)  # C division truncates
                    want[0, oy, ox, c] = min(max(v, p["activation_min"]), p["activation_max"])
        np.testing.assert_array_equal(Reference(g).run(x), want.astype(np.int8), err_msg=cls.op)


def test_average_pool_rounds_half_away_from_zero() -> None:
    g = _pool_graph(ir.AveragePool2D, (1, 1, 2, 4), (1, 2), (1, 2), "VALID")
    x = np.array([[[[-3, 3, -4, 0], [-2, 2, -4, 1]]]], dtype=np.int8)  # sums -5, 5, -8, 1 over 2 taps
    np.testing.assert_array_equal(Reference(g).run(x).ravel(), [-3, 3, -4, 1])


# --- elementwise ------------------------------------------------------------------------------------------------


def _binary_graph(cls, a_shape, b_shape, out_shape, qa, qb, qo, activation="NONE"):
    a = ir.Tensor("a", a_shape, "int8", qa)
    b = ir.Tensor("b", b_shape, "int8", qb)
    y = ir.Tensor("y", out_shape, "int8", qo)
    return _graph(cls("op", ["a", "b"], ["y"], activation), [a, b, y], ["a", "b"])


def test_add_matches_scalar_formula_with_broadcast() -> None:
    g = _binary_graph(
        ir.Add, (1, 3, 3, 4), (1, 1, 1, 4), (1, 3, 3, 4), _q(0.05, -10), _q(0.11, 7), _q(0.13, 3), "RELU"
    )
    a, b = _rand_i8((1, 3, 3, 4)), _rand_i8((1, 1, 1, 4))
    p = op_params(g, g.nodes[0])
    assert p["left_shift"] == 20 and p["input1_shift"] <= 0 and p["output_shift"] <= 0
    got = Reference(g).run_multi([a, b])[0]
    bb = np.broadcast_to(b, a.shape)
    for idx in np.ndindex(a.shape):
        s1 = int(mbqm((int(a[idx]) + p["input1_offset"]) << 20, p["input1_multiplier"], p["input1_shift"]))
        s2 = int(mbqm((int(bb[idx]) + p["input2_offset"]) << 20, p["input2_multiplier"], p["input2_shift"]))
        v = int(mbqm(s1 + s2, p["output_multiplier"], p["output_shift"])) + p["output_offset"]
        assert got[idx] == min(max(v, p["activation_min"]), p["activation_max"])
    real = 0.05 * (a.astype(float) + 10) + 0.11 * (bb.astype(float) - 7)
    assert np.abs(np.maximum(real, 0) / np.float32(0.13) + 3 - got).max() <= 1.0


def test_mul_close_to_real_product() -> None:
    g = _binary_graph(
        ir.Mul, (1, 4, 4, 3), (1, 4, 4, 3), (1, 4, 4, 3), _q(0.05, -10), _q(0.02, 7), _q(0.01, 3)
    )
    a, b = _rand_i8((1, 4, 4, 3)), _rand_i8((1, 4, 4, 3))
    got = Reference(g).run_multi([a, b])[0].astype(float)
    real = (0.05 * (a.astype(float) + 10)) * (0.02 * (b.astype(float) - 7)) / np.float32(0.01) + 3
    inside = (real > -127) & (real < 126)
    assert np.abs(got - real)[inside].max() <= 0.5 + 1e-6  # one requantization: correctly rounded
    np.testing.assert_array_equal(got[real >= 127.5], 127)


def _unary_graph(cls, shape, qx, qy, **kw):
    x = ir.Tensor("x", shape, "int8", qx)
    y = ir.Tensor("y", shape, "int8", qy)
    return _graph(cls("op", ["x"], ["y"], **kw), [x, y], ["x"])


def test_softmax_properties() -> None:
    g = _unary_graph(ir.Softmax, (1, 10), _q(0.1, 2), _q(1 / 256, -128), beta=1.0)
    p = op_params(g, g.nodes[0])
    assert p["diff_min"] < 0 and p["input_beta_left_shift"] >= 0
    x = _rand_i8((1, 10))
    got = Reference(g).run(x).ravel().astype(float)
    z = 0.1 * x.ravel().astype(float)
    real = np.exp(z - z.max()) / np.exp(z - z.max()).sum() * 256 - 128
    assert np.abs(got - np.clip(real, -128, 127)).max() <= 1.0
    assert np.argmax(got) == np.argmax(x)
    flat = Reference(g).run(np.full(10, 17, dtype=np.int8)).ravel()
    np.testing.assert_array_equal(flat, np.full(10, int(round(256 / 10 - 128))))


def test_logistic_saturates_and_tracks_sigmoid() -> None:
    g = _unary_graph(ir.Logistic, (1, 256), _q(0.08, -5), _q(1 / 256, -128))
    p = op_params(g, g.nodes[0])
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    got = Reference(g).run(x).ravel().astype(int)
    real = 1 / (1 + np.exp(-0.08 * (x.ravel() + 5.0))) * 256 - 128
    assert np.abs(got - np.clip(real, -128, 127)).max() <= 1
    inp = x.ravel().astype(int) + 5
    assert np.all(got[inp <= -p["input_range_radius"]] == -128)
    assert np.all(got[inp >= p["input_range_radius"]] == 127)
    assert got[inp == 0][0] == 0  # sigmoid(0) = 1/2 -> 128 - 128


# --- data movement, reductions, quantization --------------------------------------------------------------------


def test_pad_uses_the_zero_point() -> None:
    x = ir.Tensor("x", (1, 2, 2, 1), "int8", _q(0.1, -7))
    y = ir.Tensor("y", (1, 3, 5, 1), "int8", _q(0.1, -7))
    pads = ((0, 0), (1, 0), (1, 2), (0, 0))
    g = _graph(ir.Pad("pad", ["x"], ["y"], pads), [x, y], ["x"])
    xs = np.array([1, 2, 3, 4], dtype=np.int8)
    got = Reference(g).run(xs)
    np.testing.assert_array_equal(got, np.pad(xs.reshape(1, 2, 2, 1), pads, constant_values=-7))


def test_concatenation_copies_equal_quant_and_requantizes_others() -> None:
    a = ir.Tensor("a", (1, 2, 2, 2), "int8", _q(0.1, 3))
    b = ir.Tensor("b", (1, 2, 2, 3), "int8", _q(0.05, -4))
    y = ir.Tensor("y", (1, 2, 2, 5), "int8", _q(0.1, 3))
    g = _graph(ir.Concatenation("cat", ["a", "b"], ["y"], -1), [a, b, y], ["a", "b"])
    p = op_params(g, g.nodes[0])
    assert [e["requantize"] for e in p["inputs"]] == [False, True] and p["axis"] == 3
    xa, xb = _rand_i8(a.shape), _rand_i8(b.shape)
    got = Reference(g).run_multi([xa, xb])[0]
    np.testing.assert_array_equal(got[..., :2], xa)
    e = p["inputs"][1]
    want_b = np.clip(mbqm(xb.astype(np.int64) + 4, e["output_multiplier"], e["output_shift"]) + 3, -128, 127)
    np.testing.assert_array_equal(got[..., 2:], want_b)


def test_mean_same_quant_truncates_and_requant_rounds() -> None:
    x = ir.Tensor("x", (1, 2, 2, 2), "int8", _q(0.1, 0))
    y = ir.Tensor("y", (1, 2), "int8", _q(0.1, 0))
    g = _graph(ir.Mean("mean", ["x"], ["y"], (1, 2), False), [x, y], ["x"])
    xs = np.array([-3, 5, -2, 5, -2, 5, -2, 6], dtype=np.int8).reshape(1, 2, 2, 2)  # sums -9, 21 over 4
    np.testing.assert_array_equal(Reference(g).run(xs).ravel(), [-2, 5])  # TFLM: C division, truncation
    y2 = ir.Tensor("y2", (1, 1, 1, 2), "int8", _q(0.03, -5))
    g2 = _graph(
        ir.Mean("mean", ["x"], ["y2"], (1, 2), True), [ir.Tensor("x", x.shape, "int8", x.quant), y2], ["x"]
    )
    p = op_params(g2, g2.nodes[0])
    assert not p["same_quant"] and p["num_elements"] == 4
    xs2 = _rand_i8(x.shape)
    got = Reference(g2).run(xs2).ravel().astype(float)
    real = 0.1 * xs2.reshape(4, 2).astype(float).mean(axis=0) / np.float32(0.03) - 5
    assert np.abs(got - np.clip(real, -128, 127)).max() <= 1.0


def test_quantize_and_dequantize() -> None:
    xf = ir.Tensor("xf", (1, 6), "float32")
    xq = ir.Tensor("xq", (1, 6), "int8", _q(0.5, 1))
    g = _graph(ir.Quantize("q", ["xf"], ["xq"]), [xf, xq], ["xf"])
    got = Reference(g).run(np.array([0.25, -0.25, 0.75, 100.0, -100.0, 1.0], dtype=np.float32))
    np.testing.assert_array_equal(got.ravel(), [2, 0, 3, 127, -128, 3])  # ties away from zero, clamped
    r_in = ir.Tensor("a", (1, 4), "int8", _q(0.1, 10))
    r_out = ir.Tensor("b", (1, 4), "int8", _q(0.3, -2))
    g2 = _graph(ir.Quantize("rq", ["a"], ["b"]), [r_in, r_out], ["a"])
    p = op_params(g2, g2.nodes[0])
    assert p["mode"] == "requantize"
    got2 = Reference(g2).run(np.array([10, 13, 16, -128], dtype=np.int8)).ravel()
    np.testing.assert_array_equal(got2, [-2, -1, 0, -48])  # (x - 10) / 3 - 2: 0, 1, 2, -46 rounded
    dq = ir.Tensor("f", (1, 4), "float32")
    g3 = _graph(ir.Dequantize("dq", ["a"], ["f"]), [ir.Tensor("a", (1, 4), "int8", _q(0.1, 10)), dq], ["a"])
    got3 = Reference(g3).run(np.array([10, 11, -128, 127], dtype=np.int8))
    np.testing.assert_array_equal(
        got3.ravel(), (np.float32(0.1).astype(np.float64) * np.array([0, 1, -138, 117])).astype(np.float32)
    )


def test_reshape_and_flat_inputs() -> None:
    x = ir.Tensor("x", (1, 2, 3), "int8", _q(0.1))
    y = ir.Tensor("y", (1, 6), "int8", _q(0.1))
    g = _graph(ir.Reshape("r", ["x"], ["y"], (1, 6)), [x, y], ["x"])
    xs = _rand_i8((1, 2, 3))
    np.testing.assert_array_equal(Reference(g).run(xs.ravel()), xs.reshape(1, 6))
    with pytest.raises(ValueError):
        Reference(g).run(np.zeros(5, dtype=np.int8))
    with pytest.raises(ValueError):
        Reference(g).run(np.full(6, 300))


def test_run_batch_equals_single_runs() -> None:
    g = _conv_graph(False, (1, 6, 6, 3), (3, 3), 4, (2, 2), (1, 1), "SAME", "RELU")
    xs = _rand_i8((5, 6, 6, 3))
    batch = Reference(g).run_batch(xs)
    for i in range(5):
        np.testing.assert_array_equal(batch[i : i + 1], Reference(g).run(xs[i]))


# --- parameters -------------------------------------------------------------------------------------------------


def test_padding_the_tflite_way() -> None:
    assert compute_padding_height_width((2, 2), (1, 1), (7, 7), (3, 3), "SAME") == {
        "out_h": 4, "out_w": 4, "pad_h": 1, "pad_w": 1, "pad_h_offset": 0, "pad_w_offset": 0,
    }  # fmt: skip
    geo = compute_padding_height_width((2, 2), (1, 1), (8, 8), (3, 3), "SAME")
    assert (geo["out_h"], geo["pad_h"], geo["pad_h_offset"]) == (4, 0, 1)  # the odd pixel goes after
    geo = compute_padding_height_width((1, 1), (2, 2), (9, 9), (3, 3), "VALID")
    assert (geo["out_h"], geo["pad_h"]) == (5, 0)


def test_activation_ranges() -> None:
    out = ir.Tensor("y", (1,), "int8", _q(0.05, -10))
    assert activation_range_quantized("NONE", out) == (-128, 127)
    assert activation_range_quantized("RELU", out) == (-10, 127)
    assert activation_range_quantized("RELU6", out) == (-10, 110)
    assert activation_range_quantized("RELU_N1_TO_1", out) == (-30, 10)


def test_unsupported_op_is_named() -> None:
    @dataclass
    class Transpose(ir.Node):
        op = "TRANSPOSE"

    x = ir.Tensor("x", (1, 2), "int8", _q(0.1))
    y = ir.Tensor("y", (1, 2), "int8", _q(0.1))
    g = _graph(Transpose("tr", ["x"], ["y"]), [x, y], ["x"])
    with pytest.raises(UnsupportedOpError, match="layer tr: op TRANSPOSE"):
        Reference(g)


# --- float graphs -----------------------------------------------------------------------------------------------


def test_float_conv_and_softmax() -> None:
    x = ir.Tensor("x", (1, 5, 5, 2), "float32")
    w = ir.Tensor("w", (3, 3, 3, 2), "float32", data=RNG.normal(size=(3, 3, 3, 2)).astype(np.float32))
    b = ir.Tensor("b", (3,), "float32", data=RNG.normal(size=3).astype(np.float32))
    y = ir.Tensor("y", (1, 5, 5, 3), "float32")
    g = _graph(ir.Conv2D("c", ["x", "w", "b"], ["y"], padding="SAME", activation="RELU"), [x, w, b, y], ["x"])
    xs = RNG.normal(size=(1, 5, 5, 2)).astype(np.float32)
    got = Reference(g).run(xs)
    xp = np.pad(xs, ((0, 0), (1, 1), (1, 1), (0, 0)))
    want = np.zeros((1, 5, 5, 3))
    for oy in range(5):
        for ox in range(5):
            want[0, oy, ox] = np.einsum("hwc,ohwc->o", xp[0, oy : oy + 3, ox : ox + 3], w.data) + b.data
    np.testing.assert_allclose(got, np.maximum(want, 0), rtol=1e-5, atol=1e-5)  # float path: order of sums
    s_in = ir.Tensor("s", (1, 4), "float32")
    s_out = ir.Tensor("p", (1, 4), "float32")
    g2 = _graph(ir.Softmax("sm", ["s"], ["p"], beta=2.0), [s_in, s_out], ["s"])
    v = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    e = np.exp(2.0 * (v - 4.0))
    np.testing.assert_allclose(Reference(g2).run(v), e / e.sum(), rtol=1e-6)
