"""Static arena planner: every activation tensor gets a fixed offset in one arena, planned from lifetimes.

Lifetimes come from the execution order: a tensor is live from the step that produces it (graph inputs from
step 0) to the last step that reads it (graph outputs to the end). Buffers whose lifetimes overlap must not
overlap in memory. Placement is greedy by size, first fit: the largest buffer is placed first at the lowest
offset that does not collide with an already placed buffer it is live together with (the strategy of
tflite-micro's greedy memory planner). Tensors share one buffer where that is legal:

- a RESHAPE output is its input's bytes (same data, new shape): always aliased;
- an elementwise op (ADD, MUL with equal shapes, LOGISTIC, int8 QUANTIZE) may write over an input that it
  reads for the last time and that has the output's size and type: the C kernels read element i before
  writing element i, so this is safe;
- a depthwise conv annotated ``kernel = "inplace"`` may write over the input it reads for the last time
  (``edgesdk.dw_inplace``); its few rows of scratch are a buffer of their own, live at that step only;
- a layer annotated ``kernel = "decoded"`` (``passes/decoded.py``) expands its compressed weights into a scratch
  buffer of its own, live at that step only (``weightformats.node_decode_scratch_bytes``).

An ADD fused with the convolution before it (``attrs["fused_conv"]``, see ``passes/conv_add_fuse.py``) runs the
convolution by bands at the ADD's step: the convolution's output is only the band scratch
(``fused_conv["scratch_bytes"]``), its input stays live to the ADD, and the ADD writes over its residual operand.

``lower_bound`` is the maximum over steps of the live bytes (the least any placement can reach), so
``arena_bytes / lower_bound`` says how good the plan is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from edgesdk import dw_inplace
from edgesdk.errors import EdgeSDKError
from edgesdk.ir import Add, Graph, Logistic, Mul, Quantize, Reshape
from edgesdk.ir import weightformats as wf

ALIGN = 16


@dataclass
class Buffer:
    """One block of the arena: one tensor, or several tensors that share their bytes."""

    name: str
    size: int
    first: int  # first step at which the buffer is live
    last: int  # last step at which it is live (inclusive)
    tensors: list[str] = field(default_factory=list)
    offset: int = -1

    def live_with(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last

    def overlaps(self, other: Buffer) -> bool:
        return self.offset < other.offset + other.size and other.offset < self.offset + self.size


@dataclass
class Plan:
    buffers: list[Buffer]
    arena_bytes: int
    lower_bound: int
    offsets: dict[str, int]  # tensor name -> byte offset in the arena
    aliases: dict[str, str]  # tensor name -> the tensor whose buffer it shares (only for shared ones)
    align: int = ALIGN

    def check_no_overlap(self) -> None:
        check_no_overlap(self.buffers, self.arena_bytes)

    def to_dict(self) -> dict:
        return {
            "arena_bytes": self.arena_bytes,
            "lower_bound": self.lower_bound,
            "buffers": [
                {
                    "name": b.name,
                    "offset": b.offset,
                    "size": b.size,
                    "first": b.first,
                    "last": b.last,
                    "tensors": b.tensors,
                }
                for b in self.buffers
            ],
        }


class PlanError(EdgeSDKError):
    """The arena plan is inconsistent (a planner bug, or hand-built lifetimes that make no sense)."""


def _round_up(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def place(buffers: Sequence[Buffer], align: int = ALIGN) -> int:
    """Give every buffer an offset (greedy by size, first fit); returns the arena size in bytes."""
    for b in buffers:
        if b.size < 0 or b.first > b.last:
            raise PlanError(f"buffer {b.name}: size {b.size}, lifetime {b.first}..{b.last} is invalid")
    order = sorted(range(len(buffers)), key=lambda i: (-buffers[i].size, buffers[i].first, i))
    placed: list[Buffer] = []
    arena = 0
    for i in order:
        b = buffers[i]
        conflicts = sorted((p for p in placed if p.live_with(b)), key=lambda p: p.offset)
        offset = 0
        for p in conflicts:
            if offset + b.size <= p.offset:
                break
            offset = max(offset, _round_up(p.offset + p.size, align))
        b.offset = offset
        placed.append(b)
        arena = max(arena, offset + b.size)
    return _round_up(arena, align) if arena else 0


def lower_bound(buffers: Iterable[Buffer]) -> int:
    """The maximum, over steps, of the bytes live at that step."""
    buffers = list(buffers)
    if not buffers:
        return 0
    steps = range(min(b.first for b in buffers), max(b.last for b in buffers) + 1)
    return max(sum(b.size for b in buffers if b.first <= s <= b.last) for s in steps)


def check_no_overlap(buffers: Sequence[Buffer], arena_bytes: int | None = None) -> None:
    """Raise :class:`PlanError` if two buffers live at the same time share bytes, or one leaves the arena."""
    for i, a in enumerate(buffers):
        if a.offset < 0:
            raise PlanError(f"buffer {a.name} was never placed")
        if arena_bytes is not None and a.offset + a.size > arena_bytes:
            raise PlanError(
                f"buffer {a.name} ends at {a.offset + a.size}, past the arena's {arena_bytes} bytes"
            )
        for b in buffers[i + 1 :]:
            if a.live_with(b) and a.size and b.size and a.overlaps(b):
                raise PlanError(
                    f"buffers {a.name} [{a.offset}, {a.offset + a.size}) and {b.name} "
                    f"[{b.offset}, {b.offset + b.size}) are live together (steps {max(a.first, b.first)}.."
                    f"{min(a.last, b.last)}) and overlap"
                )


def _fused_pairs(graph: Graph) -> list[tuple[int, int, str, str, int]]:
    """(conv step, ADD step, conv output, residual operand, scratch bytes) of every fused conv + ADD."""
    steps = {n.name: i for i, n in enumerate(graph.nodes)}
    pairs = []
    for step, node in enumerate(graph.nodes):
        f = node.attrs.get("fused_conv") if isinstance(node.attrs, dict) else None
        if not f:
            continue
        conv_step = steps.get(f["conv"])
        if conv_step is None or graph.nodes[conv_step].outputs[0] != node.inputs[f["operand"]]:
            raise PlanError(f"layer {node.name}: fused convolution {f['conv']} does not produce its operand")
        y = node.inputs[f["operand"]]
        pairs.append((conv_step, step, y, node.inputs[1 - f["operand"]], int(f["scratch_bytes"])))
    return pairs


def buffer_bytes(graph: Graph, name: str) -> int:
    """Bytes the arena holds for tensor ``name``: its size, or the band scratch of a fused convolution's output."""
    for _, _, y, _, scratch in _fused_pairs(graph):
        if y == name:
            return scratch
    return graph.tensors[name].nbytes


