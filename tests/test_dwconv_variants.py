"""Depthwise-convolution kernel variants against the reference, bit for bit, over the issue's edges.

One joined kernel table (one sanitized host build per variant) over channels 1, 3, 4, 15, 16, 17, 31, 32, 33, 64,
odd spatial sizes, stride 2, dilation, SAME/VALID, depth multipliers 1/2/3, with and without bias: the Cortex-M
DSP kernel (``firmware/kernels/cortex-m-dsp/ed_dwconv.c``: 3x3 interior unrolled, border and other shapes through
the general loop) on the host with ``ed_simd.h``'s portable SIMD definitions under ASan/UBSan, and a few shapes on
the emulated Cortex-M4 (QEMU mps2-an386) where the real SXTAB16/SMLABB run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesdk.ir import graph as ir
from edgesdk.reference.params import op_params
from kerneltable import join
from test_c_backend import GCC, generate_and_build, random_inputs, reference_outputs, run_host
from test_c_kernels import _B, dwconv
from test_dsp_kernels import _conv_node, _dw_node

TARGET = "cortex-m-dsp"
EMULATED = shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None

#: channels -> (h, w, depth multiplier, kernel, stride, padding, dilation, activation, bias)
DW_EDGES = {
    1: (7, 9, 1, 3, 1, "SAME", 1, "NONE", True),
    3: (9, 7, 2, 3, 2, "VALID", 1, "RELU", True),
    4: (7, 5, 1, 3, 1, "SAME", 1, "RELU6", True),
    15: (6, 9, 1, 3, 2, "SAME", 1, "NONE", True),
    16: (9, 11, 1, 3, 1, "VALID", 1, "NONE", True),
    17: (5, 7, 3, 3, 1, "SAME", 1, "RELU", True),
    31: (7, 7, 1, 3, 1, "SAME", 2, "NONE", True),
    32: (8, 9, 1, 3, 2, "SAME", 1, "RELU6", True),
    33: (5, 5, 1, 3, 1, "SAME", 1, "NONE", False),
    64: (6, 7, 1, 3, 1, "SAME", 1, "NONE", True),
}


def dw_cases() -> dict[str, ir.Graph]:
    cases = {}
    for c, (h, w, m, k, s, pad, d, act, bias) in DW_EDGES.items():
        name = f"dw_{h}x{w}_c{c}_m{m}_k{k}_s{s}_{pad.lower()}_d{d}_{act.lower()}" + (
            "" if bias else "_nobias"
        )
        cases[name] = dwconv(h, w, c, m, k, s, pad, d=d, act=act, bias=bias)(name)
    # the 3x3 stride-2 SAME interior on an odd size, and a 5x5 kernel (general loop only)
    cases["dw_11x9_c16_m1_k3_s2_same"] = dwconv(11, 9, 16, 1, 3, 2, "SAME")("dw_11x9_c16_m1_k3_s2_same")
    cases["dw_7x7_c8_m1_k5_s1_same"] = dwconv(7, 7, 8, 1, 5, 1, "SAME")("dw_7x7_c8_m1_k5_s1_same")
    return cases


def _fast_path(graph: ir.Graph, node: ir.Node | None = None) -> bool:
    """Whether the DSP kernel's unrolled 3x3 path runs this layer (see ed_dw3x3_fast_ok)."""
    node = node or graph.nodes[0]
    p = op_params(graph, node)
    shift = np.atleast_1d(p["output_shift"])
    return (
        p["depth_multiplier"] == 1
        and p["filter_h"] == 3
        and p["dilation_h"] == 1
        and len(node.inputs) > 2
        and bool(node.inputs[2])
        and shift.size > 1
        and bool((shift < 0).all())
    )


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_dsp_dwconv_table_on_host_under_sanitizers(tmp_path: Path) -> None:
    cases = dw_cases()
    assert sum(_fast_path(g) for g in cases.values()) >= 6  # the unrolled interior path is exercised
    graph, _ = join("dwtable", cases)
    project, exe = generate_and_build(graph, tmp_path, sanitize=True, target=TARGET)
    x = random_inputs(project.input_size, 10, seed=11)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


def dw_chain(name: str) -> ir.Graph:
    """One input, one output: depthwise 3x3 over 16 channels (stride 1 SAME, stride 2 SAME on an odd size), 17
    (VALID, the channel tail), 64 (SAME), then a depth multiplier of 2; 1x1 convolutions change the width."""
    b = _B(name)
    shape = (1, 13, 11, 16)
    x = b.act("x", shape)
    nodes, cur = [], x
    for k, step in enumerate([("dw", 1, 1, "SAME"), ("dw", 1, 2, "SAME"), ("conv", 17), ("dw", 1, 1, "VALID"),
                              ("conv", 64), ("dw", 1, 1, "SAME"), ("dw", 2, 1, "SAME")]):  # fmt: skip
        if step[0] == "dw":
            node, cur, shape = _dw_node(b, f"dw{k}", cur, shape, step[1], step[2], 1, step[3])
        else:
            node, cur, shape = _conv_node(b, f"pw{k}", cur, shape, step[1], 1, 1, 1, "SAME")
        nodes.append(node)
    return b.done([x], [cur], *nodes)


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_dsp_dwconv_on_emulated_cortex_m4(tmp_path: Path) -> None:
    from edgesdk.boards import get_board
    from edgesdk.device import validate

    graph = dw_chain("dwchain")
    assert sum(_fast_path(graph, n) for n in graph.nodes if n.op == "DEPTHWISE_CONV_2D") >= 3
    summary = validate(graph, get_board("mps2-an386"), count=3, out_dir=tmp_path / "v")
    assert summary.count == 3 and summary.exact == 3, summary.to_dict()
