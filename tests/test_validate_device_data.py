"""validate on what the user has (issue 7, items 8, 9 and 11's model step), on the emulated STM32:

- the quickstart's own model (scikit-learn's bundled digits, a small Keras CNN trained with a fixed seed) is
  made by the same code ``scripts/quickstart.sh`` runs, and quantized with its calibration data;
- ``validate --inputs --labels`` reports top-1 on the device next to the host reference's and keeps every
  device output in ``results.jsonl``; without inputs, the calibration samples are the inputs;
- ``validate --port socket://…`` talks to an emulated board started by ``edgesdk flash`` (nothing is built),
  refuses a board running another model with one sentence, and a real board with no flash tool installed is
  validated through the firmware already on its port.

One firmware is built and flashed for the whole module.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgesdk.boards import get_board
from edgesdk.commands.device import validate
from edgesdk.commands.export import export
from edgesdk.compiler.data import load_labels, make_inputs, split_labeled_inputs, top1
from edgesdk.errors import EdgeSDKError, ValidationError
from edgesdk.profiling.report import read_results
from edgesdk.reference import Reference

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import digits_model  # noqa: E402

needs_emulator = pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="QEMU and arm-none-eabi-gcc are needed (scripts/setup.sh installs them)",
)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The quickstart's model step, as scripts/quickstart.sh runs it (fewer epochs: it is a test)."""
    out = tmp_path_factory.mktemp("digits")
    made = digits_model.make(out, epochs=25, seed=0)
    from edgesdk.compiler.model import load_model

    calib = np.load(made["calib"])
    graph = load_model(made["model"], calib=calib)
    with np.load(made["test"]) as z:
        x, y = z["x"], z["y"]
    return {**made, "graph": graph, "calib_array": calib, "x": x, "y": y, "dir": out}


def test_quickstart_model_step_trains_a_real_classifier(digits: dict) -> None:
    assert digits["float_test_top1"] > 0.9
    assert digits["x"].shape == (450, 8, 8, 1) and digits["y"].shape == (450,)
    g = digits["graph"]
    assert g.tensors[g.inputs[0]].shape == (1, 8, 8, 1) and g.tensors[g.outputs[0]].shape == (1, 10)
    ref = Reference(g).run_batch(make_inputs(g, digits["x"], 0)).reshape(len(digits["x"]), -1)
    assert top1(ref, digits["y"]) > 0.9  # the int8 model keeps the float model's accuracy


def test_labels_from_each_source(tmp_path: Path) -> None:
    y = np.array([3, 1, 4, 1, 5])
    np.testing.assert_array_equal(load_labels(y, 3), [3, 1, 4])
    np.save(tmp_path / "y.npy", y)
    np.testing.assert_array_equal(load_labels(tmp_path / "y.npy", 5), y)
    (tmp_path / "y.txt").write_text("3\n1\n4\n")
    np.testing.assert_array_equal(load_labels(tmp_path / "y.txt", 2), [3, 1])
    np.testing.assert_array_equal(load_labels(np.eye(4)[[2, 0]], 2), [2, 0])  # one-hot
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 3), np.float32), y=y[:2])
    x, labels = split_labeled_inputs(tmp_path / "d.npz")
    assert x.shape == (2, 3)
    np.testing.assert_array_equal(labels, [3, 1])
    with pytest.raises(EdgeSDKError, match=r"^labels holds 5 labels for 6 inputs$"):
        load_labels(y, 6)
    with pytest.raises(EdgeSDKError, match="non-integer values"):
        load_labels(np.array([0.5, 1.0]), 2)


@pytest.fixture(scope="module")
def flashed(digits: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The digits firmware running under ``edgesdk flash``; yields its socket:// URL."""
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("QEMU and arm-none-eabi-gcc are needed")
    built = export(digits["graph"], None, tmp_path_factory.mktemp("fw") / "p", build=True)
    env = dict(os.environ, PYTHONPATH=str(REPO / "sdk"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgesdk.commands.cli", "flash", str(built.elf)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ", 1)[1].split(";", 1)[0]
        assert url.startswith("socket://127.0.0.1:")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@needs_emulator
@pytest.mark.emulator
def test_top1_on_the_device_next_to_the_reference(digits: dict, flashed: str, tmp_path: Path) -> None:
    g, n = digits["graph"], 60
    s = validate(g, None, inputs=digits["x"], labels=digits["y"], count=n, port=flashed, out_dir=tmp_path)
    assert (s.count, s.exact, s.labeled) == (n, n, n)
    want = Reference(g).run_batch(make_inputs(g, digits["x"], n)).reshape(n, -1)
    assert s.top1_reference == pytest.approx(top1(want, digits["y"][:n]))
    assert s.top1_device == s.top1_reference and s.top1_device > 0.9
    records = read_results(tmp_path / "results.jsonl")
    np.testing.assert_array_equal(np.array([r["output"] for r in records], dtype=np.int8), want)
    assert [r["label"] for r in records] == digits["y"][:n].tolist()
    assert not (tmp_path / "project").exists()  # --port on an emulated board: nothing built or started


@needs_emulator
@pytest.mark.emulator
def test_calibration_samples_are_the_default_inputs(digits: dict, flashed: str, tmp_path: Path) -> None:
    g, n = digits["graph"], 12
    s = validate(g, None, calib=digits["calib_array"], count=n, port=flashed, out_dir=tmp_path)
    assert (s.count, s.exact) == (n, n)
    outputs = np.array([r["output"] for r in read_results(tmp_path / "results.jsonl")], dtype=np.int8)
    want = Reference(g).run_batch(make_inputs(g, digits["calib_array"], n)).reshape(n, -1)
    np.testing.assert_array_equal(outputs, want)
    assert len({row.tobytes() for row in outputs}) >= 8  # real digits give varied outputs


@needs_emulator
@pytest.mark.emulator
def test_port_with_another_model_on_the_board_is_one_sentence(ad_graph, flashed: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        validate(ad_graph, None, count=2, port=flashed, out_dir=tmp_path)
    msg = str(err.value)
    assert msg.startswith("board netduinoplus2 runs model digits (sha256:") and "not ad01_int8" in msg
    assert "\n" not in msg


@needs_emulator
@pytest.mark.emulator
def test_real_board_without_a_flash_tool_is_validated_on_its_port(
    digits: dict, flashed: str, tmp_path: Path
) -> None:
    emu = get_board("netduinoplus2")
    real = dataclasses.replace(
        emu,
        name="netduinoplus2-real",
        emulated=False,
        emulator=None,
        flash=dataclasses.replace(emu.flash, methods=("st-flash",) if not shutil.which("st-flash") else ()),
    )
    if not real.flash.methods:
        pytest.skip("st-flash is installed here: this test needs a board whose flash tool is missing")
    s = validate(digits["graph"], real, inputs=digits["x"], count=5, port=flashed, out_dir=tmp_path)
    assert (s.board, s.count, s.exact) == ("netduinoplus2-real", 5, 5)
    assert (tmp_path / "project" / "build" / "firmware.elf").is_file()  # built for the user to flash later
