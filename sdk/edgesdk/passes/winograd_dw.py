"""Kernel selection: Winograd F(2x2,3x3) or direct convolution for each 3x3 stride-1 depthwise layer.

Depthwise has no sum over input channels: per channel and 2x2 output tile Winograd (Lavin & Gray, "Fast
Algorithms for Convolutional Neural Networks", CVPR 2016) replaces 36 multiply-accumulates with 16 products,
but pays the input transform (16 loads, 32 additions) and the output transform (24 additions) for that one
channel instead of sharing them over a channel sum as a convolution does. ``ed_winograd_dw_s8`` runs the input
transform on halfword pairs (SADD16/SSUB16, two channels per instruction) and the products with SMULBB/SMULTT.
The pass estimates both kernels' executed instructions with a cost model fitted to the MobileNetV1-0.25-shaped
model's stride-1 depthwise layers on the emulated Cortex-M4 (QEMU mps2-an386, -O2;
``benchmarks/winograd_dw.py``) and picks Winograd only where it saves at least ``MIN_SPEEDUP``; its int16
transformed weights take 32 bytes per channel instead of 9. Measured, it does not pay on the Cortex-M4 for any
of those shapes (1.5x to 2.2x the direct kernel's instructions: ~84 instructions per output against 33-44 for
the direct kernel's SXTAB16/SMLABB interior, which needs only 9 multiply-accumulates per output to begin with),
so the pass keeps the direct kernel and says so (the direct kernel has since become faster still: SMLAD over
two taps of one channel from a band of int16 input rows, ~17 instructions per output in its rows of pairs,
every border pixel included); the kernel stays available, tested, for cores where the
balance differs. The decision, both candidates and the reason go
into ``node.attrs["kernel_report"]``; ``--kernel LAYER=winograd_dw`` forces it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.ir import graph as ir
from edgesdk.numerics.winograd import F2x2_3x3, weight_ranges
from edgesdk.passes import PassContext, register
from edgesdk.passes._int16 import ShapeRulePass, balanced_refusal
from edgesdk.passes._report import BASELINE, candidate, kernel_report

KERNEL = "winograd_dw"
MIN_SPEEDUP = 1.1

#: Fitted instruction costs. The direct kernel (``cortex-m-dsp/ed_dwconv.c``, its 3x3 band path, in the band's
#: orientation: a tall map as wide as its input runs transposed): per four output columns of one channel computed
#: together (stride 1; stride 2), per remaining pair, per remaining single column, per output row of a channel,
#: per group of four channels and input row copied into the band, per band word written (four channels), per
#: group. Fitted by least squares on single SAME depthwise layers (48x48x8, 24x24x32, 12x12x64, 6x6x128, 3x3x256,
#: 25x5x64, 11x9x16, 7x9x20, 9x7x4, 16x30x8, 10x10x24, 5x5x64 stride 1; 48x48x16, 24x24x32, 13x11x12, 30x16x8
#: stride 2) on the emulated Cortex-M4 (QEMU mps2-an386, -O2): within 0.3 % on the large maps, 2 % on the small
#: ones, 4.5 % on the smallest stride-2 layer (7x6x12 out). Winograd per tile and group of four
#: channels, per tile and tail channel, per tile (benchmarks/results/winograd_dw.md). The small stride-2 maps'
#: table path (output at most :data:`TABLE_W` wide and tall, ``ed_dw3x3_table_s8``): per output pixel and group of
#: four channels, per output row, run of columns (the windows inside the input, or a border column) and group, per
#: group, per output of a tail channel (the general per-pixel loop); fitted on single layers (SAME 12x12x64,
#: 12x12x16, 11x11x64, 6x6x128, VALID 13x9x32; 12x12x19 for the tail) within 0.5 %.
COST = {
    "direct_quad": 60.5,
    "direct_quad_s2": 67.3,
    "direct_pair": 31.3,
    "direct_single": 20.3,
    "direct_channel_row": 34.7,
    "direct_band_row": 82.6,
    "direct_band_word": 2.76,
    "direct_group": 762.8,
    "table_pixel_group": 139.3,
    "table_run": 44.0,
    "table_group": 506.7,
    "table_tail_output": 216.9,
    "wino_group_tile": 1351.6,
    "wino_tail_tile": 450.0,  # not fitted (the model has no tail channels): the scalar path, ~1.3x a lane
    "wino_tile": 295.7,
}
PORTABLE_FACTOR = {"direct": 4.5, KERNEL: 1.6}  # a guess for cores without the DSP extension (reported only)


#: The direct kernel off its fast 3x3 path (the general per-pixel path), measured on the emulated Cortex-M4: the
#: KWS-shaped (25x5x64) depthwise layer of tests/test_dsp_kernels.py's pruned model ran 741,680 instructions with
#: an un-rewritten huge bias against 297,800 on the fast path as it was then (vertical pairs of SMLABB/SMLATT);
#: the band path runs it in ~196,000.
GENERAL_PATH_FACTOR = 3.78


def direct_fast_path(graph: ir.Graph, node: ir.Node) -> bool:
    """Whether the DSP depthwise kernel takes its fast 3x3 path for the layer (``ed_dw3x3_fast_ok`` on what the C
    backend writes: per-channel requantization, a bias, every shift in [-22, -1] and |bias| <= 2^29; channels
    whose weights are all zero are rewritten to a small bias and shift -1 first, ``generator.constant_channels``).
    The shape conditions (3x3, depth multiplier 1, no dilation, input at least 3x3, padding at most 1) are the
    callers'."""
    from edgesdk.reference.params import op_params

    if len(node.inputs) < 3 or not node.inputs[2]:
        return False
    w, b = graph.tensor(node.inputs[1]), graph.tensor(node.inputs[2])
    if w.data is None or b.data is None:
        return False
    bias = np.asarray(b.data, dtype=np.int64).reshape(-1)
    live = np.any(np.asarray(w.data).reshape(-1, bias.size) != 0, axis=0)
    p = op_params(graph, node)
    mult = np.broadcast_to(np.asarray(p["output_multiplier"]).reshape(-1), bias.shape)
    shift = np.broadcast_to(np.asarray(p["output_shift"]).reshape(-1), bias.shape)
    per_channel = not live.all() or (np.any(mult != mult[0]) or np.any(shift != shift[0]))
    return bool(
        per_channel
        and np.all(shift[live] < 0)
        and np.all(shift[live] >= -22)
        and np.all(np.abs(bias[live]) <= (1 << 29))
    )


