"""C lowering of a DEPTHWISE_CONV_2D annotated ``kernel = "winograd_dw"``: ``ed_winograd_dw_s8``
(``firmware/kernels/ed_winograd_dw.c``) with the per-channel weights transformed at export by
``edgesdk.numerics.winograd`` (the single source of the integer transforms, shared with the conv kernel and the FPGA
backend) into int16. The layer's int8 weights are not emitted (the transformed ones replace them).
"""

from __future__ import annotations

from edgesdk.backends.c.generator import _LayerBuilder
from edgesdk.errors import UnsupportedOpError
from edgesdk.numerics import winograd

KERNEL = "winograd_dw"


def applicable(p: dict) -> bool:
    """3x3, stride 1, undilated (:func:`edgesdk.numerics.winograd.applicable`), depth multiplier 1."""
    return winograd.applicable(p) and p["depth_multiplier"] == 1


def lower_winograd_dw(b: _LayerBuilder) -> None:
    p, node = b.p, b.node
    w = b.t(1)
    if not applicable(p) or w.data is None or w.dtype != "int8":
        raise UnsupportedOpError(
            f"layer {node.name}: the Winograd depthwise kernel needs a 3x3 stride-1 undilated depthwise conv "
            "with depth multiplier 1 and int8 weights"
        )
    b.act_input(0)
    weights = b.encoded_array("winograd_dw_weights")
    bias = b.bias_array()
    mult, shift, per_channel = b.requant_arrays(p["output_multiplier"], p["output_shift"])
    b.ints(
        in_h=p["in_h"], in_w=p["in_w"], in_c=p["in_c"], out_h=p["out_h"], out_w=p["out_w"],
        pad_top=p["pad_h"], pad_left=p["pad_w"], input_offset=p["input_offset"], output_offset=p["output_offset"],
        act_min=p["activation_min"], act_max=p["activation_max"], per_channel=per_channel,
    )  # fmt: skip
    b.requant_ptrs(weights, bias, mult, shift)
    b.kernel, b.params_type = "ed_winograd_dw_s8", "ed_winograd_dw_params_t"
    b.kernel_files = ["ed_winograd_dw.c"]
