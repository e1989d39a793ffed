"""``edgesdk compress`` on scikit-learn's digits (offline): int8, ternary, binary, xnor, and bad input.

Tiny models are trained once per session with fixed seeds (an MLP and a small CNN), each method runs once per
session with few epochs. What is checked:

- the TFLite converter writes the trained ternary/binary layers as per-channel {-127,0,127} / {-127,127} int8,
  the pass recognizes them and the report counts their packed bytes;
- the compressed ``.tflite`` equals ai-edge-litert's reference kernels bit for bit (through the reference
  interpreter with litert's rounding), the generated C equals the reference under ASan/UBSan, and the same C on
  the emulated Cortex-M4 (``validate``, mps2-an386) is 100 % bit-exact, for ternary and for xnor;
- the XNOR reference ops equal the trained Keras model's own forward pass (its ±1 activations, bit for bit);
- bad input is one sentence and exit code 9.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from edgesdk.compress import compress  # noqa: E402
from edgesdk.compress.base import CompressContext, resolve_keep_int8  # noqa: E402
from edgesdk.compress.ternary import bwn_binarize, ttq_ternarize, twn_ternarize  # noqa: E402
from edgesdk.errors import CompressError  # noqa: E402
from edgesdk.frontends.tflite import read_tflite  # noqa: E402
from edgesdk.passes import DEFAULT_OPTIMIZE  # noqa: E402
from edgesdk.reference import Reference  # noqa: E402
from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host  # noqa: E402

EPOCHS = 3


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    idx = np.random.default_rng(0).permutation(len(x))
    tr, va = idx[:1400], idx[1400:]
    root = tmp_path_factory.mktemp("digits")
    np.savez(root / "train.npz", x=x[tr], y=y[tr])
    np.savez(root / "val.npz", x=x[va], y=y[va])
    np.savez(root / "train_img.npz", x=x[tr].reshape(-1, 8, 8, 1), y=y[tr])
    np.savez(root / "val_img.npz", x=x[va].reshape(-1, 8, 8, 1), y=y[va])
    np.savez(root / "bad_labels.npz", x=x[tr], y=y[tr] + 5)
    return {"root": root, "x": x, "y": y, "tr": tr, "va": va}


def _train(model: keras.Model, x: np.ndarray, y: np.ndarray, epochs: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="session")
def mlp(digits: dict) -> Path:
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="mlp",
    )
    _train(m, digits["x"][digits["tr"]], digits["y"][digits["tr"]], 10)
    path = digits["root"] / "mlp.keras"
    m.save(path)
    return path


@pytest.fixture(scope="session")
def cnn(digits: dict) -> Path:
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(33, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="cnn",
    )
    _train(m, digits["x"][digits["tr"]].reshape(-1, 8, 8, 1), digits["y"][digits["tr"]], 6)
    path = digits["root"] / "cnn.keras"
    m.save(path)
    return path


def _run(model: Path, method: str, digits: dict, img: bool = False, **kw):
    root = digits["root"]
    suffix = ".xnor" if method == "xnor" else ".tflite"
    tr, va = ("train_img.npz", "val_img.npz") if img else ("train.npz", "val.npz")
    out = root / f"{model.stem}_{method.replace('=', '_')}{suffix}"
    return compress(model, method, root / tr, root / va, epochs=EPOCHS, out=out, progress=False, **kw)


@pytest.fixture(scope="session")
def results(mlp: Path, cnn: Path, digits: dict) -> dict:
    # Explicit first,last (the default is the measured choice, tested on its own below).
    return {
        "int8": _run(mlp, "int8", digits),
        "ternary": _run(mlp, "ternary", digits, keep_int8="first,last"),
        "binary": _run(mlp, "binary", digits, keep_int8="first,last"),
        "xnor": _run(mlp, "xnor", digits),
        "cnn_ternary": _run(cnn, "ternary", digits, img=True, keep_int8="last"),
        "cnn_xnor": _run(cnn, "xnor", digits, img=True),
    }


# --- quantizers --------------------------------------------------------------------------------------------
def test_quantizer_functions() -> None:
    w = np.array([[1.0, -0.2], [-0.1, 0.4], [0.05, -0.6], [-2.0, 0.0]], dtype=np.float32)  # (in=4, out=2)
    t = twn_ternarize(w)
    # channel 0: mean|w| = 0.7875, Δ = 0.551; above: 1.0, 2.0 -> α = 1.5
    np.testing.assert_allclose(t[:, 0], [1.5, 0.0, 0.0, -1.5])
    # channel 1: mean|w| = 0.3, Δ = 0.21; above: 0.4, 0.6 -> α = 0.5
    np.testing.assert_allclose(t[:, 1], [0.0, 0.5, -0.5, 0.0])
    np.testing.assert_allclose(bwn_binarize(w)[:, 0], [0.7875, -0.7875, 0.7875, -0.7875])
    tt = ttq_ternarize(w, np.array([[2.0, 3.0]]), np.array([[1.0, 4.0]]))
    np.testing.assert_allclose(tt[:, 1], [-4.0, 3.0, -4.0, 0.0])


def test_straight_through_gradient() -> None:
    import tensorflow as tf

    from edgesdk.compress.ternary import _ste

    w = tf.Variable(np.array([[0.3, -1.2], [0.01, 0.8]], dtype=np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(_ste(w, twn_ternarize(w, keras.ops)) * tf.constant([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(tape.gradient(loss, w).numpy(), [[1.0, 2.0], [3.0, 4.0]])


# --- results -----------------------------------------------------------------------------------------------
def _middle_weights(path: str) -> list[np.ndarray]:
    g = read_tflite(path)
    return [g.tensor(n.inputs[1]).data for n in g.nodes if n.op in ("FULLY_CONNECTED", "CONV_2D")]


def test_int8(results: dict) -> None:
    r = results["int8"]
    assert r.accuracy_compressed >= r.accuracy_float - 0.02
    assert r.weight_bytes_size_export == r.weight_bytes_int8 == 64 * 64 + 64 * 64 + 64 * 10
    assert r.weight_bytes_float == 4 * r.weight_bytes_int8
    assert [la["size_format"] for la in r.layers] == ["int8"] * 3
    # The default export may store a speed form (e.g. int16 weights for the SMLAD body): its bytes are reported.
    assert r.weight_bytes_compressed == sum(la["weight_bytes"] for la in r.layers) >= r.weight_bytes_int8


@pytest.mark.parametrize("method,values", [("ternary", {-127, 0, 127}), ("binary", {-127, 127})])
def test_converter_writes_exact_planes(results: dict, method: str, values: set[int]) -> None:
    r = results[method]
    first, middle, last = _middle_weights(r.out)
    for row in middle:
        assert set(np.unique(row).tolist()) <= values
    assert set(np.unique(middle).tolist()) == values
    assert len(np.unique(first)) > 3 and len(np.unique(last)) > 3  # first and last stayed int8
    # The packed planes are what the --optimize size export stores (the default export may run int8 for speed).
    assert [la["size_format"] for la in r.layers] == ["int8", method, "int8"]
    bits = 2 if method == "ternary" else 1
    assert r.layers[1]["size_weight_bytes"] == 64 * 64 * bits // 8
    assert r.weight_bytes_size_export == r.weight_bytes_int8 - 64 * 64 + 64 * 64 * bits // 8
    assert r.weight_bytes_compressed == sum(la["weight_bytes"] for la in r.layers)
    assert r.accuracy_compressed >= r.accuracy_float - 0.05


def test_cnn_ternary_conv_layers(results: dict) -> None:
    r = results["cnn_ternary"]
    # The second conv runs packed; the first (9 weights per channel) is ternary too, but the pass may find the
    # int8 kernel cheaper for it and says so.
    assert [la["size_format"] for la in r.layers][1:] == ["ternary", "int8"]
    assert r.layers[0]["size_format"] in ("int8", "ternary") and r.layers[0]["target"] == "ternary"
    w = _middle_weights(r.out)
    for t in w[:2]:
        assert set(np.unique(t).tolist()) <= {-127, 0, 127}


def _litert_outputs(path: str, xs: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    out = []
    for x in xs:
        it.set_tensor(di["index"], x.reshape(di["shape"]))
        it.invoke()
        out.append(it.get_tensor(do["index"]).reshape(-1))
    return np.stack(out)


@pytest.mark.parametrize("which", ["ternary", "binary", "cnn_ternary"])
def test_tflite_litert_reference_and_c_agree(results: dict, which: str, tmp_path: Path) -> None:
    """litert (BUILTIN_REF) == reference (litert rounding); generated C with packed kernels == reference."""
    path = results[which].out
    g = read_tflite(path)
    n_in = g.tensor(g.inputs[0]).size
    xs = random_inputs(n_in, 60, seed=4)
    ref_single = Reference(g, rounding="single").run_batch(xs).reshape(len(xs), -1)
    np.testing.assert_array_equal(_litert_outputs(path, xs), ref_single)
    if GCC is None:
        pytest.skip("needs host gcc")
    from edgesdk.passes import PassContext, run_pipeline

    # On a core without the DSP extension the packed kernels beat the portable int8 one; on a Cortex-M4 the
    # SMLAD int8 kernel is faster, so the packed ones are chosen there when exporting for size.
    decided = run_pipeline(g, "default", PassContext(core="cortex-m3"))
    assert any(n.attrs.get("kernel") in ("ternary", "binary") for n in decided.nodes)
    # The export report lists per layer the weight format, the stored bytes and the MACs.
    from edgesdk.commands.export import export

    report = export(g, "mps2-an386", tmp_path / "proj", optimize="size").report
    fmts = {w["format"] for w in report["weights"]}
    assert fmts & {"ternary", "binary"} and all(
        "macs" in w and w["weight_bytes"] > 0 for w in report["weights"]
    )
    assert any(k["kernel"] in ("ternary", "binary") and "candidates" in k for k in report["kernels"])
    project, exe = generate_and_build(decided, tmp_path, sanitize=True)
    np.testing.assert_array_equal(run_host(exe, xs, project.output_size), reference_outputs(g, xs))


@pytest.mark.parametrize("which", ["xnor", "cnn_xnor"])
def test_xnor_file_c_and_accuracy(results: dict, which: str, tmp_path: Path) -> None:
    from edgesdk.compiler.model import load_model

    r = results[which]
    assert r.accuracy_compressed >= r.accuracy_float - 0.10
    assert "xnor" in [la["format"] for la in r.layers]
    xl = next(la for la in r.layers if la["format"] == "xnor")
    assert xl["weight_bytes"] * 8 >= xl["params"] and xl["bitops"] > 0
    g = load_model(r.out)
    if GCC is None:
        pytest.skip("needs host gcc")
    xs = random_inputs(g.tensor(g.inputs[0]).size, 60, seed=5)
    project, exe = generate_and_build(g, tmp_path, sanitize=True)
    np.testing.assert_array_equal(run_host(exe, xs, project.output_size), reference_outputs(g, xs))


@pytest.mark.parametrize("img", [False, True])
def test_xnor_reference_equals_keras_forward(
    mlp: Path, cnn: Path, digits: dict, img: bool, tmp_path: Path
) -> None:
    """Keras' own ±1 activations into the reference XNOR ops give Keras' own next ±1 activations, bit for bit."""
    from edgesdk.compress.xnor import apply_xnor
    from edgesdk.reference.binary import unpack_bits
    from edgesdk.reference.kernels import KERNELS
    from edgesdk.reference.xnor import bytes_to_words, pack_activations

    model = keras.models.load_model(cnn if img else mlp, compile=False)
    x = digits["x"]
    if img:
        x = x.reshape(-1, 8, 8, 1)
    ctx = CompressContext(
        x_train=x[digits["tr"]], y_train=digits["y"][digits["tr"]], x_val=x[digits["va"]],
        y_val=digits["y"][digits["va"]], epochs=2, seed=0, keep_int8=resolve_keep_int8(model, "first,last"),
        show_progress=False,
    )  # fmt: skip
    qat = apply_xnor(model, None, ctx)
    res = qat._edgesdk_writer(tmp_path / "m.xnor", ctx)
    g = res["graph"]
    xv = x[digits["va"]]
    checked = 0
    for node in g.nodes:
        if node.op not in ("EDGESDK_XNOR_FULLY_CONNECTED", "EDGESDK_XNOR_CONV_2D"):
            continue
        prev = qat.get_layer(_sign_before(qat, node.name)).output
        nxt = qat.get_layer(f"{node.name}_sign").output
        a, b = keras.Model(qat.inputs, [prev, nxt]).predict(xv, verbose=0)
        bits = pack_activations(a)
        w = g.tensor(node.inputs[1]).data
        out = KERNELS[node.op](g, node, {}, [bits, w], "double")
        got = unpack_bits(bytes_to_words(out), b.shape[-1])
        np.testing.assert_array_equal(got, b >= 0)
        checked += 1
    assert checked >= 1
    # The whole int8/xnor graph predicts what the Keras model predicts on (almost) every sample: the int8 first
    # layer's output rounding can move a BatchNorm threshold crossing.
    from edgesdk.compress.xnor import graph_accuracy

    keras_pred = np.argmax(qat.predict(xv, verbose=0), axis=1)
    assert abs(graph_accuracy(g, xv, keras_pred) - 1.0) <= 0.05


def _sign_before(qat: keras.Model, layer_name: str) -> str:
    names = [la.name for la in qat.layers]
    i = names.index(layer_name)
    return next(n for n in reversed(names[:i]) if n.endswith("_sign"))


@pytest.mark.parametrize("which", ["ternary", "cnn_xnor"])
def test_validate_on_emulated_board(results: dict, which: str, tmp_path: Path) -> None:
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    from edgesdk.commands.device import validate
    from edgesdk.compiler.model import load_model

    s = validate(load_model(results[which].out), "mps2-an386", count=10, out_dir=tmp_path / "v")
    assert s.count == 10 and s.exact == 10


# --- CLI and bad input -------------------------------------------------------------------------------------
def _cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """``edgesdk compress ARGS`` in this process (TensorFlow is already imported): exit code, stdout, stderr."""
    from edgesdk.commands.cli import main

    code = main(["compress", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_json(mlp: Path, digits: dict, capsys: pytest.CaptureFixture) -> None:
    root = digits["root"]
    code, out, err = _cli(capsys, str(mlp), "--method", "int8", "--data", str(root / "train.npz"), "--val",
                          str(root / "val.npz"), "-o", str(root / "cli.tflite"), "--no-distill", "--json")  # fmt: skip
    assert code == 0, err
    d = json.loads(out)
    for key in (
        "accuracy_float",
        "accuracy_compressed",
        "weight_bytes_float",
        "weight_bytes_compressed",
        "layers",
    ):
        assert key in d
    assert len(d["layers"]) == 3 and (root / "cli.tflite").exists()
    # The bytes are the default export's for the default board, labelled; the size export's are a key of their own.
    assert d["export"] == {"board": "netduinoplus2", "optimize": DEFAULT_OPTIMIZE}
    assert d["distill"] is False and d["keep_int8"] == []
    assert d["weight_bytes_compressed"] == sum(la["weight_bytes"] for la in d["layers"])
    assert d["weight_bytes_size_export"] == sum(la["size_weight_bytes"] for la in d["layers"])


def test_cli_without_data(mlp: Path, digits: dict, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _cli(capsys, str(mlp), "--method", "ternary", "-o", str(digits["root"] / "x.tflite"))
    assert code == 9
    assert err.strip() == (
        "edgesdk compress: error: compress needs training data: an .npz file with arrays x (samples) and y "
        "(integer labels)"
    )


def test_cli_unknown_method(mlp: Path, digits: dict, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _cli(
        capsys,
        str(mlp),
        "--method",
        "quaternary",
        "--data",
        str(digits["root"] / "train.npz"),
        "-o",
        "x.tflite",
    )
    assert code == 9 and "unknown compression method 'quaternary'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_labels_that_do_not_fit(mlp: Path, digits: dict) -> None:
    with pytest.raises(CompressError, match=r"labels run from 5 to 14, but model mlp has 10 output classes"):
        compress(
            mlp, "int8", digits["root"] / "bad_labels.npz", out=digits["root"] / "y.tflite", progress=False
        )


def test_layer_that_cannot_take_the_method(digits: dict, capsys: pytest.CaptureFixture) -> None:
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv"),
            keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw"),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ],
        name="mixed",
    )
    root = digits["root"]
    r = compress(m, "ternary", root / "train_img.npz", root / "val_img.npz", epochs=1, out=root / "mixed.tflite",
                 progress=False)  # fmt: skip
    dw = next(la for la in r.layers if la["keras_name"] == "dw")
    assert dw["format"] == "int8"
    assert dw["note"] == "layer dw (DepthwiseConv2D) cannot take ternary weights; its weights stay int8"
    conv2 = next(la for la in r.layers if la["keras_name"] == "conv2")
    assert conv2["target"] == "ternary" and conv2["distinct_per_channel"] <= 3
    # Refused in the first seconds: before the float model is even evaluated, let alone fine-tuned.
    capsys.readouterr()
    with pytest.raises(
        CompressError, match=r"^layer dw \(DepthwiseConv2D\) cannot run on binary activations"
    ):
        compress(m, "xnor", root / "train_img.npz", out=root / "mixed.xnor", progress=True)
    assert capsys.readouterr().err == ""


def test_ttq_with_distillation(mlp: Path, digits: dict, tmp_path: Path) -> None:
    """TTQ's trained scales give per channel {-a, 0, b}; the pass packs them with the two magnitudes."""
    root = digits["root"]
    r = compress(mlp, "ternary=ttq", root / "train.npz", root / "val.npz", epochs=2, out=tmp_path / "ttq.tflite",
                 distill=True, keep_int8="first,last", progress=False)  # fmt: skip
    middle = _middle_weights(r.out)[1]
    assert max(len(np.unique(row)) for row in middle) <= 3
    assert len({int(row.min()) for row in middle} | {int(row.max()) for row in middle}) > 2  # asymmetric
    assert r.layers[1]["size_format"] == "ternary"
    assert (
        r.layers[1]["size_weight_bytes"] == 64 * 64 * 2 // 8 + 2 * 2 * 64
    )  # planes + int16 a, b per channel
    assert r.accuracy_compressed >= r.accuracy_float - 0.05


