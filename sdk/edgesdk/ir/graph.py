"""Graph, tensors and one node class per operator.

Conventions (those of TFLite, so that int8 semantics carry over unchanged):
- activations are NHWC; batch is 1 and static;
- Conv2D weights are OHWI, DepthwiseConv2D weights are 1HW(C*M), FullyConnected weights are (out, in);
- quantization is affine: ``real = scale * (q - zero_point)``; per-channel along ``QuantParams.axis``;
- a node refers to tensors by name; ``Graph.tensors`` holds each tensor once, constants carry ``data``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
PADDINGS = ("SAME", "VALID")
DTYPES = ("int8", "uint8", "int16", "int32", "int64", "float32", "bool")
#: Largest single dimension of any tensor: with the verifier's byte caps every index and offset stays far
#: inside int32 (:mod:`edgesdk.frontends.verify`).
MAX_DIM = 1 << 24


@dataclass
class QuantParams:
    """Affine quantization. ``axis`` is None for per-tensor, else the quantized dimension."""

    scale: np.ndarray  # float64, shape (1,) or (channels,)
    zero_point: np.ndarray  # int64, same shape as scale
    axis: int | None = None

    def __post_init__(self) -> None:
        self.scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float64))
        self.zero_point = np.atleast_1d(np.asarray(self.zero_point, dtype=np.int64))
        if self.scale.shape != self.zero_point.shape:
            raise ValueError("scale and zero_point must have the same shape")

    @property
    def per_channel(self) -> bool:
        return self.axis is not None and self.scale.size > 1

    @property
    def s(self) -> float:
        """The per-tensor scale."""
        return float(self.scale[0])

    @property
    def zp(self) -> int:
        """The per-tensor zero point."""
        return int(self.zero_point[0])


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: QuantParams | None = None
    data: np.ndarray | None = None  # set for constants (weights, biases, shapes)
    index: int | None = None  # position in the source model (TFLite tensor index), for tracing

    def __post_init__(self) -> None:
        self.shape = tuple(int(d) for d in self.shape)
        if self.dtype not in DTYPES:
            raise ValueError(f"tensor {self.name}: unsupported dtype {self.dtype}")

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize


@dataclass
class Node:
    """Base of every operator. ``inputs``/``outputs`` are tensor names; an optional input is ``""``."""

    name: str
    inputs: list[str]
    outputs: list[str]
    op: ClassVar[str] = "NODE"  # the TFLite builtin name
    #: Annotations that passes leave for the backends, e.g. ``attrs["kernel"]`` (the kernel variant chosen)
    #: and ``attrs["kernel_report"]`` (why: bytes and instructions of the candidates). Never semantics.
    attrs: dict = field(default_factory=dict, kw_only=True, compare=False, repr=False)

    @property
    def kind(self) -> str:
        return self.op


@dataclass
class Conv2D(Node):
    op: ClassVar[str] = "CONV_2D"
    # inputs: x, weights (OHWI), bias (int32, optional)
    stride: tuple[int, int] = (1, 1)  # (h, w)
    dilation: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    activation: str = "NONE"


@dataclass
class DepthwiseConv2D(Node):
    op: ClassVar[str] = "DEPTHWISE_CONV_2D"
    # inputs: x, weights (1 x KH x KW x C*M), bias
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    depth_multiplier: int = 1
    activation: str = "NONE"


@dataclass
class FullyConnected(Node):
    op: ClassVar[str] = "FULLY_CONNECTED"
    # inputs: x, weights (out x in), bias
    activation: str = "NONE"
    keep_num_dims: bool = False


@dataclass
class AveragePool2D(Node):
    op: ClassVar[str] = "AVERAGE_POOL_2D"
    filter: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: str = "VALID"
    activation: str = "NONE"


@dataclass
class MaxPool2D(Node):
    op: ClassVar[str] = "MAX_POOL_2D"
    filter: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: str = "VALID"
    activation: str = "NONE"


@dataclass
class Add(Node):
    op: ClassVar[str] = "ADD"
    activation: str = "NONE"


@dataclass
class Mul(Node):
    op: ClassVar[str] = "MUL"
    activation: str = "NONE"


@dataclass
class Reshape(Node):
    op: ClassVar[str] = "RESHAPE"
    # inputs: x (and optionally a shape tensor, kept for fidelity); the output tensor's shape is authoritative
    new_shape: tuple[int, ...] = ()


@dataclass
class Softmax(Node):
    op: ClassVar[str] = "SOFTMAX"
    beta: float = 1.0


@dataclass
class Pad(Node):
    op: ClassVar[str] = "PAD"
    # inputs: x, paddings (int32 [rank, 2]); the paddings are also stored here
    paddings: tuple[tuple[int, int], ...] = ()


@dataclass
class Concatenation(Node):
    op: ClassVar[str] = "CONCATENATION"
    axis: int = -1
    activation: str = "NONE"


@dataclass
class Mean(Node):
    op: ClassVar[str] = "MEAN"
    # inputs: x, axes (int32)
    axes: tuple[int, ...] = ()
    keep_dims: bool = False


@dataclass
class Logistic(Node):
    op: ClassVar[str] = "LOGISTIC"


@dataclass
class Quantize(Node):
    op: ClassVar[str] = "QUANTIZE"


@dataclass
class Dequantize(Node):
    op: ClassVar[str] = "DEQUANTIZE"


NODE_TYPES: dict[str, type[Node]] = {
    cls.op: cls
    for cls in (
        Conv2D,
        DepthwiseConv2D,
        FullyConnected,
        AveragePool2D,
        MaxPool2D,
        Add,
        Mul,
        Reshape,
        Softmax,
        Pad,
        Concatenation,
        Mean,
        Logistic,
        Quantize,
        Dequantize,
    )
}


@dataclass
class Graph:
    """A model: tensors by name, nodes in execution order, graph inputs and outputs."""

    name: str
    tensors: dict[str, Tensor] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    source: str = ""  # file the model came from
    sha256: str = ""  # hash of the source file's bytes
    #: Axis order taking the source model's input layout to the IR's (an NCHW ONNX model: ``(0, 2, 3, 1)``);
    #: None when they agree. Inputs a user gives in the model's own layout are transposed with it.
    input_order: tuple[int, ...] | None = None

    def source_input_shape(self) -> tuple[int, ...]:
        """The single input's shape in the source model's layout."""
        shape = self.tensors[self.inputs[0]].shape
        if self.input_order is None:
            return shape
        out = [0] * len(shape)
        for k, axis in enumerate(self.input_order):
            out[axis] = shape[k]
        return tuple(out)

    def to_ir_layout(self, samples: np.ndarray) -> np.ndarray:
        """Samples ``(N, *source_input_shape()[1:])`` in the source layout, transposed to the IR input's."""
        if self.input_order is None:
            return samples
        return np.ascontiguousarray(np.transpose(samples, self.input_order))

    def add_tensor(self, t: Tensor) -> Tensor:
        if t.name in self.tensors:
            raise ValueError(f"duplicate tensor name {t.name!r}")
        self.tensors[t.name] = t
        return t

    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    def input_tensors(self, node: Node) -> list[Tensor | None]:
        return [self.tensors[n] if n else None for n in node.inputs]

    def output_tensors(self, node: Node) -> list[Tensor]:
        return [self.tensors[n] for n in node.outputs]

    def producer(self, tensor_name: str) -> Node | None:
        for n in self.nodes:
            if tensor_name in n.outputs:
                return n
        return None

    def consumers(self, tensor_name: str) -> list[Node]:
        return [n for n in self.nodes if tensor_name in n.inputs]

    def activation_tensors(self) -> list[Tensor]:
        """Non-constant tensors (graph inputs and node outputs), in first-use order."""
        seen: dict[str, Tensor] = {}
        for name in self.inputs:
            seen[name] = self.tensors[name]
        for n in self.nodes:
            for name in n.outputs:
                seen.setdefault(name, self.tensors[name])
        return list(seen.values())

    def by_index(self) -> dict[int, Tensor]:
        """Tensors keyed by their index in the source model (for golden vectors)."""
        return {t.index: t for t in self.tensors.values() if t.index is not None}

    def validate(self) -> None:
        """Check names resolve and every node's inputs are produced before use."""
        ready = set(self.inputs) | {n for n, t in self.tensors.items() if t.is_const}
        for node in self.nodes:
            for name in node.inputs:
                if name and name not in ready:
                    raise ValueError(f"layer {node.name}: input {name!r} is used before it is produced")
            ready.update(node.outputs)
        for name in self.outputs:
            if name not in ready:
                raise ValueError(f"graph output {name!r} is never produced")
