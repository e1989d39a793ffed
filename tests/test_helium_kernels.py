"""The Helium (MVE) kernels of Armv8.1-M cores (``firmware/kernels/helium/``: Cortex-M55/M85) against the
reference, bit for bit, on the host under ASan/UBSan through their portable path (``ed_mve.h`` gives the MVE
intrinsics lane-by-lane C definitions there): the portable kernels' conv and depthwise cases plus the edges of
the vector code — 16-byte beats (rows of 15, 16, 17, 51 bytes, tail-predicated), groups of four filters
(out_c 1, 17, 31, 33, 65), the 32-channel parameter blocks, the 16-channel depthwise blocks (15, 16, 17, 33,
48 channels), pooling's 16-byte max steps and 8-halfword average steps (15, 16, 17, 33 channels; a 16x16
window, the last one summed in halfwords, and a 17x17 one summed in 32 bits), saturating requantization, and every int8 operand pair of ADD and MUL with the shift cases of
``test_dsp_elementwise.py``. With the real instructions they run on the emulated Cortex-M55 in ``test_cores.py``."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from edgesdk.boards import get_board, kernel_target_chain
from edgesdk.ir import graph as ir
from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host
from kerneltable import join
from test_c_kernels import _B, CASES, _out_hw, conv, dwconv, pool
from test_dsp_elementwise import CASES as PAIR_CASES
from test_dsp_elementwise import _inputs as pair_inputs
from test_dsp_kernels import pruned_dw

TARGET = "helium"

EXTRA = {
    "conv_6x6_c16_c17_k3_s1_same": conv(6, 6, 16, 17, 3, 1, "SAME"),
    "conv_5x5_c17_c33_k3_s2_same": conv(5, 5, 17, 33, 3, 2, "SAME"),
    "conv_4x4_c64_c65_k1_s1_valid": conv(4, 4, 64, 65, 1, 1, "VALID"),
    "conv_7x6_c15_c31_k3_dil2_same_relu": conv(7, 6, 15, 31, 3, 1, "SAME", d=2, act="RELU"),
    "conv_12x10_c1_c16_k4_s2_same": conv(12, 10, 1, 16, 4, 2, "SAME"),
    "conv_5x4_c3_c1_k3_s1_same_nobias": conv(5, 4, 3, 1, 3, 1, "SAME", bias=False),
    "dw_6x5_c16_m1_k3_s1_same": dwconv(6, 5, 16, 1, 3, 1, "SAME"),
    "dw_7x7_c17_m1_k3_s2_same": dwconv(7, 7, 17, 1, 3, 2, "SAME"),
    "dw_5x5_c33_m1_k3_s1_valid_relu": dwconv(5, 5, 33, 1, 3, 1, "VALID", act="RELU"),
    "dw_8x7_c48_m1_k5_s1_dil2_same": dwconv(8, 7, 48, 1, 5, 1, "SAME", d=2),
    "dw_6x6_c15_m1_k3_s1_same_relu6": dwconv(6, 6, 15, 1, 3, 1, "SAME", act="RELU6"),
    **{f"dw_pruned_huge_bias_8x6_c{c}": pruned_dw(8, 6, c) for c in (16, 17)},
    "avgpool_6x6_c17_f3_s1_same": pool("avg", 6, 6, 17, 3, 1, "SAME"),
    "avgpool_4x4_c8_f2_s2_valid_relu": pool("avg", 4, 4, 8, 2, 2, "VALID", act="RELU"),
    "avgpool_17x17_c9_f17_s1_valid": pool("avg", 17, 17, 9, 17, 1, "VALID"),
    "avgpool_16x16_c7_f16_s1_valid": pool("avg", 16, 16, 7, 16, 1, "VALID"),
    "maxpool_6x5_c16_f3_s2_same": pool("max", 6, 5, 16, 3, 2, "SAME"),
    "maxpool_5x5_c33_f2_s1_valid_relu6": pool("max", 5, 5, 33, 2, 1, "VALID", act="RELU6"),
    "maxpool_4x4_c15_f3_s1_same": pool("max", 4, 4, 15, 3, 1, "SAME"),
}
TABLE = {
    **EXTRA,
    **{
        k: v
        for k, v in CASES.items()
        if k.startswith(("conv_", "dw_", "add_", "mul_", "avgpool_", "maxpool_"))
    },
}


def test_helium_cores_select_the_helium_kernels_over_the_dsp_ones() -> None:
    board = get_board("mps3-an547")
    assert board.kernel_target == TARGET
    assert kernel_target_chain(board.kernel_target) == (TARGET, "cortex-m-dsp")


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_helium_kernels_on_host_under_sanitizers(tmp_path: Path) -> None:
    """Every case of the table side by side in one model (one sanitized build), each case's outputs compared
    with the reference bit for bit."""
    graph, _ = join("helium_table", {name: build(name) for name, build in TABLE.items()})
    project, exe = generate_and_build(graph, tmp_path, sanitize=True, target=TARGET)
    x = random_inputs(project.input_size, 12, seed=zlib.crc32(b"helium"))
    got, want = run_host(exe, x, project.output_size), reference_outputs(graph, x)
    pos = 0
    for name in graph.outputs:
        n = graph.tensor(name).size
        np.testing.assert_array_equal(got[:, pos : pos + n], want[:, pos : pos + n], err_msg=name)
        pos += n
    assert pos == project.output_size and len(graph.outputs) == len(TABLE)


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_helium_add_and_mul_on_every_operand_pair(tmp_path: Path) -> None:
    """Every (a, b) int8 pair through the Helium ADD (four lanes, tail-predicated) and the shared MUL, with
    input scales either side, zero points at the int8 edges, output shifts past 22 bits and output multipliers
    above one."""
    graph, _ = join("elementwise_pairs", {name: build(name) for name, build in PAIR_CASES.items()})
    project, exe = generate_and_build(graph, tmp_path, sanitize=True, target=TARGET)
    x = pair_inputs(graph, np.random.default_rng(7))
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


def edge_chain(name: str):
    """One input, one output: 5x3 pixels (a last group of three), 2 -> 8 channels by 3x3, depthwise on 8
    (two whole four-lane vectors), 1x1 to 18, depthwise on 18 stride 2 (a 16-channel block and two predicated
    lanes; 6 pixels), 1x1 to 66 filters (past the 64-channel parameter block)."""
    from test_dsp_kernels import _B, _conv_node, _dw_node

    b = _B(name)
    shape = (1, 5, 3, 2)
    x = b.act("x", shape)
    nodes, cur = [], x
    for kind, args in [
        ("conv", (8, 3, 1, 1, "SAME")),
        ("dw", (1, 1, 1, "SAME")),
        ("conv", (18, 1, 1, 1, "SAME")),
        ("dw", (1, 2, 1, "SAME")),
        ("conv", (66, 1, 1, 1, "VALID")),
    ]:
        k = len(nodes)
        if kind == "conv":
            node, cur, shape = _conv_node(b, f"conv{k}", cur, shape, *args, "RELU" if k % 2 else "NONE")
        else:
            node, cur, shape = _dw_node(b, f"dw{k}", cur, shape, *args)
        nodes.append(node)
    return b.done([x], [cur], *nodes)


def _bit_exact_on_the_m55(graph: ir.Graph, count: int, tmp_path: Path) -> None:
    """``count`` inputs through ``graph`` on QEMU's mps3-an547, every output equal to the reference."""
    import shutil

    from edgesdk.commands.device import validate

    board = get_board("mps3-an547")
    assert board.emulator is not None
    if not (shutil.which(board.emulator.qemu) and shutil.which(board.build.cc)):
        pytest.skip("QEMU or arm-none-eabi-gcc is not installed")
    s = validate(graph, board, count=count, out_dir=tmp_path / "v")
    assert (s.count, s.exact) == (count, count)