def test_layer_names_and_bytes_are_the_exports(results: dict, cnn: Path, tmp_path: Path) -> None:
    """compress names layers as validate/profile/--kernel do (IR names, Keras name beside them) and its bytes are
    the default export's for the default board, the size figures the --optimize size export's."""
    from edgesdk.commands.export import export

    r = results["cnn_ternary"]
    graph = read_tflite(r.out)
    for optimize, fmt_key, bytes_key, total in (
        (DEFAULT_OPTIMIZE, "format", "weight_bytes", r.weight_bytes_compressed),
        ("size", "size_format", "size_weight_bytes", r.weight_bytes_size_export),
    ):
        rows = export(graph, r.export["board"], tmp_path / optimize, optimize=optimize).report["weights"]
        assert [w["name"] for w in rows] == [la["name"] for la in r.layers]
        assert [w["format"] for w in rows] == [la[fmt_key] for la in r.layers]
        assert [w["weight_bytes"] for w in rows] == [la[bytes_key] for la in r.layers]
        assert sum(w["weight_bytes"] for w in rows) == total
    kmodel = keras.models.load_model(cnn, compile=False)
    assert [la["keras_name"] for la in r.layers] == [la.name for la in kmodel.layers if la.weights]
    assert {n.name for n in graph.nodes} >= {la["name"] for la in r.layers}


