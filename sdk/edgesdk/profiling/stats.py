"""Latency statistics over runs, per-layer shares, and timer counts -> microseconds.

A count is whatever the board's timer counts (``Board.timer_unit``): cycles on a real board (DWT CYCCNT), executed
instructions on the emulator (SysTick under QEMU ``-icount``, see TOOLCHAIN.md). Microseconds are ``count /
clock_hz``; for instructions that assumes one instruction per cycle, and the unit label says so.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def cycles_to_us(count: float, clock_hz: float) -> float:
    """Microseconds that ``count`` cycles take at ``clock_hz``."""
    if clock_hz <= 0:
        raise ValueError(f"clock must be positive, got {clock_hz} Hz")
    return count * 1e6 / clock_hz


def unit_label(timer_unit: str) -> str:
    """How a count is named in reports: ``instructions (emulated)`` or ``cycles``."""
    return "instructions (emulated)" if timer_unit.startswith("instr") else timer_unit


@dataclass(frozen=True)
class LatencySummary:
    """Latency of one inference over ``runs`` runs, in the board's timer unit and in microseconds."""

    runs: int
    unit: str
    clock_hz: int
    min: float
    median: float
    max: float
    mean: float
    stdev: float
    min_us: float
    median_us: float
    max_us: float
    mean_us: float
    deterministic: bool  # every run gave the same count (expected on the emulator with -icount)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_latency(counts: Sequence[float], clock_hz: int, unit: str = "cycles") -> LatencySummary:
    """Min/median/max/mean (and stdev) of per-inference counts; raises ValueError on no runs."""
    values = [float(c) for c in counts]
    if not values:
        raise ValueError("no latency runs to summarize")
    if any(math.isnan(v) or v < 0 for v in values):
        raise ValueError("latency counts must be non-negative numbers")
    lo, med, hi = min(values), statistics.median(values), max(values)
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return LatencySummary(
        runs=len(values),
        unit=unit,
        clock_hz=clock_hz,
        min=lo,
        median=med,
        max=hi,
        mean=mean,
        stdev=sd,
        min_us=cycles_to_us(lo, clock_hz),
        median_us=cycles_to_us(med, clock_hz),
        max_us=cycles_to_us(hi, clock_hz),
        mean_us=cycles_to_us(mean, clock_hz),
        deterministic=lo == hi,
    )


def _pairs(layers: Mapping[str, float] | Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    items = layers.items() if isinstance(layers, Mapping) else layers
    return [(str(n), float(c)) for n, c in items]


@dataclass(frozen=True)
class LayerShare:
    name: str
    count: float
    share: float  # fraction of the per-layer sum, 0..1
    us: float | None


def layer_shares(
    layers: Mapping[str, float] | Iterable[tuple[str, float]], clock_hz: int | None = None
) -> list[LayerShare]:
    """Each layer's count, its share of the per-layer sum and (with a clock) its microseconds, in model order."""
    pairs = _pairs(layers)
    total = sum(c for _, c in pairs)
    return [
        LayerShare(
            name=n,
            count=c,
            share=c / total if total else 0.0,
            us=cycles_to_us(c, clock_hz) if clock_hz else None,
        )
        for n, c in pairs
    ]


@dataclass(frozen=True)
class LayerSumCheck:
    """Per-layer counts against the whole-inference count: the layers' timers leave out the glue between them."""

    layer_sum: float
    total: float
    gap: float  # total - layer_sum (positive: time outside the layers)
    gap_fraction: float  # |gap| / total
    tolerance: float
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        verdict = "within" if self.ok else "outside"
        return (
            f"per-layer sum {self.layer_sum:.0f} vs total {self.total:.0f}: gap {self.gap:+.0f} "
            f"({self.gap_fraction:.2%}), {verdict} the {self.tolerance:.2%} tolerance"
        )


def check_layer_sum(
    layers: Mapping[str, float] | Iterable[tuple[str, float]], total: float, tolerance: float = 0.01
) -> LayerSumCheck:
    """Compare the sum of per-layer counts with the total count; ``ok`` when the gap is within ``tolerance``."""
    s = sum(c for _, c in _pairs(layers))
    gap = float(total) - s
    frac = abs(gap) / total if total else (0.0 if s == 0 else math.inf)
    return LayerSumCheck(
        layer_sum=s, total=float(total), gap=gap, gap_fraction=frac, tolerance=tolerance, ok=frac <= tolerance
    )
