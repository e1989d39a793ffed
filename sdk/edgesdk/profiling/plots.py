"""Pictures for the reports: per-layer latency, the arena map, flash/RAM use.

Drawn with matplotlib's Agg canvas on a bare ``Figure`` (no pyplot, no display, no global state, safe in
threads). Output is deterministic: fixed size and dpi, and no "Software" or date metadata in the PNG, so two
reports of one model give byte-identical pictures.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

log = logging.getLogger(__name__)

DPI = 100
PNG_METADATA = {"Software": None}
_COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974")


def save_figure(fig: Figure, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, format="png", metadata=PNG_METADATA)
    log.debug("wrote %s", path)
    return path


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024 or unit == "MiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} MiB"  # pragma: no cover


def _layer_pairs(layers: Any) -> list[tuple[str, str, float]]:
    """(name, op, count) from a mapping name->count, (name, count) pairs, or dicts with name/op/count."""
    out: list[tuple[str, str, float]] = []
    items = layers.items() if isinstance(layers, Mapping) else layers
    for item in items:
        if isinstance(item, Mapping):
            count = item.get("count", item.get("cycles", item.get("latency", 0)))
            out.append((str(item["name"]), str(item.get("op", "")), float(count or 0)))
        else:
            name, count = item[0], item[1]
            out.append((str(name), "", float(count)))
    return out


def plot_layer_latency(
    layers: Any, path: Path | str, unit: str = "cycles", clock_hz: int | None = None, title: str = ""
) -> Path:
    """Horizontal bars, one per layer in execution order (first on top), labelled with count and share.

    ``unit`` names what was counted ("instructions (emulated)" or "cycles"); with ``clock_hz`` a second axis
    gives microseconds at that clock.
    """
    rows = _layer_pairs(layers)
    n = max(len(rows), 1)
    fig = Figure(figsize=(9, min(2.4 + 0.32 * n, 40)), dpi=DPI, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    names = [f"{name} ({op})" if op else name for name, op, _ in rows]
    counts = [c for _, _, c in rows]
    total = sum(counts) or 1.0
    y = list(range(len(rows)))
    ops = sorted({op for _, op, _ in rows})
    color_of = {op: _COLORS[i % len(_COLORS)] for i, op in enumerate(ops)}
    ax.barh(y, counts, color=[color_of[op] for _, op, _ in rows], height=0.7)
    ax.set_yticks(y, labels=names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    top = max(counts, default=0) or 1.0
    ax.set_xlim(0, top * 1.28)
    for yi, c in zip(y, counts, strict=True):
        ax.text(c + top * 0.01, yi, f"{c:,.0f}  {100 * c / total:.1f}%", va="center", fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    head = title or "Latency per layer"
    sub = f"total {total:,.0f} {unit}"
    if clock_hz:
        sub += f" = {total * 1e6 / clock_hz:,.1f} µs at {clock_hz / 1e6:g} MHz"
        sec = ax.secondary_xaxis(
            "top", functions=(lambda v: v * 1e6 / clock_hz, lambda us: us * clock_hz / 1e6)
        )
        sec.set_xlabel(f"µs at {clock_hz / 1e6:g} MHz")
    fig.suptitle(f"{head}\n{sub}", fontsize=10)
    return save_figure(fig, path)


def _plan_dict(plan: Any) -> dict[str, Any]:
    if isinstance(plan, Mapping):
        return dict(plan)
    return plan.to_dict()


def plot_arena_map(plan: Any, path: Path | str, title: str = "") -> Path:
    """The arena over time: x = execution step, y = byte offset, one rectangle per buffer named by its tensors.

    ``plan`` is an :class:`edgesdk.compiler.planner.Plan` or its ``to_dict()``. A dashed line marks the lower bound (the
    most bytes live at any step), a solid one the arena size, so the gap between them is visible.
    """
    d = _plan_dict(plan)
    buffers = d.get("buffers", [])
    arena = int(d.get("arena_bytes", 0))
    bound = int(d.get("lower_bound", 0))
    last_step = max((int(b["last"]) for b in buffers), default=0)
    fig = Figure(figsize=(10, 6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for i, b in enumerate(sorted(buffers, key=lambda b: (int(b["first"]), int(b["offset"])))):
        x0, x1 = int(b["first"]) - 0.45, int(b["last"]) + 0.45
        y0, h = int(b["offset"]), int(b["size"])
        # Tiny buffers get a minimum drawn height (0.6 % of the arena) so that they stay visible.
        drawn = max(h, 0.006 * arena)
        ax.add_patch(
            Rectangle(
                (x0, y0),
                x1 - x0,
                drawn,
                facecolor=_COLORS[i % len(_COLORS)],
                edgecolor="black",
                lw=0.6,
                alpha=0.8,
            )
        )
        tensors = b.get("tensors") or [b["name"]]
        label = tensors[0] if len(tensors) == 1 else f"{tensors[0]} +{len(tensors) - 1}"
        # Only label rectangles tall enough to hold text (at least 3 % of the arena).
        if arena and h / arena >= 0.03:
            ax.text(
                (x0 + x1) / 2,
                y0 + h / 2,
                f"{label}\n{_human_bytes(h)}",
                ha="center",
                va="center",
                fontsize=6.5,
                clip_on=True,
            )
    ymax = max(arena, bound, 1)
    ax.axhline(arena, color="black", lw=1.2, label=f"arena {_human_bytes(arena)} ({arena:,} B)")
    if bound:
        ratio = f", arena/bound = {arena / bound:.3f}" if bound else ""
        ax.axhline(bound, color="#C44E52", ls="--", lw=1.2, label=f"lower bound {bound:,} B{ratio}")
    ax.set_xlim(-0.6, last_step + 0.6)
    ax.set_ylim(0, ymax * 1.08)
    ax.set_xlabel("execution step (layer index)")
    ax.set_ylabel("byte offset in the arena")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    if last_step < 40:
        ax.set_xticks(range(0, last_step + 1))
    fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    ax.set_title(title or f"Arena map: {len(buffers)} buffers", fontsize=10)
    ax.grid(alpha=0.2)
    return save_figure(fig, path)


def plot_memory(flash_used: int, flash_total: int, ram_used: int, ram_total: int, path: Path | str) -> Path:
    """Two bars, flash and RAM, each the share of the board's memory the model takes (red when it does not fit)."""
    fig = Figure(figsize=(8, 2.6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    rows: Sequence[tuple[str, int, int]] = (("flash", flash_used, flash_total), ("RAM", ram_used, ram_total))
    for y, (_name, used, total) in enumerate(rows):
        frac = used / total if total else 0.0
        color = "#C44E52" if used > total else "#4C72B0"
        ax.barh(y, 100.0, color="#E5E5E5", height=0.55)
        ax.barh(y, min(frac, 1.0) * 100, color=color, height=0.55)
        ax.text(
            101,
            y,
            f"{_human_bytes(used)} of {_human_bytes(total)} ({100 * frac:.1f}%)",
            va="center",
            fontsize=9,
        )
    ax.set_yticks([0, 1], labels=[r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 140)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("% of the board's memory")
    ax.set_title("Memory use on the board", fontsize=10)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    return save_figure(fig, path)
