"""The Cortex-M DSP kernel variants (``firmware/kernels/cortex-m-dsp/``) against the reference, bit for bit.

On the host the very same kernel sources compile with ``ed_simd.h``'s portable definitions of the SIMD
instructions and run the kernel table (the portable kernels' cases plus the word and tile edges 4, 15, 16, 17
channels) under ASan/UBSan. On the emulated Cortex-M4 (QEMU mps2-an386) the real SXTB16/SMLAD run a sample of
the table, batched as chains of layers into two firmware builds.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from test_c_backend import GCC, generate_and_build, random_inputs, reference_outputs, run_host
from test_c_kernels import CASES, conv, dwconv, fc

TARGET = "cortex-m-dsp"
KERNEL_DIR = Path(__file__).resolve().parent.parent / "firmware" / "kernels" / TARGET

EXTRA = {
    "conv_7x5_c4_c15_k3_s1_same": conv(7, 5, 4, 15, 3, 1, "SAME"),
    "conv_6x9_c15_c16_k3_s1_valid": conv(6, 9, 15, 16, 3, 1, "VALID"),
    "conv_5x5_c16_c17_k3_s2_same_relu": conv(5, 5, 16, 17, 3, 2, "SAME", act="RELU"),
    "conv_9x9_c17_c4_k3_dil2_valid": conv(9, 9, 17, 4, 3, 1, "VALID", d=2),
    "conv_3x8_c64_c16_k1_s2_same": conv(3, 8, 64, 16, 1, 2, "SAME"),
    "conv_8x8_c31_c32_k3_s1_same": conv(8, 8, 31, 32, 3, 1, "SAME"),
    "dw_7x5_c4_m1_k3_s1_same": dwconv(7, 5, 4, 1, 3, 1, "SAME"),
    "dw_6x9_c15_m1_k3_s2_valid": dwconv(6, 9, 15, 1, 3, 2, "VALID"),
    "dw_5x5_c16_m2_k3_s1_same_relu": dwconv(5, 5, 16, 2, 3, 1, "SAME", act="RELU"),
    "dw_9x9_c17_m1_k3_dil2_same": dwconv(9, 9, 17, 1, 3, 1, "SAME", d=2),
    "fc_4_15": fc(4, 15),
    "fc_16_17_per_channel": fc(16, 17, per_channel=True),
    "fc_15_16_relu": fc(15, 16, act="RELU"),
    "fc_17_4_batches2": fc(17, 4, batches=2),
}


def _overridden(case: str) -> bool:
    prefix = case.split("_")[0]
    files = {"conv": "ed_conv.c", "dw": "ed_dwconv.c", "fc": "ed_fc.c", "add": "ed_elementwise.c"}
    return prefix in files and (KERNEL_DIR / files[prefix]).is_file()


TABLE = {k: v for k, v in {**CASES, **EXTRA}.items() if _overridden(k) or k in EXTRA}


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
@pytest.mark.parametrize("case", list(TABLE))
def test_dsp_kernel_on_host_under_sanitizers(case: str, tmp_path: Path) -> None:
    graph = TABLE[case](case)
    project, exe = generate_and_build(graph, tmp_path, sanitize=True, target=TARGET)
    x = random_inputs(project.input_size, 12, seed=zlib.crc32(case.encode()))
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(graph, x))
