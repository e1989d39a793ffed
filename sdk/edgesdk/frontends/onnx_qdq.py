"""QDQ ONNX (onnxruntime ``quantize_static``, QDQ format) -> int8 IR, with the model's own scales and zero points.

Each ``QuantizeLinear -> DequantizeLinear`` pair around an activation gives that tensor's int8 quantization
(uint8 activations become int8 with the zero point minus 128: the same real values); each
``DequantizeLinear`` of a constant gives a weight (int8, symmetric, per tensor or per output channel) or a
bias (int32 at ``input scale * weight scale``). Relu removed by the quantizer needs nothing: the output's zero
point and the int8 clamp do it. What onnxruntime computes in float between the pairs (convolution, then
requantization by a float multiply), edgesdk computes as TFLite Micro does (int32 accumulation, then the
fixed-point multiplier and shift derived from the same scales), so results may differ by one step in places:
:func:`qdq_agreement` measures that per layer; the device stays bit-exact with edgesdk's reference.

TFLite's int8 SOFTMAX and LOGISTIC always write scale 1/256 and zero point -128; a QDQ model whose softmax
output is quantized otherwise gets TFLite's output quantization (logged).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import EdgeSDKError, ModelFormatError, UnsupportedOpError
from edgesdk.frontends.onnx import Layer, Lowered, Quant
from edgesdk.ir import graph as ir

log = logging.getLogger(__name__)

#: Layers whose output may take its input's quantization when the model gives it none (they move int8 values).
_KEEPS_QUANT = ("maxpool", "reshape", "pad")
#: TFLite's fixed output quantization of int8 SOFTMAX and LOGISTIC.
_PROB_SCALE, _PROB_ZP = 1.0 / 256.0, -128


def _qp(q: Quant, axis: int | None = None) -> ir.QuantParams:
    return ir.QuantParams(scale=q.scale, zero_point=q.zero_point, axis=axis if q.scale.size > 1 else None)


class _Builder:
    def __init__(self, low: Lowered, name: str) -> None:
        self.low = low
        self.what = low.prep.what
        self.g = ir.Graph(name=name, sha256=low.prep.sha256)
        self.quant = dict(low.quant)

    def act(self, name: str, layer: Layer | None = None) -> str:
        """The IR tensor of an activation (created on first use)."""
        if name in self.g.tensors:
            return name
        q = self.quant.get(name)
        if q is None:
            where = f"layer {layer.name}" if layer is not None else "the graph input"
            raise UnsupportedOpError(
                f"{where}: tensor {name} of {self.what} has no QuantizeLinear/DequantizeLinear pair; every "
                "activation of a QDQ model must be quantized"
            )
        self.g.add_tensor(ir.Tensor(name, self.low.values[name].shape, "int8", _qp(q)))
        return name

    def const(self, name: str, data: np.ndarray, dtype: str, quant: ir.QuantParams | None = None) -> str:
        base, k = name, 0
        while name in self.g.tensors:
            k += 1
            name = f"{base}_{k}"
        self.g.add_tensor(ir.Tensor(name, data.shape, dtype, quant, np.ascontiguousarray(data.astype(dtype))))
        return name

    def weights(self, layer: Layer, x: str, axis: int) -> list[str]:
        p = layer.params
        w, wq = p["w"], p["w_quant"]
        if wq is None:
            raise UnsupportedOpError(f"layer {layer.name}: the weights of a QDQ model must be quantized")
        if np.any(wq.zero_point != 0) or w.dtype != np.int8:
            raise UnsupportedOpError(
                f"layer {layer.name}: weights must be int8 and symmetric (zero point 0), as TFLite's int8 kernels "
                "need; quantize with weight_type=QuantType.QInt8"
            )
        w_name = self.const(f"{layer.name}_weights", w, "int8", _qp(wq, axis))
        names = [x, w_name]
        if p["b"] is not None:
            out_c = w.shape[axis]
            s_in = self.g.tensors[x].quant.s  # type: ignore[union-attr]
            s_b = np.broadcast_to(wq.scale, (out_c,)) * s_in
            b, bq = np.asarray(p["b"]), p["b_quant"]
            if bq is None:
                raise UnsupportedOpError(f"layer {layer.name}: the bias of a QDQ model must be quantized")
            real = (b.astype(np.float64) - bq.zero_point) * bq.scale
            q = np.round(real.reshape(-1) / s_b)
            if b.dtype == np.int32 and np.allclose(np.broadcast_to(bq.scale, (out_c,)), s_b, rtol=1e-6):
                q = b.astype(np.int64).reshape(-1)  # the usual case: already at input x weight scale
            else:
                log.info("layer %s: bias requantized to the input x weight scale", layer.name)
            if np.any(np.abs(q) > 2**31 - 1):
                raise UnsupportedOpError(
                    f"layer {layer.name}: the bias does not fit int32 at input x weight scale"
                )
            names.append(
                self.const(f"{layer.name}_bias", q, "int32", ir.QuantParams(s_b, np.zeros(out_c), 0))
            )
        else:
            names.append("")
        return names

    def out(self, layer: Layer, like: str | None = None) -> str:
        name = layer.output
        if name not in self.quant and like is not None and layer.kind in _KEEPS_QUANT:
            self.quant[name] = self.quant[like]
        if layer.kind in ("softmax", "sigmoid"):
            q = self.quant.get(name)
            if q is None or q.zero_point[0] != _PROB_ZP or not np.isclose(q.scale[0], _PROB_SCALE):
                log.info(
                    "layer %s: output quantized as TFLite's int8 %s does (scale 1/256, zero point -128)%s",
                    layer.name,
                    layer.kind,
                    ""
                    if q is None
                    else f" instead of the model's (scale {q.scale[0]:.6g}, zero point {q.zero_point[0]})",
                )
                self.quant[name] = Quant(np.array([_PROB_SCALE]), np.array([_PROB_ZP]))
        return self.act(name, layer)

    def build(self) -> ir.Graph:
        low, g = self.low, self.g
        g.inputs = [self.act(n) for n in low.inputs]
        for layer in low.layers:
            try:
                g.nodes.append(self.node(layer))
            except EdgeSDKError:
                raise
            except (KeyError, ValueError, TypeError, IndexError) as exc:
                raise UnsupportedOpError(
                    f"layer {layer.name} ({layer.kind}) cannot be imported: {exc}"
                ) from None
        g.outputs = list(low.outputs)
        for o in g.outputs:
            if o not in g.tensors:
                raise ModelFormatError(f"{self.what}: graph output {o} is not computed by any layer")
        return g

    def node(self, layer: Layer) -> ir.Node:
        p, kind, name = layer.params, layer.kind, layer.name
        ins = [self.act(i, layer) for i in layer.inputs]
        x = ins[0]
        if kind in ("conv", "dwconv"):
            window = {
                "stride": tuple(p["stride"]),
                "dilation": tuple(p["dilation"]),
                "padding": p["padding"],
                "activation": layer.activation,
            }
            if kind == "conv":
                return ir.Conv2D(name, self.weights(layer, x, 0), [self.out(layer)], **window)
            return ir.DepthwiseConv2D(
                name,
                self.weights(layer, x, 3),
                [self.out(layer)],
                depth_multiplier=p["depth_multiplier"],
                **window,
            )
        if kind == "dense":
            args = self.weights(layer, x, 0)
            return ir.FullyConnected(name, args, [self.out(layer)], activation=layer.activation)
        if kind in ("maxpool", "avgpool"):
            cls = ir.MaxPool2D if kind == "maxpool" else ir.AveragePool2D
            return cls(
                name,
                [x],
                [self.out(layer, x)],
                filter=tuple(p["filter"]),
                stride=tuple(p["stride"]),
                padding=p["padding"],
            )
        if kind == "mean":
            axes = self.const(f"{name}_axes", np.array(p["axes"]), "int32")
            return ir.Mean(
                name, [x, axes], [self.out(layer)], axes=tuple(p["axes"]), keep_dims=p["keep_dims"]
            )
        if kind == "add":
            return ir.Add(name, ins, [self.out(layer)], activation=layer.activation)
        if kind == "pad":
            pads = self.const(f"{name}_paddings", np.array(p["paddings"]), "int32")
            return ir.Pad(
                name, [x, pads], [self.out(layer, x)], paddings=tuple(tuple(r) for r in p["paddings"])
            )
        if kind == "reshape":
            shape = self.const(f"{name}_shape", np.array(p["shape"]), "int32")
            return ir.Reshape(name, [x, shape], [self.out(layer, x)], new_shape=tuple(p["shape"]))
        if kind == "softmax":
            return ir.Softmax(name, [x], [self.out(layer)])
        if kind == "sigmoid":
            return ir.Logistic(name, [x], [self.out(layer)])
        if kind == "concat":
            return ir.Concatenation(name, ins, [self.out(layer)], axis=p["axis"])
        raise UnsupportedOpError(f"layer {name}: a standalone {kind} is not supported in a QDQ model")


def qdq_to_graph(low: Lowered, name: str) -> ir.Graph:
    """The int8 IR of a lowered QDQ model, checked like every model edgesdk reads."""
    from edgesdk.frontends.verify import verify_graph

    g = _Builder(low, name).build()
    order = low.input_orders[low.inputs[0]] if len(low.inputs) == 1 else None
    if order is not None and order != tuple(range(len(order))):
        g.input_order = order
    try:
        g.validate()
    except ValueError as exc:
        raise ModelFormatError(f"{low.prep.what} is corrupt: {exc}") from exc
    verify_graph(g, low.prep.what)
    return g


def qdq_agreement(
    low: Lowered, graph: ir.Graph, x: np.ndarray, *, optimize: bool
) -> dict[str, dict[str, Any]]:
    """Per layer, how often edgesdk's int8 values equal onnxruntime's, for samples ``x`` (ONNX layout).

    onnxruntime runs the QDQ model with every quantized activation made a graph output (``optimize``: its
    graph optimizations on, which fuse QDQ groups into integer kernels, or off: the plain float ops between
    QuantizeLinear/DequantizeLinear). Two comparisons per layer:

    - ``equal``/``max_steps``: edgesdk's reference run end to end (differences of earlier layers propagate);
    - ``iso_equal``/``iso_max_steps``: the layer alone, computed by edgesdk's kernel from onnxruntime's own int8
      inputs: the difference the requantization arithmetic itself makes.

    Returns ``{tensor: {...}}`` in layer order; softmax/logistic outputs whose quantization edgesdk changed are
    compared in real values (``max_abs``, ``iso_max_abs``).
    """
    import onnx

    from edgesdk.compiler.data import make_inputs
    from edgesdk.frontends.onnx_keras import onnxruntime_outputs
    from edgesdk.reference import Reference
    from edgesdk.reference.kernels import KERNELS
    from edgesdk.reference.params import op_params

    model = onnx.ModelProto()
    model.CopyFrom(low.prep.model)
    q_outputs: dict[str, str] = {}
    # The layout of the quantized ONNX tensor (it may be quantized after a Transpose).
    q_orders: dict[str, tuple[int, ...]] = {}
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear":
            stored = low.values.get(n.input[0])
            if (
                stored is not None and stored.name in graph.tensors
            ):  # the last one: a folded Add's, not MatMul's
                q_outputs[stored.name] = n.output[0]
                q_orders[stored.name] = stored.order
    existing = {o.name for o in model.graph.output}
    for onnx_name in q_outputs.values():
        if onnx_name not in existing:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(onnx_name))
    out_names = [o.name for o in model.graph.output]
    by_name = dict(zip(out_names, onnxruntime_outputs(model, x, optimize=optimize), strict=True))
    x_int8 = make_inputs(graph, x, count=0)
    ref = Reference(graph).run_batch_all(x_int8)

    def theirs(t: str) -> np.ndarray:
        """onnxruntime's int8 value of stored tensor ``t``, in the IR's layout and int8 terms."""
        o = by_name[q_outputs[t]]
        order = q_orders[t]
        o = np.transpose(o, order) if len(order) == o.ndim else o
        o = o.astype(np.int64) - (128 if str(o.dtype) == "uint8" else 0)
        return o.reshape(ref[t].shape)

    feed: dict[str, np.ndarray] = {graph.inputs[0]: x_int8}
    report: dict[str, dict[str, Any]] = {}
    for node in graph.nodes:
        args = [
            None if not n else feed[n] if n in feed else np.asarray(graph.tensors[n].data)
            for n in node.inputs
        ]
        iso = KERNELS[node.op](graph, node, op_params(graph, node), args, "double").astype(np.int64)
        t = node.outputs[0]
        if t not in q_outputs:
            feed[t] = iso  # a layer edgesdk added (an explicit pad): exact, no requantization
            continue
        o = theirs(t)
        feed[t] = o
        q = low.quant[t]
        ours = ref[t].astype(np.int64)
        row: dict[str, Any] = {"layer": node.name, "n": int(o.size)}
        tq = graph.tensors[t].quant
        if tq is not None and (tq.zp != int(q.zero_point[0]) or not np.isclose(tq.s, float(q.scale[0]))):
            real_o = (o - int(q.zero_point[0])) * float(q.scale[0])
            row["max_abs"] = float(np.max(np.abs(real_o - (ours - tq.zp) * tq.s)))
            row["iso_max_abs"] = float(np.max(np.abs(real_o - (iso - tq.zp) * tq.s)))
            feed[t] = iso
        else:
            diff, idiff = np.abs(ours - o), np.abs(iso - o)
            row.update(
                equal=float(np.mean(diff == 0)),
                max_steps=int(diff.max(initial=0)),
                iso_equal=float(np.mean(idiff == 0)),
                iso_max_steps=int(idiff.max(initial=0)),
            )
        report[t] = row
    return report


def quantize_with_onnxruntime(
    src: str | Path,
    out: str | Path,
    samples: np.ndarray,
    *,
    activation: str = "QInt8",
    per_channel: bool = True,
    pre_process: bool = True,
) -> Path:
    """Make a QDQ model the way onnxruntime users do (``quant_pre_process``, then ``quantize_static`` in QDQ
    format, int8 weights, ``activation`` ``"QInt8"`` or ``"QUInt8"``), calibrated on ``samples`` (the model's
    input layout); without ``pre_process`` BatchNorm stays a quantized op of its own. For comparisons and tests; edgesdk itself quantizes float models with TFLite's quantizer."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = Path(out)
    pre = out.with_suffix(".pre.onnx") if pre_process else Path(src)
    if pre_process:  # folds BatchNorm into the convolutions, as onnxruntime recommends
        quant_pre_process(str(src), str(pre))
    name = onnx.load(str(src)).graph.input[0].name
    feeds = [{name: np.asarray(s, np.float32)[None]} for s in samples]

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    quantize_static(
        str(pre),
        str(out),
        _Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=per_channel,
        activation_type=getattr(QuantType, activation),
        weight_type=QuantType.QInt8,
    )
    return out


__all__ = ["qdq_agreement", "qdq_to_graph", "quantize_with_onnxruntime"]
