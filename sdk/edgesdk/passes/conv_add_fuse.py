"""Fuse a residual ADD with the CONV_2D that produces one of its operands, computed in place.

In a residual block ``y = x + conv(h)`` the plain schedule keeps three tensors of the block's size alive at the
ADD: the residual ``x``, the convolution's input ``h`` and its full output. Fused, the convolution runs by bands
of output rows into a small scratch buffer and each band is added straight into ``x``'s buffer (the ADD writes
its output over ``x``, which it reads for the last time): the convolution's full output never exists. The idea
is the "fusion of an elementwise op into its producer" of TVM's operator fusion (Chen et al., OSDI 2018) and of
CMSIS-NN-style in-place residuals, applied to the arena; the arithmetic does not change (the ADD reads the very
int8 values the convolution would have stored), so the reference keeps the un-fused semantics and the result is
bit for bit the same.

An ADD is fused when
- its two inputs and output have one shape (no broadcast) and are int8 activations;
- the node right before it in the execution order is a CONV_2D whose output only this ADD reads (not a graph
  output), run by the shared direct kernel or the Winograd kernel (both clip their windows to the image, so a
  band is the same kernel with ``out_h`` and ``pad_top`` shifted) or as the FC kernel over its pixels;
- the other operand (the residual) is read for the last time by this ADD, is not a graph output, and is not
  the convolution's input (nor the same bytes through RESHAPEs): writing the sum over it band by band would
  otherwise destroy rows a later band still reads.

The ADD is annotated ``kernel = "conv_fused"`` with ``attrs["fused_conv"]`` (the convolution's name, the band
height and the scratch bytes); the convolution gets ``attrs["fused_into"]``. The planner
(:mod:`edgesdk.compiler.planner`) then plans the convolution's output as the band scratch, keeps the convolution's input
alive to the ADD and writes the ADD's output over the residual; the C backend
(:mod:`edgesdk.backends.c.conv_add`) emits the band loop.
"""

from __future__ import annotations

from edgesdk.compiler import kernels as kernel_table
from edgesdk.ir import graph as ir
from edgesdk.passes import Pass, PassContext, register
from edgesdk.passes._report import candidate, kernel_report

KERNEL = "conv_fused"
#: Output rows per band. Even, so that a Winograd F(2x2,3x3) band holds whole 2-row tiles; two rows keep the
#: scratch small (1 KB for a 32x32x16 block) while the kernels' per-call overhead stays a few hundred
#: instructions per band.
BAND_ROWS = 2
#: Convolution kernels whose band call is the same kernel with shifted ``out_h``/``pad_top`` ("" = the shared
#: direct kernel, portable or Cortex-M DSP; "dense" is what a kernel-selection pass calls it), or, for the 1x1
#: convolution run as the fully-connected kernel over the pixels, with the band's pixels as its batches; the
#: specialised convolutions (``passes/specialize.py``) through their own band function.
#: A read of the kernel table (the rows with ``bands``).
BANDABLE_KERNELS = kernel_table.bandable()
#: Instructions per element of the same-shape ADD (Cortex-M DSP / portable kernel) and extra instructions per band
#: of a fused ADD (the convolution's per-call setup and the band loop), measured on IC's three residual ADDs on
#: the emulated Cortex-M4 (mps2-an386): 18.3 per element, +5,520 instructions over 56 bands.
ADD_INSN_PER_ELEMENT = {True: 18, False: 49}
INSN_PER_BAND = 100


def _buffer_root(graph: ir.Graph, name: str) -> str:
    """The tensor whose bytes ``name`` shares through RESHAPEs (the planner aliases a RESHAPE to its input)."""
    seen = set()
    while name not in seen:
        seen.add(name)
        prod = graph.producer(name)
        if prod is None or prod.op != "RESHAPE" or not prod.inputs or not prod.inputs[0]:
            return name
        name = prod.inputs[0]
    return name


