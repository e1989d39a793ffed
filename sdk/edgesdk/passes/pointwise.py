"""Kernel selection: a 1x1 stride-1 CONV_2D run by the int16-weight fully-connected kernel on a DSP core.

In NHWC a pointwise convolution is a fully-connected layer applied to every pixel: the pixels are the FC's
batches, the (O, 1, 1, I) filters its (O, I) weights. The FC kernel (``ed_fc_w16_body.h``) shares each input
word among four output channels, loads the int16 weights two words per LDRD and is instantiated per layer with
constant parameters: measured on the emulated Cortex-M4 (QEMU mps2-an386) a 64 -> 64 pointwise layer on 25 x 5
pixels takes 1,365,440 instructions with the direct DSP convolution and ~1.2 per MAC this way. The weights
double in flash (int16), so ``--optimize size`` keeps the direct kernel, and speed takes it where the model's
constants stay within half of the board's flash (as for fully-connected layers, ``passes/fc_weights16.py``).
With ``--optimize size`` the layer runs the int8-weight FC kernel instead (``pointwise_s8``: the direct
convolution's bytes, SXTB16 in the loop; KWS's 1x1 layers 1.37 M -> ~0.9 M instructions each). On a Cortex-M
DSP core (not Helium) that kernel runs six pixels per pass over input rows of up to ``PIX_MAX_K`` bytes (each weight
word loaded and extended once for six pixels, about one instruction per MAC): then it is estimated faster than the
int16 copy too, and every goal takes it (the int8 weights' bytes, fewer instructions); its entry for pixels
(``ed_fc_pw_s8``) also runs thin layers several six-pixel groups a pass, each four-row block's weights widened
once a pass for its groups, and a map's last three pixels in a pass of their own; where the arena has bytes free
at the layer's step, a scratch block there (``attrs["pw_scratch"]``, sized by the planner) holds more groups a
pass than the stack's block (``ed_fc_pw_buf_s8``). Thin layers (4 to 16 inputs, the whole int8 range) take its thin
path instead where estimated cheaper than the stack's block (``ed_fc_thin_s8``: a pixel's inputs in registers
against a table of the channels' int16 weights and output stage, ``THIN_K``; ``node.attrs["pointwise_path"]``),
or where cheaper still and its code fits, a sequence of the layer's own (``THIN_LAYER``: the channel loop unrolled,
the shifts as immediates). The decision and the candidates go into
``node.attrs["kernel_report"]``.
"""

from __future__ import annotations

from edgesdk.compiler import kernels as kernel_table
from edgesdk.compiler.planner import PW_SCRATCH
from edgesdk.ir import graph as ir
from edgesdk.passes import PassContext, register
from edgesdk.passes._int16 import Int16WeightsPass, decide, int8_conv, prefer_int8, size_int8
from edgesdk.passes.fc_weights16 import (
    EXT_PER_MAC,
    EXT_PER_OUTPUT,
    SPECIALIZED_CODE_BYTES,
    extended,
    requant_path,
)