#: Stride-2 layers with an output at most this wide and tall take the table path (``ED_DW_TABLE_W``).
TABLE_W = 6


def _runs(size: int, out: int) -> int:
    """Runs of output columns of the table path in one output row of a stride-2 layer: the windows inside the
    input as one run, each window that sticks out (padding) alone (``ed_dw3x3_table_rows``)."""
    pad = max((out - 1) * 2 + 3 - size, 0) // 2
    last = (size - 3 + pad) // 2 if size - 3 + pad >= 0 else -1
    end, runs, o = min(last + 1, out), 0, 0
    while o < out:
        i0 = 2 * o - pad
        o += end - o if end > o and max(0, min(i0, size - 3)) == i0 else 1
        runs += 1
    return runs


#: The small-map path (``ed_dw_map.h``, taken before the table and band paths where :func:`map_path` says): on a map
#: at least four columns wide per four output columns of one channel computed together (stride 1 and stride 2), then
#: per remaining pair (on a narrower map every pair: stride 1 and stride 2) and per output column computed alone; per
#: output row of a channel (by pairs on a narrower map; four columns a step); per group of four channels and input
#: row filled into the map, per map word written there (four channels); per group (its weights and requantization,
#: the four channels' passes' set-up); per layer. Fitted by least squares on single layers (SAME 3x3x256, 6x6x128,
#: 12x12x64, 5x5x64, 7x7x32, 14x14x16, 6x6x18, 3x3x64, 4x4x64, 8x8x32, 10x10x32, 11x11x16 and VALID 7x9x32 stride 1;
#: SAME 6x6x128, 12x12x64, 7x7x32, 13x13x16, 9x9x32, 4x4x64, 5x5x64, 8x8x64, 10x10x32 stride 2) on the emulated
#: Cortex-M4 (QEMU mps2-an386, -O2; benchmarks/dw_small_maps.py, benchmarks/results/dw_small_maps.md): within 3.1 %
#: of each (the four-column terms fitted with the others held).
MAP_COST = {
    "quad_s1": 60.6,
    "quad_s2": 66.8,
    "pair_s1": 32.6,
    "pair_s2": 36.8,
    "single": 18.2,
    "channel_row": 4.1,
    "quad_row": 5.8,
    "fill_row": 23.0,
    "fill_word": 4.1,
    "group": 517.1,
    "layer": 1025.4,
}
#: The map's limits (``ED_DW_MAP_NW`` words a padded row, ``ED_DW_MAP_ROWS`` padded rows).
MAP_WORDS, MAP_ROWS = 8, 16


