"""The FPGA backend: hls4ml C-simulation equals the reference bit for bit; ``edgesdk synth`` and its reports.

Every C-simulation here is real: hls4ml writes the project with edgesdk's units, compiles it with the host g++
and runs it; each traced layer is compared with ``reference/`` by ``assert_array_equal``-strict equality.
"""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path
from typing import Any

import hls4ml  # a test dependency (scripts/setup.sh installs the hls extra): missing, the tests fail, not skip
import numpy as np
import pytest

from edgesdk.backends.hls import extensions
from edgesdk.backends.hls.convert import build_hls_model, graph_to_layer_list
from edgesdk.backends.hls.csim import csim_compare
from edgesdk.backends.hls.vendor import parse_csynth_report
from edgesdk.boards import fpga_boards, get_board, get_fpga_board
from edgesdk.commands.cli import main
from edgesdk.commands.synth import hls_context, synth
from edgesdk.errors import BoardError, UnsupportedOpError
from edgesdk.frontends.tflite import read_tflite
from edgesdk.passes import run_pipeline
from edgesdk.reference import Reference


def _convert(model: Any, shape: tuple[int, ...], path: Path, seed: int) -> Path:
    from edgesdk.frontends.keras import quantize_keras

    calib = np.random.default_rng(seed).normal(size=(32, *shape)).astype(np.float32)
    path.write_bytes(quantize_keras(model, calib, num_samples=None))
    return path


