"""Ghost and Shift Keras layers: saved and loaded, converted by the real TFLite converter, executed by the
generated C (the Shift layer on its ``shift`` kernel) bit for bit with the reference."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesdk.passes import PassContext, kernel_decisions, run_pipeline
from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host


@pytest.fixture(scope="session")
def compact_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    import edgesdk.layers as L
    from edgesdk.frontends.keras import quantize_keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((7, 7, 9), batch_size=1)
    h = L.Shift2D(3, name="shift")(inp)
    h = keras.layers.Conv2D(12, 1, activation="relu", name="mix")(h)
    h = L.GhostConv2D(16, 3, ratio=4, name="ghost")(h)
    model = keras.Model(inp, h, name="compact")
    d = tmp_path_factory.mktemp("compact")
    model.save(d / "compact.keras")
    loaded = keras.models.load_model(d / "compact.keras")
    x = np.random.default_rng(0).normal(size=(24, 7, 7, 9)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # The shift really shifts: channel 1 of the output of Shift2D is channel 1 of the input moved by one.
    shifted = keras.Model(inp, model.get_layer("shift").output).predict(x[:1], verbose=0)
    np.testing.assert_array_equal(shifted[0, 1:, 1:, 1], x[0, :-1, :-1, 1])
    path = d / "compact.tflite"
    path.write_bytes(quantize_keras(loaded, x, num_samples=None))
    return path


def test_shift_layer_from_keras_runs_as_lookup(compact_tflite: Path) -> None:
    from edgesdk.frontends.tflite import read_tflite

    g = read_tflite(compact_tflite)
    assert [n.op for n in g.nodes] == [
        "DEPTHWISE_CONV_2D",
        "CONV_2D",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "CONCATENATION",
    ]
    decisions = kernel_decisions(run_pipeline(g, "default", PassContext(core="cortex-m4")))
    # Only the Shift layer is one-hot; the Ghost module's cheap depthwise stays a dense kernel.
    # (the Ghost module's 1x1 convolutions may get specialised copies or the int8 FC kernel over their pixels on a
    # DSP core: passes/specialize.py, passes/pointwise.py)
    decisions = [d for d in decisions if d["kernel"] not in ("specialized", "pointwise_s8")]
    assert [(d["layer"], d["kernel"]) for d in decisions] == [(g.nodes[0].name, "shift")]


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_compact_model_c_bit_exact_with_reference(compact_tflite: Path, tmp_path: Path) -> None:
    from edgesdk.frontends.tflite import read_tflite

    g = read_tflite(compact_tflite)
    chosen = run_pipeline(g, "default", PassContext())
    project, exe = generate_and_build(chosen, tmp_path, sanitize=True)
    assert "ed_shift.c" in project.kernel_files
    x = random_inputs(project.input_size, 24, seed=3)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(g, x))


def test_ghost_rejects_a_ratio_that_does_not_divide() -> None:
    import edgesdk.layers as L

    with pytest.raises(ValueError, match="multiple of ratio"):
        L.GhostConv2D(10, ratio=3)


@pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")), reason="needs QEMU"
)
def test_compact_model_validates_on_the_emulated_board(compact_tflite: Path, tmp_path: Path) -> None:
    """The Shift layer's lookup kernel (and the Ghost module) on the emulated Cortex-M4, bit-exact."""
    from edgesdk.commands.device import validate
    from edgesdk.frontends.tflite import read_tflite

    summary = validate(read_tflite(compact_tflite), "mps2-an386", count=5, out_dir=tmp_path)
    assert (summary.count, summary.exact, summary.max_abs_diff) == (5, 5, 0)
    report = (tmp_path / "project" / "report.json").read_text()
    assert '"kernel": "shift"' in report