def map_path(
    in_h: int, in_w: int, out_h: int, out_w: int, c: int, stride_h: int = 1, stride_w: int = 1
) -> bool:
    """Whether the DSP depthwise kernel runs a layer its 3x3 path takes (:func:`direct_fast_path` and
    ``dw_inplace.band_path_shape``) by its small-map path (``ed_dw_map_ok``): the same stride both ways, an output
    at least two columns wide, a padded input row of at most :data:`MAP_WORDS` words of two columns and at most
    :data:`MAP_ROWS` padded rows, and on a stride-2 map the table path takes (:data:`TABLE_W`), fewer instructions
    than the table path by the two models (the kernel compares them in tenths of an instruction,
    ``ED_DW_MAP_COST10``/``ED_DW_TABLE_COST10``: :func:`_tenths`). A small map's band ring costs more than its taps
    (per group and input row a fill call, per output row and channel the row's set-up, per group three rotations of
    every channel's weights): measured, the small-map path beats the band on every map it takes; the table path,
    which needs no map, on stride-2 maps of a few pixels whose windows lie inside the input."""
    fits = (
        stride_h == stride_w
        and out_w >= 2
        and ((out_w - 1) * stride_w + 4) // 2 <= MAP_WORDS
        and (out_h - 1) * stride_h + 3 <= MAP_ROWS
    )
    if not fits or not (stride_h == stride_w == 2 and out_h <= TABLE_W and out_w <= TABLE_W):
        return fits
    terms = map_terms(in_h, in_w, out_h, out_w, c, stride_h, stride_w)
    groups, tail = c // 4, c % 4
    table = groups * (
        out_h * out_w * _tenths(COST["table_pixel_group"])
        + out_h * _runs(in_w, out_w) * _tenths(COST["table_run"])
        + _tenths(COST["table_group"])
    ) + out_h * out_w * tail * _tenths(COST["table_tail_output"])
    return sum(_tenths(MAP_COST[k]) * v for k, v in terms.items()) < table


def _tenths(cost: float) -> int:
    return int(round(10 * cost))


