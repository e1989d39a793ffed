"""How far a layer's output may trail its input in the same bytes: the overlap the planner may give a pair.

A kernel that walks its output pixels in order (row-major, every channel of a pixel before the next pixel) and
only reads input at or after a known place can write its output over the input it reads for the last time,
provided each output byte lands where no input byte still to be read lies. With the output placed ``shift``
bytes after the input's start (negative: before it), output byte ``j`` may be written once every input byte
below ``shift + j`` has been read for the last time.

The kernel table (``writes_behind`` of a row, ``firmware/kernels/kernels.toml``) declares per kernel how it
walks: ``N`` output pixels per block at most, and while it writes any byte of output pixel ``q`` it still reads
input from the window of pixel ``q - N + 1`` on (a DSP kernel computing two pixels per pass, channel pair by
channel pair, re-reads both windows after it has written the first pair's outputs: ``N = 2``). The lowest input
byte a window reads is its top-left tap clipped to the image (TFLite's SAME/VALID padding), so

    shift <= min over q of  lo(q - N + 1) - end(q)

where ``lo(p)`` is the first byte of the top-left input pixel of pixel ``p``'s window and ``end(q)`` the end of
output pixel ``q``. A 1x1 stride-1 layer from 8 to 16 channels on P pixels gets ``shift = -8P - 16`` (one pixel
of gap with ``N = 1``): the pair needs ``max(in, out) + 16`` bytes instead of ``in + out``. The idea is the
in-place, memory-overlapping schedule of memory-lean inference engines (MCUNet's TinyEngine, Lin et al.,
NeurIPS 2020; "operator-level memory overlap" in Liberis & Lane, "Neural networks on microcontrollers: saving
memory at inference via operator reordering", 2019), here driven by the kernels' own declarations so that a
kernel rewritten with another walk changes only its declaration.
"""

from __future__ import annotations

import numpy as np

from edgesdk.compiler import kernels as kernel_table
from edgesdk.ir import graph as ir
from edgesdk.ir import weightformats as wf

#: ``node.attrs`` key the ``overlap`` pass sets: the output pixels per block its kernel declares on the target.
ATTR = "writes_behind"


def _padding(in_size: int, out_size: int, k: int, s: int, d: int, same: bool) -> int:
    """Padding before the data (TFLite's ComputePadding)."""
    if not same:
        return 0
    return max(0, ((out_size - 1) * s + (k - 1) * d + 1 - in_size) // 2)


def conv_geometry(graph: ir.Graph, node: ir.Node) -> dict[str, int] | None:
    """The window geometry of a CONV_2D (or a FULLY_CONNECTED as a 1x1 over its batch rows), or None."""
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    if node.op == "FULLY_CONNECTED":
        if not x.shape or not y.shape:
            return None
        rows = int(np.prod(y.shape[:-1], dtype=np.int64))
        return dict(in_h=rows, in_w=1, in_c=x.size // rows, out_h=rows, out_w=1, out_c=int(y.shape[-1]),
                    s_h=1, s_w=1, pad_top=0, pad_left=0)  # fmt: skip
    if node.op != "CONV_2D" or len(x.shape) != 4 or len(y.shape) != 4:
        return None
    w = graph.tensor(node.inputs[1])
    _, in_h, in_w, in_c = (int(v) for v in x.shape)
    _, out_h, out_w, out_c = (int(v) for v in y.shape)
    k_h, k_w = int(w.shape[1]), int(w.shape[2])
    s_h, s_w = (int(v) for v in getattr(node, "stride", (1, 1)))
    d_h, d_w = (int(v) for v in getattr(node, "dilation", (1, 1)))
    same = getattr(node, "padding", "SAME") == "SAME"
    return dict(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, s_h=s_h, s_w=s_w,
                pad_top=_padding(in_h, out_h, k_h, s_h, d_h, same),
                pad_left=_padding(in_w, out_w, k_w, s_w, d_w, same))  # fmt: skip


def max_shift(geo: dict[str, int], block: int) -> int:
    """The largest ``output offset - input offset`` (bytes) at which a kernel declaring ``block`` output pixels
    per block never overwrites input it still reads (see the module docstring). Never below ``-output bytes``:
    an output wholly before its input is always safe."""
    out_px = geo["out_h"] * geo["out_w"]
    q = np.arange(out_px, dtype=np.int64)
    p = np.maximum(q - (block - 1), 0)
    oy, ox = p // geo["out_w"], p % geo["out_w"]
    iy = np.clip(oy * geo["s_h"] - geo["pad_top"], 0, geo["in_h"] - 1)
    ix = np.clip(ox * geo["s_w"] - geo["pad_left"], 0, geo["in_w"] - 1)
    lo = (iy * geo["in_w"] + ix) * geo["in_c"]
    end = (q + 1) * geo["out_c"]
    return int(np.min(lo - end))


def declared_block(node: ir.Node, target: str | None) -> int | None:
    """Output pixels per block the kernel of ``node`` declares on the kernel folder ``target`` (None: none). A layer
    whose weights are decoded whole into their scratch before the int8 FC kernel runs (``pointwise_s8``) walks
    its pixels as that kernel does."""
    kernel = node.attrs.get("kernel", "")
    inner = (node.attrs.get("decoded") or {}).get("inner", "")
    if kernel == "decoded" and wf.DECODE_LAYOUTS.get(inner) == "fc8":
        kernel = inner
    return kernel_table.writes_behind(node.op, kernel, target)


def node_shift(graph: ir.Graph, node: ir.Node) -> int | None:
    """The largest output-over-input shift of a node the ``overlap`` pass annotated, or None."""
    block = node.attrs.get(ATTR)
    if not block or not node.inputs or not node.outputs:
        return None
    geo = conv_geometry(graph, node)
    return None if geo is None else max_shift(geo, int(block))
