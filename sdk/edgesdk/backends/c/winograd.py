"""C lowering of a CONV_2D annotated ``kernel = "winograd"``: the shared kernel ``ed_winograd_s8``
(``firmware/kernels/ed_winograd.c``) with the weights transformed at export by ``edgesdk.numerics.winograd`` (the single
source of the integer transforms) into int16 (see ``winograd_weights``), and from
``templates/c/winograd_conv.c.j2`` a per-layer wrapper that hands the kernel the layer's scratch buffer.

One shared kernel rather than one instantiation per layer: per-layer copies of the unrolled body cost ~1.8 KB
of code each (17 KB of kernel code for the IC model, over the 12 KB budget) for < 3 % fewer instructions.
The layer's int8 weights are not emitted (the transformed ones replace them).
"""

from __future__ import annotations

from edgesdk.backends.c import cformat as cf
from edgesdk.backends.c.generator import _LayerBuilder
from edgesdk.errors import UnsupportedOpError
from edgesdk.numerics.winograd import BLOCK, applicable, channel_order, winograd_weights  # noqa: F401

KERNEL = "winograd"


def _shared_scratch(b: _LayerBuilder) -> tuple[str, int]:
    """One scratch buffer for every Winograd layer of the model (layers run one after another): its name, and
    its size in channels when this layer is the first and declares it (0 otherwise)."""
    gen = b.gen
    name = getattr(gen, "_winograd_scratch", None)
    if name is not None:
        return name, 0
    cps = [
        gen.graph.tensor(n.inputs[0]).shape[3] + (gen.graph.tensor(n.inputs[0]).shape[3] & 1)
        for n in gen.nodes
        if n.op == "CONV_2D" and n.attrs.get("kernel") == KERNEL
    ]
    name = gen.ident(gen.model, "winograd_scratch")
    gen._winograd_scratch = name  # type: ignore[attr-defined]
    return name, max(cps)


def lower_winograd(b: _LayerBuilder) -> None:
    """Emit the per-layer Winograd function and its parameter struct (see the module docstring)."""
    p, node = b.p, b.node
    w = b.t(1)
    if not applicable(p) or w.data is None or w.dtype != "int8" or w.shape[3] != p["in_c"]:
        raise UnsupportedOpError(
            f"layer {node.name}: the Winograd kernel needs a 3x3 stride-1 undilated conv with int8 weights"
        )
    b.act_input(0)
    weights = b.encoded_array("winograd_weights")
    c_pad = int(b.encoding.info["c_pad"])
    bias = b.bias_array()
    mult, shift, per_channel = b.requant_arrays(p["output_multiplier"], p["output_shift"])
    b.ints(
        in_h=p["in_h"], in_w=p["in_w"], in_c=p["in_c"], out_h=p["out_h"], out_w=p["out_w"], out_c=p["out_c"],
        c_pad=c_pad, pad_top=p["pad_h"], pad_left=p["pad_w"],
        input_offset=p["input_offset"], output_offset=p["output_offset"],
        act_min=p["activation_min"], act_max=p["activation_max"], per_channel=per_channel,
    )  # fmt: skip
    b.requant_ptrs(weights, bias, mult, shift)
    fn = b.gen.ident(b.gen.model, b.cname, "winograd")
    scratch, scratch_cp = _shared_scratch(b)
    b.render(
        "winograd_conv",
        comment=cf.c_comment(
            f"{node.name}: Winograd F(2x2,3x3), {p['in_h']}x{p['in_w']}x{p['in_c']} -> "
            f"{p['out_h']}x{p['out_w']}x{p['out_c']} (ed_winograd_s8, weights transformed at export)."
        ),
        fn=fn,
        scratch=scratch,
        scratch_len=cf.c_int(16 * scratch_cp, "uint32_t") if scratch_cp else "",
        cp=cf.c_int(c_pad),
    )
    b.kernel, b.params_type = fn, "ed_winograd_params_t"
    b.kernel_files = ["ed_winograd.c"]
