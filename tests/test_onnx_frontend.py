"""ONNX and PyTorch models in: float exports (both torch exporters, hand-built edge cases) translated faithfully,
QDQ models imported with their own quantization, bad files refused with one sentence.

The float translation is compared with onnxruntime within float rounding (``check_translation``); every integer
path (the quantized IR on the emulated board) is compared bit for bit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgesdk.commands.cli import main  # noqa: E402
from edgesdk.errors import EdgeSDKError, ModelFormatError, UnsupportedOpError  # noqa: E402
from edgesdk.frontends.onnx import SUPPORTED_OPS, load  # noqa: E402
from edgesdk.frontends.onnx_keras import check_translation, to_keras  # noqa: E402

TESTS = Path(__file__).resolve().parent
KINDS = ("conv", "depthwise", "pointwise", "residual", "pooling", "linear", "bn_cnn")


@pytest.fixture(scope="session")
def torch_exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every module of tests/onnx_models.py exported with both exporters, in a child process (no TensorFlow)."""
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("torch_exports")
    subprocess.run(
        [sys.executable, str(TESTS / "onnx_models.py"), str(out)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    return out


def _samples(shape: tuple[int, ...], n: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape[1:])).astype(np.float32)


def _check_float(path_or_model, n: int = 4) -> tuple[object, float]:
    low = load(path_or_model)
    shape = low.input_shapes[low.inputs[0]]
    worst = check_translation(low, to_keras(low), _samples(shape, n))
    return low, worst


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
@pytest.mark.parametrize("kind", KINDS)
def test_torch_exports_translate_faithfully(torch_exports: Path, kind: str, exporter: str) -> None:
    low, worst = _check_float(torch_exports / f"{kind}_{exporter}.onnx")
    assert worst < 1e-5
    # NCHW in, kept NHWC inside: the input's axis order is recorded for validate --inputs.
    assert low.input_orders[low.inputs[0]] == (0, 2, 3, 1)
    kinds = [layer.kind for layer in low.layers]
    expect = {
        "conv": ["conv"],
        "depthwise": ["dwconv"],
        "pointwise": ["conv"],
        "residual": ["conv", "conv", "add"],
        "pooling": ["conv", "maxpool", "avgpool"],
        "linear": ["conv", "reshape", "dense", "softmax"],
        "bn_cnn": ["conv", "dwconv", "conv", "add", "maxpool", "pad", "conv", "mean", "dense"],
    }[kind]
    assert kinds == expect  # BatchNorm folded, activations fused, transposes folded away


# --------------------------------------------------------------------------------------------------------------
# Hand-built graphs: padding and layout edge cases
# --------------------------------------------------------------------------------------------------------------
def _w(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return (rng.standard_normal(shape) * 0.3).astype(np.float32)


def _model(nodes, x_shape, y_rank, inits, opset: int = 18, extra_opsets=(), batch: str | int = 1):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, *x_shape[1:]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * y_rank)
    g = helper.make_graph(nodes, "edge", [x], [y], [numpy_helper.from_array(v, k) for k, v in inits.items()])
    opsets = [helper.make_opsetid("", opset), *(helper.make_opsetid(d, 1) for d in extra_opsets)]
    m = helper.make_model(g, opset_imports=opsets)
    m.ir_version = 8
    return m


def _edge_cases() -> dict[str, object]:
    rng = np.random.default_rng(1)
    cases: dict[str, object] = {}
    # Uneven explicit pads [2, 0, 2, 1] (top 2, left 0, bottom 2, right 1), stride 2.
    cases["pads_2021"] = _model(
        [
            helper.make_node(
                "Conv", ["x", "w", "b"], ["y"], pads=[2, 0, 2, 1], strides=[2, 2], name="conv_uneven"
            )
        ],
        (1, 3, 9, 8),
        4,
        {"w": _w(rng, 4, 3, 3, 3), "b": _w(rng, 4)},
    )
    for auto in ("SAME_UPPER", "SAME_LOWER"):
        cases[f"auto_{auto}"] = _model(
            [helper.make_node("Conv", ["x", "w"], ["y"], auto_pad=auto, strides=[2, 2], name="conv_auto")],
            (1, 2, 8, 8),
            4,
            {"w": _w(rng, 3, 2, 3, 3)},
        )
    # A separate Pad node (opset 18: pads as an input) before a valid conv; BatchNormalization at the input
    # (not after a conv: becomes a 1x1 depthwise); Mul + Add after a conv (BatchNorm written out: folded).
    cases["pad_bn_muladd"] = _model(
        [
            helper.make_node(
                "BatchNormalization", ["x", "g", "be", "m", "v"], ["bn"], epsilon=1e-3, name="bn_in"
            ),
            helper.make_node("Pad", ["bn", "pads"], ["p"], mode="constant", name="pad"),
            helper.make_node("Conv", ["p", "w"], ["c"], name="conv"),
            helper.make_node("Mul", ["c", "s"], ["cm"], name="bn_mul"),
            helper.make_node("Add", ["cm", "t"], ["ca"], name="bn_add"),
            helper.make_node("Clip", ["ca", "lo", "hi"], ["y"], name="relu6"),
        ],
        (1, 2, 6, 6),
        4,
        {
            "g": _w(rng, 2) + 1,
            "be": _w(rng, 2),
            "m": _w(rng, 2),
            "v": np.abs(_w(rng, 2)) + 0.5,
            "pads": np.array([0, 0, 1, 0, 0, 0, 2, 1], np.int64),
            "w": _w(rng, 4, 2, 3, 3),
            "s": _w(rng, 1, 4, 1, 1) + 1,
            "t": _w(rng, 4, 1, 1),
            "lo": np.array(0, np.float32),
            "hi": np.array(6, np.float32),
        },
    )
    # Flatten of a CHW tensor with spatial size > 1 into MatMul + Add (reordering folded into the weights).
    cases["flatten_matmul_add"] = _model(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2], name="conv"),
            helper.make_node("Relu", ["c"], ["r"], name="relu"),
            helper.make_node("Flatten", ["r"], ["f"], axis=1, name="flatten"),
            helper.make_node("MatMul", ["f", "fw"], ["mm"], name="matmul"),
            helper.make_node("Add", ["mm", "fb"], ["y"], name="bias"),
        ],
        (1, 1, 7, 7),
        2,
        {"w": _w(rng, 3, 1, 3, 3), "fw": _w(rng, 27, 5), "fb": _w(rng, 5)},
    )
    # ReduceMean with axes as an input (opset 18), keepdims, then Squeeze (axes input) and Gemm (transB=0).
    cases["reducemean_squeeze_gemm"] = _model(
        [
            helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
            helper.make_node("ReduceMean", ["c", "axes"], ["m"], keepdims=1, name="mean"),
            helper.make_node("Squeeze", ["m", "axes"], ["s"], name="squeeze"),
            helper.make_node("Gemm", ["s", "gw", "gb"], ["g"], alpha=0.5, name="gemm"),
            helper.make_node("Softmax", ["g"], ["y"], axis=-1, name="softmax"),
        ],
        (1, 2, 5, 5),
        2,
        {
            "w": _w(rng, 6, 2, 3, 3),
            "b": _w(rng, 6),
            "axes": np.array([2, 3], np.int64),
            "gw": _w(rng, 6, 4),
            "gb": _w(rng, 4),
        },
    )
    # GlobalAveragePool + Reshape, symbolic batch, unused opset imports.
    cases["gap_reshape_symbolic"] = _model(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], group=2, name="depthwise"),
            helper.make_node("GlobalAveragePool", ["c"], ["p"], name="gap"),
            helper.make_node("Reshape", ["p", "shape"], ["y"], name="reshape"),
        ],
        (1, 2, 6, 6),
        2,
        {"w": _w(rng, 4, 1, 3, 3), "shape": np.array([-1, 4], np.int64)},
        extra_opsets=("ai.onnx.ml", "com.microsoft"),
        batch="N",
    )
    # NHWC input transposed to NCHW and back (what tf2onnx writes), then pooling with padding and a Concat.
    cases["nhwc_pools_concat"] = _model(
        [
            helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2], name="to_nchw"),
            helper.make_node(
                "MaxPool", ["t"], ["mp"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="maxpool_same"
            ),
            helper.make_node(
                "AveragePool",
                ["t"],
                ["ap"],
                kernel_shape=[3, 3],
                pads=[1, 1, 1, 1],
                count_include_pad=1,
                name="avgpool_incl",
            ),
            helper.make_node("Concat", ["mp", "ap"], ["cat"], axis=1, name="concat"),
            helper.make_node("Transpose", ["cat"], ["y"], perm=[0, 2, 3, 1], name="to_nhwc"),
        ],
        (1, 5, 5, 3),
        4,
        {},
        opset=13,
    )
    return cases


