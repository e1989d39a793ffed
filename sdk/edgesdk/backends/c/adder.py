"""Lowering of ``EDGESDK_ADDER_CONV_2D`` (AdderNet) to ``firmware/kernels/ed_adder.c``.

The parameters are the reference's (:mod:`edgesdk.reference.adder`), so C and reference agree by construction.
"""

from __future__ import annotations

import numpy as np

from edgesdk.backends.c.generator import CONV_FIELDS, _LayerBuilder
from edgesdk.errors import UnsupportedOpError


def lower_adder(b: _LayerBuilder) -> None:
    p, node = b.p, b.node
    w = b.t(1)
    if w.data is None or w.dtype != "int16":
        raise UnsupportedOpError(f"layer {node.name}: {node.op} needs constant int16 weights")
    b.act_input(0)
    weights = b.encoded_array("weights")  # the int16 weights as they are
    bias = b.bias_array()
    mult = b.const_array("multiplier", np.asarray(p["output_multiplier"], np.int64), "int32_t")
    shift = b.const_array("shift", np.asarray(p["output_shift"], np.int64), "int32_t")
    b.conv_fields(*(f for f in CONV_FIELDS if f not in ("dil_h", "dil_w", "input_offset")))
    b.ints(input_zero_point=p["input_zero_point"])
    b.requant_ptrs(weights, bias, mult, shift)
    b.kernel, b.params_type = "ed_adder_conv_s8", "ed_adder_params_t"
    b.kernel_files = ["ed_adder.c"]


# A new op: lowered with or without the adder pass's annotation.