KERNEL = "pointwise_w16"
#: The same with the int8 weights as they are (the int8 FC kernel ``ed_fc_s8``: SXTB16 in the loop): what
#: ``--optimize size`` runs a 1x1 layer with (the direct convolution's bytes, far fewer instructions on thin layers).
KERNEL8 = "pointwise_s8"
#: ``node.attrs["pointwise_path"]`` of a ``pointwise_s8`` layer that runs the kernel's thin path (``ed_fc_thin_s8``,
#: see ``THIN_K``): where it is estimated cheaper than ``ed_fc_pw_s8``'s passes, or everywhere it serves the layer with
#: the pass option ``pointwise_thin`` true (never with it false).
THIN_PATH = "thin"
#: Instructions per MAC and per output of the direct DSP convolution on a 1x1 layer and of the FC kernel
#: (QEMU mps2-an386: KWS-shaped 64 -> 64 on 25 x 5, VWW-shaped 8 -> 16 on 48 x 48).
DIRECT_PER_MAC, DIRECT_PER_OUTPUT = 1.65, 65
FC_PER_MAC, FC_PER_OUTPUT = 1.2, 35
#: The int8-weight FC kernel (eight inputs per step, the output stage read once per call; KWS-shaped 64 -> 64).
FC8_PER_MAC, FC8_PER_OUTPUT = 1.5, 25
#: ``ed_fc_s8``'s blocked path (cortex-m-dsp/ed_fc.c, ED_FC_PIX and ED_FC_MAXK): input rows per pass and the
#: longest row it extends; per pass and output row 18.8 instructions per four inputs (the fixed LDM sequence of
#: ED_FC_DOT6 with its loop) plus PIX_PER_ROW (the row's setup and six requantizations: the fixed row loop of
#: ED_FC_ROWS_FULL where the clamp is the whole int8 range, as after ReLU with output zero point -128; narrower
#: clamps take about 30 more), per pass 6.5 per input word extended plus PIX_PER_PASS (QEMU mps2-an386, least
#: squares over VWW's 1x1 layers from 8 -> 16 on 48 x 48 pixels to 128 -> 128 on 6 x 6, within 0.7%: e.g. 624,679
#: and 508,779 measured). From ``PART_MIN`` rows on, the rows after the last pass take a pass of their own where
#: its outputs fit behind the extended rows (ED_FC_PART_MIN: 12 k + PIX cout bytes of the buffer, then copied
#: out), else the kernel's one-row extended path (``fc_weights16.EXT_PER_MAC``).
PIX, PIX_MAX_K, PART_MIN = 6, 256, 4
PIX_PER_GROUP, PIX_PER_ROW, PIX_PER_INPUT, PIX_PER_PASS = 18.8, 48, 6.5, 175
#: A 1x1 layer's entry ``ed_fc_pw_s8`` (the DSP cores): where ``GROUPS_MIN`` or more groups of ``PIX`` rows fit the
#: extended block (rows of up to PIX_MAX_K // GROUPS_MIN inputs) and are left, a pass takes as many as fit, rows
#: outer (ED_FC_GROUPS_FULL, the whole int8 range as above): per group and output row 18.8 per four inputs plus
#: GROUPS_PER_ROW (the six requantizations, the group's loop), per pass and output row GROUPS_PER_PASS_ROW (the
#: row's frame), per pass GROUPS_PER_PASS; fitted on VWW's 1x1 layers from 8 -> 16 on 48 x 48 to 64 -> 128 on 6 x 6
#: and KWS's 64 -> 64 on 25 x 5 (within 1.6%: 505,405 and 483,447 measured).
GROUPS_MIN, GROUPS_PER_ROW, GROUPS_PER_PASS_ROW, GROUPS_PER_PASS = 3, 38.4, 31, 60
#: Three rows after the last pass (a 3 x 3 map's last three pixels), rows of ``TRI_MIN_K`` inputs or more: one pass
#: of their own (ED_FC_TRI_MINK, ed_fc_tri): per output row TRI_PER_GROUP per four inputs plus TRI_PER_ROW
#: (QEMU mps2-an386: VWW's 3 x 3 layers, 128 -> 256 and 256 -> 256, 286,859 and 532,939 measured).
TRI_MIN_K, TRI_PER_GROUP, TRI_PER_ROW = 48, 11.1, 109
#: Thin layers (``THIN_K`` inputs) whose outputs clamp to the whole int8 range, where the table of
#: ``k / 2 + 4`` words per output fits ``THIN_WORDS``: ``ed_fc_thin_s8`` keeps each pixel's extended inputs in
#: registers and walks the output channels (ed_fc_thin): per output ``THIN_LDM[k]`` LDM, k / 2 SMLAD and the
#: requantization (THIN_OUT; THIN_FIX more with the divide's correction, output zero point other than -128), per
#: four outputs THIN_PER_TURN (the channel loop's test), per pixel THIN_PER_PIXEL plus 0.75 per input (loaded and
#: extended), per call THIN_PER_CHANNEL plus THIN_PER_CHANNEL_K per input for each output (the table; QEMU
#: mps2-an386: VWW's 8 -> 16 on 48 x 48 and 16 -> 32 on 24 x 24, 379,546 and 318,718 measured; within 0.5% on
#: 4, 12 and 16 inputs).
THIN_K, THIN_WORDS = (4, 8, 12, 16), 768
THIN_LDM = {4: 1, 8: 1, 12: 2, 16: 4}
THIN_OUT, THIN_FIX, THIN_PER_TURN, THIN_PER_PIXEL, THIN_PER_CHANNEL, THIN_PER_CHANNEL_K = 4, 2, 2, 6, 81, 3.25


