"""``compress --method auto`` on a tiny digits CNN: per-layer quantizers, the search, resuming, bad input.

What is checked (few epochs, two or three trials, one worker, so that the file stays well under a minute):

- one quantization-aware run with a different quantizer per layer writes, through the real TFLite converter,
  exactly ternary {-127, 0, 127} channels in one layer, binary {-127, 127} in another and >= 80 % exact zeros with
  at most 16 values in a pruned-and-shared one;
- the hull and the back-off of the search on hand-made costs;
- the CLI: ``--json`` keeps the agreed keys, its ``layers`` are the IR layers of the written file with the bytes
  the size export stores, its accuracy is that of the written file on ``--val``, within the budget; the report
  and its Pareto plot are written;
- a second run on the same output reads every trial back (no training), and a budget no trial meets is one
  sentence naming the best found, exit code 9; ``auto`` without ``--val`` is refused before any training.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from edgesdk.compress.auto import (  # noqa: E402
    Option,
    back_off,
    hull,
    paired_drop,
    parse_choices,
    train_mixed,
    work_dir,
)
from edgesdk.compress.base import CompressContext  # noqa: E402
from edgesdk.errors import CompressError  # noqa: E402

CHOICES = "int8,ternary,binary,share=4bit,prune=0.75+share=4bit"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A digits CNN (conv8-conv16-pool-dense10) trained for 8 epochs, and its data as .npz files."""
    from digits_models import build_digits_model, digits_split

    keras.utils.set_random_seed(0)
    (x, y), (xv, yv) = digits_split(image=True)
    model = build_digits_model("cnn")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    root = tmp_path_factory.mktemp("auto")
    model.save(root / "tiny.keras")
    np.savez(root / "train.npz", x=x, y=y)
    np.savez(root / "val.npz", x=xv, y=yv)
    return {"root": root, "model": root / "tiny.keras", "keras": model, "x": x, "y": y, "xv": xv, "yv": yv}


