"""C lowering of a CONV_2D or FULLY_CONNECTED annotated ``kernel = "decoded"`` (``passes/decoded.py``): the
layer's weights stay compressed in flash (bit-planes, codebook codes or sparse entries) and are decoded once per
call into a RAM scratch (``firmware/kernels/ed_decode.c``), where the int8 kernel the layer would run anyway
reads them: the shared or specialised direct DSP convolution (int8 OHWI rows), or the int16-weight FC body as
1x1 convolution, im2col or fully-connected layer (its blocked int16 layout).

The inner kernel is lowered as usual; its weights array is replaced by a macro naming the model's one decode
scratch (shared by every decoded layer, sized for the largest), so the inner kernel's constant parameters keep a
constant weights address. The layer's call decodes, then runs the inner kernel.
"""

from __future__ import annotations

import numpy as np

from edgesdk.backends.c import cformat as cf
from edgesdk.backends.c.compressed import sparse_code_bits
from edgesdk.backends.c.dw_inplace import _plan
from edgesdk.backends.c.generator import (
    _LOWER,
    KERNEL_SUBDIR,
    VARIANT_LOWER,
    _LayerBuilder,
)
from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import weightformats as wf
from edgesdk.reference.binary import weight_planes

KERNEL = "decoded"
DECODE_FILE = "ed_decode.c"
FORMATS = {"ternary": 0, "binary": 1, "codebook": 2, "sparse": 3, "sparse_codebook": 3, "int8": 4}


def _format_fields(b: _LayerBuilder, fmt: str, w2d: np.ndarray) -> list[tuple[str, str]]:
    """The compressed arrays (``static const``, flash) and the format's fields of ``ed_decode_params_t``."""
    name = b.node.name
    f: dict[str, str] = {}
    if fmt in ("ternary", "binary"):
        planes = weight_planes(w2d, allow_binary=fmt == "binary")
        if planes is None or planes.kind != fmt:
            raise UnsupportedOpError(f"layer {name}: weights are not {fmt}; they cannot be decoded as such")
        sym = planes.symmetric
        f["words"] = cf.c_int(planes.words)
        f["wval"] = cf.c_int(sym if sym is not None else 127)
        f["plane_pos"] = b.const_array("plane_pos", planes.pos.astype(np.int64), "uint32_t").name
        if planes.neg is not None:
            f["plane_neg"] = b.const_array("plane_neg", planes.neg.astype(np.int64), "uint32_t").name
        if sym is None:
            f["wpos"] = b.const_array("wpos", planes.wpos, "int16_t").name
            f["wneg"] = b.const_array("wneg", planes.wneg, "int16_t").name
    elif fmt == "int8":
        f["values"] = b.const_array("weights8", w2d.astype(np.int64), "int8_t").name
    elif fmt == "codebook":
        cb = wf.codebook_encode(w2d)
        if cb is None:
            raise UnsupportedOpError(f"layer {name}: more than 16 distinct weights per channel, no codebook")
        f["code_bits"] = cf.c_int(cb.bits)
        f["codebook_size"] = cf.c_int(int(cb.table.shape[1]))
        f["row_bytes"] = cf.c_int(int(cb.packed.shape[1]))
        f["codes"] = b.const_array("codes", cb.packed.astype(np.int64), "uint8_t").name
        f["row_group"] = b.const_array("row_group", cb.row_group.astype(np.int64), "uint8_t").name
        f["codebook"] = b.const_array("codebook", cb.table.astype(np.int64), "int8_t").name
    else:
        bits = 0
        if fmt == "sparse_codebook":
            bits = sparse_code_bits(w2d) or 0
        sp = wf.sparse_encode(w2d, bits)
        if sp is None:
            raise UnsupportedOpError(f"layer {name}: the weights cannot be stored sparse")
        counts = np.asarray(sp.row_count, dtype=np.int64)
        kind = ("row_count8", "uint8_t") if counts.max(initial=0) < 256 else ("row_count16", "int16_t")
        f[kind[0]] = b.const_array(kind[0], counts, kind[1]).name
        f["entries"] = b.const_array("entries", np.asarray(sp.entries, dtype=np.int64), "uint8_t").name
        f["values"] = b.const_array(
            "values", np.asarray(sp.values, dtype=np.int64).reshape(-1), "int8_t"
        ).name
        f["code_bits"] = cf.c_int(sp.code_bits)
        if sp.code_bits:
            f["codebook_size"] = cf.c_int(1 << sp.code_bits)
            assert sp.row_group is not None
            f["row_group"] = b.const_array("row_group", sp.row_group.astype(np.int64), "uint8_t").name
    return list(f.items())


