"""C lowering of a FULLY_CONNECTED annotated ``kernel = "w16"``: ``ed_fc_w16_s8`` (``firmware/kernels/ed_fc_w16.c``)
with the int8 weights (plus the weight offset) pre-extended to int16 at export in the kernel's blocked order.
Twice the flash of the int8 weights for fewer instructions; ``passes/fc_weights16.py`` decides per layer."""

from __future__ import annotations

import numpy as np

from edgesdk.backends.c import cformat as cf
from edgesdk.backends.c.generator import KERNEL_SUBDIR, _LayerBuilder, constant_rows_requant
from edgesdk.compiler.planner import PW_SCRATCH, pw_scratch_name
from edgesdk.compiler.weight_encoding import weight_layout
from edgesdk.errors import UnsupportedOpError

KERNEL = "w16"
#: A 1x1 stride-1 convolution run by the same kernel (passes/pointwise.py).
POINTWISE = "pointwise_w16"
#: A convolution with few input channels as im2col + the same kernel (passes/im2col.py).
IM2COL = "im2col_w16"
#: A 1x1 stride-1 convolution run by the int8-weight FC kernel (``ed_fc_s8``; passes/pointwise.py).
POINTWISE8 = "pointwise_s8"
#: im2col by bands of pixels + the int8-weight FC kernel (passes/im2col.py).
IM2COL8 = "im2col_s8"


def lower_fc_w16(b: _LayerBuilder) -> None:
    """Emit the layer's int16 weights, bias and requantization arrays and its ``ed_fc_w16_params_t``; a layer
    marked ``specialize`` gets its own instance of the kernel body."""
    p = b.p
    in_features = int(p["in_features"])
    _emit_w16(
        b,
        w2d=b.t(1),
        filter_offset=p["filter_offset"],
        batches=b.t(0).size // in_features,
        rounding=b.gen.rounding,
    )
    if b.node.attrs.get("specialize"):
        _instantiate(b, "fc", "the int16-weight FC body instantiated for this layer's constant parameters")


def lower_pointwise_w16(b: _LayerBuilder) -> None:
    """A 1x1 stride-1 CONV_2D as the int16-weight FC kernel: every pixel is one FC input row (channels are
    innermost in NHWC), the (O, 1, 1, I) filters are the (O, I) FC weights. TFLite's conv requantizes with double
    rounding, so the layer keeps it whatever the export's FC rounding option is."""
    p = b.p
    if (p["filter_h"], p["filter_w"], p["stride_h"], p["stride_w"]) != (1, 1, 1, 1):
        raise UnsupportedOpError(
            f"layer {b.node.name}: the pointwise kernel needs a 1x1 stride-1 convolution"
        )
    _emit_w16(b, w2d=b.t(1), filter_offset=0, batches=p["in_h"] * p["in_w"], rounding="double")
    if b.node.attrs.get("specialize"):
        _instantiate(b, "fc", "the int16-weight FC body instantiated for this layer's constant parameters")


def lower_pointwise_s8(b: _LayerBuilder) -> None:
    """A 1x1 stride-1 CONV_2D as the int8-weight FC kernel ``ed_fc_s8``: every pixel one FC input row, the
    (O, 1, 1, I) filters the (O, I) weights in the target's FC layout (the same bytes as the conv's), per-channel
    requantization, TFLite's double rounding whatever the export's FC rounding option is."""
    p, node = b.p, b.node
    if (p["filter_h"], p["filter_w"], p["stride_h"], p["stride_w"]) != (1, 1, 1, 1):
        raise UnsupportedOpError(f"layer {node.name}: the pointwise kernel needs a 1x1 stride-1 convolution")
    wdata, weights = _int8_fc_weights(b, "pointwise")
    _fc_fields(b, wdata.shape, weights, p["in_h"] * p["in_w"], "double", weights_offset=0)
    # the DSP cores' entry for pixels (thin layers, few-pixel maps: cortex-m-dsp/ed_fc.c), or its thin path where
    # passes/pointwise.py chose it (attrs["pointwise_path"]); elsewhere ed_fc_s8
    b.kernel = "ed_fc_s8"
    if b.gen.target == "cortex-m-dsp":
        b.kernel = "ed_fc_thin_s8" if node.attrs.get("pointwise_path") == "thin" else "ed_fc_pw_s8"
    b.params_type = "ed_fc_params_t"
    b.kernel_files = ["ed_fc.c"]
    if (
        b.gen.target == "cortex-m-dsp"
        and node.attrs.get(PW_SCRATCH)
        and node.attrs.get("kernel") == POINTWISE8
    ):
        # the scratch block the planner gave the layer (arena bytes free at its step), if any
        from edgesdk.backends.c.dw_inplace import _plan

        scratch = next((x for x in _plan(b.gen).buffers if x.name == pw_scratch_name(node.name)), None)
        if scratch is not None:
            fn = b.gen.ident(b.gen.model, b.cname, "pw")
            b.render(
                "pointwise_scratch",
                comment=cf.c_comment(
                    f"{node.name}: 1x1 convolution, longer passes over a scratch block (ed_fc_pw_buf_s8)."
                ),
                fn=fn,
                scratch=f"{b.gen.prefix}_TENSOR({cf.c_int(scratch.offset, 'uint32_t')})",
                scratch_offset=scratch.offset,
                scratch_bytes=scratch.size,
            )
            b.kernel = fn
    elif b.gen.target == "cortex-m-dsp" and node.attrs.get("pointwise_path") == "thin_layer":
        _thin_layer(b, wdata.shape[1], p)


