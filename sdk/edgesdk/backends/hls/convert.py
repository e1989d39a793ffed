"""IR -> hls4ml model, through hls4ml's own API (``ModelGraph.from_layer_list`` with a config dict).

Every precision comes from our quantization: activations are ``ap_int<8>``, weights ``ap_int<8>``, biases and
accumulators ``ap_int<32>`` (TFLM accumulates in int32), and the requantization is TFLM's fixed-point
multiplier with double rounding, per channel, in edgesdk's units (``extensions.py``). hls4ml's own ``Dense``
computes FULLY_CONNECTED (its input offset folded into the bias, an exact integer identity) and our
``EdgeRequant`` follows it; convolutions, depthwise convolutions, ADD, pooling and SOFTMAX run in edgesdk's
units; RESHAPE is hls4ml's ``Reshape``. The parameters are the very numbers ``reference/params.py`` computes,
so C-simulation equals ``reference/`` bit for bit.

The converter is a table (:data:`HANDLERS`): one function per IR op that appends the op's hls4ml layers. It reads
the decisions of the ``"hls"`` pass pipeline from the nodes (``kernel == "winograd"``: the Winograd unit;
``xnor_folding``: an XNOR unit's PE/SIMD) and makes none of its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.backends.hls import winograd_hls, xnor_hls
from edgesdk.backends.hls.config_keys import ADD_REQUANT_KEYS, WINDOW_KEYS, conv_geometry
from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.passes.hls_winograd import direct_unit
from edgesdk.reference.params import op_params

log = logging.getLogger(__name__)

#: FULLY_CONNECTED layers with more MACs than this reuse multipliers (hls4ml's resource strategy)
MAX_PARALLEL_MACS = 1024

INT8 = "ap_int<8>"
INT32 = "ap_int<32>"


@dataclass
class HLSPlan:
    """What the converter built: the hls4ml layer list and config, and how its layers map to IR tensors."""

    layer_list: list[dict[str, Any]]
    config: dict[str, Any]
    #: hls4ml layer name -> IR tensor name whose value that layer's output equals (for tracing)
    traced: dict[str, str] = field(default_factory=dict)
    #: hls4ml layer name -> IR node name
    node_of: dict[str, str] = field(default_factory=dict)
    output_layer: str = ""
    input_layer: str = ""
    units: list[dict[str, Any]] = field(default_factory=list)  # for the estimate
    #: IR tensors holding packed bits (int8 bytes in the IR, ap_uint<32> words in the design)
    packed: set[str] = field(default_factory=set)


def _ident(name: str, used: set[str]) -> str:
    base = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_") or "layer"
    if base[0].isdigit():
        base = "l_" + base
    base = base[:40]
    out, k = base, 1
    while out in used or out == "input":
        k += 1
        out = f"{base}_{k}"
    used.add(out)
    return out


def _hw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) != 4 or shape[0] != 1:
        raise UnsupportedOpError(f"tensor shape {shape} is not a 1xHxWxC activation")
    return shape[1], shape[2], shape[3]


def _check_accumulator(node: ir.Node, w_rows: np.ndarray, bias: np.ndarray, x_span: int = 255) -> None:
    """The int32 accumulator (``ap_int<32>``, TFLM's int32) cannot overflow: per output channel,
    ``sum |w| * max |x + input_offset| + |bias|`` < 2**31, else one sentence instead of a silent wrap."""
    bound = np.abs(w_rows.astype(np.int64)).sum(axis=1) * x_span + np.abs(bias.astype(np.int64))
    if bound.size and int(bound.max()) >= 1 << 31:
        raise UnsupportedOpError(
            f"layer {node.name}: its int32 accumulator could overflow (worst case {int(bound.max())})"
        )


def _act_attrs(p: dict[str, Any]) -> dict[str, int]:
    return {"act_min": int(p["activation_min"]), "act_max": int(p["activation_max"])}


def window_geometry(in_shape: tuple[int, ...], p: dict[str, Any]) -> dict[str, int]:
    """The geometry fields of a windowed op (convolution, depthwise convolution, pooling) from its input shape
    and reference parameters: sizes in and out, kernel window, stride and padding (one place for all units)."""
    in_h, in_w, in_c = _hw(in_shape)
    out_c = int(p.get("out_c", in_c))
    window = tuple(int(p[k]) for k in WINDOW_KEYS)
    pad = (int(p["pad_h"]), int(p["pad_w"]))
    return conv_geometry((in_h, in_w, in_c, int(p["out_h"]), int(p["out_w"]), out_c), window, pad)


@dataclass
class _Op:
    """One IR node as a handler sees it: its input and output tensors, reference parameters, its hls4ml layer
    name and the hls4ml layer producing its first input."""

    node: ir.Node
    ins: list[ir.Tensor]
    out: ir.Tensor
    p: dict[str, Any]
    name: str
    src: str


@dataclass
class _Builder:
    """The layer list under construction: names used, per-layer config, which layer produces each IR tensor."""

    graph: ir.Graph
    trace: bool
    plan: HLSPlan
    layer_cfg: dict[str, Any] = field(default_factory=dict)
    producer: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def ident(self, name: str) -> str:
        return _ident(name, self.used)

    def source(self, node: ir.Node, tensor: str) -> str:
        """The hls4ml layer producing IR tensor ``tensor`` (an activation), or one sentence naming the layer."""
        src = self.producer.get(tensor)
        if src is None:
            raise UnsupportedOpError(f"layer {node.name}: input {tensor} is not an activation of the model")
        return src

    def add(
        self,
        layer: dict[str, Any],
        node: ir.Node,
        out_tensor: str | None,
        precision: dict[str, str] | None = None,
        traced: bool = True,
    ) -> str:
        """Append ``layer`` computing ``node``; ``out_tensor``: the IR tensor its output equals (traced)."""
        self.plan.layer_list.append(layer)
        cfg: dict[str, Any] = {"Trace": self.trace if traced else False}
        if precision:
            cfg["Precision"] = precision
        self.layer_cfg[layer["name"]] = cfg
        self.plan.node_of[layer["name"]] = node.name
        if out_tensor is not None:
            self.producer[out_tensor] = layer["name"]
            self.plan.traced[layer["name"]] = out_tensor
        return layer["name"]

    def int8_op(self, node: ir.Node) -> _Op:
        """The handler's view of an int8 node (int8 output, an activation input), or one sentence why not."""
        ins = [self.graph.tensor(n) for n in node.inputs if n]
        out = self.graph.tensor(node.outputs[0])
        if out.dtype != "int8":
            raise UnsupportedOpError(f"layer {node.name}: the HLS backend takes int8 layers, not {out.dtype}")
        src = self.source(node, ins[0].name)
        return _Op(node, ins, out, op_params(self.graph, node), self.ident(node.name), src)


# --- one handler per op -----------------------------------------------------------------------------------------


def _conv(b: _Builder, node: ir.Node) -> None:
    """CONV_2D / DEPTHWISE_CONV_2D: the direct unit, or the Winograd unit where the hls pipeline chose it."""
    o = b.int8_op(node)
    p, out = o.p, o.out
    depthwise = node.op == "DEPTHWISE_CONV_2D"
    w = np.asarray(o.ins[1].data)
    bias = np.asarray(o.ins[2].data, dtype=np.int64) if len(o.ins) > 2 else np.zeros(out.shape[3], np.int64)
    geo = window_geometry(o.ins[0].shape, p)
    common = {
        "name": o.name,
        "inputs": [o.src],
        **{k: geo[k] for k in ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "pad_h", "pad_w")},
        "input_offset": int(p["input_offset"]),
        "output_offset": int(p["output_offset"]),
        "bias_data": bias,
        "mult_data": np.asarray(p["output_multiplier"], dtype=np.int64),
        "shift_data": np.asarray(p["output_shift"], dtype=np.int64),
        **_act_attrs(p),
    }
    rows = w.reshape(-1, w.shape[-1]).T if depthwise else w.reshape(w.shape[0], -1)
    _check_accumulator(node, rows, bias)
    if node.attrs.get("kernel") == "winograd":
        layer = winograd_hls.winograd_layer(node, w, p, common)
        b.plan.units.append(
            {"kind": "winograd", "layer": o.name, **winograd_hls.estimate(node, p, geo["in_c"])}
        )
    else:
        layer = {
            "class_name": "EdgeConv2D",
            **common,
            **{k: geo[k] for k in WINDOW_KEYS},
            "dilation_h": p["dilation_h"],
            "dilation_w": p["dilation_w"],
            "depthwise": depthwise,
            "depth_multiplier": int(p.get("depth_multiplier", 1)),
            "n_weights": int(w.size),
            "weight_data": w.astype(np.int64),
        }
        taps = int(p["filter_h"] * p["filter_w"]) * (1 if depthwise else geo["in_c"])
        unit = direct_unit(int(p["out_h"]), int(p["out_w"]), int(p["out_c"]), taps, int(w.size))
        b.plan.units.append(
            {
                "kind": "depthwise" if depthwise else "conv",
                "layer": o.name,
                "weight_bits": unit["weight_bits"],
                "macs": unit["macs"],
                "cycles": unit["cycles"],
                "multipliers": unit["multipliers"],
                "note": "one output per cycle, taps in parallel",
            }
        )
    b.add(layer, node, out.name)