def lower_decoded(b: _LayerBuilder) -> None:
    """The inner int8 kernel's lowering with its weights replaced by the decode scratch, and the decode call."""
    node, gen = b.node, b.gen
    info = node.attrs["decoded"]
    inner, fmt = info["inner"], info["format"]
    layout = wf.DECODE_LAYOUTS[inner]
    lower = VARIANT_LOWER.get((node.op, inner)) if inner else _LOWER.get(node.op)
    if lower is None or fmt not in FORMATS:
        raise UnsupportedOpError(f"layer {node.name}: no decoded kernel for {fmt} weights under {inner!r}")
    if node.op == "FULLY_CONNECTED" and layout != "w16blocks":
        raise UnsupportedOpError(
            f"layer {node.name}: a decoded fully-connected layer runs the int16 FC kernel"
        )
    lower(b)
    w = b.t(1)
    assert w.data is not None
    w2d = np.asarray(w.data).reshape(w.shape[0], -1)
    fields = dict(b.fields)
    weights = next((a for a in b.arrays if a.name == fields.get("weights")), None)
    if weights is None:
        raise UnsupportedOpError(
            f"layer {node.name}: the {inner or 'direct'} kernel has no weights to decode"
        )
    # The scratch is arena bytes the planner gave this layer (free while it runs): no RAM of its own.
    offset = int(_plan(gen).offsets[wf.decode_scratch_name(node.name)])
    scratch = f"(void *)&{gen.model}_arena[{offset}]"
    stored = f"{weights.nbytes} B as {weights.ctype}"
    weights.decl = f"#define {weights.name} (({weights.ctype} *){scratch})"
    rows, cols = (int(v) for v in w2d.shape)
    dfields = [
        ("rows", cf.c_int(rows)),
        ("cols", cf.c_int(cols)),
        (
            "format",
            f"ED_DECODE_{'SPARSE' if fmt.startswith('sparse') else 'RAW' if fmt == 'int8' else fmt.upper()}",
        ),
        ("layout", "ED_DECODE_INT8" if layout == "int8" else "ED_DECODE_W16"),
        *_format_fields(b, fmt, w2d),
    ]
    if layout != "int8":
        rowbuf = 8 * cols if layout == "w16blocks" else -(-rows // 4) * 4 * cols * 2
        dfields.append(("rowbuf", f"(int8_t *){scratch} + {rowbuf}"))
    fn = gen.ident(gen.model, b.cname, "decoded")
    blocks = layout == "w16blocks"
    b.render(
        "decoded_layer",
        blocks=blocks,
        kdir=KERNEL_SUBDIR,
        inner_code="" if blocks else b.code,
        comment=cf.c_comment(
            f"{node.name}: {fmt} weights (the int8 kernel's: {stored}) decoded into arena bytes {offset}+, "
            + (
                "four output rows at a time, each block then run over every pixel by the int16 FC body."
                if blocks
                else f"the whole layer per call, then {b.kernel}."
            )
        ),
        decode=gen.ident(gen.model, b.cname, "decode"),
        fields=dfields,
        fn=fn,
        params_type=b.params_type,
        scratch=scratch,
        inner=b.kernel,
    )
    b.kernel = fn
    b.kernel_files = [*(f for f in b.kernel_files if not blocks or f != "ed_fc_w16.c"), DECODE_FILE]
