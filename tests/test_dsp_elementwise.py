"""ADD and MUL kernels (portable and Cortex-M DSP) over every pair of int8 operands, bit for bit.

The DSP kernel's short requantization path (``firmware/kernels/cortex-m-dsp/ed_elementwise.c``) rests on range
conditions checked once per call; these cases run all 65,536 operand pairs through each of its branches - the
larger-scale input second or first (swapped), equal scales, a fused RELU/RELU6 clamp, zero points at the int8
edges - and through the exact general path it falls back to (an output shift beyond 22 bits, a left-shifting
output multiplier, broadcasting), on the host under ASan/UBSan against ``edgesdk.reference``. One joined model
per kernel folder, one build each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesdk.ir import graph as ir
from hostbuild import GCC, generate_and_build, reference_outputs, run_host
from kerneltable import join

PAIRS = (1, 256, 256, 1)  # every (a, b) once


def _q(scale: float, zp: int) -> ir.QuantParams:
    return ir.QuantParams(np.float32(scale).astype(np.float64), zp, None)


def _binary(op: str, sa, za, sb, zb, sy, zy, act="NONE", shape_b=PAIRS, shape=PAIRS):
    def build(name: str) -> ir.Graph:
        g = ir.Graph(name=name)
        g.add_tensor(ir.Tensor("a", shape, "int8", _q(sa, za)))
        g.add_tensor(ir.Tensor("b", shape_b, "int8", _q(sb, zb)))
        g.add_tensor(ir.Tensor("y", tuple(np.broadcast_shapes(shape, shape_b)), "int8", _q(sy, zy)))
        cls = ir.Add if op == "add" else ir.Mul
        g.nodes = [cls(name=op, inputs=["a", "b"], outputs=["y"], activation=act)]
        g.inputs, g.outputs = ["a", "b"], ["y"]
        g.validate()
        return g

    return build


CASES = {
    # fast path, input 2 of the larger scale (multiplier 2^30, shift 0): the short second-input form
    "add_b_larger": _binary("add", 0.021, -7, 0.05, 11, 0.06, 3),
    # fast path, input 1 of the larger scale: swapped operands
    "add_a_larger_relu": _binary("add", 0.04, 127, 0.013, -128, 0.05, -128, act="RELU"),
    # equal scales: both inputs 0.5 (input 1 through the general rounding with shift 0)
    "add_equal_scales_relu6": _binary("add", 0.03, 5, 0.03, -5, 0.07, 0, act="RELU6"),
    # zero points at the int8 edges, output scale small (output shift near its bound)
    "add_edges": _binary("add", 0.01, -128, 0.0137, 127, 0.0031, 127),
    # output shift beyond 22 bits: the exact general path
    "add_out_shift_general": _binary("add", 0.01, 3, 0.02, -3, 1.0, 0),
    # left-shifting output multiplier: the exact general path
    "add_out_gt1_general": _binary("add", 0.05, 1, 0.04, 2, 1e-7, 0),
    "add_broadcast": _binary("add", 0.02, 4, 0.03, -9, 0.05, 1, shape=(1, 3, 5, 7), shape_b=(1, 1, 5, 1)),
    "add_odd_size_relu": _binary("add", 0.02, 4, 0.07, -9, 0.05, 1, "RELU", shape=(1, 3, 5, 7), shape_b=(1, 3, 5, 7)),
    "add_one_element": _binary("add", 0.02, 4, 0.03, -9, 0.05, 1, shape=(1, 1, 1, 1), shape_b=(1, 1, 1, 1)),
    "mul_relu": _binary("mul", 0.05, -3, 0.04, 9, 0.02, -20, act="RELU"),
    "mul_edges": _binary("mul", 0.11, -128, 0.09, 127, 0.3, 127),
    "mul_out_gt1_general": _binary("mul", 0.05, 1, 0.04, 2, 0.0005, 0),
    "mul_broadcast_relu6": _binary("mul", 0.05, 1, 0.04, 2, 0.01, 0, "RELU6", shape=(1, 3, 5, 7), shape_b=(1, 1, 1, 7)),
}  # fmt: skip


def _inputs(graph: ir.Graph, rng: np.random.Generator) -> np.ndarray:
    """One row: for the PAIRS-shaped operands every (a, b) pair, random values elsewhere."""
    a_all = np.repeat(np.arange(-128, 128), 256).astype(np.int8)
    b_all = np.tile(np.arange(-128, 128), 256).astype(np.int8)
    parts = []
    for k, name in enumerate(graph.inputs):
        t = graph.tensor(name)
        if t.shape == PAIRS:
            parts.append(a_all if k % 2 == 0 else b_all)
        else:
            parts.append(rng.integers(-128, 128, t.size).astype(np.int8))
    return np.concatenate(parts)[None, :]


@pytest.fixture(scope="module")
def joined() -> ir.Graph:
    graph, _ = join("elementwise_pairs", {name: build(name) for name, build in CASES.items()})
    return graph


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize("target", [None, "cortex-m-dsp"], ids=["portable", "cortex-m-dsp"])
def test_every_operand_pair_bit_exact(joined: ir.Graph, target: str | None, tmp_path: Path) -> None:
    project, exe = generate_and_build(joined, tmp_path, sanitize=True, target=target)
    x = _inputs(joined, np.random.default_rng(7))
    got, want = run_host(exe, x, project.output_size), reference_outputs(joined, x)
    pos = 0
    for name in joined.outputs:
        n = joined.tensor(name).size
        np.testing.assert_array_equal(got[:, pos : pos + n], want[:, pos : pos + n], err_msg=name)
        pos += n
    # the cases do reach the saturating ends (the clamp is exercised) and are not constant
    assert len(np.unique(want)) > 200


def test_cases_cover_each_branch(joined: ir.Graph) -> None:
    """The parameters put the cases on the branches named above (so a change of the quantization helpers
    cannot silently move them all onto one path)."""
    from edgesdk.reference.params import op_params

    p = {n.name: op_params(joined, n) for n in joined.nodes}
    assert p["add_b_larger"]["input2_multiplier"] == 1 << 30 and p["add_b_larger"]["input2_shift"] == 0
    assert (
        p["add_a_larger_relu"]["input1_multiplier"] == 1 << 30 and p["add_a_larger_relu"]["input1_shift"] == 0
    )
    assert p["add_equal_scales_relu6"]["input1_shift"] == p["add_equal_scales_relu6"]["input2_shift"] == 0
    assert p["add_out_shift_general"]["output_shift"] < -22
    assert p["add_out_gt1_general"]["output_shift"] >= 0
    assert p["mul_out_gt1_general"]["output_shift"] >= 0
    assert -22 <= p["add_edges"]["output_shift"] < 0 and -22 <= p["mul_edges"]["output_shift"] < 0