@pytest.fixture(scope="session")
def hls_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small seeded int8 models: a depthwise-separable CNN, a ternary CNN, one Winograd-shaped conv layer."""
    import keras

    from edgesdk.compress.ternary import twn_ternarize

    k = keras
    out = tmp_path_factory.mktemp("hls_models")
    models: dict[str, Path] = {}

    keras.utils.set_random_seed(11)
    inp = k.Input((12, 12, 3), batch_size=1)
    x = k.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    for filters, stride in ((16, 1), (16, 2)):
        x = k.layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu")(x)
        x = k.layers.Conv2D(filters, 1, activation="relu")(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    x = k.layers.Dense(10)(x)
    x = k.layers.Softmax()(x)
    models["dscnn"] = _convert(k.Model(inp, x, name="dscnn"), (12, 12, 3), out / "dscnn.tflite", 1)

    keras.utils.set_random_seed(12)
    inp = k.Input((9, 9, 2), batch_size=1)
    x = k.layers.Conv2D(12, 3, padding="same", activation="relu")(inp)
    x = k.layers.MaxPooling2D(2)(x)
    x = k.layers.Conv2D(16, 3, padding="valid", activation="relu")(x)
    x = k.layers.Flatten()(x)
    x = k.layers.Dense(5)(x)
    model = k.Model(inp, x, name="ternary_cnn")
    for layer in model.layers:
        if isinstance(layer, (k.layers.Conv2D, k.layers.Dense)):
            kernel, bias = layer.get_weights()
            layer.set_weights([np.asarray(twn_ternarize(kernel)), bias])
    models["ternary"] = _convert(model, (9, 9, 2), out / "ternary_cnn.tflite", 2)

    keras.utils.set_random_seed(13)
    inp = k.Input((7, 10, 5), batch_size=1)  # odd and not square
    x = k.layers.Conv2D(6, 3, padding="same", activation="relu")(inp)
    models["winograd"] = _convert(k.Model(inp, x, name="wino"), (7, 10, 5), out / "wino.tflite", 3)

    keras.utils.set_random_seed(14)
    inp = k.Input((6, 6, 3), batch_size=1)
    a = k.layers.Conv2D(4, 1)(inp)
    b = k.layers.Conv2D(4, 1)(inp)
    models["mul"] = _convert(k.Model(inp, k.layers.Multiply()([a, b])), (6, 6, 3), out / "mul.tflite", 4)
    return models


def _report(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def test_dscnn_csim_is_bit_exact_and_reported(
    hls_models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no vendor tool: synthesis is skipped with one sentence
    out = tmp_path / "dscnn"
    rc = main(["synth", str(hls_models["dscnn"]), "--board", "zcu104", "-o", str(out), "-n", "3"])
    stdout = capsys.readouterr().out
    assert rc == 0, stdout
    assert "3/3 inputs bit-exact" in stdout
    assert "Synthesis was skipped because no vendor HLS tool" in stdout
    rep = _report(out)
    assert rep["csim"] == {"bit_exact": True, "inputs": 3, "mismatches": [], "first_mismatch_layer": None}
    assert "synthesis" not in rep and rep["synthesis_skipped"].count(".") == 1
    assert rep["kernels"] == []  # no 3x3 stride-1 convolution, no XNOR layer: no unit to choose
    kinds = [row["kind"] for row in rep["estimate"]["layers"]]
    assert kinds == ["conv", "depthwise", "conv", "depthwise", "conv", "dense"]
    assert rep["estimate"]["total_weight_bram"] >= len(kinds) and rep["estimate"]["bram_kind"] == "BRAM_18K"
    assert rep["board"]["part"] == "xczu7ev-ffvc1156-2-e"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "bit-exact: **yes**" in md and "Synthesis was skipped" in md
    assert (out / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    assert (out / "estimate_cycles.png").read_bytes()[
        :8
    ] == b"\x89PNG\r\n\x1a\n" and "estimate_cycles.png" in md
    assert (out / "hls4ml_prj" / "firmware" / "nnet_utils" / "edgesdk_units.h").is_file()
    assert (out / "hls4ml_prj" / "firmware" / "nnet_utils" / "ed_fixedpoint.h").is_file()
    # the fit figures: per layer and summed over the network, against the board (xczu7ev: 1,728 DSP48E2)
    est = rep["estimate"]
    assert [row["dsp"] for row in est["layers"]] == [27, 9, 8, 9, 16, 160]  # taps of each conv, dense 16x10
    for key in ("lut", "ff", "dsp"):
        assert est["totals"][key] == sum(row[key] for row in est["layers"])
    assert est["fit"]["dsp"] == {"need": 229, "capacity": 1728, "use_pct": 13.3}
    assert est["fit"]["bram_18k"]["need"] == est["total_weight_bram"] == sum(r["bram"] for r in est["layers"])
    assert set(est["fit"]) == {"lut", "ff", "dsp", "bram_18k", "uram"}
    assert "| DSP blocks | 229 | 1,728 | 13.3 % |" in md and "| **total** |" in md
    assert "estimate against zcu104 (need/capacity): " in stdout and "dsp 229/1,728 (13.3 %)" in stdout


def test_a_design_that_cannot_fit_is_refused_before_anything_is_written(
    hls_models: dict[str, Path], tmp_path: Path
) -> None:
    """The same network on the PYNQ-Z2 needs more multipliers than its 220 DSP48E1: the real command exits 5
    with one sentence before it writes the project or C-simulates; stderr has only the progress lines."""
    import subprocess
    import sys

    out = tmp_path / "pynq"
    env = {**os.environ, "PYTHONPATH": str(Path(extensions.__file__).parents[3])}
    cmd = [
        sys.executable,
        "-m",
        "edgesdk",
        "synth",
        str(hls_models["dscnn"]),
        "-b",
        "pynq-z2",
        "-o",
        str(out),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert run.returncode == 5, run.stderr
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        f"synth: reading {hls_models['dscnn']}",
        "synth: planning the design of dscnn for pynq-z2 (xc7z020clg400-1)",
        "edgesdk synth: error: the estimated design of dscnn does not fit board pynq-z2 (xc7z020clg400-1): "
        "it needs 229 of its 220 DSP blocks",
    ]
    assert not out.exists()


def test_verilog_layers_placed_one_at_a_time_are_summed_against_the_board() -> None:
    from edgesdk.backends.fit import check_fit
    from edgesdk.backends.hls.estimate import rtl_fit

    ice = get_fpga_board("icebreaker")
    cells = {"SB_LUT4": 1500, "SB_DFF": 200, "SB_DFFE": 100, "SB_RAM40_4K": 22, "SB_CARRY": 40}
    rows = [{"layer": "a", "ice40": {"cells": cells}}, {"layer": "b", "ice40": {"cells": cells}}]
    fit = rtl_fit(rows, ice)
    assert fit["lut"] == {"need": 3000, "capacity": 5280, "use_pct": 56.8}
    assert fit["ff"]["need"] == 600 and fit["dsp"]["need"] == 0 and fit["spram_256k"]["need"] == 0
    check_fit(rtl_fit(rows[:1], ice), ice, "one layer")  # 22 of 30 EBR alone fits
    with pytest.raises(BoardError) as exc:
        check_fit(fit, ice, "the Verilog layers of m placed together")
    assert str(exc.value) == (
        "the Verilog layers of m placed together does not fit board icebreaker (up5k-sg48): "
        "it needs 44 of its 30 EBR (4 Kib) blocks"
    )
    assert rtl_fit([{"layer": "a"}], ice) == {}  # without place and route there is nothing to sum


def test_winograd_layer_takes_its_weights_from_the_shared_module(
    hls_models: dict[str, Path], tmp_path: Path
) -> None:
    from edgesdk.numerics.winograd import F2x2_3x3, transform_weights

    graph = read_tflite(hls_models["winograd"])
    design = run_pipeline(graph, "hls", hls_context(winograd=True))
    plan = graph_to_layer_list(design, output_dir=tmp_path)
    assert [layer["class_name"] for layer in plan.layer_list] == ["InputLayer", "EdgeWinogradConv"]
    w = graph.tensor(graph.nodes[0].inputs[1]).data
    np.testing.assert_array_equal(plan.layer_list[1]["weight_data"], transform_weights(w, F2x2_3x3))
    np.testing.assert_array_equal(plan.layer_list[1]["bt_data"], F2x2_3x3.BT)
    np.testing.assert_array_equal(plan.layer_list[1]["at_data"], F2x2_3x3.AT)
    unit = plan.units[0]
    assert (unit["multipliers_per_tile"], unit["multipliers_per_tile_direct"]) == (16, 36)
    assert unit["tiles"] == 4 * 5  # ceil(7/2) x ceil(10/2): partial tiles on both edges


def test_ternary_cnn_csim_is_bit_exact(hls_models: dict[str, Path], tmp_path: Path) -> None:
    graph = read_tflite(hls_models["ternary"])
    w = graph.tensor(graph.nodes[0].inputs[1]).data
    assert set(np.unique(w)) <= {-127, 0, 127}  # the converter wrote the ternary weights as int8
    model, plan = build_hls_model(graph, tmp_path / "prj")
    x = np.random.default_rng(6).integers(-128, 128, size=(4, 9, 9, 2), dtype=np.int8)
    mismatches, _ = csim_compare(graph, model, plan, x)
    assert mismatches == []


def _perturbed(graph: Any, layer_index: int) -> Any:
    """A copy whose layer ``layer_index`` has a different bias: its design must disagree from that layer on."""
    bad = copy.deepcopy(graph)
    node = bad.nodes[layer_index]
    bias = bad.tensor(node.inputs[2])
    bias.data = np.asarray(bias.data).copy()
    bias.data[0] += 5000
    return bad


def test_a_wrong_design_exits_8_naming_the_first_differing_layer(
    hls_models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import edgesdk.backends.hls.convert as convert

    real = convert.graph_to_layer_list
    graph = read_tflite(hls_models["dscnn"])
    target = graph.nodes[2].name  # the first pointwise conv

    def faulty(g: Any, **kwargs: Any) -> Any:
        return real(_perturbed(g, 2), **kwargs)

    monkeypatch.setattr(convert, "graph_to_layer_list", faulty)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    out = tmp_path / "bad"
    rc = main(["synth", str(hls_models["dscnn"]), "-b", "zcu104", "-o", str(out), "-n", "2"])
    err = capsys.readouterr().err
    assert rc == 8
    assert f"first at layer {target}" in err
    rep = _report(out)
    assert rep["csim"]["bit_exact"] is False and rep["csim"]["first_mismatch_layer"] == target
    assert rep["csim"]["mismatches"][0]["first_layer"] == target


CSYNTH_XML = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>2024.1</Version></ReportVersion>
  <UserAssignments>
    <unit>ns</unit><ProductFamily>zynq</ProductFamily><Part>xc7z020-clg400-1</Part>
    <TopModelName>{top}</TopModelName><TargetClockPeriod>10.00</TargetClockPeriod>
  </UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>7.264</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <unit>clock cycles</unit><Best-caseLatency>1234</Best-caseLatency><Worst-caseLatency>1240</Worst-caseLatency>
      <Interval-min>1235</Interval-min><Interval-max>1241</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>3</BRAM_18K><DSP>12</DSP><FF>4567</FF><LUT>8901</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>280</BRAM_18K><DSP>220</DSP><FF>106400</FF><LUT>53200</LUT><URAM>0</URAM></AvailableResources>
  </AreaEstimates>
</profile>
"""