def test_fit_keeps_the_best_epoch_and_batchnorm_is_reestimated(digits: dict) -> None:
    """fit restores the weights of its best validation epoch (the model's val accuracy is that epoch's);
    reestimate_batchnorm sets each BatchNorm's moving statistics to its input's mean and variance."""
    from edgesdk.compress.base import accuracy, reestimate_batchnorm

    keras.utils.set_random_seed(0)
    inp = keras.Input((64,))
    h = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(16, name="fc1")(inp))
    m = keras.Model(inp, keras.layers.Dense(10, name="fc2")(keras.layers.ReLU()(h)), name="bnmlp")
    x, y = digits["x"], digits["y"]
    tr, va = digits["tr"][:300], digits["va"][:100]
    ctx = CompressContext(x[tr], y[tr], x[va], y[va], epochs=4, seed=0, show_progress=False)
    ctx.fit(m)
    (fit,) = ctx.fits
    assert 1 <= fit["best_epoch"] <= 4
    assert accuracy(m, x[va], y[va]) == pytest.approx(fit["val_accuracy"], abs=1e-6)
    assert reestimate_batchnorm(m, x[tr]) == 1
    feats = keras.Model(m.inputs, m.get_layer("bn").input).predict(x[tr], verbose=0).astype(np.float64)
    np.testing.assert_allclose(m.get_layer("bn").moving_mean.numpy(), feats.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.get_layer("bn").moving_variance.numpy(), feats.var(0), rtol=1e-5, atol=1e-6)
