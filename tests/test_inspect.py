"""inspect: MACs, parameters and peak live activation memory, checked against numbers worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgesdk.commands import cli
from edgesdk.commands.inspection import format_summary, live_intervals, peak_memory, summarize
from edgesdk.compiler.model import load_model
from edgesdk.ir import graph as ir


def _q() -> ir.QuantParams:
    return ir.QuantParams(scale=[0.1], zero_point=[0])


def _act(g: ir.Graph, name: str, shape: tuple[int, ...]) -> str:
    g.add_tensor(ir.Tensor(name, shape, "int8", _q()))
    return name


def _const(g: ir.Graph, name: str, shape: tuple[int, ...], dtype: str = "int8") -> str:
    g.add_tensor(ir.Tensor(name, shape, dtype, _q(), data=np.zeros(shape, dtype)))
    return name


@pytest.fixture
def hand_graph() -> ir.Graph:
    """x 1x8x8x3 -> conv(4, 3x3, SAME) -> a 1x8x8x4 -> dw(3x3, M=2) -> b 1x8x8x8 -> reshape -> c 1x512
    -> fc(10) -> d 1x10. Activation bytes (int8): x 192, a 256, b 512, c 512, d 10."""
    g = ir.Graph("hand")
    g.inputs = [_act(g, "x", (1, 8, 8, 3))]
    for name, shape in (("a", (1, 8, 8, 4)), ("b", (1, 8, 8, 8)), ("c", (1, 512)), ("d", (1, 10))):
        _act(g, name, shape)
    g.nodes = [
        ir.Conv2D("conv", ["x", _const(g, "w1", (4, 3, 3, 3)), _const(g, "b1", (4,), "int32")], ["a"]),
        ir.DepthwiseConv2D(
            "dw",
            ["a", _const(g, "w2", (1, 3, 3, 8)), _const(g, "b2", (8,), "int32")],
            ["b"],
            depth_multiplier=2,
        ),
        ir.Reshape("flat", ["b", _const(g, "shape", (2,), "int32")], ["c"], new_shape=(1, 512)),
        ir.FullyConnected("fc", ["c", _const(g, "w3", (10, 512)), _const(g, "b3", (10,), "int32")], ["d"]),
    ]
    g.outputs = ["d"]
    g.validate()
    return g


def test_macs_params_bytes_by_hand(hand_graph: ir.Graph) -> None:
    s = summarize(hand_graph)
    by = {layer["name"]: layer for layer in s["layers"]}
    assert by["conv"]["macs"] == 8 * 8 * 4 * (3 * 3 * 3)  # 6912
    assert by["dw"]["macs"] == 8 * 8 * 8 * (3 * 3)  # 4608
    assert by["fc"]["macs"] == 10 * 512  # 5120
    assert by["flat"]["macs"] == 0
    assert by["conv"]["params"] == 4 * 27 + 4 and by["conv"]["weight_bytes"] == 4 * 27 + 4 * 4
    assert by["dw"]["params"] == 72 + 8 and by["dw"]["weight_bytes"] == 72 + 32
    assert by["flat"]["params"] == 0  # the shape operand is structure, not a parameter
    assert by["fc"]["params"] == 5120 + 10 and by["fc"]["weight_bytes"] == 5120 + 40
    assert s["totals"]["macs"] == 6912 + 4608 + 5120
    assert by["dw"]["input_shapes"] == [[1, 8, 8, 4]] and by["dw"]["output_shapes"] == [[1, 8, 8, 8]]
    assert by["fc"]["activation_bytes"] == 10


def test_peak_memory_by_hand(hand_graph: ir.Graph) -> None:
    # Reshape aliased: buffer b(=c) lives steps 1..3.
    #   step 0 conv: x 192 + a 256           = 448
    #   step 1 dw:   a 256 + b 512           = 768
    #   step 2 flat: b/c 512                 = 512
    #   step 3 fc:   c 512 + d 10            = 522
    peak, live = peak_memory(hand_graph)
    assert live == [448, 768, 512, 522] and peak == 768
    # Reshape a separate buffer: step 2 holds b and c.
    peak, live = peak_memory(hand_graph, alias_reshape=False)
    assert live == [448, 768, 1024, 522] and peak == 1024
    spans = live_intervals(hand_graph)
    assert spans["x"] == (0, 0, 192) and spans["b"] == (1, 3, 512) and spans["d"] == (3, 3, 10)
    s = summarize(hand_graph)
    assert s["totals"]["peak_activation_bytes"] == 768 and s["totals"]["peak_layer"] == "dw"


def test_input_lives_until_its_last_reader() -> None:
    """A residual: x is read again at the last step, so it is live throughout."""
    g = ir.Graph("res")
    g.inputs = [_act(g, "x", (1, 100))]
    _act(g, "y", (1, 100))
    _act(g, "z", (1, 100))
    g.nodes = [ir.Logistic("sig", ["x"], ["y"]), ir.Add("add", ["x", "y"], ["z"])]
    g.outputs = ["z"]
    assert peak_memory(g) == (300, [200, 300])


def test_ic_model_totals(ic_model: Path) -> None:
    s = summarize(load_model(ic_model))
    # ResNet-8 MACs: conv 32x32x16*27 + 2x 32x32x16*144 + 16x16x32*144 + 16x16x32*288 + 16x16x32*16
    #                + 8x8x64*288 + 8x8x64*576 + 8x8x64*32 + FC 64*10
    macs = (
        32 * 32 * 16 * 27
        + 2 * 32 * 32 * 16 * 144
        + 16 * 16 * 32 * 144
        + 16 * 16 * 32 * 288
        + 16 * 16 * 32 * 16
        + 8 * 8 * 64 * 288
        + 8 * 8 * 64 * 576
        + 8 * 8 * 64 * 32
        + 64 * 10
    )
    assert s["totals"]["macs"] == macs == 12_501_632
    # At conv2d_2 three 32x32x16 int8 tensors are live: the block input (kept for the add), the first
    # conv's output (read now) and the second conv's output (written now).
    assert s["totals"]["peak_activation_bytes"] == 3 * 32 * 32 * 16
    assert s["totals"]["peak_layer"] == "conv2d_2"
    assert s["totals"]["params"] == 77_706


def test_ad_model_totals(ad_model: Path) -> None:
    s = summarize(load_model(ad_model))
    assert s["totals"]["macs"] == 640 * 128 + 3 * 128 * 128 + 128 * 8 + 8 * 128 + 3 * 128 * 128 + 128 * 640
    assert s["totals"]["peak_activation_bytes"] == 640 + 128  # input + first hidden layer


def test_format_summary_table(hand_graph: ir.Graph) -> None:
    text = format_summary(summarize(hand_graph))
    lines = text.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("#"))
    rows = lines[header + 2 : header + 6]
    assert [r.split()[1] for r in rows] == ["conv", "dw", "flat", "fc"]
    # Columns align: the MACs column ends at the same place on every row.
    col = lines[header].index("MACs") + len("MACs")
    assert all(r[col - 1].isdigit() for r in rows)
    assert "6,912" in rows[0] and "peak live activations of the layers as read: 768 bytes at layer dw" in text


def test_cli_json(ic_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["inspect", str(ic_model), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["totals"]["macs"] == 12_501_632 and len(s["layers"]) == 16
    assert cli.main(["inspect", str(ic_model)]) == 0
    out = capsys.readouterr().out
    assert "conv2d_2" in out and "12,501,632 MACs" in out


def test_inspect_refuses_what_export_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A FULLY_CONNECTED on int32 tensors: the C backend refuses the graph, and both commands refuse the file with
    one and the same sentence (exit 3), the model verifier's, before anything is written."""
    from edgesdk.commands.export import export
    from edgesdk.errors import UnsupportedOpError
    from edgesdk.ir.serialize import save_graph

    g = ir.Graph("fc32")
    g.add_tensor(ir.Tensor("x", (1, 8), "int32", _q()))
    g.add_tensor(ir.Tensor("y", (1, 4), "int32", _q()))
    g.inputs, g.outputs = ["x"], ["y"]
    g.nodes = [ir.FullyConnected("fc", ["x", _const(g, "w", (4, 8))], ["y"])]
    with pytest.raises(UnsupportedOpError) as exported:
        export(g, "netduinoplus2", tmp_path / "out")
    path = save_graph(g, tmp_path / "fc32.edgesdk")
    assert "int32" in str(exported.value)
    assert cli.main(["inspect", str(path)]) == 3
    said = capsys.readouterr().err.split("error:", 1)[1]
    assert "input x is int32" in said
    assert cli.main(["export", str(path), "-o", str(tmp_path / "o")]) == 3
    assert capsys.readouterr().err.split("error:", 1)[1] == said
    assert not (tmp_path / "o").exists()


def test_inspect_reports_exports_arena_flash_and_stack(
    ic_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """inspect's figures for a board are export's: the arena after the passes with the planner's lower bound,
    the flash and RAM estimate and the stack (not the un-fused peak under another name)."""
    from edgesdk.commands.export import export

    assert cli.main(["inspect", str(ic_model), "--board", "mps2-an386", "--json"]) == 0
    t = json.loads(capsys.readouterr().out)["export"]
    r = export(load_model(ic_model), "mps2-an386", tmp_path / "p")
    assert (t["arena_bytes"], t["arena_lower_bound"]) == (r.plan.arena_bytes, r.plan.lower_bound)
    assert (t["flash"], t["ram"]) == (r.estimate.flash, r.estimate.ram)
    assert r.footprint is not None and t["fits"]
    assert t["stack_estimate"] == r.footprint.stack_estimate > 0
