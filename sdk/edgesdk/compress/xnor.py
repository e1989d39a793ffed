"""``xnor``: binary weights AND binary activations between an int8 first and last layer (XNOR-Net / BNN).

Training (Courbariaux, Hubara et al. 2016, "Binarized Neural Networks"; Rastegari et al. 2016, "XNOR-Net"):
every hidden weight layer after the first becomes a binary layer (weights sign(W) with a straight-through
gradient, no bias), each hidden layer (the first included) is followed by BatchNorm and the sign activation with
the clipped straight-through gradient (1 where |x| <= 1). The first and last weight layers stay float during
training and become int8. XNOR-Net's per-channel weight scale α is not needed: it is a positive per-channel
factor in front of a BatchNorm, which absorbs it (the folded threshold would be the same); training with
it, or with XNOR-Net's activation scale K, gave no accuracy gain on digits (``benchmarks/xnor_scaling.py``).

Writing (the ``.xnor`` graph archive, :mod:`edgesdk.ir.serialize`):

- the layers up to the first weight layer are converted to int8 by the real TFLite converter (calibrated);
  its BatchNorm + sign becomes ``EDGESDK_BINARIZE`` with thresholds on the int8 output;
- each binary layer becomes ``EDGESDK_XNOR_FULLY_CONNECTED`` / ``EDGESDK_XNOR_CONV_2D`` with its BatchNorm + sign
  folded into integer thresholds on the ±1 dot product (flipped where the BatchNorm scale is negative,
  :func:`edgesdk.reference.binary.fold_threshold`); convolutions pad with +1, as they were trained;
- ``EDGESDK_UNPACK_BITS`` turns the last bits into the int8 input of the rest of the model (Flatten, the last
  weight layer, softmax), which the TFLite converter quantizes too, calibrated on the trained ±1 activations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.compress.base import CompressContext, register_check, register_method, weight_layers
from edgesdk.errors import CompressError

#: Layers that may sit between binary layers and are dropped (the sign replaces activations, BatchNorm is ours).
_DROPPED = ("Dropout", "Activation", "ReLU", "BatchNormalization", "LeakyReLU")
PAD_VALUE = 1


def _classes() -> dict[str, Any]:
    import keras
    from keras import ops

    def sign_ste(x: Any) -> Any:
        q = ops.where(x >= 0, 1.0, -1.0)
        c = ops.clip(x, -1.0, 1.0)
        return c + ops.stop_gradient(q - c)

    def weight_ste(w: Any) -> Any:
        return w + ops.stop_gradient(ops.where(w >= 0, 1.0, -1.0) - w)

    class BinarySign(keras.layers.Layer):
        """sign(x) (+1 at 0) forward, the clipped straight-through gradient backward."""

        def call(self, x: Any) -> Any:
            return sign_ste(x)

    class BinaryDense(keras.layers.Dense):
        """Dense with sign(W) in the forward pass (no bias: the BatchNorm after it has one)."""

        def call(self, inputs: Any, training: Any = None) -> Any:
            return ops.matmul(inputs, weight_ste(self.kernel))

    class BinaryConv2D(keras.layers.Conv2D):
        """Conv2D with sign(W); SAME padding reads +1 (what the XNOR kernel pads with)."""

        def call(self, inputs: Any) -> Any:
            x = inputs
            if self.padding == "same":
                pads = [[0, 0]]
                for d in range(2):
                    size, k, s = int(inputs.shape[1 + d]), self.kernel_size[d], self.strides[d]
                    out = (size + s - 1) // s
                    total = max((out - 1) * s + k - size, 0)
                    pads.append([total // 2, total - total // 2])
                pads.append([0, 0])
                x = ops.pad(x, pads, constant_values=float(PAD_VALUE))
            return ops.conv(x, weight_ste(self.kernel), strides=self.strides, padding="valid")

    return {"sign": BinarySign, "Dense": BinaryDense, "Conv2D": BinaryConv2D}


def _plan(model: Any, ctx: CompressContext) -> tuple[list[Any], int, int]:
    """The model's layers (without the input layer), and the positions of the first and last weight layer."""
    import keras

    layers = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
    wl = weight_layers(model)
    if len(wl) < 3:
        raise CompressError(
            f"model {model.name} has {len(wl)} weight layers; xnor needs at least one hidden layer between the "
            "int8 first and last layers"
        )
    first, last = layers.index(wl[0]), layers.index(wl[-1])
    if ctx.keep_int8 != {wl[0].name, wl[-1].name}:
        raise CompressError(
            "xnor keeps exactly the first and last weight layers int8 (--keep-int8 first,last); "
            f"got {', '.join(sorted(ctx.keep_int8)) or 'none'}"
        )
    last_hidden = max(i for i in range(first, last) if type(layers[i]).__name__ in ("Dense", "Conv2D"))
    for i in range(first + 1, last):
        la = layers[i]
        cls = type(la).__name__
        if cls in _DROPPED:
            continue
        if cls in ("Dense", "Conv2D"):
            if cls == "Conv2D" and (la.groups != 1 or tuple(la.dilation_rate) != (1, 1)):
                raise CompressError(
                    f"layer {la.name} (grouped or dilated Conv2D) cannot take xnor; use a plain Conv2D or "
                    "--method binary (binary weights, int8 activations)"
                )
            ctx.layer(la.name).update(target="xnor", bits=1)
            continue
        if cls == "Flatten" and i > last_hidden:
            continue
        raise CompressError(
            f"layer {la.name} ({cls}) cannot run on binary activations; xnor takes Dense and Conv2D layers "
            "(and Flatten before the last layer) between the first and last layer; use --method binary instead"
        )
    ctx.layer(wl[0].name).update(target="int8", note="kept int8 (first layer)")
    ctx.layer(wl[-1].name).update(target="int8", note="kept int8 (last layer)")
    return layers, first, last