def fusable_conv(graph: ir.Graph, node: ir.Node) -> tuple[ir.Node, int] | None:
    """(the CONV_2D to fuse, the index of its output among the ADD's inputs), or None (see the module doc)."""
    if node.op != "ADD" or len(node.inputs) != 2 or len(node.outputs) != 1 or not all(node.inputs):
        return None
    a, b = (graph.tensor(n) for n in node.inputs)
    out = graph.tensor(node.outputs[0])
    if a.is_const or b.is_const or node.inputs[0] == node.inputs[1]:
        return None
    if (
        not (a.shape == b.shape == out.shape and a.dtype == b.dtype == out.dtype == "int8")
        or len(out.shape) != 4
    ):
        return None
    idx = graph.nodes.index(node)
    if idx == 0:
        return None
    conv = graph.nodes[idx - 1]
    if conv.op != "CONV_2D" or len(conv.outputs) != 1 or conv.outputs[0] not in node.inputs:
        return None
    if conv.attrs.get("kernel", "") not in BANDABLE_KERNELS or "fused_into" in conv.attrs:
        return None
    y = conv.outputs[0]
    if y in graph.outputs or [id(c) for c in graph.consumers(y)] != [id(node)]:
        return None
    k = node.inputs.index(y)
    resid = node.inputs[1 - k]
    if resid in graph.outputs:
        return None
    if any(graph.nodes.index(c) > idx for c in graph.consumers(resid)):
        return None
    if _buffer_root(graph, resid) == _buffer_root(graph, conv.inputs[0]):
        return None
    if out.shape[1] <= BAND_ROWS:
        return None  # one band is the whole output: nothing saved
    return conv, k


def scratch_bytes(graph: ir.Graph, conv: ir.Node, band_rows: int = BAND_ROWS) -> int:
    """Bytes of one band of ``conv``'s output (``band_rows`` rows)."""
    _, h, w, c = graph.tensor(conv.outputs[0]).shape
    return min(band_rows, h) * w * c


@register("default")
class ConvAddFuse(Pass):
    """Annotate residual ADDs to be computed by bands of their convolution operand, in place."""

    name = "conv_add_fuse"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        return node.op == "ADD" and "kernel" not in node.attrs and fusable_conv(graph, node) is not None

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:
        found = fusable_conv(graph, node)
        if found is None or not ctx.allowed(node, KERNEL):
            return False
        conv, k = found
        full = graph.tensor(conv.outputs[0]).nbytes
        scratch = scratch_bytes(graph, conv)
        elems = graph.tensor(node.outputs[0]).size
        bands = -(-graph.tensor(conv.outputs[0]).shape[1] // BAND_ROWS)
        add_insn = elems * ADD_INSN_PER_ELEMENT[ctx.dsp]
        resid = node.inputs[1 - k]
        prod = graph.producer(resid)
        resid_name = f"the output of {prod.name}" if prod is not None else f"the input {resid}"
        node.attrs["kernel"] = KERNEL
        node.attrs["fused_conv"] = {
            "conv": conv.name,
            "operand": k,
            "band_rows": BAND_ROWS,
            "scratch_bytes": scratch,
        }
        conv.attrs["fused_into"] = node.name
        node.attrs["kernel_report"] = kernel_report(
            {"dense": candidate(0, add_insn), KERNEL: candidate(0, add_insn + bands * INSN_PER_BAND)},
            KERNEL,
            f"{conv.name} runs by {bands} bands of {BAND_ROWS} output rows into a {scratch} B scratch, each added "
            f"in place into {resid_name}: its {full} B output never exists ({full - scratch} B less live at "
            f"this step, est. {bands * INSN_PER_BAND} more instructions)",
            fused_conv=conv.name,
            band_rows=BAND_ROWS,
            scratch_bytes=scratch,
            bytes_saved=full - scratch,
            bands=bands,
            elements=elems,
        )
        return True
