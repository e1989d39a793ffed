"""IR -> hls4ml model, through hls4ml's own API (``ModelGraph.from_layer_list`` with a config dict).

Every precision comes from our quantization: activations are ``ap_int<8>``, weights ``ap_int<8>``, biases and
accumulators ``ap_int<32>`` (TFLM accumulates in int32), and the requantization is TFLM's fixed-point
multiplier with double rounding, per channel, in edgesdk's units (``extensions.py``). hls4ml's own ``Dense``
computes FULLY_CONNECTED (its input offset folded into the bias, an exact integer identity) and our
``EdgeRequant`` follows it; convolutions, depthwise convolutions, ADD, pooling and SOFTMAX run in edgesdk's
units; RESHAPE is hls4ml's ``Reshape``. The parameters are the very numbers ``reference/params.py`` computes,
so C-simulation equals ``reference/`` bit for bit.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.backends.hls.config_keys import ADD_REQUANT_KEYS, WINDOW_KEYS
from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.reference.params import op_params

log = logging.getLogger(__name__)

#: IR ops the HLS backend takes (the others are refused with one sentence naming the layer).
SUPPORTED_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "ADD",
    "SOFTMAX",
    "MEAN",
    "RESHAPE",
    "EDGESDK_BINARIZE",
    "EDGESDK_XNOR_FULLY_CONNECTED",
    "EDGESDK_XNOR_CONV_2D",
    "EDGESDK_UNPACK_BITS",
)

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


def graph_to_layer_list(
    graph: ir.Graph,
    *,
    output_dir: Path,
    project_name: str = "edgesdk_model",
    backend: str = "Vivado",
    part: str = "xc7z020clg400-1",
    clock_period_ns: float = 10.0,
    trace: bool = True,
    winograd: bool = False,
    xnor_folding: dict[str, tuple[int, int]] | None = None,
) -> HLSPlan:
    """Translate an int8 IR graph into an hls4ml layer list and configuration (nothing is compiled).

    A CONV_2D annotated ``node.attrs["kernel"] = "winograd"`` (or, with ``winograd=True``, every 3x3 stride-1
    CONV_2D) runs in the Winograd F(2x2,3x3) unit. Binary-activation ops run in the XNOR units, folded with
    ``xnor_folding[node name] = (PE, SIMD words)`` or by default.
    """
    from edgesdk.backends.hls import winograd_hls, xnor_hls

    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedOpError(
            f"model {graph.name}: the HLS backend takes one input and one output "
            f"(it has {len(graph.inputs)} and {len(graph.outputs)})"
        )
    used: set[str] = set()
    layers: list[dict[str, Any]] = []
    layer_cfg: dict[str, Any] = {}
    plan = HLSPlan(layer_list=layers, config={})
    producer: dict[str, str] = {}  # IR tensor -> hls4ml layer producing it

    x_t = graph.tensor(graph.inputs[0])
    if x_t.dtype != "int8":
        raise UnsupportedOpError(f"model {graph.name}: the HLS backend takes int8 inputs, not {x_t.dtype}")
    in_name = _ident("input_" + x_t.name, used)
    in_shape = list(x_t.shape[1:]) if x_t.shape and x_t.shape[0] == 1 else list(x_t.shape)
    layers.append({"class_name": "InputLayer", "name": in_name, "input_shape": in_shape})
    layer_cfg[in_name] = {"Precision": {"result": INT8}}
    producer[x_t.name] = in_name
    plan.input_layer = in_name
    plan.traced[in_name] = x_t.name

    def add(
        layer: dict[str, Any], node: ir.Node, out_tensor: str | None, precision: dict[str, str] | None = None
    ) -> str:
        layers.append(layer)
        cfg: dict[str, Any] = {"Trace": trace}
        if precision:
            cfg["Precision"] = precision
        layer_cfg[layer["name"]] = cfg
        plan.node_of[layer["name"]] = node.name
        if out_tensor is not None:
            producer[out_tensor] = layer["name"]
            plan.traced[layer["name"]] = out_tensor
        return layer["name"]

    for node in graph.nodes:
        if node.op in xnor_hls.BINARY_OPS:
            src = producer.get(node.inputs[0])
            if src is None:
                raise UnsupportedOpError(
                    f"layer {node.name}: input {node.inputs[0]} is not an activation of the model"
                )
            name = _ident(node.name, used)
            folding = (xnor_folding or {}).get(node.name)
            xl = xnor_hls.binary_layer(graph, node, name, src, folding)
            add(xl, node, node.outputs[0])
            if node.op in xnor_hls.PACKED_OUTPUT_OPS:
                plan.packed.add(node.outputs[0])
            if xl["class_name"] in ("EdgeXnorDense", "EdgeXnorConv"):
                plan.units.append({"kind": "xnor", "layer": name, **xnor_hls.estimate(xl)})
            continue
        if node.op not in SUPPORTED_OPS:
            raise UnsupportedOpError(
                f"layer {node.name}: op {node.op} is not supported by the HLS backend "
                f"(supported: {', '.join(SUPPORTED_OPS)})"
            )
        ins = [graph.tensor(n) for n in node.inputs if n]
        out = graph.tensor(node.outputs[0])
        if out.dtype != "int8":
            raise UnsupportedOpError(f"layer {node.name}: the HLS backend takes int8 layers, not {out.dtype}")
        src = producer.get(ins[0].name)
        if src is None:
            raise UnsupportedOpError(
                f"layer {node.name}: input {ins[0].name} is not an activation of the model"
            )
        p = op_params(graph, node)
        name = _ident(node.name, used)
        if node.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            depthwise = node.op == "DEPTHWISE_CONV_2D"
            in_h, in_w, in_c = _hw(ins[0].shape)
            w = np.asarray(ins[1].data)
            bias = (
                np.asarray(ins[2].data, dtype=np.int64) if len(ins) > 2 else np.zeros(out.shape[3], np.int64)
            )
            common = {
                "name": name,
                "inputs": [src],
                "in_h": in_h,
                "in_w": in_w,
                "in_c": in_c,
                "out_h": p["out_h"],
                "out_w": p["out_w"],
                "out_c": p["out_c"],
                "pad_h": p["pad_h"],
                "pad_w": p["pad_w"],
                "input_offset": int(p["input_offset"]),
                "output_offset": int(p["output_offset"]),
                "bias_data": bias,
                "mult_data": np.asarray(p["output_multiplier"], dtype=np.int64),
                "shift_data": np.asarray(p["output_shift"], dtype=np.int64),
                **_act_attrs(p),
            }
            rows = w.reshape(-1, w.shape[-1]).T if depthwise else w.reshape(w.shape[0], -1)
            _check_accumulator(node, rows, bias)
            use_winograd = node.attrs.get("kernel") == "winograd" or (
                winograd and winograd_hls.winograd_applicable(node, p)
            )
            if use_winograd:
                layer = winograd_hls.winograd_layer(node, w, p, common)
                plan.units.append({"kind": "winograd", "layer": name, **winograd_hls.estimate(node, p, in_c)})
            else:
                layer = {
                    "class_name": "EdgeConv2D",
                    **common,
                    **{k: p[k] for k in WINDOW_KEYS},
                    "dilation_h": p["dilation_h"],
                    "dilation_w": p["dilation_w"],
                    "depthwise": depthwise,
                    "depth_multiplier": int(p.get("depth_multiplier", 1)),
                    "n_weights": int(w.size),
                    "weight_data": w.astype(np.int64),
                }
                taps = int(p["filter_h"] * p["filter_w"]) * (1 if depthwise else in_c)
                plan.units.append(
                    {
                        "kind": "depthwise" if depthwise else "conv",
                        "layer": name,
                        "weight_bits": int(w.size) * 8,
                        "macs": int(p["out_h"] * p["out_w"] * p["out_c"]) * taps,
                        "cycles": int(p["out_h"] * p["out_w"] * p["out_c"]),
                        "multipliers": taps,
                        "note": "one output per cycle, taps in parallel",
                    }
                )
            add(layer, node, out.name)
        elif node.op == "FULLY_CONNECTED":
            w = np.asarray(ins[1].data, dtype=np.int64)  # (out, in)
            n_out, n_in = w.shape
            if ins[0].size != n_in:
                raise UnsupportedOpError(
                    f"layer {node.name}: FULLY_CONNECTED over {ins[0].size // n_in} rows is not supported by the "
                    "HLS backend (one row only)"
                )
            if p["filter_offset"] != 0:
                raise UnsupportedOpError(
                    f"layer {node.name}: weights with a non-zero zero point are not supported"
                )
            bias = np.asarray(ins[2].data, dtype=np.int64) if len(ins) > 2 else np.zeros(n_out, np.int64)
            # sum_i w[o,i] * (x_i + offset) + b[o] == sum_i w[o,i] * x_i + (b[o] + offset * sum_i w[o,i])
            folded = bias + int(p["input_offset"]) * w.sum(axis=1)
            _check_accumulator(node, w, folded, x_span=128)
            if len(ins[0].shape) != 2:
                flat = _ident(node.name + "_flatten", used)
                layers.append(
                    {"class_name": "Reshape", "name": flat, "inputs": [src], "target_shape": [n_in]}
                )
                layer_cfg[flat] = {"Trace": False}
                src = flat
            dense = _ident(node.name + "_mac", used)
            add(
                {
                    "class_name": "Dense",
                    "name": dense,
                    "inputs": [src],
                    "n_in": n_in,
                    "n_out": n_out,
                    "weight_data": w.T.copy(),
                    "bias_data": folded,
                },
                node,
                None,
                {"weight": INT8, "bias": INT32, "result": INT32, "accum": INT32},
            )
            layer_cfg[dense]["Trace"] = False
            # A small layer multiplies everything at once (latency strategy); a large one reuses one multiplier
            # per output neuron over its inputs (resource strategy, reuse factor n_in: n_out multipliers).
            reuse = 1 if n_in * n_out <= MAX_PARALLEL_MACS else n_in
            if reuse > 1:
                layer_cfg[dense].update({"Strategy": "Resource", "ReuseFactor": reuse})
            per_channel = bool(p["per_channel"])
            mult = np.asarray(p["output_multiplier"], dtype=np.int64).reshape(-1)
            shift = np.asarray(p["output_shift"], dtype=np.int64).reshape(-1)
            add(
                {
                    "class_name": "EdgeRequant",
                    "name": name,
                    "inputs": [dense],
                    "n_in": n_out,
                    "n_chan": n_out if per_channel else 1,
                    "output_offset": int(p["output_offset"]),
                    "mult_data": mult,
                    "shift_data": shift,
                    **_act_attrs(p),
                },
                node,
                out.name,
            )
            plan.units.append(
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
        elif node.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            in_h, in_w, c = _hw(ins[0].shape)
            add(
                {
                    "class_name": "EdgePool2D",
                    "name": name,
                    "inputs": [src],
                    "in_h": in_h,
                    "in_w": in_w,
                    "n_chan": c,
                    "out_h": p["out_h"],
                    "out_w": p["out_w"],
                    **{k: p[k] for k in WINDOW_KEYS},
                    "pad_h": p["pad_h"],
                    "pad_w": p["pad_w"],
                    "is_max": node.op == "MAX_POOL_2D",
                    **_act_attrs(p),
                },
                node,
                out.name,
            )
        elif node.op == "ADD":
            src2 = producer.get(ins[1].name)
            if src2 is None:
                raise UnsupportedOpError(
                    f"layer {node.name}: ADD of a constant is not supported by the HLS backend"
                )
            n_out = out.size
            for t in ins[:2]:
                if t.size not in (n_out, out.shape[-1]):
                    raise UnsupportedOpError(
                        f"layer {node.name}: ADD broadcasting {t.shape} to {out.shape} is not supported by the HLS "
                        "backend"
                    )
            add(
                {
                    "class_name": "EdgeAdd",
                    "name": name,
                    "inputs": [src, src2],
                    "n_out": n_out,
                    "n_in1": ins[0].size,
                    "n_in2": ins[1].size,
                    **{k: int(p[k]) for k in ADD_REQUANT_KEYS},
                    **_act_attrs(p),
                },
                node,
                out.name,
            )
        elif node.op == "MEAN":
            if len(ins[0].shape) != 4 or tuple(p["axes"]) != (1, 2):
                raise UnsupportedOpError(
                    f"layer {node.name}: MEAN over axes {p['axes']} is not supported by the HLS backend (only the "
                    "spatial axes 1 and 2 of an NHWC tensor)"
                )
            _, h, w_, c = ins[0].shape
            add(
                {
                    "class_name": "EdgeMean",
                    "name": name,
                    "inputs": [src],
                    "n_pix": h * w_,
                    "n_chan": c,
                    "same_quant": bool(p["same_quant"]),
                    **{
                        k: int(p[k])
                        for k in ("input_zero_point", "output_zero_point", "mean_multiplier", "mean_shift")
                    },
                },
                node,
                out.name,
            )
        elif node.op == "SOFTMAX":
            depth = out.shape[-1]
            add(
                {
                    "class_name": "EdgeSoftmax",
                    "name": name,
                    "inputs": [src],
                    "n_rows": out.size // depth,
                    "depth": depth,
                    "input_multiplier": int(p["input_beta_multiplier"]),
                    "input_left_shift": int(p["input_beta_left_shift"]),
                    "diff_min": int(p["diff_min"]),
                },
                node,
                out.name,
            )
        elif node.op == "RESHAPE":
            shape = list(out.shape[1:]) if out.shape and out.shape[0] == 1 else list(out.shape)
            add(
                {"class_name": "Reshape", "name": name, "inputs": [src], "target_shape": shape},
                node,
                out.name,
            )
            layer_cfg[name]["Trace"] = False
    if graph.outputs[0] not in producer:
        raise UnsupportedOpError(f"model {graph.name}: output {graph.outputs[0]} is not computed")
    plan.output_layer = producer[graph.outputs[0]]
    plan.config = {
        "OutputDir": str(output_dir),
        "ProjectName": project_name,
        "Backend": backend,
        "Part": part,
        "ClockPeriod": clock_period_ns,
        "IOType": "io_parallel",
        "HLSConfig": {
            "Model": {"Precision": INT32, "ReuseFactor": 1, "Strategy": "Latency", "TraceOutput": trace},
            "LayerName": layer_cfg,
        },
    }
    return plan


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
