"""Outputs that trail their inputs in the same bytes (``edgesdk.overlap``, ``passes/overlap.py``, the planner).

The declared walk of a kernel (``writes_behind`` in the kernel table) gives the largest output-over-input shift;
a replay of that walk checks the formula byte by byte; a chain of layers planned below the whole-tensor bound
runs bit for bit like the reference on the host under ASan/UBSan (the planner's choice and every candidate
overlap at once) and on the emulated Cortex-M4.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesdk import overlap
from edgesdk.passes import PassContext, run_pipeline
from edgesdk.planner import Buffer, Overlap, PlanError, check_no_overlap, place, plan
from hostbuild import generate_and_build, random_inputs, reference_outputs, run_host
from test_c_kernels import _B
from test_dsp_kernels import _conv_node, _dw_node

EMULATED = shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None


def _replay(geo: dict[str, int], block: int, shift: int) -> bool:
    """Walk the output in blocks of ``block`` pixels (every block re-reads all its windows after each write, the
    worst case the declaration allows) with the output ``shift`` bytes after the input; False if a read finds a
    byte the output already wrote."""
    k = 3
    in_bytes = geo["in_h"] * geo["in_w"] * geo["in_c"]
    clobbered = np.zeros(in_bytes + geo["out_h"] * geo["out_w"] * geo["out_c"] + abs(shift) + 1, bool)
    base = abs(shift)  # input at base, output at base + shift

    def reads_ok(p: int) -> bool:
        oy, ox = divmod(p, geo["out_w"])
        for ky in range(k):
            iy = oy * geo["s_h"] - geo["pad_top"] + ky
            if not 0 <= iy < geo["in_h"]:
                continue
            for kx in range(k):
                ix = ox * geo["s_w"] - geo["pad_left"] + kx
                if 0 <= ix < geo["in_w"]:
                    at = base + (iy * geo["in_w"] + ix) * geo["in_c"]
                    if clobbered[at : at + geo["in_c"]].any():
                        return False
        return True

    n = geo["out_h"] * geo["out_w"]
    for start in range(0, n, block):
        pixels = range(start, min(start + block, n))
        for q in pixels:
            if not all(reads_ok(p) for p in pixels):
                return False
            at = base + shift + q * geo["out_c"]
            clobbered[at : at + geo["out_c"]] = True
    return True


@pytest.mark.parametrize(
    ("h", "w", "cin", "cout", "s", "pad", "block"),
    [(6, 5, 8, 16, 1, 1, 1), (6, 5, 8, 16, 1, 1, 2), (7, 7, 3, 8, 2, 0, 2), (5, 9, 16, 4, 1, 1, 2),
     (9, 4, 4, 4, 2, 1, 1), (4, 6, 1, 33, 1, 1, 2)],
)  # fmt: skip
def test_declared_shift_is_safe(h: int, w: int, cin: int, cout: int, s: int, pad: int, block: int) -> None:
    oh, ow = (h + s - 1) // s, (w + s - 1) // s
    geo = dict(
        in_h=h, in_w=w, in_c=cin, out_h=oh, out_w=ow, out_c=cout, s_h=s, s_w=s, pad_top=pad, pad_left=pad
    )
    shift = overlap.max_shift(geo, block)
    assert shift >= -oh * ow * cout
    assert _replay(geo, block, shift)  # safe at the declared shift
    # a block larger than declared is not safe at that shift (so the declaration must say the kernel's block)
    if block == 1 and cin >= cout:
        assert not _replay(geo, 4, shift)


def test_one_by_one_expanding_pair_needs_the_larger_tensor_and_a_pixel() -> None:
    geo = dict(in_h=48, in_w=48, in_c=8, out_h=48, out_w=48, out_c=16, s_h=1, s_w=1, pad_top=0, pad_left=0)
    assert overlap.max_shift(geo, 1) == 8 * (48 * 48 - 1) - 16 * 48 * 48  # lo(last) - end(last)
    x = Buffer("x", 8 * 48 * 48, 0, 1)
    y = Buffer("y", 16 * 48 * 48, 1, 2)
    o = Overlap(layer="pw", x="x", y="y", max_shift=overlap.max_shift(geo, 1))
    arena = place([x, y], 16, [o])
    assert arena == 16 * 48 * 48 + 16  # 36,880 B instead of 55,296 B
    check_no_overlap([x, y], arena, [o])
    with pytest.raises(PlanError):
        check_no_overlap([x, y], arena)  # without the declaration it is an overlap


def _chain(name: str):
    """3x3 conv 4 -> 8 (on the model input), 1x1 8 -> 16, depthwise 3x3, 1x1 16 -> 16, 3x3 stride-2 conv
    16 -> 8, 1x1 8 -> 4: odd sizes, every walk the kernels declare."""
    b = _B(name)
    shape = (1, 11, 9, 4)
    x = b.act("x", shape)
    nodes = []
    cur = x
    for step in (("c", 8, 3, 1), ("c", 16, 1, 1), ("dw",), ("c", 16, 1, 1), ("c", 8, 3, 2), ("c", 4, 1, 1)):
        if step[0] == "dw":
            node, cur, shape = _dw_node(b, f"dw{len(nodes)}", cur, shape, 1, 1, 1, "SAME")
        else:
            node, cur, shape = _conv_node(
                b, f"c{len(nodes)}", cur, shape, step[1], step[2], step[3], 1, "SAME"
            )
        nodes.append(node)
    return b.done([x], [cur], *nodes)


def test_chain_below_the_whole_tensor_bound_is_bit_exact_on_host(tmp_path: Path) -> None:
    graph = run_pipeline(_chain("ovl"), "default", PassContext())
    assert any(overlap.ATTR in n.attrs for n in graph.nodes)
    p = plan(graph)
    p.check_no_overlap()
    assert p.overlaps and p.arena_bytes < p.lower_bound
    # deterministic byte counts: the planner's figures for this chain (portable kernels' declarations)
    assert (p.arena_bytes, p.lower_bound) == (1904, 3168)
    assert p.to_dict()["overlaps"][0]["bytes_saved"] > 0
    xs = random_inputs(11 * 9 * 4, 6, seed=3)
    want = reference_outputs(graph, xs)
    _, exe = generate_and_build(graph, tmp_path / "chosen", sanitize=True, plan=p)
    np.testing.assert_array_equal(run_host(exe, xs, want.shape[1]), want)
    # every candidate overlap at once, each output as far down as its kernel allows
    from edgesdk.planner import lifetimes, lower_bound, overlap_candidates

    buffers = lifetimes(graph)
    cands = overlap_candidates(graph, buffers)
    assert len(cands) >= 4
    arena = place(buffers, 16, cands)
    check_no_overlap(buffers, arena, cands)
    forced = type(p)(
        buffers=buffers, arena_bytes=arena, lower_bound=lower_bound(buffers),
        offsets={m: b.offset for b in buffers for m in b.tensors}, aliases=p.aliases, overlaps=cands,
    )  # fmt: skip
    _, exe = generate_and_build(graph, tmp_path / "all", sanitize=True, plan=forced)
    np.testing.assert_array_equal(run_host(exe, xs, want.shape[1]), want)


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATED, reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_chain_below_the_whole_tensor_bound_on_emulated_cortex_m4(tmp_path: Path) -> None:
    from edgesdk.boards import get_board
    from edgesdk.device import validate
    from edgesdk.export import board_pass_context

    board = get_board("mps2-an386")
    graph = _chain("ovlm4")
    lowered = run_pipeline(graph, "default", board_pass_context(board, None, "balanced"))
    p = plan(lowered)
    assert p.overlaps and p.arena_bytes < p.lower_bound
    summary = validate(graph, board, count=3, out_dir=tmp_path / "v")
    assert summary.count == 3 and summary.exact == 3, summary.to_dict()
