"""``export --mlperf`` (issue 7, item 10): the MLPerf Tiny benchmark a firmware announces and how it reads the
runner's bytes come from one explicit mode (given, or inferred from the input shape), for all four benchmarks;
and the protocol's timestamps are microseconds of the board clock, so the runner's latency equals ``profile``'s.

IC and AD are the shared MLPerf Tiny models; KWS (1x49x10x1) and VWW (1x96x96x3) are tiny Keras models with
those input shapes, quantized by the real converter. The four run through the MLPerf protocol in the harness
built for the host (same C as on a board); the timestamps are checked on the emulated STM32.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesdk.commands.export import export
from edgesdk.errors import EdgeSDKError
from edgesdk.reference import Reference
from edgesdk.runtime.mlperf_modes import MODES, resolve_mlperf
from edgesdk.transport import DeviceClient, Emulator, MLPerfClient, ProcessTransport
from edgesdk.transport.mlperf import MLPerfError


def _keras_graph(shape: tuple[int, ...], classes: int, name: str):
    import keras

    from edgesdk.compiler.model import load_model

    keras.utils.set_random_seed(3)
    inp = keras.Input(shape, batch_size=1)
    x = inp
    if shape[0] > 64:  # VWW-sized input: shrink first, the test is about the protocol, not the network
        x = keras.layers.AveragePooling2D(8)(x)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(classes)(x)
    model = keras.Model(inp, keras.layers.Softmax()(x), name=name)
    calib = np.random.default_rng(0).uniform(0, 1, size=(16, *shape)).astype(np.float32)
    return load_model(model, calib=calib)


@pytest.fixture(scope="module")
def graphs(ic_graph, ad_graph) -> dict:
    return {
        "ic01": ic_graph,
        "ad01": ad_graph,
        "kws01": _keras_graph((49, 10, 1), 12, "tiny_kws"),
        "vww01": _keras_graph((96, 96, 3), 2, "tiny_vww"),
    }


def test_mode_is_inferred_from_the_input_shape_or_given(graphs: dict) -> None:
    for name, graph in graphs.items():
        mode = resolve_mlperf(graph, None)
        mode.pop("input_quant_warning", None)  # the tiny KWS stand-in is not quantized as the reference
        assert mode == {"model": name, "input_offset": MODES[name].input_offset, "inferred": True}
        assert resolve_mlperf(graph, name)["inferred"] is False
    assert MODES["ic01"].input_offset == MODES["vww01"].input_offset == -128
    assert MODES["kws01"].input_offset == MODES["ad01"].input_offset == 0
    with pytest.raises(EdgeSDKError) as err:
        resolve_mlperf(graphs["kws01"], "ic01")
    assert str(err.value) == (
        "--mlperf ic01 (image classification (CIFAR-10, ResNet-8)) sends inputs of shape 1x32x32x3, "
        "but model tiny_kws takes 1x49x10x1"
    )


@pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is needed")
@pytest.mark.parametrize("name", ["ic01", "kws01", "vww01", "ad01"])
def test_each_benchmark_through_the_mlperf_protocol(name: str, graphs: dict, tmp_path: Path) -> None:
    graph = graphs[name]
    built = export(graph, "host", tmp_path / "p", build=True, mlperf_model=None)
    mode = dict(built.report["mlperf"])
    assert ("input_quant_warning" in mode) == (
        name == "kws01"
    )  # the tiny KWS stand-in is not quantized as the reference
    mode.pop("input_quant_warning", None)
    assert mode == {"model": name, "input_offset": MODES[name].input_offset, "inferred": True}
    size = int(np.prod(graph.tensors[graph.inputs[0]].shape))
    sent = np.random.default_rng(5).integers(0, 256, size=size, dtype=np.uint8)  # what the runner sends
    x = (
        (sent.astype(np.int16) + MODES[name].input_offset).astype(np.uint8).view(np.int8)
    )  # what the model gets
    expected = Reference(graph).run(x.reshape(graph.tensors[graph.inputs[0]].shape)).ravel()
    q = graph.tensors[graph.outputs[0]].quant
    assert built.elf is not None
    with ProcessTransport([built.elf]) as t:
        m = MLPerfClient(t, timeout=30.0)
        m.read_banner()
        assert m.profile()[1] == name
        m.load(sent.tobytes(), chunk=120)  # a command holds at most 256 characters
        got = np.asarray(m.infer(1, 0).results)
    # the board prints dequantized outputs with 3 decimals; where an output step is wider than that (softmax:
    # 1/256), quantizing the printout again recovers the int8 output exactly
    if q.s > 0.002:
        np.testing.assert_array_equal(np.round(got / q.s + q.zp).astype(np.int64), expected.astype(np.int64))
    else:
        want = (expected.astype(np.float64) - q.zp) * q.s
        assert np.max(np.abs(got - want)) <= 0.0005 + 1e-6


@pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is needed")
def test_firmware_without_a_mode_refuses_mlperf_inputs(tmp_path: Path) -> None:
    from fwbuild import build_tiny

    elf = build_tiny("host", tmp_path, mlperf_model="none")
    with ProcessTransport([elf]) as t:
        m = MLPerfClient(t)
        m.read_banner()
        assert m.profile()[1] == "none"
        with pytest.raises(MLPerfError, match=r"no MLPerf Tiny benchmark: export the model with --mlperf"):
            m.command("db load 4")


@pytest.mark.emulator
@pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="QEMU and arm-none-eabi-gcc are needed",
)
def test_runner_latency_equals_profile_latency_on_the_emulator(ad_graph, tmp_path: Path) -> None:
    built = export(ad_graph, None, tmp_path / "p", build=True)
    x = np.random.default_rng(2).integers(-128, 128, size=(1, 640), dtype=np.int8)
    n = 20
    assert built.elf is not None
    with Emulator.for_board(built.board, built.elf) as emu:  # the boot banner (MLPerf's) is read here
        client = DeviceClient(emu.transport, timeout=10.0)
        info = client.info()
        client.load_input(x)
        counts = client.run(3)
        profile_us = info.counts_to_us(counts[0])
        m = MLPerfClient(emu.transport, timeout=30.0)
        m.load(x.view(np.uint8).tobytes(), chunk=120)  # ad01: the runner's bytes are the int8 input
        r = m.infer(n, 0)
    assert len(set(counts)) == 1 and info.timer_unit == "instructions"
    runner_us = (r.end_us - r.start_us) / n
    # The runner's window holds n inferences plus the loop around them (a few hundred instructions, ~0.01 % of
    # one inference here) and each timestamp is truncated to whole microseconds. Before timestamps were
    # converted to the board clock they were 1e9 / 168 MHz = 5.95x smaller than profile's figure.
    assert profile_us > 1000
    assert abs(runner_us - profile_us) <= 0.001 * profile_us + 2.0 / n


def _input_graph(shape: tuple[int, ...], scale: float, zp: int):
    from edgesdk.ir import graph as ir

    g = ir.Graph("kws_like")
    q = ir.QuantParams(scale=[scale], zero_point=[zp])
    g.add_tensor(ir.Tensor("x", shape, "int8", q))
    g.inputs, g.outputs = ["x"], ["x"]
    return g


def test_benchmark_input_quantization_is_checked(ad_graph, caplog: pytest.LogCaptureFixture) -> None:
    """The runner sends the benchmark's bytes as they are: a model whose input scale or zero point differs from the
    reference's reads other values (191 of 200 KWS outputs changed for 0.58241/84 against 0.58470/83), so
    export warns with both figures; the reference models' own quantization passes silently."""
    with caplog.at_level("WARNING", logger="edgesdk.runtime.mlperf_modes"):
        mode = resolve_mlperf(_input_graph((1, 49, 10, 1), 0.58241, 84), "kws01")
    assert mode["model"] == "kws01"
    warning = mode["input_quant_warning"]
    assert "0.58241" in warning and "84" in warning and "0.584703" in warning and "83" in warning
    assert warning in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="edgesdk.runtime.mlperf_modes"):
        assert "input_quant_warning" not in resolve_mlperf(
            _input_graph((1, 49, 10, 1), 0.5847029089927673, 83), None
        )
        assert "input_quant_warning" not in resolve_mlperf(ad_graph, "ad01")
    assert caplog.text == ""
