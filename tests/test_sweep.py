"""``edgesdk sweep`` on a tiny digits MLP: the rate-distortion table, the Pareto plot, resuming, bad grids,
and the same sweep on a local Ray cluster started by the test."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import edgesdk.commands.sweep as sw
from edgesdk.commands.cli import main
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
def test_sweep_on_a_local_ray_cluster(mlp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    path, (x, y), val = mlp
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        # Relative paths, from a folder that is not the Ray workers' working directory.
        work = tmp_path / "work"
        work.mkdir()
        monkeypatch.chdir(work)
        np.savez("train.npz", x=x, y=y)
        res = sw.sweep(path, "method=int8", "train.npz", val, out="ray", ray="auto", progress=False)
        out = work / "ray"
        assert res.out_dir == out
        (row,) = res.rows
        assert row["status"] == "ok" and row["cr"] == pytest.approx(4.0) and row["sr"] == 1.0
        assert row["instructions"] > 0 and row["pareto"] and row["board"] == "mps2-an386"
        assert (out / "pareto.png").is_file() and "| int8 |" in (out / "table.md").read_text()
        assert (out / "points" / row["id"]).is_dir()
    finally:
        ray.shutdown()


# --- orchestration without Ray or training: run_point replaced by a worker that records what it was sent -------------
def _record(settings: dict, ok: bool, board: str = "mps2-an386") -> dict:
    rec = {"id": sw.point_id(settings), "settings": settings, "label": sw._label(settings)}
    if not ok:
        return {**rec, "status": "error", "error": f"no luck for {settings['method']}"}
    return {
        **rec, "status": "ok", "accuracy_float": 0.9, "accuracy": 0.8, "weight_bytes_float": 4000,
        "weight_bytes": 1000, "instructions": 5000, "unit": "instructions", "flash_bytes": 0, "board": board,
    }  # fmt: skip


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a model file and training data, and the current folder set to it."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "m.keras").write_bytes(b"not read: run_point is replaced")
    np.savez(work / "train.npz", x=np.zeros((4, 8), np.float32), y=np.zeros(4, np.int64))
    monkeypatch.chdir(work)
    return work


def test_relative_paths_are_absolute_before_any_point_is_dispatched(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgesdk.boards import get_board

    elsewhere = tmp_path / "elsewhere"  # a Ray task runs in the Ray head's working directory, not ours
    elsewhere.mkdir()
    (work / "my-board.toml").write_text(get_board("mps2-an386").path.read_text())
    sent = []

    def worker(model, data, val, settings, out_dir, board, seed=0):
        os.chdir(elsewhere)
        try:
            sent.append((model, data, val, out_dir, board))
            (Path(out_dir) / "points" / sw.point_id(settings)).mkdir(parents=True, exist_ok=True)
            return _record(settings, ok=Path(data).is_file() and Path(board).is_file())
        finally:
            os.chdir(work)

    monkeypatch.setattr(sw, "run_point", worker)
    res = sw.sweep(
        "m.keras", "method=int8", "train.npz", "train.npz", out="out", board="my-board.toml", workers=1
    )
    assert sent == [
        (str(work / "m.keras"), str(work / "train.npz"), str(work / "train.npz"), str(work / "out"),
         str(work / "my-board.toml")),
    ]  # fmt: skip
    assert [r["status"] for r in res.rows] == ["ok"] and res.out_dir == work / "out"
    assert list(elsewhere.iterdir()) == []  # no stray folder where the worker ran
    with pytest.raises(CompressError, match=r"^sweep: training data nothere.npz does not exist$"):
        sw.sweep("m.keras", "method=int8", "nothere.npz", out="out", workers=1)


def _said(err: str) -> list[str]:
    """The lines the command printed on stderr, without the progress bar's."""
    return [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("sweep:")]


def test_every_point_failing_is_exit_9_and_some_failing_is_exit_0_naming_them(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "sweep",
        "m.keras",
        "--data",
        "train.npz",
        "--grid",
        "method=int8|ternary",
        "-o",
        "out",
        "--workers",
        "1",
    ]
    monkeypatch.setattr(sw, "run_point", lambda *job: _record(job[3], ok=False))
    assert main(args) == 9
    assert _said(capsys.readouterr().err) == [
        "edgesdk sweep: error: every one of the 2 sweep points failed (first, int8: no luck for int8); "
        f"the table is in {work / 'out' / 'table.md'}"
    ]
    assert "no luck for ternary" in (work / "out" / "table.md").read_text()
    monkeypatch.setattr(sw, "run_point", lambda *job: _record(job[3], ok=job[3]["method"] == "int8"))
    assert main(args) == 0
    cap = capsys.readouterr()
    assert "| int8 |" in cap.out
    assert _said(cap.err) == [
        f"edgesdk sweep: warning: 1 of 2 points failed: ternary (their errors are in {work / 'out' / 'table.md'})"
    ]


def test_ray_without_a_cluster_is_one_sentence_of_ours(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ray = pytest.importorskip("ray")
    import socket

    from ray._private.services import find_gcs_addresses

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    args = ["sweep", "m.keras", "--data", "train.npz", "--grid", "method=int8", "-o", "out"]
    assert main([*args, "--ray", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"edgesdk sweep: error: sweep --ray 127.0.0.1:{port}: no Ray cluster answers at ")
    assert "RAY_AUTH_MODE=disabled" in err and err.count("\n") == 1 and not ray.is_initialized()
    if find_gcs_addresses():
        pytest.skip("a Ray cluster runs on this machine: --ray auto would find it")
    assert main([*args, "--ray", "auto"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "edgesdk sweep: error: sweep --ray auto: no Ray cluster is running on this machine; "
    )
    assert "--address" not in err and err.count("\n") == 1
