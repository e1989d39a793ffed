"""The kernel table: the one place a kernel of the C backend is described.

The table is data, ``firmware/kernels/kernels.toml`` (beside the kernels' C): one ``[[kernel]]`` row per kernel
with its name (what ``node.attrs["kernel"]`` holds and what ``--kernel``/``--no-kernel`` take), the IR ops it
runs, the pass that chooses it, its firmware sources and headers, its lowering in the C backend, its cost model
and code-size figure, whether it can run by bands of output rows (and so be fused with a residual ADD), its weight
encoding and the cores it is not chosen on; and ``[cores]``, the folder of ``firmware/kernels/`` whose files
override the portable kernels on each core. This module reads it into :class:`Kernel` rows. The passes
(:data:`edgesdk.passes.BUILTIN_PASS_MODULES`, the known kernel names), the C backend (the lowering of each
``(op, kernel)``, the sources it copies), the export (kernels a core does not get) and the kernel tests all read
it; ``edgesdk kernels`` prints it.

Adding a kernel is one row in the file (in the order its pass runs: the pipeline runs the passes in the order their
first row names them), its C under ``firmware/kernels/`` (or a template), its lowering function, and its test
cases in ``tests/kerneltable.py``; a row without cases fails ``tests/test_kernel_table.py``.

This module imports nothing of the passes or the backends (they import it).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from edgesdk.errors import EdgeSDKError

#: The name reports and ``--kernel`` use for an op's default int8 kernel (``node.attrs["kernel"]`` unset or "").
DENSE = "dense"


@dataclass(frozen=True)
class Kernel:
    """One kernel of the C backend (see the module docstring)."""

    name: str
    ops: tuple[str, ...]
    #: What is stored in flash for the layer's weights.
    encoding: str
    #: Module under ``edgesdk.passes`` whose pass chooses the kernel (None: the op itself is the kernel).
    chosen_by: str | None = None
    #: Module under ``edgesdk.passes`` whose pass chooses its unit on the FPGA road (pipeline ``"hls"``).
    fpga_chosen_by: str | None = None
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
    #: op -> output pixels per block of a kernel that walks its output in order and, while it writes pixel q,
    #: reads no input below the window of pixel q - N + 1 (``edgesdk.compiler.overlap``); absent: no overlap.
    writes_behind: Mapping[str, int] = field(default_factory=dict)
    #: Kernel folders whose code of this kernel walks otherwise (no overlap on their cores).
    writes_behind_not_in: tuple[str, ...] = ()

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
            "fpga_chosen_by": self.fpga_chosen_by,
            "sources": list(self.all_sources),
            "headers": list(self.headers),
            "targets": targets_of(self),
            "bands": self.bands,
            "cost": self.cost,
            "aliases": list(self.aliases),
        }


def table_path() -> Path:
    """``firmware/kernels/kernels.toml``."""
    from edgesdk.util.resources import firmware_dir

    return firmware_dir() / "kernels" / "kernels.toml"


def _row(item: Any, i: int, where: Path) -> Kernel:
    """One ``[[kernel]]`` of the file as a :class:`Kernel`; a field the table does not know is refused."""
    known = {f.name: f for f in fields(Kernel)}
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise EdgeSDKError(f"kernel table {where}: row {i} has no name")
    unknown = sorted(set(item) - set(known))
    if unknown:
        raise EdgeSDKError(
            f"kernel table {where}: kernel {item['name']!r} has unknown field(s) {', '.join(unknown)}"
        )
    args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in item.items()}
    return Kernel(**args)


def load_table(path: Path | None = None) -> tuple[tuple[Kernel, ...], dict[str, str]]:
    """(the rows, core -> kernel folder) of the kernel table file."""
    where = path or table_path()
    data = tomllib.loads(where.read_text(encoding="utf-8"))
    rows = tuple(_row(item, i, where) for i, item in enumerate(data.get("kernel", [])))
    names = [k.name for k in rows]
    if len(set(names)) != len(names):
        raise EdgeSDKError(f"kernel table {where}: a kernel name is used twice ({', '.join(names)})")
    return rows, dict(data.get("cores", {}))


#: Every kernel, in the order the passes that choose them run; and core -> the folder of ``firmware/kernels/``
#: that overrides the portable kernels on that core. (A plain dict: ``edgesdk.boards.CORE_KERNEL_TARGETS`` is this
#: object, and benchmarks that measure the portable kernels on a core take its entry out for a run.)
KERNELS, CORE_TARGETS = load_table()


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


def fpga_names() -> list[str]:
    """Every name ``--kernel``/``--no-kernel`` accept on the FPGA road (``edgesdk synth``), sorted: the dense
    kernel (the direct units) and the rows a pass of the ``"hls"`` pipeline chooses, with their aliases."""
    rows = [get(DENSE), *(k for k in KERNELS if k.fpga_chosen_by)]
    return sorted({n for k in rows for n in (k.name, *k.aliases)})


def fpga_pass_modules() -> list[str]:
    """The modules under ``edgesdk.passes`` of the FPGA road's pipeline ``"hls"``, in table order."""
    return list(dict.fromkeys(k.fpga_chosen_by for k in KERNELS if k.fpga_chosen_by))