def _fully_connected(b: _Builder, node: ir.Node) -> None:
    """FULLY_CONNECTED: hls4ml's Dense (the input offset folded into the bias) and an EdgeRequant after it."""
    o = b.int8_op(node)
    p, ins, src = o.p, o.ins, o.src
    w = np.asarray(ins[1].data, dtype=np.int64)  # (out, in)
    n_out, n_in = w.shape
    if ins[0].size != n_in:
        raise UnsupportedOpError(
            f"layer {node.name}: FULLY_CONNECTED over {ins[0].size // n_in} rows is not supported by the "
            "HLS backend (one row only)"
        )
    if p["filter_offset"] != 0:
        raise UnsupportedOpError(f"layer {node.name}: weights with a non-zero zero point are not supported")
    bias = np.asarray(ins[2].data, dtype=np.int64) if len(ins) > 2 else np.zeros(n_out, np.int64)
    # sum_i w[o,i] * (x_i + offset) + b[o] == sum_i w[o,i] * x_i + (b[o] + offset * sum_i w[o,i])
    folded = bias + int(p["input_offset"]) * w.sum(axis=1)
    _check_accumulator(node, w, folded, x_span=128)
    if len(ins[0].shape) != 2:
        flat = b.ident(node.name + "_flatten")
        b.plan.layer_list.append(
            {"class_name": "Reshape", "name": flat, "inputs": [src], "target_shape": [n_in]}
        )
        b.layer_cfg[flat] = {"Trace": False}
        src = flat
    dense = b.ident(node.name + "_mac")
    layer = {
        "class_name": "Dense",
        "name": dense,
        "inputs": [src],
        "n_in": n_in,
        "n_out": n_out,
        "weight_data": w.T.copy(),
        "bias_data": folded,
    }
    b.add(layer, node, None, {"weight": INT8, "bias": INT32, "result": INT32, "accum": INT32}, traced=False)
    # A small layer multiplies everything at once (latency strategy); a large one reuses one multiplier
    # per output neuron over its inputs (resource strategy, reuse factor n_in: n_out multipliers).
    reuse = 1 if n_in * n_out <= MAX_PARALLEL_MACS else n_in
    if reuse > 1:
        b.layer_cfg[dense].update({"Strategy": "Resource", "ReuseFactor": reuse})
    requant = {
        "class_name": "EdgeRequant",
        "name": o.name,
        "inputs": [dense],
        "n_in": n_out,
        "n_chan": n_out if p["per_channel"] else 1,
        "output_offset": int(p["output_offset"]),
        "mult_data": np.asarray(p["output_multiplier"], dtype=np.int64).reshape(-1),
        "shift_data": np.asarray(p["output_shift"], dtype=np.int64).reshape(-1),
        **_act_attrs(p),
    }
    b.add(requant, node, o.out.name)
    b.plan.units.append(
        {
            "kind": "dense",
            "layer": dense,
            "weight_bits": int(w.size) * 8,
            "macs": int(w.size),
            "cycles": reuse,
            "multipliers": int(w.size) // reuse,
            "note": f"hls4ml Dense, {'latency' if reuse == 1 else 'resource'} strategy, reuse {reuse}",
        }
    )


