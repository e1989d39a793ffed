"""Kernel selection: im2col + the int16-weight fully-connected kernel for convolutions with few input channels.

A model's first layer sees 1 to 4 input channels (audio features, RGB): the direct Cortex-M DSP kernel extends
and multiplies four channels per word, so most of its lanes and its per-tap overhead are spent on padding —
measured on the emulated Cortex-M4 (QEMU mps2-an386) 7.0 instructions per MAC for KWS's 10x4 stride-2 layer on
one channel and 5.1 for VWW's 3x3 stride-2 layer on three. Gathering each output pixel's window into a column of
K = k_h * k_w * in_c bytes (im2col) turns the layer into a fully-connected product of K inputs by out_c filters,
which the FC kernel (``ed_fc_w16_body.h``, instantiated per layer) runs at ~1.2 instructions per MAC plus the
gather. The column buffer (K bytes) is static per layer, outside the arena. int16 weights double the layer's
flash, so ``--optimize size`` keeps the direct kernel; speed takes im2col where the estimate says it pays and the
model's constants stay within half of the board's flash. ``--optimize size`` runs the layer as im2col by bands
of pixels + the int8-weight FC kernel instead (``im2col_s8``: the int8 weights' bytes, a column of up to
``MAX_COLUMN`` bytes). Faster still, with the same int8 bytes in another order, ``im2col_x16``
(``cortex-m-dsp/ed_im2col_x16.h``: the windows read a word at a time straight into int16 pairs, two pixels by two
filters a step, a sequence generated per layer) takes the layers it can run (``weightformats.im2col_x16_refusal``:
its requantization, stack and code bounds) for the balanced and speed goals where its estimate is lower, also
against the Winograd pass's choice (not under speed, whose code budget the specialise pass spends). The decision
and the candidates go into ``node.attrs["kernel_report"]``.
"""

from __future__ import annotations

from edgesdk.compiler import kernels as kernel_table
from edgesdk.ir import graph as ir
from edgesdk.ir import weightformats as wf
from edgesdk.passes import PassContext, register
from edgesdk.passes._int16 import Int16WeightsPass, decide, int8_conv, prefer_int8, size_int8
from edgesdk.passes.fc_weights16 import SPECIALIZED_CODE_BYTES
from edgesdk.passes.pointwise import PIX, blocked, fc8_instructions

KERNEL = "im2col_w16"
#: The same with int8 weights, by bands of pixels through the int8-weight FC kernel: what ``--optimize size`` runs
#: such a layer with (the direct convolution's bytes; KWS's first layer 2.38 M -> ~0.7 M instructions).
KERNEL8 = "im2col_s8"
#: im2col straight into int16 pairs, two pixels by two filters a step (``ed_im2col_x16.h``), the int8 weights' bytes
#: in its column order: where its requantization applies (``weightformats.im2col_x16_refusal``), on DSP cores.
KERNEL16 = "im2col_x16"
#: The earlier pass's choice (its report's candidate) that ``im2col_x16`` competes with on few-channel layers.
REVISITED = "winograd"
#: Largest column (bytes) the pass gives a layer; it is RAM outside the arena.
MAX_COLUMN = 512
#: Fewest-channels layers only: from 8 channels on the direct kernel's lanes are full.
MAX_IN_C = 4
MIN_SPEEDUP = 1.2


