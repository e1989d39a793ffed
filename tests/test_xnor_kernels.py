"""XNOR kernels (``ed_xnor.c``) against the reference, over channel counts that cross word edges.

Each case is int8 input -> BINARIZE (random per-channel thresholds, some flipped) -> XNOR fully connected or
conv (random packed weights and thresholds, some flipped) -> UNPACK -> int8 output; all cases are independent
sub-graphs of one model, compiled with gcc -Werror under ASan/UBSan once per kernel variant (the default
split SWAR popcount, and ``-DED_XNOR_BUILTIN_POPCOUNT``). Channel counts 1, 31, 32, 33, 63,
64, 65 on both sides; odd spatial sizes; stride 1 and 2; SAME and VALID; padding with +1 and with -1. The
reference's XNOR conv itself is checked against a plain ±1 convolution written out with loops.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from edgesdk.ir import graph as ir
from edgesdk.ir.binary import Binarize, UnpackBits, XnorConv2D, XnorFullyConnected
from edgesdk.reference.binary import fold_threshold, pack_bits, threshold_bits, words_for, xnor_dot
from edgesdk.reference.xnor import conv_pads, xnor_dot_conv
from hostbuild import GCC
from kerneltable import KernelTable, run_table

pytestmark = pytest.mark.skipif(GCC is None, reason="needs host gcc")
CHANNELS = (1, 31, 32, 33, 63, 64, 65)
N_INPUTS = 24


def _cases() -> list[tuple[str, dict]]:
    out = []
    for i, c in enumerate(CHANNELS):
        out.append((f"xfc_in{c}_out{CHANNELS[-1 - i]}", dict(op="fc", cin=c, cout=CHANNELS[-1 - i])))
    for i, c in enumerate(CHANNELS):
        k, s, pad = ((3, 1, "SAME"), (3, 2, "VALID"), (3, 2, "SAME"), (1, 1, "VALID"))[i % 4]
        h, w = ((5, 7), (7, 5), (9, 9), (3, 5))[i % 4]
        cout = (33, 2, 32, 5)[i % 4]
        pv = 1 if i % 2 == 0 else -1
        out.append(
            (
                f"xconv_{h}x{w}_c{c}_o{cout}_k{k}_s{s}_{pad.lower()}_pad{pv:+d}",
                dict(op="conv", h=h, w=w, cin=c, cout=cout, k=k, s=s, pad=pad, pad_value=pv),
            )
        )
    # Receptive fields larger than the kernels' stack window (256 words): the in-place paths.
    out.append(("xfc_in8200_out3_chunked", dict(op="fc", cin=8200, cout=3)))
    out.append(
        (
            "xconv_3x3_c330_o2_k5_s1_same_pad-1_unwindowed",
            dict(op="conv", h=3, w=3, cin=330, cout=2, k=5, s=1, pad="SAME", pad_value=-1),
        )
    )
    return out


CASES = _cases()


def _add(g: ir.Graph, name: str, spec: dict, rng: np.random.Generator) -> None:
    q = ir.QuantParams(np.array([0.05]), np.array([int(rng.integers(-10, 10))]))
    cin, cout = spec["cin"], spec["cout"]
    in_shape = (1, cin) if spec["op"] == "fc" else (1, spec["h"], spec["w"], cin)
    x = g.add_tensor(ir.Tensor(f"{name}_x", in_shape, "int8", q)).name
    bits_in = g.add_tensor(ir.Tensor(f"{name}_a", (*in_shape[:-1], 4 * words_for(cin)), "int8")).name
    t_in = rng.integers(-40, 40, cin)
    f_in = rng.integers(0, 2, cin).astype(bool)
    nodes: list[ir.Node] = [
        Binarize(name=f"{name}_bin", inputs=[x], outputs=[bits_in], channels=cin,
                 threshold=tuple(int(v) for v in t_in), flip=tuple(bool(v) for v in f_in)),
    ]  # fmt: skip
    if spec["op"] == "fc":
        kbits = cin
        wbits = rng.integers(0, 2, (cout, cin)).astype(bool)
        wdata = pack_bits(wbits).view(np.int32)
        out_shape: tuple[int, ...] = (1, cout)
    else:
        k = spec["k"]
        kbits = k * k * cin
        wbits = rng.integers(0, 2, (cout, k, k, cin)).astype(bool)
        wdata = pack_bits(wbits).view(np.int32)
        oh = conv_pads(spec["h"], k, spec["s"], spec["pad"])[0]
        ow = conv_pads(spec["w"], k, spec["s"], spec["pad"])[0]
        out_shape = (1, oh, ow, cout)
    wt = g.add_tensor(ir.Tensor(f"{name}_w", wdata.shape, "int32", data=wdata)).name
    bits_out = g.add_tensor(ir.Tensor(f"{name}_b", (*out_shape[:-1], 4 * words_for(cout)), "int8")).name
    thr = tuple(int(v) for v in rng.integers(-kbits // 3 - 1, kbits // 3 + 2, cout))
    flip = tuple(bool(v) for v in rng.integers(0, 2, cout))
    if spec["op"] == "fc":
        nodes.append(XnorFullyConnected(name=name, inputs=[bits_in, wt], outputs=[bits_out], in_features=cin,
                                        out_features=cout, threshold=thr, flip=flip))  # fmt: skip
    else:
        nodes.append(XnorConv2D(name=name, inputs=[bits_in, wt], outputs=[bits_out], in_channels=cin,
                                out_channels=cout, kernel=(spec["k"], spec["k"]), stride=(spec["s"], spec["s"]),
                                padding=spec["pad"], pad_value=spec["pad_value"], threshold=thr, flip=flip))  # fmt: skip
    y = g.add_tensor(
        ir.Tensor(f"{name}_y", out_shape, "int8", ir.QuantParams(np.array([1.0]), np.array([0])))
    )
    nodes.append(
        UnpackBits(name=f"{name}_unpack", inputs=[bits_out], outputs=[y.name], channels=cout, high=1, low=-1)
    )
    g.inputs.append(x)
    g.outputs.append(y.name)
    g.nodes.extend(nodes)


@pytest.fixture(scope="session")
def xnor_project(tmp_path_factory: pytest.TempPathFactory) -> KernelTable:
    """The table's graph, its generated C (default popcount, built under ASan/UBSan) and the reference."""
    g = ir.Graph(name="xnor_table")
    for name, spec in CASES:
        _add(g, name, spec, np.random.default_rng(zlib.crc32(name.encode())))
    g.validate()
    outputs = {name: [f"{name}_y"] for name, _ in CASES}
    out = tmp_path_factory.mktemp("xnor_table")
    return run_table(g, outputs, out, pipeline="none", n_inputs=N_INPUTS, seed=3)


