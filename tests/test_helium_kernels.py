"""The Helium (MVE) kernels of Armv8.1-M cores (``firmware/kernels/helium/``: Cortex-M55/M85) against the
reference, bit for bit, on the host under ASan/UBSan through their portable path (``ed_mve.h`` gives the MVE
intrinsics lane-by-lane C definitions there): the portable kernels' conv and depthwise cases plus the edges of
the vector code — 16-byte beats (rows of 15, 16, 17, 51 bytes, tail-predicated), groups of four filters
(out_c 1, 17, 31, 33, 65), the 32-channel parameter blocks, the 16-channel depthwise blocks (15, 16, 17, 33,
48 channels), saturating requantization, and every int8 operand pair of ADD and MUL with the shift cases of
``test_dsp_elementwise.py``. With the real instructions they run on the emulated Cortex-M55 in ``test_cores.py``."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from edgesdk.boards import get_board, kernel_target_chain
from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host
from kerneltable import join
from test_c_kernels import CASES, conv, dwconv
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
}
TABLE = {**EXTRA, **{k: v for k, v in CASES.items() if k.startswith(("conv_", "dw_", "add_", "mul_"))}}


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


@pytest.mark.emulator
def test_helium_kernel_edges_on_the_emulated_cortex_m55(tmp_path: Path) -> None:
    """The same edges with the real MVE instructions (QEMU mps3-an547), bit-exact with the reference."""
    import shutil

    from edgesdk.device import validate

    board = get_board("mps3-an547")
    assert board.emulator is not None
    if not (shutil.which(board.emulator.qemu) and shutil.which(board.build.cc)):
        pytest.skip("QEMU or arm-none-eabi-gcc is not installed")
    s = validate(edge_chain("helium_edges"), board, count=3, out_dir=tmp_path / "v")
    assert (s.count, s.exact) == (3, 3)
