"""Graph passes: one transform per file, run as named pipelines between reading a model and a backend.

A pass looks at one node at a time: ``match(graph, node)`` says whether it applies, ``transform(graph, node)``
changes the graph (or only annotates the node) and returns whether it did anything. Passes never emit code.
Kernel-selection passes annotate a node with ``node.attrs["kernel"]`` (the variant a backend should run) and
``node.attrs["kernel_report"]`` (a dict: the candidates with their bytes and instructions, and why this one,
built by :func:`edgesdk.passes._report.kernel_report` so that every pass reports the same shape, the plain
int8 kernel always as the candidate ``"dense"``); the export report lists these decisions per layer.

The user can force or forbid a kernel per layer (``force={"conv1": "winograd"}``, ``forbid={"*": {"sparse"}}``);
a kernel pass consults :func:`allowed` before it picks.
"""

from __future__ import annotations

import copy
import fnmatch
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from edgesdk.compiler import kernels as kernel_table
from edgesdk.errors import EdgeSDKError, UnsupportedOpError
from edgesdk.ir import graph as ir

log = logging.getLogger(__name__)


#: Cores whose scalar convolution packs two channels into one 64-bit multiply-accumulate (``passes/_select.py``
#: SCALAR_PACKED_CONV_COST prices it).
SCALAR_PACKED_CORES = ("cortex-m3",)


@dataclass
class PassContext:
    """What every pass of one pipeline run can read: the target and the user's choices."""

    core: str = ""  # the board's core (e.g. "cortex-m4"), "" for the host
    optimize: str = "speed"  # "balanced" (the export's default), "speed" or "size"
    force: dict[str, str] = field(default_factory=dict)  # layer name pattern -> kernel
    forbid: dict[str, set[str]] = field(default_factory=dict)  # layer name pattern -> kernels not to use
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def dsp(self) -> bool:
        """Whether the core runs the Cortex-M DSP kernels (SXTB16/SMLAD), whose costs differ from the portable ones."""
        return "cortex-m-dsp" in kernel_table.kernel_target_chain(kernel_table.CORE_TARGETS.get(self.core))

    @property
    def target(self) -> str | None:
        """The folder of ``firmware/kernels/`` whose kernels the core gets (their weight encodings differ)."""
        return kernel_table.core_target(self.core)

    @property
    def scalar(self) -> bool:
        """Whether the core runs the kernels of cores without SIMD (``firmware/kernels/scalar/``: Cortex-M0/M3,
        RV32IMC), whose int8 convolution and FC cost other instructions per MAC than the portable ones."""
        return "scalar" in kernel_table.kernel_target_chain(kernel_table.CORE_TARGETS.get(self.core))

    @property
    def scalar_packed(self) -> bool:
        """Whether the core's scalar convolution packs two channels into one 64-bit multiply-accumulate (Thumb-2's
        SMLAL: the Cortex-M3; not the M0's Thumb-1 nor RV32IMC), which halves its multiply-accumulates."""
        return self.scalar and self.core in SCALAR_PACKED_CORES

    def forced(self, node: ir.Node) -> str | None:
        for pattern, kernel in self.force.items():
            if fnmatch.fnmatchcase(node.name, pattern):
                return kernel
        return None

    def allowed(self, node: ir.Node, kernel: str) -> bool:
        """Whether ``kernel`` may be chosen for ``node``: not forbidden, and not another kernel forced."""
        forced = self.forced(node)
        if forced is not None:
            return forced == kernel
        for pattern, kernels in self.forbid.items():
            if fnmatch.fnmatchcase(node.name, pattern) and kernel in kernels:
                return False
        return True


class Pass:
    """Base of every pass. Subclasses set ``name`` and implement ``match`` and ``transform``."""

    name = "pass"

    def match(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, graph: ir.Graph, node: ir.Node, ctx: PassContext) -> bool:  # pragma: no cover
        raise NotImplementedError

    def run(self, graph: ir.Graph, ctx: PassContext) -> bool:
        """Apply to every matching node (over a snapshot of the node list); True if anything changed."""
        changed = False
        for node in list(graph.nodes):
            if node in graph.nodes and self.match(graph, node, ctx):
                changed |= bool(self.transform(graph, node, ctx))
        return changed