def passes_after(path: Path | None = None) -> dict[str, str]:
    """The table's ``[passes_after]``: pass modules that choose no kernel of their own -> the module each runs
    right after."""
    where = path or table_path()
    data = tomllib.loads(where.read_text(encoding="utf-8")).get("passes_after", {})
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise EdgeSDKError(f"kernel table {where}: [passes_after] must map pass modules to module names")
    return dict(data)


def pass_modules() -> list[str]:
    """The modules under ``edgesdk.passes`` that choose kernels, in the order their passes run (with the
    ``[passes_after]`` ones right after theirs)."""
    order = list(dict.fromkeys(k.chosen_by for k in KERNELS if k.chosen_by))
    for module, after in passes_after().items():
        if after not in order:
            raise EdgeSDKError(
                f"kernel table {table_path()}: [passes_after] {module} follows unknown {after}"
            )
        order.insert(order.index(after) + 1, module)
    return order


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


def writes_behind(op: str, attr: str, target: str | None) -> int | None:
    """Output pixels per block of the kernel that runs ``op`` for ``node.attrs["kernel"] == attr`` on the kernel
    folder ``target`` (its ``writes_behind``), or None where its output may not trail its input."""
    k = find(op, attr)
    if k is None or op not in k.writes_behind:
        return None
    if any(t in k.writes_behind_not_in for t in kernel_target_chain(target)):
        return None
    return int(k.writes_behind[op])


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


#: A kernel folder -> the folder whose kernels it extends (the table's ``[extends]``: Helium cores have the DSP
#: extension too, so ``helium/`` lacks what ``cortex-m-dsp/`` has).
TARGET_BASE: dict[str, str] = dict(tomllib.loads(table_path().read_text(encoding="utf-8")).get("extends", {}))


def kernel_target_chain(target: str | None) -> tuple[str, ...]:
    """The kernel folders a target reads, most specific first (``helium`` -> ``("helium", "cortex-m-dsp")``);
    a kernel none of them has is the portable one."""
    chain: list[str] = []
    while target and target not in chain:
        chain.append(target)
        target = TARGET_BASE.get(target)
    return tuple(chain)


def core_target(core: str) -> str | None:
    """The folder under ``firmware/kernels/`` that overrides the portable kernels on ``core`` (None: none)."""
    return CORE_TARGETS.get(core)


def targets_of(kernel: Kernel) -> list[str]:
    """Kernel folders (``firmware/kernels/<target>/``) that hold an override of one of the kernel's sources."""
    from edgesdk.util.resources import firmware_dir

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