EDGE_CASES = _edge_cases()


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_translate_faithfully(case: str) -> None:
    low, worst = _check_float(EDGE_CASES[case])
    assert worst < 1e-5
    kinds = [layer.kind for layer in low.layers]
    if case == "pads_2021":
        assert kinds == ["pad", "conv"] and low.layers[0].params["paddings"][1:3] == ((2, 2), (0, 1))
    if case == "pad_bn_muladd":  # Pad merged into the conv's padding; Mul + Add folded into it
        assert kinds == ["dwconv", "pad", "conv"] and low.layers[2].activation == "RELU6"
    if case == "nhwc_pools_concat":
        assert low.input_orders["x"] == (0, 1, 2, 3)  # the model's own layout is NHWC: nothing to transpose
    if case == "flatten_matmul_add":
        assert kinds == ["conv", "reshape", "dense"] and low.layers[2].params["b"] is not None


def test_tf2onnx_nhwc_export(tmp_path: Path) -> None:
    """A Keras NHWC CNN exported by tf2onnx: Transposes around the NCHW ops cancel, the input stays NHWC."""
    pytest.importorskip("tf2onnx")
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), batch_size=1)
    h = keras.layers.Conv2D(6, 3, padding="same", use_bias=False)(inp)
    h = keras.layers.BatchNormalization(
        moving_variance_initializer="ones", beta_initializer="random_uniform"
    )(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(5, activation="softmax", bias_initializer="random_uniform")(h)
    keras.Model(inp, out).export(str(tmp_path / "saved"), verbose=False)
    onnx_path = tmp_path / "nhwc.onnx"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tf2onnx.convert",
            "--saved-model",
            str(tmp_path / "saved"),
            "--output",
            str(onnx_path),
        ],
        check=True,
        timeout=600,
        capture_output=True,
    )
    low, worst = _check_float(onnx_path)
    assert worst < 1e-5
    assert low.input_orders[low.inputs[0]] == (0, 1, 2, 3)
    assert [layer.kind for layer in low.layers] == [
        "conv",
        "dwconv",
        "maxpool",
        "reshape",
        "dense",
        "softmax",
    ]
    # onnxruntime's QDQ model of it without quant_pre_process: MatMul and its bias Add quantized separately.
    from edgesdk.compiler.model import load_model
    from edgesdk.frontends.onnx_qdq import qdq_agreement, quantize_with_onnxruntime

    x = np.random.default_rng(2).random((16, 8, 8, 1)).astype(np.float32)
    qdq = quantize_with_onnxruntime(
        onnx_path, tmp_path / "qdq.onnx", x, activation="QUInt8", pre_process=False
    )
    assert {"MatMul", "Add"} <= {n.op_type for n in onnx.load(str(qdq)).graph.node}
    graph = load_model(qdq)
    assert [n.op for n in graph.nodes][-2:] == ["FULLY_CONNECTED", "SOFTMAX"] and graph.input_order is None
    rep = qdq_agreement(load(qdq), graph, x, optimize=True)
    assert all(r["iso_max_steps"] <= 1 for r in rep.values() if "iso_max_steps" in r)