#: Named pipelines: lists of pass *factories* (classes), instantiated per run. Modules that define passes
#: append to these lists when imported by :func:`_load_builtin_passes`.
PIPELINES: dict[str, list[type[Pass]]] = {"default": [], "none": []}

#: Modules under ``edgesdk.passes`` that define built-in passes (imported lazily, in this order): a read of the
#: kernel table (:func:`edgesdk.compiler.kernels.pass_modules`, the rows' ``chosen_by`` in table order). Among them:
#: ``decoded`` after the int8 kernel choice (compressed layers keep it and decode their weights),
#: ``conv_add_fuse`` after the conv kernel choice (it fuses only convolutions whose kernel runs by bands),
#: ``balanced_copies`` after decoded (balanced keeps only the flash copies that pay per byte; a pass with no
#: kernel of its own: the table's ``[passes_after]``), ``dw_inplace`` last (it asks the planner which in-place
#: depthwise layers lower the fused arena).
BUILTIN_PASS_MODULES: list[str] = kernel_table.pass_modules()
#: The passes of the FPGA road's pipeline ``"hls"`` (``edgesdk synth``), in the order they run: the kernel table's
#: ``fpga_chosen_by`` (the Winograd or direct unit per convolution, the folding of the XNOR units).
HLS_PASS_MODULES: list[str] = kernel_table.fpga_pass_modules()

_loaded = False


def _load_builtin_passes() -> None:
    global _loaded
    if _loaded:
        return
    import importlib

    for mod in (*BUILTIN_PASS_MODULES, *HLS_PASS_MODULES):
        importlib.import_module(f"edgesdk.passes.{mod}")
    # A pass module importing another registers that one first: the built-in passes run in the order of
    # BUILTIN_PASS_MODULES whatever the import order was (other passes keep theirs, after them).
    order = {f"edgesdk.passes.{mod}": i for i, mod in enumerate((*BUILTIN_PASS_MODULES, *HLS_PASS_MODULES))}
    for lst in PIPELINES.values():
        lst.sort(key=lambda cls: order.get(cls.__module__, len(order)))
    _loaded = True


def register(pipeline: str = "default"):
    """Class decorator: append a pass to a named pipeline (created if new)."""

    def deco(cls: type[Pass]) -> type[Pass]:
        lst = PIPELINES.setdefault(pipeline, [])
        if cls not in lst:
            lst.append(cls)
        return cls

    return deco


def run_pipeline(
    graph: ir.Graph, pipeline: str | Iterable[type[Pass]] = "default", ctx: PassContext | None = None
) -> ir.Graph:
    """Run a pipeline on a deep copy of ``graph`` and return the copy (the caller's graph is untouched); on the
    microcontroller road (every pipeline but ``"hls"``, whose units read the IR's weights) every weight layer of the
    copy then carries the encoding of its chosen kernel (:func:`edgesdk.compiler.weight_encoding.encode_graph`)."""
    _load_builtin_passes()
    ctx = ctx or PassContext()
    check_kernel_names(ctx)
    if isinstance(pipeline, str):
        if pipeline not in PIPELINES:
            raise EdgeSDKError(f"unknown pass pipeline {pipeline!r}; known: {', '.join(sorted(PIPELINES))}")
        passes = PIPELINES[pipeline]
    else:
        passes = list(pipeline)
    out = copy.deepcopy(graph)
    for cls in passes:
        p = cls()
        if p.run(out, ctx):
            log.debug("pass %s changed %s", p.name, out.name)
    if pipeline != "hls":
        from edgesdk.compiler.weight_encoding import encode_graph

        encode_graph(out, ctx.target)
    out.validate()
    return out


