"""Lowerings of the packed ternary / binary kernels (``firmware/kernels/ed_packed.c``, ``ed_fc_codes.c``).

Chosen by ``edgesdk.passes.packed_weights`` (``node.attrs["kernel"]`` = ``"ternary"`` or ``"binary"``). The weights
are written as the node's encoding holds them (:func:`edgesdk.compiler.weight_encoding.planes_arrays`): bit-planes, per-channel
magnitudes only when they are not one common value, or on the DSP target the rows as codes. For FULLY_CONNECTED
the input offset is folded into the bias (``bias + input_offset * sum_i w_i`` per channel), which keeps the
accumulator the int8 kernel's.
"""

from __future__ import annotations

import numpy as np

from edgesdk.backends.c.compressed import folded_bias
from edgesdk.backends.c.generator import CONV_FIELDS, _LayerBuilder
from edgesdk.compiler.weight_encoding import Encoding
from edgesdk.errors import UnsupportedOpError

PACKED_KERNEL_FILE = "ed_packed.c"
#: Ternary / binary FC rows as codes for the DSP multiply-accumulate (Cortex-M DSP kernel target).
CODES_KERNEL_FILE = "ed_fc_codes.c"


def _bias_of(b: _LayerBuilder, bias: np.ndarray | None, input_offset: int) -> np.ndarray:
    """The layer's bias (zeros where it has none) with ``input_offset * sum_i w_i`` folded in."""
    w = np.asarray(b.t(1).data).astype(np.int64)
    base = np.zeros(w.shape[0], dtype=np.int64) if bias is None else bias
    return folded_bias(w, base, input_offset)


def _common(b: _LayerBuilder, enc: Encoding, bias_values: np.ndarray | None) -> None:
    """The fields both packed kernels share, from the weights' encoding (planes, or codes for ed_fc_codes.c)."""
    p = b.p
    mult, shift, per_channel = b.requant_arrays(p["output_multiplier"], p["output_shift"])
    b.ints(per_channel=per_channel)
    b.ints(words=enc.info["words"], wval=enc.info["wval"])
    for name in ("plane_pos", "plane_neg", "wpos", "wneg"):
        b.ptr_field(name, b.encoded_array(name) if name in enc else None)
    b.ptr_field("bias", b.const_array("bias", bias_values, "int32_t") if bias_values is not None else None)
    b.ptr_field("multiplier", mult)
    b.ptr_field("shift", shift)
    b.kernel_files = [PACKED_KERNEL_FILE]


def _fc_fields(b: _LayerBuilder, kind: str, batches: int, in_depth: int, out_depth: int) -> None:
    """An ``ed_fc_packed_params_t`` layer: the bit-plane kernel, or on DSP targets where every row has one
    magnitude the codes kernel (``ed_fc_codes.c``)."""
    p = b.p
    enc = b.encoding
    b.act_input(0)
    b.ints(batches=batches, in_depth=in_depth, out_depth=out_depth)
    b.ints(output_offset=p["output_offset"], act_min=p["activation_min"], act_max=p["activation_max"])
    b.fields.append(
        ("rounding", "ED_ROUNDING_SINGLE" if b.gen.rounding == "single" else "ED_ROUNDING_DOUBLE")
    )
    _common(b, enc, _bias_of(b, b.bias_values(), int(p["input_offset"])))
    b.ptr_field("codes", b.encoded_array("codes") if "codes" in enc else None)
    b.kernel, b.params_type = f"ed_fc_{kind}_s8", "ed_fc_packed_params_t"
    if enc.info["codes"]:  # the DSP multiply-accumulate on codes (one magnitude a row)
        b.kernel, b.kernel_files = f"ed_fc_{kind}_codes_s8", [CODES_KERNEL_FILE]


def _lower_fc(b: _LayerBuilder, kind: str) -> None:
    p = b.p
    if int(p["filter_offset"]) != 0:
        raise UnsupportedOpError(f"layer {b.node.name}: packed weights need a zero weight offset")
    in_features = int(p["in_features"])
    _fc_fields(b, kind, b.t(0).size // in_features, in_features, int(p["out_features"]))


def _lower_conv(b: _LayerBuilder, kind: str) -> None:
    p = b.p
    if int(p["dilation_h"]) != 1 or int(p["dilation_w"]) != 1:
        raise UnsupportedOpError(f"layer {b.node.name}: the packed conv kernel has no dilation")
    enc = b.encoding
    if enc.info["codes"]:
        _fc_fields(b, kind, int(p["out_h"]) * int(p["out_w"]), int(p["in_c"]), int(p["out_c"]))
        return  # a 1x1 convolution as the codes FC over its pixels
    b.act_input(0)
    b.conv_fields(*(f for f in CONV_FIELDS if f not in ("dil_h", "dil_w")))
    bias = b.bias_values()
    _common(b, enc, bias)
    folded = _bias_of(b, bias, int(p["input_offset"]))
    b.ptr_field("bias_folded", b.const_array("bias_folded", folded, "int32_t"))
    b.kernel, b.params_type = f"ed_conv_{kind}_s8", "ed_conv_packed_params_t"


def lower_fc_ternary(b: _LayerBuilder) -> None:
    _lower_fc(b, "ternary")


def lower_fc_binary(b: _LayerBuilder) -> None:
    _lower_fc(b, "binary")


def lower_conv_ternary(b: _LayerBuilder) -> None:
    _lower_conv(b, "ternary")


def lower_conv_binary(b: _LayerBuilder) -> None:
    _lower_conv(b, "binary")
