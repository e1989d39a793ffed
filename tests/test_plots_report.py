"""Plots are real PNGs of sane size, the report names every layer, result files survive faults."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from edgesdk.compiler.planner import Buffer, Plan, lower_bound, place
from edgesdk.profiling.plots import plot_arena_map, plot_layer_latency, plot_memory
from edgesdk.profiling.report import append_result, read_results, write_json, write_report
from edgesdk.util.escape import md_text
from edgesdk.util.progress import progress

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LAYERS = [
    {
        "name": 'conv/1 "x"',
        "op": "CONV_2D",
        "macs": 442_368,
        "weight_bytes": 448,
        "count": 120_000,
        "input_shape": [1, 32, 32, 3],
        "output_shape": [1, 32, 32, 16],
    },
    {"name": "dw_2", "op": "DEPTHWISE_CONV_2D", "macs": 147_456, "weight_bytes": 160, "count": 60_000},
    {"name": "add|3", "op": "ADD", "macs": 0, "weight_bytes": 0, "count": 9_000},
    {"name": "fc_4", "op": "FULLY_CONNECTED", "macs": 160, "weight_bytes": 200, "count": 1_000},
]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def make_plan() -> Plan:
    bufs = [
        Buffer("in", 3072, 0, 0, ["in"]),
        Buffer("c1", 16384, 0, 1, ["c1"]),
        Buffer("d2", 16384, 1, 2, ["d2", "add|3"]),
        Buffer("f4", 10, 3, 3, ["f4"]),
    ]
    arena = place(bufs)
    return Plan(bufs, arena, lower_bound(bufs), {}, {})


def test_plots_are_valid_pngs(tmp_path: Path) -> None:
    lat = plot_layer_latency(LAYERS, tmp_path / "lat.png", "instructions (emulated)", 168_000_000)
    arena = plot_arena_map(make_plan(), tmp_path / "arena.png")
    arena_d = plot_arena_map(make_plan().to_dict(), tmp_path / "arena_d.png")
    mem = plot_memory(100_000, 524_288, 60_000, 131_072, tmp_path / "sub" / "mem.png")
    for p in (lat, arena, arena_d, mem):
        w, h = png_size(p)
        assert 300 <= w <= 3000 and 150 <= h <= 4000, (p, w, h)
    assert arena.read_bytes() == arena_d.read_bytes()  # Plan and its dict draw the same picture


def test_plots_are_deterministic(tmp_path: Path) -> None:
    a = plot_layer_latency([("a", 10), ("b", 20)], tmp_path / "a.png", "cycles")
    b = plot_layer_latency([("a", 10), ("b", 20)], tmp_path / "b.png", "cycles")
    assert a.read_bytes() == b.read_bytes()
    assert b"Software" not in a.read_bytes()


def test_report_mentions_every_layer(tmp_path: Path) -> None:
    plots = {
        "latency": plot_layer_latency(LAYERS, tmp_path / "lat.png", "cycles", 180_000_000),
        "arena": plot_arena_map(make_plan(), tmp_path / "arena.png"),
        "memory": plot_memory(100_000, 524_288, 60_000, 131_072, tmp_path / "mem.png"),
    }
    data = {
        "model": {"name": "tiny", "sha256": "00" * 32},
        "board": {"name": "nucleo-f446re", "clock_hz": 180_000_000, "emulated": False},
        "memory": {"flash_used": 100_000, "flash_total": 524_288, "ram_used": 600_000, "ram_total": 131_072},
        "layers": LAYERS,
        "latency": {
            "runs": 3,
            "unit": "cycles",
            "clock_hz": 180_000_000,
            "min": 190_000,
            "median": 191_000,
            "max": 192_000,
            "mean": 191_000,
            "min_us": 1055.6,
            "median_us": 1061.1,
            "max_us": 1066.7,
            "mean_us": 1061.1,
            "stdev": 1000.0,
            "deterministic": False,
        },
        "arena": make_plan().to_dict(),
        "accuracy": {"inputs": 20, "exact_match_pct": 100.0},
        "energy": {
            "board_model_uj": 120.0,
            "ops_model_uj": 0.2,
            "power_mw": 125.4,
            "power_source": "DS10693",
            "ops_source": "Horowitz 2014",
            "layers": [],
            "notes": ["an estimate"],
        },
    }
    md = write_report(tmp_path, data, plots)
    text = md.read_text()
    for layer in LAYERS:
        assert md_text(layer["name"]) in text  # escaped for Markdown, shown literally
    for section in ("## Memory", "## Latency", "## Layers", "## Arena", "## Accuracy", "## Energy"):
        assert section in text
    assert "| RAM |" in text and "| NO |" in text  # 600 KB does not fit 128 KB
    assert "![" in text and "lat.png" in text
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "conv/1 &quot;x&quot;" in page  # escaped, not raw HTML


def test_write_json_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    write_json(target, {"a": 1})
    with pytest.raises(ValueError):
        write_json(target, {"a": float("nan")})  # refused before anything is written
    with pytest.raises(TypeError):
        write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left


def test_append_result_keeps_earlier_records(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    append_result(path, {"i": 0, "ok": True})
    append_result(path, {"i": 1, "ok": True})
    with pytest.raises(TypeError):
        append_result(path, {"i": 2, "bad": object()})
    assert read_results(path) == [{"i": 0, "ok": True}, {"i": 1, "ok": True}]
    with open(path, "a", encoding="utf-8") as f:  # a crash in the middle of a line
        f.write('{"i": 3, "ok"')
    assert [r["i"] for r in read_results(path)] == [0, 1]


def test_progress_silent_unless_forced(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDGESDK_PROGRESS", raising=False)
    assert list(progress(range(5), desc="x")) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().err == ""
    assert list(progress(range(3), desc="flash", force=True)) == [0, 1, 2]
    err = capsys.readouterr().err
    assert "flash" in err and "3/3" in err
