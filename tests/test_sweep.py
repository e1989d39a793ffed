"""``edgesdk sweep`` on a tiny digits MLP: the rate-distortion table, the Pareto plot, resuming, bad grids,
and the same sweep on a local Ray cluster started by the test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import edgesdk.sweep as sw
from edgesdk.cli import main
from edgesdk.errors import CompressError

needs_emulator = pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="QEMU and arm-none-eabi-gcc are needed (scripts/setup.sh installs them)",
)


@pytest.fixture
def mlp(digits_mlp):
    return digits_mlp


def test_grid_parsing_and_bad_grids() -> None:
    points = sw.parse_grid("method=int8|lowrank=8|lowrank=0.9e,int8;epochs=1|2;distill=off")
    assert len(points) == 6
    assert points[4] == {"method": "lowrank=0.9e,int8", "epochs": 1, "distill": False}
    assert len({sw.point_id(p) for p in points}) == 6
    with pytest.raises(CompressError, match=r"unknown key 'ratio' in 'ratio=0.5'; known keys: method"):
        sw.parse_grid("method=int8;ratio=0.5")
    with pytest.raises(CompressError, match="unknown compression method 'foo'"):
        sw.parse_grid("method=int8|foo=3")
    with pytest.raises(CompressError, match="epochs takes integers"):
        sw.parse_grid("method=int8;epochs=two")
    with pytest.raises(CompressError, match="give at least one method"):
        sw.parse_grid("epochs=1")


def test_cli_unknown_grid_key_is_one_sentence(mlp, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path, (x, y), _ = mlp
    np.savez(tmp_path / "train.npz", x=x, y=y)
    code = main(["sweep", str(path), "--data", str(tmp_path / "train.npz"), "--grid", "methods=int8"])
    err = capsys.readouterr().err
    assert code == 9
    assert "unknown key 'methods'" in err and "Traceback" not in err


def test_pareto_front() -> None:
    assert sw.pareto_front([(1, 90), (4, 98), (10, 97), (8, 96), (12, 50)]) == [(4, 98), (10, 97), (12, 50)]


def _check_outputs(out: Path, rows: list[dict]) -> None:
    by = {r["label"]: r for r in rows}
    base, lr = by["int8"], by["lowrank=4 (epochs=1)"]
    assert base["status"] == lr["status"] == "ok"
    # MLP 64-48-32-10: float32 / int8 weight bytes, and the factorized layers' int8 bytes.
    assert base["weight_bytes"] == 64 * 48 + 48 * 32 + 32 * 10 and base["cr"] == pytest.approx(4.0)
    assert lr["weight_bytes"] == 4 * (64 + 48) + 4 * (48 + 32) + 4 * (32 + 10)
    assert lr["instructions"] < base["instructions"] and lr["sr"] > 1.0 and base["sr"] == 1.0
    assert 0 < lr["flash_bytes"] < base["flash_bytes"]  # the built images' text + data
    assert lr["pareto"] and lr["accuracy"] > 0.5
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert '<img src="pareto.png"' in html and "lowrank=4 (epochs=1)" in html
    assert "| lowrank=4 (epochs=1) |" in (out / "table.md").read_text()


@needs_emulator
def test_sweep_local_workers_writes_table_and_plot_and_resumes(
    mlp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, train, val = mlp
    out = tmp_path / "sweep"
    grid = "method=lowrank=4|lowrank=60;epochs=1"
    res = sw.sweep(path, grid, train, val, out=out, workers=2, progress=False)
    _check_outputs(out, res.rows)
    failed = next(r for r in res.rows if r["label"] == "lowrank=60 (epochs=1)")
    assert failed["status"] == "error" and "rank 60 is larger than every layer" in failed["error"]
    lines = (out / "sweep.jsonl").read_text().splitlines()
    assert len(lines) == 3
    # Interrupted while writing a fourth line: a second run skips the finished points, ignores the cut line
    # and runs the failed point again.
    with open(out / "sweep.jsonl", "a") as f:
        f.write(lines[0][: len(lines[0]) // 2])
    calls = []
    real = sw.run_point

    def counting(*args):
        calls.append(args[3])
        return real(*args)

    monkeypatch.setattr(sw, "run_point", counting)
    again = sw.sweep(path, grid, train, val, out=out, workers=1, progress=False)
    assert calls == [{"method": "lowrank=60", "epochs": 1}]
    _check_outputs(out, again.rows)
    last = json.loads((out / "sweep.jsonl").read_text().splitlines()[-1])
    assert last["settings"]["method"] == "lowrank=60" and last["status"] == "error"


@needs_emulator
def test_sweep_on_a_local_ray_cluster(mlp, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    path, train, val = mlp
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        out = tmp_path / "ray"
        res = sw.sweep(path, "method=int8", train, val, out=out, ray="auto", progress=False)
        (row,) = res.rows
        assert row["status"] == "ok" and row["cr"] == pytest.approx(4.0) and row["sr"] == 1.0
        assert row["instructions"] > 0 and row["pareto"] and row["board"] == "mps2-an386"
        assert (out / "pareto.png").is_file() and "| int8 |" in (out / "table.md").read_text()
    finally:
        ray.shutdown()
