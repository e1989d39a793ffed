"""C lowering of a CONV_2D annotated ``kernel = "winograd"``: the shared kernel ``ed_winograd_s8``
(``firmware/kernels/ed_winograd.c``) with the weights transformed at export by ``edgesdk.winograd`` (the single
source of the integer transforms) into int16 (see ``winograd_weights``), and from
``templates/c/winograd_conv.c.j2`` a per-layer wrapper that hands the kernel the layer's scratch buffer.

One shared kernel rather than one instantiation per layer: per-layer copies of the unrolled body cost ~1.8 KB
of code each (17 KB of kernel code for the IC model, over the 12 KB budget) for < 3 % fewer instructions.
The layer's int8 weights are not emitted (the transformed ones replace them).
"""

from __future__ import annotations

import numpy as np

from edgesdk.backends.c import cformat as cf
from edgesdk.backends.c.generator import _LayerBuilder
from edgesdk.errors import UnsupportedOpError
from edgesdk.winograd import F2x2_3x3, applicable, transform_weights

KERNEL = "winograd"
#: Output channels per block of the kernel's product loop (eight accumulators share each load of V).
BLOCK = 8


def channel_order(c: int) -> np.ndarray:
    """Input channels in the order ``ed_winograd_s8`` pairs them: in every full group of four, (0, 2) then
    (1, 3) - the halfword pairs SXTB16 and SXTB16-ROR8 make of one word of four channels, so the input transform
    runs on two channels per instruction - and the ``c % 4`` last channels in order."""
    order = np.arange(c)
    for g in range(0, c & ~3, 4):
        order[g : g + 4] = [g, g + 2, g + 1, g + 3]
    return order


def winograd_weights(w: np.ndarray) -> np.ndarray:
    """OHWI int8 3x3 weights -> the int16 layout ``ed_winograd_s8`` reads, of U' = G' g G'^T (|U'| <= 1152).

    Output channels in blocks of eight (zero channels pad the last block), then the 16 tile positions, then the
    input channels in pairs (in ``channel_order``; in_c rounded up to even with a zero channel), then the block's
    eight output channels, then the pair: shape (ceil(O/8), 16, c_pad/2, 8, 2). One pointer walks it while eight
    output channels share each load of the transformed input.
    """
    u = transform_weights(w, F2x2_3x3)  # (4, 4, O, C)
    o, c = u.shape[2], u.shape[3]
    cp, op = c + (c & 1), -(-o // BLOCK) * BLOCK
    full = np.zeros((16, op, cp), dtype=np.int64)
    full[:, :o, :c] = u.reshape(16, o, c)[:, :, channel_order(c)]
    out = full.reshape(16, op // BLOCK, BLOCK, cp // 2, 2).transpose(1, 0, 3, 2, 4)
    assert np.abs(out).max(initial=0) < 1 << 15
    return out


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
    u = winograd_weights(w.data)
    weights = b.const_array("winograd_weights", u.reshape(-1), "int16_t")
    bias = b.bias_array()
    mult, shift, per_channel = b.requant_arrays(p["output_multiplier"], p["output_shift"])
    b.ints(
        in_h=p["in_h"], in_w=p["in_w"], in_c=p["in_c"], out_h=p["out_h"], out_w=p["out_w"], out_c=p["out_c"],
        c_pad=2 * u.shape[2], pad_top=p["pad_h"], pad_left=p["pad_w"],
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
        cp=cf.c_int(2 * u.shape[2]),
    )
    b.kernel, b.params_type = fn, "ed_winograd_params_t"
    b.kernel_files = ["ed_winograd.c"]
