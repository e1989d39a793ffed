"""C lowering of a CONV_2D annotated ``kernel = "winograd"``: a per-layer Winograd F(2x2,3x3) function from
``templates/c/winograd_conv.c.j2`` with the layer's shapes baked in, and the weights transformed at export by
``edgesdk.winograd`` (the single source of the integer transforms) into int16 ``[oc][16][in_c rounded to 2]``.

The layer keeps the direct kernel's parameter struct (bias, requantization, clamp) so requantization is the
same code path; its int8 weights are not emitted (the transformed ones replace them).
"""

from __future__ import annotations

import numpy as np

from edgesdk.backends.c.generator import KERNEL_SUBDIR, VARIANT_LOWER, _jinja_env, _LayerBuilder
from edgesdk.errors import UnsupportedOpError
from edgesdk.winograd import F2x2_3x3, applicable, transform_weights

KERNEL = "winograd"


def winograd_weights(w: np.ndarray) -> np.ndarray:
    """OHWI int8 3x3 weights -> int16 array (O, 16, C rounded up to even) of U' = G' g G'^T (|U'| <= 1152)."""
    u = transform_weights(w, F2x2_3x3)  # (4, 4, O, C)
    o, c = u.shape[2], u.shape[3]
    cp = c + (c & 1)
    out = np.zeros((o, 16, cp), dtype=np.int64)
    out[:, :, :c] = u.reshape(16, o, c).transpose(1, 0, 2)
    assert np.abs(out).max(initial=0) < 1 << 15
    return out


def lower_winograd(b: _LayerBuilder) -> None:
    """Emit the per-layer Winograd function and its parameter struct (see the module docstring)."""
    p, node = b.p, b.node
    w = b.t(1)
    if not applicable(p) or w.data is None or w.dtype != "int8" or w.shape[3] != p["in_c"]:
        raise UnsupportedOpError(
            f"layer {node.name}: the Winograd kernel needs a 3x3 stride-1 undilated conv with int8 weights"
        )
    b.act_input(0)
    u = winograd_weights(w.data)
    weights = b.const_array("winograd_weights", u.reshape(-1), "int16_t")
    bias = None
    if len(node.inputs) > 2 and node.inputs[2]:
        bt = b.t(2)
        if bt.data is None or bt.dtype != "int32":
            raise UnsupportedOpError(f"layer {node.name}: the Winograd kernel needs a constant int32 bias")
        bias = b.const_array("bias", bt.data.astype(np.int64), "int32_t")
    mult, shift, per_channel = b.requant_arrays(p["output_multiplier"], p["output_shift"])
    b.ints(
        in_h=p["in_h"], in_w=p["in_w"], in_c=p["in_c"], out_h=p["out_h"], out_w=p["out_w"], out_c=p["out_c"]
    )
    b.ints(
        k_h=3, k_w=3, stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_top=p["pad_h"], pad_left=p["pad_w"],
        input_offset=p["input_offset"], output_offset=p["output_offset"],
        act_min=p["activation_min"], act_max=p["activation_max"], per_channel=per_channel,
    )  # fmt: skip
    b.ptr_field("weights", None)
    b.ptr_field("bias", bias)
    b.ptr_field("multiplier", mult)
    b.ptr_field("shift", shift)
    fn = b.gen.ident(b.gen.model, b.cname, "winograd")
    b.code = (
        _jinja_env()
        .get_template("winograd_conv.c.j2")
        .render(
            name=node.name.replace("*/", "* /"),
            fn=fn,
            kdir=KERNEL_SUBDIR,
            scratch=b.gen.ident(b.gen.model, b.cname, "winograd_v"),
            weights=weights.name,
            cp=int(u.shape[2]),
            **{k: int(p[k]) for k in ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "input_offset")},
            pad_h=int(p["pad_h"]),
            pad_w=int(p["pad_w"]),
        )
    )
    b.kernel, b.params_type = fn, "ed_conv_params_t"
    b.kernel_files = []


VARIANT_LOWER[("CONV_2D", KERNEL)] = lower_winograd