def _pool(b: _Builder, node: ir.Node) -> None:
    """AVERAGE_POOL_2D / MAX_POOL_2D: the pooling unit."""
    o = b.int8_op(node)
    geo = window_geometry(o.ins[0].shape, o.p | {"out_c": _hw(o.ins[0].shape)[2]})
    layer = {
        "class_name": "EdgePool2D",
        "name": o.name,
        "inputs": [o.src],
        "in_h": geo["in_h"],
        "in_w": geo["in_w"],
        "n_chan": geo["in_c"],
        "out_h": geo["out_h"],
        "out_w": geo["out_w"],
        **{k: geo[k] for k in WINDOW_KEYS},
        "pad_h": geo["pad_h"],
        "pad_w": geo["pad_w"],
        "is_max": node.op == "MAX_POOL_2D",
        **_act_attrs(o.p),
    }
    b.add(layer, node, o.out.name)


def _add(b: _Builder, node: ir.Node) -> None:
    """ADD of two activations (one may broadcast along the channels)."""
    o = b.int8_op(node)
    ins, out = o.ins, o.out
    src2 = b.producer.get(ins[1].name)
    if src2 is None:
        raise UnsupportedOpError(f"layer {node.name}: ADD of a constant is not supported by the HLS backend")
    for t in ins[:2]:
        if t.size not in (out.size, out.shape[-1]):
            raise UnsupportedOpError(
                f"layer {node.name}: ADD broadcasting {t.shape} to {out.shape} is not supported by the HLS "
                "backend"
            )
    layer = {
        "class_name": "EdgeAdd",
        "name": o.name,
        "inputs": [o.src, src2],
        "n_out": out.size,
        "n_in1": ins[0].size,
        "n_in2": ins[1].size,
        **{k: int(o.p[k]) for k in ADD_REQUANT_KEYS},
        **_act_attrs(o.p),
    }
    b.add(layer, node, out.name)


