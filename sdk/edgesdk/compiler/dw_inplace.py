"""In-place depthwise convolution: the output written over the input it reads for the last time.

A depthwise layer (depth multiplier 1, so that the output is no larger than the input) computes its output row
by row. Output row ``oy`` lands in the bytes of input rows ``first..last_in_row(oy)`` of the shared buffer and
reads input rows from ``need_lo(oy) = max(0, oy * stride - pad_top)`` on (``need_lo`` never decreases). A row
whose destination lies wholly before the rows it reads is written in place directly; any other row is computed
into a small ring of row buffers (the scratch) and copied to its place as soon as no later row reads the input
rows it covers. For stride 1 SAME that is two output rows of scratch, for stride 2 or VALID one row: the layer needs ``max(input, output) + scratch`` bytes instead of ``input + output``.

A kernel that computes channel group by channel group through a band of input rows already writes in place: the
Cortex-M DSP kernel's 3x3 path (``firmware/kernels/cortex-m-dsp/ed_dwconv.c``) copies each input row of a group
into its band before it writes the output rows that land on it, and an output row covers only input rows already
copied; its small-map path (``cortex-m-dsp/ed_dw_map.h``) copies a group's whole padded input into a map on the
stack before it writes any of the group's outputs; its path for stride-2 maps one column wide computes group by
group in raster order, and a pixel's window starts at or after its own position, so it too only overwrites input
no later pixel reads. A layer
the pass marks with ``SELF_ATTR`` (the core runs that kernel and the layer takes that path,
:func:`band_path_shape`) gets one call over the whole layer and no scratch (``slots == 0``).

``schedule`` is the single description of the ring's order: the C kernel ``ed_dwconv_inplace_s8``
(``firmware/kernels/ed_dwconv_inplace.c``) follows the same rules, and the planner sizes the scratch from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesdk.ir import graph as ir

KERNEL = "inplace"


#: ``node.attrs`` key: output rows per kernel call (``passes/dw_inplace.py`` chooses it; default 1).
ROWS_ATTR = "inplace_rows"


#: ``node.attrs`` key: the core's depthwise kernel writes this layer in place itself (see the module doc).
SELF_ATTR = "inplace_self"

#: Words of a padded input row the DSP kernel's band holds (``ED_DW_NW`` in cortex-m-dsp/ed_dwconv.c).
BAND_WORDS = 32


@dataclass(frozen=True)
class InplaceSchedule:
    """``slots``: output rows of scratch the ring needs (a multiple of ``rows``); ``direct``: the rows written in
    place directly; ``rows``: output rows per kernel call (a group)."""

    slots: int
    direct: tuple[int, ...]
    row_bytes: int
    rows: int = 1

    @property
    def scratch_bytes(self) -> int:
        return self.slots * self.row_bytes


def schedule(
    in_h: int,
    in_w: int,
    in_c: int,
    out_h: int,
    out_w: int,
    out_c: int,
    stride_h: int,
    pad_top: int,
    rows: int = 1,
) -> InplaceSchedule:
    """Which output rows are written directly and how many row buffers the others need (see the module doc), the
    kernel called for groups of ``rows`` output rows (the C kernel's order: a group goes direct only when its
    whole destination lies before the input rows it reads)."""
    row_in, row_out = in_w * in_c, out_w * out_c

    def last_in_row(oy: int) -> int:
        return ((oy + 1) * row_out - 1) // row_in

    def need_lo(oy: int) -> int:
        return max(0, oy * stride_h - pad_top)

    pb = pe = 0  # pending rows [pb, pe), computed into the ring, not yet copied to their place
    slots = 0
    direct: list[int] = []
    for oy in range(0, out_h, rows):
        end = min(oy + rows, out_h)
        if pb == pe and last_in_row(end - 1) < need_lo(oy):
            direct.extend(range(oy, end))
            pb = pe = end
        else:
            pe = end
            slots = max(slots, pe - pb)
        nlo = need_lo(end) if end < out_h else 1 << 62
        while pb < pe and last_in_row(pb) < nlo:
            pb += 1
        if pb == pe:
            pb = pe = end
    slots = -(-slots // rows) * rows  # groups start at multiples of rows: whole groups of slots
    return InplaceSchedule(slots=slots, direct=tuple(direct), row_bytes=row_out, rows=rows)


def eligible(graph: ir.Graph, node: ir.Node) -> bool:
    """An int8 depthwise conv, depth multiplier 1, whose output is no larger than its input."""
    if node.op != "DEPTHWISE_CONV_2D" or not node.inputs or len(node.outputs) != 1:
        return False
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    if x.is_const or x.dtype != "int8" or y.dtype != "int8" or len(x.shape) != 4 or len(y.shape) != 4:
        return False
    return getattr(node, "depth_multiplier", 1) == 1 and y.shape[3] == x.shape[3] and y.nbytes <= x.nbytes


def node_schedule(graph: ir.Graph, node: ir.Node) -> InplaceSchedule:
    """:func:`schedule` of a depthwise layer (padding before the data as TFLite's ComputePadding)."""
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    k_h = graph.tensor(node.inputs[1]).shape[1]
    s_h = tuple(getattr(node, "stride", (1, 1)))[0]
    d_h = tuple(getattr(node, "dilation", (1, 1)))[0]
    _, in_h, in_w, in_c = x.shape
    _, out_h, out_w, out_c = y.shape
    pad_top = 0
    if getattr(node, "padding", "SAME") == "SAME":
        pad_top = max(0, ((out_h - 1) * s_h + (k_h - 1) * d_h + 1 - in_h) // 2)
    if node.attrs.get(SELF_ATTR):
        return InplaceSchedule(slots=0, direct=tuple(range(out_h)), row_bytes=out_w * out_c, rows=out_h)
    return schedule(in_h, in_w, in_c, out_h, out_w, out_c, s_h, pad_top, int(node.attrs.get(ROWS_ATTR, 1)))


def band_path_shape(p: dict) -> bool:
    """Whether the DSP depthwise kernel's band path takes a layer of this shape (``ed_dw3x3_fast_ok``'s shape
    conditions on ``edgesdk.reference.params.op_params``; its requantization conditions are
    ``edgesdk.passes.winograd_dw.direct_fast_path``): 3x3, depth multiplier 1, undilated, input at least 3x3,
    padding at most one row and column on each side, and a band row of at most ``BAND_WORDS`` words: a padded
    input row at stride at most 2 across, or (a map taller than wide and as wide as its input, which runs
    transposed) a padded input column at stride at most 2 down."""
    out_h, out_w, in_h, in_w = p["out_h"], p["out_w"], p["in_h"], p["in_w"]
    s_h, s_w, pad_h, pad_w = p["stride_h"], p["stride_w"], p["pad_h"], p["pad_w"]
    return bool(
        p["depth_multiplier"] == 1
        and (p["filter_h"], p["filter_w"]) == (3, 3)
        and (p["dilation_h"], p["dilation_w"]) == (1, 1)
        and min(in_h, in_w) >= 3
        and (
            (s_w <= 2 and out_w <= in_w and ((out_w - 1) * s_w + 4) // 2 <= BAND_WORDS)
            or (  # transposed: a tall map as wide as its input
                out_h > out_w
                and out_w == in_w
                and out_h <= in_h
                and s_h <= 2
                and ((out_h - 1) * s_h + 4) // 2 <= BAND_WORDS
            )
        )
        and 0 <= pad_h <= 1
        and 0 <= pad_w <= 1
        and (out_h - 1) * s_h - pad_h + 3 - in_h <= 1
        and (out_w - 1) * s_w - pad_w + 3 - in_w <= 1
    )


def scratch_name(node: ir.Node) -> str:
    """The planner's name of a layer's scratch buffer (not a graph tensor)."""
    return f"{node.name}:inplace_scratch"


def may_write_over(graph: ir.Graph, node: ir.Node, inp: str) -> bool:
    """Whether the planner may give ``node``'s output its input's buffer: a layer annotated ``kernel =
    "inplace"`` (by ``edgesdk.passes.dw_inplace``) writing over its data input."""
    return (
        node.attrs.get("kernel") == KERNEL
        and bool(node.inputs)
        and inp == node.inputs[0]
        and eligible(graph, node)
    )
