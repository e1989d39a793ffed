"""Lowerings of the compressed-weight kernel variants: sparse and codebook FULLY_CONNECTED and CONV_2D (``firmware/kernels/ed_sparse.c``, ``ed_codebook.c``) and the per-layer generated pattern CONV_2D
(``templates/c/pattern_conv.c.j2``).

A pass (``edgesdk.passes.sparse``, ``codebook``, ``pattern``) chose the variant and put it in
``node.attrs["kernel"]`` and stored the weights' encoding in the node (:mod:`edgesdk.compiler.weight_encoding`); here its
arrays are written as ``static const`` arrays as they are, so the bytes are the ones the pass counted. The
fully-connected variants fold ``input_offset * sum(w)`` into the bias so their inner loops multiply raw
inputs; the integer result is the dense kernel's exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.backends.c import cformat as cf
from edgesdk.backends.c.generator import _LayerBuilder, conv_geometry
from edgesdk.compiler import kernels as kernel_table
from edgesdk.compiler.weight_encoding import Encoding, sparse_code_bits  # noqa: F401 - sparse_code_bits re-exported
from edgesdk.errors import UnsupportedOpError

#: The kernels' C sources, from the kernel table.
KERNEL_FILES = {k: kernel_table.get(k).sources[0] for k in ("sparse", "codebook")}


def _weights(b: _LayerBuilder) -> np.ndarray:
    w = b.t(1)
    if w.dtype != "int8" or w.data is None:
        raise UnsupportedOpError(f"layer {b.node.name}: op {b.node.op} needs constant int8 weights")
    return w.data.astype(np.int64)


def _bias(b: _LayerBuilder, n: int) -> np.ndarray:
    """The layer's bias, zeros where it has none."""
    bias = b.bias_values()
    return np.zeros(n, np.int64) if bias is None else bias


def folded_bias(w: np.ndarray, bias: np.ndarray, input_offset: int) -> np.ndarray:
    """``bias + input_offset * sum(w)`` per output channel (int32 range checked by the array formatter)."""
    rows = w.reshape(w.shape[0], -1)
    return bias + int(input_offset) * rows.sum(axis=1)


def _fc_common(b: _LayerBuilder, w: np.ndarray) -> tuple[Any, Any, Any]:
    """Input and fields of a compressed FC; returns the folded bias, multiplier and shift arrays."""
    p = b.p
    if int(p["filter_offset"]) != 0:
        raise UnsupportedOpError(
            f"layer {b.node.name}: compressed FULLY_CONNECTED kernels need weights with zero point 0"
        )
    b.act_input(0)
    in_features = int(p["in_features"])
    mult, shift, per_channel = b.requant_arrays(p["output_multiplier"], p["output_shift"])
    b.ints(
        batches=b.t(0).size // in_features,
        in_depth=in_features,
        out_depth=p["out_features"],
        output_offset=p["output_offset"],
        act_min=p["activation_min"],
        act_max=p["activation_max"],
        per_channel=per_channel,
    )
    b.fields.append(
        ("rounding", "ED_ROUNDING_SINGLE" if b.gen.rounding == "single" else "ED_ROUNDING_DOUBLE")
    )
    bias = b.const_array(
        "bias_folded", folded_bias(w, _bias(b, w.shape[0]), int(p["input_offset"])), "int32_t"
    )
    return bias, mult, shift


def _requant_ptrs(b: _LayerBuilder, arrays: tuple[Any, Any, Any]) -> None:
    bias, mult, shift = arrays
    b.ptr_field("bias", bias)
    b.ptr_field("multiplier", mult)
    b.ptr_field("shift", shift)


def _lower_fc_sparse(b: _LayerBuilder) -> None:
    w = _weights(b)
    enc = b.encoding
    code_bits = int(enc.info["code_bits"])
    arrays = _fc_common(b, w)
    b.ints(code_bits=code_bits, codebook_size=(1 << code_bits) if code_bits else 0)
    _row_counts(b, enc)
    b.ptr_field("entries", b.encoded_array("entries"))
    b.ptr_field("values", b.encoded_array("values"))
    b.ptr_field("row_group", b.encoded_array("row_group") if "row_group" in enc else None)
    _requant_ptrs(b, arrays)
    b.kernel, b.params_type = "ed_fc_sparse_s8", "ed_fc_sparse_params_t"
    b.kernel_files = [KERNEL_FILES["sparse"]]


def lower_fc_sparse(b: _LayerBuilder) -> None:
    _lower_fc_sparse(b)


def lower_fc_sparse_codebook(b: _LayerBuilder) -> None:
    _lower_fc_sparse(b)


def _codebook_arrays(b: _LayerBuilder) -> None:
    """The codes, each channel's table and the tables of a codebook layer, as its encoding holds them."""
    for name in ("codes", "row_group", "codebook"):
        b.ptr_field(name, b.encoded_array(name))