def _clone(layer: Any, **overrides: Any) -> Any:
    cfg = layer.get_config()
    cfg.update(overrides)
    return layer.__class__.from_config(cfg)


def build_qat(model: Any, ctx: CompressContext) -> tuple[Any, dict[str, Any]]:
    """The training model and a map of its parts (first, binary layers with their BatchNorms, tail)."""
    import keras

    layers, first, last = _plan(model, ctx)
    cls = _classes()
    inp = keras.Input(tuple(model.inputs[0].shape[1:]))
    x = inp
    parts: dict[str, Any] = {"hidden": [], "tail": []}
    copies: list[tuple[Any, Any]] = []
    for i, la in enumerate(layers):
        name = type(la).__name__
        if i < first:
            new = _clone(la)
            x = new(x)
            copies.append((new, la))
        elif i == first:
            new = _clone(la, activation="linear")
            x = new(x)
            copies.append((new, la))
            bn = keras.layers.BatchNormalization(name=f"{la.name}_bn")
            x = bn(x)
            parts["first"] = (new, bn)
            x = cls["sign"](name=f"{la.name}_sign")(x)
            parts["first_sign"] = x
        elif i < last and name in ("Dense", "Conv2D"):
            if name == "Dense":
                new = cls["Dense"](la.units, use_bias=False, name=la.name)
            else:
                new = cls["Conv2D"](
                    la.filters,
                    la.kernel_size,
                    strides=la.strides,
                    padding=la.padding,
                    use_bias=False,
                    name=la.name,
                )
            x = new(x)
            new.kernel.assign(la.kernel.numpy())
            bn = keras.layers.BatchNormalization(name=f"{la.name}_bn")
            x = bn(x)
            x = cls["sign"](name=f"{la.name}_sign")(x)
            parts["hidden"].append((new, bn, x))
        elif i < last and name in _DROPPED:
            continue
        else:
            if name in _DROPPED and i < last:
                continue
            new = _clone(la)
            parts["tail"].append(new)
            x = new(x)
            copies.append((new, la))
    qat = keras.Model(inp, x, name=model.name)
    for new, old in copies:
        if old.weights:
            new.set_weights(old.get_weights())
    return qat, parts


def _int8_part(keras_model: Any, calib: np.ndarray) -> Any:
    from edgesdk.compress.base import fixed_batch
    from edgesdk.frontends.keras import quantize_keras
    from edgesdk.frontends.tflite import read_tflite

    data = quantize_keras(fixed_batch(keras_model), calib, num_samples=None)
    return read_tflite(data, name=keras_model.name)


def _bn(bn: Any) -> tuple[np.ndarray, ...]:
    g, b, m, v = (np.asarray(w, dtype=np.float64) for w in bn.get_weights())
    return g, b, m, v, float(bn.epsilon)