def map_terms(
    in_h: int, in_w: int, out_h: int, out_w: int, c: int, stride_h: int = 1, stride_w: int = 1
) -> dict[str, int]:
    """The counts :data:`MAP_COST` prices for a layer of this shape."""
    groups = -(-c // 4)
    nw = ((out_w - 1) * stride_w + 4) // 2
    pad_top = max((out_h - 1) * stride_h + 3 - in_h, 0) // 2
    rows = min(in_h, (out_h - 1) * stride_h + 3 - pad_top)
    pad_left = max((out_w - 1) * stride_w + 3 - in_w, 0) // 2
    words = (min(in_w, 2 * nw - pad_left) + pad_left + 1) // 2
    quads = out_h * (out_w // 4) * c if out_w >= 4 else 0
    pairs = out_h * ((out_w % 4 if out_w >= 4 else out_w) // 2) * c
    return {
        "quad_s1": quads if stride_w == 1 else 0,
        "quad_s2": quads if stride_w == 2 else 0,
        "pair_s1": pairs if stride_w == 1 else 0,
        "pair_s2": pairs if stride_w == 2 else 0,
        "single": out_h * (out_w % 2) * c,
        "channel_row": out_h * c if out_w < 4 else 0,
        "quad_row": out_h * c if out_w >= 4 else 0,
        "fill_row": groups * rows,
        "fill_word": groups * rows * 4 * words,
        "group": groups,
        "layer": 1,
    }


def map_cost(
    in_h: int, in_w: int, out_h: int, out_w: int, c: int, stride_h: int = 1, stride_w: int = 1
) -> int:
    """Estimated executed instructions of the small-map path for a layer of this shape (:data:`MAP_COST`)."""
    terms = map_terms(in_h, in_w, out_h, out_w, c, stride_h, stride_w)
    return int(sum(MAP_COST[k] * v for k, v in terms.items()))


def direct_cost(
    in_h: int, in_w: int, out_h: int, out_w: int, c: int, stride_h: int = 1, stride_w: int = 1
) -> int:
    """Estimated executed instructions of the DSP depthwise kernel's 3x3 fast path for a layer of this shape: its
    small-map path where it takes the layer (:func:`map_path`), else its table path for a small stride-2 map
    (``ed_dw3x3_table_s8``), else its band path (:func:`band_cost`)."""
    if map_path(in_h, in_w, out_h, out_w, c, stride_h, stride_w):
        return map_cost(in_h, in_w, out_h, out_w, c, stride_h, stride_w)
    return band_cost(in_h, in_w, out_h, out_w, c, stride_h, stride_w)


def band_cost(
    in_h: int, in_w: int, out_h: int, out_w: int, c: int, stride_h: int = 1, stride_w: int = 1
) -> int:
    """Estimated executed instructions of the DSP depthwise kernel's 3x3 band path (:data:`COST`) for a layer
    of this shape (``ed_dw3x3_s8``: transposed when taller than wide and as wide as its input), or of its table path
    for a small stride-2 map (``ed_dw3x3_table_s8``)."""
    if stride_h == stride_w == 2 and out_h <= TABLE_W and out_w <= TABLE_W:
        groups, tail = c // 4, c % 4
        return int(
            groups
            * (
                out_h * out_w * COST["table_pixel_group"]
                + out_h * _runs(in_w, out_w) * COST["table_run"]
                + COST["table_group"]
            )
            + out_h * out_w * tail * COST["table_tail_output"]
        )
    if out_h > out_w and out_w == in_w:
        in_h, in_w, out_h, out_w, stride_h, stride_w = in_w, in_h, out_w, out_h, stride_w, stride_h
    nw = ((out_w - 1) * stride_w + 4) // 2
    groups = -(-c // 4)
    band_rows = groups * ((out_h - 1) * stride_h + 3)
    quad = COST["direct_quad"] if stride_w == 1 else COST["direct_quad_s2"]
    return int(
        out_h * (out_w // 4) * c * quad
        + out_h * (out_w % 4 // 2) * c * COST["direct_pair"]
        + out_h * (out_w % 2) * c * COST["direct_single"]
        + out_h * c * COST["direct_channel_row"]
        + band_rows * (COST["direct_band_row"] + 4 * nw * COST["direct_band_word"])
        + groups * COST["direct_group"]
    )


def estimate(out_h: int, out_w: int, c: int, dsp: bool, fast: bool = True) -> dict[str, int]:
    """Estimated executed instructions of the direct and the Winograd depthwise kernel of a SAME-padded stride-1
    layer; ``fast``: whether the direct kernel takes its fast 3x3 path (:func:`direct_fast_path`)."""
    groups, tail = c // 4, c % 4
    direct = direct_cost(out_h, out_w, out_h, out_w, c)
    tiles = -(-out_h // 2) * -(-out_w // 2)
    wino = tiles * (groups * COST["wino_group_tile"] + tail * COST["wino_tail_tile"] + COST["wino_tile"])
    if dsp and not fast:
        direct *= GENERAL_PATH_FACTOR
    if not dsp:
        direct *= PORTABLE_FACTOR["direct"]
        wino *= PORTABLE_FACTOR[KERNEL]
    return {"direct": int(direct), KERNEL: int(wino)}


def _eligible(graph: ir.Graph, node: ir.Node) -> dict[str, Any] | None:
    if node.op != "DEPTHWISE_CONV_2D" or len(node.inputs) < 2:
        return None
    x, w, out = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1]), graph.tensor(node.outputs[0])
    if w.data is None or w.dtype != "int8" or x.dtype != "int8" or out.dtype != "int8":
        return None
    if (
        tuple(w.shape[:3]) != (1, 3, 3)
        or getattr(node, "depth_multiplier", 1) != 1
        or out.shape[3] != x.shape[3]
    ):
        return None
    if tuple(getattr(node, "stride", (1, 1))) != (1, 1) or tuple(getattr(node, "dilation", (1, 1))) != (1, 1):
        return None
    if not weight_ranges(F2x2_3x3, w.data)["exact_in_int32"]:
        return None  # cannot happen for int8 depthwise (4 * 255 * 1152 < 2^31); kept as the rule
    return {"out_h": out.shape[1], "out_w": out.shape[2], "c": x.shape[3]}


@register("default")
class WinogradDepthwiseSelection(ShapeRulePass):
    """Annotate 3x3 stride-1 depthwise layers with ``kernel = "winograd_dw"`` where the cost model says it pays."""

    name = "winograd_dw"

    shape = staticmethod(_eligible)

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        shape = self.matched_shape(graph, node)
        c = shape["c"]
        est = estimate(shape["out_h"], shape["out_w"], c, ctx.dsp, direct_fast_path(graph, node))
        cands = {
            BASELINE: candidate(9 * c, est["direct"]),
            KERNEL: candidate(32 * c, est[KERNEL]),
        }
        speedup = est["direct"] / max(1, est[KERNEL])
        if ctx.forced(node) == KERNEL:
            choose, why = True, f"forced by the user (est. {speedup:.2f}x the direct kernel's speed)"
        elif not ctx.allowed(node, KERNEL):
            choose, why = False, "Winograd depthwise forbidden by the user"
        elif not ctx.dsp:
            choose, why = (
                False,
                "no measured cost model for this core (fitted on the Cortex-M4 DSP kernels): direct kept",
            )
        elif ctx.optimize == "size":
            choose, why = False, f"--optimize size: direct weights take {9 * c} B, Winograd's {32 * c} B"
        elif speedup >= MIN_SPEEDUP and (
            refusal := balanced_refusal(ctx, est["direct"] - est[KERNEL], 23 * c)
        ):
            choose, why = False, refusal
        elif speedup >= MIN_SPEEDUP:
            choose, why = True, f"est. {speedup:.2f}x fewer instructions for {23 * c} more bytes of weights"
        else:
            choose, why = (
                False,
                f"est. {est[KERNEL]:,} instructions against the direct kernel's {est['direct']:,} ({speedup:.2f}x): "
                "per-channel transforms cost more than the 20 multiplies per tile they save",
            )
        rep = kernel_report(cands, KERNEL if choose else BASELINE, why, estimated_speedup=round(speedup, 2))
        if choose:
            rep["format"] = "winograd-int16"
            node.attrs["kernel"] = KERNEL
        node.attrs["kernel_report"] = rep
        return choose
