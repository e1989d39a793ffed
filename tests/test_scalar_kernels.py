"""The kernels of cores without SIMD (``firmware/kernels/scalar/``: Cortex-M0/M0+/M3, RV32IMC) against the
reference, bit for bit, on the host under ASan/UBSan: the portable kernels' conv and FC cases plus the block
edges (1, 3, 4, 5, 7, 8, 9, 13 output channels around the 4- and 8-channel blocks; odd interior runs around the
two- and three-pixel groups; 1x1 layers run as one flat run; depthwise row buffers and the wide-row fallback; FC
rows in every block of the scalar layout: 16, 8, 4 and the rows left, inputs not a multiple of the four-input step,
inputs at the zero point whose columns the FC skips), built with the Thumb-2 blocking the host gets by default,
with RV32's (8 rows, 4-input steps, 4 channels x 3 pixels, FC passes of 16 rows, zero points found by comparing),
with the Cortex-M3's packed multiply-accumulates (conv: two channels a word, up to 511 taps, with extreme weights;
depthwise: two outputs a sum) and, for the FC, Thumb-1's (FC passes of 4 rows, comparing too). On the emulated
cores they run in ``test_cores.py``."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from edgesdk.backends.c import generate_c
from edgesdk.boards import get_board
from edgesdk.ir import graph as ir
from hostbuild import GCC, compile_host, random_inputs, reference_outputs, run_host
from test_c_kernels import _B, CASES, conv, dwconv, fc

TARGET = "scalar"


def _extreme_weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Weights of -128, -127 and 127 only; the first four filters without -128 in channels 1 and 3 (the packed
    words' high halves: packed at full magnitude), the others with it (where it meets a negative low weight the
    block takes the unpacked loops)."""
    w = rng.choice(np.array([-128, -127, 127], dtype=np.int8), size=shape)
    w[[1, 3]] = np.where(w[[1, 3]] == -128, -127, w[[1, 3]])
    return w


