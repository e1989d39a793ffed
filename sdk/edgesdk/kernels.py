"""The kernel table: the one place a kernel of the C backend is described.

One :class:`Kernel` row per kernel: its name (what ``node.attrs["kernel"]`` holds and what ``--kernel``/
``--no-kernel`` take), the IR ops it runs, the pass that chooses it, its firmware sources and headers, its
lowering in the C backend, its cost model and code-size figure, whether it can run by bands of output rows (and so
be fused with a residual ADD), its weight encoding and the cores it is not chosen on. The passes
(:data:`edgesdk.passes.BUILTIN_PASS_MODULES`, the known kernel names), the C backend (the lowering of each
``(op, kernel)``, the sources it copies), the export (kernels a core does not get) and the kernel tests all read
it; ``edgesdk kernels`` prints it.

Adding a kernel is one row here (in the order its pass runs: the pipeline runs the passes in the order their
first row names them), its C under ``firmware/kernels/`` (or a template), its lowering function, and its test
cases in ``tests/kerneltable.py``; a row without cases fails ``tests/test_kernel_table.py``.

The core data sit here too: :data:`CORE_TARGETS` names the folder of ``firmware/kernels/`` whose files override the
portable kernels on a core (chosen by the instruction set, never by a board's name).

This module is data only: it imports nothing of the passes or the backends (they import it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The name reports and ``--kernel`` use for an op's default int8 kernel (``node.attrs["kernel"]`` unset or "").
DENSE = "dense"

#: Folder of ``firmware/kernels/`` whose kernels override the portable ones on a core. Cores with the Armv7E-M /
#: Armv8-M DSP extension (SXTB16, SMLAD, ...) run ``cortex-m-dsp/``; cores without SIMD (M0, M0+, M3, RV32IMC)
#: ``scalar/`` (several output channels per input load); any other core (the host) runs the portable kernels. A
#: kernel a folder lacks is the portable one.
#: (A plain dict: ``edgesdk.boards.CORE_KERNEL_TARGETS`` is this object, and benchmarks that measure the portable
#: kernels on a core take its entry out for a run.)
CORE_TARGETS: dict[str, str] = {
    "cortex-m0": "scalar",
    "cortex-m0plus": "scalar",
    "cortex-m3": "scalar",
    "rv32imc": "scalar",
    "cortex-m4": "cortex-m-dsp",
    "cortex-m7": "cortex-m-dsp",
    "cortex-m33": "cortex-m-dsp",
    "cortex-m35p": "cortex-m-dsp",
    "cortex-m55": "cortex-m-dsp",
}


@dataclass(frozen=True)
class Kernel:
    """One kernel of the C backend (see the module docstring)."""

    name: str
    ops: tuple[str, ...]
    #: What is stored in flash for the layer's weights.
    encoding: str
    #: Module under ``edgesdk.passes`` whose pass chooses the kernel (None: the op itself is the kernel).
    chosen_by: str | None = None
    #: ``op -> "module:function"`` under ``edgesdk.backends.c`` (empty: the op's default lowering).
    lower: Mapping[str, str] = field(default_factory=dict)
    #: C sources under ``firmware/kernels/`` a layer with this kernel compiles (per op where they differ:
    #: ``op_sources``; kernels generated per layer from a template list none).
    sources: tuple[str, ...] = ()
    op_sources: Mapping[str, str] = field(default_factory=dict)
    #: Headers under ``firmware/kernels/`` (every project gets all of them: ``edgesdk_kernels.h`` includes them).
    headers: tuple[str, ...] = ()
    #: ``"module:attribute"`` of the instruction (cost) model the choosing pass estimates with.
    cost: str = ""
    #: Code bytes (Cortex-M4, -O2, measured with arm-none-eabi-nm) of the kernel's shared functions, per op;
    #: ``code_per_layer``: bytes per layer for kernels instantiated per layer.
    code_bytes: Mapping[str, int] = field(default_factory=dict)
    code_per_layer: int = 0
    #: Whether the kernel computes a convolution by bands of output rows (a residual ADD can be fused into it).
    bands: bool = False
    #: Cores whose measurements say the kernel is slower than the cost model claims: not chosen there unless a
    #: layer forces it.
    slower_on: tuple[str, ...] = ()
    #: Other names ``--kernel`` accepts for it.
    aliases: tuple[str, ...] = ()
    #: The kernel's names in ``node.attrs["kernel"]`` (default: ``name``; the dense kernel also ``""``).
    attrs: tuple[str, ...] = ()

    @property
    def attr_values(self) -> tuple[str, ...]:
        return self.attrs or (self.name,)

    @property
    def all_sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.sources, *self.op_sources.values())))

    def to_dict(self) -> dict[str, Any]:
        """The row as ``edgesdk kernels --json`` prints it."""
        return {
            "name": self.name,
            "ops": list(self.ops),
            "cores": cores_of(self),
            "encoding": self.encoding,
            "chosen_by": self.chosen_by,
            "sources": list(self.all_sources),
            "headers": list(self.headers),
            "targets": targets_of(self),
            "bands": self.bands,
            "cost": self.cost,
            "aliases": list(self.aliases),
        }


_CONV, _DW, _FC = "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"
_PACKED = ("ed_compressed.h",)

#: Every kernel, in the order the passes that choose them run.
KERNELS: tuple[Kernel, ...] = (
    Kernel(
        DENSE,
        (
            _CONV,
            _DW,
            _FC,
            "AVERAGE_POOL_2D",
            "MAX_POOL_2D",
            "ADD",
            "MUL",
            "SOFTMAX",
            "LOGISTIC",
            "PAD",
            "CONCATENATION",
            "MEAN",
            "RESHAPE",
            "QUANTIZE",
        ),  # fmt: skip
        "int8",
        op_sources={
            _CONV: "ed_conv.c",
            _DW: "ed_dwconv.c",
            _FC: "ed_fc.c",
            "AVERAGE_POOL_2D": "ed_pool.c",
            "MAX_POOL_2D": "ed_pool.c",
            "ADD": "ed_elementwise.c",
            "MUL": "ed_elementwise.c",
            "SOFTMAX": "ed_softmax.c",
            "LOGISTIC": "ed_logistic.c",
            "PAD": "ed_misc.c",
            "CONCATENATION": "ed_misc.c",
            "MEAN": "ed_misc.c",
            "RESHAPE": "ed_misc.c",
            "QUANTIZE": "ed_quant.c",
        },  # fmt: skip
        headers=("edgesdk_kernels.h", "ed_fixedpoint.h", "ed_simd.h"),
        cost="edgesdk.passes._select:dense_conv_candidate",
        code_bytes={
            _CONV: 1818,  # ed_conv_s8 itself (its body's border path is specialize.CONV_BODY_CODE)
            _DW: 2966,  # ed_dwconv_s8, ed_dw_pixel, ed_dw3x3_run4, ed_dw_requant
            _FC: 700,
            "ADD": 1306,  # ed_add_s8, ed_add_one, ed_binary_general
            "MUL": 1306,
            "AVERAGE_POOL_2D": 604,
            "MAX_POOL_2D": 604,
            "SOFTMAX": 1224,
            "RESHAPE": 20,
        },
        bands=True,
        aliases=("direct",),
        attrs=("", DENSE),
    ),
    Kernel(
        "ternary",
        (_FC, _CONV),
        "ternary bit-planes",
        "packed_weights",
        lower={_FC: "packed:lower_fc_ternary", _CONV: "packed:lower_conv_ternary"},
        sources=("ed_packed.c",),
        headers=_PACKED,
        cost="edgesdk.passes.packed_weights:estimate",
    ),  # fmt: skip
    Kernel(
        "binary",
        (_FC, _CONV),
        "binary bit-plane",
        "packed_weights",
        lower={_FC: "packed:lower_fc_binary", _CONV: "packed:lower_conv_binary"},
        sources=("ed_packed.c",),
        headers=_PACKED,
        cost="edgesdk.passes.packed_weights:estimate",
    ),  # fmt: skip
    Kernel(
        "pattern",
        (_CONV,),
        "pattern ids + taps",
        "pattern",
        lower={_CONV: "compressed:lower_conv_pattern"},
        headers=_PACKED,
        cost="edgesdk.passes._select:estimate",
    ),  # fmt: skip
    Kernel(
        "sparse",
        (_FC, _CONV),
        "sparse (relative indices, int8 values)",
        "sparse",
        lower={_FC: "compressed:lower_fc_sparse", _CONV: "compressed:lower_conv_sparse"},
        sources=("ed_sparse.c",),
        headers=_PACKED,
        cost="edgesdk.passes._select:estimate",
    ),  # fmt: skip
    Kernel(
        "sparse_codebook",
        (_FC,),
        "sparse (relative indices, codebook codes)",
        "sparse",
        lower={_FC: "compressed:lower_fc_sparse_codebook"},
        sources=("ed_sparse.c",),
        headers=_PACKED,
        cost="edgesdk.passes._select:estimate",
    ),  # fmt: skip
    Kernel(
        "codebook",
        (_FC, _CONV),
        "codebook (b-bit codes per output channel)",
        "codebook",
        lower={_FC: "compressed:lower_fc_codebook", _CONV: "compressed:lower_conv_codebook"},
        sources=("ed_codebook.c",),
        headers=_PACKED,
        cost="edgesdk.passes._select:estimate",
    ),  # fmt: skip
    Kernel(
        "shift",
        (_DW,),
        "one tap + lookup table per channel",
        "shift",
        lower={_DW: "shift:lower_shift"},
        sources=("ed_shift.c",),
        cost="edgesdk.passes.shift:shift_costs",
    ),  # fmt: skip
    Kernel(
        "adder",
        ("EDGESDK_ADDER_CONV_2D",),
        "int16 (L1 distances)",
        "adder",
        lower={"EDGESDK_ADDER_CONV_2D": "adder:lower_adder"},
        sources=("ed_adder.c",),
        cost="edgesdk.passes.adder:AdderPass",
        attrs=("adder", ""),
    ),  # fmt: skip
    Kernel(
        "winograd",
        (_CONV,),
        "int16 (transformed 4x4 per filter)",
        "winograd",
        lower={_CONV: "winograd:lower_winograd"},
        sources=("ed_winograd.c",),
        cost="edgesdk.passes.winograd:estimate",
        code_bytes={_CONV: 3968},  # ed_winograd_s8 + ed_wino_output
        bands=True,
        slower_on=("cortex-m0", "cortex-m0plus", "rv32imc"),
    ),  # fmt: skip
    Kernel(
        "w16",
        (_FC,),
        "int16",
        "fc_weights16",
        lower={_FC: "fc_w16:lower_fc_w16"},
        sources=("ed_fc_w16.c",),
        headers=("ed_fc_w16_body.h",),
        cost="edgesdk.passes.fc_weights16:estimate",
        code_bytes={_FC: 100},  # instantiated per layer (mostly inside <model>_invoke)
    ),  # fmt: skip
    Kernel(
        "pointwise_w16",
        (_CONV,),
        "int16",
        "pointwise",
        lower={_CONV: "fc_w16:lower_pointwise_w16"},
        headers=("ed_fc_w16_body.h",),
        cost="edgesdk.passes.pointwise:estimate",
        code_per_layer=280,
        bands=True,
        slower_on=("cortex-m55",),
    ),  # fmt: skip
    Kernel(
        "im2col_w16",
        (_CONV,),
        "int16",
        "im2col",
        lower={_CONV: "fc_w16:lower_im2col_w16"},
        headers=("ed_im2col.h",),
        cost="edgesdk.passes.im2col:estimate",
        code_per_layer=280,
    ),  # fmt: skip
    Kernel(
        "specialized",
        (_CONV,),
        "int8",
        "specialize",
        lower={_CONV: "specialize:lower_specialized"},
        headers=("ed_conv_dsp.h",),
        cost="edgesdk.passes.specialize:specialized_instructions",
        bands=True,
    ),  # fmt: skip
    Kernel(
        "specialized16",
        (_CONV,),
        "int8 + int16 copy",
        "specialize",
        lower={_CONV: "specialize:lower_specialized"},
        headers=("ed_conv_dsp.h",),
        cost="edgesdk.passes.specialize:specialized16_instructions",
        bands=True,
    ),  # fmt: skip
    Kernel(
        "decoded",
        (_CONV, _FC),
        "compressed, decoded to RAM per call",
        "decoded",
        lower={_CONV: "decoded:lower_decoded", _FC: "decoded:lower_decoded"},
        sources=("ed_decode.c",),
        cost="edgesdk.passes.decoded:decode_instructions",
    ),  # fmt: skip
    Kernel(
        "conv_fused",
        ("ADD",),
        "int8 (the convolution's)",
        "conv_add_fuse",
        lower={"ADD": "conv_add:lower_conv_add"},
        cost="edgesdk.passes.conv_add_fuse:INSN_PER_BAND",
    ),  # fmt: skip
    Kernel(
        "winograd_dw",
        (_DW,),
        "int16 (transformed 4x4 per channel)",
        "winograd_dw",
        lower={_DW: "winograd_dw:lower_winograd_dw"},
        sources=("ed_winograd_dw.c",),
        cost="edgesdk.passes.winograd_dw:estimate",
    ),  # fmt: skip
    Kernel(
        "inplace",
        (_DW,),
        "int8",
        "dw_inplace",
        lower={_DW: "dw_inplace:lower_dw_inplace"},
        sources=("ed_dwconv_inplace.c",),
        cost="edgesdk.passes.dw_inplace:estimate",
    ),  # fmt: skip
    Kernel(
        "xnor",
        ("EDGESDK_BINARIZE", "EDGESDK_XNOR_FULLY_CONNECTED", "EDGESDK_XNOR_CONV_2D", "EDGESDK_UNPACK_BITS"),
        "binary bits (32 per word) + integer thresholds",
        lower={
            "EDGESDK_BINARIZE": "xnor:lower_binarize",
            "EDGESDK_XNOR_FULLY_CONNECTED": "xnor:lower_xnor_fc",
            "EDGESDK_XNOR_CONV_2D": "xnor:lower_xnor_conv",
            "EDGESDK_UNPACK_BITS": "xnor:lower_unpack",
        },
        sources=("ed_xnor.c",),
        attrs=("",),
    ),  # fmt: skip
)


def by_name() -> dict[str, Kernel]:
    """Rows by name."""
    return {k.name: k for k in KERNELS}


def get(name: str) -> Kernel:
    """The row named ``name`` (or one of its aliases); KeyError if none."""
    for k in KERNELS:
        if name == k.name or name in k.aliases:
            return k
    raise KeyError(name)


def find(op: str, attr: str) -> Kernel | None:
    """The row that runs ``op`` when ``node.attrs["kernel"] == attr`` (None: no such kernel)."""
    for k in KERNELS:
        if op in k.ops and attr in k.attr_values:
            return k
    return None


def selectable_names() -> list[str]:
    """Every name ``--kernel``/``--no-kernel`` accept, sorted: the kernels a pass chooses, the dense one and the
    aliases."""
    names = {DENSE}
    for k in KERNELS:
        if k.chosen_by:
            names.add(k.name)
            names.update(k.aliases)
    names.update(get(DENSE).aliases)
    return sorted(names)


def pass_modules() -> list[str]:
    """The modules under ``edgesdk.passes`` that choose kernels, in the order their passes run."""
    return list(dict.fromkeys(k.chosen_by for k in KERNELS if k.chosen_by))


def op_sources() -> dict[str, str]:
    """op -> the C source of its default (dense) kernel."""
    return dict(get(DENSE).op_sources)


def headers() -> tuple[str, ...]:
    """Headers every generated project gets (the rows' headers in table order)."""
    return tuple(dict.fromkeys(h for k in KERNELS for h in k.headers))


def names_with_encoding(encoding: str) -> tuple[str, ...]:
    """Kernels whose weight encoding is ``encoding`` (e.g. the int16 kernels, which double a layer's weights)."""
    return tuple(k.name for k in KERNELS if k.encoding == encoding)


def bandable() -> tuple[str, ...]:
    """``node.attrs["kernel"]`` values of the kernels that run a convolution by bands of output rows."""
    return tuple(a for k in KERNELS if k.bands for a in k.attr_values)


def code_bytes() -> dict[tuple[str, str], int]:
    """(op, kernel attr) -> code bytes of the kernel's shared functions ("" for the dense kernel)."""
    return {(op, "" if k.name == DENSE else k.name): n for k in KERNELS for op, n in k.code_bytes.items()}


def per_layer_code() -> dict[str, int]:
    """kernel -> code bytes per layer for kernels instantiated per layer."""
    return {k.name: k.code_per_layer for k in KERNELS if k.code_per_layer}


def slower_kernels() -> dict[str, frozenset[str]]:
    """core -> kernels not chosen on it unless forced (their ``slower_on``)."""
    out: dict[str, set[str]] = {}
    for k in KERNELS:
        for core in k.slower_on:
            out.setdefault(core, set()).add(k.name)
    return {core: frozenset(names) for core, names in out.items()}


def core_target(core: str) -> str | None:
    """The folder under ``firmware/kernels/`` that overrides the portable kernels on ``core`` (None: none)."""
    return CORE_TARGETS.get(core)


def targets_of(kernel: Kernel) -> list[str]:
    """Kernel folders (``firmware/kernels/<target>/``) that hold an override of one of the kernel's sources."""
    from edgesdk.resources import firmware_dir

    base = firmware_dir() / "kernels"
    targets = sorted(set(CORE_TARGETS.values()))
    return [t for t in targets if any((base / t / s).is_file() for s in kernel.all_sources)]


def cores_of(kernel: Kernel) -> list[str]:
    """The cores (of :data:`CORE_TARGETS`, plus ``host``) on which the passes may choose ``kernel``."""
    return [c for c in (*CORE_TARGETS, "host") if c not in kernel.slower_on]


def lowerings() -> dict[tuple[str, str], Callable[..., Any]]:
    """``(op, kernel attr) -> lowering function`` of every row that names one (imports the backend modules)."""
    out: dict[tuple[str, str], Callable[..., Any]] = {}
    for k in KERNELS:
        for op, ref in k.lower.items():
            module, _, attr = ref.partition(":")
            fn = getattr(importlib.import_module(f"edgesdk.backends.c.{module}"), attr)
            for value in k.attr_values:
                out[(op, value)] = fn
    return out


def resolve(ref: str) -> Any:
    """The object a ``"module:attribute"`` reference (a row's ``cost``) names."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
