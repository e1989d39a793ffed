"""Read an ONNX model, check it, fold what is constant and lower it to NHWC layers.

This is the half of the ONNX frontend that both paths share:

- a **float** model (``torch.onnx.export`` with either exporter, ``tf2onnx``, ...) is lowered here and then
  rebuilt as a Keras 3 functional model (:mod:`edgesdk.frontends.onnx_keras`), which goes through the same
  real TFLite quantizer as every other float model;
- a **QDQ** model (``QuantizeLinear``/``DequantizeLinear`` pairs around float ops, as onnxruntime's
  ``quantize_static`` writes) is lowered here with its own scales and zero points and then written straight
  into the IR (:mod:`edgesdk.frontends.onnx_qdq`).

Steps (each one refuses what it cannot do with one sentence naming the node, its op type and the opset):

1. **read**: the file must parse as an ONNX protobuf and pass ``onnx.checker``; its default-domain opset must
   be one onnx knows (:class:`ModelFormatError`, exit 2). Opset imports of other domains that no node uses are
   ignored (onnxruntime's tools add half a dozen).
2. **static shapes**: a symbolic batch dimension (``N``, ``batch``) becomes 1; any other symbolic dimension is
   refused. Shapes are then inferred by ``onnx.shape_inference``.
3. **constant folding**: ``Constant``, ``Shape`` of a static tensor and every node whose inputs are all known
   are evaluated with onnx's reference evaluator, so the TorchScript exporter's ``Shape -> Gather -> Concat ->
   Pad`` chains become constant pad amounts. ``Identity`` and ``Dropout`` become aliases.
4. **support check** (:func:`check_supported`): every node left must be one of :data:`SUPPORTED_OPS`; this
   runs before any TensorFlow import, so ``inspect`` refuses an unsupported model at once (exit 3).
5. **lowering** (:func:`lower`): ONNX's NCHW tensors are kept NHWC; each value remembers the axis order that
   takes the ONNX tensor to the stored one, so ``Transpose`` nodes cost nothing (they compose orders) and the
   ``Transpose`` pairs ``tf2onnx`` writes around an NHWC Keras model cancel. Flattening an NCHW tensor whose
   spatial size is above 1 is folded into the next ``Gemm``/``MatMul`` by permuting its weight columns.
   BatchNormalization and a per-channel ``Mul``/``Add`` (BatchNorm written out) are folded into the
   convolution or dense layer before them, else become a 1x1 depthwise convolution. ONNX's explicit pads
   become ``SAME`` where they equal TensorFlow's SAME padding, else a separate zero ``Pad`` layer.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import EdgeSDKError, ModelFormatError, UnsupportedOpError

log = logging.getLogger(__name__)

ONNX_SUFFIXES = (".onnx",)

#: ONNX ops the lowering translates (after constant folding). Folded ops (Constant, Shape, Gather, Concat,
#: Cast, ... on constants) need not be listed: what is constant never reaches the lowering.
SUPPORTED_OPS: tuple[str, ...] = (
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "BatchNormalization",
    "Relu",
    "Clip",
    "Sigmoid",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "ReduceMean",
    "Pad",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Softmax",
    "Concat",
    "Identity",
    "Dropout",
    "QuantizeLinear",
    "DequantizeLinear",
)
#: Never evaluated at import even on constant inputs: DequantizeLinear of int8 weights is how QDQ models store
#: their weights, and the QDQ import reads the integers.
_NO_FOLD = ("QuantizeLinear", "DequantizeLinear")
_ALIAS_OPS = ("Identity", "Dropout")
NCHW_TO_NHWC = (0, 2, 3, 1)
IDENTITY4 = (0, 1, 2, 3)


# ------------------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------------------
def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ModelFormatError(
            "reading ONNX models needs the onnx and onnxruntime packages: pip install 'edgesdk[onnx]'"
        ) from None
    return onnx


def read_onnx(source: Any, what: str | None = None) -> tuple[Any, bytes, str]:
    """Parse and check an ONNX model (a path, bytes or a ``ModelProto``); returns (model, bytes, what)."""
    onnx = _import_onnx()
    from google.protobuf.message import DecodeError

    if isinstance(source, onnx.ModelProto):
        data = source.SerializeToString()
        what = what or f"ONNX model {source.graph.name or 'model'}"
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        what = what or "ONNX model"
    else:
        path = Path(source)
        what = what or f"model {path}"
        if not path.exists():
            raise ModelFormatError(f"{what} does not exist")
        if path.is_dir():
            raise ModelFormatError(f"{what} is a folder, not an .onnx file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelFormatError(f"{what} cannot be read: {exc.strerror or exc}") from exc
    if not data:
        raise ModelFormatError(f"{what} is empty (0 bytes)")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelFormatError(
            f"{what} is truncated or not an ONNX model: its {len(data)} bytes do not parse as an ONNX "
            f"protobuf ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"
        ) from None
    if not model.HasField("graph") or not model.graph.node:
        raise ModelFormatError(f"{what} is truncated or not an ONNX model: it holds no graph nodes")
    external = any(
        onnx.external_data_helper.uses_external_data(t)
        for t in onnx.external_data_helper._get_all_tensors(model)
    )
    if isinstance(source, (str, Path)) and external:
        try:
            onnx.external_data_helper.load_external_data_for_model(model, str(Path(source).parent))
        except (OSError, ValueError) as exc:
            raise ModelFormatError(f"{what}: its external tensor data cannot be read: {exc}") from None
    _check_opset(model, what)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx.checker.ValidationError and C++ errors surfaced as others
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(f"{what} is truncated or invalid: the ONNX checker says: {detail}") from None
    return model, data, what


def _check_opset(model: Any, what: str) -> None:
    import onnx

    known = onnx.defs.onnx_opset_version()
    default = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not default:
        raise ModelFormatError(f"{what} imports no opset of the default ONNX domain")
    version = int(default[0])
    if not 1 <= version <= known:
        raise ModelFormatError(
            f"{what} uses opset {version} of the default ONNX domain; the installed onnx knows opsets 1 to "
            f"{known}: re-export it with an opset in that range"
        )
    if version < 7:
        raise ModelFormatError(
            f"{what} uses opset {version}; edgesdk reads opset 7 and later: re-export it with a newer opset"
        )
    used = {n.domain for n in model.graph.node}
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOpError(
                f"node {node.name or node.op_type} (op {node.domain}.{node.op_type}) is outside the default "
                "ONNX domain and is not supported"
            )
    unused = [
        o.domain for o in model.opset_import if o.domain not in ("", "ai.onnx") and o.domain not in used
    ]
    if unused:
        log.debug("%s: ignoring unused opset imports %s", what, ", ".join(unused))


def opset_of(model: Any) -> int:
    return int(next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")))


# ------------------------------------------------------------------------------------------------------------
# Static shapes and constant folding
# ------------------------------------------------------------------------------------------------------------
#: What a Mul by a constant takes, said when it is refused.
_SCALES = " (per-channel or scalar only)"


@dataclass
class Prepared:
    """An ONNX graph with static shapes and its constants folded: what the lowering reads."""

    what: str
    name: str
    opset: int
    sha256: str
    nodes: list[Any]  # NodeProto left after folding, in order
    consts: dict[str, np.ndarray]
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, str]
    inputs: list[str]
    outputs: list[str]
    aliases: dict[str, str] = field(default_factory=dict)
    model: Any = None  # the ModelProto with static shapes (what onnxruntime runs for comparisons)

    def resolve(self, name: str) -> str:
        while name in self.aliases:
            name = self.aliases[name]
        return name

    @property
    def is_qdq(self) -> bool:
        return any(n.op_type in _NO_FOLD for n in self.nodes)


def node_label(node: Any) -> str:
    return node.name or (f"{node.op_type}({node.output[0]})" if node.output else node.op_type)


def _fix_batch(model: Any, what: str) -> None:
    """Set a symbolic (or 0/-1) leading dimension of every graph input to 1; refuse other dynamic ones."""
    inits = {i.name for i in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        tt = inp.type.tensor_type
        if not tt.HasField("shape"):
            raise ModelFormatError(f"input {inp.name} of {what} has no shape; export it with a fixed shape")
        dims = tt.shape.dim
        for k, d in enumerate(dims):
            static = d.HasField("dim_value") and d.dim_value > 0
            if static:
                continue
            if k == 0:
                if d.HasField("dim_param"):
                    log.info("input %s of %s: symbolic batch %r fixed to 1", inp.name, what, d.dim_param)
                d.Clear()
                d.dim_value = 1
                continue
            shown = [x.dim_value if x.HasField("dim_value") else (x.dim_param or "?") for x in dims]
            raise ModelFormatError(
                f"input {inp.name} of {what} has a dynamic dimension {k} (shape {shown}); export it with a "
                "fixed shape"
            )
    # Graph outputs and value_info keep stale symbolic batches; shape inference fills them again.
    del model.graph.value_info[:]
    for out in model.graph.output:
        if out.type.tensor_type.HasField("shape"):
            d0 = out.type.tensor_type.shape.dim
            if len(d0) and not d0[0].HasField("dim_value"):
                d0[0].Clear()
                d0[0].dim_value = 1


def _np_dtype_name(elem_type: int) -> str:
    import onnx

    try:
        return str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)))
    except Exception:
        return f"type{elem_type}"


def prepare(source: Any, what: str | None = None) -> Prepared:
    """Read, check, fix the batch, infer shapes and fold constants (steps 1-3 of the module docstring)."""
    onnx = _import_onnx()
    from onnx import numpy_helper

    model, data, what = read_onnx(source, what)
    _fix_batch(model, what)
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(f"{what}: ONNX shape inference failed: {detail}") from None
    consts: dict[str, np.ndarray] = {}
    for init in model.graph.initializer:
        consts[init.name] = numpy_helper.to_array(init)
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        tt = vi.type.tensor_type
        dtypes[vi.name] = _np_dtype_name(tt.elem_type)
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            shapes[vi.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
    inputs = [i.name for i in model.graph.input if i.name not in consts]
    prep = Prepared(
        what=what,
        name=re.sub(r"[^0-9A-Za-z_]", "_", model.graph.name or "model") or "model",
        opset=opset_of(model),
        sha256=hashlib.sha256(data).hexdigest(),
        nodes=[],
        consts=consts,
        shapes=shapes,
        dtypes=dtypes,
        inputs=inputs,
        outputs=[o.name for o in model.graph.output],
        model=model,
    )
    for node in model.graph.node:
        _fold_or_keep(prep, node)
    if len(prep.nodes) != len(model.graph.node):
        _rebuild(prep)
    for k, v in prep.consts.items():
        prep.shapes.setdefault(k, tuple(v.shape))
    return prep


def _rebuild(prep: Prepared) -> None:
    """Replace ``prep.model`` by the folded graph (constants as initializers) and infer its shapes again:
    shapes that depended on computed constants (a TorchScript ``Pad``'s amounts) are known only now."""
    import onnx
    from onnx import numpy_helper

    model = prep.model
    used = {i for n in prep.nodes for i in n.input if i in prep.consts}
    outputs = []
    for o in model.graph.output:
        r = prep.resolve(o.name)
        if r != o.name:  # an output that is an alias (Identity) of another tensor: keep the name
            prep.nodes.append(onnx.helper.make_node("Identity", [r], [o.name], name=f"{o.name}_identity"))
            prep.aliases.pop(o.name, None)
        outputs.append(o)
    graph = onnx.helper.make_graph(
        prep.nodes,
        model.graph.name or "model",
        [i for i in model.graph.input if i.name not in prep.consts],
        outputs,
        initializer=[numpy_helper.from_array(np.asarray(prep.consts[n]), n) for n in sorted(used)],
    )
    new = onnx.helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    try:
        new = onnx.shape_inference.infer_shapes(new, strict_mode=False, data_prop=True)
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(
            f"{prep.what}: ONNX shape inference failed after folding constants: {detail}"
        ) from None
    for vi in list(new.graph.value_info) + list(new.graph.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            prep.shapes[vi.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
            prep.dtypes[vi.name] = _np_dtype_name(tt.elem_type)
    prep.nodes = list(new.graph.node)
    prep.model = new


def _fold_or_keep(prep: Prepared, node: Any) -> None:
    ins = [prep.resolve(i) for i in node.input]
    if node.op_type in _ALIAS_OPS and ins and ins[0]:
        for extra in node.output[1:]:  # Dropout's mask: never used by inference graphs
            prep.aliases[extra] = ins[0]
        prep.aliases[node.output[0]] = ins[0]
        return
    if node.op_type == "Constant":
        prep.consts[node.output[0]] = _evaluate(prep, node, [])[0]
        return
    if node.op_type == "Shape" and ins and ins[0] in prep.shapes and ins[0] not in prep.consts:
        shape = np.asarray(prep.shapes[ins[0]], dtype=np.int64)
        start = _attr(node, "start", 0)
        end = _attr(node, "end", None)
        prep.consts[node.output[0]] = shape[start:end]
        return
    if node.op_type not in _NO_FOLD and all(i == "" or i in prep.consts for i in ins):
        outs = _evaluate(prep, node, ins)
        for name, value in zip(node.output, outs, strict=False):
            prep.consts[name] = value
        return
    node.input[:] = ins
    prep.nodes.append(node)


def _evaluate(prep: Prepared, node: Any, ins: list[str]) -> list[np.ndarray]:
    """Evaluate one node on constant inputs with onnx's reference evaluator."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    try:
        probe = onnx.NodeProto()
        probe.CopyFrom(node)
        probe.input[:] = ins
        ev = ReferenceEvaluator(probe, opsets={"": prep.opset})
        feeds = {i: prep.consts[i] for i in ins if i}
        return [np.asarray(v) for v in ev.run(None, feeds)]
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise UnsupportedOpError(
            f"node {node_label(node)} (op {node.op_type}, opset {prep.opset}) on constant inputs cannot be "
            f"evaluated at import: {detail}"
        ) from None


def _attr(node: Any, name: str, default: Any) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            v = onnx.helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


def check_supported(prep: Prepared) -> None:
    """Refuse the first node whose op the lowering does not translate (one sentence, exit 3)."""
    for node in prep.nodes:
        if node.op_type in ("QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "QLinearAdd"):
            raise UnsupportedOpError(
                f"node {node_label(node)} (op {node.op_type}, opset {prep.opset}) is in onnxruntime's QOperator "
                "format, which edgesdk does not read: quantize with quant_format=QuantFormat.QDQ instead"
            )
        if node.op_type not in SUPPORTED_OPS:
            raise UnsupportedOpError(
                f"node {node_label(node)} (op {node.op_type}, opset {prep.opset}) is not supported by edgesdk's "
                "ONNX import"
            )


# ------------------------------------------------------------------------------------------------------------
# Lowering to NHWC layers
# ------------------------------------------------------------------------------------------------------------
@dataclass
class Quant:
    """Affine quantization of a QDQ tensor, in int8 terms (uint8 values shifted by -128)."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None


@dataclass
class Value:
    """A lowered activation: its shape as stored (NHWC for images) and how the ONNX tensor maps onto it.

    ``order``: the stored tensor is ``onnx_tensor.transpose(order)``. ``flat_perm``: for a 2-D value made by
    flattening an NCHW tensor, stored element k is ONNX element ``flat_perm[k]`` (HWC vs CHW order).
    """

    name: str
    shape: tuple[int, ...]
    order: tuple[int, ...]
    flat_perm: np.ndarray | None = None


@dataclass
class Layer:
    """One NHWC layer. ``kind``: conv, dwconv, dense, maxpool, avgpool, mean, add, pad, reshape, softmax,
    sigmoid, concat, relu, relu6. ``params`` hold weights in the IR's layouts (conv OHWI,
    depthwise 1HW(C*M), dense (out, in)) plus the options."""

    kind: str
    name: str
    inputs: list[str]
    output: str
    params: dict[str, Any] = field(default_factory=dict)
    activation: str = "NONE"


@dataclass
class Lowered:
    """The lowered model: layers in order, values by name, and the layout contract of input and output."""

    prep: Prepared
    layers: list[Layer]
    values: dict[str, Value]
    inputs: list[str]
    outputs: list[str]
    #: Per graph input: the axis order taking the ONNX input (the user's layout) to the stored one.
    input_orders: dict[str, tuple[int, ...]]
    input_shapes: dict[str, tuple[int, ...]]  # in the ONNX layout
    quant: dict[str, Quant] = field(default_factory=dict)  # QDQ models: stored tensor name -> quantization
    #: Per graph output: the axis order taking the ONNX output to the stored one.
    output_orders: list[tuple[int, ...]] = field(default_factory=list)


def _tf_same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) for one spatial axis; the extra pixel goes after."""
    out = -(-size // s)
    eff = (k - 1) * d + 1
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _inverse(p: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(p)
    for i, j in enumerate(p):
        inv[j] = i
    return tuple(inv)


class _Lowerer:
    """Walks the folded nodes in order and builds layers. QDQ pairs are resolved into tensor quantization."""

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        self.values: dict[str, Value] = {}
        self.layers: list[Layer] = []
        self.names: set[str] = set()
        self.qdq = prep.is_qdq
        self.consumers: dict[str, int] = {}
        for n in prep.nodes:
            for i in n.input:
                if i:
                    self.consumers[i] = self.consumers.get(i, 0) + 1
        for o in prep.outputs:
            r = prep.resolve(o)
            self.consumers[r] = self.consumers.get(r, 0) + 1
        self.weights: dict[str, tuple[np.ndarray, Quant | None]] = {}  # DQ of constants
        self.producer: dict[str, Layer] = {}
        self.input_orders: dict[str, tuple[int, ...]] = {}
        self.input_shapes: dict[str, tuple[int, ...]] = {}
        self.quant: dict[str, Quant] = {}  # QDQ: stored tensor name -> its quantization
        self.output_orders: list[tuple[int, ...]] = []

    # --- helpers ------------------------------------------------------------------------------------------
    def fail(self, node: Any, why: str) -> UnsupportedOpError:
        return UnsupportedOpError(
            f"node {node_label(node)} (op {node.op_type}, opset {self.prep.opset}): {why}"
        )

    def layer_name(self, node: Any) -> str:
        raw = node.name or f"{node.op_type}_{node.output[0]}"
        name = re.sub(r"[^0-9A-Za-z_]", "_", raw).strip("_") or node.op_type.lower()
        if name[0].isdigit():
            name = f"l_{name}"
        out, k = name, 0
        while out in self.names:
            k += 1
            out = f"{name}_{k}"
        self.names.add(out)
        return out

    def shape(self, name: str) -> tuple[int, ...]:
        s = self.prep.shapes.get(name)
        if s is None:
            raise ModelFormatError(
                f"{self.prep.what}: tensor {name} has no static shape after shape inference"
            )
        return s

    def value(self, node: Any, name: str) -> Value:
        if name in self.values:
            return self.values[name]
        if name in self.prep.consts or name in self.weights:
            raise self.fail(node, f"input {name} is a constant where edgesdk expects an activation")
        raise self.fail(node, f"input {name} is not produced by a supported node")

    def const(self, node: Any, name: str, what: str) -> np.ndarray:
        """A float constant: a folded one, or a dequantized QDQ weight (float path never has the latter)."""
        if name in self.prep.consts:
            return np.asarray(self.prep.consts[name])
        if name in self.weights:
            q, quant = self.weights[name]
            if quant is None:
                return q
            return _dequantize(q, quant)
        raise self.fail(node, f"the {what} ({name}) must be a constant")

    def is_const(self, name: str) -> bool:
        return name in self.prep.consts or name in self.weights

    def add(self, node: Any, layer: Layer, out: Value) -> Layer:
        self.layers.append(layer)
        self.values[out.name] = out
        self.producer[out.name] = layer
        return layer

    def single_use_value(self, v: Value) -> bool:
        """True if the layer output ``v`` feeds exactly one node (through any aliases) and is no graph output."""
        return self.single_use(v.name)

    def single_use(self, name: str) -> bool:
        return self.consumers.get(name, 0) == 1 and name not in [
            self.prep.resolve(o) for o in self.prep.outputs
        ]

    # --- driver -------------------------------------------------------------------------------------------
    def run(self) -> Lowered:
        prep = self.prep
        for name in prep.inputs:
            shape = self.shape(name)
            order = tuple(range(len(shape)))
            if len(shape) == 4:
                users = [n for n in prep.nodes if name in n.input]
                nhwc = bool(users) and all(self._to_nchw(n) for n in users)
                qusers = [n for n in prep.nodes if n.op_type == "QuantizeLinear" and name in n.input]
                if qusers and not nhwc:  # QDQ: look through the input's Q -> DQ pair
                    nhwc = self._nhwc_through_qdq(qusers[0])
                order = IDENTITY4 if nhwc else NCHW_TO_NHWC
            self.input_orders[name] = order
            self.input_shapes[name] = shape
            self.values[name] = Value(name, tuple(shape[i] for i in order), order)
        for node in prep.nodes:
            handler = getattr(self, f"_op_{node.op_type}", None)
            if handler is None:
                raise self.fail(node, "not supported by edgesdk's ONNX import")
            try:
                handler(node)
            except EdgeSDKError:
                raise
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                raise self.fail(node, f"cannot be translated ({type(exc).__name__}: {exc})") from None
        outputs = []
        for o in prep.outputs:
            r = prep.resolve(o)
            if r not in self.values:
                raise ModelFormatError(f"{prep.what}: graph output {o} is a constant or never computed")
            v = self.values[r]
            if v.flat_perm is not None:
                raise UnsupportedOpError(
                    f"graph output {o} of {prep.what} flattens an NCHW tensor; edgesdk folds that reordering "
                    "only into a following Gemm/MatMul"
                )
            outputs.append(v.name)
            self.output_orders.append(v.order)
        return Lowered(
            prep,
            self.layers,
            self.values,
            list(prep.inputs),
            outputs,
            self.input_orders,
            self.input_shapes,
            self.quant,
            self.output_orders,
        )

    def _to_nchw(self, node: Any) -> bool:
        """True for a node that turns NHWC into NCHW: a Transpose (0, 3, 1, 2), or a Reshape doing the same
        because the channel count is 1."""
        if node.op_type == "Transpose":
            return tuple(_attr(node, "perm", ())) == (0, 3, 1, 2)
        if node.op_type == "Reshape":
            old, new = self.prep.shapes.get(node.input[0]), self.prep.shapes.get(node.output[0])
            return old is not None and new is not None and _reshape_as_transpose(old, new) == (0, 3, 1, 2)
        return False

    def _nhwc_through_qdq(self, qnode: Any) -> bool:
        q_out = qnode.output[0]
        for n in self.prep.nodes:
            if n.op_type == "DequantizeLinear" and n.input[0] == q_out:
                users = [m for m in self.prep.nodes if n.output[0] in m.input]
                return bool(users) and all(self._to_nchw(m) for m in users)
        return False

    # --- QDQ ----------------------------------------------------------------------------------------------
    def _quant_args(self, node: Any) -> Quant:
        scale = np.asarray(self.const(node, node.input[1], "scale"), dtype=np.float64)
        zp_name = node.input[2] if len(node.input) > 2 else ""
        zp = np.asarray(self.prep.consts[zp_name]) if zp_name else np.zeros(scale.shape, np.int8)
        if zp.dtype == np.uint8:
            zp16 = zp.astype(np.int64) - 128
        elif zp.dtype in (np.int8, np.int32):
            zp16 = zp.astype(np.int64)
        else:
            raise self.fail(node, f"zero point of type {zp.dtype} is not supported (int8, uint8 or int32)")
        axis = _attr(node, "axis", 1) if scale.size > 1 else None
        if _attr(node, "block_size", 0):
            raise self.fail(node, "blocked quantization is not supported")
        return Quant(np.atleast_1d(scale), np.atleast_1d(zp16), axis)

    def _op_QuantizeLinear(self, node: Any) -> None:
        if self.is_const(
            node.input[0]
        ):  # a constant quantized in the graph (a Pad value): keep it as a weight
            q = self._quant_args(node)
            real = self.const(node, node.input[0], "input")
            zp = q.zero_point.reshape(-1)[0] if q.zero_point.size == 1 else q.zero_point
            sc = q.scale.reshape(-1)[0] if q.scale.size == 1 else q.scale
            data = np.clip(np.round(real / sc) + zp, -128, 127).astype(np.int8)
            self.weights[node.output[0]] = (data, q)
            return
        x = self.value(node, node.input[0])
        q = self._quant_args(node)
        if q.scale.size != 1:
            raise self.fail(node, "per-channel quantization of an activation is not supported")
        zp_name = node.input[2] if len(node.input) > 2 else ""
        dt = str(self.prep.consts[zp_name].dtype) if zp_name else "uint8"
        if dt not in ("int8", "uint8"):
            raise self.fail(node, f"activations of type {dt} are not supported (int8 or uint8)")
        old = self.quant.get(x.name)
        if old is not None and not (
            np.allclose(old.scale, q.scale, rtol=1e-6) and np.array_equal(old.zero_point, q.zero_point)
        ):
            raise self.fail(node, f"tensor {x.name} is quantized twice with different parameters")
        self.quant[x.name] = q
        self.values[node.output[0]] = x  # the int8 tensor is the same stored tensor

    def _op_DequantizeLinear(self, node: Any) -> None:
        src = node.input[0]
        if src in self.weights:  # the DequantizeLinear of a constant quantized in the graph
            self.weights[node.output[0]] = self.weights[src]
            return
        if src in self.prep.consts:  # a quantized weight or bias
            q = self._quant_args(node)
            data = np.asarray(self.prep.consts[src])
            if data.dtype == np.uint8:
                data = (data.astype(np.int16) - 128).astype(np.int8)
            self.weights[node.output[0]] = (data, q)
            return
        x = self.value(node, src)
        q = self._quant_args(node)
        old = self.quant.get(x.name)
        if old is None or not np.allclose(old.scale, q.scale, rtol=1e-6):
            raise self.fail(node, f"dequantizes {src} with parameters other than those it was quantized with")
        self.values[node.output[0]] = x

    # --- weights --------------------------------------------------------------------------------------------
    def weight(self, node: Any, name: str, what: str) -> tuple[np.ndarray, Quant | None]:
        """A weight as stored: float (float path) or int8 with its quantization (QDQ path)."""
        if name in self.weights:
            return self.weights[name]
        if name in self.prep.consts:
            if self.qdq:
                raise self.fail(
                    node, f"the {what} ({name}) is float in a QDQ model; quantize the weights too"
                )
            return np.asarray(self.prep.consts[name], dtype=np.float32), None
        raise self.fail(node, f"the {what} ({name}) must be a constant")

    # --- convolution ----------------------------------------------------------------------------------------
    def _spatial(self, node: Any, x: Value) -> None:
        if len(x.shape) != 4 or x.order != NCHW_TO_NHWC:
            raise self.fail(node, f"input {x.name} is not an NCHW image tensor (edgesdk keeps those NHWC)")

    def _pads(
        self, node: Any, hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int], d: tuple[int, int]
    ) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) from auto_pad/pads."""
        auto = _attr(node, "auto_pad", "NOTSET")
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            (t, b), (left, r) = (_tf_same_pads(hw[i], k[i], s[i], d[i]) for i in range(2))
            if auto == "SAME_LOWER":
                t, b, left, r = b, t, r, left
            return t, b, left, r
        if auto == "VALID":
            return 0, 0, 0, 0
        pads = list(_attr(node, "pads", [0, 0, 0, 0]))
        if len(pads) != 4:
            raise self.fail(node, f"pads {pads} are not those of a 2-D window")
        if min(pads) < 0:
            raise self.fail(node, f"negative pads {pads} are not supported")
        return pads[0], pads[2], pads[1], pads[3]

    def _padding(
        self,
        node: Any,
        x: Value,
        k: tuple[int, int],
        s: tuple[int, int],
        d: tuple[int, int],
        pad_ok: bool,
        count_pad: bool = False,
    ) -> tuple[str, Value]:
        """'SAME'/'VALID' for the window, inserting a zero Pad layer for uneven explicit pads if ``pad_ok``."""
        t, b, left, r = self._pads(node, (x.shape[1], x.shape[2]), k, s, d)
        prod = self.producer.get(x.name)
        if pad_ok and prod is not None and prod.kind == "pad" and self.single_use_value(x):
            # A zero Pad node right before a convolution (the TorchScript exporter's ZeroPad2d): one padding.
            (_, (pt, pb), (pl, pr), _) = prod.params["paddings"]
            t, b, left, r = t + pt, b + pb, left + pl, r + pr
            self.layers.remove(prod)
            x = self.values[prod.inputs[0]]
        hw = (x.shape[1], x.shape[2])
        if (t, b, left, r) == (0, 0, 0, 0):
            return "VALID", x
        same = _tf_same_pads(hw[0], k[0], s[0], d[0]) + _tf_same_pads(hw[1], k[1], s[1], d[1])
        if (t, b, left, r) == same and not (pad_ok and count_pad):
            return "SAME", x
        if not pad_ok:
            raise self.fail(
                node, f"pads (top {t}, bottom {b}, left {left}, right {r}) differ from SAME padding {same}"
            )
        return "VALID", self._pad_layer(node, x, ((0, 0), (t, b), (left, r), (0, 0)))

    def _pad_layer(self, node: Any, x: Value, pads: tuple[tuple[int, int], ...]) -> Value:
        shape = tuple(d + a + b for d, (a, b) in zip(x.shape, pads, strict=True))
        out = Value(f"{node.output[0]}__pad", shape, x.order)
        if x.name in self.quant:  # a zero pad keeps the quantization (it pads with the zero point)
            self.quant[out.name] = self.quant[x.name]
        self.add(
            node, Layer("pad", self.layer_name(node) + "_pad", [x.name], out.name, {"paddings": pads}), out
        )
        return out

    def _op_Conv(self, node: Any) -> None:
        x = self.value(node, node.input[0])
        self._spatial(node, x)
        w, wq = self.weight(node, node.input[1], "weight")
        if w.ndim != 4:
            raise self.fail(node, f"a {w.ndim - 2}-D convolution is not supported (2-D only)")
        bias = None
        bq = None
        if len(node.input) > 2 and node.input[2]:
            bias, bq = self.weight(node, node.input[2], "bias")
        group = int(_attr(node, "group", 1))
        cout, cin_g, kh, kw = w.shape
        cin = x.shape[3]
        s = tuple(_attr(node, "strides", [1, 1]))
        d = tuple(_attr(node, "dilations", [1, 1]))
        padding, x = self._padding(node, x, (kh, kw), s, d, pad_ok=True)
        out_shape = self.shape(node.output[0])
        name = self.layer_name(node)
        if group == 1:
            kind = "conv"
            wk = w.transpose(0, 2, 3, 1)  # OIHW -> OHWI
            waxis = 0
        elif group == cin and cin_g == 1 and cout % cin == 0:
            kind = "dwconv"
            wk = w.reshape(cout, kh, kw).transpose(1, 2, 0)[None]  # (C*M,1,KH,KW) -> (1,KH,KW,C*M)
            waxis = 3
        else:
            raise self.fail(
                node, f"grouped convolution with {group} groups of {cin_g} channels is not supported"
            )
        params = {
            "w": wk,
            "w_quant": _axis(wq, waxis),
            "b": bias,
            "b_quant": bq,
            "stride": s,
            "dilation": d,
            "padding": padding,
            "depth_multiplier": cout // cin if kind == "dwconv" else 1,
        }
        out = Value(node.output[0], (out_shape[0], out_shape[2], out_shape[3], out_shape[1]), NCHW_TO_NHWC)
        self.add(node, Layer(kind, name, [x.name], out.name, params), out)

    def _fc_weight_quant(self, node: Any, wq: Quant | None, out_axis: int) -> Quant | None:
        """A (out, in) weight's quantization: per-tensor, or per output channel (``out_axis`` as stored)."""
        if wq is None or wq.scale.size == 1:
            return _axis(wq, None)
        if wq.axis is None or int(wq.axis) % 2 != out_axis:
            raise self.fail(node, f"weights quantized per channel along axis {wq.axis} (not the output axis)")
        return _axis(wq, 0)

    def _op_Gemm(self, node: Any) -> None:
        x = self.value(node, node.input[0])
        if _attr(node, "transA", 0):
            raise self.fail(node, "transA=1 is not supported")
        w, wq = self.weight(node, node.input[1], "weight")
        alpha, beta = float(_attr(node, "alpha", 1.0)), float(_attr(node, "beta", 1.0))
        trans_b = int(_attr(node, "transB", 0))
        wk = w if trans_b else w.T  # (out, in)
        if wq is not None and (alpha != 1.0 or beta != 1.0):
            raise self.fail(node, "alpha or beta other than 1 in a QDQ model is not supported")
        if wq is None:
            wk = wk * np.float32(alpha)
        bias = bq = None
        if len(node.input) > 2 and node.input[2]:
            bias, bq = self.weight(node, node.input[2], "bias")
            if bq is None:
                b = np.asarray(bias, np.float32).reshape(-1) * np.float32(beta)
                bias = np.broadcast_to(b, (wk.shape[0],)).copy()
        self._dense(node, x, wk, self._fc_weight_quant(node, wq, 0 if trans_b else 1), bias, bq)

    def _op_MatMul(self, node: Any) -> None:
        x = self.value(node, node.input[0])
        if not self.is_const(node.input[1]):
            raise self.fail(
                node, "a product of two activations is not supported (the second input must be constant)"
            )
        w, wq = self.weight(node, node.input[1], "weight")
        if w.ndim != 2:
            raise self.fail(node, f"a weight of rank {w.ndim} is not supported (2-D only)")
        self._dense(node, x, w.T, self._fc_weight_quant(node, wq, 1), None, None)

    def _dense(
        self, node: Any, x: Value, w: np.ndarray, wq: Quant | None, bias: Any, bq: Quant | None
    ) -> None:
        if len(x.shape) != 2:
            raise self.fail(node, f"input of rank {len(x.shape)} is not supported (2-D only)")
        if x.flat_perm is not None:  # fold the NCHW flatten: stored element k is ONNX element flat_perm[k]
            w = w[:, x.flat_perm]
        out_shape = self.shape(node.output[0])
        params = {"w": w, "w_quant": wq, "b": bias, "b_quant": bq}
        out = Value(node.output[0], tuple(out_shape), (0, 1))
        self.add(node, Layer("dense", self.layer_name(node), [x.name], out.name, params), out)

    # --- element-wise ---------------------------------------------------------------------------------------
    def _channel_vector(self, node: Any, x: Value, c: np.ndarray) -> np.ndarray | None:
        """A constant broadcast per channel of ``x`` (ONNX channel axis 1), as a (C,) vector; else None."""
        c = np.asarray(c, dtype=np.float32)
        ch = x.shape[-1]
        onnx_rank = len(x.shape)
        if c.size == 1:
            return np.full((ch,), float(c.reshape(-1)[0]), np.float32)
        if c.size != ch:
            return None
        if onnx_rank == 4 and x.order == NCHW_TO_NHWC:
            ok = c.ndim <= 4 and c.shape[-3:] in ((ch, 1, 1),) or (c.ndim == 1 and ch == 1)
            return c.reshape(-1) if ok else None
        if onnx_rank == 2 and x.flat_perm is None:
            return c.reshape(-1) if c.shape[-1] == ch else None
        return None

    def _affine(self, node: Any, x: Value, scale: np.ndarray, shift: np.ndarray) -> None:
        """y = x * scale + shift per channel: folded into the producer if it is ours alone, else a 1x1 depthwise."""
        prod = self.producer.get(x.name)
        if (
            prod is not None
            and prod.kind in ("conv", "dwconv", "dense")
            and prod.activation == "NONE"
            and self.single_use(x.name)
            and prod.params["w_quant"] is None
        ):
            w = prod.params["w"].astype(np.float32)
            if prod.kind == "dwconv":
                w = w * scale[None, None, None, :]
            else:
                w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
            b = prod.params["b"]
            b = np.zeros(scale.shape, np.float32) if b is None else np.asarray(b, np.float32)
            prod.params["w"] = w
            prod.params["b"] = b * scale + shift
            self.values[node.output[0]] = x
            self._retarget(x.name, node.output[0])
            return
        if len(x.shape) != 4:
            raise self.fail(
                node, "a per-channel scale or offset on a 2-D tensor not after a Gemm/MatMul is not supported"
            )
        ch = x.shape[3]
        w, wq, b, bq = scale.reshape(1, 1, 1, ch).astype(np.float32), None, shift.astype(np.float32), None
        if self.qdq:  # a QDQ BatchNorm of its own: a 1x1 depthwise with one int8 weight (+-127) per channel
            if x.name not in self.quant:
                raise self.fail(node, f"its input {x.name} is not quantized")
            mag = np.abs(scale.astype(np.float64))
            ws = np.where(mag > 0, mag / 127.0, 1.0)
            w = (np.sign(scale) * (mag > 0) * 127).astype(np.int8).reshape(1, 1, 1, ch)
            wq = Quant(ws, np.zeros(ch, np.int64), 3)
            bs = ws * float(self.quant[x.name].scale[0])
            b = np.round(shift.astype(np.float64) / bs).astype(np.int32)
            bq = Quant(bs, np.zeros(ch, np.int64), 0)
        params = {
            "w": w,
            "w_quant": wq,
            "b": b,
            "b_quant": bq,
            "stride": (1, 1),
            "dilation": (1, 1),
            "padding": "VALID",
            "depth_multiplier": 1,
        }
        out = Value(node.output[0], x.shape, x.order)
        self.add(node, Layer("dwconv", self.layer_name(node), [x.name], out.name, params), out)

    def _retarget(self, old: str, new: str) -> None:
        """The value ``old`` is now also known as ``new`` (an op folded into its producer)."""
        self.consumers[old] = self.consumers.get(new, 0)
        self.values[new] = self.values[old]

    def _op_BatchNormalization(self, node: Any) -> None:
        x = self.value(node, node.input[0])
        if int(_attr(node, "training_mode", 0)):
            raise self.fail(node, "training_mode=1 is not supported (export the model in eval mode)")
        gamma, beta, mean, var = (
            np.asarray(self.const(node, n, "statistic"), np.float64) for n in node.input[1:5]
        )
        eps = float(_attr(node, "epsilon", 1e-5))
        scale = gamma / np.sqrt(var + eps)
        shift = beta - mean * scale
        self._affine(node, x, scale.astype(np.float32), shift.astype(np.float32))

    def _binary_const(self, node: Any) -> tuple[Value, np.ndarray] | None:
        a, b = node.input[0], node.input[1]
        if self.is_const(b) and not self.is_const(a):
            return self.value(node, a), self.const(node, b, "operand")
        if self.is_const(a) and not self.is_const(b) and node.op_type in ("Add", "Mul"):
            return self.value(node, b), self.const(node, a, "operand")
        return None

    def _op_Mul(self, node: Any) -> None:
        x, v = self._channel_factor(node, divide=False)
        self._affine(node, x, v, np.zeros_like(v))

    def _op_Div(self, node: Any) -> None:
        x, v = self._channel_factor(node, divide=True)
        self._affine(node, x, (1.0 / v).astype(np.float32), np.zeros_like(v))

    def _channel_factor(self, node: Any, divide: bool) -> tuple[Value, np.ndarray]:
        """The activation input of a Mul (Div: ``divide``) by a constant and the constant as a per-channel vector
        (a divisor with no zero in it); anything else is refused in one sentence."""
        result, verb, hint = (
            ("a quotient", "dividing", "") if divide else ("a product", "multiplying", _SCALES)
        )
        xc = self._binary_const(node)
        if xc is None:
            raise self.fail(node, f"{result} of two activations is not supported")
        x, c = xc
        v = self._channel_vector(node, x, c)
        if v is None or (divide and np.any(v == 0)):
            raise self.fail(node, f"{verb} by a constant of shape {list(np.shape(c))} is not supported{hint}")
        return x, v

    def _op_Add(self, node: Any, sign: float = 1.0) -> None:
        xc = self._binary_const(node)
        if xc is not None:
            x, c = xc
            v = self._channel_vector(node, x, c)
            if v is None:
                raise self.fail(
                    node,
                    f"adding a constant of shape {list(np.shape(c))} is not supported (per-channel or scalar only)",
                )
            prod = self.producer.get(x.name)
            if (
                self.qdq
                and prod is not None
                and prod.kind == "dense"
                and prod.params["b"] is None
                and self.single_use(x.name)
                and prod.inputs[0] in self.quant
            ):
                # MatMul + Add bias, each quantized (onnxruntime without quant_pre_process): one FULLY_CONNECTED
                # with the bias at input x weight scale, quantized as the Add's output.
                wq = prod.params["w_quant"]
                bs = np.broadcast_to(wq.scale, v.shape) * float(self.quant[prod.inputs[0]].scale[0])
                prod.params["b"] = np.round(sign * v.astype(np.float64) / bs).astype(np.int32)
                prod.params["b_quant"] = Quant(bs.copy(), np.zeros(v.shape, np.int64), 0)
                self.quant.pop(x.name, None)
                self.values[node.output[0]] = x
                self._retarget(x.name, node.output[0])
                return
            self._affine(node, x, np.ones_like(v), sign * v)
            return
        if node.op_type == "Sub":
            raise self.fail(node, "a difference of two activations is not supported")
        a, b = self.value(node, node.input[0]), self.value(node, node.input[1])
        if a.shape != b.shape or a.order != b.order or (a.flat_perm is None) != (b.flat_perm is None):
            raise self.fail(
                node,
                f"adding tensors of shapes {list(a.shape)} and {list(b.shape)} (broadcasting or mixed layouts) is not supported",
            )
        out = Value(node.output[0], a.shape, a.order, a.flat_perm)
        self.add(node, Layer("add", self.layer_name(node), [a.name, b.name], out.name), out)

    def _op_Sub(self, node: Any) -> None:
        self._op_Add(node, sign=-1.0)

    def _activation(self, node: Any, kind: str) -> None:
        x = self.value(node, node.input[0])
        prod = self.producer.get(x.name)
        if (
            prod is not None
            and prod.kind in ("conv", "dwconv", "dense", "add")
            and prod.activation == "NONE"
            and self.single_use(x.name)
            and x.name not in self.quant
        ):
            prod.activation = kind.upper()
            self.values[node.output[0]] = x
            self._retarget(x.name, node.output[0])
            return
        if self.qdq:
            raise self.fail(
                node,
                "a standalone activation (not after Conv, Gemm, MatMul or Add) is not supported in QDQ models",
            )
        out = Value(node.output[0], x.shape, x.order, x.flat_perm)
        self.add(node, Layer(kind, self.layer_name(node), [x.name], out.name), out)

    def _op_Relu(self, node: Any) -> None:
        self._activation(node, "relu")

    def _op_Clip(self, node: Any) -> None:
        lo = hi = None
        if self.prep.opset < 11:
            lo, hi = _attr(node, "min", None), _attr(node, "max", None)
        else:
            if len(node.input) > 1 and node.input[1]:
                lo = float(np.asarray(self.const(node, node.input[1], "min")).reshape(-1)[0])
            if len(node.input) > 2 and node.input[2]:
                hi = float(np.asarray(self.const(node, node.input[2], "max")).reshape(-1)[0])
        kind = {(0.0, 6.0): "relu6", (0.0, None): "relu"}.get((lo, hi))
        if kind is None:
            raise self.fail(node, f"clipping to [{lo}, {hi}] is not supported (ReLU and ReLU6 only)")
        self._activation(node, kind)

    def _op_Sigmoid(self, node: Any) -> None:
        x = self.value(node, node.input[0])
        out = Value(node.output[0], x.shape, x.order, x.flat_perm)
        self.add(node, Layer("sigmoid", self.layer_name(node), [x.name], out.name), out)

    def _op_Softmax(self, node: Any) -> None:
        x = self.value(node, node.input[0])
        rank = len(x.shape)
        axis = int(_attr(node, "axis", -1 if self.prep.opset >= 13 else 1))
        axis = axis + rank if axis < 0 else axis
        if self.prep.opset < 13 and axis != rank - 1:
            raise self.fail(node, f"softmax over axes {axis}.. of a rank-{rank} tensor is not supported")
        if x.order.index(axis) != rank - 1 or x.flat_perm is not None:
            raise self.fail(node, "softmax over an axis other than the (stored) last one is not supported")
        out = Value(node.output[0], x.shape, x.order)
        self.add(node, Layer("softmax", self.layer_name(node), [x.name], out.name), out)

    # --- pooling ----------------------------------------------------------------------------------------------
    def _pool(self, node: Any, kind: str) -> None:
        x = self.value(node, node.input[0])
        self._spatial(node, x)
        k = tuple(_attr(node, "kernel_shape", []))
        s = tuple(_attr(node, "strides", [1, 1]))
        d = tuple(_attr(node, "dilations", [1, 1]))
        if len(k) != 2:
            raise self.fail(node, f"a {len(k)}-D pooling window is not supported (2-D only)")
        if d != (1, 1):
            raise self.fail(node, f"pooling with dilations {list(d)} is not supported")
        include_pad = kind == "avgpool" and int(_attr(node, "count_include_pad", 0))
        padding, x = self._padding(node, x, k, s, d, pad_ok=bool(include_pad), count_pad=bool(include_pad))
        out_shape = self.shape(node.output[0])
        out = Value(node.output[0], (out_shape[0], out_shape[2], out_shape[3], out_shape[1]), NCHW_TO_NHWC)
        if int(_attr(node, "ceil_mode", 0)):
            floor_h = (x.shape[1] - k[0]) // s[0] + 1 if padding == "VALID" else -(-x.shape[1] // s[0])
            floor_w = (x.shape[2] - k[1]) // s[1] + 1 if padding == "VALID" else -(-x.shape[2] // s[1])
            if (floor_h, floor_w) != out.shape[1:3]:
                raise self.fail(node, "ceil_mode=1 changes the output size here; it is not supported")
        params = {"filter": k, "stride": s, "padding": padding}
        self.add(node, Layer(kind, self.layer_name(node), [x.name], out.name, params), out)

    def _op_MaxPool(self, node: Any) -> None:
        if len(node.output) > 1 and node.output[1]:
            raise self.fail(node, "the indices output is not supported")
        self._pool(node, "maxpool")

    def _op_AveragePool(self, node: Any) -> None:
        self._pool(node, "avgpool")

    def _mean(self, node: Any, x: Value, keep: bool) -> None:
        """A mean over the stored (NHWC) spatial axes; ``x.order`` says which ONNX axes those are."""
        shape = (x.shape[0], 1, 1, x.shape[3]) if keep else (x.shape[0], x.shape[3])
        out = Value(node.output[0], shape, x.order if keep else (0, 1))
        params = {"axes": (1, 2), "keep_dims": keep}
        self.add(node, Layer("mean", self.layer_name(node), [x.name], out.name, params), out)

    def _op_GlobalAveragePool(self, node: Any) -> None:
        x = self.value(node, node.input[0])
        self._spatial(node, x)
        self._mean(node, x, True)

    def _op_ReduceMean(self, node: Any) -> None:
        x = self.value(node, node.input[0])
        if self.prep.opset >= 18:
            axes = self.const(node, node.input[1], "axes") if len(node.input) > 1 and node.input[1] else None
        else:
            axes = _attr(node, "axes", None)
        if axes is None:
            raise self.fail(node, "a mean over all axes is not supported")
        rank = len(x.shape)
        axes = sorted({int(a) + rank if int(a) < 0 else int(a) for a in np.asarray(axes).reshape(-1)})
        stored = sorted(x.order.index(a) for a in axes) if rank == 4 and x.flat_perm is None else None
        if stored != [1, 2]:
            raise self.fail(
                node, f"a mean over axes {axes} is not supported (the spatial axes of an image only)"
            )
        self._mean(node, x, bool(int(_attr(node, "keepdims", 1))))

    # --- shapes -----------------------------------------------------------------------------------------------
    def _op_Pad(self, node: Any) -> None:
        x = self.value(node, node.input[0])
        mode = _attr(node, "mode", "constant")
        if mode != "constant":
            raise self.fail(node, f"mode {mode} is not supported (constant zero padding only)")
        if self.prep.opset < 11:
            pads = list(_attr(node, "pads", []))
            value = float(_attr(node, "value", 0.0))
        else:
            pads = [int(p) for p in np.asarray(self.const(node, node.input[1], "pads")).reshape(-1)]
            value = 0.0
            if len(node.input) > 2 and node.input[2]:
                value = float(np.asarray(self.const(node, node.input[2], "pad value")).reshape(-1)[0])
        rank = len(x.shape)
        if len(node.input) > 3 and node.input[3]:
            axes = [int(a) % rank for a in np.asarray(self.const(node, node.input[3], "axes")).reshape(-1)]
            full = [0] * (2 * rank)
            for i, a in enumerate(axes):
                full[a], full[a + rank] = pads[i], pads[i + len(axes)]
            pads = full
        if value != 0.0:
            raise self.fail(node, f"padding with {value} is not supported (zero only)")
        if len(pads) != 2 * rank or min(pads) < 0:
            raise self.fail(node, f"pads {pads} are not supported")
        onnx_pairs = [(pads[i], pads[i + rank]) for i in range(rank)]
        stored = tuple(onnx_pairs[a] for a in x.order)
        if rank == 4 and (stored[0] != (0, 0) or stored[3] != (0, 0)):
            raise self.fail(node, "padding the batch or channel axis is not supported")
        out = self._pad_layer(node, x, stored)
        self.values[node.output[0]] = out
        self.consumers[out.name] = self.consumers.get(node.output[0], 0)

    def _op_Transpose(self, node: Any) -> None:
        x = self.value(node, node.input[0])
        rank = len(x.shape)
        perm = tuple(int(p) for p in _attr(node, "perm", list(range(rank - 1, -1, -1))))
        if x.flat_perm is not None:
            raise self.fail(node, "transposing a flattened NCHW tensor is not supported")
        order = tuple(_inverse(perm)[i] for i in x.order)
        self.values[node.output[0]] = Value(x.name, x.shape, order)
        if self.single_use(x.name):
            self.consumers[x.name] = self.consumers.get(node.output[0], 0)

    def _reshape_to(self, node: Any, x: Value, new: tuple[int, ...]) -> None:
        """A Reshape/Flatten/Squeeze/Unsqueeze whose ONNX result has shape ``new``. Stored data never moves:
        an NCHW image flattened to 2-D keeps HWC order and records the permutation (``flat_perm``) for the
        next Gemm/MatMul; other reshapes across the layouts are refused."""
        new = tuple(int(d) for d in new)
        onnx_old = tuple(x.shape[i] for i in _inverse(x.order))
        spatial = len(x.shape) == 4 and x.order == NCHW_TO_NHWC
        perm = None
        moved = _reshape_as_transpose(onnx_old, new) if x.flat_perm is None else None
        if (
            moved is not None
        ):  # only size-1 axes move (tf2onnx writes such Transposes as Reshapes): no data moves
            self.values[node.output[0]] = Value(x.name, x.shape, tuple(_inverse(moved)[i] for i in x.order))
            if self.single_use(x.name):
                self.consumers[x.name] = self.consumers.get(node.output[0], 0)
            return
        if x.order == tuple(range(len(x.shape))) and x.flat_perm is None:
            order = tuple(range(len(new)))
        elif spatial and len(new) == 2:
            c, h, w = onnx_old[1:]
            order = (0, 1)
            if h * w > 1 and c > 1:
                perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        elif (
            spatial
            and len(new) == 4
            and new[1] == onnx_old[1]
            and new[2] * new[3] == onnx_old[2] * onnx_old[3]
            and (new[2] == onnx_old[2] or onnx_old[2] * onnx_old[3] == new[2] * new[3] == max(new[2], new[3]))
        ):
            order = NCHW_TO_NHWC
        elif len(x.shape) == 2 and x.flat_perm is None and len(new) == 4 and new[2] * new[3] == 1:
            order = NCHW_TO_NHWC
        else:
            raise self.fail(
                node,
                f"reshaping {list(onnx_old)} to {list(new)} would move data between the NCHW and NHWC layouts",
            )
        stored = tuple(new[i] for i in order)
        if stored == x.shape and perm is None and x.flat_perm is None:
            self.values[node.output[0]] = Value(x.name, x.shape, order)
            if self.single_use(x.name):
                self.consumers[x.name] = self.consumers.get(node.output[0], 0)
            return
        out = Value(node.output[0], stored, order, perm)
        self.add(node, Layer("reshape", self.layer_name(node), [x.name], out.name, {"shape": stored}), out)

    def _op_Reshape(self, node: Any) -> None:
        self._reshape_to(node, self.value(node, node.input[0]), self.shape(node.output[0]))

    def _op_Flatten(self, node: Any) -> None:
        self._reshape_to(node, self.value(node, node.input[0]), self.shape(node.output[0]))

    def _op_Squeeze(self, node: Any) -> None:
        self._reshape_to(node, self.value(node, node.input[0]), self.shape(node.output[0]))

    def _op_Unsqueeze(self, node: Any) -> None:
        self._reshape_to(node, self.value(node, node.input[0]), self.shape(node.output[0]))

    def _op_Concat(self, node: Any) -> None:
        xs = [self.value(node, n) for n in node.input if n]
        rank = len(xs[0].shape)
        axis = int(_attr(node, "axis", 1))
        axis = axis + rank if axis < 0 else axis
        if any(v.order != xs[0].order or v.flat_perm is not None for v in xs):
            raise self.fail(node, "concatenating tensors of different layouts is not supported")
        stored_axis = xs[0].order.index(axis)
        shape = list(xs[0].shape)
        shape[stored_axis] = sum(v.shape[stored_axis] for v in xs)
        out = Value(node.output[0], tuple(shape), xs[0].order)
        self.add(
            node,
            Layer("concat", self.layer_name(node), [v.name for v in xs], out.name, {"axis": stored_axis}),
            out,
        )


def _reshape_as_transpose(old: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...] | None:
    """The permutation ``p`` with ``reshape(t, new) == transpose(t, p)`` when a reshape only moves size-1 axes
    (same rank, same non-1 sizes in the same order), else None. The identity is not reported."""
    if len(old) != len(new) or old == new:
        return None
    big_old = [i for i, d in enumerate(old) if d != 1]
    big_new = [i for i, d in enumerate(new) if d != 1]
    if [old[i] for i in big_old] != [new[i] for i in big_new]:
        return None
    ones_old = iter(i for i, d in enumerate(old) if d == 1)
    src = dict(zip(big_new, big_old, strict=True))
    return tuple(src[k] if k in src else next(ones_old) for k in range(len(new)))


def _axis(q: Quant | None, axis: int | None) -> Quant | None:
    """The quantization of a weight after its layout change: per-channel along ``axis`` of the new layout."""
    if q is None:
        return None
    return Quant(q.scale, q.zero_point, axis if q.scale.size > 1 else None)


def _dequantize(q: np.ndarray, quant: Quant) -> np.ndarray:
    scale, zp = quant.scale, quant.zero_point
    if scale.size > 1 and quant.axis is not None:
        shape = [1] * q.ndim
        shape[quant.axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((q.astype(np.float64) - zp) * scale).astype(np.float32)


def lower(prep: Prepared) -> Lowered:
    """Lower a prepared model to NHWC layers (step 5 of the module docstring)."""
    check_supported(prep)
    return _Lowerer(prep).run()


def load(source: Any, what: str | None = None) -> Lowered:
    """Read, check and lower an ONNX model: everything short of building the model (no TensorFlow)."""
    return lower(prepare(source, what))


__all__ = [
    "ONNX_SUFFIXES",
    "SUPPORTED_OPS",
    "Lowered",
    "check_supported",
    "load",
    "lower",
    "prepare",
    "read_onnx",
]