def _thin_layer(b: _LayerBuilder, k: int, p) -> None:
    """The layer's own thin sequence (``templates/c/thin_layer.c.j2``, run by ``ed_fc_thin_layer_s8``): the
    channel loop unrolled over its outputs, each channel's right shift an immediate of its SSAT."""
    shifts = [-int(s) for s in np.broadcast_to(b.shift_values, (int(p["out_c"]),))]
    fn = b.gen.ident(b.gen.model, b.cname, "thin")
    b.render(
        "thin_layer",
        kdir=KERNEL_SUBDIR,
        fn=fn,
        k=k,
        out="ED_FC_THIN_NOFIX" if int(p["output_offset"]) == -128 else "ED_FC_THIN_FIX",
        shifts=[f", asr #{e}" if e else "" for e in shifts],
        comment=cf.c_comment(f"{b.node.name}: the thin 1x1 sequence of its {int(p['out_c'])} channels."),
    )
    b.kernel = fn


def lower_im2col_s8(b: _LayerBuilder) -> None:
    """A CONV_2D with few input channels as im2col by bands of pixels + the int8-weight FC kernel
    (``ed_im2col_conv_fc_s8`` in ``ed_im2col.h``): the (O, K) filters in the target's FC layout (the conv's
    bytes), a static column of ``band * K`` bytes outside the arena (``passes/im2col.py`` sizes the band)."""
    p, node = b.p, b.node
    # On the DSP targets each window's row is padded to a multiple of 4 bytes (zero weights; the column's pad
    # bytes stay zero) so that the FC kernel's word loop and its six-pixel path take every input.
    pad = (-int(np.prod(b.t(1).shape[1:]))) % 4 if weight_layout(b.gen.target, "FULLY_CONNECTED") else 0
    wdata, weights = _int8_fc_weights(b, "im2col", pad=pad)
    _fc_fields(b, wdata.shape, weights, 1, "double", weights_offset=0)
    b.params_type = "ed_fc_params_t"
    band = int(node.attrs.get("im2col_band", 1))
    _instantiate(
        b,
        "im2col",
        f"im2col - bands of {band} pixels' {p['filter_h']}x{p['filter_w']}x{p['in_c']} windows gathered into a "
        f"column{f' (rows padded to {wdata.shape[1]} bytes)' if pad else ''}, then the int8-weight FC kernel "
        f"over {p['out_c']} filters",
        window=_window(p),
        band=band,
        row=int(wdata.shape[1]),
    )
    b.kernel_files = ["ed_fc.c"]


def _window(p) -> dict[str, int]:
    """The ``ed_im2col_params_t`` fields of a convolution's parameters."""
    return {
        "in_h": p["in_h"], "in_w": p["in_w"], "in_c": p["in_c"], "out_h": p["out_h"], "out_w": p["out_w"],
        "k_h": p["filter_h"], "k_w": p["filter_w"], "stride_h": p["stride_h"], "stride_w": p["stride_w"],
        "dil_h": p["dilation_h"], "dil_w": p["dilation_w"], "pad_top": p["pad_h"], "pad_left": p["pad_w"],
        "zero_point": -p["input_offset"],
    }  # fmt: skip