def test_inputs_in_the_model_layout_are_transposed(torch_exports: Path) -> None:
    """validate --inputs takes NCHW data for an NCHW model; the IR (and the device) get it NHWC."""
    from edgesdk.compiler.data import make_inputs
    from edgesdk.compiler.model import load_model

    x = _samples((1, 4, 6, 6), 8)
    graph = load_model(torch_exports / "residual_torchscript.onnx", calib=x)
    assert graph.input_order == (0, 2, 3, 1) and graph.source_input_shape() == (1, 4, 6, 6)
    q = graph.tensors[graph.inputs[0]].quant
    expect = np.clip(np.round(x.transpose(0, 2, 3, 1) / q.s) + q.zp, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(make_inputs(graph, x, count=0), expect)
    np.testing.assert_array_equal(make_inputs(graph, expect.transpose(0, 3, 1, 2).copy(), count=0), expect)


# --------------------------------------------------------------------------------------------------------------
# PyTorch modules and .pt2 programs
# --------------------------------------------------------------------------------------------------------------
def test_torch_module_and_pt2_load(torch_exports: Path) -> None:
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(TESTS))
    from edgesdk.compiler.model import load_model
    from onnx_models import MODULES, build

    shape = MODULES["bn_cnn"][1]
    calib = _samples(shape, 16)
    g1 = load_model(build("bn_cnn"), calib=calib, example_inputs=torch.zeros(shape), exporter="torchscript")
    g2 = load_model(torch_exports / "bn_cnn.pt2", calib=calib)
    for g in (g1, g2):
        assert g.input_order == (0, 2, 3, 1)
        assert [n.op for n in g.nodes][:3] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"]
    import tensorflow  # noqa: F401  (torch.export crashes beside it: the dynamo route refuses with a sentence)

    with pytest.raises(EdgeSDKError, match="dynamo exporter in a process that has loaded TensorFlow"):
        load_model(build("conv"), calib=calib, example_inputs=torch.zeros(1, 2, 6, 6), exporter="dynamo")


