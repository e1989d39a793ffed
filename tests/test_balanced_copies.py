"""``--optimize balanced`` keeps int8 weights in flash unless a larger copy pays per byte, ``--optimize speed`` keeps
them where the copies would pass its copy budget (passes/balanced_copies.py).

Pipeline decisions on shapes either side of the rule and of the budget, the user's force respected, the code the
int8 alternatives add priced, and the layers balanced moves back to int8 kernels run bit-exactly against the
reference (host build under ASan/UBSan, the DSP kernels' portable SIMD definitions).
"""

from __future__ import annotations

import numpy as np
import pytest

import test_c_kernels as kernels
from edgesdk.compiler import kernels as kernel_table
from edgesdk.ir import graph as ir
from edgesdk.passes import PassContext, run_pipeline, specialize
from edgesdk.passes._int16 import BALANCED_INSNS_PER_BYTE
from edgesdk.passes.balanced_copies import SPEED_COPY_BUDGET
from kerneltable import KernelTable, join, run_joined

#: No decode budget: the decoded-weights pass (which would move some int16 copies into RAM) stays out of the way.
FLASH = {"flash_bytes": 4 << 20, "decode_budget": 0.0}

#: case -> (graph builder, kernel with --optimize speed, kernel with balanced). The rule's threshold lies between
#: each pair of "kept"/"back to int8" shapes of one kind.
CASES = {
    # a batch-1 FC uses each weight once: int16 weights buy ~0.01 instructions per byte, and under 5 % of the int8
    # FC kernel's instructions, within its cost model's error: speed does not keep them either
    "bc_fc_256_64": (kernels.fc(256, 64, per_channel=True), None, None),
    # Winograd on 24x24 pixels, 16 -> 16 channels: its transformed weights pay; on 6x6 pixels, 48 -> 48 they do not
    "bc_wino_24x24_c16": (kernels.conv(24, 24, 16, 16, 3, 1, "SAME"), "winograd", "winograd"),
    "bc_wino_6x6_c48": (kernels.conv(6, 6, 48, 48, 3, 1, "SAME"), "winograd", "specialized"),
    # a 1x1 layer on 6x6 pixels, 63 channels (rows the int8 FC kernel's six-pixel path does not take): the
    # specialised int8 convolution is estimated faster than the int16 copy (237,311 against 254,822 instructions),
    # so neither goal keeps the copy
    "bc_pw_6x6_c63_c64": (kernels.conv(6, 6, 63, 64, 1, 1, "VALID"), "specialized", "specialized"),
    # with 64 channels the int8 FC kernel six pixels per pass beats the copy: no copy for either goal
    "bc_pw_6x6_c64_c64": (kernels.conv(6, 6, 64, 64, 1, 1, "VALID"), "pointwise_s8", "pointwise_s8"),
}

#: The copy the speed passes chose where the copy pass itself gave it back (speed's kernel is then the int8 one).
COPY_OF = {"bc_pw_6x6_c63_c64": "pointwise_w16", "bc_fc_256_64": "w16"}


def _kernel(case: str, optimize: str, **kw) -> ir.Node:
    ctx = PassContext(core="cortex-m4", optimize=optimize, options=FLASH, **kw)
    return run_pipeline(CASES[case][0](case), "default", ctx).nodes[0]


@pytest.mark.parametrize("case", list(CASES))
def test_balanced_keeps_only_copies_that_pay_per_byte(case: str) -> None:
    _, speed, balanced = CASES[case]
    assert _kernel(case, "speed").attrs.get("kernel") == speed
    node = _kernel(case, "balanced")
    assert node.attrs.get("kernel") == balanced, node.attrs.get("kernel_report")
    rep = node.attrs["kernel_report"]
    if balanced in (None, "specialized"):
        assert rep["format"] == "int8" and "specialize" not in node.attrs
        assert f"under {BALANCED_INSNS_PER_BYTE:g}" in rep["why"] and "B for est." in rep["why"], rep["why"]
        # the copy stays in the report as a candidate beside the int8 kernel chosen, with their bytes
        copy_kernel = COPY_OF.get(case, speed)
        int8, copy = rep["candidates"][balanced or "int8"], rep["candidates"][copy_kernel]
        assert int8["bytes"] == rep["weight_bytes"] < copy.get("bytes", copy.get("weight_bytes"))
    else:
        assert "under" not in rep["why"]