#: The kernel goals: ``balanced`` (the default) runs int8 layers with the speed kernels and keeps compressed
#: layers compressed unless that costs more than a small share of the model's instructions
#: (``passes/decoded.py``); ``speed`` takes the fewest instructions per layer, ``size`` the fewest bytes.
OPTIMIZE_GOALS = ("balanced", "speed", "size")
#: What ``edgesdk export`` (and the byte figures ``compress`` reports) use when no ``--optimize`` is given.
DEFAULT_OPTIMIZE = "balanced"


def known_kernels() -> list[str]:
    """Every kernel name ``--kernel``/``--no-kernel`` accept, sorted: the kernel table's rows a pass chooses, the
    dense kernel and their aliases (:func:`edgesdk.compiler.kernels.selectable_names`)."""
    return kernel_table.selectable_names()


def check_kernel_names(ctx: PassContext) -> None:
    """Refuse a forced or forbidden kernel no pass knows (a typo such as ``*=ternery`` would otherwise force a
    kernel nothing offers and silently turn every kernel choice off), naming the known ones. A road with units of
    its own (the FPGA road) names them in ``ctx.options["known_kernels"]`` and itself in ``ctx.options["road"]``:
    a known kernel it has no unit for is refused naming its units."""
    road = set(ctx.options.get("known_kernels") or ())
    known = set(known_kernels()) | road
    given = [(f"--kernel '{p}={k}'", k) for p, k in ctx.force.items()]
    given += [(f"--no-kernel '{p}={k}'", k) for p, ks in ctx.forbid.items() for k in sorted(ks)]
    for flag, kernel in given:
        if kernel not in known:
            raise UnsupportedOpError(
                f"{flag}: unknown kernel {kernel!r}; known kernels: {', '.join(sorted(known))}"
            )
        if road and kernel not in road:
            name = ctx.options.get("road", "this")
            raise UnsupportedOpError(
                f"{flag}: kernel {kernel!r} has no {name} unit; the {name} road has {', '.join(sorted(road))}"
            )


def context_from_options(
    optimize: str = "balanced",
    kernels: Iterable[str] = (),
    no_kernels: Iterable[str] = (),
    core: str = "",
    check: bool = True,
) -> PassContext:
    """A :class:`PassContext` from command-line style options: ``kernels`` as ``"LAYER=KERNEL"`` (force;
    LAYER may be a glob such as ``"*"``), ``no_kernels`` as ``"LAYER=KERNEL"`` (forbid). ``check=False`` leaves
    the kernel names to the caller (the FPGA road checks them against its own units)."""
    if optimize not in OPTIMIZE_GOALS:
        raise EdgeSDKError(f"kernel goal {optimize!r} is not one of {', '.join(OPTIMIZE_GOALS)}")

    def split(item: str, flag: str) -> tuple[str, str]:
        layer, sep, kernel = item.partition("=")
        if not sep or not layer.strip() or not kernel.strip():
            raise EdgeSDKError(f"{flag} {item!r} needs the form LAYER=KERNEL (e.g. {flag} 'fc1=sparse')")
        return layer.strip(), kernel.strip()

    force = dict(split(k, "--kernel") for k in kernels)
    forbid: dict[str, set[str]] = {}
    for item in no_kernels:
        layer, kernel = split(item, "--no-kernel")
        forbid.setdefault(layer, set()).add(kernel)
    ctx = PassContext(core=core, optimize=optimize, force=force, forbid=forbid)
    if check:
        check_kernel_names(ctx)
    return ctx


def kernel_decisions(graph: ir.Graph) -> list[dict[str, Any]]:
    """Per layer, the kernel a pass chose and its report (for the export report)."""
    rows = []
    for node in graph.nodes:
        if "kernel" in node.attrs or "band_chain" in node.attrs:
            row = {"layer": node.name, "op": node.op, "kernel": node.attrs.get("kernel", kernel_table.DENSE)}
            row.update(node.attrs.get("kernel_report", {}))
            rows.append(row)
    return rows
