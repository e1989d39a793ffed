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
  (``edgesdk.compiler.dw_inplace``); its few rows of scratch are a buffer of their own, live at that step only;
- a layer annotated ``kernel = "decoded"`` (``passes/decoded.py``) expands its compressed weights into a scratch
  buffer of its own, live at that step only (``weightformats.node_decode_scratch_bytes``);
- a 1x1 layer annotated with scratch sizes (``attrs[PW_SCRATCH]``, ``passes/pointwise.py``: longer passes of the
  int8 FC kernel over its pixels) gets a scratch buffer live at its step, the largest of its sizes that fits the
  bytes free there once every other buffer is placed (or none): it never raises the arena nor moves a tensor.

An ADD fused with the convolution before it (``attrs["fused_conv"]``, see ``passes/conv_add_fuse.py``) runs the
convolution by bands at the ADD's step: the convolution's output is only the band scratch
(``fused_conv["scratch_bytes"]``), its input stays live to the ADD, and the ADD writes over its residual operand.

Below the whole-tensor bound: a layer whose kernel walks its output in order (annotated by ``passes/overlap.py``
from the kernel table's ``writes_behind``, see :mod:`edgesdk.compiler.overlap`) may write its output over the input it
reads for the last time, the output starting at most ``max_shift`` bytes after the input (usually before it).
Such pairs are placed together, at a fixed distance (the output as far down as the kernel allows, never above the
input's start); chains of them (the output of one is the trailing input of the next) form one group placed as a
unit, each member keeping its own lifetime. Forward-walking kernels make a chain drift downwards by each pair's
gap, so the planner keeps only the overlaps that lower the arena: from all of them, it drops each one whose
removal does not make the arena grow, then adds back any that lowers it (:attr:`Plan.overlaps` lists the kept
ones, with the bytes each saves at its layer).

``lower_bound`` is the maximum over steps of the live bytes of whole buffers (the least any placement of whole
tensors can reach), so ``arena_bytes / lower_bound`` says how good the plan is; overlapping pairs go below it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from edgesdk.compiler import dw_inplace
from edgesdk.compiler import overlap as overlap_decl
from edgesdk.errors import EdgeSDKError
from edgesdk.ir import Add, Graph, Logistic, Mul, Quantize, Reshape
from edgesdk.ir import weightformats as wf

ALIGN = 16
T = TypeVar("T")
#: A 1x1 layer's attribute: the scratch sizes its kernel may take, largest first (``passes/pointwise.py``).
PW_SCRATCH = "pw_scratch"


def pw_scratch_name(node_name: str) -> str:
    """The arena buffer of a 1x1 layer's scratch (``PW_SCRATCH``; live at that layer only)."""
    return f"{node_name}::pw_scratch"


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


@dataclass(frozen=True)
class Overlap:
    """A layer whose output buffer ``y`` may start at most ``max_shift`` bytes after its input buffer ``x``
    (negative: before it) and so share bytes with it (see :mod:`edgesdk.compiler.overlap`)."""

    layer: str
    x: str
    y: str
    max_shift: int

    def to_dict(self, buffers: Sequence[Buffer]) -> dict:
        by = {b.name: b for b in buffers}
        bx, b_y = by[self.x], by[self.y]
        lo, hi = min(bx.offset, b_y.offset), max(bx.offset + bx.size, b_y.offset + b_y.size)
        return {
            "layer": self.layer,
            "input": self.x,
            "output": self.y,
            "shift": b_y.offset - bx.offset,
            "max_shift": self.max_shift,
            "pair_bytes": hi - lo,
            "bytes_saved": bx.size + b_y.size - (hi - lo),
        }


@dataclass
class Plan:
    buffers: list[Buffer]
    arena_bytes: int
    lower_bound: int
    offsets: dict[str, int]  # tensor name -> byte offset in the arena
    aliases: dict[str, str]  # tensor name -> the tensor whose buffer it shares (only for shared ones)
    align: int = ALIGN
    #: The output-over-input overlaps the placement uses (below the whole-tensor bound).
    overlaps: list[Overlap] = field(default_factory=list)

    def check_no_overlap(self) -> None:
        check_no_overlap(self.buffers, self.arena_bytes, self.overlaps)

    def to_dict(self) -> dict:
        return {
            "arena_bytes": self.arena_bytes,
            "lower_bound": self.lower_bound,
            "overlaps": [o.to_dict(self.buffers) for o in self.overlaps],
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


def _groups(
    buffers: Sequence[Buffer], overlaps: Sequence[Overlap], align: int
) -> list[list[tuple[int, int]]]:
    """Buffers tied by overlaps, as groups of (buffer index, offset relative to the group's first member): each
    output as far down from its input as its kernel allows (``max_shift`` rounded down to ``align``), never above
    the input's start."""
    index = {b.name: i for i, b in enumerate(buffers)}
    links: dict[int, list[tuple[int, int]]] = {}
    for o in overlaps:
        ix, iy = index[o.x], index[o.y]
        rel = min(o.max_shift // align * align, 0)
        links.setdefault(ix, []).append((iy, rel))
        links.setdefault(iy, []).append((ix, -rel))
    seen: dict[int, int] = {}
    groups = []
    for i in range(len(buffers)):
        if i in seen:
            continue
        seen[i] = 0
        group, todo = [(i, 0)], [i]
        while todo:
            j = todo.pop()
            for k, rel in links.get(j, []):
                if k not in seen:
                    seen[k] = seen[j] + rel
                    group.append((k, seen[k]))
                    todo.append(k)
                elif seen[k] != seen[j] + rel:
                    raise PlanError(f"buffers {buffers[j].name} and {buffers[k].name} are tied twice")
        groups.append(group)
    return groups


def place(buffers: Sequence[Buffer], align: int = ALIGN, overlaps: Sequence[Overlap] = ()) -> int:
    """Give every buffer an offset (greedy by size, first fit); returns the arena size in bytes.

    Buffers tied by ``overlaps`` are placed as one group at fixed distances (see :func:`_groups`); every group
    goes at the lowest offset where none of its members collides with a placed buffer it is live together with.
    Without overlaps this is first fit of single buffers."""
    for b in buffers:
        if b.size < 0 or b.first > b.last:
            raise PlanError(f"buffer {b.name}: size {b.size}, lifetime {b.first}..{b.last} is invalid")
    groups = _groups(buffers, overlaps, align)
    order = sorted(
        range(len(groups)),
        key=lambda g: (
            -max(buffers[i].size for i, _ in groups[g]),
            min(buffers[i].first for i, _ in groups[g]),
            g,
        ),
    )
    placed: list[Buffer] = []
    arena = 0
    for g in order:
        members = [(buffers[i], rel) for i, rel in groups[g]]
        low = -min(rel for _, rel in members)
        conflicts = [
            (b, rel, [p for p in placed if p.live_with(b) and p.size]) for b, rel in members if b.size
        ]
        candidates = sorted({low} | {
            max(low, _round_up(p.offset + p.size - rel, align)) for _, rel, ps in conflicts for p in ps
        })  # fmt: skip
        for base in candidates:
            if all(
                base + rel + b.size <= p.offset or base + rel >= p.offset + p.size
                for b, rel, ps in conflicts
                for p in ps
            ):
                break
        for b, rel in members:
            b.offset = base + rel
            placed.append(b)
            arena = max(arena, b.offset + b.size)
    return _round_up(arena, align) if arena else 0


def lower_bound(buffers: Iterable[Buffer]) -> int:
    """The maximum, over steps, of the bytes live at that step."""
    buffers = list(buffers)
    if not buffers:
        return 0
    steps = range(min(b.first for b in buffers), max(b.last for b in buffers) + 1)
    return max(sum(b.size for b in buffers if b.first <= s <= b.last) for s in steps)


def check_no_overlap(
    buffers: Sequence[Buffer], arena_bytes: int | None = None, overlaps: Sequence[Overlap] = ()
) -> None:
    """Raise :class:`PlanError` if two buffers live at the same time share bytes (other than an output over its
    input within the distance its kernel allows, ``overlaps``), or one leaves the arena."""
    allowed = {(o.x, o.y): o.max_shift for o in overlaps}
    for i, a in enumerate(buffers):
        if a.offset < 0:
            raise PlanError(f"buffer {a.name} was never placed")
        if arena_bytes is not None and a.offset + a.size > arena_bytes:
            raise PlanError(
                f"buffer {a.name} ends at {a.offset + a.size}, past the arena's {arena_bytes} bytes"
            )
        for b in buffers[i + 1 :]:
            if a.live_with(b) and a.size and b.size and a.overlaps(b):
                if (a.name, b.name) in allowed and b.offset - a.offset <= allowed[(a.name, b.name)]:
                    continue
                if (b.name, a.name) in allowed and a.offset - b.offset <= allowed[(b.name, a.name)]:
                    continue
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


def _chains(graph: Graph) -> list[tuple[int, int, str, int]]:
    """(A's step, the step B runs at, A's output, band buffer bytes) of every band chain (``passes/band_chain.py``):
    A's output exists only as the band buffer, live from A's step to the step B runs at (the ADD's where B is
    fused into one), and A's inputs stay live to that step."""
    steps = {n.name: i for i, n in enumerate(graph.nodes)}
    out = []
    for node in graph.nodes:
        info = node.attrs.get("band_chain") if isinstance(node.attrs, dict) else None
        if not info:
            continue
        a_step = steps.get(info["conv"])
        if a_step is None or graph.nodes[a_step].outputs[0] != node.inputs[0]:
            raise PlanError(
                f"layer {node.name}: chained convolution {info['conv']} does not produce its input"
            )
        run_at = steps[node.attrs.get("fused_into", node.name)]
        out.append((a_step, run_at, node.inputs[0], int(info["scratch_bytes"])))
    return out


def buffer_bytes(graph: Graph, name: str) -> int:
    """Bytes the arena holds for tensor ``name``: its size, or the band scratch of a fused convolution's output
    (or of a chained one's)."""
    for _, _, y, _, scratch in _fused_pairs(graph):
        if y == name:
            return scratch
    for _, _, a, scratch in _chains(graph):
        if a == name:
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

    for a_step, run_at, a, scratch in _chains(graph):
        size[a] = scratch
        last[a] = max(last[a], run_at)
        for name in graph.nodes[a_step].inputs:
            if name and not graph.tensors[name].is_const:
                last[name] = max(last[name], run_at)  # the bands of A read it where B runs

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
    scratch += [  # the largest scratch a 1x1 layer may take (plan fits it, or drops it)
        Buffer(name=pw_scratch_name(node.name), size=node.attrs[PW_SCRATCH][0], first=step, last=step,
               tensors=[pw_scratch_name(node.name)])
        for step, node in enumerate(graph.nodes)
        if node.attrs.get(PW_SCRATCH) and node.attrs.get("kernel") == "pointwise_s8"
        and "fused_into" not in node.attrs and "band_chain" not in node.attrs
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


def overlap_candidates(graph: Graph, buffers: Sequence[Buffer]) -> list[Overlap]:
    """The layers annotated by ``passes/overlap.py`` whose output may trail their input in the same bytes here:
    the input (all of its buffer) is read for the last time at the layer, is neither a graph input nor output,
    and the two are distinct buffers."""
    of = {t: b for b in buffers for t in b.tensors}
    out = []
    for step, node in enumerate(graph.nodes):
        if overlap_decl.ATTR not in node.attrs or "fused_into" in node.attrs or "band_chain" in node.attrs:
            continue
        if not node.inputs or not node.outputs or len(node.outputs) != 1:
            continue
        x, y = node.inputs[0], node.outputs[0]
        bx, b_y = of.get(x), of.get(y)
        if bx is None or b_y is None or bx is b_y or bx.last != step or b_y.first != step:
            continue
        if any(t in graph.inputs or t in graph.outputs for t in bx.tensors):
            continue
        shift = overlap_decl.node_shift(graph, node)
        if shift is not None and shift > -b_y.size:  # -size: wholly before the input, no overlap at all
            out.append(Overlap(layer=node.name, x=bx.name, y=b_y.name, max_shift=shift))
    return out


def keep_lowering(items: Sequence[T], arena_of: Callable[[list[T]], int]) -> tuple[list[T], int]:
    """From all of ``items``, drop each whose removal does not grow ``arena_of`` (in order): the choices of an
    arena-lowering pass or of the planner that pay (each costs instructions). Returns (kept, their arena)."""
    chosen = list(items)
    best = arena_of(chosen)
    for c in items:
        trial = [o for o in chosen if o is not c]
        a = arena_of(trial)
        if a <= best:
            chosen, best = trial, a
    return chosen, best


def choose_overlaps(
    buffers: Sequence[Buffer], candidates: Sequence[Overlap], align: int = ALIGN
) -> list[Overlap]:
    """The overlaps to use: from all of them, drop each whose removal does not grow the arena, then add back each
    that lowers it (see the module docstring). Leaves the buffers placed with the result."""
    chosen, best = keep_lowering(candidates, lambda trial: place(buffers, align, trial))
    for c in candidates:
        if c in chosen:
            continue
        trial = [o for o in candidates if o in chosen or o is c]
        a = place(buffers, align, trial)
        if a < best:
            chosen, best = trial, a
    place(buffers, align, chosen)
    return chosen


def _fit_pw_scratch(
    graph: Graph, placed: Sequence[Buffer], pw: Sequence[Buffer], arena: int, align: int
) -> list[Buffer]:
    """The 1x1 layers' scratch buffers (``PW_SCRATCH``) that fit below ``arena`` beside the ``placed`` buffers, each
    at the lowest offset of the largest of its sizes that fits a gap at its step (the buffers it shares a step with
    left where they are); the others dropped."""
    sizes = {pw_scratch_name(n.name): n.attrs[PW_SCRATCH] for n in graph.nodes if n.attrs.get(PW_SCRATCH)}
    kept: list[Buffer] = []
    for b in pw:
        live = sorted(
            (o.offset, o.offset + o.size) for o in [*placed, *kept] if o.first <= b.last and b.first <= o.last
        )
        gaps, end = [], 0
        for lo, hi in [*live, (arena, arena)]:
            start = _round_up(end, align)
            if lo > start:
                gaps.append((start, lo - start))
            end = max(end, hi)
        fits = [(size, start) for size in sizes[b.name] for start, room in gaps if size <= room]
        if fits:
            b.size, b.offset = max(fits, key=lambda f: (f[0], -f[1]))
            kept.append(b)
    return kept


def plan(graph: Graph, align: int = ALIGN, inplace: bool = True) -> Plan:
    """Plan the arena for ``graph``'s activation tensors."""
    buffers = lifetimes(graph, inplace=inplace)
    pw = [b for b in buffers if b.name.endswith(pw_scratch_name(""))]
    buffers = [b for b in buffers if b not in pw]
    candidates = overlap_candidates(graph, buffers) if inplace else []
    overlaps = choose_overlaps(buffers, candidates, align) if candidates else []
    arena = place(buffers, align, overlaps)
    buffers += _fit_pw_scratch(graph, buffers, pw, arena, align)
    check_no_overlap(buffers, arena, overlaps)
    offsets = {m: b.offset for b in buffers for m in b.tensors}
    aliases = {m: b.name for b in buffers for m in b.tensors if m != b.name}
    return Plan(
        buffers=buffers,
        arena_bytes=arena,
        lower_bound=lower_bound(buffers),
        offsets=offsets,
        aliases=aliases,
        align=align,
        overlaps=overlaps,
    )
