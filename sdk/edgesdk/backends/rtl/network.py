"""IR -> one Verilog design of the whole network, with the reference's integer math.

The design is sequential (one layer at a time, a sequencer starting each when the one before is done), which is
what a part as small as the iCE40 UP5K (5,280 LUT4s, 8 DSP blocks, 30 EBR) holds:

- ``FULLY_CONNECTED`` with int8 weights: one multiply-accumulate per cycle on registered operands, which yosys
  maps onto one DSP block (SB_MAC16 on the iCE40, MULT18X18D on the ECP5), or with a parallelism P > 1 a MAC
  array: P output channels at once, P multipliers reading one P-byte word of the weight memory per cycle against
  the same (broadcast) input byte, so that a layer of O channels takes O/P passes over its input (``CONV_2D``
  likewise; a depthwise channel reads its own input, so ``DEPTHWISE_CONV_2D`` keeps one); with ternary weights {-127, 0, 127}
  (TWN, Li et al. 2016) the sign of a 2-bit code chooses add or subtract and the sum is scaled by 127 at the end,
  so the layer needs no multiplier and a quarter of the weight memory;
- ``EDGESDK_BINARIZE`` (BatchNorm + sign on int8 values), ``EDGESDK_XNOR_FULLY_CONNECTED`` (XNOR-Net, Rastegari
  et al. 2016: a 32-bit XOR and popcount per cycle against the bound of :func:`edgesdk.backends.hls.rtl.popcount_bounds`)
  and ``EDGESDK_UNPACK_BITS``;
- requantization is TFLite's ``MultiplyByQuantizedMultiplier`` with the reference's two roundings, the constants
  from :func:`edgesdk.reference.params.op_params` (the numbers the C backend writes), the 32x32 product by a
  serial shift-and-add unit (two bits a cycle, 16 cycles) instead of four DSP blocks; with P lanes, P such units
  requantize a group together and its P bytes are written one a cycle while the next group accumulates.

A trailing ``SOFTMAX`` stays on the host: the design's output is its input (the logits, whose argmax is the
class). Every weight and per-channel constant is a ROM initialized with ``$readmemh``; every tensor between two
layers is a memory of its own.

:func:`estimate_network` gives the cycles and block RAM of each layer from the shapes alone, by the same
schedule the Verilog follows, so that the estimate can be checked against the simulated and synthesized design.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.backends.hls.rtl_tools import render
from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.reference.binary import WORD, words_for

#: ops of the generated design; a graph with any other op (a trailing SOFTMAX aside) is not an RTL design
RTL_OPS = (
    "FULLY_CONNECTED",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "AVERAGE_POOL_2D",
    "EDGESDK_BINARIZE",
    "EDGESDK_XNOR_FULLY_CONNECTED",
    "EDGESDK_UNPACK_BITS",
    "RESHAPE",
)
#: cycles of one requantization: the go cycle, 16 shift-and-add steps (two multiplier bits each), six register
#: stages of rounding and clamp
REQUANT_CYCLES = 1 + 16 + 6
#: cycles from the last output's hand-over to a requantization unit to its written byte (the unit and the write)
ROTATING_TAIL = REQUANT_CYCLES
#: bytes of constants per output row of an int8 layer: bias, multiplier (int32 each), shift (int8)
CONST_BYTES = 9
#: block RAM geometries of the parts: (kind, bits per block, [(depth, width) configurations])
EBR_SHAPES = {
    "ice40": ("EBR (4 Kib)", 4096, [(256, 16), (512, 8), (1024, 4), (2048, 2)]),
    "ecp5": ("DP16KD (18 Kib)", 18432, [(512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)]),
}


def _aw(depth: int) -> int:
    """Address bits of a memory of ``depth`` words (at least 1)."""
    return max(1, (depth - 1).bit_length())


def _lit(value: int, width: int) -> str:
    """A signed sized Verilog literal."""
    return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"


def _ident(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


#: yosys (memory_libmap) weighs a block RAM (iCE40 64, ECP5 128) against the memory in logic: a ROM by one LUT4
#: per 16 bits, a RAM by one flip-flop per bit on the iCE40 and by its distributed RAM (4 bits a unit) on the ECP5;
#: a memory goes where it is cheaper (constants fitted to yosys 0.23's choices on the generated designs)
BLOCK_COST = {"ice40": 64, "ecp5": 128}
ROM_BITS_PER_LUT = 16
RAM_BITS_PER_UNIT = {"ice40": 1, "ecp5": 4}


def blocks_for(depth: int, width: int, family: str = "ice40", rom: bool = False) -> int:
    """Block RAMs one memory of ``depth`` x ``width`` bits takes: the cheapest configuration of the part's
    blocks, or 0 where yosys keeps it in logic because that costs less (:data:`BLOCK_COST`)."""
    _, _, shapes = EBR_SHAPES[family]
    blocks = min(math.ceil(width / w) * math.ceil(depth / d) for d, w in shapes)
    logic = depth * width / (ROM_BITS_PER_LUT if rom else RAM_BITS_PER_UNIT[family])
    return blocks if blocks * BLOCK_COST[family] <= logic else 0


@dataclass
class RtlLayer:
    """One layer of the design: its Verilog parameters, its ROM contents and its estimated figures."""

    name: str
    op: str
    kind: str  # fc, ternary, xnor, binarize, unpack
    params: dict[str, Any]
    roms: dict[str, list[str]]  # file name -> hex lines
    cycles: int  # estimated cycles from start to done
    rom_shapes: list[tuple[int, int]]  # (depth, width) of each ROM
    macs: int = 0


@dataclass
class NetDesign:
    """The whole network's Verilog (``verilog``, top module ``top``), its ROM files and the tensors it moves."""

    top: str
    verilog: str
    layers: list[RtlLayer]
    roms: dict[str, list[str]]
    input_tensor: str
    output_tensor: str
    in_bytes: int
    out_bytes: int
    host_softmax: str | None = None
    memories: list[dict[str, Any]] = field(default_factory=list)

    def write(self, folder: Path) -> Path:
        """Write the Verilog and its ROM files into ``folder``; return the Verilog's path."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, lines in self.roms.items():
            (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        path = folder / f"{self.top}.v"
        path.write_text(self.verilog, encoding="utf-8")
        return path


def _rtl_nodes(graph: ir.Graph) -> tuple[list[ir.Node], ir.Node | None]:
    nodes = list(graph.nodes)
    soft = None
    if nodes and nodes[-1].op == "SOFTMAX":
        soft = nodes.pop()
    for node in nodes:
        if node.op not in RTL_OPS:
            raise UnsupportedOpError(
                f"layer {node.name}: op {node.op} has no Verilog implementation (the whole-network generator "
                f"takes {', '.join(RTL_OPS)} and a trailing SOFTMAX)"
            )
    if not nodes:
        raise UnsupportedOpError(f"graph {graph.name} has no layer the whole-network generator takes")
    return nodes, soft


def supports(graph: ir.Graph) -> bool:
    """Whether every layer of ``graph`` has a Verilog implementation (so ``synth`` can build the whole network)."""
    try:
        _rtl_nodes(graph)
    except UnsupportedOpError:
        return False
    return True


#: the largest MAC array (output channels at once) a layer takes
MAX_PARALLEL = 32


def lanes(out: int, parallel: int) -> int:
    """Output channels computed at once by an int8 layer of ``out`` channels under a parallelism ``parallel``:
    the largest divisor of ``out`` not above it, so that every group of channels is whole."""
    return max(d for d in range(1, min(out, parallel) + 1) if out % d == 0)


def _wide(rows: np.ndarray, p: int) -> list[str]:
    """Hex lines of a P-lane memory: ``rows`` (O, N) int8 values, O a multiple of ``p``; word g*N + n holds
    rows g*P .. g*P+P-1 at column n, lane j in bits 8j+7..8j (lane 0 least significant)."""
    o, n = rows.shape
    words = (rows.reshape(o // p, p, n).transpose(0, 2, 1).reshape(-1, p) & 0xFF)[:, ::-1]
    return ["".join(f"{int(v):02x}" for v in word) for word in words]


def _fc_layer(graph: ir.Graph, node: ir.Node, index: int, parallel: int = 1) -> RtlLayer:
    from edgesdk.reference.params import op_params

    p = op_params(graph, node)
    if "input_offset" not in p:
        raise UnsupportedOpError(f"layer {node.name}: float FULLY_CONNECTED has no Verilog implementation")
    if p["filter_offset"] != 0:
        raise UnsupportedOpError(
            f"layer {node.name}: weights with a zero point have no Verilog implementation"
        )
    w = np.asarray(graph.tensor(node.inputs[1]).data).astype(np.int64)
    o, k = w.shape
    bias = (
        np.asarray(graph.tensor(node.inputs[2]).data).astype(np.int64)
        if len(node.inputs) > 2 and node.inputs[2]
        else np.zeros(o, dtype=np.int64)
    )
    mult = np.broadcast_to(np.asarray(p["output_multiplier"], dtype=np.int64), (o,))
    shift = np.broadcast_to(np.asarray(p["output_shift"], dtype=np.int64), (o,))
    ternary = bool(np.all(np.isin(w, (-127, 0, 127))))
    lanes_ = 1 if ternary else lanes(o, parallel)
    groups = o // lanes_
    module = f"l{index}_{_ident(node.name)}"[:60]
    wfile, pfile = f"{module}_w.hex", f"{module}_p.hex"
    if ternary:
        codes = np.where(w > 0, 1, np.where(w < 0, 3, 0)).reshape(-1)
        wlines, ww = [f"{int(c):x}" for c in codes], 2
    else:
        wlines, ww = _wide(w, lanes_), 8 * lanes_
    plines = _wide(_constants(node, bias, mult, shift).reshape(o, CONST_BYTES), lanes_)
    loop = max(k, CONST_BYTES)
    src_aw, dst_aw = _aw(k), _aw(o)
    params = {
        "kind": "ternary" if ternary else "fc",
        "name": node.name,
        "module": module,
        "what": f"FULLY_CONNECTED {k} -> {o}, "
        + (
            "ternary weights {-127, 0, 127}: add/subtract"
            if ternary
            else f"int8 weights on {lanes_} DSP block{'s' if lanes_ > 1 else ''}"
        ),
        "k": k,
        "out": o,
        "p": lanes_,
        "u": lanes_,
        "rot": False,
        "ngo": 1,
        "groups": groups,
        "loop": loop,
        "ww": ww,
        "wdepth": groups * k,
        "pdepth": groups * CONST_BYTES,
        "waddr": _aw(groups * k + 1),
        "paddr": _aw(groups * CONST_BYTES + 1),
        "kw": max(loop.bit_length(), src_aw),
        "raw": src_aw,
        "waw": dst_aw,
        "wfile": wfile,
        "pfile": pfile,
        "in_off_lit": _lit(int(p["input_offset"]), 10),
        "out_off": int(p["output_offset"]),
        "act_min": int(p["activation_min"]),
        "act_max": int(p["activation_max"]),
        "acc_expr": "((acc <<< 7) - acc)" if ternary else "acc",
    }
    return RtlLayer(
        name=node.name,
        op=node.op,
        kind=params["kind"],
        params=params,
        roms={wfile: wlines, pfile: plines},
        cycles=fc_cycles(k, groups, lanes_),
        rom_shapes=[(groups * k, ww), (groups * CONST_BYTES, 8 * lanes_)],
        macs=o * k,
    )


def _constants(node: ir.Node, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The per-row constant bytes of an int8 layer (one row after the other): bias, multiplier (int32), shift
    (int8), little-endian."""
    if np.any(mult < 0) or np.any(shift < -31) or np.any(shift > 30):
        raise UnsupportedOpError(f"layer {node.name}: a requantization multiplier is out of the unit's range")
    blob = b"".join(
        int(b & 0xFFFFFFFF).to_bytes(4, "little")
        + int(m & 0xFFFFFFFF).to_bytes(4, "little")
        + int(sh & 0xFF).to_bytes(1, "little")
        for b, m, sh in zip(bias, mult, shift, strict=True)
    )
    return np.frombuffer(blob, dtype=np.uint8).astype(np.int64)