@pytest.mark.emulator
def test_helium_kernel_edges_on_the_emulated_cortex_m55(tmp_path: Path) -> None:
    """The same edges with the real MVE instructions (QEMU mps3-an547), bit-exact with the reference."""
    _bit_exact_on_the_m55(edge_chain("helium_edges"), 3, tmp_path)


def pool_chain(name: str) -> ir.Graph:
    """18x17 pixels of 17 channels (a 16-byte max step and one predicated lane; two 8-halfword average steps and
    one lane) through 3x3 max SAME, 2x2 average stride 2, 3x3 max stride 2 with RELU6 and a 4x4 average."""
    b = _B(name)
    scale, zp, shape = 0.05, 3, (1, 18, 17, 17)
    x = b.act("x", shape, scale, zp)
    cur, nodes = x, []
    for k, (kind, f, s, padding, act) in enumerate(
        [
            ("max", 3, 1, "SAME", "NONE"),
            ("avg", 2, 2, "VALID", "RELU"),
            ("max", 3, 2, "SAME", "RELU6"),
            ("avg", 4, 1, "VALID", "NONE"),
        ]
    ):
        shape = (1, _out_hw(shape[1], f, s, 1, padding), _out_hw(shape[2], f, s, 1, padding), shape[3])
        y = b.act(f"p{k}", shape, scale, zp)
        cls = ir.AveragePool2D if kind == "avg" else ir.MaxPool2D
        nodes.append(
            cls(
                name=f"pool{k}",
                inputs=[cur],
                outputs=[y],
                filter=(f, f),
                stride=(s, s),
                padding=padding,
                activation=act,
            )
        )
        cur = y
    return b.done([x], [cur], *nodes)


@pytest.mark.emulator
def test_helium_pooling_on_the_emulated_cortex_m55(tmp_path: Path) -> None:
    """The Helium max and average pooling with the real MVE instructions (QEMU mps3-an547), bit-exact."""
    _bit_exact_on_the_m55(pool_chain("helium_pools"), 4, tmp_path)
