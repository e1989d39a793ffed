"""The reference interpreter against TensorFlow Lite Micro itself (the ``tflite-micro`` package runs TFLM's
C++ interpreter and kernels from Python), tensor by tensor.

``kPreserveAllTensors`` keeps every intermediate tensor, so each activation the reference computes is compared
bit for bit with TFLM's, over random int8 inputs, for the MLPerf Tiny IC and AD models and every generated
model of ``tests/modelgen.py``. This is the direct oracle beside the stored golden vectors (one input each)
and ai-edge-litert (whose FULLY_CONNECTED rounds once, see test_reference_litert.py): the reference runs with
TFLM's double rounding and must agree everywhere. No op differs today; a difference would be reported with
the op, the tensor and the size of the difference in LSB.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from edgesdk.frontends.tflite import read_tflite
from edgesdk.ir import Graph
from edgesdk.reference import Reference

runtime = pytest.importorskip("tflite_micro", reason="tflite-micro (test extra) is needed").runtime

sys.path.insert(0, str(Path(__file__).resolve().parent))
from modelgen import CASES, build_case  # noqa: E402


@pytest.fixture(scope="session")
def modelgen_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared with the other modelgen tests of the session, so each case converts once."""
    env = os.environ.get("EDGESDK_MODELGEN_CACHE")
    return Path(env) if env else tmp_path_factory.getbasetemp() / "modelgen"


def _tflm(path: Path):
    # the package spells the keyword "intrepreter_config"
    return runtime.Interpreter.from_file(
        str(path), intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
    )


def _tflm_all(path: Path, graph: Graph, xs: np.ndarray) -> dict[int, np.ndarray]:
    """TFLM's value of every activation tensor of ``graph`` for each input, by TFLite index, stacked (N, ...)."""
    interp = _tflm(path)
    shape = tuple(int(d) for d in interp.get_input_details(0)["shape"])
    per_index: dict[int, list[np.ndarray]] = {}
    for x in xs:
        interp.set_input(x.reshape(shape), 0)
        interp.invoke()
        for t in graph.activation_tensors():
            per_index.setdefault(t.index, []).append(np.array(interp.GetTensor(t.index, 0)["tensor_data"]))
    return {k: np.stack(v) for k, v in per_index.items()}


def _differences(graph: Graph, path: Path, n: int, seed: int) -> tuple[int, list[str]]:
    """(tensors compared, one line per differing tensor: producing op, tensor, LSB and count of differences)."""
    shape = graph.tensors[graph.inputs[0]].shape
    xs = np.random.default_rng(seed).integers(-128, 128, size=(n, *shape[1:]), dtype=np.int8)
    tflm = _tflm_all(path, graph, xs)
    ours = Reference(graph, rounding="double").run_batch_all(xs)
    producer = {out: node.op for node in graph.nodes for out in node.outputs}
    compared, diffs = 0, []
    for t in graph.activation_tensors():
        want = tflm[t.index].reshape(n, -1).astype(np.int64)
        got = ours[t.name].reshape(n, -1).astype(np.int64)
        compared += 1
        if not np.array_equal(got, want):
            d = np.abs(got - want)
            diffs.append(
                f"{producer.get(t.name, 'input')} tensor {t.index} ({t.name}): max {int(d.max())} LSB, "
                f"{int(np.count_nonzero(d))} of {d.size} values"
            )
    return compared, diffs


def test_tflm_package_reproduces_the_golden_vectors(
    ic_model: Path, ic_golden, ad_model: Path, ad_golden
) -> None:
    """The oracle is TFLM: on the stored golden input it gives the stored golden tensors."""
    for path, golden in ((ic_model, ic_golden), (ad_model, ad_golden)):
        interp = _tflm(path)
        x = golden["input"].astype(np.int8)
        interp.set_input(x.reshape(tuple(interp.get_input_details(0)["shape"])), 0)
        interp.invoke()
        keys = [k for k in golden if k.startswith("tensor_")]
        assert keys
        for key in keys:
            got = np.asarray(interp.GetTensor(int(key.split("_")[1]), 0)["tensor_data"]).ravel()
            np.testing.assert_array_equal(got, golden[key], err_msg=key)
        np.testing.assert_array_equal(interp.get_output(0).ravel(), golden["output"])


@pytest.mark.parametrize(("which", "n", "tensors"), [("ic", 8, 17), ("ad", 40, 11)])
def test_mlperf_models_equal_tflm_at_every_tensor(
    which: str, n: int, tensors: int, ic_model, ad_model
) -> None:
    path = ic_model if which == "ic" else ad_model
    compared, diffs = _differences(read_tflite(path), path, n, seed=11)
    assert diffs == []
    assert compared == tensors  # the input and every layer's output


@pytest.mark.parametrize("case", CASES)
def test_generated_models_equal_tflm_at_every_tensor(case: str, modelgen_cache: Path) -> None:
    path = build_case(case, modelgen_cache)
    compared, diffs = _differences(read_tflite(path), path, 20, seed=12)
    assert diffs == [], f"{case}: the reference departs from TFLM in " + "; ".join(diffs)
    assert compared >= 2
