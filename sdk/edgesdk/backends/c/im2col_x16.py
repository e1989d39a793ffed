"""C lowering of a CONV_2D annotated ``kernel = "im2col_x16"`` (``passes/im2col.py``): a convolution with few input
channels as im2col straight into int16 pairs, two pixels by two output channels at a time
(``firmware/kernels/cortex-m-dsp/ed_im2col_x16.h``). The int8 weights stay in flash in the kernel's column order;
each layer gets its own Armv7E-M sequence (``templates/c/im2col_x16_layer.c.j2``: the channel pairs unrolled, the
shifts as immediates)."""

from __future__ import annotations

import numpy as np

from edgesdk.backends.c import cformat as cf
from edgesdk.backends.c.generator import KERNEL_SUBDIR, _LayerBuilder
from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import weightformats as wf

KERNEL = "im2col_x16"


#: Largest byte offset of an LDR/LDRSB/LDRH with an immediate (Thumb-2): windows further apart take the C gather.
MAX_OFFSET = 4095


def gather_plan(k_h: int, k_w: int, in_c: int, row_stride: int, step: int) -> list[list[dict]] | None:
    """The column words of a window inside the image as the generated gather reads them (rows ``row_stride`` bytes
    apart), in STM chunks of one or two groups: ``word`` (one LDR at ``offs[0]``), ``single`` (four rows' last
    bytes, LDRSB at ``offs``; None: no such row) or ``half`` (two rows' last two bytes, LDRH); the second pixel's
    window ``step`` bytes on. None where an offset is out of an immediate's reach."""
    row = k_w * in_c
    words = (row + 1) // 4 if row % 4 == 3 else row // 4
    groups: list[dict] = [
        {"kind": "word", "offs": [ky * row_stride + 4 * j]} for ky in range(k_h) for j in range(words)
    ]
    if row % 4 == 1:
        groups += [
            {
                "kind": "single",
                "offs": [(r * row_stride + row - 1) if r < k_h else None for r in range(q, q + 4)],
            }
            for q in range(0, k_h, 4)
        ]
    elif row % 4 == 2:
        groups += [
            {"kind": "half", "offs": [(r * row_stride + row - 2) if r < k_h else None for r in (q, q + 1)]}
            for q in range(0, k_h, 2)
        ]
    if max(o for g in groups for o in g["offs"] if o is not None) + step > MAX_OFFSET:
        return None
    words_only = [g for g in groups if g["kind"] == "word"]
    chunks = [words_only[i : i + 2] for i in range(0, len(words_only), 2)]
    chunks += [[g] for g in groups if g["kind"] != "word"]
    if len(chunks[-1]) == 2:  # the last group stored from r4-r7: the first channel pair starts with it there
        chunks[-1:] = [[chunks[-1][0]], [chunks[-1][1]]]
    return chunks


def lower_im2col_x16(b: _LayerBuilder) -> None:
    """The layer's ``ed_x16_params_t`` (geometry, offsets, clamp, groups, per-channel bias and requantization) and
    its own instance of the kernel with the layer's sequence."""
    p, node = b.p, b.node
    w = b.t(1)
    if w.dtype != "int8" or w.data is None:
        raise UnsupportedOpError(f"layer {node.name}: the {KERNEL} kernel needs constant int8 weights")
    data = np.asarray(w.data)
    bias = b.bias_values()
    why = wf.im2col_x16_refusal(p, data, bias)
    if why is not None:
        raise UnsupportedOpError(f"layer {node.name}: the {KERNEL} kernel cannot run it: {why}")
    out_c, kh, kw, cin = data.shape
    groups = len(wf.im2col_x16_order(kh, kw, cin)) // 4
    plan = gather_plan(kh, kw, cin, int(p["in_w"]) * cin, int(p["stride_w"]) * cin)
    if plan is None:
        raise UnsupportedOpError(
            f"layer {node.name}: the {KERNEL} kernel cannot run it: windows too far apart"
        )
    b.act_input(0)
    weights = b.encoded_array("weights")
    mult = np.broadcast_to(np.asarray(p["output_multiplier"], dtype=np.int64), (out_c,))
    shift = np.broadcast_to(np.asarray(p["output_shift"], dtype=np.int64), (out_c,))
    b.ints(
        in_h=p["in_h"], in_w=p["in_w"], in_c=p["in_c"], out_h=p["out_h"], out_w=p["out_w"], out_c=out_c,
        k_h=kh, k_w=kw, stride_h=p["stride_h"], stride_w=p["stride_w"], pad_top=p["pad_h"], pad_left=p["pad_w"],
        input_offset=p["input_offset"], output_offset=p["output_offset"], act_min=p["activation_min"],
        act_max=p["activation_max"], groups=groups,
    )  # fmt: skip
    b.requant_ptrs(
        weights,
        None if bias is None else b.const_array("bias", bias, "int32_t"),
        b.const_array("multiplier", mult, "int32_t"),
        b.const_array("shift", shift, "int32_t"),
    )
    b.params_type = "ed_x16_params_t"
    b.params_name = b.gen.ident(b.gen.model, b.cname, "params")  # the C fallback's sequence names it
    lo, hi = int(p["activation_min"]), int(p["activation_max"])
    fn = b.gen.ident(b.gen.model, b.cname, "x16")
    blocks = [
        {
            "ld": "ldmdb" if cp % 2 == 0 else "ldmia",  # the gather leaves x at the column's end
            "o": 2 * cp,
            "two": 2 * cp + 1 < out_c,
            "e0": int(-shift[2 * cp]),
            "e1": int(-shift[min(2 * cp + 1, out_c - 1)]),
        }
        for cp in range(-(-out_c // 2))
    ]
    b.render(
        "im2col_x16_layer",
        kdir=KERNEL_SUBDIR,
        fn=fn,
        comment=cf.c_comment(
            f"{node.name}: im2col into int16 pairs - {kh}x{kw}x{cin} windows as {groups} words, two pixels by two "
            f"of the {out_c} filters at a time."
        ),
        blocks=blocks,
        groups=groups,
        fix=lo < int(p["output_offset"]),
        lo=lo,
        hi=hi,
        w_words=-(-out_c // 2) * (6 + 4 * groups),
        x_words=4 * groups,
        gather=plan,
        step=int(p["stride_w"]) * cin,
        params=b.params_name,
        patch_bytes=wf.im2col_x16_patch(kh, kw, cin, int(p["in_w"]), int(p["stride_w"])),
        out_c=out_c,
        row_stride=int(p["in_w"]) * cin,
    )
    b.kernel = fn
    b.kernel_files = []