# --------------------------------------------------------------------------------------------------------------
# QDQ
# --------------------------------------------------------------------------------------------------------------
def _qdq(src: Path, out: Path, activation: str, per_channel: bool, pre_process: bool = True) -> Path:
    from edgesdk.frontends.onnx_qdq import quantize_with_onnxruntime

    xs = np.random.default_rng(5).random((32, 1, 8, 8)).astype(np.float32)
    return quantize_with_onnxruntime(
        src, out, xs, activation=activation, per_channel=per_channel, pre_process=pre_process
    )


@pytest.mark.parametrize(
    ("activation", "per_channel", "pre_process"),
    [("QInt8", True, True), ("QUInt8", False, True), ("QInt8", True, False)],
)
def test_qdq_import_agrees_with_onnxruntime(
    torch_exports: Path, tmp_path: Path, activation: str, per_channel: bool, pre_process: bool
) -> None:
    """Without quant_pre_process BatchNorm stays a QDQ op of its own (a 1x1 depthwise with one int8 weight per
    channel here) and the Pad value is a quantized constant."""
    from edgesdk.compiler.model import load_model
    from edgesdk.frontends.onnx_qdq import qdq_agreement

    path = _qdq(
        torch_exports / "bn_cnn_torchscript.onnx", tmp_path / "qdq.onnx", activation, per_channel, pre_process
    )
    graph = load_model(path)
    assert [n.op for n in graph.nodes].count("DEPTHWISE_CONV_2D") == (1 if pre_process else 3)
    w = graph.tensors[graph.nodes[0].inputs[1]]
    assert w.dtype == "int8" and (w.quant.axis == 0) == per_channel
    low = load(path)
    x = np.random.default_rng(9).random((16, 1, 8, 8)).astype(np.float32)
    for optimize in (False, True):
        rep = qdq_agreement(low, graph, x, optimize=optimize)
        # TFLite's fixed-point requantization vs onnxruntime's float one: each layer computed from onnxruntime's
        # own int8 inputs is at most one step away, and equal almost everywhere at the first layer.
        assert all(r["iso_max_steps"] <= 1 for r in rep.values() if "iso_max_steps" in r)
        assert rep[graph.nodes[0].outputs[0]]["iso_equal"] > 0.99
        # Layers that move values without requantizing (max pooling) agree exactly.
        pool = next(n for n in graph.nodes if n.op == "MAX_POOL_2D")
        assert rep[pool.outputs[0]]["iso_equal"] == 1.0