def _xnor_layer(
    g: Any, layer: Any, bn: Any, cur: str, cur_shape: tuple[int, ...], cur_c: int
) -> tuple[str, tuple[int, ...], int]:
    """Append one hidden binary layer (its Keras Conv2D or Dense and the BatchNorm + sign after it, folded into
    integer thresholds) to ``g`` as an XnorConv2D / XnorFullyConnected reading the bits ``cur``; returns the bits
    it writes, their shape (without the words) and their channels."""
    import keras

    from edgesdk.ir import graph as ir
    from edgesdk.ir.binary import XnorConv2D, XnorFullyConnected
    from edgesdk.reference.binary import fold_threshold, pack_bits, words_for

    kern = np.asarray(layer.kernel.numpy())
    gam, bet, mea, var, eps = _bn(bn)
    thr, flip = fold_threshold(gam, bet, mea, var, eps)
    bits = kern >= 0
    if isinstance(layer, keras.layers.Conv2D):
        wb = np.transpose(bits, (3, 0, 1, 2))  # (O, KH, KW, C)
        o = wb.shape[0]
        h, w = int(cur_shape[1]), int(cur_shape[2])
        from edgesdk.reference.xnor import conv_pads

        oh = conv_pads(h, layer.kernel_size[0], layer.strides[0], layer.padding.upper())[0]
        ow = conv_pads(w, layer.kernel_size[1], layer.strides[1], layer.padding.upper())[0]
        out_shape: tuple[int, ...] = (1, oh, ow)
    else:
        wb = bits.T  # (O, K)
        o = wb.shape[0]
        out_shape = (1,)
    wdata = pack_bits(wb).view(np.int32)
    wt = g.add_tensor(ir.Tensor(f"{layer.name}/weights", wdata.shape, "int32", data=wdata)).name
    nxt = g.add_tensor(ir.Tensor(f"{layer.name}/bits", (*out_shape, 4 * words_for(o)), "int8")).name
    common = dict(threshold=tuple(int(v) for v in thr), flip=tuple(bool(v) for v in flip))
    if isinstance(layer, keras.layers.Conv2D):
        node: ir.Node = XnorConv2D(
            name=layer.name,
            inputs=[cur, wt],
            outputs=[nxt],
            in_channels=cur_c,
            out_channels=o,
            kernel=tuple(layer.kernel_size),
            stride=tuple(layer.strides),
            padding=layer.padding.upper(),
            pad_value=PAD_VALUE,
            **common,
        )
    else:
        node = XnorFullyConnected(
            name=layer.name, inputs=[cur, wt], outputs=[nxt], in_features=cur_c, out_features=o, **common
        )
    g.nodes.append(node)
    return nxt, out_shape, o


