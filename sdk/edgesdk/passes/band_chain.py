"""Memory: run two convolutions as one band chain where the first one's whole output would set the arena.

Patch-based inference (MCUNetV2, Lin et al., NeurIPS 2021) runs the early, high-resolution layers on spatial
tiles with their receptive-field halo, so that no whole feature map of those layers exists. Here the tiles are
bands of output rows: convolution B (a 3x3 convolution, or one fused with its residual ADD by
``passes/conv_add_fuse.py``) runs band by band, and the rows of its input that a band reads are computed by
convolution A (the layer right before, whose output only B reads) into a band buffer of a few rows. The rows a
later band reads again (the halo) slide to the buffer's start with one ``memmove`` instead of being computed
again, so A computes each of its rows once: the price is that copy and the per-band calls, no recomputation
(``estimate``). The planner (:mod:`edgesdk.compiler.planner`) plans A's output as the band buffer and keeps A's input
live to the step B runs at; the C backend (:mod:`edgesdk.backends.c.band_chain`) emits the chain.

A chain is made only where it lowers the arena: every candidate chained, then each unchained whose return does
not grow the arena. ``PassContext.options["band_chain"] = False`` makes none, nor does ``--optimize speed`` (a
chain trades instructions for arena bytes; speed keeps every instruction and the kernel-code budget of its copies). ResNet-8 (MLPerf Tiny IC): the 32x32x16 stage keeps its input (read by the residual ADD)
beside the intermediate map; chained, only x plus a few rows of the intermediate are live.
"""

from __future__ import annotations

from typing import Any

from edgesdk.backends.c.band_chain import B_KERNELS, TILE_ROWS, chain_rows
from edgesdk.ir import graph as ir
from edgesdk.passes import Pass, PassContext, register

#: Output rows of B per band where B is not fused into an ADD (an ADD's fusion sets its own).
BAND_ROWS = 2
#: Kernels of A whose rows can be computed by bands (run-time out_h/pad_top, or a specialised band function).
A_KERNELS = ("", "dense", "winograd", "specialized", "specialized16")
#: Estimated instructions per word moved by the halo slide and per band (two calls, the band bookkeeping).
PER_WORD_MOVED, PER_BAND = 3, 150


def _node(graph: ir.Graph, name: str) -> ir.Node:
    return next(n for n in graph.nodes if n.name == name)


def _candidate(graph: ir.Graph, node: ir.Node) -> ir.Node | None:
    """A (the convolution to chain into ``node``), or None."""
    if node.op != "CONV_2D" or node.attrs.get("kernel", "") not in B_KERNELS or "band_chain" in node.attrs:
        return None
    fused = node.attrs.get("fused_into")
    if fused is not None and _node(graph, fused).attrs.get("kernel") != "conv_fused":
        return None
    idx = graph.nodes.index(node)
    if idx == 0 or not node.inputs:
        return None
    a = graph.nodes[idx - 1]
    x = node.inputs[0]
    if (
        a.op != "CONV_2D"
        or a.outputs != [x]
        or "fused_into" in a.attrs
        or a.attrs.get("kernel", "") not in A_KERNELS
    ):
        return None
    if (
        a.attrs.get("kernel") == "decoded"
        or x in graph.outputs
        or [c is node for c in graph.consumers(x)] != [True]
    ):
        return None
    if not a.inputs or not a.inputs[0] or graph.tensor(a.inputs[0]).is_const:
        return None
    return a


def estimate(graph: ir.Graph, node: ir.Node, band_rows: int) -> dict[str, int]:
    """Bands, bytes moved by the halo slides and the estimated extra instructions of the chain."""
    y = graph.tensor(node.outputs[0])
    bands = -(-int(y.shape[1]) // band_rows)
    rows, row = chain_rows(graph, node, band_rows)
    s_h = int(tuple(getattr(node, "stride", (1, 1)))[0])
    halo = max(rows - band_rows * s_h, 0)
    moved = (bands - 1) * halo * row
    return {
        "bands": bands,
        "bytes_moved": moved,
        "instructions": moved // 4 * PER_WORD_MOVED + bands * PER_BAND,
    }


@register("default")
class BandChain(Pass):
    """Chain convolution pairs by bands where that lowers the arena (see the module docstring)."""

    name = "band_chain"

    def run(self, graph: ir.Graph, ctx: PassContext) -> bool:
        from edgesdk.compiler.planner import keep_lowering, plan

        if ctx.options.get("band_chain") is False or ctx.optimize == "speed":
            return False
        cands = [(n, a) for n in graph.nodes if (a := _candidate(graph, n)) is not None]
        if not cands:
            return False

        def band_rows(n: ir.Node) -> int:
            fused = n.attrs.get("fused_into")
            return int(_node(graph, fused).attrs["fused_conv"]["band_rows"]) if fused else BAND_ROWS

        def apply(chosen: list[tuple[ir.Node, ir.Node]]) -> int:
            for n, a in cands:
                n.attrs.pop("band_chain", None)
                if a.attrs.get("fused_into") == n.name:
                    a.attrs.pop("fused_into")
            for n, a in chosen:
                n.attrs["band_chain"] = {
                    "conv": a.name,
                    "a_kernel": a.attrs.get("kernel", ""),
                    "band_rows": band_rows(n),
                }
                rows, row = chain_rows(graph, n, band_rows(n))
                n.attrs["band_chain"]["scratch_bytes"] = rows * row
                a.attrs["fused_into"] = n.name
            return plan(graph).arena_bytes

        before = apply([])
        chosen, best = keep_lowering(cands, apply)
        apply(chosen)
        for n, a in chosen:
            est = estimate(graph, n, band_rows(n))
            info: dict[str, Any] = n.attrs["band_chain"]
            full = graph.tensor(n.inputs[0]).nbytes
            info.update(est)
            tile = TILE_ROWS.get(info["a_kernel"], 1)
            n.attrs["kernel_report"] = {
                **n.attrs.get("kernel_report", {}),
                "band_chain": dict(info),
                "arena_bytes": {"whole": before, "band_chain": best},
                "why": (
                    f"band chain: {a.name} computed {tile} row(s) at a time into a {info['scratch_bytes']} B band "
                    f"buffer (its {full} B output never exists), {n.name} run by {est['bands']} bands of "
                    f"{info['band_rows']} rows; the halo slides ({est['bytes_moved']:,} B moved), nothing is "
                    f"computed twice: arena {before:,} -> {best:,} B for est. {est['instructions']:,} more instructions"
                    + (
                        f"; {n.attrs['kernel_report']['why']}"
                        if n.attrs.get("kernel_report", {}).get("why")
                        else ""
                    )
                ),
            }
        return bool(chosen)