def _cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    from edgesdk.commands.cli import main

    code = main(["compress", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _args(tiny: dict, out: Path, *extra: str) -> list[str]:
    root = tiny["root"]
    return [str(tiny["model"]), "--method", "auto", "--data", str(root / "train.npz"), "--val",
            str(root / "val.npz"), "-o", str(out), "--epochs", "2", "--workers", "1", "--choices", CHOICES,
            *extra]  # fmt: skip


# --- per-layer quantizers in one run --------------------------------------------------------------------------
def test_one_run_with_a_quantizer_per_layer_writes_each_structure(tiny: dict) -> None:
    from edgesdk.compress.auto import convert
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.numerics.weights import _weight_tensor

    by_name = {c.name: c for c in parse_choices("ternary,binary,prune=0.8+share=4bit")}
    assign = {"conv1": by_name["ternary"], "conv2": by_name["binary"], "fc": by_name["prune=0.8+share=4bit"]}
    ctx = CompressContext(
        x_train=tiny["x"],
        y_train=tiny["y"],
        x_val=tiny["xv"],
        y_val=tiny["yv"],
        epochs=1,
        seed=0,
        show_progress=False,
    )
    plain = train_mixed(tiny["keras"], assign, ctx)
    graph = read_tflite(convert(plain, tiny["x"][:100]), name="mixed")
    layers = [n for n in graph.nodes if _weight_tensor(graph, n)]
    assert [n.op for n in layers] == ["CONV_2D", "CONV_2D", "FULLY_CONNECTED"]
    conv1, conv2, fc = (np.asarray(graph.tensors[_weight_tensor(graph, n)].data) for n in layers)
    assert set(np.unique(conv1)) <= {-127, 0, 127} and np.any(conv1 == 0)
    assert set(np.unique(conv2)) == {-127, 127}
    assert np.mean(fc == 0) >= 0.8
    assert max(np.unique(fc[c]).size for c in range(fc.shape[0])) <= 16


# --- the search on hand-made costs ----------------------------------------------------------------------------
def test_hull_and_back_off() -> None:
    options = {
        "a": [
            Option("binary", (10, 0), 0.05),
            Option("ternary", (20, 0), 0.01),
            Option("int8", (80, 0), 0.0),
        ],
        "b": [Option("binary", (30, 0), 0.20), Option("int8", (240, 0), 0.0)],
    }
    ladder = hull(options)
    assert ladder[0] == {"a": "binary", "b": "binary"}  # the cheapest first
    assert {"a": "int8", "b": "int8"} not in ladder  # the int8 model is its own trial
    costs = [sum(next(o.cost[0] for o in options[n] if o.choice == c) for n, c in a.items()) for a in ladder]
    assert costs == sorted(costs)
    # Backing off moves the choice that removes the most predicted drop: b binary (0.20) before a binary.
    assert back_off(options, {"a": "binary", "b": "binary"}) == {"a": "binary", "b": "int8"}
    assert back_off(options, {"a": "int8", "b": "int8"}) is None


def test_paired_drop_counts_only_disagreements() -> None:
    float_hits = np.array([1, 1, 1, 1, 0, 0, 1, 1], bool)
    hits = np.array([1, 0, 1, 1, 1, 0, 1, 0], bool)  # 2 lost (samples 1, 7), 1 gained (sample 4)
    drop, se = paired_drop(float_hits, hits)
    assert drop == 1 / 8 and se == math.sqrt(3 - 1 / 8) / 8
    assert paired_drop(float_hits, float_hits) == (0.0, 0.0)


def test_choice_parsing() -> None:
    names = [c.name for c in parse_choices("ternary, prune=0.9+share=2bit,lowrank=0.8e")]
    assert names == ["int8", "ternary", "prune=0.9+share=2bit", "lowrank=0.8e"]
    for bad in ("ternary+binary", "prune=0.5+lowrank=4", "share=5bit", "huffman"):
        with pytest.raises(CompressError):
            parse_choices(bad)
    from edgesdk.compress import compress

    with pytest.raises(CompressError, match="give it alone"):
        compress("m.keras", "auto,ternary", "train.npz", out="m.tflite")
    with pytest.raises(CompressError, match="max_drop applies to method auto only"):
        compress("m.keras", "ternary", "train.npz", out="m.tflite", max_drop=1.0)


# --- the command ----------------------------------------------------------------------------------------------
def test_auto_cli_json_layers_report_and_resume(
    tiny: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from edgesdk.compress import evaluate_tflite
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.numerics.weights import layer_weights
    from edgesdk.passes import PassContext, run_pipeline

    out = tmp_path / "tiny_auto.tflite"
    code, stdout, err = _cli(capsys, *_args(tiny, out, "--max-drop", "1", "--trials", "2", "--json"))
    assert code == 0, err
    d = json.loads(stdout)
    for key in ("accuracy_float", "accuracy_compressed", "weight_bytes_float", "weight_bytes_compressed"):
        assert key in d
    data = out.read_bytes()
    assert d["accuracy_compressed"] == evaluate_tflite(data, tiny["xv"], tiny["yv"])
    assert d["accuracy_float"] - d["accuracy_compressed"] <= 0.01 + 1e-12
    assert "optimistic" in d["note"]
    # The layers are the written file's IR layers, with the bytes the size export stores on the default board.
    decided = run_pipeline(
        read_tflite(data, name="model"),
        "default",
        PassContext(core="cortex-m4", optimize="size", options={"flash_bytes": 1 << 20}),
    )
    rows = layer_weights(decided)
    assert [la["name"] for la in d["layers"]] == [r["name"] for r in rows]
    assert [la["bytes"] for la in d["layers"]] == [r["weight_bytes"] for r in rows]
    assert d["weight_bytes_compressed"] == sum(r["weight_bytes"] for r in rows)
    assert all(set(la) >= {"name", "method", "bytes", "instructions"} for la in d["layers"])
    assert all(la["method"] in CHOICES.split(",") for la in d["layers"])
    work = work_dir(out)
    assert (work / "report.md").is_file() and (work / "pareto.png").stat().st_size > 0
    assert "optimistic" in (work / "report.md").read_text()
    trained = (work / "trials.jsonl").read_text().splitlines()
    assert len(trained) == len(d["trials"]) >= 2  # the int8 trial and at least one fine-tuned one

    # The same trials again under a budget none meets: every one is read back (nothing trains), and the
    # error names the best found.
    code, stdout, err = _cli(capsys, *_args(tiny, out, "--max-drop", "-50", "--trials", "1"))
    assert code == CompressError.exit_code and stdout == ""
    msg = err.strip().splitlines()[-1]
    assert "kept accuracy within -50 pt" in msg and "the best found (" in msg and "weight bytes" in msg
    assert "read back" in err and "fine-tuning" not in err
    assert (work / "trials.jsonl").read_text().splitlines() == trained


def test_auto_without_val_is_refused_before_training(
    tiny: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = tiny["root"]
    out = tmp_path / "noval.tflite"
    args = [str(tiny["model"]), "--method", "auto", "--max-drop", "1", "--data", str(root / "train.npz"),
            "-o", str(out)]  # fmt: skip
    code, stdout, err = _cli(capsys, *args)
    assert code == CompressError.exit_code and stdout == ""
    assert err.count("\n") == 1 and "needs --val" in err
    assert not out.exists() and not work_dir(out).exists()
    code, _, err = _cli(capsys, *args[:3], *args[5:], "--val", str(root / "val.npz"))  # no --max-drop
    assert code == CompressError.exit_code and "needs --max-drop" in err
    code, _, err = _cli(capsys, str(tiny["model"]), "--method", "ternary", "--max-drop", "1", "-o", str(out))
    assert code == CompressError.exit_code and "--max-drop apply to --method auto only" in err


def test_auto_speed_keeps_only_kernels_faster_than_int8(tiny: dict, tmp_path: Path) -> None:
    """On a core without the DSP extension (the host board's portable kernels) the packed binary kernels are
    estimated faster than int8, so the speed search may take them; the result runs fewer instructions."""
    from edgesdk.compress.auto import compress_auto

    root = tiny["root"]
    r = compress_auto(tiny["model"], root / "train.npz", root / "val.npz", out=tmp_path / "speed.tflite",
                      max_drop=100, board="host", optimize="speed", choices="int8,binary", trials=1, epochs=1,
                      progress=False)  # fmt: skip
    int8 = next(t for t in r.trials if set(t["assign"].values()) == {"int8"})
    assert any(la["method"] == "binary" for la in r.layers)
    assert r.instructions < int8["instructions"] and r.optimize == "speed" and r.board == "host"