#: ``node.attrs["pointwise_path"]`` of a thin layer that runs its own sequence (templates/c/thin_layer.c.j2 through
#: ``ed_fc_thin_layer_s8``): the thin path's channel loop unrolled over the layer's outputs, each channel's shift an
#: immediate of its SSAT (no ASR, no loop test, no entry branch): per output ``THIN_LDM[k]`` LDM, k / 2 SMLAD and
#: LAYER_OUT (THIN_FIX more with the divide's correction), per pixel LAYER_PER_PIXEL plus 0.75 per input, the table
#: as the thin path's. Chosen where estimated below the thin path and its code (per output four bytes an SMLAD or
#: LDM, LAYER_CODE_PER_OUT more, LAYER_CODE_FIX more with the correction; LAYER_CODE a layer) stays within
#: LAYER_CODE_MAX bytes, not with ``--optimize size`` (the pass option ``pointwise_thin_layer`` forces it on or off
#: where the thin path serves).
THIN_LAYER = "thin_layer"
LAYER_OUT, LAYER_PER_PIXEL = 3, 4
LAYER_CODE, LAYER_CODE_PER_OUT, LAYER_CODE_FIX, LAYER_CODE_MAX = 120, 10, 8, 2048


def thin_layer_instructions(rows: int, k: int, cout: int, stage: str) -> int:
    """Estimated instructions of a thin layer's own sequence over ``rows`` pixels (see ``THIN_LAYER``)."""
    per_out = THIN_LDM[k] + k // 2 + LAYER_OUT + (THIN_FIX if stage == "fix" else 0)
    per_pixel = cout * per_out + LAYER_PER_PIXEL + 0.75 * k
    return int(rows * per_pixel + cout * (THIN_PER_CHANNEL + THIN_PER_CHANNEL_K * k))


