"""The FPGA road's pass pipeline ``"hls"``: the Winograd or direct unit per convolution and the folding of the XNOR
units are pass decisions with report rows in the shape every MCU kernel pass uses, forced and forbidden with the
options of ``export``; a kernel name nobody knows, or one the FPGA has no unit for, is refused before the model is
read. No C-simulation here (``test_hls.py`` runs them): the decisions, the layer list they give, the report rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgesdk.backends.hls.convert import graph_to_layer_list
from edgesdk.commands.cli import main
from edgesdk.commands.synth import hls_context
from edgesdk.errors import EdgeSDKError, UnsupportedOpError
from edgesdk.frontends.tflite import read_tflite
from edgesdk.ir import graph as ir
from edgesdk.ir.binary import Binarize, UnpackBits, XnorFullyConnected
from edgesdk.passes import context_from_options, kernel_decisions, run_pipeline
from edgesdk.reference.binary import pack_bits, words_for

#: the keys of every kernel pass's report row (``kernel_decisions`` + ``passes._report.kernel_report``)
ROW_KEYS = {"layer", "op", "kernel", "candidates", "why", "format", "weight_bytes", "other_bytes"}


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3x3 stride-1 convolution (7x10x5 -> 6 channels, Winograd-shaped) and a 1x1 one after it."""
    import keras

    from edgesdk.frontends.keras import quantize_keras

    keras.utils.set_random_seed(31)
    inp = keras.Input((7, 10, 5), batch_size=1)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c3")(inp)
    x = keras.layers.Conv2D(4, 1, name="c1")(x)
    calib = np.random.default_rng(31).normal(size=(16, 7, 10, 5)).astype(np.float32)
    path = tmp_path_factory.mktemp("hls_passes") / "conv.tflite"
    path.write_bytes(quantize_keras(keras.Model(inp, x, name="conv"), calib, num_samples=None))
    return path


def _decide(
    graph: ir.Graph, optimize: str = "balanced", kernel: tuple = (), no_kernel: tuple = ()
) -> ir.Graph:
    ctx = hls_context(context_from_options(optimize, kernel, no_kernel, check=False))
    return run_pipeline(graph, "hls", ctx)


def _rows(graph: ir.Graph) -> dict[str, dict[str, Any]]:
    rows = {row["layer"]: row for row in kernel_decisions(graph)}
    for row in rows.values():
        assert ROW_KEYS <= set(row), row
    return rows


def test_winograd_is_a_pass_decision_with_a_report_row(conv_model: Path, tmp_path: Path) -> None:
    graph = read_tflite(conv_model)
    c3 = graph.nodes[0].name
    # balanced (the default): the direct unit, both candidates in cycles, multipliers and weight bytes
    rows = _rows(_decide(graph))
    row = rows[c3]
    assert row["kernel"] == "dense" and row["format"] == "int8" and list(rows) == [c3]  # the 1x1 gets no row
    d, w = row["candidates"]["dense"], row["candidates"]["winograd"]
    assert (d["cycles"], d["multipliers"], d["bytes"]) == (7 * 10 * 6, 9 * 5, 9 * 5 * 6)
    assert (w["cycles"], w["multipliers"], w["bytes"]) == (4 * 5 * (2 * 5 + 6), 16 * 5, 16 * 5 * 6 * 2)
    assert row["weight_bytes"] == d["bytes"] and "--optimize balanced" in row["why"]
    # speed: Winograd, whose 320 cycles beat the direct unit's 420
    speed = _decide(graph, "speed")
    assert _rows(speed)[c3]["kernel"] == "winograd" and _rows(speed)[c3]["weight_bytes"] == w["bytes"]
    plan = graph_to_layer_list(speed, output_dir=tmp_path / "speed")
    assert [layer["class_name"] for layer in plan.layer_list] == [
        "InputLayer",
        "EdgeWinogradConv",
        "EdgeConv2D",
    ]
    # forbidden, even for speed
    assert _rows(_decide(graph, "speed", no_kernel=("*=winograd",)))[c3]["kernel"] == "dense"
    # forced on every layer: the 3x3 takes it, the 1x1 says why it cannot and keeps the direct unit
    forced = _rows(_decide(graph, kernel=("*=winograd",)))
    assert forced[c3]["kernel"] == "winograd" and forced[c3]["why"] == "forced (--kernel)"
    c1 = graph.nodes[1].name
    assert forced[c1]["kernel"] == "dense" and "needs a 3x3 stride-1" in forced[c1]["why"]
    # --winograd is the same as --kernel '*=winograd'
    assert _rows(run_pipeline(graph, "hls", hls_context(winograd=True)))[c3]["kernel"] == "winograd"
    # forcing the direct unit by its alias
    assert _rows(_decide(graph, "speed", kernel=(f"{c3}=direct",)))[c3]["kernel"] == "dense"
    assert "kernel" not in graph.nodes[0].attrs  # the pipeline ran on a copy