#: Compile-time variants of ed_xnor.c: the default split SWAR popcount, and the compiler's popcount.
VARIANTS = {"swar": None, "builtin_popcount": "-DED_XNOR_BUILTIN_POPCOUNT"}


@pytest.fixture(scope="session", params=list(VARIANTS))
def xnor_table(request: pytest.FixtureRequest, xnor_project: KernelTable) -> KernelTable:
    """Outputs of the generated C built with one kernel variant (the same sources, one extra build each)."""
    define = VARIANTS[request.param]
    return xnor_project if define is None else xnor_project.variant(request.param, define)


@pytest.mark.parametrize("case", [c for c, _ in CASES])
def test_xnor_kernel_bit_exact(case: str, xnor_table: KernelTable) -> None:
    got, want = xnor_table.outputs(case)
    assert set(np.unique(want)) <= {-1, 1}
    np.testing.assert_array_equal(got, want)


def test_reference_conv_against_plain_loops() -> None:
    rng = np.random.default_rng(5)
    for pad, pv, s in (("SAME", 1, 1), ("SAME", -1, 2), ("VALID", 1, 2)):
        a = rng.integers(0, 2, (2, 5, 6, 33)).astype(bool)
        w = np.where(rng.integers(0, 2, (4, 3, 3, 33)), 1, -1)
        node = XnorConv2D(name="c", inputs=[], outputs=[], in_channels=33, out_channels=4, kernel=(3, 3),
                          stride=(s, s), padding=pad, pad_value=pv)  # fmt: skip
        got = xnor_dot_conv(a, w, node)
        oh, pt, _ = conv_pads(5, 3, s, pad)
        ow, pl, _ = conv_pads(6, 3, s, pad)
        want = np.zeros((2, oh, ow, 4), dtype=np.int64)
        for n in range(2):
            for oy in range(oh):
                for ox in range(ow):
                    for ky in range(3):
                        for kx in range(3):
                            iy, ix = oy * s - pt + ky, ox * s - pl + kx
                            inside = 0 <= iy < 5 and 0 <= ix < 6
                            v = np.where(a[n, iy, ix], 1, -1) if inside else np.full(33, pv)
                            want[n, oy, ox] += w[:, ky, kx, :] @ v
        np.testing.assert_array_equal(got, want)


def test_xnor_dot_and_threshold_folding() -> None:
    rng = np.random.default_rng(6)
    for k in CHANNELS:
        a = rng.integers(0, 2, (5, k)).astype(bool)
        w = rng.integers(0, 2, (5, k)).astype(bool)
        want = (np.where(a, 1, -1) * np.where(w, 1, -1)).sum(axis=1)
        np.testing.assert_array_equal(xnor_dot(pack_bits(a), pack_bits(w), k), want)
    # BatchNorm + sign on integer dots, with negative, positive and zero scales, against the float formula.
    gamma = np.array([1.5, -0.7, 0.0, -2.0, 0.3])
    beta = np.array([0.2, 0.5, -0.1, -1.0, 0.0])
    mean = np.array([3.0, -2.0, 0.0, 10.0, -5.0])
    var = np.array([4.0, 1.0, 1.0, 9.0, 0.25])
    thr, flip = fold_threshold(gamma, beta, mean, var, 1e-3)
    dots = np.arange(-40, 41)[:, None]
    bn = gamma * (dots - mean) / np.sqrt(var + 1e-3) + beta
    np.testing.assert_array_equal(threshold_bits(dots, thr, flip), bn >= 0)
    assert list(flip) == [False, True, False, True, False]