def band(out_px: int, k: int) -> int:
    """Pixels per band of the int8 kernel: as many K-byte windows as fit the ``MAX_COLUMN`` column (at least one),
    a multiple of the FC kernel's ``PIX`` rows per pass where there is room for one."""
    n = max(1, min(out_px, MAX_COLUMN // max(1, k)))
    return n - n % PIX if n >= PIX else n


def row_bytes(core: str, k: int) -> int:
    """Bytes per window in the int8 kernel's column: rounded up to a multiple of 4 on the DSP cores (the lowering
    pads each filter row with zero weights there, ``backends/c/fc_w16.py``), else ``k``."""
    dsp = "cortex-m-dsp" in kernel_table.kernel_target_chain(kernel_table.CORE_TARGETS.get(core))
    return -(-k // 4) * 4 if dsp else k


def estimate(out_px: int, cin: int, cout: int, k: int, core: str = "cortex-m4") -> dict[str, int]:
    """Estimated instructions of the direct DSP kernel and of im2col + FC for one layer (fitted on KWS's and
    VWW's first layers, mps2-an386): the direct kernel per MAC 1.6 + 16 / in_c plus ~30 per output; im2col
    ~3 per gathered byte + 20 per pixel, the FC 1.2 per MAC + 30 per output."""
    macs = out_px * cout * k
    direct = macs * (1.6 + 16.0 / cin) + out_px * cout * 30
    im2col = out_px * (3 * k + 20) + macs * 1.2 + out_px * cout * 30
    # int8 weights: the FC kernel 1.5 per MAC on rows of a multiple of 4 bytes (1.8 otherwise) plus ~25 per output
    # and ~150 per band
    # (the blocked path of ``ed_fc_s8``, where it applies, as ``pointwise.fc8_instructions`` prices it; rows padded
    # to a multiple of 4 bytes on the DSP cores)
    k4 = row_bytes(core, k)
    bands, last = divmod(out_px, band(out_px, k4))
    if blocked(core, k4):
        fc8 = bands * fc8_instructions(band(out_px, k4), k4, cout, core) + fc8_instructions(
            last, k4, cout, core
        )
    else:
        fc8 = macs * (1.5 if k % 4 == 0 else 1.8) + out_px * cout * 25
    im2col8 = out_px * (3 * k + 20) + fc8 + 150 * -(-out_px // band(out_px, k4))
    return {"direct": int(direct), KERNEL: int(im2col), KERNEL8: int(im2col8)}


def x16_pairs(p: dict, k_h: int, k_w: int, in_c: int) -> tuple[int, int, int]:
    """How ``ed_x16_conv`` walks a layer (``op_params`` ``p``): (pairs inside the image, pairs over the padding or
    across two rows, runs of inside pairs)."""
    oh, ow, sh, sw = int(p["out_h"]), int(p["out_w"]), int(p["stride_h"]), int(p["stride_w"])
    more = int((k_w * in_c) % 4 == 3)

    def inner(n: int, s: int, pad: int, k: int, size: int, extra: int) -> tuple[int, int]:
        last = size - k - extra + pad
        return -(-pad // s), min(n - 1, last // s if last >= 0 else -1)

    ylo, yhi = inner(oh, sh, int(p["pad_h"]), k_h, int(p["in_h"]), 0)
    xlo, xhi = inner(ow, sw, int(p["pad_w"]), k_w, int(p["in_w"]), more)
    i = oy = ox = inside = other = runs = 0
    while i < oh * ow:
        n = (xhi - ox + 1) >> 1 if ylo <= oy <= yhi and ox >= xlo else 0
        if n > 0:
            inside, runs, i, ox = inside + n, runs + 1, i + 2 * n, ox + 2 * n
        else:
            other, i, ox = other + 1, i + 2, ox + 2
        oy, ox = oy + ox // ow, ox % ow
    return inside, other, runs


def estimate_x16(pairs: tuple[int, int, int], cout: int, groups: int, fix: bool, clamps: int) -> int:
    """Estimated instructions of ``im2col_x16`` for a layer walked as ``pairs`` (:func:`x16_pairs`) with
    ``groups`` column words a window (mps2-an386, the VWW replica's and IC's first layers within 0.3 % and 1.5 %):
    per pixel pair and channel pair the biases and first weights, LDM x, LDM w and eight SMLAD per group (10 per
    group, the first group's LDM x left out), the multipliers, output address and four STRB (6), per output SMMLAR and SSAT (two more with the negative-value
    correction, ``fix``; three per clamp bound, ``clamps``); per pair the gather (about 7 per group: two LDR, four
    SXTB16, half an STM) and the loop (12); per pair over the padding its windows' copy and call (~170), per run
    ~25, and the weights widened once per call (~4 per group and filter)."""
    inside, other, runs = pairs
    per_out = 2 + (2 if fix else 0) + 3 * clamps
    pair = -(-cout // 2) * (10 * groups + 5 + 4 * per_out) + 7 * groups + 12
    return int((inside + other) * pair + other * 170 + runs * 25 + cout * (4 * groups + 10))


def _eligible(graph: ir.Graph, node: ir.Node) -> bool:
    ops = int8_conv(graph, node)
    if ops is None:
        return False
    x, w, _ = ops
    return w.shape[3] == x.shape[3] <= MAX_IN_C and w.shape[1] * w.shape[2] * w.shape[3] <= MAX_COLUMN


@register("default")
class Im2colConv(Int16WeightsPass):
    """Annotate few-channel convolutions with ``kernel = "im2col_w16"`` for speed where it pays."""

    name = "im2col"

    eligible = staticmethod(_eligible)

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        # a few-channel layer the Winograd pass took: im2col_x16 may still be estimated faster. Not under --optimize
        # speed, whose fixed kernel code budget the specialise pass spends on copies by instructions saved per
        # byte (it revisits Winograd's choices itself): im2col_x16's unrolled code is outside that pricing.
        if (
            ctx.dsp
            and ctx.optimize != "speed"
            and node.attrs.get("kernel") == REVISITED
            and _eligible(graph, node)
        ):
            return True
        return super().match(graph, node, ctx)

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        if node.attrs.get("kernel") == REVISITED:
            x16 = _x16_candidate(graph, node)
            return x16 is not None and prefer_int8(node, ctx, KERNEL16, *x16)
        w, out = self.weights_and_output(graph, node)
        k = int(w.shape[1] * w.shape[2] * w.shape[3])
        cout = int(w.shape[0])
        est = estimate(out.size // cout, int(w.shape[3]), cout, k, ctx.core)
        cand = {
            "direct": {"instructions": est["direct"], "weight_bytes": int(w.nbytes)},
            KERNEL: {
                "instructions": est[KERNEL],
                "weight_bytes": int(-(-cout // 4) * 4 * k * 2),
                "scratch_bytes": k,
                "code_bytes": 2 * SPECIALIZED_CODE_BYTES,
            },
        }
        chosen = decide(
            graph,
            node,
            ctx,
            KERNEL,
            cand,
            f"{w.shape[3]} input channel(s): im2col of {k}-byte windows (a {k}-byte column) + FC kernel",
            min_speedup=MIN_SPEEDUP,
        )
        px, k4 = out.size // cout, row_bytes(ctx.core, k)
        cand8 = {
            "instructions": est[KERNEL8],
            "weight_bytes": int(cout * k4),
            "scratch_bytes": band(px, k4) * k4,
        }
        what = f"im2col by bands of {band(px, k4)} pixels (a {band(px, k4) * k4}-byte column) + the int8 FC kernel"
        taken = prefer_int8(node, ctx, KERNEL8, cand8, what) or size_int8(
            node, ctx, KERNEL8, chosen, cand8, est["direct"], what, MIN_SPEEDUP
        )
        if node.attrs.get("kernel") == KERNEL8:
            node.attrs["im2col_band"] = band(px, k4)
        # (--optimize size keeps the int8 FC kernel: im2col_x16's unrolled code is larger)
        x16 = _x16_candidate(graph, node) if ctx.optimize != "size" or ctx.forced(node) == KERNEL16 else None
        if x16 is not None:
            cand16, what16 = x16
            if prefer_int8(node, ctx, KERNEL16, cand16, what16):
                return True  # (im2col_band stays: compressed weights are decoded for im2col_s8, passes/decoded.py)
        return taken


def _x16_refusal(graph: ir.Graph, node: ir.Node) -> str | None:
    """Why ``im2col_x16`` cannot run the layer (``weightformats.im2col_x16_refusal``), None where it can."""
    from edgesdk.reference.params import op_params

    w = graph.tensor(node.inputs[1])
    bias = graph.tensor(node.inputs[2]).data if len(node.inputs) > 2 and node.inputs[2] else None
    return wf.im2col_x16_refusal(op_params(graph, node), w.data, bias)


def _x16_candidate(graph: ir.Graph, node: ir.Node) -> tuple[dict, str] | None:
    """``im2col_x16``'s candidate (instructions, weight bytes, stack) and description, None where it cannot run
    the layer (``weightformats.im2col_x16_refusal``)."""
    from edgesdk.reference.params import op_params

    x, w, out = int8_conv(graph, node)
    p = op_params(graph, node)
    if _x16_refusal(graph, node) is not None:
        return None
    cout, kh, kw, cin = w.shape
    groups = len(wf.im2col_x16_order(kh, kw, cin)) // 4
    lo, hi = int(p["activation_min"]), int(p["activation_max"])
    est = estimate_x16(
        x16_pairs(p, kh, kw, cin), cout, groups, lo < int(p["output_offset"]), int(lo > -128) + int(hi < 127)
    )
    cand = {
        "instructions": est,
        "weight_bytes": int(cout * 4 * groups),
        "code_bytes": wf.im2col_x16_code(cout, groups),
        "scratch_bytes": wf.im2col_x16_stack(
            cout, groups, wf.im2col_x16_patch(kh, kw, cin, int(p["in_w"]), int(p["stride_w"]))
        ),
    }
    what = (
        f"im2col into int16 pairs ({kh}x{kw}x{cin} windows as {groups} words, two pixels by two filters a step, "
        f"{cand['scratch_bytes']} B of stack)"
    )
    return cand, what
