"""The speed suite's pieces that need no emulator: the KWS DS-CNN replica has MLPerf Tiny's shapes, ops and MAC
count once through the real TFLite converter, and the results writer merges a partial re-run into the existing
table instead of erasing the other rows."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str) -> ModuleType:
    key = f"_edgesdk_bench_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[key] = mod
    spec.loader.exec_module(mod)
    return mod


def test_kws_replica_shapes_and_macs(tmp_path: Path) -> None:
    from edgesdk.commands.inspection import summarize
    from edgesdk.frontends.tflite import read_tflite

    replicas = _load("mlperf_replicas")
    path = replicas.replica_path("kws", cache=tmp_path)
    g = read_tflite(path)
    assert g.tensors[g.inputs[0]].shape == (1, 49, 10, 1)
    assert g.tensors[g.outputs[0]].shape == (1, 12)
    ops = [n.op for n in g.nodes]
    assert ops == ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 4 + [
        "AVERAGE_POOL_2D",
        "FULLY_CONNECTED",
        "SOFTMAX",
    ]
    # every feature map between the first convolution and the pool is 25x5x64 (10x4 stride-2 SAME on 49x10)
    for n in g.nodes[:9]:
        assert g.tensors[n.outputs[0]].shape == (1, 25, 5, 64), n.name
    assert all(g.tensors[n.inputs[1]].dtype == "int8" for n in g.nodes if n.op != "AVERAGE_POOL_2D" and
               n.op != "SOFTMAX")  # fmt: skip
    # MACs from the architecture: first conv, four (depthwise 3x3 + pointwise 64) blocks, dense 12
    pixels = 25 * 5
    want = pixels * 64 * 10 * 4 + 4 * (pixels * 64 * 9 + pixels * 64 * 64) + 64 * 12
    assert summarize(g)["totals"]["macs"] == want == 2_656_768
    assert abs(want - replicas.PUBLISHED_MACS["kws"]) / replicas.PUBLISHED_MACS["kws"] < 0.03
    # the cache hands back the same file, and a second build from scratch is byte-identical (seeded)
    assert replicas.replica_path("kws", cache=tmp_path) == path
    again = replicas.replica_path("kws", cache=tmp_path / "again")
    assert again.read_bytes() == path.read_bytes()


def _variant(instructions: int, by_op: dict[str, int]) -> dict[str, Any]:
    return {
        "instructions": instructions,
        "by_op": by_op,
        "layers": {},
        "arena_bytes": 1024,
        "arena_lower_bound": 1000,
        "kernel_code_bytes": 2048,
        "flash_bytes": 40_000,
        "bit_exact": 3,
        "validated": 3,
        "winograd_layers": 0,
    }


def _row(speed: Any, key: str, board: str, after: int) -> dict[str, Any]:
    m = {s.key: s for s in speed.MLPERF}.get(key) or speed.SuiteModel(key, key.replace("_", " "), "digits")
    raw = {
        "model": key,
        "board": board,
        "core": "cortex-m4",
        "kernels": "cortex-m-dsp",
        "macs": 1_000_000,
        "ops": ["CONV_2D", "FULLY_CONNECTED"],
        "before": _variant(4 * after, {"CONV_2D": 3 * after, "FULLY_CONNECTED": after}),
        "size": _variant(2 * after, {"CONV_2D": after + after // 2, "FULLY_CONNECTED": after // 2}),
        "after": _variant(after, {"CONV_2D": after - 100, "FULLY_CONNECTED": 100}),
        "seconds": 1.0,
    }
    return speed.finish_row(raw, m)


def test_partial_rerun_merges_into_results(tmp_path: Path) -> None:
    speed = _load("speed")
    order = ["ic", "ad", "kws", "vww", "digits_mlp_int8", "digits_mlp_ternary"]
    after = {k: 1_000_000 + i for i, k in enumerate(order)} | {"digits_mlp_ternary": 2_000_008}
    first = [_row(speed, k, b, after[k]) for k in order for b in speed.BOARDS]
    speed.write_results(first, {"models_run": order, "boards": list(speed.BOARDS), "seconds": 1}, tmp_path)
    old = speed.load_results(tmp_path / "speed.json")
    assert len(old) == 12
    # re-run of kws on one board only, plus a stale row of a model no longer in the suite
    rerun = [_row(speed, "kws", "mps2-an500", 500_000)]
    stale = dict(old[0], model="retired_model")
    rows = speed.merge([*old, stale], rerun, order)
    assert len(rows) == 12
    assert [(r["model"], r["board"]) for r in rows] == [(k, b) for k in order for b in speed.BOARDS]
    kws = {r["board"]: r for r in rows if r["model"] == "kws"}
    assert kws["mps2-an500"]["after"]["instructions"] == 500_000
    assert kws["mps2-an386"]["after"]["instructions"] == 1_000_002  # kept from the first run
    assert kws["mps2-an500"]["speedup"] == 4.0
    assert kws["mps2-an500"]["after_over_goal"] == round(500_000 / 3_887_100, 3)
    speed.write_results(rows, {"models_run": ["kws"], "boards": ["mps2-an500"], "seconds": 1}, tmp_path)
    md = (tmp_path / "speed.md").read_text()
    assert md.count("| IC ResNet-8 |") == 2 and md.count("| KWS DS-CNN (replica) |") == 2
    assert "0.129x (3.887 M)" in md  # kws on the M7 against the goal column
    ternary = [line for line in md.splitlines() if line.startswith("| digits mlp ternary |")]
    assert len(ternary) == 2 and all("| 4.0x | 0.500x |" in line for line in ternary)  # before/after; vs int8
    assert (tmp_path / "speed.png").stat().st_size > 10_000
    assert len(json.loads((tmp_path / "speed.json").read_text())["rows"]) == 12
    # an older list-shaped speed.json (other model keys) counts as empty rather than failing
    (tmp_path / "old.json").write_text(json.dumps([{"model": "pretrainedResnet_quant"}]))
    assert speed.load_results(tmp_path / "old.json") == []


def test_model_selection() -> None:
    speed = _load("speed")
    models = [*speed.MLPERF, speed.SuiteModel("digits_cnn_int8", "d", "digits")]
    assert [m.key for m in speed.select(["kws", "digits"], models)] == ["kws", "digits_cnn_int8"]
    assert [m.key for m in speed.select(["digits_*_int8", "mlperf"], models)][-1] == "digits_cnn_int8"
    assert len(speed.select(None, models)) == 5
    with pytest.raises(SystemExit, match="nosuch"):
        speed.select(["nosuch"], models)


def test_default_export_rows_and_macs_per_op(tmp_path: Path) -> None:
    """A row with the default export (balanced) gets its table beside TFLM + CMSIS-NN's image and arena, and MACs
    per instruction per op type for every kernel set (a fused CONV_2D+ADD counted with CONV_2D)."""
    speed = _load("speed")
    row = _row(speed, "ic", "mps2-an386", 1_000_000)
    raw = {k: v for k, v in row.items() if not k.startswith(("after_over", "default_"))}
    raw["default"] = _variant(
        800_000, {"CONV_2D": 600_000, "CONV_2D+ADD": 100_000, "FULLY_CONNECTED": 100_000}
    )
    raw["macs_by_op"] = {"CONV_2D": 700_000, "FULLY_CONNECTED": 50_000}
    row = speed.finish_row(raw, {m.key: m for m in speed.MLPERF}["ic"])
    assert row["default_over_tflm_cmsis_nn"] == round(800_000 / 29_860_000, 3)
    assert speed.op_macs_per_instruction(row, "default") == {"CONV_2D": 1.0, "FULLY_CONNECTED": 0.5}
    speed.write_results([row], {"models_run": ["ic"], "boards": ["mps2-an386"], "seconds": 1}, tmp_path)
    md = (tmp_path / "speed.md").read_text()
    line = next(li for li in md.splitlines() if li.startswith("| IC ResNet-8 | mps2-an386 | 800,000 |"))
    assert "| 40,000 | 200,492 |" in line and "| 54,996 |" in line
    assert "CONV_2D 0.233 -> 0.467 -> 1.0 -> 0.7" in md  # before, size, default, speed (1 M MACs in total)