def thin_layer_code(k: int, cout: int, stage: str) -> int:
    """Code bytes of a thin layer's own sequence (see ``THIN_LAYER``)."""
    per_out = 4 * (k // 2 + THIN_LDM[k]) + LAYER_CODE_PER_OUT + (LAYER_CODE_FIX if stage == "fix" else 0)
    return LAYER_CODE + cout * per_out


def thin(core: str, k: int, cout: int, stage: str, requant: str = "fast") -> bool:
    """Whether ``ed_fc_pw_s8`` runs a 1x1 layer of ``k`` inputs and ``cout`` outputs through its thin path on
    ``core``, with an output stage ``stage`` (:func:`out_stage`)."""
    return (
        kernel_table.CORE_TARGETS.get(core) == "cortex-m-dsp"
        and k in THIN_K
        and stage in ("nofix", "fix")
        and cout * (k // 2 + 4) <= THIN_WORDS
        and requant == "fast"
    )


def thin_instructions(rows: int, k: int, cout: int, stage: str) -> int:
    """Estimated instructions of ``ed_fc_pw_s8``'s thin path over ``rows`` pixels (see ``THIN_K``)."""
    per_out = THIN_LDM[k] + k // 2 + THIN_OUT + (THIN_FIX if stage == "fix" else 0)
    per_pixel = cout * per_out + -(-cout // 4) * THIN_PER_TURN + THIN_PER_PIXEL + 0.75 * k
    return int(rows * per_pixel + cout * (THIN_PER_CHANNEL + THIN_PER_CHANNEL_K * k))


def out_stage(graph: ir.Graph, node: ir.Node) -> str:
    """The output stage of ``node`` as the thin path sees it: ``"nofix"`` (the whole int8 range, output zero
    point -128: the divide's correction left out), ``"fix"`` (the whole int8 range) or ``""`` (a narrower clamp)."""
    from edgesdk.reference.params import op_params

    try:
        p = op_params(graph, node)
    except (KeyError, ValueError, TypeError):
        return ""
    if (int(p["activation_min"]), int(p["activation_max"])) != (-128, 127):
        return ""
    return "nofix" if int(p["output_offset"]) == -128 else "fix"


#: Passes of ``WIDE_MIN`` groups or more widen each four-row block's weights once (ED_FC_WIDE_MIN, ed_fc_widen4:
#: WIDEN_PER_STEP per block and four inputs), the dot product then WIDE_PER_GROUP per four inputs (LDRD of the
#: pairs, no SXTB16); fitted with the rest on the layers above, VWW's with the scratch blocks the planner gave them
#: (within 0.8%: e.g. 466,646 and 460,414 measured on VWW's 128 -> 128 on 6 x 6 and KWS's 64 -> 64 on 25 x 5).
#: A scratch block in the arena (``ed_fc_pw_buf_s8``; the planner gives the layer the bytes free at its step,
#: ``SCRATCH_ATTR`` lists the sizes it may take, best first) holds more groups than the stack's for one pass:
#: 12 k bytes a group and 8 k for the widened weights.
SCRATCH_ATTR = PW_SCRATCH
WIDE_MIN, WIDE_PER_GROUP, WIDEN_PER_STEP = 3, 16.4, 21


def blocked(core: str, k: int, requant: str = "fast") -> bool:
    """Whether ``ed_fc_s8`` runs rows of ``k`` inputs through its blocked path on ``core`` (DSP cores; the Helium
    cores run their own vector loop) with a requantization ``requant`` (``fc_weights16.requant_path``)."""
    return (
        kernel_table.CORE_TARGETS.get(core) == "cortex-m-dsp"
        and k % 4 == 0
        and k <= PIX_MAX_K
        and requant == "fast"
    )


def scratch_groups(k: int, scratch: int) -> int:
    """The most groups of ``PIX`` rows of ``k`` inputs a pass of ``ed_fc_pw_buf_s8`` takes with ``scratch`` bytes
    (0: the stack's block): the scratch's where they are ``WIDE_MIN`` or more and at least the stack's."""
    stack, held = PIX_MAX_K // k, (scratch - 8 * k) // (12 * k) if scratch >= 8 * k else 0
    return held if held >= WIDE_MIN and held >= stack else stack


def _passes(groups: int, k: int, most: int | None = None) -> list[int]:
    """The groups of ``PIX`` rows of each blocked pass of ``ed_fc_s8`` over ``groups`` groups of ``k`` inputs, at most
    ``most`` a pass (default: the stack's block)."""
    most, out = PIX_MAX_K // k if most is None else most, []
    while groups:
        g = min(groups, most)
        out.append(g if g >= GROUPS_MIN else 1)
        groups -= out[-1]
    return out


def fc8_instructions(
    rows: int,
    k: int,
    cout: int,
    core: str = "cortex-m4",
    requant: str = "fast",
    pixels: bool = False,
    stage: str = "nofix",
    scratch: int = 0,
) -> int:
    """Estimated instructions of the int8-weight FC kernel ``ed_fc_s8`` over ``rows`` input rows of ``k`` inputs
    and ``cout`` outputs each: blocks of ``PIX`` rows through the blocked path where it applies (the last
    ``PART_MIN`` or more as one more pass), the rest one row at a time (through the one-row extended path for rows
    of a multiple of 4 up to ``EXT_MAX_K`` inputs); the layer's requantization ``requant``
    (``fc_weights16.requant_path``) may leave either path out. ``pixels``: a 1x1 layer's entry ``ed_fc_pw_s8``,
    which also runs as many groups per pass as fit from ``GROUPS_MIN`` on and the last three rows of long rows as a
    pass of three. ``stage`` (:func:`out_stage`): ``"fix"`` adds the divide's correction (``THIN_FIX`` per output of
    the six-pixel passes' whole-range requantizations: QEMU mps2-an386, 4 -> 24 on 24 x 24 and 8 -> 48 on 12 x 12,
    165,237 and 104,082 measured, within 0.7%); ``scratch``: the bytes of its scratch block (``scratch_groups``)."""
    one = k * cout * FC8_PER_MAC + cout * FC8_PER_OUTPUT
    if extended(core, k, requant):  # the one-row extended path
        one = k * cout * EXT_PER_MAC + cout * EXT_PER_OUTPUT
    if not blocked(core, k, requant):
        return int(rows * one)
    groups, rest = divmod(rows, PIX)
    fix = THIN_FIX * groups * PIX * cout if stage == "fix" else 0
    dot, ext = (k // 4) * PIX_PER_GROUP, PIX * k * PIX_PER_INPUT / 4
    per_pass = cout * (dot + PIX_PER_ROW) + ext + PIX_PER_PASS
    # a pass of its own, then a copy (ed_fc_s8 takes the blocked path from PIX rows on)
    part = int(groups > 0 and rest >= PART_MIN and 12 * k + PIX * cout <= 2 * PIX * PIX_MAX_K)
    total = 0.0
    # (ed_fc_pw_s8 leaves the last group to ed_fc_s8 with such a rest)
    for g in _passes(groups - part, k, scratch_groups(k, scratch)) + [1] * part if pixels else [1] * groups:
        if g == 1:
            total += per_pass
        elif g >= WIDE_MIN:
            widen = (cout // 4) * (k // 4) * WIDEN_PER_STEP
            total += cout * (g * ((k // 4) * WIDE_PER_GROUP + GROUPS_PER_ROW) + GROUPS_PER_PASS_ROW) + widen
            total += g * ext + GROUPS_PER_PASS
        else:
            total += cout * (g * (dot + GROUPS_PER_ROW) + GROUPS_PER_PASS_ROW) + g * ext + GROUPS_PER_PASS
    if part:
        return int(fix + total + per_pass + rest * cout // 4 + 30)
    if pixels and rest == 3 and k >= TRI_MIN_K:
        return int(fix + total + cout * ((k // 4) * TRI_PER_GROUP + TRI_PER_ROW) + ext / 2)
    return int(fix + total + rest * one)


def scratch_sizes(rows: int, k: int, cout: int, core: str = "cortex-m4", requant: str = "fast") -> list[int]:
    """The scratch sizes worth giving a 1x1 layer (``ed_fc_pw_buf_s8``), largest first, each estimated faster than
    every smaller one and than the stack's block alone; [] where none is (or the core has no such entry)."""
    if not blocked(core, k, requant):
        return []
    groups = rows // PIX
    sizes = [g * 12 * k + 8 * k for g in range(max(WIDE_MIN, PIX_MAX_K // k + 1), groups + 1)]
    best, out = fc8_instructions(rows, k, cout, core, requant, pixels=True), []
    for size in sizes:
        est = fc8_instructions(rows, k, cout, core, requant, pixels=True, scratch=size)
        if est < best:
            best = est
            out.append(size)
    return out[::-1]


def estimate(
    out_px: int, cin: int, cout: int, core: str = "cortex-m4", requant: str = "fast", stage: str = "nofix"
) -> dict[str, int]:
    """Estimated instructions of a 1x1 layer with the direct DSP convolution and with the FC kernels."""
    outputs, macs = out_px * cout, out_px * cout * cin
    return {
        "direct": int(macs * DIRECT_PER_MAC + outputs * DIRECT_PER_OUTPUT),
        KERNEL: int(macs * FC_PER_MAC + outputs * FC_PER_OUTPUT),
        KERNEL8: fc8_instructions(out_px, cin, cout, core, requant, pixels=True, stage=stage),
        THIN_PATH: (
            thin_instructions(out_px, cin, cout, stage)
            if thin(core, cin, cout, stage, requant)
            else fc8_instructions(out_px, cin, cout, core, requant, pixels=True, stage=stage)
        ),
    }


def _eligible(graph: ir.Graph, node: ir.Node) -> bool:
    ops = int8_conv(graph, node)
    if ops is None:
        return False
    x, w, out = ops
    return (
        tuple(w.shape[1:3]) == (1, 1)
        and w.shape[3] == x.shape[3]
        and tuple(getattr(node, "stride", (1, 1))) == (1, 1)
        and tuple(x.shape[1:3]) == tuple(out.shape[1:3])
    )


@register("default")
class PointwiseAsFc(Int16WeightsPass):
    """Annotate 1x1 stride-1 convolutions with ``kernel = "pointwise_w16"`` for speed where the flash allows."""

    name = "pointwise"

    eligible = staticmethod(_eligible)

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        w, out = self.weights_and_output(graph, node)
        requant = requant_path(graph, node)
        stage = out_stage(graph, node)
        est = estimate(out.size // out.shape[-1], int(w.shape[3]), int(w.shape[0]), ctx.core, requant, stage)
        cand = {
            "direct": {"instructions": est["direct"], "weight_bytes": int(w.nbytes)},
            KERNEL: {
                "instructions": est[KERNEL],
                "weight_bytes": int(-(-w.shape[0] // 4) * 4 * w.shape[3] * 2),
                "code_bytes": SPECIALIZED_CODE_BYTES,
            },
        }
        chosen = decide(
            graph,
            node,
            ctx,
            KERNEL,
            cand,
            f"1x1 stride-1 convolution as a fully-connected layer over {out.size // out.shape[-1]} pixels",
            min_speedup=1.0 + 1e-9,
        )
        option = ctx.options.get("pointwise_thin")
        path = thin(ctx.core, int(w.shape[3]), int(w.shape[0]), stage, requant) and (
            est[THIN_PATH] < est[KERNEL8] if option is None else bool(option)
        )
        cand8 = {"instructions": est[THIN_PATH if path else KERNEL8], "weight_bytes": int(w.nbytes)}
        six = blocked(ctx.core, int(w.shape[3]), requant)
        what = "the int8 FC kernel " + ("six pixels per pass" if six else "over the pixels")
        if not six and extended(ctx.core, int(w.shape[3]), requant):
            what += ", its input rows extended once"
        if path:
            what = "the int8 FC kernel, a pixel's inputs in registers against a table of its channels"
        took = prefer_int8(node, ctx, KERNEL8, cand8, what) or size_int8(
            node, ctx, KERNEL8, chosen, cand8, est["direct"], "the int8 FC kernel over the pixels"
        )
        if node.attrs.get("kernel") == KERNEL8:
            if path:
                node.attrs["pointwise_path"] = THIN_PATH  # the lowering calls ed_fc_thin_s8
                k, cout, rows = int(w.shape[3]), int(w.shape[0]), out.size // out.shape[-1]
                layer = ctx.options.get("pointwise_thin_layer")
                if layer is None:
                    layer = (
                        ctx.optimize != "size"  # (its code is bytes the thin path does not take)
                        and thin_layer_instructions(rows, k, cout, stage)
                        < thin_instructions(rows, k, cout, stage)
                        and thin_layer_code(k, cout, stage) <= LAYER_CODE_MAX
                    )
                if layer:
                    node.attrs["pointwise_path"] = THIN_LAYER  # its own sequence (ed_fc_thin_layer_s8)
            else:
                sizes = scratch_sizes(
                    out.size // out.shape[-1], int(w.shape[3]), int(w.shape[0]), ctx.core, requant
                )
                if sizes:
                    node.attrs[SCRATCH_ATTR] = sizes
        return took