def test_balanced_respects_a_forced_copy() -> None:
    node = _kernel("bc_fc_256_64", "balanced", force={"*": "w16"})
    assert node.attrs["kernel"] == "w16" and node.attrs["kernel_report"]["format"] == "int16"
    node = _kernel("bc_wino_6x6_c48", "balanced", force={"*": "winograd"})
    assert node.attrs["kernel"] == "winograd"
    # with the specialisation forbidden the int8 alternative is the int8 FC kernel over the pixels; with that
    # forbidden too, the shared convolution, ~1.6x slower: against that the int16 copy pays, balanced keeps it
    # (decoding per call, which would widen the int8 weights into the copy's kernel in RAM, forbidden here)
    node = _kernel("bc_pw_6x6_c63_c64", "balanced", forbid={"*": {"specialized", "decoded"}})
    assert node.attrs["kernel"] == "pointwise_s8" and node.attrs["kernel_report"]["format"] == "int8"
    node = _kernel("bc_pw_6x6_c63_c64", "balanced", forbid={"*": {"specialized", "pointwise_s8", "decoded"}})
    assert node.attrs["kernel"] == "pointwise_w16" and node.attrs["kernel_report"]["format"] == "int16"


def _speed(graph: ir.Graph, **options: int) -> dict[str, ir.Node]:
    ctx = PassContext(core="cortex-m4", optimize="speed", options={**FLASH, **options})
    return {n.name: n for n in run_pipeline(graph, "default", ctx).nodes}


def test_speed_keeps_copies_within_its_budget() -> None:
    """--optimize speed keeps the copies balanced keeps whatever its budget, then the others best saving per byte
    first while they fit; the rest go back to their int8 alternative, whose code the budget prices."""
    fc, wino_big, wino_small = (
        CASES[c][0](c) for c in ("bc_fc_256_64", "bc_wino_24x24_c16", "bc_wino_6x6_c48")
    )
    # the FC's int16 weights save est. 194 of 21,454 instructions: under 5 %, the int8 FC kernel (whose code no
    # other layer links: priced) runs it, within the budget or not
    for options in ({}, {"speed_copy_budget": 1000}):
        (node,) = _speed(fc, **options).values()
        rep = node.attrs["kernel_report"]
        assert "kernel" not in node.attrs and rep["format"] == "int8" and rep["weight_bytes"] == 16384
        assert "16384 B for est. 194 fewer instructions than int8" in rep["why"] and "under 5%" in rep["why"]
        assert rep["priced_code"] == kernel_table.code_bytes()[("FULLY_CONNECTED", "")] > 0
    # with no budget (a negative one) every copy the speed passes chose stays
    (node,) = _speed(fc, speed_copy_budget=-1).values()
    assert (
        node.attrs["kernel"] == "w16" and "--optimize speed: copy" not in node.attrs["kernel_report"]["why"]
    )
    # a Winograd copy that saves at least balanced's 32 instructions per byte stays at no budget at all
    (node,) = _speed(wino_big, speed_copy_budget=0).values()
    assert node.attrs["kernel"] == "winograd" and "as balanced keeps it" in node.attrs["kernel_report"]["why"]
    assert "priced_code" not in node.attrs["kernel_report"]
    # one that saves 8.5 per byte stays within the default budget ...
    (node,) = _speed(wino_small).values()
    assert node.attrs["kernel"] == "winograd"
    assert (
        f"within the {SPEED_COPY_BUDGET} B copy budget (52232 B used)" in node.attrs["kernel_report"]["why"]
    )
    # ... and goes back to the specialised convolution without one: its copy of the body is the code priced (the
    # border path it shares with other specialised layers is smaller than the Winograd kernel it unlinks; beside
    # another Winograd layer it is priced too, below)
    (node,) = _speed(wino_small, speed_copy_budget=0).values()
    shape = specialize.conv_shape(wino_small, wino_small.nodes[0])
    assert node.attrs["kernel"] == "specialized" and shape is not None
    assert "over the 0 B copy budget" in node.attrs["kernel_report"]["why"]
    assert node.attrs["kernel_report"]["priced_code"] == specialize.specialized_code(shape) == 760