FAKE_VITIS_RUN = r"""#!{python}
# A stand-in for AMD's vitis-run: checks it is called as hls4ml calls it, then writes a known csynth report.
import pathlib, re, sys
assert sys.argv[1:] == ["--tcl", "build_prj.tcl", "--mode", "hls"], sys.argv
assert pathlib.Path("build_prj.tcl").is_file() and re.search(r"synth\s+1", pathlib.Path("build_opt.tcl").read_text())
top = pathlib.Path("firmware").glob("edgesdk_*.cpp").__next__().stem
rep = pathlib.Path(top + "_prj/solution1/syn/report")
rep.mkdir(parents=True)
(rep / (top + "_csynth.xml")).write_text({xml!r}.replace("{{top}}", top))
"""


def test_fake_vitis_run_report_is_parsed(hls_models: dict[str, Path], tmp_path: Path) -> None:
    import sys

    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "vitis-run"
    tool.write_text(FAKE_VITIS_RUN.format(python=sys.executable, xml=CSYNTH_XML), encoding="utf-8")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    env_path = f"{bindir}{os.pathsep}/usr/bin:/bin"
    # a board whose LUTs the estimate fits but the synthesized design (8,901 LUTs) does not
    small = tmp_path / "small.toml"
    small.write_text(
        get_fpga_board("zcu104").path.read_text(encoding="utf-8").replace("lut = 230400", "lut = 8000"),
        encoding="utf-8",
    )
    old = os.environ["PATH"]
    os.environ["PATH"] = env_path
    try:
        # the Winograd unit on an odd, non-square input: C-simulated against the reference, then "synthesized"
        r = synth(read_tflite(hls_models["winograd"]), "zcu104", tmp_path / "out", count=3, winograd=True)
        with pytest.raises(BoardError) as refused:
            synth(read_tflite(hls_models["winograd"]), str(small), tmp_path / "small", count=1, winograd=True)
    finally:
        os.environ["PATH"] = old
    assert str(refused.value) == (
        f"the synthesized design of wino (report in {tmp_path / 'small'}) does not fit board zcu104 "
        "(xczu7ev-ffvc1156-2-e): it needs 8,901 of its 8,000 LUTs"
    )
    assert _report(tmp_path / "small")["synthesis"]["fit"]["lut"] == {
        "need": 8901,
        "capacity": 8000,
        "use_pct": 111.3,
    }
    assert r.bit_exact and r.inputs == 3 and r.mismatches == []
    assert [row["kind"] for row in r.estimate["layers"]] == ["winograd"]
    s = r.synthesis
    assert s is not None and s["tool"] == "vitis-run"
    assert s["top"].startswith("edgesdk_")
    assert (s["latency_best_cycles"], s["latency_worst_cycles"]) == (1234, 1240)
    assert (s["interval_min_cycles"], s["interval_max_cycles"]) == (1235, 1241)
    assert s["resources"] == {"lut": 8901, "ff": 4567, "dsp": 12, "bram_18k": 3}
    assert s["available"]["dsp"] == 220 and s["estimated_clock_ns"] == pytest.approx(7.264)
    rep = _report(tmp_path / "out")
    assert rep["synthesis"]["resources"]["lut"] == 8901 and "synthesis_skipped" not in rep
    assert rep["synthesis"]["fit"]["dsp"] == {"need": 12, "capacity": 1728, "use_pct": 0.7}
    assert "LUT 8901" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert rep["hls_backend"] == "Vitis"
    # winograd=True forced the unit: the hls pipeline's report row says so, with both candidates
    (row,) = rep["kernels"]
    assert (row["op"], row["kernel"], row["why"]) == ("CONV_2D", "winograd", "forced (--kernel)")
    assert row["candidates"]["winograd"]["cycles"] == r.estimate["layers"][0]["cycles"] == 4 * 5 * (2 * 5 + 6)
    assert "## Kernel choices" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


def test_csynth_parser_reads_older_dsp48e_tag(tmp_path: Path) -> None:
    xml = CSYNTH_XML.replace("<DSP>", "<DSP48E>").replace("</DSP>", "</DSP48E>").replace("{top}", "m")
    (tmp_path / "m_csynth.xml").write_text(xml, encoding="utf-8")
    assert parse_csynth_report(tmp_path / "m_csynth.xml")["resources"]["dsp"] == 12


@pytest.mark.slow
def test_mlperf_tiny_ic_resnet8_csim_is_bit_exact(ic_graph: Any, tmp_path: Path) -> None:
    model, plan = build_hls_model(ic_graph, tmp_path / "prj")
    assert sum(1 for layer in plan.layer_list if layer["class_name"] == "EdgeAdd") == 3
    x = np.random.default_rng(7).integers(-128, 128, size=(2, 32, 32, 3), dtype=np.int8)
    mismatches, _ = csim_compare(ic_graph, model, plan, x)
    assert mismatches == []
    assert Reference(ic_graph).run_batch(x).shape == (2, 10)


def test_unsupported_layer_is_one_sentence(hls_models: dict[str, Path], tmp_path: Path) -> None:
    graph = read_tflite(hls_models["mul"])
    with pytest.raises(UnsupportedOpError, match=r"^layer .*: op MUL is not supported by the HLS backend"):
        graph_to_layer_list(graph, output_dir=tmp_path)