def _extreme_dw_weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Depthwise weights of -128, -127 and 127 only: the first five channels without -128 (their output pairs
    packed at full magnitude), the others with it (a -128 beside a negative weight leaves the channel unpaired)."""
    w = rng.choice(np.array([-128, -127, 127], dtype=np.int8), size=shape)
    w[..., :5] = np.where(w[..., :5] == -128, -127, w[..., :5])
    return w


EXTRA = {
    "conv_5x4_c3_c1_k3_s1_same": conv(5, 4, 3, 1, 3, 1, "SAME"),
    "conv_6x5_c5_c7_k3_s2_valid_relu": conv(6, 5, 5, 7, 3, 2, "VALID", act="RELU"),
    "conv_7x5_c4_c9_k3_dil2_same": conv(7, 5, 4, 9, 3, 1, "SAME", d=2),
    "conv_4x4_c17_c8_k1_s1_same": conv(4, 4, 17, 8, 1, 1, "SAME"),
    "fc_7_3": fc(7, 3),
    "fc_9_5_per_channel": fc(9, 5, per_channel=True),
    "fc_33_9_relu_batches2": fc(33, 9, act="RELU", batches=2),
    "fc_8_17": fc(8, 17),
    "fc_37_33": fc(37, 33),  # two blocks of 16 and a row
    "fc_5_29_per_channel": fc(5, 29, per_channel=True),  # 16 + 8 + 4 + 1 rows, one step and a column
    "fc_16_28_relu": fc(16, 28, act="RELU"),
    "fc_3_12": fc(3, 12),  # no whole step: 8 + 4 rows from the one-column loop
    "fc_1_4": fc(1, 4),
    "fc_21_20_no_bias": lambda name: _without_bias(fc(21, 20)(name)),  # the folded offset is the whole bias
    "fc_19_21_weights_offset": lambda name: _weights_zero_point(fc(19, 21)(name), 5),  # not folded
    "conv_5x7_c3_c13_k3_s1_same": conv(5, 7, 3, 13, 3, 1, "SAME"),
    "conv_9x7_c1_c8_k3_s2_same": conv(9, 7, 1, 8, 3, 2, "SAME"),
    "conv_7x7_c6_c16_k1_s1_valid": conv(7, 7, 6, 16, 1, 1, "VALID"),
    "conv_5x5_c9_c12_k1_s2_valid": conv(5, 5, 9, 12, 1, 2, "VALID"),
    "conv_8x8_c5_c8_k3_s1_valid_relu": conv(8, 8, 5, 8, 3, 1, "VALID", act="RELU"),
    "conv_6x11_c4_c16_k5_s1_same": conv(6, 11, 4, 16, 5, 1, "SAME"),
    "conv_3x3_c511_c9_k1_extreme": conv(3, 3, 511, 9, 1, 1, "VALID", data=_extreme_weights),
    "conv_5x4_c56_c8_k3_s1_same_extreme": conv(5, 4, 56, 8, 3, 1, "SAME", data=_extreme_weights),
}


def _without_bias(graph: ir.Graph) -> ir.Graph:
    graph.nodes[0].inputs[2] = ""
    return graph


def _weights_zero_point(graph: ir.Graph, zp: int) -> ir.Graph:
    """The FC's per-tensor weights with zero point ``zp`` (int8 TFLite has 0; the kernel's sum of the inputs)."""
    t = graph.tensor(graph.nodes[0].inputs[1])
    t.quant = ir.QuantParams(t.quant.s, np.array([zp]), None)
    return graph


_PORTABLE = [k for k in CASES if k.startswith(("conv_", "fc_"))][:2]
TABLE = {**EXTRA, **{k: CASES[k] for k in _PORTABLE}}


def test_cores_without_simd_select_the_scalar_kernels() -> None:
    for name in ("microbit", "mps2-an385", "qemu-riscv32"):
        assert get_board(name).kernel_target == TARGET


#: The blockings of ed_scalar.h: the host's default (Thumb's) and RV32's, forced on the host.
BLOCKINGS = {
    "thumb": [],
    "rv32": [
        "-DED_SCALAR_ROWS=8",
        "-DED_SCALAR_STEP=4",
        "-DED_SCALAR_PAIR_ROWS=4",
        "-DED_SCALAR_PIX=3",
        "-DED_FC_ROWS=16",
        "-DED_FC_SKIP_COMPARE=1",
    ],
    "thumb1": ["-DED_FC_ROWS=4", "-DED_FC_SKIP_COMPARE=1"],
    # the Cortex-M3's convolution: four channels packed two to a 64-bit multiply-accumulate, up to its 511-tap limit
    "packed": ["-DED_CONV_PACKED=1", "-DED_CONV_PACKED_TAPS=511", "-DED_DW_PACKED=1"],
}


def zero_point_inputs(graph, x: np.ndarray, seed: int) -> np.ndarray:
    """``x`` with about half of each row set to the input's zero point (the inputs a ReLU leaves), and one row of
    zero points only."""
    zp = int(graph.tensor(graph.inputs[0]).quant.zero_point[0])
    x = x.copy()
    x[np.random.default_rng(seed).random(x.shape) < 0.5] = zp
    x[-1] = zp
    return x


def _check(graph, case: str, blocking: str, tmp_path: Path) -> None:
    project = generate_c(graph, tmp_path, target=TARGET)
    exe = compile_host(project, tmp_path / "model_asan", sanitize=True, extra=BLOCKINGS[blocking])
    seed = zlib.crc32(case.encode())
    x = random_inputs(project.input_size, 12, seed=seed)
    x = np.concatenate([x, zero_point_inputs(graph, x[2:8], seed)])
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


_FC = [c for c in EXTRA if c.startswith("fc_")]


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize(
    ("case", "blocking"),
    [(c, "thumb") for c in TABLE]
    + [(c, "rv32") for c in EXTRA]
    + [(c, "thumb1") for c in _FC]
    + [(c, "packed") for c in TABLE if c.startswith("conv_")],
)  # the portable cases with the default blocking only
def test_scalar_kernel_on_host_under_sanitizers(case: str, blocking: str, tmp_path: Path) -> None:
    _check(TABLE[case](case), case, blocking, tmp_path)


DW_TABLE = {
    **{k: v for k, v in CASES.items() if k.startswith("dw_")},
    "dw_6x5_c16_m1_k3_s1_same": dwconv(6, 5, 16, 1, 3, 1, "SAME"),
    "dw_7x7_c17_m1_k3_s2_same_relu": dwconv(7, 7, 17, 1, 3, 2, "SAME", act="RELU"),
    "dw_5x4_c6_m1_k3_s1_valid": dwconv(5, 4, 6, 1, 3, 1, "VALID"),
    "dw_8x7_c35_m1_k5_dil2_same": dwconv(8, 7, 35, 1, 5, 1, "SAME", d=2),
    "dw_9x7_c5_m1_k3_s2_valid": dwconv(9, 7, 5, 1, 3, 2, "VALID"),
    "dw_4x300_c3_m1_k3_s1_same": dwconv(4, 300, 3, 1, 3, 1, "SAME"),  # rows wider than the row buffer
    "dw_6x6_c4_m1_k3_dil2_valid": dwconv(6, 6, 4, 1, 3, 1, "VALID", d=2),
    "dw_6x7_c9_m1_k3_s1_same_extreme": dwconv(6, 7, 9, 1, 3, 1, "SAME", data=_extreme_dw_weights),
}


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize(("case", "blocking"), [(c, b) for c in DW_TABLE for b in ("thumb", "packed")])
def test_scalar_depthwise_on_host_under_sanitizers(case: str, blocking: str, tmp_path: Path) -> None:
    """The scalar depthwise kernel: one channel at a time from a rolling buffer of padded rows (the unrolled 3x3
    window and the general one, strides 1 and 2, dilation, SAME and VALID), rows too wide for the buffer (the
    per-pixel loops), and depth multipliers above one; with the M3's output pairs (two outputs a 64-bit sum) and
    without."""
    _check(DW_TABLE[case](case), case, blocking, tmp_path)


def fc_relu_chain(name: str) -> ir.Graph:
    """Fully connected 37 -> 33 -> 29 -> 12 -> 7 -> 3 with a fused ReLU after each but the last (about half of the
    inputs of every layer after the first at its zero point: the columns the scalar FC skips), through every block
    of the scalar layout (16, 8, 4 rows and the rows left), inputs not a multiple of four, two layers per-channel."""
    b = _B(name)
    cur = b.act("x", (1, 37))
    nodes, n = [], 37
    for k, (m, per_channel) in enumerate([(33, False), (29, True), (12, False), (7, True), (3, False)]):
        y = b.act(f"fc{k}_out", (1, m))
        w = b.weights(f"fc{k}_w", (m, n), 0, per_channel)
        act = "RELU" if k < 4 else "NONE"
        nodes.append(
            ir.FullyConnected(
                name=f"fc{k}", inputs=[cur, w, b.bias(f"fc{k}_b", m)], outputs=[y], activation=act
            )
        )
        cur, n = y, m
    return b.done(["x"], [cur], *nodes)


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize("blocking", list(BLOCKINGS))
def test_scalar_fc_chain_skips_zero_point_columns_exactly(blocking: str, tmp_path: Path) -> None:
    """The FC chain (:func:`fc_relu_chain`) on the host under ASan/UBSan with every blocking: layers after a ReLU
    get inputs at their zero point (columns skipped), the first also rows of zero points."""
    _check(fc_relu_chain("fc_relu_chain"), "fc_relu_chain", blocking, tmp_path)


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize("blocking", ["thumb", "rv32"])
def test_scalar_fc_single_rounding_bit_exact(blocking: str, tmp_path: Path) -> None:
    """The FC chain with single rounding (the per-output requantization instead of the block's double-rounding
    loop), per-tensor and per-channel, folded and skipping layers."""
    graph = fc_relu_chain("fc_relu_chain_single")
    project = generate_c(graph, tmp_path, target=TARGET, rounding="single")
    exe = compile_host(project, tmp_path / "model_asan", sanitize=True, extra=BLOCKINGS[blocking])
    x = random_inputs(project.input_size, 8, seed=11)
    x = np.concatenate([x, zero_point_inputs(graph, x[2:], 11)])
    np.testing.assert_array_equal(
        run_host(exe, x, project.output_size), reference_outputs(graph, x, rounding="single")
    )