def lower_im2col_w16(b: _LayerBuilder) -> None:
    """A CONV_2D with few input channels as im2col + the int16-weight FC body (``ed_im2col.h``): per output
    pixel its window gathered into a per-layer column buffer of k_h * k_w * in_c bytes, then the (O, K) filters
    (OHWI flattened: the column's order) times the column. Always instantiated per layer."""
    p = b.p
    k = p["filter_h"] * p["filter_w"] * p["in_c"]
    _emit_w16(b, w2d=b.t(1), filter_offset=0, batches=1, rounding="double")
    window = _window(p)
    _instantiate(
        b,
        "im2col",
        f"im2col - each output pixel's {p['filter_h']}x{p['filter_w']}x{p['in_c']} window gathered into a "
        f"{k}-byte column, then the int16-weight FC body over {p['out_c']} filters",
        window=window,
    )


def _emit_w16(b: _LayerBuilder, w2d, filter_offset: int, batches: int, rounding: str) -> None:
    """The int16 weights, bias, requantization arrays and ``ed_fc_w16_params_t`` of the layer (input 0 times
    ``w2d`` reshaped to (out, in)), run by the shared ``ed_fc_w16_s8``."""
    node = b.node
    if w2d.dtype != "int8" or w2d.data is None:
        raise UnsupportedOpError(f"layer {node.name}: the int16-weight FC kernel needs constant int8 weights")
    wdata = w2d.data.reshape(w2d.shape[0], -1)
    b.act_input(0)
    weights = b.encoded_array("weights16")  # the int8 weights plus the FC's weight offset, in int16 blocks
    _fc_fields(b, wdata.shape, weights, batches, rounding)
    b.kernel, b.params_type = "ed_fc_w16_s8", "ed_fc_w16_params_t"
    b.kernel_files = ["ed_fc_w16.c"]


def _int8_fc_weights(b: _LayerBuilder, kind: str, pad: int = 0) -> tuple[np.ndarray, str]:
    """The layer's constant int8 weights as (out, in) (with ``pad`` zero columns appended to each row) and as the
    array of the target's FC layout (the int8 FC kernel reads them: the conv's bytes in another order)."""
    w = b.t(1)
    if w.dtype != "int8" or w.data is None:
        raise UnsupportedOpError(f"layer {b.node.name}: the {kind} kernel needs constant int8 weights")
    wdata = np.asarray(w.data).astype(np.int64).reshape(w.shape[0], -1)
    if pad:
        wdata = np.pad(
            wdata, ((0, 0), (0, pad))
        )  # as the encoding pads the rows (weight_encoding._im2col_int8)
    b.act_input(0)
    return wdata, b.encoded_array("weights")


def _fc_fields(
    b: _LayerBuilder, shape: tuple[int, ...], weights: str, batches: int, rounding: str, weights_offset=None
) -> None:
    """The bias, requantization arrays and parameter fields of an FC-kernel layer (``ed_fc_params_t`` with
    ``weights_offset``, ``ed_fc_w16_params_t`` without) whose (out, in) weights are the array ``weights``."""
    p = b.p
    bias, mult, shift, per_channel = constant_rows_requant(
        b, b.bias_values()
    )  # pruned rows: a small bias, the fast paths
    offsets = {} if weights_offset is None else {"weights_offset": weights_offset}
    b.ints(
        batches=batches,
        in_depth=shape[1],
        out_depth=shape[0],
        input_offset=p["input_offset"],
        **offsets,
        output_offset=p["output_offset"],
        act_min=p["activation_min"],
        act_max=p["activation_max"],
        per_channel=per_channel,
    )
    b.rounding_field(rounding)
    b.requant_ptrs(weights, bias, mult, shift)


def _instantiate(
    b: _LayerBuilder,
    what: str,
    description: str,
    window: dict[str, int] | None = None,
    band: int = 0,
    row: int = 0,
) -> None:
    """Run the layer through its own instance of the FC body (``templates/c/fc_w16_layer.c.j2``) instead of
    the shared ``ed_fc_w16_s8``: with ``window``, im2col's gather (``ed_im2col_params_t`` fields) before it;
    ``row``: bytes per pixel in the column (default the window's)."""
    ident = b.gen.ident
    fn = ident(b.gen.model, b.cname, what)
    ctx = {
        "kdir": KERNEL_SUBDIR,
        "fn": fn,
        "comment": cf.c_comment(f"{b.node.name}: {description}."),
        "window": "",
        "band": cf.c_int(band) if band else "",
    }
    if window is not None:
        ctx.update(
            window=ident(b.gen.model, b.cname, "window"),
            window_fields=[(name, cf.c_int(int(v))) for name, v in window.items()],
            column=ident(b.gen.model, b.cname, "column"),
            column_len=cf.c_int((row or window["k_h"] * window["k_w"] * window["in_c"]) * max(1, band)),
        )
    b.render("fc_w16_layer", **ctx)
    b.kernel = fn
    b.kernel_files = []
