"""Lowerings of the packed ternary / binary kernels (``firmware/kernels/ed_packed.c``).

Chosen by ``edgesdk.passes.packed_weights`` (``node.attrs["kernel"]`` = ``"ternary"`` or ``"binary"``). The weights
are written as bit-planes (:func:`edgesdk.reference.binary.weight_planes`); per-channel magnitudes only when they
are not one common value. For FULLY_CONNECTED the input offset is folded into the bias
(``bias + input_offset * (b * n_pos - a * n_neg)`` per channel), which keeps the accumulator the int8 kernel's.
"""

from __future__ import annotations

import numpy as np

from edgesdk.backends.c.dsp import DSP_TARGET
from edgesdk.backends.c.generator import CONV_FIELDS, _LayerBuilder
from edgesdk.errors import UnsupportedOpError
from edgesdk.passes.packed_weights import pointwise_as_fc
from edgesdk.reference.binary import WeightPlanes, code_rows, interleave_rows4, unpack_bits, weight_planes

PACKED_KERNEL_FILE = "ed_packed.c"
#: Ternary / binary FC rows as codes for the DSP multiply-accumulate (Cortex-M DSP kernel target).
CODES_KERNEL_FILE = "ed_fc_codes.c"


def _planes(b: _LayerBuilder, kind: str) -> WeightPlanes:
    w = b.t(1)
    planes = weight_planes(w.data.reshape(w.shape[0], -1), allow_binary=(kind == "binary"))  # type: ignore[union-attr]
    if planes is None or planes.kind != kind:
        raise UnsupportedOpError(
            f"layer {b.node.name}: weights are not {kind}; the {kind} kernel cannot run it"
        )
    return planes


def _common(
    b: _LayerBuilder,
    planes: WeightPlanes,
    bias_values: np.ndarray | None,
    codes: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """The fields both packed kernels share; with ``codes`` (:func:`code_rows`) the rows as codes for
    ed_fc_codes.c instead of planes, with one magnitude a row."""
    p = b.p
    mult, shift, per_channel = b.requant_arrays(p["output_multiplier"], p["output_shift"])
    b.ints(per_channel=per_channel)
    wpos, wneg = (planes.wpos, planes.wneg) if codes is None else (codes[1], codes[1])
    sym = int(wpos[0]) if np.all(wpos == wpos[0]) and np.all(wneg == wpos[0]) else None
    b.ints(words=planes.words, wval=sym if sym is not None else 127)
    for name, plane in (("plane_pos", planes.pos), ("plane_neg", planes.neg)):
        stored = codes is None and plane is not None
        b.ptr_field(name, b.const_array(name, plane.astype(np.int64), "uint32_t") if stored else None)  # type: ignore[union-attr]
    b.ptr_field("wpos", b.const_array("wpos", wpos, "int16_t") if sym is None else None)
    b.ptr_field("wneg", b.const_array("wneg", wneg, "int16_t") if sym is None and codes is None else None)
    b.ptr_field("bias", b.const_array("bias", bias_values, "int32_t") if bias_values is not None else None)
    b.ptr_field("multiplier", mult)
    b.ptr_field("shift", shift)
    b.kernel_files = [PACKED_KERNEL_FILE]


def folded_fc_bias(planes: WeightPlanes, bias: np.ndarray | None, input_offset: int) -> np.ndarray:
    """FC bias with the input offset folded in: ``bias + input_offset * sum_i w_i`` per output channel."""
    n_pos = unpack_bits(planes.pos, planes.row_bits).sum(axis=1).astype(np.int64)
    if planes.neg is not None:
        n_neg = unpack_bits(planes.neg, planes.row_bits).sum(axis=1).astype(np.int64)
    else:
        n_neg = planes.row_bits - n_pos
    base = np.zeros(planes.rows, dtype=np.int64) if bias is None else bias
    return base + int(input_offset) * (planes.wpos * n_pos - planes.wneg * n_neg)


def _fc_fields(
    b: _LayerBuilder, kind: str, planes: WeightPlanes, batches: int, in_depth: int, out_depth: int
) -> None:
    """An ``ed_fc_packed_params_t`` layer: the bit-plane kernel, or on DSP targets where every row has one
    magnitude the codes kernel (``ed_fc_codes.c``)."""
    p = b.p
    b.act_input(0)
    b.ints(batches=batches, in_depth=in_depth, out_depth=out_depth)
    b.ints(output_offset=p["output_offset"], act_min=p["activation_min"], act_max=p["activation_max"])
    b.fields.append(
        ("rounding", "ED_ROUNDING_SINGLE" if b.gen.rounding == "single" else "ED_ROUNDING_DOUBLE")
    )
    bias = folded_fc_bias(planes, b.bias_values(), int(p["input_offset"]))
    codes = code_rows(planes) if b.gen.target == DSP_TARGET else None
    _common(b, planes, bias, codes)
    stored = interleave_rows4(codes[0], kind == "binary") if codes is not None else None
    b.ptr_field("codes", b.const_array("codes", stored, "uint8_t") if stored is not None else None)
    b.kernel, b.params_type = f"ed_fc_{kind}_s8", "ed_fc_packed_params_t"
    if codes is not None:  # the DSP multiply-accumulate on codes (one magnitude a row)
        b.kernel, b.kernel_files = f"ed_fc_{kind}_codes_s8", [CODES_KERNEL_FILE]


def _lower_fc(b: _LayerBuilder, kind: str) -> None:
    p = b.p
    planes = _planes(b, kind)
    if int(p["filter_offset"]) != 0:
        raise UnsupportedOpError(f"layer {b.node.name}: packed weights need a zero weight offset")
    in_features = int(p["in_features"])
    _fc_fields(b, kind, planes, b.t(0).size // in_features, in_features, int(p["out_features"]))


def _lower_conv(b: _LayerBuilder, kind: str) -> None:
    p = b.p
    if int(p["dilation_h"]) != 1 or int(p["dilation_w"]) != 1:
        raise UnsupportedOpError(f"layer {b.node.name}: the packed conv kernel has no dilation")
    planes = _planes(b, kind)
    if b.gen.target == DSP_TARGET and pointwise_as_fc(p) and code_rows(planes) is not None:
        _fc_fields(b, kind, planes, int(p["out_h"]) * int(p["out_w"]), int(p["in_c"]), int(p["out_c"]))
        return  # a 1x1 convolution as the codes FC over its pixels
    b.act_input(0)
    b.conv_fields(*(f for f in CONV_FIELDS if f not in ("dil_h", "dil_w")))
    bias = b.bias_values()
    _common(b, planes, bias)
    folded = folded_fc_bias(planes, bias, int(p["input_offset"]))
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
