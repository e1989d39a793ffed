"""The kernels of cores without SIMD (``firmware/kernels/scalar/``: Cortex-M0/M0+/M3, RV32IMC) against the
reference, bit for bit, on the host under ASan/UBSan: the portable kernels' conv and FC cases plus the block
edges (1, 3, 4, 5, 7, 8, 9 output channels around the 4- and 8-channel blocks). On the emulated cores they run
in ``test_cores.py``."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from edgesdk.boards import get_board
from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host
from test_c_kernels import CASES, conv, dwconv, fc

TARGET = "scalar"

EXTRA = {
    "conv_5x4_c3_c1_k3_s1_same": conv(5, 4, 3, 1, 3, 1, "SAME"),
    "conv_6x5_c5_c7_k3_s2_valid_relu": conv(6, 5, 5, 7, 3, 2, "VALID", act="RELU"),
    "conv_7x5_c4_c9_k3_dil2_same": conv(7, 5, 4, 9, 3, 1, "SAME", d=2),
    "conv_4x4_c17_c8_k1_s1_same": conv(4, 4, 17, 8, 1, 1, "SAME"),
    "fc_7_3": fc(7, 3),
    "fc_9_5_per_channel": fc(9, 5, per_channel=True),
    "fc_33_9_relu_batches2": fc(33, 9, act="RELU", batches=2),
    "fc_8_17": fc(8, 17),
}
_PORTABLE = [k for k in CASES if k.startswith(("conv_", "fc_"))][:2]
TABLE = {**EXTRA, **{k: CASES[k] for k in _PORTABLE}}


def test_cores_without_simd_select_the_scalar_kernels() -> None:
    for name in ("microbit", "mps2-an385", "qemu-riscv32"):
        assert get_board(name).kernel_target == TARGET


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize("case", list(TABLE))
def test_scalar_kernel_on_host_under_sanitizers(case: str, tmp_path: Path) -> None:
    graph = TABLE[case](case)
    project, exe = generate_and_build(graph, tmp_path, sanitize=True, target=TARGET)
    x = random_inputs(project.input_size, 12, seed=zlib.crc32(case.encode()))
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))


DW_TABLE = {
    **{k: v for k, v in CASES.items() if k.startswith("dw_")},
    "dw_6x5_c16_m1_k3_s1_same": dwconv(6, 5, 16, 1, 3, 1, "SAME"),
    "dw_7x7_c17_m1_k3_s2_same_relu": dwconv(7, 7, 17, 1, 3, 2, "SAME", act="RELU"),
    "dw_5x4_c6_m1_k3_s1_valid": dwconv(5, 4, 6, 1, 3, 1, "VALID"),
    "dw_8x7_c35_m1_k5_dil2_same": dwconv(8, 7, 35, 1, 5, 1, "SAME", d=2),
}


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize("case", list(DW_TABLE))
def test_scalar_depthwise_on_host_under_sanitizers(case: str, tmp_path: Path) -> None:
    """The scalar depthwise kernel: blocks of 16 channels in groups of four (1, 2, 3 channels left over),
    padding taps that read the zero point, strides, dilation and depth multipliers."""
    graph = DW_TABLE[case](case)
    project, exe = generate_and_build(graph, tmp_path, sanitize=True, target=TARGET)
    x = random_inputs(project.input_size, 12, seed=zlib.crc32(case.encode()))
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))