def lower_fc_codebook(b: _LayerBuilder) -> None:
    w = _weights(b)
    info = b.encoding.info
    arrays = _fc_common(b, w)
    b.ints(code_bits=info["code_bits"], codebook_size=1 << info["code_bits"], row_bytes=info["row_bytes"])
    _codebook_arrays(b)
    _requant_ptrs(b, arrays)
    b.kernel, b.params_type = "ed_fc_codebook_s8", "ed_fc_codebook_params_t"
    b.kernel_files = [KERNEL_FILES["codebook"]]


def _conv_geometry(b: _LayerBuilder) -> None:
    if b.t(1).shape[3] != b.p["in_c"]:
        raise UnsupportedOpError(f"layer {b.node.name}: op CONV_2D with groups is not supported")


def _conv_fields(b: _LayerBuilder) -> tuple[Any, Any]:
    """Input, geometry and per-channel fields of a compressed CONV_2D; returns its multiplier and shift arrays."""
    p = b.p
    b.act_input(0)
    mult, shift, per_channel = b.requant_arrays(p["output_multiplier"], p["output_shift"])
    _conv_geometry(b)
    b.conv_fields()
    b.ints(per_channel=per_channel)
    return mult, shift


def _conv_bias_requant(b: _LayerBuilder, mult: Any, shift: Any) -> None:
    """The bias (NULL when the layer has none), multiplier and shift pointers of a compressed CONV_2D."""
    b.ptr_field("bias", b.bias_array())
    b.ptr_field("multiplier", mult)
    b.ptr_field("shift", shift)


def _row_counts(b: _LayerBuilder, enc: Encoding) -> None:
    counts = b.encoded_array("row_count")
    wide = enc.info["count_bytes"] != 1
    b.ptr_field("row_count8", None if wide else counts)
    b.ptr_field("row_count16", counts if wide else None)


def lower_conv_sparse(b: _LayerBuilder) -> None:
    _weights(b)
    enc = b.encoding
    mult, shift = _conv_fields(b)
    _row_counts(b, enc)
    b.ptr_field("entries", b.encoded_array("entries"))
    b.ptr_field("values", b.encoded_array("values"))
    _conv_bias_requant(b, mult, shift)
    b.kernel, b.params_type = "ed_conv_sparse_s8", "ed_conv_sparse_params_t"
    b.kernel_files = [KERNEL_FILES["sparse"]]


def lower_conv_codebook(b: _LayerBuilder) -> None:
    _weights(b)
    info = b.encoding.info
    mult, shift = _conv_fields(b)
    b.ints(code_bits=info["code_bits"], codebook_size=1 << info["code_bits"], filter_bytes=info["row_bytes"])
    _codebook_arrays(b)
    _conv_bias_requant(b, mult, shift)
    b.kernel, b.params_type = "ed_conv_codebook_s8", "ed_conv_codebook_params_t"
    b.kernel_files = [KERNEL_FILES["codebook"]]


def lower_conv_pattern(b: _LayerBuilder) -> None:
    """A CONV_2D whose 3x3 kernels follow a few 4-tap patterns: a C function generated for this layer."""
    p = b.p
    w = _weights(b)
    enc = b.encoding
    taps = int(enc.info["n_taps"])
    _conv_geometry(b)
    b.act_input(0)
    mult, shift, per_channel = b.requant_arrays(p["output_multiplier"], p["output_shift"])
    geo = conv_geometry(p)
    b.ints(**geo, per_channel=per_channel)
    bias = _bias(b, w.shape[0])
    values = b.encoded_array("pattern_values")
    kernel_ic = b.encoded_array("kernel_ic")
    group_end = b.encoded_array("group_end")
    bias_arr = b.const_array("bias", bias, "int32_t")
    folded = b.const_array("bias_folded", folded_bias(w, bias, int(p["input_offset"])), "int32_t")
    b.ptr_field("weights", values)
    b.ptr_field("bias", bias_arr)
    b.ptr_field("multiplier", mult)
    b.ptr_field("shift", shift)
    in_w, in_c = int(geo["in_w"]), int(geo["in_c"])
    dh, dw = int(geo["dil_h"]), int(geo["dil_w"])
    patterns = []
    for tap_list in enc.info["taps"]:
        scaled = [(ky * dh, kx * dw) for ky, kx in tap_list]
        patterns.append(
            {
                "taps": [(cf.c_int(ky), cf.c_int(kx)) for ky, kx in scaled],
                "offsets": [cf.c_int((ky * in_w + kx) * in_c) for ky, kx in scaled],
            }
        )
    fn = b.gen.ident(b.gen.model, b.cname, "pattern_conv")
    ints = {k: cf.c_int(int(v)) for k, v in geo.items()}
    b.render(
        "pattern_conv",
        comment=cf.c_comment(b.node.name),
        fn=fn,
        taps=cf.c_int(taps),
        patterns=patterns,
        span_h=cf.c_int(2 * dh),
        span_w=cf.c_int(2 * dw),
        kernel_ic=kernel_ic.name,
        group_end=group_end.name,
        values=values.name,
        bias=bias_arr.name,
        bias_folded=folded.name,
        **ints,
    )
    b.code = b.code.rstrip("\n")
    b.kernel, b.params_type = fn, "ed_conv_params_t"
    b.kernel_files = []