def test_registration_is_idempotent_on_vivado_and_vitis() -> None:
    from hls4ml.model.layers import layer_map
    from hls4ml.model.optimizer import get_backend_passes

    extensions.register()
    before = {b: sorted(get_backend_passes(b)) for b in extensions.BACKENDS}
    extensions.register()
    extensions.register()
    after = {b: sorted(get_backend_passes(b)) for b in extensions.BACKENDS}
    assert before == after
    for b in extensions.BACKENDS:
        names = before[b]
        assert any("edgeconv2d_function_template" in n for n in names)
        assert any("edgesdk_check_xnor_folding" in n for n in names)
        custom = hls4ml.backends.get_backend(b).get_custom_source()
        assert any(k.endswith("edgesdk_units.h") for k in custom) and any(
            k.endswith("ed_fixedpoint.h") for k in custom
        )
    assert {"EdgeConv2D", "EdgeWinogradConv", "EdgeXnorDense", "EdgeRequant"} <= set(layer_map)


def test_fpga_boards_are_data() -> None:
    boards = fpga_boards()
    assert {"pynq-z2", "zcu104", "arty-a7-100t", "icebreaker", "ulx3s-85f"} <= set(boards)
    for b in boards.values():
        assert b.path.stem == b.name and b.part and b.clock_hz > 0 and b.resources["lut"] > 0
    assert get_fpga_board("arty").name == "arty-a7-100t"
    with pytest.raises(BoardError, match="board 'pynq-z2' is an FPGA board: use edgesdk synth"):
        get_board("pynq-z2")
    with pytest.raises(BoardError, match="board 'netduinoplus2' is a microcontroller board"):
        get_fpga_board("netduinoplus2")
    with pytest.raises(BoardError, match="FPGA board 'virtex' is unknown; known FPGA boards: arty-a7-100t"):
        get_fpga_board("virtex")


def test_an_unknown_fpga_resource_is_refused(tmp_path: Path) -> None:
    text = get_fpga_board("icebreaker").path.read_text(encoding="utf-8").replace("bram_4k", "ebr")
    (tmp_path / "ice.toml").write_text(text, encoding="utf-8")
    with pytest.raises(
        BoardError, match=r"ice.toml: .*ebr is not a board field \(known here: bram_18k, bram_4k,"
    ):
        get_fpga_board(str(tmp_path / "ice.toml"))


# --- binary (XNOR) networks ---------------------------------------------------------------------------------------


def _flip_rows(graph: Any, node: Any, rows: list[int]) -> None:
    """Negate rows of an XNOR layer in place without changing its function: inverted weight bits give
    dot' = -dot, so ``dot >= t`` becomes ``dot' <= -t`` - the flipped comparison of a negative BatchNorm scale."""
    from edgesdk.reference.binary import pack_bits

    w = graph.tensor(node.inputs[1])
    words = np.asarray(w.data).astype(np.int64) & 0xFFFFFFFF
    valid = pack_bits(np.ones(node.in_features, dtype=bool)).astype(np.int64)
    thr, flip = list(node.threshold), list(node.flip)
    for r in rows:
        words[r] ^= valid
        thr[r], flip[r] = -thr[r], not flip[r]
    w.data = words.astype(np.uint32).view(np.int32)
    node.threshold, node.flip = tuple(thr), tuple(flip)


@pytest.fixture(scope="session")
def digits_xnor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, np.ndarray, float]:
    """A binary MLP trained on load_digits (int8 first/last layers, XNOR hidden layers), as edgesdk writes it;
    plus a copy with some rows flipped (negative-scale thresholds) computing the same function."""
    import keras
    from sklearn.datasets import load_digits

    from edgesdk.compiler.data import make_inputs
    from edgesdk.compiler.model import load_model
    from edgesdk.compress import compress

    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    keras.utils.set_random_seed(21)
    inp = keras.Input((64,), batch_size=1)
    h = keras.layers.Dense(64, activation="relu")(inp)
    h = keras.layers.Dense(64, activation="relu")(h)
    h = keras.layers.Dense(40, activation="relu")(h)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(h))
    out = tmp_path_factory.mktemp("xnor") / "digits.xnor"
    res = compress(
        model, "xnor", (x[:1400], y[:1400]), (x[1400:], y[1400:]), epochs=3, out=out, progress=False
    )
    graph = load_model(out)
    flipped = copy.deepcopy(graph)
    for node in flipped.nodes:
        if node.op == "EDGESDK_XNOR_FULLY_CONNECTED":
            _flip_rows(flipped, node, list(range(0, node.out_features, 3)))
    return graph, flipped, make_inputs(graph, x[1400:1406], 6), float(res.accuracy_compressed)


