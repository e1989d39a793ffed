"""One table runs every C kernel against the reference interpreter over shapes that hit edges.

Each row builds a tiny IR graph by hand (random int8 weights, per-channel scales, random but valid
quantization), generates its C project, compiles it once with the host gcc (-Werror), runs the extremes and
random inputs in one process, and requires ``assert_array_equal`` with ``edgesdk.reference.Reference``.
Channel counts 1, 3, 31, 32, 33, 63, 64; odd spatial sizes; stride 1/2; SAME/VALID; dilation; depth
multipliers 1/2/3; fused activations; broadcasting; per-tensor and per-channel FULLY_CONNECTED with both
roundings.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgesdk.ir import graph as ir
from edgesdk.reference import Reference
from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host

pytestmark = pytest.mark.skipif(GCC is None, reason="needs host gcc")
N_INPUTS = 24


class _B:
    """A tiny graph builder with seeded random quantization."""

    def __init__(self, name: str) -> None:
        self.rng = np.random.default_rng(zlib.crc32(name.encode()))
        self.g = ir.Graph(name=name)

    def q(
        self, scale: float | np.ndarray, zp: int | np.ndarray = 0, axis: int | None = None
    ) -> ir.QuantParams:
        return ir.QuantParams(np.float32(scale).astype(np.float64), zp, axis)

    def act(
        self, name: str, shape: tuple[int, ...], scale: float | None = None, zp: int | None = None
    ) -> str:
        scale = float(self.rng.uniform(0.01, 0.1)) if scale is None else scale
        zp = int(self.rng.integers(-20, 20)) if zp is None else zp
        self.g.add_tensor(ir.Tensor(name, shape, "int8", self.q(scale, zp)))
        return name

    def weights(self, name: str, shape: tuple[int, ...], axis: int, per_channel: bool = True) -> str:
        channels = shape[axis]
        scales = self.rng.uniform(0.002, 0.02, channels if per_channel else 1)
        data = self.rng.integers(-127, 128, shape).astype(np.int8)
        q = self.q(scales, np.zeros(scales.size, np.int64), axis if per_channel else None)
        self.g.add_tensor(ir.Tensor(name, shape, "int8", q, data=data))
        return name

    def bias(self, name: str, n: int) -> str:
        data = self.rng.integers(-3000, 3000, n).astype(np.int32)
        self.g.add_tensor(
            ir.Tensor(name, (n,), "int32", self.q(np.ones(n), np.zeros(n, np.int64), 0), data=data)
        )
        return name

    def const_act(self, name: str, shape: tuple[int, ...]) -> str:
        data = self.rng.integers(-128, 128, shape).astype(np.int8)
        q = self.q(float(self.rng.uniform(0.01, 0.1)), int(self.rng.integers(-20, 20)))
        self.g.add_tensor(ir.Tensor(name, shape, "int8", q, data=data))
        return name

    def done(self, inputs: list[str], outputs: list[str], *nodes: ir.Node) -> ir.Graph:
        self.g.inputs, self.g.outputs, self.g.nodes = inputs, outputs, list(nodes)
        self.g.validate()
        return self.g


def _out_hw(size: int, k: int, s: int, d: int, padding: str) -> int:
    eff = (k - 1) * d + 1
    return (size + s - 1) // s if padding == "SAME" else (size - eff + s) // s


#: Optional weight values of a case: ``data(rng, shape) -> int8 array`` replaces the random int8 weights
#: (e.g. the zeros, shared values or one-hot kernels a compression method leaves, for the specialized
#: kernels' tables).
WeightData = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray] | None


def _weights(b: _B, shape: tuple[int, ...], axis: int, per_channel: bool, data: WeightData) -> str:
    name = b.weights("w", shape, axis, per_channel)
    if data is not None:
        b.g.tensor(name).data = data(b.rng, shape)
    return name


def conv(h, w, cin, cout, k, s, padding, d=1, act="NONE", bias=True, data: WeightData = None):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        x = b.act("x", (1, h, w, cin))
        oh, ow = _out_hw(h, k, s, d, padding), _out_hw(w, k, s, d, padding)
        y = b.act("y", (1, oh, ow, cout))
        wt = _weights(b, (cout, k, k, cin), 0, True, data)
        node = ir.Conv2D(
            name="conv",
            inputs=[x, wt, b.bias("b", cout) if bias else ""],
            outputs=[y],
            stride=(s, s),
            dilation=(d, d),
            padding=padding,
            activation=act,
        )
        return b.done([x], [y], node)

    return build


def dwconv(h, w, c, m, k, s, padding, d=1, act="NONE", bias=True, data: WeightData = None):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        x = b.act("x", (1, h, w, c))
        oh, ow = _out_hw(h, k, s, d, padding), _out_hw(w, k, s, d, padding)
        y = b.act("y", (1, oh, ow, c * m))
        inputs = [x, _weights(b, (1, k, k, c * m), 3, True, data)] + ([b.bias("b", c * m)] if bias else [""])
        node = ir.DepthwiseConv2D(
            name="dw",
            inputs=inputs,
            outputs=[y],
            stride=(s, s),
            dilation=(d, d),
            padding=padding,
            depth_multiplier=m,
            activation=act,
        )
        return b.done([x], [y], node)

    return build


def fc(n_in, n_out, per_channel=False, act="NONE", batches=1, data: WeightData = None):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        x = b.act("x", (batches, n_in))
        y = b.act("y", (batches, n_out))
        wt = _weights(b, (n_out, n_in), 0, per_channel, data)
        node = ir.FullyConnected(
            name="fc",
            inputs=[x, wt, b.bias("b", n_out)],
            outputs=[y],
            activation=act,
        )
        return b.done([x], [y], node)

    return build


def pool(kind, h, w, c, f, s, padding, act="NONE"):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        scale, zp = 0.05, int(b.rng.integers(-10, 10))
        x = b.act("x", (1, h, w, c), scale, zp)
        y = b.act("y", (1, _out_hw(h, f, s, 1, padding), _out_hw(w, f, s, 1, padding), c), scale, zp)
        cls = ir.AveragePool2D if kind == "avg" else ir.MaxPool2D
        node = cls(
            name="pool",
            inputs=[x],
            outputs=[y],
            filter=(f, f),
            stride=(s, s),
            padding=padding,
            activation=act,
        )
        return b.done([x], [y], node)

    return build


def binary(op, shape_a, shape_b, act="NONE", const_b=False):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        out_shape = tuple(np.broadcast_shapes(shape_a, shape_b))
        a = b.act("a", shape_a)
        c = b.const_act("c", shape_b) if const_b else b.act("c", shape_b)
        y = b.act("y", out_shape)
        cls = ir.Add if op == "add" else ir.Mul
        node = cls(name=op, inputs=[a, c], outputs=[y], activation=act)
        return b.done([a] if const_b else [a, c], [y], node)

    return build


def softmax(shape, beta=1.0):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        x = b.act("x", shape)
        y = b.act("y", shape, 1 / 256, -128)
        return b.done([x], [y], ir.Softmax(name="softmax", inputs=[x], outputs=[y], beta=beta))

    return build


def logistic(shape, scale=None):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        x = b.act("x", shape, scale)
        y = b.act("y", shape, 1 / 256, -128)
        return b.done([x], [y], ir.Logistic(name="sigmoid", inputs=[x], outputs=[y]))

    return build


def pad(shape, paddings):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        scale, zp = 0.05, int(b.rng.integers(-10, 10))
        x = b.act("x", shape, scale, zp)
        out = tuple(d + p0 + p1 for d, (p0, p1) in zip(shape, paddings, strict=True))
        y = b.act("y", out, scale, zp)
        return b.done([x], [y], ir.Pad(name="pad", inputs=[x], outputs=[y], paddings=paddings))

    return build


def concat(shapes, axis, same_quant=True, act="NONE"):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        scale, zp = 0.05, 3
        xs = [
            b.act(f"x{k}", s, scale if same_quant or k == 0 else None, zp if same_quant or k == 0 else None)
            for k, s in enumerate(shapes)
        ]
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        y = b.act("y", tuple(out), scale, zp)
        return b.done(
            xs, [y], ir.Concatenation(name="concat", inputs=xs, outputs=[y], axis=axis, activation=act)
        )

    return build


def mean(shape, axes, keep_dims, same_quant):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        scale, zp = 0.05, -7
        x = b.act("x", shape, scale, zp)
        rank = len(shape)
        red = {a % rank for a in axes}
        out = (
            tuple(1 if k in red else d for k, d in enumerate(shape))
            if keep_dims
            else tuple(d for k, d in enumerate(shape) if k not in red)
        )
        y = b.act("y", out, scale if same_quant else None, zp if same_quant else None)
        return b.done(
            [x], [y], ir.Mean(name="mean", inputs=[x], outputs=[y], axes=tuple(axes), keep_dims=keep_dims)
        )

    return build


def requantize(shape):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        x = b.act("x", shape)
        y = b.act("y", shape)
        return b.done([x], [y], ir.Quantize(name="requant", inputs=[x], outputs=[y]))

    return build


def reshape_then_fc(shape):
    def build(name: str) -> ir.Graph:
        b = _B(name)
        x = b.act("x", shape)
        flat = b.act("flat", (1, int(np.prod(shape))), b.g.tensor(x).quant.s, b.g.tensor(x).quant.zp)
        y = b.act("y", (1, 5))
        r = ir.Reshape(name="flatten", inputs=[x], outputs=[flat], new_shape=(1, int(np.prod(shape))))
        f = ir.FullyConnected(
            name="fc",
            inputs=[flat, b.weights("w", (5, int(np.prod(shape))), 0, False), b.bias("b", 5)],
            outputs=[y],
        )
        return b.done([x], [y], r, f)

    return build


CASES: dict[str, Callable[[str], ir.Graph]] = {
    "conv_7x7_c1_c3_k3_s1_same": conv(7, 7, 1, 3, 3, 1, "SAME"),
    "conv_9x9_c3_c31_k3_s2_valid_relu": conv(9, 9, 3, 31, 3, 2, "VALID", act="RELU"),
    "conv_8x8_c32_c33_k3_s2_same": conv(8, 8, 32, 33, 3, 2, "SAME"),
    "conv_5x5_c33_c64_k1_s1_valid": conv(5, 5, 33, 64, 1, 1, "VALID"),
    "conv_11x11_c63_c1_k5_s1_same_relu6": conv(11, 11, 63, 1, 5, 1, "SAME", act="RELU6"),
    "conv_6x6_c64_c32_k3_s2_same": conv(6, 6, 64, 32, 3, 2, "SAME"),
    "conv_9x7_c3_c8_k3_dil2_same": conv(9, 7, 3, 8, 3, 1, "SAME", d=2),
    "conv_1x1_c3_c3_k1": conv(1, 1, 3, 3, 1, 1, "VALID"),
    "conv_4x4_c3_c4_k5_s1_same": conv(4, 4, 3, 4, 5, 1, "SAME"),
    "dw_7x7_c1_m1_k3_s1_same": dwconv(7, 7, 1, 1, 3, 1, "SAME"),
    "dw_9x9_c3_m2_k3_s2_valid": dwconv(9, 9, 3, 2, 3, 2, "VALID"),
    "dw_8x8_c31_m1_k3_s2_same_relu": dwconv(8, 8, 31, 1, 3, 2, "SAME", act="RELU"),
    "dw_5x5_c32_m3_k3_s1_same": dwconv(5, 5, 32, 3, 3, 1, "SAME"),
    "dw_7x7_c33_m2_k5_s2_same_relu6": dwconv(7, 7, 33, 2, 5, 2, "SAME", act="RELU6"),
    "dw_6x6_c63_m1_k3_s1_valid": dwconv(6, 6, 63, 1, 3, 1, "VALID"),
    "dw_9x9_c64_m1_k3_dil2_same_nobias": dwconv(9, 9, 64, 1, 3, 1, "SAME", d=2, bias=False),
    "fc_1_1": fc(1, 1),
    "fc_31_33_relu": fc(31, 33, act="RELU"),
    "fc_64_63_per_channel": fc(64, 63, per_channel=True),
    "fc_3_32_batches3": fc(3, 32, batches=3),
    "fc_33_64_per_channel_relu6": fc(33, 64, per_channel=True, act="RELU6"),
    "avgpool_7x7_c3_f2_s2_valid": pool("avg", 7, 7, 3, 2, 2, "VALID"),
    "avgpool_9x9_c31_f3_s2_same": pool("avg", 9, 9, 31, 3, 2, "SAME"),
    "avgpool_5x5_c33_f5_s1_same_relu": pool("avg", 5, 5, 33, 5, 1, "SAME", act="RELU"),
    "avgpool_8x8_c64_f8_s8_valid": pool("avg", 8, 8, 64, 8, 8, "VALID"),
    "maxpool_7x7_c1_f3_s2_same": pool("max", 7, 7, 1, 3, 2, "SAME"),
    "maxpool_9x9_c32_f2_s2_valid_relu6": pool("max", 9, 9, 32, 2, 2, "VALID", act="RELU6"),
    "maxpool_5x5_c63_f3_s1_same": pool("max", 5, 5, 63, 3, 1, "SAME"),
    "add_same_shape_c33": binary("add", (1, 5, 5, 33), (1, 5, 5, 33)),
    "add_relu_c64": binary("add", (1, 3, 3, 64), (1, 3, 3, 64), act="RELU"),
    "add_broadcast_channel": binary("add", (1, 5, 7, 3), (1, 1, 1, 3)),
    "add_broadcast_both": binary("add", (1, 5, 1, 31), (1, 1, 7, 31)),
    "add_const_operand": binary("add", (1, 4, 4, 32), (1, 4, 4, 32), const_b=True),
    "mul_same_shape_c31": binary("mul", (1, 3, 5, 31), (1, 3, 5, 31)),
    "mul_broadcast_scalar_relu6": binary("mul", (1, 6, 6, 3), (1, 1, 1, 1), act="RELU6"),
    "mul_const_broadcast": binary("mul", (1, 4, 4, 33), (1, 1, 1, 33), const_b=True),
    "softmax_10": softmax((1, 10)),
    "softmax_1": softmax((1, 1)),
    "softmax_rows_3x33": softmax((1, 3, 33)),
    "softmax_64_beta2": softmax((1, 64), beta=2.0),
    "logistic_63": logistic((1, 63)),
    "logistic_wide_scale": logistic((1, 4, 4, 3), scale=0.5),
    "logistic_narrow_scale": logistic((1, 33), scale=0.002),
    "pad_hw": pad((1, 5, 5, 3), ((0, 0), (1, 2), (2, 1), (0, 0))),
    "pad_channels": pad((1, 3, 3, 31), ((0, 0), (0, 0), (0, 0), (1, 0))),
    "pad_2d": pad((4, 33), ((1, 1), (0, 3))),
    "concat_channels_3": concat([(1, 4, 4, 3), (1, 4, 4, 31), (1, 4, 4, 32)], 3),
    "concat_axis1": concat([(1, 2, 5, 3), (1, 3, 5, 3)], 1),
    "concat_requantize": concat([(1, 4, 4, 3), (1, 4, 4, 33)], 3, same_quant=False),
    "concat_relu": concat([(1, 3, 3, 1), (1, 3, 3, 2)], 3, act="RELU"),
    "mean_hw_keep_same_quant": mean((1, 7, 5, 33), (1, 2), True, True),
    "mean_hw_requant": mean((1, 7, 5, 32), (1, 2), False, False),
    "mean_last_axis_requant": mean((1, 4, 63), (-1,), False, False),
    "mean_w_only_same_quant": mean((1, 3, 9, 3), (2,), True, True),
    "requantize_c31": requantize((1, 3, 3, 31)),
    "reshape_then_fc": reshape_then_fc((1, 3, 3, 3)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_kernel_bit_exact(case: str, tmp_path: Path) -> None:
    graph = CASES[case](case)
    project, exe = generate_and_build(graph, tmp_path)
    x = random_inputs(project.input_size, N_INPUTS, seed=zlib.crc32(case.encode()))
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


@pytest.mark.parametrize("case", ["fc_31_33_relu", "fc_64_63_per_channel", "reshape_then_fc"])
def test_fc_single_rounding_bit_exact(case: str, tmp_path: Path) -> None:
    graph = CASES[case](case)
    project, exe = generate_and_build(graph, tmp_path, rounding="single")
    x = random_inputs(project.input_size, N_INPUTS, seed=1)
    np.testing.assert_array_equal(
        run_host(exe, x, project.output_size), reference_outputs(graph, x, rounding="single")
    )


def test_softmax_and_logistic_exhaustive(tmp_path: Path) -> None:
    """Every int8 input value (as the row maximum and below it) through softmax and logistic."""
    for case in ("softmax_64_beta2", "logistic_63", "logistic_wide_scale"):
        graph = CASES[case](case)
        project, exe = generate_and_build(graph, tmp_path / case)
        n = project.input_size
        values = np.arange(-128, 128, dtype=np.int64)
        x = np.stack([np.roll(np.resize(values, n), k) for k in range(0, 256, 7)]).astype(np.int8)
        np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


def test_float_edges_are_cut_at_the_int8_tensors(tmp_path: Path) -> None:
    """float32 -> QUANTIZE -> FC -> DEQUANTIZE -> float32: the C API takes and returns the int8 tensors."""
    b = _B("float_edges")
    b.g.add_tensor(ir.Tensor("xf", (1, 31), "float32"))
    x = b.act("x", (1, 31), 0.02, 5)
    y = b.act("y", (1, 33))
    b.g.add_tensor(ir.Tensor("yf", (1, 33), "float32"))
    graph = b.done(
        ["xf"],
        ["yf"],
        ir.Quantize(name="quant", inputs=["xf"], outputs=[x]),
        ir.FullyConnected(name="fc", inputs=[x, b.weights("w", (33, 31), 0), b.bias("b", 33)], outputs=[y]),
        ir.Dequantize(name="dequant", inputs=[y], outputs=["yf"]),
    )
    project, exe = generate_and_build(graph, tmp_path)
    assert project.num_layers == 1 and project.input_size == 31 and project.output_size == 33
    h = (project.out_dir / f"{project.model_name}.h").read_text()
    assert "#define FLOAT_EDGES_INPUT_SCALE 0.02f" in h and "#define FLOAT_EDGES_INPUT_ZERO_POINT (5)" in h
    xq = random_inputs(31, N_INPUTS, seed=2)
    ref = Reference(graph)
    # Feed the float input that quantizes exactly to xq, and read the reference's int8 tensor before DEQUANTIZE.
    expected = np.stack(
        [ref.run_all(((row.astype(np.float64) - 5) * 0.02).astype(np.float32))[y].reshape(-1) for row in xq]
    )
    np.testing.assert_array_equal(run_host(exe, xq, project.output_size), expected)