def _mean(b: _Builder, node: ir.Node) -> None:
    """MEAN over the spatial axes of an NHWC tensor (global average)."""
    o = b.int8_op(node)
    p = o.p
    if len(o.ins[0].shape) != 4 or tuple(p["axes"]) != (1, 2):
        raise UnsupportedOpError(
            f"layer {node.name}: MEAN over axes {p['axes']} is not supported by the HLS backend (only the "
            "spatial axes 1 and 2 of an NHWC tensor)"
        )
    _, h, w, c = o.ins[0].shape
    keys = ("input_zero_point", "output_zero_point", "mean_multiplier", "mean_shift")
    layer = {
        "class_name": "EdgeMean",
        "name": o.name,
        "inputs": [o.src],
        "n_pix": h * w,
        "n_chan": c,
        "same_quant": bool(p["same_quant"]),
        **{k: int(p[k]) for k in keys},
    }
    b.add(layer, node, o.out.name)


def _softmax(b: _Builder, node: ir.Node) -> None:
    """SOFTMAX along the last axis."""
    o = b.int8_op(node)
    depth = o.out.shape[-1]
    layer = {
        "class_name": "EdgeSoftmax",
        "name": o.name,
        "inputs": [o.src],
        "n_rows": o.out.size // depth,
        "depth": depth,
        "input_multiplier": int(o.p["input_beta_multiplier"]),
        "input_left_shift": int(o.p["input_beta_left_shift"]),
        "diff_min": int(o.p["diff_min"]),
    }
    b.add(layer, node, o.out.name)


def _reshape(b: _Builder, node: ir.Node) -> None:
    """RESHAPE: hls4ml's own Reshape (not traced: the same values in another shape)."""
    o = b.int8_op(node)
    shape = list(o.out.shape[1:]) if o.out.shape and o.out.shape[0] == 1 else list(o.out.shape)
    layer = {"class_name": "Reshape", "name": o.name, "inputs": [o.src], "target_shape": shape}
    b.add(layer, node, o.out.name, traced=False)


def _binary(b: _Builder, node: ir.Node) -> None:
    """Binary-activation ops: the XNOR units, folded as the hls pipeline decided (``node.attrs["xnor_folding"]``)."""
    src = b.source(node, node.inputs[0])
    name = b.ident(node.name)
    xl = xnor_hls.binary_layer(b.graph, node, name, src, node.attrs.get("xnor_folding"))
    b.add(xl, node, node.outputs[0])
    if node.op in xnor_hls.PACKED_OUTPUT_OPS:
        b.plan.packed.add(node.outputs[0])
    if xl["class_name"] in ("EdgeXnorDense", "EdgeXnorConv"):
        b.plan.units.append({"kind": "xnor", "layer": name, **xnor_hls.estimate(xl)})