def _may_write_over(graph: Graph, node, inp: str, out: str) -> bool:
    """May ``node`` write its output ``out`` over its input ``inp``?"""
    ti, to = graph.tensors[inp], graph.tensors[out]
    if ti.nbytes != to.nbytes or ti.dtype != to.dtype or ti.shape != to.shape:
        return False
    if isinstance(node, (Add, Mul)):
        shapes = {graph.tensors[n].shape for n in node.inputs if n}
        return len(shapes) == 1
    if isinstance(node, Quantize):
        return ti.dtype == "int8"
    return isinstance(node, Logistic)


def _may_write_over_smaller(graph: Graph, node, inp: str, out: str) -> bool:
    """Ops that may write a smaller (or equal) output over their input: in-place depthwise."""
    return dw_inplace.may_write_over(graph, node, inp)


def lifetimes(graph: Graph, *, alias_reshape: bool = True, inplace: bool = True) -> list[Buffer]:
    """The activation buffers of ``graph`` with their lifetimes (not yet placed).

    ``alias_reshape`` lets a RESHAPE output share its input's buffer; ``inplace`` lets an elementwise op write
    over an input it reads for the last time (see the module docstring).
    """
    n_steps = len(graph.nodes)
    end = max(n_steps - 1, 0)
    tensors = graph.activation_tensors()
    first: dict[str, int] = {t.name: 0 for t in tensors if t.name in graph.inputs}
    last: dict[str, int] = {}
    for step, node in enumerate(graph.nodes):
        for name in node.outputs:
            first.setdefault(name, step)
            last[name] = max(last.get(name, step), step)
        for name in node.inputs:
            if name and not graph.tensors[name].is_const:
                last[name] = max(last.get(name, step), step)
    for name in graph.outputs:
        last[name] = end
    for t in tensors:
        last.setdefault(t.name, first[t.name])
    fused = _fused_pairs(graph)
    size = {t.name: t.nbytes for t in tensors}
    resid_of: dict[int, str] = {}  # ADD step -> the residual it writes over
    for conv_step, add_step, y, resid, scratch in fused:
        size[y] = scratch
        resid_of[add_step] = resid
        for name in graph.nodes[conv_step].inputs:
            if name and not graph.tensors[name].is_const:
                last[name] = max(last[name], add_step)  # the bands read it at the ADD's step

    # Union-find over tensors sharing one buffer.
    root: dict[str, str] = {t.name: t.name for t in tensors}

    def find(name: str) -> str:
        while root[name] != name:
            root[name] = root[root[name]]
            name = root[name]
        return name

    for step, node in enumerate(graph.nodes):
        out = node.outputs[0] if node.outputs else None
        if out is None or len(node.outputs) != 1:
            continue
        if isinstance(node, Reshape):
            if (
                alias_reshape
                and node.inputs
                and node.inputs[0]
                and not graph.tensors[node.inputs[0]].is_const
            ):
                root[find(out)] = find(node.inputs[0])
            continue
        if not inplace:
            continue
        for inp in node.inputs:
            if not inp or graph.tensors[inp].is_const or resid_of.get(step, inp) != inp:
                continue
            r = find(inp)
            members = [n for n in root if find(n) == r]
            if any(m in graph.outputs for m in members):
                continue  # a graph output must survive to the end
            group_last = max(last[m] for m in members)
            if group_last == step and (
                _may_write_over(graph, node, inp, out) or _may_write_over_smaller(graph, node, inp, out)
            ):
                root[find(out)] = r
                break

    groups: dict[str, list[str]] = {}
    for t in tensors:
        groups.setdefault(find(t.name), []).append(t.name)
    scratch = [  # the row buffers of in-place depthwise layers whose output did get their input's bytes
        Buffer(name=dw_inplace.scratch_name(node), size=sched.scratch_bytes, first=step, last=step,
               tensors=[dw_inplace.scratch_name(node)])
        for step, node in enumerate(graph.nodes)
        if node.outputs and node.inputs and dw_inplace.may_write_over(graph, node, node.inputs[0])
        and find(node.outputs[0]) == find(node.inputs[0])
        and (sched := dw_inplace.node_schedule(graph, node)).scratch_bytes
    ]  # fmt: skip
    scratch += [  # the weights a decoded layer expands from flash, in arena bytes free at its step
        Buffer(name=wf.decode_scratch_name(node.name), first=step, last=step, tensors=[wf.decode_scratch_name(node.name)],
               size=wf.node_decode_scratch_bytes(graph.tensors[node.inputs[1]].shape, node.attrs["decoded"]["inner"]))
        for step, node in enumerate(graph.nodes)
        if node.attrs.get("kernel") == "decoded" and "decoded" in node.attrs
    ]  # fmt: skip
    return scratch + [
        Buffer(
            name=r,
            size=max(size[m] for m in members),
            first=min(first[m] for m in members),
            last=max(last[m] for m in members),
            tensors=members,
        )
        for r, members in groups.items()
    ]


def plan(graph: Graph, align: int = ALIGN, inplace: bool = True) -> Plan:
    """Plan the arena for ``graph``'s activation tensors."""
    buffers = lifetimes(graph, inplace=inplace)
    arena = place(buffers, align)
    check_no_overlap(buffers, arena)
    offsets = {m: b.offset for b in buffers for m in b.tensors}
    aliases = {m: b.name for b in buffers for m in b.tensors if m != b.name}
    return Plan(
        buffers=buffers,
        arena_bytes=arena,
        lower_bound=lower_bound(buffers),
        offsets=offsets,
        aliases=aliases,
        align=align,
    )