def _xnor_graph(cin: int = 96, cout: int = 40) -> ir.Graph:
    """int8 -> binarize -> XNOR fully connected (cin -> cout) -> unpack to int8."""
    rng = np.random.default_rng(5)
    g = ir.Graph(name="xnor_fc")
    q = ir.QuantParams(np.array([0.05]), np.array([0]))
    x = g.add_tensor(ir.Tensor("x", (1, cin), "int8", q)).name
    a = g.add_tensor(ir.Tensor("a", (1, 4 * words_for(cin)), "int8")).name
    w = pack_bits(rng.integers(0, 2, (cout, cin)).astype(bool)).view(np.int32)
    wt = g.add_tensor(ir.Tensor("w", w.shape, "int32", data=w)).name
    b = g.add_tensor(ir.Tensor("b", (1, 4 * words_for(cout)), "int8")).name
    y = g.add_tensor(ir.Tensor("y", (1, cout), "int8", ir.QuantParams(np.array([1.0]), np.array([0])))).name
    g.nodes += [
        Binarize(name="bin", inputs=[x], outputs=[a], channels=cin, threshold=(0,) * cin, flip=(False,) * cin),
        XnorFullyConnected(name="fc", inputs=[a, wt], outputs=[b], in_features=cin, out_features=cout,
                           threshold=(1,) * cout, flip=(False,) * cout),
        UnpackBits(name="unpack", inputs=[b], outputs=[y], channels=cout, high=1, low=-1),
    ]  # fmt: skip
    g.inputs.append(x)
    g.outputs.append(y)
    g.validate()
    return g


def test_xnor_folding_is_a_pass_decision_with_a_report_row(tmp_path: Path) -> None:
    graph = _xnor_graph()  # 40 rows, 3 words of 32 bits per row
    row = _rows(_decide(graph))["fc"]
    assert row["kernel"] == "xnor" and (row["pe"], row["simd_words"]) == (8, 3)
    assert row["candidates"]["xnor"] == {
        "bytes": 40 * 3 * 4,
        "cycles": 5,
        "popcount_bits_per_cycle": 8 * 3 * 32,
    }
    assert row["weight_bytes"] == 480 and "FINN" in row["why"]
    given = run_pipeline(graph, "hls", hls_context(xnor_folding={"fc": (5, 1)}))
    assert (_rows(given)["fc"]["pe"], _rows(given)["fc"]["candidates"]["xnor"]["cycles"]) == (5, 8 * 3)
    unit = next(u for u in graph_to_layer_list(given, output_dir=tmp_path).layer_list if u["name"] == "fc")
    assert (unit["class_name"], unit["pe"], unit["simd"]) == ("EdgeXnorDense", 5, 1)
    with pytest.raises(
        EdgeSDKError, match=r"^HLS layer fc: PE=3 must divide 40 rows and SIMD=1 must divide 3"
    ):
        run_pipeline(graph, "hls", hls_context(xnor_folding={"fc": (3, 1)}))
    # nothing but the XNOR unit computes a binary layer: taking it away is refused, other forced kernels pass by
    for opts in ({"no_kernel": ("*=xnor",)}, {"kernel": ("fc=dense",)}):
        with pytest.raises(UnsupportedOpError, match=r"^layer fc: .* runs only in the XNOR unit on the FPGA"):
            _decide(graph, **opts)
    assert _rows(_decide(graph, kernel=("*=winograd",)))["fc"]["kernel"] == "xnor"


@pytest.mark.parametrize(
    ("option", "sentence"),
    [
        (["--kernel", "c3=wingrad"], "--kernel 'c3=wingrad': unknown kernel 'wingrad'; known kernels: "),
        (["--no-kernel", "*=sparse"], "--no-kernel '*=sparse': kernel 'sparse' has no FPGA unit; the FPGA road has "
                                      "dense, direct, winograd, xnor"),
    ],
)  # fmt: skip
def test_a_kernel_name_is_refused_before_the_model_is_read(
    option: list[str], sentence: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["synth", str(tmp_path / "missing.tflite"), "-b", "zcu104", *option])
    err = capsys.readouterr().err
    assert rc == 3 and sentence in err and "missing.tflite" not in err
    if "unknown" in sentence:
        assert {"dense", "sparse", "winograd", "xnor"} <= set(
            err.split("known kernels: ")[1].strip().split(", ")
        )