#: IR op -> the function appending its hls4ml layers; the ops the HLS backend takes (the others are refused
#: with one sentence naming the layer).
HANDLERS: dict[str, Callable[[_Builder, ir.Node], None]] = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _conv,
    "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool,
    "MAX_POOL_2D": _pool,
    "ADD": _add,
    "SOFTMAX": _softmax,
    "MEAN": _mean,
    "RESHAPE": _reshape,
    **{op: _binary for op in xnor_hls.BINARY_OPS},
}
SUPPORTED_OPS = tuple(HANDLERS)


def graph_to_layer_list(
    graph: ir.Graph,
    *,
    output_dir: Path,
    project_name: str = "edgesdk_model",
    backend: str = "Vivado",
    part: str = "xc7z020clg400-1",
    clock_period_ns: float = 10.0,
    trace: bool = True,
) -> HLSPlan:
    """Translate an int8 IR graph into an hls4ml layer list and configuration (nothing is compiled).

    A CONV_2D annotated ``node.attrs["kernel"] = "winograd"`` runs in the Winograd F(2x2,3x3) unit; an XNOR
    layer is folded by ``node.attrs["xnor_folding"] = (PE, SIMD words)`` (default: the largest divisors up to 8
    and 4) - the decisions of the ``"hls"`` pass pipeline (:mod:`edgesdk.passes.hls_winograd`,
    :mod:`edgesdk.passes.hls_xnor`).
    """
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedOpError(
            f"model {graph.name}: the HLS backend takes one input and one output "
            f"(it has {len(graph.inputs)} and {len(graph.outputs)})"
        )
    b = _Builder(graph, trace, HLSPlan(layer_list=[], config={}))
    x_t = graph.tensor(graph.inputs[0])
    if x_t.dtype != "int8":
        raise UnsupportedOpError(f"model {graph.name}: the HLS backend takes int8 inputs, not {x_t.dtype}")
    in_name = b.ident("input_" + x_t.name)
    in_shape = list(x_t.shape[1:]) if x_t.shape and x_t.shape[0] == 1 else list(x_t.shape)
    b.plan.layer_list.append({"class_name": "InputLayer", "name": in_name, "input_shape": in_shape})
    b.layer_cfg[in_name] = {"Precision": {"result": INT8}}
    b.producer[x_t.name] = in_name
    b.plan.input_layer = in_name
    b.plan.traced[in_name] = x_t.name
    for node in graph.nodes:
        handler = HANDLERS.get(node.op)
        if handler is None:
            raise UnsupportedOpError(
                f"layer {node.name}: op {node.op} is not supported by the HLS backend "
                f"(supported: {', '.join(SUPPORTED_OPS)})"
            )
        handler(b, node)
    if graph.outputs[0] not in b.producer:
        raise UnsupportedOpError(f"model {graph.name}: output {graph.outputs[0]} is not computed")
    b.plan.output_layer = b.producer[graph.outputs[0]]
    b.plan.config = {
        "OutputDir": str(output_dir),
        "ProjectName": project_name,
        "Backend": backend,
        "Part": part,
        "ClockPeriod": clock_period_ns,
        "IOType": "io_parallel",
        "HLSConfig": {
            "Model": {"Precision": INT32, "ReuseFactor": 1, "Strategy": "Latency", "TraceOutput": trace},
            "LayerName": b.layer_cfg,
        },
    }
    return b.plan


def build_hls_model(graph: ir.Graph, output_dir: Path, **kwargs: Any) -> tuple[Any, HLSPlan]:
    """Build (not compile) the hls4ml ``ModelGraph`` of ``graph`` in ``output_dir``."""
    return model_from_plan(graph_to_layer_list(graph, output_dir=output_dir, **kwargs))


def model_from_plan(plan: HLSPlan) -> tuple[Any, HLSPlan]:
    """Build (not compile) the hls4ml ``ModelGraph`` of a plan :func:`graph_to_layer_list` made; it writes
    the project into the plan's output folder. hls4ml's converters import TensorFlow: it is imported first,
    quietly (its C++ log lines would reach the terminal)."""
    from edgesdk.backends.hls import extensions
    from edgesdk.frontends.keras import _import_tf

    _import_tf()
    extensions.register()
    from hls4ml.model import ModelGraph

    model = ModelGraph.from_layer_list(
        plan.config, plan.layer_list, inputs=[plan.input_layer], outputs=[plan.output_layer]
    )
    return model, plan