def _window(p: dict[str, Any], c: int) -> dict[str, Any]:
    """Window walker parameters shared by convolutions and pooling: the first tap's row/column/address (the
    padding makes them negative) and the address steps."""
    h, w, kh, kw = p["in_h"], p["in_w"], p["filter_h"], p["filter_w"]
    pt, pl = p["pad_h"], p["pad_w"]
    return {
        "h": h,
        "w": w,
        "c": c,
        "kh": kh,
        "kw_": kw,
        "sh": p["stride_h"],
        "sw": p["stride_w"],
        "pt": pt,
        "pl": pl,
        "oh": p["out_h"],
        "ow_": p["out_w"],
        "iy0_lit": _lit(-pt, 24),
        "ix0_lit": _lit(-pl, 24),
        "base0_lit": _lit((-pt * w - pl) * c, 24),
    }


def _conv_layer(graph: ir.Graph, node: ir.Node, index: int, parallel: int = 1) -> RtlLayer:
    from edgesdk.reference.params import op_params

    p = op_params(graph, node)
    dw = node.op == "DEPTHWISE_CONV_2D"
    if "input_offset" not in p:
        raise UnsupportedOpError(f"layer {node.name}: float {node.op} has no Verilog implementation")
    if p["dilation_h"] != 1 or p["dilation_w"] != 1 or (dw and p["depth_multiplier"] != 1):
        raise UnsupportedOpError(
            f"layer {node.name}: {node.op} with dilation or a depth multiplier has no Verilog implementation"
        )
    w = np.asarray(graph.tensor(node.inputs[1]).data).astype(np.int64)
    o, c = p["out_c"], p["in_c"]
    bias = (
        np.asarray(graph.tensor(node.inputs[2]).data).astype(np.int64)
        if len(node.inputs) > 2 and node.inputs[2]
        else np.zeros(o, dtype=np.int64)
    )
    kh, kw = p["filter_h"], p["filter_w"]
    taps = kh * kw * (1 if dw else c)
    loop = max(taps, CONST_BYTES)
    outputs = p["out_h"] * p["out_w"] * o
    lanes_ = 1 if dw else lanes(o, parallel)
    groups = o // lanes_
    # a depthwise layer's outputs each go to one of two requantization units in turn when there are several
    rot = dw and parallel > 1
    module = f"l{index}_{_ident(node.name)}"[:60]
    wfile, pfile = f"{module}_w.hex", f"{module}_p.hex"
    win = _window(p, c)
    params = {
        "kind": "dwconv" if dw else "conv",
        "name": node.name,
        "module": module,
        "what": f"{node.op} {kh}x{kw} {c} -> {o} channels, "
        + (f"{lanes_} multiply-accumulates per cycle" if lanes_ > 1 else "one multiply-accumulate per cycle"),
        "out": o,
        "p": lanes_,
        "u": 2 if rot else lanes_,
        "rot": rot,
        "ngo": 2 if rot else 1,
        "groups": groups,
        "outputs": outputs,
        "taps": taps,
        "loop": loop,
        "wdepth": w.size // lanes_,
        "pdepth": groups * CONST_BYTES,
        "waddr": _aw(w.size // lanes_ + c + 1),
        "paddr": _aw(groups * CONST_BYTES + 1),
        "tw": max(loop.bit_length(), 1),
        "cw": max(max(o, c).bit_length(), 1),
        "raw": _aw(p["in_h"] * p["in_w"] * c),
        "waw": _aw(outputs),
        "wfile": wfile,
        "pfile": pfile,
        "wstep": c if dw else 1,
        "wrow_step": 1 if dw else taps,
        "step_kx": c if dw else 1,
        "step_ky": (p["in_w"] - kw + 1) * c if dw else (p["in_w"] - kw) * c + 1,
        "in_off_lit": _lit(int(p["input_offset"]), 10),
        "out_off": int(p["output_offset"]),
        "act_min": int(p["activation_min"]),
        "act_max": int(p["activation_max"]),
        **win,
    }
    mult = np.broadcast_to(np.asarray(p["output_multiplier"], dtype=np.int64), (o,))
    shift = np.broadcast_to(np.asarray(p["output_shift"], dtype=np.int64), (o,))
    return RtlLayer(
        name=node.name,
        op=node.op,
        kind=params["kind"],
        params=params,
        roms={
            wfile: _wide(w.reshape(1 if dw else o, -1), lanes_),
            pfile: _wide(_constants(node, bias, mult, shift).reshape(o, CONST_BYTES), lanes_),
        },
        cycles=rotating_cycles(taps, outputs) if rot else fc_cycles(taps, outputs // lanes_, lanes_),
        rom_shapes=[(w.size // lanes_, 8 * lanes_), (groups * CONST_BYTES, 8 * lanes_)],
        macs=outputs * taps,
    )


#: cycles of the average pool's divider (one quotient bit per cycle) and its rounding and write
DIVIDER_CYCLES = 32 + 1


def avgpool_cycles(taps: int, outputs: int) -> int:
    """Cycles of an average pool from its start to its done: per output its taps, 2 of pipeline, the divider
    and the write; and the start cycle."""
    return outputs * (taps + 2 + DIVIDER_CYCLES) + 1


def _avgpool_layer(graph: ir.Graph, node: ir.Node, index: int) -> RtlLayer:
    from edgesdk.reference.params import op_params

    p = op_params(graph, node)
    if "activation_min" not in p:
        raise UnsupportedOpError(f"layer {node.name}: float AVERAGE_POOL_2D has no Verilog implementation")
    c = graph.tensor(node.inputs[0]).shape[3]
    p = {**p, "in_h": graph.tensor(node.inputs[0]).shape[1], "in_w": graph.tensor(node.inputs[0]).shape[2]}
    taps = p["filter_h"] * p["filter_w"]
    outputs = p["out_h"] * p["out_w"] * c
    module = f"l{index}_{_ident(node.name)}"[:60]
    params = {
        "kind": "avgpool",
        "name": node.name,
        "module": module,
        "what": f"AVERAGE_POOL_2D {p['filter_h']}x{p['filter_w']} over {c} channels, a serial divider",
        "outputs": outputs,
        "taps": taps,
        "tw": max(taps.bit_length(), 1),
        "cw": max(c.bit_length(), 1),
        "raw": _aw(p["in_h"] * p["in_w"] * c),
        "waw": _aw(outputs),
        "step_ky": (p["in_w"] - p["filter_w"] + 1) * c,
        "act_min": int(p["activation_min"]),
        "act_max": int(p["activation_max"]),
        **_window(p, c),
    }
    return RtlLayer(node.name, node.op, "avgpool", params, {}, avgpool_cycles(taps, outputs), [])


def fc_cycles(k: int, groups: int, p: int = 1) -> int:
    """Cycles of an int8 or ternary layer from its start to its done: per group of ``p`` outputs max(K, 9)
    address cycles, 3 of pipeline, the requantization and the cycle that writes the first result (the other
    P - 1 are written while the next group accumulates); the start cycle and the last group's P - 1 writes."""
    return groups * (max(k, CONST_BYTES) + 3 + REQUANT_CYCLES + 1) + 1 + (p - 1)


def rotating_cycles(k: int, outputs: int) -> int:
    """Cycles of a layer whose requantizations overlap the next outputs (two units in turn): per output
    max(K, 9) address cycles, 3 of pipeline and the cycle the unit takes it; the start cycle and the last
    output's requantization and write."""
    return outputs * (max(k, CONST_BYTES) + 4) + 1 + ROTATING_TAIL


def xnor_cycles(words: int, o: int) -> int:
    """Cycles of an XNOR layer from its start to its done: per row one cycle per 32-bit word and 2 of pipeline;
    and the start cycle."""
    return o * (words + 2) + 1


def _xnor_layer(graph: ir.Graph, node: Any, index: int) -> RtlLayer:
    from edgesdk.backends.hls.rtl_tools import popcount_bounds, popcount_tree

    w = np.asarray(graph.tensor(node.inputs[1]).data).astype(np.int64) & 0xFFFFFFFF
    o, words = w.shape
    k = int(node.in_features)
    mw = words * WORD
    bound, ge = popcount_bounds(k, np.asarray(node.threshold), np.asarray(node.flip), mw)
    bw = (mw + 1).bit_length() + 1
    module = f"l{index}_{_ident(node.name)}"[:60]
    wfile, pfile = f"{module}_w.hex", f"{module}_p.hex"
    src_aw, dst_aw = _aw(words), _aw(words_for(o))
    params = {
        "kind": "xnor",
        "name": node.name,
        "module": module,
        "what": f"XNOR fully connected {k} -> {o} bits, one 32-bit word per cycle",
        "out": o,
        "words": words,
        "wdepth": o * words,
        "waddr": _aw(o * words + 1),
        "kw": max(1, words.bit_length(), src_aw),
        "ow": max((o - 1).bit_length(), 5 + dst_aw),
        "bw": bw,
        "raw": src_aw,
        "waw": dst_aw,
        "wfile": wfile,
        "pfile": pfile,
        "tree": popcount_tree("x", WORD, "pop", bw),
    }
    plines = [f"{(int(g) << bw) | int(b):x}" for b, g in zip(bound, ge, strict=True)]
    return RtlLayer(
        name=node.name,
        op=node.op,
        kind="xnor",
        params=params,
        roms={wfile: [f"{int(v):08x}" for v in w.reshape(-1)], pfile: plines},
        cycles=xnor_cycles(words, o),
        rom_shapes=[(o * words, 32), (o, bw + 1)],
    )


def _bits_params(
    node: Any, index: int, kind: str, what: str, bits_aw: int, bytes_first: bool
) -> dict[str, Any]:
    """The template parameters of a layer between int8 channels and packed bits (BINARIZE reads bytes and writes
    bits, UNPACK_BITS the other way): its module, its output counter width and the address widths it reads
    (``raw``) and writes (``waw``) with, ``bits_aw`` being the packed side's."""
    c = int(node.channels)
    raw, waw = (_aw(c), bits_aw) if bytes_first else (bits_aw, _aw(c))
    return {
        "kind": kind,
        "name": node.name,
        "module": f"l{index}_{_ident(node.name)}"[:60],
        "what": what,
        "out": c,
        "ow": max((c - 1).bit_length(), 5 + bits_aw),
        "raw": raw,
        "waw": waw,
    }


def _binarize_layer(node: Any, index: int) -> RtlLayer:
    c = int(node.channels)
    what = f"BatchNorm + sign of {c} int8 channels into bits"
    params = _bits_params(node, index, "binarize", what, _aw(words_for(c)), bytes_first=True)
    pfile = params["pfile"] = f"{params['module']}_p.hex"
    thr = np.clip(np.asarray(node.threshold, dtype=np.int64), -129, 128)
    plines = [f"{(int(f) << 10) | (int(t) & 0x3FF):03x}" for t, f in zip(thr, node.flip, strict=True)]
    return RtlLayer(node.name, node.op, "binarize", params, {pfile: plines}, c + 2, [(c, 11)])


def _unpack_layer(node: Any, index: int) -> RtlLayer:
    c = int(node.channels)
    what = f"{c} bits into int8 {node.high} / {node.low}"
    params = _bits_params(node, index, "unpack", what, _aw(words_for(c)), bytes_first=False)
    params.update(high_u8=int(node.high) & 0xFF, low_u8=int(node.low) & 0xFF)
    return RtlLayer(node.name, node.op, "unpack", params, {}, c + 2, [])


def _tensor_memory(graph: ir.Graph, name: str, bits: bool) -> dict[str, Any]:
    t = graph.tensor(name)
    per_sample = int(np.prod(t.shape[1:], dtype=np.int64))
    depth, width = (per_sample // 4, 32) if bits else (per_sample, 8)
    return {
        "name": name,
        "id": "",  # m<k>, given in the order the memories are met
        "depth": depth,
        "width": width,
        "aw": _aw(depth),
        "what": "packed bits, 32 per word" if bits else "int8",
    }


def network_verilog(graph: ir.Graph, top: str | None = None, parallel: int = 1) -> NetDesign:
    """The Verilog of the whole network ``graph`` (see the module docstring) with a MAC array of ``parallel``
    lanes in every int8 fully connected and convolution layer (:func:`lanes`); UnsupportedOpError names the first
    layer that has no Verilog implementation."""
    if not 1 <= parallel <= MAX_PARALLEL:
        raise UnsupportedOpError(
            f"graph {graph.name}: a parallelism of {parallel} is outside 1..{MAX_PARALLEL} output channels at once"
        )
    nodes, soft = _rtl_nodes(graph)
    layers: list[RtlLayer] = []
    mems: dict[str, dict[str, Any]] = {}
    bit_outputs = {"EDGESDK_BINARIZE", "EDGESDK_XNOR_FULLY_CONNECTED"}
    bit_inputs = {"EDGESDK_XNOR_FULLY_CONNECTED", "EDGESDK_UNPACK_BITS"}
    alias: dict[str, str] = {}  # a RESHAPE's output is its input's memory: the bytes do not move
    index = 0
    for node in nodes:
        if node.op == "RESHAPE":
            alias[node.outputs[0]] = alias.get(node.inputs[0], node.inputs[0])
            continue
        i, index = index, index + 1
        if node.op == "FULLY_CONNECTED":
            layer = _fc_layer(graph, node, i, parallel)
        elif node.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            layer = _conv_layer(graph, node, i, parallel)
        elif node.op == "AVERAGE_POOL_2D":
            layer = _avgpool_layer(graph, node, i)
        elif node.op == "EDGESDK_XNOR_FULLY_CONNECTED":
            layer = _xnor_layer(graph, node, i)
        elif node.op == "EDGESDK_BINARIZE":
            layer = _binarize_layer(node, i)
        else:
            layer = _unpack_layer(node, i)
        src, dst = alias.get(node.inputs[0], node.inputs[0]), node.outputs[0]
        for name, bits in ((src, node.op in bit_inputs), (dst, node.op in bit_outputs)):
            if name not in mems:
                mems[name] = _tensor_memory(graph, name, bits)
                mems[name]["id"] = f"m{len(mems) - 1}"
        layer.params["src"], layer.params["dst"] = mems[src]["id"], mems[dst]["id"]
        layer.params["index"] = i
        layer.params["src_tensor"], layer.params["dst_tensor"] = src, dst
        layers.append(layer)
    if not layers:
        raise UnsupportedOpError(f"graph {graph.name} has no layer the whole-network generator takes")
    first, last = layers[0].params["src_tensor"], layers[-1].params["dst_tensor"]
    if mems[first]["width"] != 8 or mems[last]["width"] != 8:
        raise UnsupportedOpError(f"graph {graph.name}: the Verilog design takes and gives int8 tensors only")
    order = [first] + [n for n in mems if n not in (first, last)] + [last]
    mem_list = [mems[n] for n in order]
    top_name = _ident(top or f"edgesdk_{graph.name}")[:60]
    in_bytes, out_bytes = mems[first]["depth"], mems[last]["depth"]
    text = render(
        "net.v.j2",
        model=graph.name,
        layers=[layer.params for layer in layers],
        mems=mem_list,
        top=top_name,
        in_bytes=in_bytes,
        out_bytes=out_bytes,
        iow=max(in_bytes, out_bytes).bit_length(),
        nrq=max([layer.params.get("u", 1) for layer in layers]),
        lw=max(1, (len(layers) - 1).bit_length()),
    )
    roms: dict[str, list[str]] = {}
    for layer in layers:
        roms.update(layer.roms)
    return NetDesign(
        top=top_name,
        verilog=text,
        layers=layers,
        roms=roms,
        input_tensor=first,
        output_tensor=last,
        in_bytes=in_bytes,
        out_bytes=out_bytes,
        host_softmax=soft.name if soft is not None else None,
        memories=mem_list,
    )


def estimate_network(design: NetDesign, family: str = "ice40") -> dict[str, Any]:
    """Per-layer cycles, DSP blocks and block RAM from the shapes alone, and the totals with the sequencer
    (one cycle per layer start) and the activation memories.

    A ROM of depth x width takes the cheapest configuration of the part's blocks (:func:`blocks_for`); the int8
    layers take one DSP block per lane of their MAC array, the rest none."""
    kind, _, _ = EBR_SHAPES[family]
    rows = []
    for layer in design.layers:
        rows.append(
            {
                "layer": layer.name,
                "kind": layer.kind,
                "cycles": layer.cycles,
                "bram": sum(blocks_for(d, w, family, rom=True) for d, w in layer.rom_shapes if d),
                "dsp": layer.params["p"] if layer.kind in ("fc", "conv", "dwconv") else 0,
                "macs": layer.macs,
            }
        )
    act = sum(blocks_for(m["depth"], m["width"], family) for m in design.memories)
    return {
        "bram_kind": kind,
        "layers": rows,
        "activation_bram": act,
        "total_bram": sum(r["bram"] for r in rows) + act,
        "total_dsp": sum(r["dsp"] for r in rows),
        # the sequencer takes one cycle per layer to see its done and start the next
        "compute_cycles": sum(r["cycles"] + 1 for r in rows),
        "io_cycles": design.in_bytes + design.out_bytes + 3,
    }


__all__ = [
    "NetDesign",
    "RtlLayer",
    "blocks_for",
    "estimate_network",
    "fc_cycles",
    "lanes",
    "network_verilog",
    "supports",
    "xnor_cycles",
]