#: Winograd layers for the budget's order: (builder, bytes the copy adds to the image, instructions per byte)
SPEED_CASES = {
    "bc_wino_24x24_c16": (kernels.conv(24, 24, 16, 16, 3, 1, "SAME"), 5128, 181.5),  # balanced keeps it
    "bc_wino_8x8_c32": (kernels.conv(8, 8, 32, 32, 3, 1, "SAME"), 22792, 16.5),
    "bc_wino_6x6_c48": (kernels.conv(6, 6, 48, 48, 3, 1, "SAME"), 52232, 8.5),
    "bc_wino_6x6_c16": (kernels.conv(6, 6, 16, 16, 3, 1, "SAME"), 5128, 7.8),
}


@pytest.mark.parametrize(
    ("budget", "kept"),
    [
        # balanced's first (5,128 B), then 16.5 per byte (22,792 B); 8.5 per byte (52,232 B) no longer fits, 7.8
        # (5,128 B) does
        (60_000, {"bc_wino_24x24_c16", "bc_wino_8x8_c32", "bc_wino_6x6_c16"}),
        # 16.5 and 8.5 per byte do not fit: the smaller copy after them still does
        (20_000, {"bc_wino_24x24_c16", "bc_wino_6x6_c16"}),
        (0, {"bc_wino_24x24_c16"}),
        (90_000, set(SPEED_CASES)),
    ],
)
def test_speed_budget_best_per_byte_first(budget: int, kept: set[str]) -> None:
    graph, _ = join("bc_speed", {c: build(c) for c, (build, _, _) in SPEED_CASES.items()})
    nodes = _speed(graph, speed_copy_budget=budget)
    assert {n for n, node in nodes.items() if node.attrs.get("kernel") == "winograd"} == kept
    used = sum(SPEED_CASES[n][1] for n in kept)
    for name, node in nodes.items():
        rep, (_, extra, per_byte) = node.attrs["kernel_report"], SPEED_CASES[name]
        assert f"adds {extra} B for est." in rep["why"] or f"add {extra} B for est." in rep["why"]
        assert f"({per_byte:.1f} per byte)" in rep["why"]
        if name in kept:
            assert "priced_code" not in rep
        else:  # a specialised copy beside Winograd layers: its body and the shared border path
            assert node.attrs["kernel"] == "specialized" and f"over the {budget} B copy budget" in rep["why"]
            shape = specialize.conv_shape(graph, node)
            assert shape is not None and rep["priced_code"] >= specialize.specialized_code(shape)
    assert sum(nodes[n].attrs["kernel_report"].get("priced_code", 0) for n in nodes) == (
        0 if len(kept) == 4 else sum(760 for n in nodes if n not in kept) + specialize.CONV_BODY_CODE
    )
    assert used <= max(budget, SPEED_CASES["bc_wino_24x24_c16"][1])


@pytest.fixture(scope="module")
def balanced_copies_table(tmp_path_factory: pytest.TempPathFactory) -> KernelTable:
    graphs = {case: build(case) for case, (build, _, _) in CASES.items()}
    ctx = PassContext(core="cortex-m4", optimize="balanced", options=FLASH)
    return run_joined("bc_table", graphs, tmp_path_factory.mktemp("bc"), ctx=ctx, n_inputs=6)


@pytest.mark.parametrize("case", list(CASES))
def test_balanced_kernels_bit_exact(case: str, balanced_copies_table: KernelTable) -> None:
    (node,) = [n for n in balanced_copies_table.graph.nodes if n.name == case]
    assert node.attrs.get("kernel") == CASES[case][2], node.attrs.get("kernel_report")
    got, want = balanced_copies_table.outputs(case)
    np.testing.assert_array_equal(got, want)
