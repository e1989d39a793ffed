"""Lowering of the ``shift`` kernel variant of DEPTHWISE_CONV_2D (chosen by ``edgesdk.passes.shift``).

The layer's int8 result, requantization and fused activation included, is tabulated per output channel for
all 256 input values with the reference's own integer math (the shift kernel's encoding,
:func:`edgesdk.compiler.weight_encoding.shift_tables`, stored in the node by the passes), so the C kernel
(``firmware/kernels/ed_shift.c``) only gathers and looks up and is bit-identical to the dense kernel.
"""

from __future__ import annotations

from edgesdk.backends.c.generator import _LayerBuilder
from edgesdk.errors import UnsupportedOpError


def lower_shift(b: _LayerBuilder) -> None:
    node = b.node
    w = b.t(1)
    if w.data is None or w.dtype != "int8":
        raise UnsupportedOpError(f"layer {node.name}: the shift kernel needs constant int8 weights")
    enc = b.encoding  # the tables (weight_encoding.shift_tables), made when the pass chose the kernel
    b.act_input(0)
    b.conv_fields(
        "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "stride_h", "stride_w", "pad_top", "pad_left"
    )
    for name in ("tap_y", "tap_x", "delta", "lut", "pad_value"):
        b.ptr_field(name, b.encoded_array(name, enc))
    b.kernel, b.params_type = "ed_shift_s8", "ed_shift_params_t"
    b.kernel_files = ["ed_shift.c"]
