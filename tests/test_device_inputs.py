"""Inputs for validate: random int8, an int8 .npy as is, float samples quantized with the input's scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesdk.compiler.data import make_inputs


def test_inputs_from_each_source(ad_graph, mlperf_dir: Path, tmp_path: Path) -> None:
    rnd = make_inputs(ad_graph, None, 5)
    assert rnd.shape == (5, 640) and rnd.dtype == np.int8
    np.testing.assert_array_equal(rnd, make_inputs(ad_graph, None, 5))  # seeded
    a = np.random.default_rng(1).integers(-128, 128, (3, 640), dtype=np.int8)
    np.save(tmp_path / "x.npy", a)
    np.testing.assert_array_equal(make_inputs(ad_graph, tmp_path / "x.npy", 0), a)
    np.testing.assert_array_equal(make_inputs(ad_graph, a, 2), a[:2])
    q = ad_graph.tensors[ad_graph.inputs[0]].quant
    floats = make_inputs(ad_graph, mlperf_dir / "ad01_sample", 0)
    raw = np.fromfile(next((mlperf_dir / "ad01_sample").glob("*.bin")), dtype="<f4").reshape(-1, 640)
    want = np.clip(np.round(raw / q.s) + q.zp, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(floats, want)