def write_xnor(qat: Any, parts: dict[str, Any], ctx: CompressContext, out: Path) -> dict[str, Any]:
    """Build the IR graph of the trained model, write it, and measure its accuracy with the reference."""
    import keras

    from edgesdk.ir import graph as ir
    from edgesdk.ir.binary import Binarize, UnpackBits
    from edgesdk.ir.serialize import load_graph, save_graph
    from edgesdk.reference.binary import fold_threshold, words_for

    calib_n = min(len(ctx.x_train), 200)
    xs = ctx.x_train[:calib_n].reshape((calib_n, *qat.inputs[0].shape[1:]))
    first_layer, first_bn = parts["first"]
    head = keras.Model(qat.inputs, first_layer.output, name=f"{qat.name}_head")
    ctx.progress(f"{qat.name}: converting the first layer to int8 with the TFLite converter")
    g_head = _int8_part(head, xs)
    last_sign = parts["hidden"][-1][2] if parts["hidden"] else parts["first_sign"]
    tail_in = keras.Input(tuple(last_sign.shape[1:]), batch_size=1)
    y = tail_in
    for la in parts["tail"]:
        y = la(y)
    tail = keras.Model(tail_in, y, name=f"{qat.name}_tail")
    signs = keras.Model(qat.inputs, last_sign).predict(xs, batch_size=256, verbose=0)
    ctx.progress(f"{qat.name}: converting the last layer to int8 with the TFLite converter")
    g_tail = _int8_part(tail, signs.astype(np.float32))

    g = ir.Graph(name=out.stem)

    def take(sub: ir.Graph, prefix: str) -> dict[str, str]:
        names = {}
        for t in sub.tensors.values():
            new = f"{prefix}{t.name}"
            names[t.name] = new
            g.add_tensor(ir.Tensor(new, t.shape, t.dtype, t.quant, t.data))
        return names

    hn = take(g_head, "head/")
    g.inputs = [hn[g_head.inputs[0]]]
    for node in g_head.nodes:
        node.name = f"head/{node.name}"
        node.inputs = [hn[n] if n else "" for n in node.inputs]
        node.outputs = [hn[n] for n in node.outputs]
        g.nodes.append(node)
    y_t = g.tensor(hn[g_head.outputs[0]])
    assert y_t.quant is not None
    s_y, zp_y = y_t.quant.s, y_t.quant.zp
    gam, bet, mea, var, eps = _bn(first_bn)
    thr, flip = fold_threshold(
        gam, bet, mea, var, eps, bias=np.full(gam.shape, -s_y * zp_y), scale=np.full(gam.shape, s_y)
    )
    thr = np.clip(thr, -129, 128)
    c = int(y_t.shape[-1])
    cur = g.add_tensor(
        ir.Tensor(f"{first_layer.name}/bits", (*y_t.shape[:-1], 4 * words_for(c)), "int8")
    ).name
    g.nodes.append(
        Binarize(
            name=f"{first_layer.name}_sign",
            inputs=[y_t.name],
            outputs=[cur],
            channels=c,
            threshold=tuple(int(v) for v in thr),
            flip=tuple(bool(v) for v in flip),
        )
    )
    cur_shape, cur_c = y_t.shape[:-1], c
    for layer, bn, _ in parts["hidden"]:
        cur, cur_shape, cur_c = _xnor_layer(g, layer, bn, cur, cur_shape, cur_c)
    tn = take(g_tail, "tail/")
    t_in = g.tensor(tn[g_tail.inputs[0]])
    assert t_in.quant is not None
    s_c, zp_c = t_in.quant.s, t_in.quant.zp
    hi = int(np.clip(np.round(1.0 / s_c) + zp_c, -128, 127))
    lo = int(np.clip(np.round(-1.0 / s_c) + zp_c, -128, 127))
    g.nodes.append(
        UnpackBits(name="unpack", inputs=[cur], outputs=[t_in.name], channels=cur_c, high=hi, low=lo)
    )
    for node in g_tail.nodes:
        node.name = f"tail/{node.name}"
        node.inputs = [tn[n] if n else "" for n in node.inputs]
        node.outputs = [tn[n] for n in node.outputs]
        g.nodes.append(node)
    g.outputs = [tn[g_tail.outputs[0]]]
    seen: set[str] = set()
    for node in g.nodes:
        while node.name in seen:
            node.name = f"{node.name}_"
        seen.add(node.name)
    save_graph(g, out)
    g = load_graph(out)  # what was written, through the verifier every model passes
    acc = graph_accuracy(g, ctx.x_val, ctx.y_val)
    return {"accuracy": acc, "graph": g}


def graph_accuracy(graph: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of an int8-input graph on float samples, run by the reference interpreter."""
    from edgesdk.reference import Reference

    t = graph.tensor(graph.inputs[0])
    q = np.clip(np.round(x.reshape(len(x), -1) / t.quant.s) + t.quant.zp, -128, 127).astype(np.int8)
    out = Reference(graph).run_batch(q).reshape(len(x), -1)
    return float(np.mean(np.argmax(out, axis=1) == y))


@register_method(
    "xnor", order=60, help="binary weights and activations (XNOR-popcount), first/last layer int8"
)
def apply_xnor(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    if arg:
        raise CompressError(f"method xnor takes no argument (got xnor={arg})")
    qat, parts = build_qat(model, ctx)
    ctx.fit(qat)

    def writer(out: Path, c: CompressContext) -> dict[str, Any]:
        return write_xnor(qat, parts, c, Path(out))

    qat._edgesdk_writer = writer
    return qat


@register_check("xnor")
def check_xnor(model: Any, arg: str | None, ctx: CompressContext) -> None:
    if arg:
        raise CompressError(f"method xnor takes no argument (got xnor={arg})")
    _plan(model, ctx.probe())
