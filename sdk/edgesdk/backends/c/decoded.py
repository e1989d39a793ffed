"""C lowering of a CONV_2D or FULLY_CONNECTED annotated ``kernel = "decoded"`` (``passes/decoded.py``): the
layer's weights stay compressed in flash (bit-planes, codebook codes or sparse entries) and are decoded once per
call into a RAM scratch (``firmware/kernels/ed_decode.c``), where the int8 kernel the layer would run anyway
reads them: the shared or specialised direct DSP convolution (int8 OHWI rows), the int16-weight FC body as
1x1 convolution, im2col or fully-connected layer (its blocked int16 layout), or the int8 FC kernel over a 1x1
convolution's pixels or im2col's windows (``pointwise_s8`` / ``im2col_s8``: its four-row interleaved int8 rows,
windows padded to whole words, the whole layer per call).

The inner kernel is lowered as usual; its weights array is replaced by a macro naming the model's one decode
scratch (shared by every decoded layer, sized for the largest), so the inner kernel's constant parameters keep a
constant weights address. The layer's call decodes, then runs the inner kernel.
"""

from __future__ import annotations

from edgesdk.backends.c import cformat as cf
from edgesdk.backends.c.dw_inplace import _plan
from edgesdk.backends.c.generator import (
    _LOWER,
    KERNEL_SUBDIR,
    VARIANT_LOWER,
    _LayerBuilder,
)
from edgesdk.compiler.weight_encoding import Encoding, weight_layout
from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import weightformats as wf

KERNEL = "decoded"
DECODE_FILE = "ed_decode.c"
FORMATS = {"ternary": 0, "binary": 1, "codebook": 2, "sparse": 3, "sparse_codebook": 3, "int8": 4}


def _format_fields(b: _LayerBuilder, enc: Encoding) -> list[tuple[str, str]]:
    """The compressed arrays (``static const``, flash) as the node's encoding holds them, and the format's fields
    of ``ed_decode_params_t``."""
    f: dict[str, str] = {}
    info = enc.info
    if enc.kind in ("ternary", "binary"):
        f["words"] = cf.c_int(info["words"])
        f["wval"] = cf.c_int(info["wval"])
    elif enc.kind != "int8":
        f["code_bits"] = cf.c_int(info["code_bits"])
        if enc.kind == "codebook" or info["code_bits"]:
            f["codebook_size"] = cf.c_int(info.get("codebook_size", 1 << info["code_bits"]))
    if enc.kind == "codebook":
        f["row_bytes"] = cf.c_int(info["row_bytes"])
    names = {"weights8": "values"}
    fields = {name: b.encoded_array(name, enc).name for name in enc.arrays}
    f.update({names.get(name, name): ref for name, ref in fields.items()})
    order = _FIELD_ORDER[enc.kind]
    return [(k, f[k]) for k in order if k in f]


#: The order of each format's fields in ``ed_decode_params_t`` as written before (any order compiles the same).
_FIELD_ORDER = {
    "ternary": ("words", "wval", "plane_pos", "plane_neg", "wpos", "wneg"),
    "binary": ("words", "wval", "plane_pos", "plane_neg", "wpos", "wneg"),
    "int8": ("values",),
    "codebook": ("code_bits", "codebook_size", "row_bytes", "codes", "row_group", "codebook"),
    "sparse": ("row_count8", "row_count16", "entries", "values", "code_bits", "codebook_size", "row_group"),
    "sparse_codebook": (
        "row_count8",
        "row_count16",
        "entries",
        "values",
        "code_bits",
        "codebook_size",
        "row_group",
    ),
}


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
    enc = b.encoding
    b.encoding_override = enc.inner  # the inner kernel's weights: the decoded ones, in RAM
    lower(b)
    b.encoding_override = None
    w = b.t(1)
    rows, cols = int(w.shape[0]), int(w.size // w.shape[0])
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
    if layout == "fc8" and not weight_layout(gen.target, "FULLY_CONNECTED"):
        layout = "int8"  # the portable int8 FC kernel reads (out, in) rows as they are, unpadded
    dfields = [
        ("rows", cf.c_int(rows)),
        ("cols", cf.c_int(cols)),
        (
            "format",
            f"ED_DECODE_{'SPARSE' if fmt.startswith('sparse') else 'RAW' if fmt == 'int8' else fmt.upper()}",
        ),
        ("layout", {"int8": "ED_DECODE_INT8", "fc8": "ED_DECODE_FC8"}.get(layout, "ED_DECODE_W16")),
        *_format_fields(b, enc),
    ]
    if layout == "fc8":
        # the DSP FC layout's rows: im2col's windows padded with zero weights to whole words (fc_w16.py)
        row = cols + ((-cols) % 4 if inner == "im2col_s8" else 0)
        dfields[4:4] = [("row_len", cf.c_int(row))]
        dfields.append(("rowbuf", f"(int8_t *){scratch} + {-(-rows * row // 4) * 4}"))
    elif layout != "int8":
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
                else f"the whole layer per call{' in the int8 FC layout' if layout == 'fc8' else ''}, then "
                f"{b.kernel}."
            )
        ),
        decode=gen.ident(gen.model, b.cname, "decode"),
        fields=dfields,
        fn=fn,
        params_type=b.params_type,
        scratch=scratch,
        inner=b.kernel,
        decode_fn="ed_decode_weights_fc8" if layout == "fc8" else "ed_decode_weights",
    )
    b.kernel = fn
    b.kernel_files = [*(f for f in b.kernel_files if not blocks or f != "ed_fc_w16.c"), DECODE_FILE]