@pytest.mark.emulator
def test_qdq_and_float_onnx_validate_bit_exact_on_the_emulator(torch_exports: Path, tmp_path: Path) -> None:
    from edgesdk.commands.device import validate
    from edgesdk.compiler.model import load_model

    x = np.random.default_rng(3).random((20, 1, 8, 8)).astype(np.float32)
    qdq = _qdq(torch_exports / "bn_cnn_dynamo.onnx", tmp_path / "qdq.onnx", "QInt8", True)
    for name, graph in (
        ("qdq", load_model(qdq)),
        ("float", load_model(torch_exports / "bn_cnn_dynamo.onnx", calib=x)),
    ):
        s = validate(graph, None, inputs=x, count=10, out_dir=tmp_path / name)
        assert s.exact == s.count == 10


# --------------------------------------------------------------------------------------------------------------
# Bad ONNX: one sentence, the documented exit code
# --------------------------------------------------------------------------------------------------------------
def _cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["inspect", *args])
    err = capsys.readouterr().err.strip()
    return code, err


def test_bad_onnx_files(torch_exports: Path, tmp_path: Path, capsys) -> None:
    good = (torch_exports / "conv_dynamo.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good[: len(good) // 2])
    code, err = _cli(capsys, str(truncated))
    assert code == 2 and "truncated" in err and len(err.splitlines()) == 1

    text = tmp_path / "text.onnx"
    text.write_text("not a model\n")
    code, err = _cli(capsys, str(text))
    assert code == 2 and len(err.splitlines()) == 1

    m = onnx.load_from_string(good)
    m.opset_import[0].version = 99
    wrong = tmp_path / "opset99.onnx"
    wrong.write_bytes(m.SerializeToString())
    code, err = _cli(capsys, str(wrong))
    assert code == 2 and "opset 99" in err and len(err.splitlines()) == 1


def test_unsupported_ops_are_refused_at_inspect(tmp_path: Path, capsys) -> None:
    """One sentence naming node, op type and opset, exit 3, before any calibration is asked for."""
    rng = np.random.default_rng(0)
    erf = _model(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
            helper.make_node("Erf", ["c"], ["y"], name="gelu_erf"),
        ],
        (1, 2, 5, 5),
        4,
        {"w": _w(rng, 2, 2, 3, 3)},
    )
    grouped = _model(
        [helper.make_node("Conv", ["x", "w"], ["y"], group=2, name="grouped")],
        (1, 4, 5, 5),
        4,
        {"w": _w(rng, 4, 2, 3, 3)},
    )
    for m, node, op in ((erf, "gelu_erf", "Erf"), (grouped, "grouped", "Conv")):
        path = tmp_path / f"{node}.onnx"
        path.write_bytes(m.SerializeToString())
        code, err = _cli(capsys, str(path))
        assert code == 3 and len(err.splitlines()) == 1, err
        assert f"node {node} (op {op}, opset 18)" in err
    with pytest.raises(UnsupportedOpError):
        load(erf)
    with pytest.raises(ModelFormatError):
        load(b"\x08\x07garbage")
    assert "Conv" in SUPPORTED_OPS and "Erf" not in SUPPORTED_OPS


def test_cli_inspect_float_onnx_with_calib(torch_exports: Path, tmp_path: Path, capsys) -> None:
    calib = tmp_path / "calib.npy"
    np.save(calib, _samples((1, 1, 8, 8), 16))
    assert main(["inspect", str(torch_exports / "linear_dynamo.onnx"), "--calib", str(calib)]) == 0
    out = capsys.readouterr().out
    assert "FULLY_CONNECTED" in out and "CONV_2D" in out
    assert main(["inspect", str(torch_exports / "linear_dynamo.onnx")]) == 4  # float: calibration needed
