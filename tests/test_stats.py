"""Latency statistics and per-layer checks, with hand-computed figures."""

from __future__ import annotations

import pytest

from edgesdk.profiling.stats import check_layer_sum, cycles_to_us, layer_shares, summarize_latency, unit_label


def test_cycles_to_us() -> None:
    assert cycles_to_us(168_000, 168_000_000) == pytest.approx(1000.0)
    assert cycles_to_us(0, 1) == 0
    with pytest.raises(ValueError):
        cycles_to_us(1, 0)


def test_summary() -> None:
    s = summarize_latency([300, 100, 200, 400], 100_000_000, "cycles")
    assert (s.min, s.median, s.max, s.mean) == (100, 250, 400, 250)
    assert (
        s.min_us == pytest.approx(1.0)
        and s.max_us == pytest.approx(4.0)
        and s.median_us == pytest.approx(2.5)
    )
    assert s.runs == 4 and not s.deterministic
    assert s.stdev == pytest.approx(129.0994, rel=1e-5)
    one = summarize_latency([5, 5, 5], 1_000_000, "instructions (emulated)")
    assert one.deterministic and one.stdev == 0
    assert one.to_dict()["unit"] == "instructions (emulated)"
    with pytest.raises(ValueError):
        summarize_latency([], 1)


def test_shares() -> None:
    shares = layer_shares({"a": 25, "b": 75}, clock_hz=1_000_000)
    assert [x.name for x in shares] == ["a", "b"]
    assert shares[0].share == pytest.approx(0.25) and shares[1].us == pytest.approx(75.0)
    assert layer_shares([("z", 0)])[0].share == 0.0


def test_layer_sum_check() -> None:
    ok = check_layer_sum([("a", 495), ("b", 500)], 1000)
    assert ok.gap == 5 and ok.gap_fraction == pytest.approx(0.005) and ok.ok
    bad = check_layer_sum({"a": 900}, 1000, tolerance=0.01)
    assert not bad.ok and bad.gap == 100
    assert "outside the 1.00% tolerance" in bad.describe()
    over = check_layer_sum({"a": 1005}, 1000)
    assert over.gap == -5 and over.ok


def test_unit_label() -> None:
    assert unit_label("instructions") == "instructions (emulated)"
    assert unit_label("cycles") == "cycles"
