"""``--optimize balanced`` keeps int8 weights in flash unless a larger copy pays per byte (passes/balanced_copies.py).

Pipeline decisions on shapes either side of the rule, the user's force respected, and the layers balanced moves
back to int8 kernels run bit-exactly against the reference (host build under ASan/UBSan, the DSP kernels'
portable SIMD definitions).
"""

from __future__ import annotations

import numpy as np
import pytest

import test_c_kernels as kernels
from edgesdk.ir import graph as ir
from edgesdk.passes import PassContext, run_pipeline
from edgesdk.passes._int16 import BALANCED_INSNS_PER_BYTE
from kerneltable import KernelTable, run_joined

#: No decode budget: the decoded-weights pass (which would move some int16 copies into RAM) stays out of the way.
FLASH = {"flash_bytes": 4 << 20, "decode_budget": 0.0}

#: case -> (graph builder, kernel with --optimize speed, kernel with balanced). The rule's threshold lies between
#: each pair of "kept"/"back to int8" shapes of one kind.
CASES = {
    # a batch-1 FC uses each weight once: int16 weights buy ~0.6 instructions per byte
    "bc_fc_256_64": (kernels.fc(256, 64, per_channel=True), "w16", None),
    # Winograd on 24x24 pixels, 16 -> 16 channels: its transformed weights pay; on 6x6 pixels, 48 -> 48 they do not
    "bc_wino_24x24_c16": (kernels.conv(24, 24, 16, 16, 3, 1, "SAME"), "winograd", "winograd"),
    "bc_wino_6x6_c48": (kernels.conv(6, 6, 48, 48, 3, 1, "SAME"), "winograd", "specialized"),
    # a 1x1 layer on 6x6 pixels, 63 channels (rows the int8 FC kernel's six-pixel path does not take): the int16
    # copy saves too little over the specialised int8 convolution
    "bc_pw_6x6_c63_c64": (kernels.conv(6, 6, 63, 64, 1, 1, "VALID"), "pointwise_w16", "specialized"),
    # with 64 channels the int8 FC kernel six pixels per pass beats the copy: no copy for either goal
    "bc_pw_6x6_c64_c64": (kernels.conv(6, 6, 64, 64, 1, 1, "VALID"), "pointwise_s8", "pointwise_s8"),
}


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
        int8, copy = rep["candidates"][balanced or "int8"], rep["candidates"][speed]
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
