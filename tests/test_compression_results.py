"""The deterministic figures of ``benchmarks/results/compression.json`` recomputed in CI.

The int8 rows' byte counts (default export and ``--optimize size`` for the benchmark's board, int8 and float32) depend
only on the network's shapes, the converter and the passes, not on training: they are recomputed here from the
benchmark's own task and model definitions (untrained, seconds) and compared with the file, so a change to the
kernels, the passes or the byte accounting cannot leave the results file stale. The accuracy figures need the
benchmark itself (minutes per seed): ``python benchmarks/compression.py``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("mnist1d")

from edgesdk.compress import compress  # noqa: E402
from edgesdk.passes import DEFAULT_OPTIMIZE  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "compression.json"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_compression", REPO / "benchmarks" / "compression.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("task", ["mnist1d", "digits"])
def test_int8_row_matches_results_file(task: str, tmp_path: Path) -> None:
    bench = _bench()
    data = json.loads(RESULTS.read_text())
    assert data["export"] == {"board": bench.BOARD, "optimize": DEFAULT_OPTIMIZE} and data["commit"]
    row = next(r for r in data["rows"] if r["task"] == task and r["label"] == "int8")
    make_data, build, _ = bench.TASKS[task]
    train, val, _ = make_data(row["seed"])
    keras.utils.set_random_seed(row["seed"])
    model = build()
    r = compress(model, "int8", (train[0][:64], train[1][:64]), (val[0][:16], val[1][:16]), out=tmp_path / "m.tflite",
                 board=bench.BOARD, progress=False)  # fmt: skip
    got = {
        "weight_bytes": r.weight_bytes_compressed,
        "weight_bytes_size_export": r.weight_bytes_size_export,
        "weight_bytes_int8": r.weight_bytes_int8,
        "weight_bytes_float": r.weight_bytes_float,
    }
    assert got == {k: row[k] for k in got}
    keys = ("format", "weight_bytes", "size_format", "size_weight_bytes")  # IR names depend on the session
    assert [{k: la[k] for k in keys} for la in r.layers] == [{k: la[k] for k in keys} for la in row["layers"]]
