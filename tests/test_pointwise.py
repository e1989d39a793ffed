"""1x1 stride-1 convolutions run by the int16-weight fully-connected kernel (``passes/pointwise.py``).

A kernel table over the issue's channel edges (1, 3, 4, 15, 16, 17, 31, 32, 33, 64 input and output channels),
odd pixel counts, per-channel and per-tensor requantization, ReLU/ReLU6, in one sanitized host build against the
reference bit for bit; the pass's choices; and a sample on the emulated Cortex-M4.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesdk.passes import PassContext, run_pipeline
from kerneltable import run_joined
from test_c_backend import GCC
from test_c_kernels import conv

FLASH = {"flash_bytes": 4 << 20}
# (h, w, in_c, out_c, activation)
CASES = {
    "pw_1x1_c1_o1": (1, 1, 1, 1, "NONE"),
    "pw_3x5_c3_o4": (3, 5, 3, 4, "RELU"),
    "pw_5x3_c4_o15": (5, 3, 4, 15, "NONE"),
    "pw_7x1_c15_o16": (7, 1, 15, 16, "RELU6"),
    "pw_2x3_c16_o17": (2, 3, 16, 17, "NONE"),
    "pw_3x3_c17_o31": (3, 3, 17, 31, "RELU"),
    "pw_1x5_c31_o32": (1, 5, 31, 32, "NONE"),
    "pw_2x2_c32_o33": (2, 2, 32, 33, "RELU"),
    "pw_3x1_c33_o64": (3, 1, 33, 64, "NONE"),
    "pw_5x5_c64_o64": (5, 5, 64, 64, "RELU"),
}


def _graph(case: str):
    h, w, cin, cout, act = CASES[case]
    return conv(h, w, cin, cout, 1, 1, "SAME", act=act)(case)


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_pointwise_kernel_table_on_host_under_sanitizers(tmp_path: Path) -> None:
    force = {case: "pointwise_w16" for case in CASES}
    table = run_joined(
        "pwtable",
        {case: _graph(case) for case in CASES},
        tmp_path,
        ctx=PassContext(core="cortex-m4", force=force, options=FLASH),
        n_inputs=16,
        seed=5,
    )
    kernels = {n.name: n.attrs.get("kernel") for n in table.graph.nodes}
    assert set(kernels.values()) == {"pointwise_w16"}, kernels
    np.testing.assert_array_equal(table.got, table.want)


def test_pointwise_pass_choice() -> None:
    """Speed on a DSP core takes it for 1x1 stride-1 layers; size, unknown flash, a core without DSP, a
    stride-2 or 3x3 layer keep the direct convolution; every decision states both candidates."""

    def kernel(graph, **kw):
        g = run_pipeline(graph, "default", PassContext(**kw))
        return g.nodes[0].attrs.get("kernel"), g.nodes[0].attrs.get("kernel_report", {})

    g = _graph("pw_5x5_c64_o64")
    k, rep = kernel(g, core="cortex-m4", options=FLASH)
    assert k == "pointwise_w16" and "fully-connected" in rep["why"]
    assert rep["candidates"]["pointwise_w16"]["weight_bytes"] == 2 * 64 * 64
    assert kernel(g, core="cortex-m4", optimize="size", options=FLASH)[1]["why"].startswith("--optimize size")
    assert kernel(g, core="cortex-m4")[0] != "pointwise_w16"
    assert kernel(g, core="cortex-m3", options=FLASH)[0] != "pointwise_w16"
    assert kernel(g, core="cortex-m4", options={"flash_bytes": 16 << 10})[0] != "pointwise_w16"
    stride2 = conv(6, 6, 16, 16, 1, 2, "SAME")("pw_s2")
    assert kernel(stride2, core="cortex-m4", options=FLASH)[0] != "pointwise_w16"
    k3 = conv(6, 6, 16, 16, 3, 1, "SAME")("k3")
    assert kernel(k3, core="cortex-m4", options=FLASH)[0] != "pointwise_w16"


@pytest.mark.emulator
@pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)
def test_pointwise_on_emulated_cortex_m4(tmp_path: Path) -> None:
    from edgesdk.boards import get_board
    from edgesdk.device import validate

    graph = _graph("pw_3x3_c17_o31")
    graph.nodes[0].attrs.update(kernel="pointwise_w16", specialize=True)
    summary = validate(graph, get_board("mps2-an386"), count=6, out_dir=tmp_path / "v")
    assert summary.count == 6 and summary.exact == 6, summary.to_dict()
