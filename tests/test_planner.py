"""Planner: hand-built lifetimes, the no-overlap check, in-place sharing, and the arena against its lower bound."""

from __future__ import annotations

import numpy as np
import pytest

from edgesdk.compiler.planner import Buffer, PlanError, check_no_overlap, lower_bound, place, plan
from edgesdk.ir import Add, Conv2D, Graph, QuantParams, Reshape, Tensor


def _bufs(spec: list[tuple[int, int, int]]) -> list[Buffer]:
    return [Buffer(name=f"t{i}", size=s, first=a, last=b) for i, (s, a, b) in enumerate(spec)]


def test_chain_reuses_memory() -> None:
    # a -> b -> c -> d : only neighbours are live together
    bufs = _bufs([(100, 0, 1), (200, 1, 2), (100, 2, 3), (50, 3, 3)])
    arena = place(bufs, align=1)
    check_no_overlap(bufs, arena)
    assert lower_bound(bufs) == 300
    assert arena == 300


def test_disjoint_lifetimes_share_offset_zero() -> None:
    bufs = _bufs([(64, 0, 0), (64, 1, 1), (64, 2, 2)])
    assert place(bufs, align=16) == 64
    assert [b.offset for b in bufs] == [0, 0, 0]


def test_all_live_together_stack_up_with_alignment() -> None:
    bufs = _bufs([(10, 0, 5), (20, 0, 5), (30, 0, 5)])
    arena = place(bufs, align=16)
    check_no_overlap(bufs, arena)
    assert arena == 16 + 32 + 32  # 30->0..30, 20->32..52, 10->64..74 -> rounded to 80
    assert all(b.offset % 16 == 0 for b in bufs)


def test_first_fit_uses_a_hole() -> None:
    # big0 [0,1], big1 [0,3]; after big0 dies, small fits in big0's hole.
    bufs = _bufs([(100, 0, 1), (100, 0, 3), (60, 2, 3)])
    arena = place(bufs, align=1)
    check_no_overlap(bufs, arena)
    assert arena == 200


def test_check_no_overlap_catches_a_collision() -> None:
    bufs = _bufs([(100, 0, 2), (100, 1, 3)])
    bufs[0].offset = 0
    bufs[1].offset = 50
    with pytest.raises(PlanError, match="overlap"):
        check_no_overlap(bufs)
    bufs[1].offset = 100
    check_no_overlap(bufs)
    with pytest.raises(PlanError, match="past the arena"):
        check_no_overlap(bufs, arena_bytes=150)


def test_random_lifetimes_never_overlap_and_stay_near_bound() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 20))
        spec = []
        for _ in range(n):
            a = int(rng.integers(0, 15))
            spec.append((int(rng.integers(1, 5000)), a, a + int(rng.integers(0, 5))))
        bufs = _bufs(spec)
        arena = place(bufs, align=16)
        check_no_overlap(bufs, arena)
        assert arena >= lower_bound(bufs)


def _t(g: Graph, name: str, shape: tuple[int, ...], const: bool = False) -> str:
    q = QuantParams(scale=[0.1], zero_point=[0])
    data = np.zeros(shape, np.int8) if const else None
    g.add_tensor(Tensor(name, shape, "int8", q, data))
    return name


def test_graph_plan_aliases_reshape_and_adds_in_place() -> None:
    g = Graph("g")
    x = _t(g, "x", (1, 8, 8, 4))
    w = _t(g, "w", (4, 3, 3, 4), const=True)
    c1 = _t(g, "c1", (1, 8, 8, 4))
    c2 = _t(g, "c2", (1, 8, 8, 4))
    s = _t(g, "s", (1, 8, 8, 4))
    r = _t(g, "r", (1, 256))
    g.inputs, g.outputs = [x], [r]
    g.nodes = [
        Conv2D("conv1", [x, w, ""], [c1]),
        Conv2D("conv2", [c1, w, ""], [c2]),
        Add("add", [c1, c2], [s]),
        Reshape("flat", [s], [r], new_shape=(1, 256)),
    ]
    p = plan(g)
    p.check_no_overlap()
    assert p.offsets["r"] == p.offsets["s"]  # reshape aliases its input
    assert p.offsets["s"] in (p.offsets["c1"], p.offsets["c2"])  # add writes over an input it reads last
    # x,c1 live at step 0; c1,c2 at step 1 (then add in place): two 256-byte blocks
    assert p.lower_bound == 512
    assert p.arena_bytes == 512


def test_no_inplace_when_input_still_needed() -> None:
    g = Graph("g")
    x = _t(g, "x", (1, 16))
    a = _t(g, "a", (1, 16))
    b = _t(g, "b", (1, 16))
    g.inputs, g.outputs = [x], [a, b]
    g.nodes = [Add("add1", [x, x], [a]), Add("add2", [a, x], [b])]
    p = plan(g)
    p.check_no_overlap()
    assert p.offsets["a"] != p.offsets["x"]  # x is read again by add2
    assert p.offsets["b"] != p.offsets["a"]  # a is a graph output, live to the end


@pytest.mark.parametrize("pixels", [1, 13, 24, 36, 47, 144])
def test_pointwise_scratch_never_raises_the_arena(pixels: int) -> None:
    """The 1x1 layers' scratch blocks (``attrs["pw_scratch"]``, passes/pointwise.py) take only bytes free at their
    step: the arena is the one planned without them, every block one of its layer's sizes, none overlapping."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from edgesdk.compiler.planner import PW_SCRATCH, pw_scratch_name
    from edgesdk.passes import PassContext, run_pipeline
    from test_conv_as_fc import pw_chain

    graph = run_pipeline(
        pw_chain("rows", "rows", pixels),
        "default",
        PassContext(core="cortex-m4", force={"pw*": "pointwise_s8"}),
    )
    proposed = {pw_scratch_name(n.name): n.attrs.get(PW_SCRATCH) for n in graph.nodes}
    with_scratch = plan(graph)
    for n in graph.nodes:
        n.attrs.pop(PW_SCRATCH, None)
    without = plan(graph)
    assert with_scratch.arena_bytes == without.arena_bytes
    taken = [b for b in with_scratch.buffers if b.name in proposed]
    assert all(b.size in proposed[b.name] for b in taken)
    assert bool(taken) == (pixels >= 36)
    with_scratch.check_no_overlap()
