"""C lowering of a CONV_2D annotated ``kernel = "specialized"``: the Cortex-M DSP convolution body
(``firmware/kernels/cortex-m-dsp/ed_conv_dsp.h``) instantiated for this one layer.

The layer keeps the ordinary ``static const ed_conv_params_t`` and weights of the direct kernel; from
``templates/c/specialized_conv.c.j2`` it gets two small functions:

- ``<model>_<layer>_rows(input, output, oy_begin, oy_end)`` calls the always-inlined body with the address of
  the layer's constant struct, so GCC folds every shape, stride, padding, offset and clamp and unrolls the
  constant-length filter-row dot products (the generated C stays one readable call; the math has one copy, in
  the header the shared ``ed_conv_s8`` uses too). It writes output rows ``[oy_begin, oy_end)``, row
  ``oy_begin`` at ``output[0]``: the band interface a fused conv + residual ADD computes the layer with.
- ``<model>_<layer>_conv(p, input, output)``, the layer's call in ``<model>_invoke``: all rows.

Which layers get a specialised copy (each costs code) is the choice of ``edgesdk.passes.specialize``.
"""

from __future__ import annotations

import numpy as np

from edgesdk.backends.c import cformat as cf
from edgesdk.backends.c.conv_add import ROWS_LOWER
from edgesdk.backends.c.generator import KERNEL_SUBDIR, _conv, _LayerBuilder

KERNEL = "specialized"
#: The same with the weights also pre-extended to int16 for the hot path (2x the int8 weights' flash in addition).
KERNEL16 = "specialized16"


def fast_requant(p: dict, w: np.ndarray, bias: np.ndarray | None) -> bool:
    """Whether the layer's requantization may always take the one-instruction SMMULR form (``ed_mbqm_fast``):
    every shift negative and every accumulator provably within +-2^30 (bias plus the largest possible
    inner product over the filter)."""
    if np.any(np.atleast_1d(np.asarray(p["output_shift"])) >= 0):
        return False
    off = int(p["input_offset"])
    max_x = max(abs(-128 + off), abs(127 + off))
    per_oc = np.abs(w.astype(np.int64)).reshape(w.shape[0], -1).sum(axis=1) * max_x
    if bias is not None:
        per_oc = per_oc + np.abs(bias.astype(np.int64))
    return bool(per_oc.max(initial=0) < (1 << 30))


def lower_specialized(b: _LayerBuilder, fused: bool = False) -> str:
    """Emit the direct conv's params struct and the per-layer functions (see the module docstring); returns the
    band function's name. ``fused``: the layer runs inside a fused conv + ADD (``backends/c/conv_add.py``), which
    calls the band function itself: the params struct goes into the code and there is no whole-layer call."""
    p, node = b.p, b.node
    _conv(b, depthwise=False)
    gen = b.gen
    bias = b.t(2).data if len(node.inputs) > 2 and node.inputs[2] else None
    fast = fast_requant(p, np.asarray(b.t(1).data), None if bias is None else np.asarray(bias))
    w16 = "NULL"
    if node.attrs.get("kernel") == KERNEL16:
        w16 = b.encoded_array("weights16").name  # int16 copy for the interior path, in the node's encoding
    b.params_name = gen.ident(gen.model, b.cname, "params")
    band = gen.ident(gen.model, b.cname, "rows")
    fn = gen.ident(gen.model, b.cname, "conv")
    first = not getattr(gen, "_conv_dsp_included", False)
    gen._conv_dsp_included = True  # type: ignore[attr-defined]
    # IR layer name -> its band function, for a caller that computes the layer by rows.
    gen.conv_bands = {**getattr(gen, "conv_bands", {}), node.name: band}  # type: ignore[attr-defined]
    b.render(
        "specialized_conv",
        include=first,
        kdir=KERNEL_SUBDIR,
        comment=cf.c_comment(
            f"{node.name}: Conv2D {p['in_h']}x{p['in_w']}x{p['in_c']} -> {p['out_h']}x{p['out_w']}x"
            f"{p['out_c']}, {p['filter_h']}x{p['filter_w']} stride {p['stride_h']}x{p['stride_w']}, "
            f"specialised: ed_conv_dsp_rows instantiated with this layer's constant parameters."
        ),
        band=band,
        fn=fn,
        fused=fused,
        params_type=b.params_type,
        fields=b.fields,
        params=b.params_name,
        out_h=cf.c_int(int(p["out_h"])),
        fast=cf.c_int(int(fast)),
        w16=w16,
        w16_note="int16 weights on the interior path" if w16 != "NULL" else "int8 weights",
        fast_note="shifts < 0, |acc| < 2^30: SMMULR requantization" if fast else "general requantization",
    )
    b.kernel = fn
    b.kernel_files = []  # the body is in ed_conv_dsp.h, compiled into the model's own source
    return band


def _rows_lowering(b: _LayerBuilder) -> str:
    return lower_specialized(b, fused=True)


# a specialised convolution fused with the residual ADD it feeds runs by bands through its band function
ROWS_LOWER[KERNEL] = _rows_lowering
ROWS_LOWER[KERNEL16] = _rows_lowering
