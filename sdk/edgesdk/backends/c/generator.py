"""The C backend: IR graph + arena plan -> a self-contained C99 project of the model and the kernels it uses.

Every integer parameter comes from ``edgesdk.reference.params.op_params`` - the numbers the reference
interpreter runs with - so generated C and reference agree by construction. Each layer becomes a
``static const`` parameter struct (flash) holding geometry, offsets, clamps and pointers to the layer's
``static const`` arrays, and one kernel call in ``<model>_invoke`` between ``EDGESDK_LAYER_BEGIN/END``.
Activations live in one 16-byte aligned arena at the planner's offsets.

Values reach the templates already formatted by :mod:`edgesdk.backends.c.cformat`; the templates only
arrange them. The backend reads the graph and never changes it.

Graphs with float32 edges (a float input followed by QUANTIZE, an output produced by DEQUANTIZE) are cut at
the int8 tensors: the generated ``<model>_invoke`` takes and returns int8, and the device harness does the
(de)quantization with the scale and zero point macros of ``<model>.h``.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

import edgesdk
from edgesdk.backends.c import cformat as cf
from edgesdk.boards import kernel_target_chain
from edgesdk.compiler import kernels as kernel_table
from edgesdk.compiler.weight_encoding import SCALAR_TARGET, Encoding, node_encoding
from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.util import templating
from edgesdk.util.resources import firmware_dir

log = logging.getLogger(__name__)

#: Kernel source that implements each op's default kernel, and the headers every project gets: reads of the
#: kernel table (:mod:`edgesdk.compiler.kernels`).
KERNEL_FILES: dict[str, str] = kernel_table.op_sources()
KERNEL_HEADERS: tuple[str, ...] = kernel_table.headers()
#: Sub-folder of the output directory that receives the kernels and the model/harness contract header.
KERNEL_SUBDIR = "edgesdk"
ROUNDINGS = ("double", "single")
_ARENA_ALIGN = 16


@dataclass
class CProject:
    """What ``generate_c`` wrote: enough for a build system and for reports."""

    out_dir: Path
    model_name: str  # the C identifier prefixing every symbol of the model
    files: list[Path]  # every file written, relative to out_dir, in a stable order
    sources: list[Path]  # the .c files to compile (absolute)
    include_dirs: list[Path]
    arena_bytes: int
    #: IR layer name -> bytes of const data (weights, biases, requantization arrays)
    layer_flash: dict[str, int]
    input_size: int
    output_size: int
    num_layers: int
    lower_bound: int = 0
    kernel_files: list[str] = field(default_factory=list)

    @property
    def flash_bytes(self) -> int:
        """Const data of all layers (the kernels' code is not included)."""
        return sum(self.layer_flash.values())


@dataclass
class _Array:
    name: str
    ctype: str
    length: int
    init: str  # formatted initializer
    #: A verbatim declaration written instead of the ``static const`` array (e.g. the alias of a RAM scratch
    #: the layer decodes its weights into): no flash.
    decl: str = ""

    @property
    def nbytes(self) -> int:
        if self.decl:
            return 0
        return (
            self.length
            * {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4, "uint32_t": 4, "float": 4}[self.ctype]
        )


@dataclass
class _Arg:
    """One pointer argument of a kernel call: an arena tensor (by its offset macro) or a const array."""

    kind: str  # "act" or "const"
    ref: str  # offset macro or array name
    ctype: str = "int8_t"
    const: bool = True


@dataclass
class _Layer:
    name: str
    cname: str
    comment: str
    kernel: str
    params_type: str
    params_name: str
    fields: list[tuple[str, str]]
    arrays: list[_Array]
    inputs: list[_Arg]
    output: _Arg
    input_list: bool = False  # pass the inputs as one array of pointers (CONCATENATION)
    inputs_name: str = ""
    #: Kernel sources under firmware/kernels/ this layer needs (default: KERNEL_FILES[op]).
    kernel_files: list[str] = field(default_factory=list)
    #: C code generated for this layer alone (a specialized kernel), placed before ``<model>_invoke``.
    code: str = ""


def _jinja_env() -> jinja2.Environment:
    """The one Jinja environment (:mod:`edgesdk.util.templating`); the C backend's templates are ``c/<name>``."""
    return templating.environment()


def _shape_text(shape: tuple[int, ...]) -> str:
    dims = [d for d in shape]
    if len(dims) > 1 and dims[0] == 1:
        dims = dims[1:]
    return "x".join(str(d) for d in dims) if dims else "1"


_OP_TITLES = {
    "CONV_2D": "Conv2D",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2D",
    "FULLY_CONNECTED": "FullyConnected",
    "AVERAGE_POOL_2D": "AveragePool2D",
    "MAX_POOL_2D": "MaxPool2D",
    "ADD": "Add",
    "MUL": "Mul",
    "RESHAPE": "Reshape",
    "SOFTMAX": "Softmax",
    "PAD": "Pad",
    "CONCATENATION": "Concatenation",
    "MEAN": "Mean",
    "LOGISTIC": "Logistic",
    "QUANTIZE": "Quantize",
}


def _right_align4(shape: tuple[int, ...], node: ir.Node) -> list[int]:
    if len(shape) > 4:
        raise UnsupportedOpError(
            f"layer {node.name}: op {node.op} on a rank-{len(shape)} tensor is not supported by the C backend"
        )
    return [1] * (4 - len(shape)) + [int(d) for d in shape]


def _strides4(dims: list[int]) -> list[int]:
    strides = [1, 1, 1, 1]
    for k in (2, 1, 0):
        strides[k] = strides[k + 1] * dims[k + 1]
    return strides


class _Generator:
    """One generation: names, arrays and layers of one graph."""

    def __init__(self, graph: ir.Graph, plan: Any, rounding: str) -> None:
        self.graph = graph
        self.rounding = rounding
        self.used: set[str] = set()
        self.model = cf.c_identifier(graph.name or "model", self.used)
        self.prefix = cf.macro_name(self.model)
        self.inputs, self.outputs, self.nodes = _int8_view(graph)
        self.plan = plan
        self.offset_macros: dict[str, str] = {}
        self.layer_names: set[str] = set()  # C names of layers, unique among layers
        self.layers: list[_Layer] = []
        self.target: str | None = None  # kernel folder overriding the portable kernels (weight layouts)

    # -- names -------------------------------------------------------------------------------------------
    def ident(self, *parts: str) -> str:
        return cf.c_identifier("_".join(parts), self.used)

    def offset_macro(self, tensor: str) -> str:
        return self.offset_macros[tensor]

    def _name_offsets(self) -> None:
        for k, name in enumerate(self.inputs):
            self.offset_macros[name] = cf.macro_name(
                self.ident(self.prefix, "INPUT" if len(self.inputs) == 1 else f"INPUT{k}", "OFFSET")
            )
        for node in self.nodes:
            for k, name in enumerate(node.outputs):
                if name in self.offset_macros:
                    continue
                suffix = "OUT" if k == 0 else f"OUT{k}"
                self.offset_macros[name] = cf.macro_name(
                    self.ident(self.prefix, node.name.upper(), suffix, "OFFSET")
                )

    # -- arrays --------------------------------------------------------------------------------------------
    def array(self, layer: str, what: str, values: np.ndarray | list[int], ctype: str) -> _Array:
        arr = np.asarray(values)
        name = self.ident(self.model, layer, what)
        return _Array(
            name=name, ctype=ctype, length=max(1, int(arr.size)), init=cf.c_array(arr.reshape(-1), ctype)
        )

    def tensor_arg(self, name: str, layer: _LayerBuilder, what: str) -> _Arg:
        t = self.graph.tensor(name)
        if t.is_const:
            if t.dtype != "int8":
                raise UnsupportedOpError(
                    f"layer {layer.node.name}: constant input {name} of type {t.dtype} is not supported by the C backend"
                )
            arr = self.array(layer.cname, what, t.data.astype(np.int64), "int8_t")  # type: ignore[union-attr]
            layer.arrays.append(arr)
            return _Arg(kind="const", ref=arr.name)
        self._check_int8(name, layer.node)
        return _Arg(kind="act", ref=self.offset_macro(name))

    def _check_int8(self, name: str, node: ir.Node) -> None:
        t = self.graph.tensor(name)
        if t.dtype != "int8":
            raise UnsupportedOpError(
                f"layer {node.name}: op {node.op} on {t.dtype} tensors is not supported by the C backend (int8 only)"
            )

    # -- layers --------------------------------------------------------------------------------------------
    def lower_all(self) -> None:
        self._name_offsets()
        for node in self.nodes:
            if "fused_into" in node.attrs:  # run inside the layer it is fused into (backends/c/conv_add.py)
                continue
            lower = VARIANT_LOWER.get((node.op, node.attrs.get("kernel", ""))) or _LOWER.get(node.op)
            if "band_chain" in node.attrs:  # its input convolution runs inside it by bands
                lower = ATTR_LOWER["band_chain"]
            if lower is None:
                raise UnsupportedOpError(f"layer {node.name}: op {node.op} is not supported by the C backend")
            b = _LayerBuilder(self, node)
            for name in node.outputs:
                self._check_int8(name, node)
            lower(b)
            self.layers.append(b.build())


#: Fields of the conv-like kernels' parameter structs -> the reference parameter each holds (one table for
#: every conv lowering: direct, packed, sparse, codebook, pattern, shift, adder).
CONV_FIELDS: dict[str, str] = {
    "in_h": "in_h",
    "in_w": "in_w",
    "in_c": "in_c",
    "out_h": "out_h",
    "out_w": "out_w",
    "out_c": "out_c",
    "k_h": "filter_h",
    "k_w": "filter_w",
    "stride_h": "stride_h",
    "stride_w": "stride_w",
    "dil_h": "dilation_h",
    "dil_w": "dilation_w",
    "pad_top": "pad_h",
    "pad_left": "pad_w",
    "input_offset": "input_offset",
    "output_offset": "output_offset",
    "act_min": "activation_min",
    "act_max": "activation_max",
}


def conv_geometry(p: dict[str, Any], names: tuple[str, ...] = ()) -> dict[str, int]:
    """``CONV_FIELDS`` (or the given ones) of a conv-like layer, from its reference parameters ``p``."""
    return {name: int(p[CONV_FIELDS[name]]) for name in names or tuple(CONV_FIELDS)}


class _LayerBuilder:
    """Collects the parameter fields, arrays and arguments of one layer."""

    def __init__(self, gen: _Generator, node: ir.Node) -> None:
        from edgesdk.reference.params import op_params

        self.gen = gen
        self.node = node
        self.cname = cf.c_identifier(node.name, gen.layer_names)
        # The reference's numbers (its rounding option affects FULLY_CONNECTED only, at run time).
        self.p = op_params(gen.graph, node)
        self.fields: list[tuple[str, str]] = []
        self.arrays: list[_Array] = []
        self.inputs: list[_Arg] = []
        self.kernel = ""
        self.shift_values: np.ndarray = np.zeros(1, dtype=np.int64)
        self.params_type = ""
        self.input_list = False
        self.kernel_files: list[str] = [KERNEL_FILES[node.op]] if node.op in KERNEL_FILES else []
        self.code = ""
        self.params_name = ""  # C name of the params struct (a lowering may reserve it; else named in build)
        #: The weights' encoding the lowering writes: the node's (``weight_encoding.node_encoding``) unless a lowering
        #: that wraps another sets it (a decoded layer's inner kernel reads the decoded weights' encoding).
        self.encoding_override: Encoding | None = None

    def t(self, k: int) -> ir.Tensor:
        return self.gen.graph.tensor(self.node.inputs[k])

    @property
    def out(self) -> ir.Tensor:
        return self.gen.graph.tensor(self.node.outputs[0])

    def int_field(self, name: str, value: Any) -> None:
        self.fields.append((name, cf.c_int(int(value), "int32_t")))

    def ints(self, **kw: Any) -> None:
        for k, v in kw.items():
            self.int_field(k, v)

    def param_ints(self, *names: str, **renamed: str) -> None:
        """Integer fields copied from the layer's reference parameters, in the order given: each of ``names``
        from the parameter of the same name, then each ``field=key`` of ``renamed`` from parameter ``key``."""
        for name in names:
            self.int_field(name, self.p[name])
        for name, key in renamed.items():
            self.int_field(name, self.p[key])

    def conv_fields(self, *names: str) -> None:
        """The geometry, offsets and clamps of a conv-like layer (``CONV_FIELDS``; all of them by default)."""
        self.ints(**conv_geometry(self.p, names))

    def list_field(self, name: str, values: list[int]) -> None:
        self.fields.append((name, "{" + ", ".join(cf.c_int(int(v)) for v in values) + "}"))

    def ptr_field(self, name: str, arr: _Array | None) -> None:
        self.fields.append((name, arr.name if arr is not None else "NULL"))

    def requant_ptrs(self, weights: _Array | None, bias: _Array | None, mult: _Array, shift: _Array) -> None:
        """The pointer fields of a requantizing kernel's parameters, in the order its struct declares them."""
        for name, arr in (("weights", weights), ("bias", bias), ("multiplier", mult), ("shift", shift)):
            self.ptr_field(name, arr)

    def rounding_field(self, rounding: str | None = None) -> None:
        """The ``rounding`` field: the generation's requantization rounding unless ``rounding`` is given."""
        single = (rounding or self.gen.rounding) == "single"
        self.fields.append(("rounding", "ED_ROUNDING_SINGLE" if single else "ED_ROUNDING_DOUBLE"))

    def const_array(self, what: str, values: Any, ctype: str) -> _Array:
        arr = self.gen.array(self.cname, what, values, ctype)
        self.arrays.append(arr)
        return arr

    @property
    def encoding(self) -> Encoding:
        """The encoding of the layer's weights the passes stored in the node (:mod:`edgesdk.compiler.weight_encoding`)."""
        if self.encoding_override is not None:
            return self.encoding_override
        enc = node_encoding(self.gen.graph, self.node, self.gen.target)
        if enc is None:
            raise UnsupportedOpError(
                f"layer {self.node.name}: op {self.node.op} needs constant weights of its type in the C backend"
            )
        return enc

    def encoded_array(self, what: str, enc: Encoding | None = None) -> _Array:
        """The array ``what`` of the layer's weight encoding (or of ``enc``), written as it is stored there."""
        a = (enc or self.encoding)[what]
        return self.const_array(what, a.values, a.ctype)

    def act_input(self, k: int) -> None:
        self.inputs.append(self.gen.tensor_arg(self.node.inputs[k], self, f"input{k + 1}"))

    def render(self, template: str, **context: Any) -> None:
        """The layer's own C code (``code``): the template ``templates/c/<template>.c.j2`` rendered."""
        self.code = _jinja_env().get_template(f"c/{template}.c.j2").render(**context)

    def bias_values(self) -> np.ndarray | None:
        """The layer's constant int32 bias (input 2) as int64 values, None where it has none; a bias that is
        not a constant int32 tensor is refused in one sentence."""
        node = self.node
        if len(node.inputs) <= 2 or not node.inputs[2]:
            return None
        bt = self.t(2)
        if bt.data is None or bt.dtype != "int32":
            raise UnsupportedOpError(
                f"layer {node.name}: op {node.op} needs a constant int32 bias in the C backend"
            )
        return bt.data.astype(np.int64).reshape(-1)

    def bias_array(self) -> _Array | None:
        """The layer's bias (:meth:`bias_values`) as the C array ``bias``, None where it has none."""
        values = self.bias_values()
        return None if values is None else self.const_array("bias", values, "int32_t")

    def requant_arrays(self, mult: Any, shift: Any) -> tuple[_Array, _Array, bool]:
        m = np.atleast_1d(np.asarray(mult, dtype=np.int64))
        s = np.atleast_1d(np.asarray(shift, dtype=np.int64))
        per_channel = m.size > 1 and not (np.all(m == m[0]) and np.all(s == s[0]))
        if not per_channel:
            m, s = m[:1], s[:1]
        self.shift_values = s  # what the layer's shift array holds (a per-layer sequence's immediates)
        return (
            self.const_array("multiplier", m, "int32_t"),
            self.const_array("shift", s, "int32_t"),
            per_channel,
        )

    def comment(self) -> str:
        ins = [
            self.gen.graph.tensor(n) for n in self.node.inputs if n and not self.gen.graph.tensor(n).is_const
        ]
        src = ", ".join(_shape_text(t.shape) for t in ins) if ins else "const"
        title = _OP_TITLES.get(self.node.op, self.node.op)
        return cf.c_comment(f"{self.node.name}: {title} {src} -> {_shape_text(self.out.shape)}")

    def build(self) -> _Layer:
        return _Layer(
            name=self.node.name,
            cname=self.cname,
            comment=self.comment(),
            kernel=self.kernel,
            params_type=self.params_type,
            params_name=(self.params_name or self.gen.ident(self.gen.model, self.cname, "params"))
            if self.params_type
            else "",
            fields=self.fields,
            arrays=self.arrays,
            inputs=self.inputs,
            output=_Arg(kind="act", ref=self.gen.offset_macro(self.node.outputs[0]), const=False),
            input_list=self.input_list,
            inputs_name=self.gen.ident(self.gen.model, self.cname, "inputs") if self.input_list else "",
            kernel_files=list(self.kernel_files),
            code=self.code,
        )


# ---------------------------------------------------------------------------------------------------------------
# One lowering per op
# ---------------------------------------------------------------------------------------------------------------


def _weights_bias_requant(
    b: _LayerBuilder, fold_input_offset: bool = False
) -> tuple[Any, Any, Any, Any, int]:
    """The constant int8 weights (input 1), optional int32 bias (input 2) and requantization arrays of a
    conv/depthwise/FC layer: (weights, bias or None, multiplier, shift, per_channel). ``fold_input_offset`` (an
    FC): the bias plus the input offset times each row's weight sum (:func:`folded_bias`)."""
    p, node = b.p, b.node
    w = b.t(1)
    if w.dtype != "int8" or w.data is None:
        raise UnsupportedOpError(
            f"layer {node.name}: op {node.op} needs constant int8 weights in the C backend"
        )
    b.act_input(0)
    weights = b.encoded_array("weights")
    if node.op in ("DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        values = b.bias_values()
        if fold_input_offset:
            values = folded_bias(np.asarray(w.data), values, int(p["input_offset"]))
        bias, mult, shift, per_channel = constant_rows_requant(b, values)
        return weights, bias, mult, shift, per_channel
    bias = b.bias_array()
    mult, shift, per_channel = b.requant_arrays(p["output_multiplier"], p["output_shift"])
    return weights, bias, mult, shift, per_channel


def fast_requant(bias: np.ndarray, mult: Any, shift: Any) -> np.ndarray:
    """Per output channel: whether the DSP kernels' fast requantization takes it: |bias| under 2^29 and a right
    shift of 1 to 22 (or 0 for a layer of one multiplier and shift, as the int8 FC kernel's one-row path)."""
    m, s = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (mult, shift))
    top = 0 if np.all(m == m[0]) and np.all(s == s[0]) else -1
    s = np.broadcast_to(s, bias.shape)
    return (s >= -22) & (s <= top) & (np.abs(bias.astype(np.int64)) < 1 << 29)


def constant_rows_requant(b: _LayerBuilder, values: np.ndarray | None) -> tuple[Any, Any, Any, bool]:
    """The bias, multiplier and shift arrays and per-channel flag of a depthwise layer or of a layer an FC kernel
    runs (an FC, a 1x1 or an im2col convolution), every output channel whose weights are all zero (pruned) given
    the small bias :func:`constant_channels` finds -- the same constant output, and the kernels' fast
    requantization paths (after BatchNorm folding such a channel's bias can be ~1e9 and its shift below -22).
    An FC-kernel layer is rewritten only where such a channel is outside the fast requantization: a per-tensor
    layer stays per-tensor otherwise. ``values``: the layer's bias values (None: no bias)."""
    p, w = b.p, b.t(1)
    mult, shift = p["output_multiplier"], p["output_shift"]
    if values is not None and w.data is not None and not int(p.get("filter_offset", 0)):
        data = np.asarray(w.data)
        depthwise = b.node.op == "DEPTHWISE_CONV_2D"
        taps = data.reshape(-1, values.size) if depthwise else data.reshape(values.size, -1).T
        if depthwise or np.any(~taps.any(axis=0) & ~fast_requant(values, mult, shift)):
            values, mult, shift = constant_channels(taps, values, mult, shift, p)
    bias = None if values is None else b.const_array("bias", values, "int32_t")
    return (bias, *b.requant_arrays(mult, shift))


#: The output clamp fields of a kernel's parameters and the reference parameters they copy (``param_ints``).
CLAMP_PARAMS = {"act_min": "activation_min", "act_max": "activation_max"}

#: Requantization of a constant channel (see :func:`constant_channels`): multiplier 0.5 in Q31, shift -1.
CONSTANT_MULTIPLIER, CONSTANT_SHIFT = 1 << 30, -1


def constant_channels(
    w: np.ndarray, bias: np.ndarray, mult: Any, shift: Any, p: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bias, multiplier and shift per output channel with every all-zero weight channel (a pruned depthwise
    channel; ``w`` is (taps, channels)) rewritten to give the same constant output with a small bias.

    Such a channel's accumulator is its bias for every input, so its output is the constant
    ``y = clamp(mbqm(bias, m, s) + output_offset)``. After BatchNorm folding a pruned channel's bias can be
    about -1e9 (its weight scale is tiny), which fails the Cortex-M depthwise kernel's |bias| <= 2^29 check for
    the fast 3x3 path and sends the whole layer to the general path. With multiplier 2^30 (0.5) and shift -1,
    ``mbqm(4 k) = k`` exactly, so bias ``4 (y - output_offset)`` gives ``y`` again on every path, bit for bit."""
    from edgesdk.ir.quantmath import multiply_by_quantized_multiplier

    n = bias.size
    m = np.broadcast_to(np.asarray(mult, dtype=np.int64).reshape(-1), (n,)).copy()
    s = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1), (n,)).copy()
    zero = ~np.any(w != 0, axis=0)
    if not np.any(zero):
        return bias, np.asarray(mult), np.asarray(shift)
    bias = bias.copy()
    for c in np.flatnonzero(zero):
        y = int(multiply_by_quantized_multiplier(np.array([bias[c]]), int(m[c]), int(s[c]), "double")[0])
        y = min(max(y + int(p["output_offset"]), int(p["activation_min"])), int(p["activation_max"]))
        bias[c] = 4 * (y - int(p["output_offset"]))
        m[c], s[c] = CONSTANT_MULTIPLIER, CONSTANT_SHIFT
    return bias, m, s


def _conv(b: _LayerBuilder, depthwise: bool) -> None:
    p, node = b.p, b.node
    if not depthwise and b.t(1).shape[3] != p["in_c"]:
        raise UnsupportedOpError(
            f"layer {node.name}: op {node.op} with groups is not supported by the C backend"
        )
    weights, bias, mult, shift, per_channel = _weights_bias_requant(b)
    b.conv_fields()
    if depthwise:
        b.ints(depth_multiplier=p["depth_multiplier"])
    b.ints(per_channel=per_channel)
    b.requant_ptrs(weights, bias, mult, shift)
    b.kernel, b.params_type = (
        ("ed_dwconv_s8", "ed_dwconv_params_t") if depthwise else ("ed_conv_s8", "ed_conv_params_t")
    )


def _lower_conv(b: _LayerBuilder) -> None:
    _conv(b, depthwise=False)


def _lower_dwconv(b: _LayerBuilder) -> None:
    _conv(b, depthwise=True)


#: Fused activations that clamp at the output's zero point: about half of such a layer's outputs are that value.
ZERO_CLAMPS = ("RELU", "RELU6")


def after_zero_clamp(graph: ir.Graph, tensor: str) -> bool:
    """Whether ``tensor`` is the output of a layer with a fused ReLU (through reshapes): many of its values are
    its zero point."""
    node = graph.producer(tensor)
    while node is not None and node.op == "RESHAPE":
        node = graph.producer(node.inputs[0])
    return node is not None and getattr(node, "activation", "NONE") in ZERO_CLAMPS


def folds_input_offset(graph: ir.Graph, node: ir.Node, target: str | None, p: dict[str, Any]) -> bool:
    """Whether the FC ``node`` gets its input offset folded into its bias: on the scalar kernels' target, where
    the input is no ReLU's output (so few inputs are at the zero point) and the weights offset is 0. The scalar
    ``ed_fc_s8`` runs a layer with input offset 0 as a bare dot product; with an offset it skips the inputs at the
    zero point instead (``firmware/kernels/scalar/ed_fc.c``)."""
    return (
        target == SCALAR_TARGET
        and int(p["filter_offset"]) == 0
        and int(p["input_offset"]) != 0
        and not after_zero_clamp(graph, node.inputs[0])
    )


def folded_bias(w: np.ndarray, bias: np.ndarray | None, input_offset: int) -> np.ndarray:
    """``bias + input_offset * sum(w[o, :])`` per output row ``o`` (no bias: 0), wrapped to int32 as the kernels'
    accumulators wrap: ``sum((x + off) * w) + bias == sum(x * w) + folded`` exactly."""
    rows = np.asarray(w, dtype=np.int64).reshape(w.shape[0], -1)
    base = np.zeros(rows.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64)
    total = base + int(input_offset) * rows.sum(axis=1)
    return ((total + (1 << 31)) % (1 << 32)) - (1 << 31)


def _lower_fc(b: _LayerBuilder) -> None:
    p = b.p
    fold = folds_input_offset(b.gen.graph, b.node, b.gen.target, p)
    weights, bias, mult, shift, per_channel = _weights_bias_requant(b, fold_input_offset=fold)
    in_features = int(p["in_features"])
    batches = b.t(0).size // in_features
    input_offset = 0 if fold else p["input_offset"]
    b.ints(batches=batches, in_depth=in_features, out_depth=p["out_features"], input_offset=input_offset)
    b.param_ints(weights_offset="filter_offset", output_offset="output_offset", **CLAMP_PARAMS)
    b.ints(per_channel=per_channel)
    b.rounding_field()
    b.requant_ptrs(weights, bias, mult, shift)
    b.kernel, b.params_type = "ed_fc_s8", "ed_fc_params_t"


def _lower_pool(b: _LayerBuilder) -> None:
    x = b.t(0)
    b.act_input(0)
    b.ints(in_h=x.shape[1], in_w=x.shape[2], channels=x.shape[3])
    b.param_ints(
        "out_h",
        "out_w",
        f_h="filter_h",
        f_w="filter_w",
        stride_h="stride_h",
        stride_w="stride_w",
        pad_top="pad_h",
        pad_left="pad_w",
        **CLAMP_PARAMS,
    )
    b.kernel = "ed_avgpool_s8" if b.node.op == "AVERAGE_POOL_2D" else "ed_maxpool_s8"
    b.params_type = "ed_pool_params_t"


def _broadcast_fields(b: _LayerBuilder) -> None:
    a, c, out = b.t(0), b.t(1), b.out
    node = b.node
    od = _right_align4(out.shape, node)
    if tuple(a.shape) == tuple(c.shape) == tuple(out.shape) or (a.size == c.size == out.size):
        b.ints(size=out.size, broadcast=0)
        b.list_field("out_dims", od)
        b.list_field("in1_strides", [0, 0, 0, 0])
        b.list_field("in2_strides", [0, 0, 0, 0])
        return
    strides = []
    for t in (a, c):
        dims = _right_align4(t.shape, node)
        st = _strides4(dims)
        for k in range(4):
            if dims[k] == 1 and od[k] != 1:
                st[k] = 0
            elif dims[k] != od[k]:
                raise UnsupportedOpError(
                    f"layer {node.name}: shapes {a.shape} and {c.shape} do not broadcast to {out.shape}"
                )
        strides.append(st)
    b.ints(size=out.size, broadcast=1)
    b.list_field("out_dims", od)
    b.list_field("in1_strides", strides[0])
    b.list_field("in2_strides", strides[1])


def _lower_add_mul(b: _LayerBuilder) -> None:
    p = b.p
    b.act_input(0)
    b.act_input(1)
    _broadcast_fields(b)
    add = b.node.op == "ADD"
    b.param_ints("input1_offset", "input2_offset", "output_offset")
    # MUL rescales its product once (output_multiplier/shift); ADD rescales each input first
    add_only = ("left_shift", "input1_multiplier", "input1_shift", "input2_multiplier", "input2_shift")
    b.ints(**{k: p[k] if add else 0 for k in add_only})
    b.param_ints("output_multiplier", "output_shift", **CLAMP_PARAMS)
    b.kernel = "ed_add_s8" if add else "ed_mul_s8"
    b.params_type = "ed_binary_params_t"


def _lower_softmax(b: _LayerBuilder) -> None:
    p = b.p
    x = b.t(0)
    b.act_input(0)
    depth = x.shape[-1] if x.shape else 1
    b.ints(
        outer=x.size // depth,
        depth=depth,
        input_multiplier=p["input_beta_multiplier"],
        input_left_shift=p["input_beta_left_shift"],
        diff_min=p["diff_min"],
    )
    b.kernel, b.params_type = "ed_softmax_s8", "ed_softmax_params_t"


def _lower_logistic(b: _LayerBuilder) -> None:
    b.act_input(0)
    b.ints(size=b.t(0).size)
    b.param_ints("input_zero_point", "input_range_radius", "input_multiplier", "input_left_shift")
    b.kernel, b.params_type = "ed_logistic_s8", "ed_logistic_params_t"


def _lower_pad(b: _LayerBuilder) -> None:
    p = b.p
    x = b.t(0)
    b.act_input(0)
    pads = list(p["paddings"])
    if len(pads) > 4:
        raise UnsupportedOpError(
            f"layer {b.node.name}: op PAD on a rank-{len(pads)} tensor is not supported by the C backend"
        )
    before = [0] * (4 - len(pads)) + [int(pb[0]) for pb in pads]
    b.list_field("in_dims", _right_align4(x.shape, b.node))
    b.list_field("out_dims", _right_align4(b.out.shape, b.node))
    b.list_field("before", before)
    b.int_field("pad_value", p["pad_value"])
    b.kernel, b.params_type = "ed_pad_s8", "ed_pad_params_t"


def _lower_concat(b: _LayerBuilder) -> None:
    p = b.p
    out = b.out
    axis = int(p["axis"])
    outer = int(np.prod(out.shape[:axis], dtype=np.int64)) if axis > 0 else 1
    sizes = []
    for k in range(len(b.node.inputs)):
        t = b.t(k)
        sizes.append(int(np.prod(t.shape[axis:], dtype=np.int64)))
        b.act_input(k)
    entries = p["inputs"]
    b.ints(num_inputs=len(sizes), outer=outer)
    b.ptr_field("copy_sizes", b.const_array("copy_sizes", sizes, "int32_t"))
    if any(e["requantize"] for e in entries):
        b.ptr_field(
            "requantize", b.const_array("requantize", [int(e["requantize"]) for e in entries], "int32_t")
        )
        b.ptr_field(
            "input_zero_points",
            b.const_array("input_zero_points", [e["input_zero_point"] for e in entries], "int32_t"),
        )
        b.ptr_field(
            "multipliers", b.const_array("multipliers", [e["output_multiplier"] for e in entries], "int32_t")
        )
        b.ptr_field("shifts", b.const_array("shifts", [e["output_shift"] for e in entries], "int32_t"))
    else:
        for name in ("requantize", "input_zero_points", "multipliers", "shifts"):
            b.ptr_field(name, None)
    b.param_ints("output_zero_point", **CLAMP_PARAMS)
    b.input_list = True
    b.kernel, b.params_type = "ed_concat_s8", "ed_concat_params_t"


def _lower_mean(b: _LayerBuilder) -> None:
    p = b.p
    x = b.t(0)
    b.act_input(0)
    rank = len(x.shape)
    dims = _right_align4(x.shape, b.node)
    reduce = [0, 0, 0, 0]
    for a in p["axes"]:
        reduce[4 - rank + int(a)] = 1
    same = bool(p["same_quant"])
    b.list_field("in_dims", dims)
    b.list_field("reduce", reduce)
    b.fields.append(("mode", "ED_MEAN_SAME_QUANT" if same else "ED_MEAN_FOLDED"))
    b.ints(
        count=p["num_elements"],
        input_zero_point=p["input_zero_point"],
        output_zero_point=p["output_zero_point"],
        multiplier=0 if same else p["mean_multiplier"],
        shift=0 if same else p["mean_shift"],
        act_min=-128,
        act_max=127,
    )
    b.kernel, b.params_type = "ed_mean_s8", "ed_mean_params_t"


def _lower_quantize(b: _LayerBuilder) -> None:
    p = b.p
    if p["mode"] != "requantize":
        raise UnsupportedOpError(
            f"layer {b.node.name}: op QUANTIZE from {b.t(0).dtype} inside the graph is not supported by the C backend"
        )
    b.act_input(0)
    b.ints(size=b.t(0).size)
    b.param_ints(
        "input_zero_point", "output_zero_point", multiplier="output_multiplier", shift="output_shift"
    )
    b.kernel, b.params_type = "ed_requantize_s8", "ed_requant_params_t"


def _lower_reshape(b: _LayerBuilder) -> None:
    b.act_input(0)
    b.kernel, b.params_type = "ed_copy_s8", ""
    b.fields.append(("size", cf.c_int(b.out.size)))


_LOWER = {
    "CONV_2D": _lower_conv,
    "DEPTHWISE_CONV_2D": _lower_dwconv,
    "FULLY_CONNECTED": _lower_fc,
    "AVERAGE_POOL_2D": _lower_pool,
    "MAX_POOL_2D": _lower_pool,
    "ADD": _lower_add_mul,
    "MUL": _lower_add_mul,
    "SOFTMAX": _lower_softmax,
    "LOGISTIC": _lower_logistic,
    "PAD": _lower_pad,
    "CONCATENATION": _lower_concat,
    "MEAN": _lower_mean,
    "QUANTIZE": _lower_quantize,
    "RESHAPE": _lower_reshape,
}


#: Lowerings of kernel variants chosen by a pass: ``(op, node.attrs["kernel"]) -> lowering``, filled from the kernel
#: table's ``lower`` column when the package is imported (``backends/c/__init__.py``). A variant must give the
#: integer result of the op's default kernel exactly.
VARIANT_LOWER: dict[tuple[str, str], Any] = {}
#: Lowerings chosen by a node attribute over its kernel's (``"band_chain"``: ``backends/c/band_chain.py``); filled
#: by the package ``edgesdk.backends.c`` when imported, as VARIANT_LOWER is.
ATTR_LOWER: dict[str, Any] = {}
#: Per-layer specialised convolutions that compute a band of output rows: kernel -> lowering returning the band
#: function's name (filled by ``backends/c/specialize.py``; read by ``conv_add.py`` and ``band_chain.py``).
ROWS_LOWER: dict[str, Any] = {}


# ---------------------------------------------------------------------------------------------------------------
# Graph edges and arena
# ---------------------------------------------------------------------------------------------------------------


def _int8_view(graph: ir.Graph) -> tuple[list[str], list[str], list[ir.Node]]:
    """Graph inputs, outputs and nodes once float32 edges are cut at their int8 tensors.

    A float32 graph input read only by one QUANTIZE is replaced by that QUANTIZE's output; a float32 graph
    output produced by DEQUANTIZE by the DEQUANTIZE's input. The graph object is not modified.
    """
    inputs = list(graph.inputs)
    outputs = list(graph.outputs)
    skipped: set[int] = set()
    for k, name in enumerate(inputs):
        if graph.tensor(name).dtype != "float32":
            continue
        consumers = graph.consumers(name)
        if len(consumers) == 1 and consumers[0].op == "QUANTIZE":
            skipped.add(id(consumers[0]))
            inputs[k] = consumers[0].outputs[0]
    for k, name in enumerate(outputs):
        if graph.tensor(name).dtype != "float32":
            continue
        producer = graph.producer(name)
        if producer is not None and producer.op == "DEQUANTIZE" and not graph.consumers(name):
            skipped.add(id(producer))
            outputs[k] = producer.inputs[0]
    nodes = [n for n in graph.nodes if id(n) not in skipped]
    for name in inputs + outputs:
        t = graph.tensor(name)
        if t.dtype != "int8":
            raise UnsupportedOpError(
                f"graph tensor {t.name}: {t.dtype} model inputs and outputs are not supported by the C backend (int8 only)"
            )
    return inputs, outputs, nodes


def _sequential_plan(graph: ir.Graph, inputs: list[str], nodes: list[ir.Node]) -> dict[str, int]:
    """Fallback placement: every activation tensor after the previous one, 16-byte aligned (no reuse)."""
    offsets: dict[str, int] = {}
    pos = 0
    for name in list(inputs) + [o for n in nodes for o in n.outputs]:
        if name in offsets:
            continue
        offsets[name] = pos
        pos += -(-graph.tensor(name).nbytes // _ARENA_ALIGN) * _ARENA_ALIGN
    return offsets


def _plan_offsets(graph: ir.Graph, inputs: list[str], outputs: list[str], nodes: list[ir.Node], plan: Any):
    """(offsets, arena_bytes, lower_bound) from the given plan, the planner, or the sequential fallback."""
    view = graph
    if plan is None:
        if inputs != list(graph.inputs) or outputs != list(graph.outputs) or len(nodes) != len(graph.nodes):
            view = ir.Graph(
                name=graph.name, tensors=graph.tensors, nodes=nodes, inputs=inputs, outputs=outputs
            )
        try:
            from edgesdk.compiler.planner import plan as make_plan
        except ImportError:  # the planner is optional for this backend
            make_plan = None
        if make_plan is not None:
            plan = make_plan(view)
    if plan is not None:
        offsets = dict(plan.offsets)
        arena = int(plan.arena_bytes)
        lower = int(getattr(plan, "lower_bound", 0))
    else:
        offsets = _sequential_plan(graph, inputs, nodes)
        arena = 0
        lower = 0
    from edgesdk.compiler.planner import buffer_bytes

    needed = list(inputs) + [o for n in nodes for o in n.outputs]
    for name in needed:
        if name not in offsets:
            raise UnsupportedOpError(f"tensor {name}: the arena plan gives it no offset")
        arena = max(arena, offsets[name] + buffer_bytes(graph, name))
    arena = max(_ARENA_ALIGN, -(-arena // _ARENA_ALIGN) * _ARENA_ALIGN)
    return offsets, arena, lower


def _version() -> str:
    return ".".join(edgesdk.__version__.split(".")[:2])


def generate_c(
    graph: ir.Graph,
    out_dir: Path,
    *,
    plan: Any = None,
    rounding: str = "double",
    target: str | None = None,
) -> CProject:
    """Write the C project of ``graph`` into ``out_dir`` and return what was written.

    ``out_dir`` receives ``<model>.h``, ``<model>.c``, ``<model>_glue.c`` (defines ``edgesdk_model``) and, under
    ``edgesdk/``, the kernel sources the model uses plus ``edgesdk_kernels.h``, ``ed_fixedpoint.h`` and
    ``edgesdk_model.h``, so the folder builds on its own. ``plan`` is an ``edgesdk.compiler.planner.Plan`` (computed
    when omitted); ``rounding`` picks the fully-connected requantization ("double" as TFLite Micro, or
    "single"); ``target`` names a folder under ``firmware/kernels/`` whose files override the generic kernels
    of the same name. Raises ``UnsupportedOpError`` for an op or tensor type the backend cannot emit.
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, not {rounding!r}")
    out_dir = Path(out_dir)
    gen = _Generator(graph, plan, rounding)
    gen.target = target
    gen.lower_all()
    offsets, arena_bytes, lower_bound = _plan_offsets(graph, gen.inputs, gen.outputs, gen.nodes, plan)

    tensors_used = list(dict.fromkeys(list(gen.inputs) + [o for n in gen.nodes for o in n.outputs]))
    offset_defs = [
        (gen.offset_macros[name], cf.c_int(offsets[name], "uint32_t"), cf.c_comment(name))
        for name in tensors_used
    ]

    in_tensors = [graph.tensor(n) for n in gen.inputs]
    out_tensors = [graph.tensor(n) for n in gen.outputs]
    source_name = Path(graph.source).name if graph.source else (graph.name or "model")
    sha = graph.sha256 or _graph_digest(graph)
    ctx = {
        "banner": cf.c_comment(
            f"Generated by edgesdk {_version()} from {source_name} (sha256:{sha}). Do not edit."
        ),
        "model": gen.model,
        "prefix": gen.prefix,
        "kdir": KERNEL_SUBDIR,
        "guard": cf.macro_name(gen.ident(gen.prefix, "H")),
        "input_size": cf.c_int(sum(t.size for t in in_tensors), "uint32_t"),
        "output_size": cf.c_int(sum(t.size for t in out_tensors), "uint32_t"),
        "input_scale": cf.c_float(in_tensors[0].quant.s if in_tensors[0].quant else 1.0),
        "input_zero_point": cf.c_int(in_tensors[0].quant.zp if in_tensors[0].quant else 0),
        "output_scale": cf.c_float(out_tensors[0].quant.s if out_tensors[0].quant else 1.0),
        "output_zero_point": cf.c_int(out_tensors[0].quant.zp if out_tensors[0].quant else 0),
        "arena_bytes": cf.c_int(arena_bytes, "uint32_t"),
        "num_layers": cf.c_int(len(gen.layers), "uint32_t"),
        "num_inputs": cf.c_int(len(in_tensors), "uint32_t"),
        "offsets": offset_defs,
        "inputs": [(gen.offset_macros[t.name], cf.c_int(t.size, "uint32_t")) for t in in_tensors],
        "outputs": [(gen.offset_macros[t.name], cf.c_int(t.size, "uint32_t")) for t in out_tensors],
        "layers": gen.layers,
        "layer_names": [cf.c_string(layer.name) for layer in gen.layers],
        "model_string": cf.c_string(gen.model),
        "sha_string": cf.c_string(sha),
    }

    env = _jinja_env()
    out_dir.mkdir(parents=True, exist_ok=True)
    kdir = out_dir / KERNEL_SUBDIR
    kdir.mkdir(exist_ok=True)
    written: list[Path] = []
    for template, filename in (
        ("c/model.h.j2", f"{gen.model}.h"),
        ("c/model.c.j2", f"{gen.model}.c"),
        ("c/model_glue.c.j2", f"{gen.model}_glue.c"),
    ):
        text = env.get_template(template).render(**ctx)
        (out_dir / filename).write_text(text, encoding="utf-8", newline="\n")
        written.append(Path(filename))

    kernel_files = sorted({f for layer in gen.layers for f in layer.kernel_files})
    # a target's kernel folder may bring headers of its own (scalar/ed_scalar.h)
    target_headers = sorted(
        {h.name for t in kernel_target_chain(target) for h in (firmware_dir() / "kernels" / t).glob("*.h")}
    )
    # a row's header may live in a kernel folder ("cortex-m-dsp/ed_conv_dsp.h"): every file lands flat in kdir
    flat: dict[str, str] = {}
    for name in (*KERNEL_HEADERS, *target_headers, *kernel_files):
        flat.setdefault(Path(name).name, name)
    for dest, name in flat.items():
        shutil.copyfile(_kernel_source(name, target), kdir / dest)
        written.append(Path(KERNEL_SUBDIR) / dest)
    shutil.copyfile(firmware_dir() / "include" / "edgesdk_model.h", kdir / "edgesdk_model.h")
    written.append(Path(KERNEL_SUBDIR) / "edgesdk_model.h")

    layer_flash = {layer.name: sum(a.nbytes for a in layer.arrays) for layer in gen.layers}
    sources = [out_dir / f"{gen.model}.c", out_dir / f"{gen.model}_glue.c"] + [kdir / k for k in kernel_files]
    log.info(
        "generated C for %s: %d layers, arena %d bytes, %d bytes of constants",
        gen.model,
        len(gen.layers),
        arena_bytes,
        sum(layer_flash.values()),
    )
    return CProject(
        out_dir=out_dir,
        model_name=gen.model,
        files=written,
        sources=sources,
        include_dirs=[out_dir, kdir],
        arena_bytes=arena_bytes,
        layer_flash=layer_flash,
        input_size=sum(t.size for t in in_tensors),
        output_size=sum(t.size for t in out_tensors),
        num_layers=len(gen.layers),
        lower_bound=lower_bound,
        kernel_files=kernel_files,
    )


def constant_bytes(graph: ir.Graph, *, rounding: str = "double", target: str | None = None) -> dict[str, int]:
    """IR layer name -> bytes of the constant arrays the C backend emits for it (weights in the encoding of the
    layer's chosen kernel, biases, requantization arrays), without writing anything: the figure
    :func:`generate_c` reports as ``CProject.layer_flash``."""
    gen = _Generator(graph, None, rounding)
    gen.target = target
    gen.lower_all()
    return {layer.name: sum(a.nbytes for a in layer.arrays) for layer in gen.layers}


def _kernel_source(name: str, target: str | None) -> Path:
    base = firmware_dir() / "kernels"
    if "/" in name:  # a file named with its kernel folder: the one file
        return base / name
    for folder in kernel_target_chain(target):
        override = base / folder / name
        if override.is_file():
            return override
    return base / name


def _graph_digest(graph: ir.Graph) -> str:
    """A stable digest of a graph that has no source file (hand-built in tests): structure and constants."""
    h = hashlib.sha256()
    for node in graph.nodes:
        h.update(repr((node.op, node.name, node.inputs, node.outputs)).encode())
    for name in sorted(graph.tensors):
        t = graph.tensors[name]
        h.update(repr((name, t.shape, t.dtype)).encode())
        if t.data is not None:
            h.update(np.ascontiguousarray(t.data).tobytes())
    return h.hexdigest()
