"""Kernel table of the compact-layer kernels (Shift) against the reference, under ASan/UBSan.

Each row builds a depthwise layer whose kernels are one-hot (random tap and non-zero weight per channel,
random per-channel quantization), lets the default pass pipeline pick the ``shift`` kernel, generates and
compiles the C with sanitizers (all rows as one model, one build: ``tests/kerneltable.py``) and compares its
outputs bit for bit with the reference's *dense* depthwise result. Shapes cross the edges: 1, 3, 31, 32, 33,
64 channels, stride 1/2, SAME/VALID, dilation, depth multiplier, fused activations, no bias, a channel whose
kernel is all zero. The AdderNet kernel has a table of its own below.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgesdk.ir import graph as ir
from edgesdk.passes import PassContext, kernel_decisions, run_pipeline
from hostbuild import GCC
from kerneltable import KernelTable, run_joined
from test_c_kernels import _B, _out_hw, dwconv

pytestmark = pytest.mark.skipif(GCC is None, reason="needs host gcc")


def one_hot_dw(h, w, c, m, k, s, padding, d=1, act="NONE", bias=True, empty=False):
    """A depthwise case whose kernels are one-hot (``empty``: channel 0's kernel all zero)."""

    def data(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        cm = shape[3]
        out = np.zeros((k * k, cm), np.int8)
        taps = rng.integers(0, k * k, cm)
        vals = rng.integers(-127, 128, cm)
        vals[vals == 0] = 127
        out[taps, np.arange(cm)] = vals
        if empty:
            out[:, 0] = 0
        return out.reshape(shape)

    return dwconv(h, w, c, m, k, s, padding, d=d, act=act, bias=bias, data=data)


SHIFT_CASES = {
    "shift_7x7_c1_k3_s1_same": one_hot_dw(7, 7, 1, 1, 3, 1, "SAME"),
    "shift_9x9_c3_m2_k3_s2_valid": one_hot_dw(9, 9, 3, 2, 3, 2, "VALID"),
    "shift_8x8_c31_k3_s2_same_relu": one_hot_dw(8, 8, 31, 1, 3, 2, "SAME", act="RELU"),
    "shift_5x5_c32_k5_s1_same_nobias": one_hot_dw(5, 5, 32, 1, 5, 1, "SAME", bias=False),
    "shift_7x7_c33_k3_dil2_same_relu6": one_hot_dw(7, 7, 33, 1, 3, 1, "SAME", d=2, act="RELU6"),
    "shift_6x6_c64_k3_s1_same_empty": one_hot_dw(6, 6, 64, 1, 3, 1, "SAME", empty=True),
}


@pytest.fixture(scope="session")
def shift_table(tmp_path_factory: pytest.TempPathFactory) -> KernelTable:
    """Every shift case in one model; the default pipeline chooses; one sanitized build."""
    graphs = {case: build(case) for case, build in SHIFT_CASES.items()}
    return run_joined("shift_table", graphs, tmp_path_factory.mktemp("shift"), n_inputs=24, seed=5)


@pytest.mark.parametrize("case", list(SHIFT_CASES))
def test_shift_kernel_bit_exact_under_sanitizers(case: str, shift_table: KernelTable) -> None:
    (decision,) = shift_table.decisions(case)
    assert decision["kernel"] == "shift" and decision["layer"] == case
    cands = decision["candidates"]
    assert cands["shift"]["instructions"] < cands["dense"]["instructions"]
    # Every layer of the table runs the shift kernel: no other kernel source is needed.
    assert shift_table.project.kernel_files == ["ed_shift.c"]
    # The oracle is the dense int8 depthwise of the un-annotated graph.
    got, want = shift_table.outputs(case)
    np.testing.assert_array_equal(got, want)


def test_shift_pass_leaves_dense_depthwise_and_obeys_the_user() -> None:
    dense = SHIFT_CASES["shift_7x7_c1_k3_s1_same"]("dense")
    dense.tensor("w").data[...] = 1  # every tap non-zero: not a shift
    assert kernel_decisions(run_pipeline(dense, "default", PassContext())) == []
    g = SHIFT_CASES["shift_8x8_c31_k3_s2_same_relu"]("forbid")
    forbidden = run_pipeline(g, "default", PassContext(forbid={"*": {"shift"}}))
    assert "kernel" not in forbidden.nodes[0].attrs
    assert "forbidden" in forbidden.nodes[0].attrs["kernel_report"]["why"]
    small = run_pipeline(g, "default", PassContext(optimize="size"))
    assert "kernel" not in small.nodes[0].attrs  # 256-byte tables per channel > 9 weights per channel


def adder(h, w, cin, cout, k, s, padding, act="NONE", bias=True, wide=False):
    """An EDGESDK_ADDER_CONV_2D layer with random int16 weights (``wide``: beyond the int8 range)."""

    def build(name: str) -> ir.Graph:
        from edgesdk.ir.adder import AdderConv2D

        b = _B(name)
        x = b.act("x", (1, h, w, cin))
        oh, ow = _out_hw(h, k, s, 1, padding), _out_hw(w, k, s, 1, padding)
        y = b.act("y", (1, oh, ow, cout), scale=float(b.rng.uniform(0.5, 2.0)))
        lim = 600 if wide else 128
        data = b.rng.integers(-lim, lim, (cout, k, k, cin)).astype(np.int16)
        sx = b.g.tensor(x).quant.s
        b.g.add_tensor(ir.Tensor("w", data.shape, "int16", b.q(sx), data=data))
        taps = k * k * cin
        # Scale and bias put the outputs in range: |x - w| averages about (256 + lim) / 3 per tap and spreads
        # about 70 * sqrt(taps); map that spread onto ~40 output steps.
        sy = b.g.tensor(y).quant.s
        acc_scale = tuple(float(v) for v in sy * 40 / (70 * np.sqrt(taps)) * b.rng.uniform(0.5, 2.0, cout))
        inputs = [x, "w"]
        if bias:
            mean = (256 + lim) / 3 * taps
            bdata = (mean + b.rng.normal(0, 50 * np.sqrt(taps), cout)).astype(np.int32)
            b.g.add_tensor(
                ir.Tensor("b", (cout,), "int32", b.q(np.ones(cout), np.zeros(cout, np.int64), 0), bdata)
            )
            inputs.append("b")
        node = AdderConv2D(
            name="adder",
            inputs=inputs,
            outputs=[y],
            stride=(s, s),
            padding=padding,
            activation=act,
            acc_scale=acc_scale,
        )
        return b.done([x], [y], node)

    return build


ADDER_CASES = {
    "adder_7x7_c1_c3_k3_s1_same": adder(7, 7, 1, 3, 3, 1, "SAME"),
    "adder_9x9_c3_c31_k3_s2_valid_relu": adder(9, 9, 3, 31, 3, 2, "VALID", act="RELU"),
    "adder_8x8_c32_c33_k3_s2_same_wide": adder(8, 8, 32, 33, 3, 2, "SAME", wide=True),
    "adder_5x5_c33_c64_k1_s1_valid_nobias": adder(5, 5, 33, 64, 1, 1, "VALID", bias=False),
    "adder_6x6_c64_c1_k5_s1_same_relu6": adder(6, 6, 64, 1, 5, 1, "SAME", act="RELU6"),
}


@pytest.fixture(scope="session")
def adder_table(tmp_path_factory: pytest.TempPathFactory) -> KernelTable:
    """Every adder case in one model, one sanitized build."""
    graphs = {case: build(case) for case, build in ADDER_CASES.items()}
    return run_joined("adder_table", graphs, tmp_path_factory.mktemp("adder"), n_inputs=24, seed=6)


@pytest.mark.parametrize("case", list(ADDER_CASES))
def test_adder_kernel_bit_exact_under_sanitizers(case: str, adder_table: KernelTable) -> None:
    assert [d["kernel"] for d in adder_table.decisions(case)] == ["adder"]
    assert adder_table.project.kernel_files == ["ed_adder.c"]
    got, want = adder_table.outputs(case)
    assert len(np.unique(want)) > 2  # the scales leave the outputs spread, not saturated
    np.testing.assert_array_equal(got, want)


def test_adder_reference_is_the_l1_distance() -> None:
    """The reference against a direct float computation of -Σ|x - w| for one output (no padding)."""
    from edgesdk.reference import Reference

    g = ADDER_CASES["adder_9x9_c3_c31_k3_s2_valid_relu"]("l1")
    xq = g.tensor("x").quant
    w = g.tensor("w").data.astype(np.int64)
    x = np.random.default_rng(0).integers(-128, 128, (1, 9, 9, 3)).astype(np.int8)
    ref = Reference(g)
    p = ref.params["adder"]
    acc = (
        -np.abs((x[0, 0:3, 0:3, :].astype(np.int64) - xq.zp)[None] - w).sum(axis=(1, 2, 3))
        + g.tensor("b").data
    )
    real = acc * np.asarray(g.nodes[0].acc_scale)
    yq = g.tensor("y").quant
    expect = np.clip(np.round(real / yq.s) + yq.zp, p["activation_min"], p["activation_max"])
    got = ref.run(x)[0, 0, 0].astype(np.int64)
    assert np.max(np.abs(got - expect)) <= 1  # fixed-point requantization vs float rounding