def test_binary_mlp_on_digits_bit_exact_in_csim_and_verilog(digits_xnor: Any, tmp_path: Path) -> None:
    """The iCE40 of the iCEBreaker has no vendor HLS flow: synth C-simulates the design, then puts each XNOR
    layer through Verilog and Icarus Verilog on the reference's vectors."""
    graph, flipped, data, accuracy = digits_xnor
    assert accuracy > 0.5  # a working classifier on the 397 held-out digits
    assert [n.op for n in graph.nodes].count("EDGESDK_XNOR_FULLY_CONNECTED") == 2
    xnor_names = [n.name for n in flipped.nodes if n.op == "EDGESDK_XNOR_FULLY_CONNECTED"]
    assert all(any(n.flip) for n in flipped.nodes if n.name in xnor_names)
    np.testing.assert_array_equal(Reference(flipped).run_batch(data), Reference(graph).run_batch(data))
    # the design of the flipped graph, the first XNOR layer folded PE=2 / SIMD=1 word, against the reference of
    # the trained graph, layer by layer
    r = synth(
        graph,
        "icebreaker",
        tmp_path / "ice",
        inputs=data,
        count=len(data),
        hls_graph=flipped,
        place_and_route=False,
        xnor_folding={xnor_names[0]: (2, 1)},
        network=False,
    )
    assert r.bit_exact and r.mismatches == [] and r.inputs == len(data)
    assert r.synthesis is None and "no vendor HLS flow" in (r.skipped_reason or "")
    classes = [row["kind"] for row in r.estimate["layers"]]
    assert classes.count("xnor") == 2
    folds = {row["layer"]: (row["pe"], row["simd_words"]) for row in r.report["kernels"]}
    assert folds[xnor_names[0]] == (2, 1) and set(folds) == set(xnor_names)  # the given folding, the default
    units = [u for u in r.estimate["layers"] if u["kind"] == "xnor"]
    assert (units[0]["pe"], units[0]["simd"], units[0]["cycles"]) == (2, 32, (64 // 2) * (64 // 32))
    assert units[1]["cycles"] == (40 // units[1]["pe"]) * (64 // units[1]["simd"])
    rows = r.report["rtl"]["layers"]
    assert [row["layer"] for row in rows] == xnor_names
    assert all(row["rtl_equals_reference"] and row["vectors"] == len(data) for row in rows)
    assert (rows[0]["pe"], rows[0]["simd"]) == (2, 32)
    assert all(
        row["simulated_cycles"] == row["cycles_per_vector"] + 2 + 1 == row["latency"] + 1 for row in rows
    )
    md = (tmp_path / "ice" / "report.md").read_text(encoding="utf-8")
    assert "bit-exact: **yes**" in md and "RTL == reference" in md


def test_xnor_rtl_simulation_equals_the_reference(digits_xnor: Any, tmp_path: Path) -> None:
    import shutil

    from edgesdk.backends.hls import rtl
    from edgesdk.reference.xnor import bytes_to_words

    if not shutil.which("iverilog"):
        pytest.fail("iverilog is not installed (scripts/setup.sh installs it)")
    graph, flipped, data, _ = digits_xnor
    values = Reference(flipped).run_batch_all(data)
    for node in (n for n in flipped.nodes if n.op == "EDGESDK_XNOR_FULLY_CONNECTED"):
        vin = bytes_to_words(values[node.inputs[0]]).reshape(len(data), -1)
        want = bytes_to_words(values[node.outputs[0]]).reshape(len(data), -1)
        w = flipped.tensor(node.inputs[1]).data
        thr, flip = np.asarray(node.threshold), np.asarray(node.flip)
        for pe, simd in ((node.out_features // 4, 64), (2, 16)):
            design = rtl.xnor_dense_verilog(
                w, node.in_features, thr, flip, pe=pe, simd=simd, module="xnor_layer"
            )
            got, cycles = rtl.simulate(design, vin, tmp_path / f"{node.name}_{pe}_{simd}")
            np.testing.assert_array_equal(got, want)
            assert design.cycles == (node.out_features // pe) * (64 // simd)
            assert design.latency == design.cycles + rtl.PIPELINE_STAGES
            assert cycles == [design.latency + 1] * len(data)  # plus the cycle that takes the start


def test_xnor_rtl_synthesizes_for_ice40_up5k(digits_xnor: Any, tmp_path: Path) -> None:
    import shutil

    from edgesdk.backends.hls import rtl

    if not (shutil.which("yosys") and shutil.which("nextpnr-ice40")):
        pytest.fail("yosys and nextpnr-ice40 are not installed (scripts/setup.sh installs them)")
    _, flipped, _, _ = digits_xnor
    node = next(n for n in flipped.nodes if n.op == "EDGESDK_XNOR_FULLY_CONNECTED")
    w = np.asarray(flipped.tensor(node.inputs[1]).data)[:8]  # 8 rows keep the place-and-route test short
    design = rtl.xnor_dense_verilog(
        w,
        node.in_features,
        np.asarray(node.threshold[:8]),
        np.asarray(node.flip[:8]),
        pe=2,
        simd=16,
        module="xnor8",
    )
    fig = rtl.synth_ice40(design, tmp_path / "ice40")
    assert fig["lut4"] > 0 and fig["dff"] > 0 and fig["yosys_cells"] >= fig["lut4"]
    assert fig["placed"]["ICESTORM_LC"]["available"] == 5280
    assert fig["fmax_mhz"] is not None and fig["fmax_mhz"] > 0


def test_binary_cnn_xnor_conv_csim_is_bit_exact(tmp_path: Path) -> None:
    """XNOR convolutions: 40 channels (two words, the second partial), SAME padding with +1, VALID stride 2;
    in C-simulation and, for the iCEBreaker, in Verilog."""
    import keras
    from sklearn.datasets import load_digits

    from edgesdk.compiler.data import make_inputs
    from edgesdk.compiler.model import load_model
    from edgesdk.compress import compress

    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32).reshape(-1, 8, 8, 1), d.target.astype(np.int64)
    keras.utils.set_random_seed(22)
    inp = keras.Input((8, 8, 1), batch_size=1)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    h = keras.layers.Conv2D(40, 3, padding="same", activation="relu")(h)
    h = keras.layers.Conv2D(16, 3, strides=2, padding="valid", activation="relu")(h)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(h)))
    out = tmp_path / "cnn.xnor"
    compress(model, "xnor", (x[:300], y[:300]), (x[300:400], y[300:400]), epochs=1, out=out, progress=False)
    graph = load_model(out)
    assert [n.op for n in graph.nodes].count("EDGESDK_XNOR_CONV_2D") == 2
    hls_model, plan = build_hls_model(graph, tmp_path / "prj")
    assert [layer["class_name"] for layer in plan.layer_list].count("EdgeXnorConv") == 2
    # synth for the iCEBreaker: C-simulation, then each XNOR conv in Verilog under Icarus Verilog
    data = make_inputs(graph, x[1400:1403], 3)
    r = synth(graph, "icebreaker", tmp_path / "ice", inputs=data, count=len(data), place_and_route=False)
    assert r.bit_exact and r.mismatches == []
    rows = r.report["rtl"]["layers"]
    assert [row["kind"] for row in rows] == ["conv", "conv"]
    assert all(row["rtl_equals_reference"] and row["vectors"] == len(data) for row in rows)
    assert [row["simulated_cycles"] // row["cycles_per_vector"] for row in rows] == [64, 9]  # pixels
    first = next(u for u in plan.units if u["kind"] == "xnor")
    assert first["cycles"] == (first["mh"] // first["pe"]) * (first["mw"] // first["simd"]) * 64


@pytest.mark.parametrize("backend", extensions.BACKENDS)
def test_xnor_folding_is_checked_by_our_pass_on_both_backends(
    digits_xnor: Any, tmp_path: Path, backend: str
) -> None:
    from edgesdk.errors import EdgeSDKError

    graph = digits_xnor[0]
    names = [n.name for n in graph.nodes if n.op == "EDGESDK_XNOR_FULLY_CONNECTED"]

    def folded(pe: int, simd: int) -> Any:  # the folding as the hls pipeline leaves it on the node
        g = copy.deepcopy(graph)
        next(n for n in g.nodes if n.name == names[0]).attrs["xnor_folding"] = (pe, simd)
        return g

    with pytest.raises(EdgeSDKError, match=r"PE=3 must divide 64 rows"):
        build_hls_model(folded(3, 1), tmp_path / "bad", backend=backend)
    model, _ = build_hls_model(folded(4, 2), tmp_path / "ok", backend=backend)
    cycles = [
        layer.get_attr("fold_cycles") for layer in model.get_layers() if layer.class_name == "EdgeXnorDense"
    ]
    assert cycles[0] == (64 // 4) * (2 // 2)


def test_an_accumulator_that_could_overflow_is_refused(hls_models: dict[str, Path], tmp_path: Path) -> None:
    graph = read_tflite(hls_models["winograd"])
    bias = graph.tensor(graph.nodes[0].inputs[2])
    bias.data = np.full_like(np.asarray(bias.data), (1 << 31) - 1000)
    with pytest.raises(UnsupportedOpError, match=r"^layer .*: its int32 accumulator could overflow"):
        graph_to_layer_list(graph, output_dir=tmp_path)


def test_xnor_rtl_on_a_partial_word_with_extreme_thresholds(tmp_path: Path) -> None:
    """K = 45 input bits (a partial second word), 12 rows folded PE=3 / SIMD=16, thresholds at and beyond the
    reachable dot products (constant outputs) and flipped rows, against the reference's XNOR math."""
    import shutil

    from edgesdk.backends.hls import rtl
    from edgesdk.reference.binary import pack_bits, threshold_bits, xnor_dot

    if not shutil.which("iverilog"):
        pytest.fail("iverilog is not installed (scripts/setup.sh installs it)")
    rng = np.random.default_rng(31)
    k, mh, n = 45, 12, 40
    w = pack_bits(rng.random((mh, k)) < 0.5)
    x = pack_bits(rng.random((n, k)) < 0.5)
    thr = rng.integers(-20, 21, size=mh)
    thr[:4] = [-(1 << 30), 1 << 30, -k, k]
    flip = rng.random(mh) < 0.5
    want = pack_bits(threshold_bits(xnor_dot(x[:, None, :], w[None, :, :], k), thr, flip))
    for pipeline in (True, False):  # the pipelined unit and the first, single-cycle one
        design = rtl.xnor_dense_verilog(w, k, thr, flip, pe=3, simd=16, module="xnor_edge", pipeline=pipeline)
        got, cycles = rtl.simulate(design, x, tmp_path / f"sim{pipeline}")
        np.testing.assert_array_equal(got, want)
        assert cycles == [(mh // 3) * (64 // 16) + 1 + (rtl.PIPELINE_STAGES if pipeline else 0)] * n


# --- the whole network in Verilog ---------------------------------------------------------------------------------


def _ternary_tail(graph: Any) -> Any:
    """A copy of ``graph`` whose last FULLY_CONNECTED has ternary weights {-127, 0, 127} (TWN's threshold
    0.7 mean|w|), so that one network holds an int8, XNOR and ternary layer."""
    g = copy.deepcopy(graph)
    node = [n for n in g.nodes if n.op == "FULLY_CONNECTED"][-1]
    t = g.tensor(node.inputs[1])
    w = np.asarray(t.data).astype(np.int64)
    keep = np.abs(w) > 0.7 * np.abs(w).mean()
    t.data = (np.sign(w) * 127 * keep).astype(np.int8)
    return g


def test_whole_binary_network_to_an_ice40_bitstream(digits_xnor: Any, tmp_path: Path) -> None:
    """The digits network (int8 first and last layers, two XNOR layers) as one Verilog design: its simulation
    equals the reference bit for bit, yosys and nextpnr-ice40 place it on the UP5K and icepack writes the
    bitstream; the estimate's cycles and EBR equal the simulated and synthesized figures of every layer."""
    import shutil

    if not (shutil.which("iverilog") and shutil.which("yosys") and shutil.which("nextpnr-ice40")):
        pytest.fail("iverilog, yosys and nextpnr-ice40 are not installed (scripts/setup.sh installs them)")
    graph, _, data, _ = digits_xnor
    r = synth(graph, "icebreaker", tmp_path / "net", inputs=data[:3], count=3)
    rtl = r.report["rtl_network"]
    assert r.bit_exact and rtl["bit_exact_count"] == rtl["inputs"] == 3
    assert rtl["host_softmax"] == graph.nodes[-1].name
    kinds = [row["kind"] for row in rtl["layers"]]
    assert kinds == ["fc", "binarize", "xnor", "xnor", "unpack", "fc"]
    for row in rtl["layers"]:
        assert row["simulated_cycles"] == row["estimate_cycles"], row
        assert row["yosys"]["ebr"] == row["estimate_bram"], row
        assert row["yosys"]["dsp"] == row["estimate_dsp"], row
    fig = rtl["yosys"]
    assert fig["dsp"] == 2 and fig["ebr"] == r.estimate["total_bram"]
    assert rtl["shared_units"]["requant"]["lut4"] > 0
    assert rtl["compute_cycles"] == r.estimate["compute_cycles"]
    pnr = rtl["pnr"]
    assert pnr["placed"]["ICESTORM_LC"]["available"] == 5280 and pnr["placed"]["ICESTORM_DSP"]["used"] == 2
    assert pnr["fmax_mhz"] > 0 and Path(pnr["bitstream"]).stat().st_size == pnr["bitstream_bytes"] > 100_000
    assert rtl["inferences_per_s"] > 0 and rtl["energy"]["uj_per_inference"] > 0
    md = (tmp_path / "net" / "report.md").read_text(encoding="utf-8")
    assert "bit-exact: **3/3**" in md and "Fmax" in md


def test_ternary_layer_in_verilog_equals_the_reference(digits_xnor: Any, tmp_path: Path) -> None:
    """A ternary last layer takes the add/subtract unit (no DSP block): the simulation still equals the
    reference of the ternary graph bit for bit, on inputs whose outputs differ."""
    from edgesdk.backends.rtl.flow import simulate_network, yosys_stat
    from edgesdk.backends.rtl.network import estimate_network, network_verilog

    graph = _ternary_tail(digits_xnor[0])
    data = digits_xnor[2]
    design = network_verilog(graph)
    assert [layer.kind for layer in design.layers][-1] == "ternary"
    values = Reference(graph).run_batch_all(data)
    want = values[design.output_tensor].reshape(len(data), -1)
    got, cycles, per_layer = simulate_network(
        design, values[design.input_tensor].reshape(len(data), -1), tmp_path / "sim"
    )
    np.testing.assert_array_equal(got, want)
    assert len({tuple(row) for row in want.tolist()}) > 1
    est = estimate_network(design)
    assert cycles == [est["compute_cycles"]] * len(data)
    assert per_layer[0] == [row["cycles"] for row in est["layers"]]
    assert est["layers"][-1]["dsp"] == 0
    cells = yosys_stat(design.write(tmp_path / "syn"), design.layers[-1].params["module"], tmp_path / "syn")
    assert cells.get("SB_RAM40_4K", 0) == est["layers"][-1]["bram"] and "SB_MAC16" not in cells


def test_a_network_too_big_for_the_ice40_is_refused_with_exit_5(tmp_path: Path) -> None:
    """An int8 MLP with 64 KiB of weights needs more EBR than the UP5K's 30: the command exits 5 with one
    sentence naming the resource before it writes anything."""
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((64,), batch_size=1)
    h = keras.layers.Dense(1024, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(10)(h), name="wide")
    path = _convert(model, (64,), tmp_path / "wide.tflite", 3)
    out = tmp_path / "wide"
    code = main(["synth", str(path), "-b", "icebreaker", "-o", str(out)])
    assert code == 5
    assert not out.exists()


def _windowed_cnn(tmp_path: Path) -> Any:
    """A tiny int8 network with one layer of each windowed type (9x7x3 input, 8/6/5 channels, 4 classes)."""
    import keras

    keras.utils.set_random_seed(5)
    inp = keras.Input((9, 7, 3), batch_size=1)
    h = keras.layers.Conv2D(8, (3, 2), strides=(2, 1), padding="same", activation="relu")(inp)
    h = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(h)
    h = keras.layers.Conv2D(6, 1, activation="relu")(h)
    h = keras.layers.Conv2D(5, 3, padding="valid")(h)
    h = keras.layers.AveragePooling2D((3, 2), strides=(1, 2), padding="same")(h)
    out = keras.layers.Dense(4)(keras.layers.Flatten()(h))
    return read_tflite(_convert(keras.Model(inp, out), (9, 7, 3), tmp_path / "cnn.tflite", 1))


def test_mac_arrays_in_verilog_equal_the_reference_and_the_estimate(tmp_path: Path) -> None:
    """With a parallelism of 4 each int8 layer computes the largest divisor of its channels not above 4 at once
    (8 -> 4, 6 -> 3, 5 -> 1, 4 classes -> 4; the depthwise one 1, its requantizations overlapping the next
    outputs on two units in turn): the simulation still equals the reference bit for bit, every layer's
    simulated cycles equal the estimate, the convolution's four multipliers are four
    MULT18X18D and its wide weight words the DP16KD the estimate counts; ``auto`` picks the largest
    parallelism whose estimate fits the UP5K's 8 DSP blocks."""
    from edgesdk.backends.rtl.flow import ecp5_figures, simulate_network, yosys_stat
    from edgesdk.backends.rtl.network import estimate_network, network_verilog
    from edgesdk.backends.rtl.synth import estimate_fit

    graph = _windowed_cnn(tmp_path)
    design = network_verilog(graph, parallel=4)
    assert [layer.params.get("p") for layer in design.layers] == [4, 1, 3, 1, None, 4]
    data = np.random.default_rng(3).integers(-128, 128, size=(3, 9 * 7 * 3)).astype(np.int8)
    values = Reference(graph).run_batch_all(data)
    got, cycles, per_layer = simulate_network(
        design, values[design.input_tensor].reshape(3, -1), tmp_path / "sim", "iverilog"
    )
    np.testing.assert_array_equal(got, values[design.output_tensor].reshape(3, -1))
    est = estimate_network(design, "ecp5")
    assert cycles == [est["compute_cycles"]] * 3
    assert per_layer[0] == [row["cycles"] for row in est["layers"]]
    assert est["compute_cycles"] < estimate_network(network_verilog(graph), "ecp5")["compute_cycles"]
    assert [row["dsp"] for row in est["layers"]] == [4, 1, 3, 1, 0, 4]
    assert design.layers[1].params["rot"] and est["layers"][1]["cycles"] == 5 * 7 * 8 * (9 + 4) + 1 + 23
    cells = yosys_stat(
        design.write(tmp_path / "syn"), design.layers[0].params["module"], tmp_path / "syn", "ecp5"
    )
    fig = ecp5_figures(cells)
    assert (fig["dsp"], fig["ebr"]) == (4, est["layers"][0]["bram"])
    auto = estimate_fit(graph, get_fpga_board("icebreaker"), lambda line: None, parallel=0)
    assert auto["parallel"] == 2 and auto["total_dsp"] <= 8
    assert estimate_network(network_verilog(graph, parallel=4))["total_dsp"] > 8
    with pytest.raises(UnsupportedOpError, match="parallelism of 33"):
        network_verilog(graph, parallel=33)


def test_convolution_layers_in_verilog_equal_the_reference_and_the_estimate(tmp_path: Path) -> None:
    """One layer of each windowed type (CONV_2D with stride and SAME padding, DEPTHWISE_CONV_2D, a 1x1 and a
    VALID CONV_2D, AVERAGE_POOL_2D with partial windows, RESHAPE, FULLY_CONNECTED) in one Verilog network: the
    simulation equals the reference bit for bit, and every layer's simulated cycles and yosys block RAMs equal
    the estimate."""
    from edgesdk.backends.rtl.flow import simulate_network, yosys_stat
    from edgesdk.backends.rtl.network import estimate_network, network_verilog

    graph = _windowed_cnn(tmp_path)
    design = network_verilog(graph)
    assert [layer.kind for layer in design.layers] == ["conv", "dwconv", "conv", "conv", "avgpool", "fc"]
    data = np.random.default_rng(2).integers(-128, 128, size=(4, 9 * 7 * 3)).astype(np.int8)
    values = Reference(graph).run_batch_all(data)
    got, cycles, per_layer = simulate_network(
        design, values[design.input_tensor].reshape(4, -1), tmp_path / "sim"
    )
    np.testing.assert_array_equal(got, values[design.output_tensor].reshape(4, -1))
    est = estimate_network(design)
    assert cycles == [est["compute_cycles"]] * 4
    assert per_layer[0] == [row["cycles"] for row in est["layers"]]
    verilog = design.write(tmp_path / "syn")
    picked = [0, 1, 4]  # conv (weights in EBR), depthwise, average pool
    for layer, row in zip(
        [design.layers[i] for i in picked], [est["layers"][i] for i in picked], strict=True
    ):
        cells = yosys_stat(verilog, layer.params["module"], tmp_path / "syn")
        assert cells.get("SB_RAM40_4K", 0) == row["bram"], layer.name
        assert cells.get("SB_MAC16", 0) == row["dsp"], layer.name


def test_int8_layer_maps_onto_ecp5_multipliers_and_block_ram(digits_xnor: Any, tmp_path: Path) -> None:
    """The same generator for the ECP5 of the ULX3S: yosys synth_ecp5 puts the int8 layer's multiply-accumulate
    on one MULT18X18D and its weights in the DP16KD blocks the estimate counts; the board file is data."""
    from edgesdk.backends.rtl.flow import ecp5_figures, yosys_stat
    from edgesdk.backends.rtl.network import estimate_network, network_verilog
    from edgesdk.backends.rtl.synth import family_of

    board = get_fpga_board("ulx3s")
    assert family_of(board) == "ecp5" and family_of(get_fpga_board("icebreaker")) == "ice40"
    assert board.resources["dsp"] == 156 and board.resources["bram_18k"] == 208
    design = network_verilog(digits_xnor[0])
    est = estimate_network(design, "ecp5")
    first = design.layers[0]
    fig = ecp5_figures(yosys_stat(design.write(tmp_path), first.params["module"], tmp_path, "ecp5"))
    assert fig["dsp"] == 1 and fig["ebr"] == est["layers"][0]["bram"] > 0


_REQUANT_TB = """
module tb #(parameter N = 1);
    reg clk = 0;
    always #5 clk = ~clk;
    reg go = 0;
    reg signed [31:0] acc, off, lo, hi;
    reg [31:0] mult;
    reg signed [7:0] shift;
    wire done;
    wire [7:0] y;
    reg [31:0] v [0:6 * N - 1];
    integer i, f;
    edgesdk_requant dut (.clk(clk), .go(go), .acc(acc), .mult(mult), .shift(shift), .out_off(off),
        .act_min(lo), .act_max(hi), .done(done), .y(y));
    initial begin
        $readmemh("vectors.hex", v);
        f = $fopen("y.txt", "w");
        for (i = 0; i < N; i = i + 1) begin
            @(negedge clk);
            {acc, mult, shift, off, lo, hi} = {v[6*i], v[6*i+1], v[6*i+2][7:0], v[6*i+3], v[6*i+4], v[6*i+5]};
            go = 1;
            @(negedge clk);
            go = 0;
            while (!done) @(posedge clk);
            #1 $fwrite(f, "%0d\\n", $signed(y));
        end
        $fclose(f);
        $finish;
    end
endmodule
"""


def test_requantization_unit_equals_the_reference_at_its_edges(digits_xnor: Any, tmp_path: Path) -> None:
    """The Verilog requantization unit (serial SaturatingRoundingDoublingHighMul, RoundingDivideByPOT, offset,
    clamp) against the reference's ``multiply_by_quantized_multiplier`` on extreme and random operands."""
    import subprocess

    from edgesdk.backends.rtl.network import network_verilog
    from edgesdk.ir.quantmath import multiply_by_quantized_multiplier

    rng = np.random.default_rng(9)
    n = 300
    acc = rng.integers(-(2**31), 2**31, size=n, dtype=np.int64)
    acc[:12] = [-(2**31), 2**31 - 1, 0, 1, -1, 2, -2, 3, -3, 2**20, -(2**20), 12345]
    acc[12:150] //= 2 ** rng.integers(0, 31, size=138)
    mult = rng.integers(2**30, 2**31, size=n, dtype=np.int64)
    mult[:3] = [2**30, 2**31 - 1, 1 << 30 | 1]
    shift = rng.integers(-31, 3, size=n, dtype=np.int64)
    shift[:12] = [-31, 0, -1, -1, -1, -1, -1, 1, 2, -30, -12, 0]
    off = rng.integers(-128, 128, size=n, dtype=np.int64)
    lo = np.where(rng.random(n) < 0.5, -128, rng.integers(-128, 0, size=n))
    hi = np.where(rng.random(n) < 0.5, 127, rng.integers(0, 128, size=n))
    want = np.clip(multiply_by_quantized_multiplier(acc, mult, shift) + off, lo, hi)
    rows = np.stack([acc, mult, shift, off, lo, hi], axis=1).reshape(-1)
    (tmp_path / "vectors.hex").write_text("\n".join(f"{int(v) & 0xFFFFFFFF:08x}" for v in rows) + "\n")
    (tmp_path / "tb.v").write_text(_REQUANT_TB)
    (tmp_path / "net.v").write_text(network_verilog(digits_xnor[0]).verilog)
    subprocess.run(
        ["iverilog", "-g2005", "-s", "tb", f"-Ptb.N={n}", "-o", "r.vvp", "tb.v", "net.v"],
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    subprocess.run(["vvp", "-n", "r.vvp"], cwd=tmp_path, check=True, timeout=300, capture_output=True)
    got = np.array([int(v) for v in (tmp_path / "y.txt").read_text().split()])
    np.testing.assert_array_equal(got, want)
