"""Speed suite: every MLPerf Tiny model and the digits models of ``benchmarks/digits_suite.py`` on the emulated Cortex-M4
(mps2-an386) and Cortex-M7 (mps2-an500), with the portable C99 kernels ("before"), the core's kernels with
``--optimize size`` ("size") and with ``--optimize speed`` ("after"), and the default export (``--optimize
balanced``, "default"), in one run.

Models: IC (ResNet-8) and AD (autoencoder) from ``models/mlperf_tiny``; KWS DS-CNN and VWW
MobileNetV1-0.25 as architecture replicas (``benchmarks/mlperf_replicas.py``: the reference shapes and ops,
untrained seeded weights, so instruction counts compare with the published figures, accuracy does not); the
digits MLP and CNN of ``benchmarks/digits_suite.py`` in int8 and in several of its compressed forms (rebuilt
with its own functions and fixed seeds, cached under ``benchmarks/.cache/``).

Per model, board and kernel set: executed instructions per inference (SysTick under QEMU -icount:
deterministic instruction counts, not cycles), MACs per instruction, the per-op-type breakdown from the
per-layer counters, arena against the planner's lower bound, kernel code bytes (the ``ed_*`` functions and the
model's generated functions in the ELF, weights excluded), flash, and how many inputs the board answers bit for
bit like the reference. Ratios before/after, and for the MLPerf Tiny models the distance to TFLM + CMSIS-NN
and to the goal column of issue 10 (both measured or set on the Cortex-M4).

Writes ``benchmarks/results/speed.json``, ``speed.md`` and ``speed.png`` (one panel per op type). A run with
``--models`` re-measures those rows and keeps every other row of the existing results.

    python benchmarks/speed.py [--models ic kws 'digits_cnn_*' | mlperf | digits] [--boards mps2-an386 mps2-an500]
                               [--validate 3] [--jobs 2] [--report-only]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import fnmatch
import importlib.util
import json
import logging
import multiprocessing
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
SHARED = REPO / "models" / "mlperf_tiny"
RESULTS = BENCH / "results"
CACHE = BENCH / ".cache"
BOARDS = ("mps2-an386", "mps2-an500")
VARIANTS = ("before", "size", "after")
#: The default export (``--optimize balanced``), measured beside the three kernel sets where a row has it.
DEFAULT = "default"
log = logging.getLogger("speed")


def _bench_module(name: str) -> Any:
    """Import ``benchmarks/<name>.py`` under a private module name (benchmarks/ is not a package)."""
    key = f"_edgesdk_bench_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[key] = mod
    spec.loader.exec_module(mod)
    return mod


@dataclass(frozen=True)
class SuiteModel:
    """One model of the suite: a key (``--models``), how to get its ``.tflite`` and the figures to compare with.

    ``reference``: instructions per inference from elsewhere, by column name (TFLM + CMSIS-NN and the vendor
    figure measured or published for a Cortex-M4, issue 10's goal, edgesdk before issue 10)."""

    key: str
    label: str
    group: str
    reference: dict[str, int] = field(default_factory=dict)
    replica: bool = False


#: The MLPerf Tiny rows (instructions on the Cortex-M4; vendor = best published cycles; goal = 0.75 x the best
#: published vendor cycles, issue 20's table).
MLPERF: tuple[SuiteModel, ...] = (
    SuiteModel("ic", "IC ResNet-8", "mlperf",
               {"tflm_cmsis_nn": 29_860_000, "vendor": 19_810_000, "goal": 14_860_800,
                "edgesdk_before_issue10": 94_630_880}),
    SuiteModel("ad", "AD autoencoder", "mlperf",
               {"tflm_cmsis_nn": 583_000, "vendor": 486_000, "goal": 364_500,
                "edgesdk_before_issue10": 1_976_440}),
    SuiteModel("kws", "KWS DS-CNN (replica)", "mlperf",
               {"tflm_cmsis_nn": 7_700_000, "vendor": 5_180_000, "goal": 3_887_100,
                "edgesdk_before_issue10": 31_610_000}, replica=True),
    SuiteModel("vww", "VWW MobileNetV1-0.25 (replica)", "mlperf",
               {"tflm_cmsis_nn": 24_100_000, "vendor": 10_670_000, "goal": 8_003_700,
                "edgesdk_before_issue10": 83_280_000}, replica=True),
)  # fmt: skip
SHARED_FILES = {"ic": "pretrainedResnet_quant.tflite", "ad": "ad01_int8.tflite"}
#: TFLM + CMSIS-NN on the emulated Cortex-M4 (issue 20's table): the image (text + data, bytes) and the arena.
TFLM_BYTES = {
    "kws": {"image": 153_352, "arena": 22_820},
    "vww": {"image": 459_852, "arena": 100_708},
    "ic": {"image": 200_492, "arena": 54_996},
    "ad": {"image": 376_540, "arena": 2_580},
}

#: Rows of ``digits_suite.METHODS`` measured here: ``.tflite`` results that retrain in seconds on digits.
DIGITS_METHODS = (
    "int8",
    "ternary",
    "binary",
    "prune 90 %",
    "Deep Compression (all layers)",
    "pattern 4 taps",
    "low-rank 16",
    "low-rank 8",
)
#: Bump when the digits models are built differently so that cached files are rebuilt.
DIGITS_VERSION = 2


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def digits_models() -> list[SuiteModel]:
    """The digits MLP/CNN rows, in ``digits_suite.METHODS`` order."""
    comp = _bench_module("digits_suite")
    out = []
    for name in comp.MODELS:
        for spec in comp.METHODS:
            if spec.label in DIGITS_METHODS and name in spec.models:
                out.append(
                    SuiteModel(f"digits_{name}_{_slug(spec.label)}", f"digits {name} {spec.label}", "digits")
                )
    return out


def suite() -> list[SuiteModel]:
    return [*MLPERF, *digits_models()]


def select(patterns: list[str] | None, models: list[SuiteModel]) -> list[SuiteModel]:
    """Models whose key matches one of ``patterns`` (shell patterns, or a group name: mlperf, digits)."""
    if not patterns:
        return list(models)
    chosen = [m for m in models if any(m.group == p or fnmatch.fnmatchcase(m.key, p) for p in patterns)]
    unknown = [p for p in patterns if not any(m.group == p or fnmatch.fnmatchcase(m.key, p) for m in models)]
    if unknown:
        raise SystemExit(
            f"--models {' '.join(unknown)} matches no model; keys: {', '.join(m.key for m in models)}"
        )
    return chosen


# --- building the models -----------------------------------------------------------------------------------
def build_digits(keys: set[str], cache: Path = CACHE / "digits") -> dict[str, Path]:
    """``.tflite`` of the digits rows in ``keys``, built with ``digits_suite.py``'s data, float training and
    ``compress`` (fixed seeds; TensorFlow's deterministic ops), cached by key."""
    comp = _bench_module("digits_suite")
    paths = {m.key: cache / f"{m.key}_v{DIGITS_VERSION}.tflite" for m in digits_models() if m.key in keys}
    missing = {k for k, p in paths.items() if not p.is_file()}
    if not missing:
        return paths
    import tensorflow as tf

    from edgesdk.compress import compress

    tf.config.experimental.enable_op_determinism()
    cache.mkdir(parents=True, exist_ok=True)
    data = comp.digits()
    with tempfile.TemporaryDirectory() as tmp:
        for name, (_, shape) in comp.MODELS.items():
            todo = [s for s in comp.METHODS if f"digits_{name}_{_slug(s.label)}" in missing]
            if not todo:
                continue
            log.info("training the float digits %s (digits_suite.py, seed %d)", name, comp.SEED)
            float_path = comp.train_float(name, data, Path(tmp))
            train = (data["x_train"].reshape((-1, *shape)), data["y_train"])
            val = (data["x_val"].reshape((-1, *shape)), data["y_val"])
            for spec in todo:
                key = f"digits_{name}_{_slug(spec.label)}"
                log.info("compressing digits %s: %s", name, spec.label)
                out = Path(tmp) / f"{key}.tflite"
                compress(float_path, spec.method, train, val, epochs=spec.epochs, out=out,
                         keep_int8=spec.keep_int8, distill=spec.distill, seed=comp.SEED, progress=False)  # fmt: skip
                paths[key].write_bytes(out.read_bytes())
    return paths


def prepare_job(keys: list[str]) -> tuple[dict[str, str], float]:
    """Worker job: the ``.tflite`` paths of the models ``keys`` (built where not cached) and the seconds taken."""
    t0 = time.monotonic()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    for name in ("speed", "mlperf_replicas"):
        logging.getLogger(name).setLevel(logging.INFO)
    chosen = [m for m in suite() if m.key in keys]
    return {k: str(p) for k, p in model_paths(chosen).items()}, time.monotonic() - t0


def model_paths(models: list[SuiteModel]) -> dict[str, Path]:
    """The ``.tflite`` of every model in ``models`` (built and cached where needed)."""
    replicas = _bench_module("mlperf_replicas")
    paths: dict[str, Path] = {}
    for m in models:
        if m.key in SHARED_FILES:
            paths[m.key] = SHARED / SHARED_FILES[m.key]
        elif m.key in replicas.BUILDERS:
            paths[m.key] = replicas.replica_path(m.key)
    digits = {m.key for m in models if m.group == "digits"}
    if digits:
        paths.update(build_digits(digits))
    return paths


# --- measuring ---------------------------------------------------------------------------------------------
def kernel_code_bytes(elf: Path, model: str, nm: str = "arm-none-eabi-nm") -> int:
    """Bytes of code of the kernels (``ed_*``) and of the model's own functions (per-layer generated kernels
    such as Winograd, ``<model>_invoke``) linked into ``elf``; weights are data and not counted. ``nm`` is the
    board toolchain's (``Board.tool("nm")``)."""
    out = subprocess.run(
        [nm, "--size-sort", "-S", str(elf)],
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    total = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT" and parts[3].startswith(("ed_", f"{model}_")):
            total += int(parts[1], 16)
    return total


def measure(graph: Any, board: Any, x: Any, want: Any, optimize: str) -> dict[str, Any]:
    """Export, build and run ``graph`` on the emulated ``board``: counts, bytes, arena, bit-exact inputs."""
    from edgesdk.commands.device import connect
    from edgesdk.commands.export import export
    from edgesdk.numerics.weights import layer_weights

    with tempfile.TemporaryDirectory() as tmp:
        built = export(graph, board, Path(tmp) / "p", build=True, optimize=optimize)
        assert built.elf is not None and built.size is not None
        code = kernel_code_bytes(built.elf, built.c_name, built.board.tool("nm"))
        exact = 0
        with connect(board, built.elf) as client:
            client.load_input(x[0])
            (count,) = client.run(1)
            layers = client.layer_counts()
            for i in range(len(x)):
                got, _ = client.infer(x[i])
                exact += int((got.reshape(-1) == want[i]).all())
    by_op: dict[str, int] = defaultdict(int)
    per_layer = {}
    # A convolution fused into the ADD after it has no layer of its own on the device: its count is the ADD's.
    run_nodes = [n for n in built.graph.nodes if "fused_into" not in n.attrs]
    for node, c in zip(run_nodes, layers, strict=False):
        by_op["CONV_2D+ADD" if node.attrs.get("kernel") == "conv_fused" else node.op] += int(c)
        per_layer[node.name] = {
            "op": node.op,
            "kernel": node.attrs.get("kernel", "int8"),
            "format": node.attrs.get("kernel_report", {}).get("format", "int8"),
            "instructions": int(c),
        }
    return {
        "instructions": int(count),
        "by_op": dict(sorted(by_op.items(), key=lambda kv: -kv[1])),
        "layers": per_layer,
        "arena_bytes": built.plan.arena_bytes,
        "arena_lower_bound": built.plan.lower_bound,
        "kernel_code_bytes": code,
        "flash_bytes": built.size.flash,
        "ram_bytes": built.size.ram,
        "weight_bytes": int(sum(r["weight_bytes"] for r in layer_weights(built.graph))),
        "bit_exact": exact,
        "validated": len(x),
        "winograd_layers": sum(1 for n in built.graph.nodes if n.attrs.get("kernel") == "winograd"),
    }


def measure_job(key: str, path: str, board_name: str, n_validate: int) -> dict[str, Any]:
    """One (model, board) row: the three kernel sets. Runs in a worker process (it unmaps the core's kernel
    folder for "before", a process-wide setting)."""
    from edgesdk import boards
    from edgesdk.boards import get_board
    from edgesdk.commands.inspection import summarize
    from edgesdk.compiler.data import make_inputs
    from edgesdk.compiler.model import load_model
    from edgesdk.reference import Reference

    on_board = _bench_module("compression").on_board
    t0 = time.monotonic()
    graph = load_model(Path(path))
    board = get_board(board_name)
    x = make_inputs(graph, None, max(n_validate, 1), seed=0)
    want = Reference(graph).run_batch(x).reshape(len(x), -1)
    out: dict[str, Any] = {}
    # "before": the same board and flags with the portable kernels (the core's kernel folder unmapped) and
    # no Winograd (--optimize size), i.e. the kernels issue 10 started from
    target = boards.CORE_KERNEL_TARGETS.pop(board.core, None)
    try:
        out["before"] = on_board(measure, graph, board, x, want, "size")
    finally:
        if target is not None:
            boards.CORE_KERNEL_TARGETS[board.core] = target
    out["size"] = on_board(measure, graph, board, x, want, "size")
    out["after"] = on_board(measure, graph, board, x, want, "speed")
    out[DEFAULT] = on_board(measure, graph, board, x, want, "balanced")
    layers = summarize(graph)["layers"]
    macs_by_op: dict[str, int] = defaultdict(int)
    for la in layers:
        macs_by_op[la["op"]] += int(la["macs"])
    return {
        "model": key,
        "board": board_name,
        "core": board.core,
        "kernels": board.kernel_target or "portable",
        "macs": int(summarize(graph)["totals"]["macs"]),
        "macs_by_op": dict(macs_by_op),
        "ops": sorted({n.op for n in graph.nodes}),
        **out,
        "seconds": round(time.monotonic() - t0, 1),
    }


def finish_row(row: dict[str, Any], m: SuiteModel) -> dict[str, Any]:
    """Add the label, the ratios and the comparisons to a measured row."""
    a, b, z = row["after"], row["before"], row["size"]
    row["label"] = m.label
    row["replica"] = m.replica
    row["speedup"] = round(b["instructions"] / a["instructions"], 3)
    row["size_over_after"] = round(z["instructions"] / a["instructions"], 3)
    row["macs_per_instruction"] = round(row["macs"] / a["instructions"], 4)
    row["macs_per_instruction_before"] = round(row["macs"] / b["instructions"], 4)
    row["arena_over_bound"] = round(a["arena_bytes"] / max(a["arena_lower_bound"], 1), 3)
    row["reference"] = dict(m.reference)
    for col, value in m.reference.items():
        row[f"after_over_{col}"] = round(a["instructions"] / value, 3)
    if DEFAULT in row:
        d = row[DEFAULT]
        row["default_macs_per_instruction"] = round(row["macs"] / d["instructions"], 4)
        for col, value in m.reference.items():
            row[f"default_over_{col}"] = round(d["instructions"] / value, 3)
        if m.key in TFLM_BYTES:
            row["tflm_bytes"] = dict(TFLM_BYTES[m.key])
    return row


def op_macs_per_instruction(row: dict[str, Any], variant: str) -> dict[str, float]:
    """MACs per executed instruction of each op type with MACs (a fused CONV_2D+ADD counts the convolution's)."""
    macs = row.get("macs_by_op", {})
    out = {}
    for op, count in row[variant]["by_op"].items():
        m = macs.get("CONV_2D" if op == "CONV_2D+ADD" else op, 0)
        if m and count and op != "CONV_2D+ADD":
            out[op] = round(m / count, 3)
    if "CONV_2D+ADD" in row[variant]["by_op"] and macs.get("CONV_2D"):
        # the fused layers' convolutions are in CONV_2D's MACs: one figure for both
        both = row[variant]["by_op"].get("CONV_2D", 0) + row[variant]["by_op"]["CONV_2D+ADD"]
        out["CONV_2D"] = round(macs["CONV_2D"] / both, 3)
    return out


# --- results -----------------------------------------------------------------------------------------------
def merge(old: list[dict[str, Any]], new: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    """``old`` rows with those of ``new`` replacing the same (model, board); rows of models no longer in the
    suite are dropped. Sorted by the suite's model order, then board."""
    rows = {(r["model"], r["board"]): r for r in old if r.get("model") in order}
    rows.update({(r["model"], r["board"]): r for r in new})
    rank = {k: i for i, k in enumerate(order)}
    return sorted(rows.values(), key=lambda r: (rank[r["model"]], r["board"]))


def load_results(path: Path) -> list[dict[str, Any]]:
    """Rows of an existing ``speed.json`` (an older list-shaped file counts as empty: its keys differ)."""
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return data.get("rows", []) if isinstance(data, dict) else []


def _m(n: float) -> str:
    return f"{n / 1e6:.3f} M" if n >= 1e5 else f"{int(n):,}"


def replica_notes(rows: list[dict[str, Any]]) -> list[str]:
    """How close the replicas are to the real models: MACs against the published counts, portable-kernel
    instructions against what edgesdk measured on the real models before issue 10 (Cortex-M4), and their ops."""
    published = _bench_module("mlperf_replicas").PUBLISHED_MACS
    out = []
    for r in rows:
        if not r.get("replica") or r["board"] != BOARDS[0]:
            continue
        pub = published.get(r["model"])
        ref = r.get("reference", {}).get("edgesdk_before_issue10")
        line = f"- {r['label']}: {r['macs']:,} MACs"
        if pub:
            line += f" (published ~{pub / 1e6:.1f} M, {100 * (r['macs'] / pub - 1):+.1f} %)"
        if ref:
            line += (
                f"; portable kernels {r['before']['instructions']:,} instructions on {r['board']} against "
                f"{ref:,} that edgesdk measured on the real model before issue 10 "
                f"({r['before']['instructions'] / ref:.3f}x)"
            )
        line += f"; ops {', '.join(r.get('ops', []))}, all run by edgesdk."
        out.append(line)
    return ["", "Replica check:", "", *out] if out else []


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The tables of ``speed.md``."""
    lines = [
        "# Speed suite: MLPerf Tiny and digits models on emulated Cortex-M4 / M7",
        "",
        "Written by `benchmarks/speed.py`. Executed instructions per inference under QEMU -icount (not cycles).",
        "*before*: portable C99 kernels, `--optimize size` (direct convolution); *size*: the core's kernels "
        "(Cortex-M DSP) with `--optimize size`; *after*: `--optimize speed` (Winograd and int16 weights where "
        "a pass says they pay); *default*: `--optimize balanced`, what `export` builds without options. Kernel code counts the `ed_*` kernels and the model's generated functions "
        "(weights excluded). Bit-exact: inputs whose board output equals the reference, per kernel set.",
        "",
        "KWS and VWW are **architecture replicas** (`benchmarks/mlperf_replicas.py`): the MLPerf Tiny reference "
        "shapes and TFLite ops, untrained seeded weights, int8 by the real TFLite converter. Their instruction "
        "counts compare with the published ones (MACs below against the published ~2.7 M and ~7.5 M); their "
        "accuracy means nothing. TFLM + CMSIS-NN, vendor and goal columns are Cortex-M4 figures (the goal: issue 20).",
        "",
        f"Last run at commit `{meta.get('commit', 'unknown')}`: {', '.join(meta.get('models_run', []))} on {', '.join(meta.get('boards', []))}, "
        f"{meta.get('validate')} inputs checked per kernel set, {meta.get('seconds')} s wall time "
        f"(the longest model preparation, {meta.get('build_seconds', 0)} s, building what benchmarks/.cache "
        "did not hold, overlaps the measurements; "
        "other rows kept from earlier runs).",
        "",
        "## MLPerf Tiny",
        "",
        "| model | board | MACs | before | size | after (speed) | before/after | MAC/insn | vs TFLM+CMSIS-NN "
        "| vs vendor | vs goal | kernel code B (before/size/speed) | flash B (size/speed) | arena (bound) "
        "| bit-exact |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def common(r: dict[str, Any]) -> list[str]:
        b, z, a = r["before"], r["size"], r["after"]
        return [
            f"{b['kernel_code_bytes']:,} / {z['kernel_code_bytes']:,} / {a['kernel_code_bytes']:,}",
            f"{z['flash_bytes']:,} / {a['flash_bytes']:,}",
            f"{a['arena_bytes']:,} ({a['arena_lower_bound']:,})",
            ", ".join(f"{v['bit_exact']}/{v['validated']}" for v in (b, z, a)),
        ]

    for r in rows:
        if not r["model"].startswith("digits_"):
            ref = r.get("reference", {})

            def vs(col: str, r: dict[str, Any] = r, ref: dict[str, Any] = ref) -> str:
                return f"{r[f'after_over_{col}']}x ({_m(ref[col])})" if col in ref else "–"

            cells = [
                r["label"], r["board"], _m(r["macs"]), _m(r["before"]["instructions"]),
                _m(r["size"]["instructions"]), _m(r["after"]["instructions"]), f"{r['speedup']}x",
                str(r["macs_per_instruction"]), vs("tflm_cmsis_nn"), vs("vendor"), vs("goal"), *common(r),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    default = [r for r in rows if not r["model"].startswith("digits_") and DEFAULT in r]
    if default:
        lines += [
            "",
            "## MLPerf Tiny, the default export (`--optimize balanced`)",
            "",
            "What `edgesdk export` builds without options: int8 weights in flash unless a larger copy saves 32 "
            "instructions per byte (`passes/balanced_copies.py`). Image: text + data of the built firmware; "
            "TFLM + CMSIS-NN's image and arena on the same core (issue 20's table).",
            "",
            "| model | board | instructions | MAC/insn | vs TFLM+CMSIS-NN | vs goal | image B | TFLM image B "
            "| arena (bound) | TFLM arena | kernel code B | bit-exact |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in default:
            d, ref, tb = r[DEFAULT], r.get("reference", {}), r.get("tflm_bytes", {})
            cells = [
                r["label"], r["board"], f"{d['instructions']:,}", str(r["default_macs_per_instruction"]),
                f"{r['default_over_tflm_cmsis_nn']}x" if "tflm_cmsis_nn" in ref else "–",
                f"{r['default_over_goal']}x ({_m(ref['goal'])})" if "goal" in ref else "–",
                f"{d['flash_bytes']:,}", f"{tb['image']:,}" if tb else "–",
                f"{d['arena_bytes']:,} ({d['arena_lower_bound']:,})", f"{tb['arena']:,}" if tb else "–",
                f"{d['kernel_code_bytes']:,}", f"{d['bit_exact']}/{d['validated']}",
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    lines += replica_notes(rows)
    digits = [r for r in rows if r["model"].startswith("digits_")]
    if digits:
        lines += [
            "",
            "## Digits (benchmarks/digits_suite.py, int8 and compressed)",
            "",
            "*int8 after / after*: the same network's int8 model with `--optimize speed` against this row's "
            "(above 1: the compressed form runs faster than int8 on the core's kernels).",
            "",
            "| model | board | MACs | before | size | after (speed) | before/after | int8 after / after | MAC/insn "
            "| kernel code B (before/size/speed) | flash B (size/speed) | arena (bound) | bit-exact |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        after = {(r["model"], r["board"]): r["after"]["instructions"] for r in digits}
        for r in digits:
            net = r["model"].split("_")[1]
            base = after.get((f"digits_{net}_int8", r["board"]))
            cells = [
                r["label"], r["board"], f"{r['macs']:,}", f"{r['before']['instructions']:,}",
                f"{r['size']['instructions']:,}", f"{r['after']['instructions']:,}", f"{r['speedup']}x",
                f"{base / r['after']['instructions']:.3f}x" if base else "–",
                str(r["macs_per_instruction"]), *common(r),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Instructions per op type (before -> size -> after; default where measured)", ""]
    for r in rows:
        ops = ", ".join(
            f"{op} {r['before']['by_op'].get(op, 0):,} -> {r['size']['by_op'].get(op, 0):,} -> {c:,}"
            + (f" (default {r[DEFAULT]['by_op'].get(op, 0):,})" if DEFAULT in r else "")
            for op, c in r["after"]["by_op"].items()
        )
        lines.append(f"- {r['label']} on {r['board']}: {ops}")
    with_macs = [r for r in rows if r.get("macs_by_op")]
    if with_macs:
        lines += ["", "## MACs per instruction per op type (before -> size -> default -> speed)", ""]
        for r in with_macs:
            sets = [v for v in ("before", "size", DEFAULT, "after") if v in r]
            per = {v: op_macs_per_instruction(r, v) for v in sets}
            ops = ", ".join(
                f"{op} " + " -> ".join(str(per[v].get(op, "–")) for v in sets) for op in per["after"]
            )
            lines.append(f"- {r['label']} on {r['board']}: {ops}")
    lines += ["", "![instructions per op type, before / size / after](speed.png)", ""]
    return "\n".join(lines)


def plot_by_op(rows: list[dict[str, Any]], path: Path) -> Path:
    """One panel per op type and board: that op's instructions per inference for every model, before / size /
    after (log scale: the models span three orders of magnitude)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ops = sorted({op for r in rows for k in VARIANTS for op in r[k]["by_op"]},
                 key=lambda op: -sum(r["before"]["by_op"].get(op, 0) for r in rows))  # fmt: skip
    boards = list(dict.fromkeys(r["board"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig = Figure(figsize=(max(10.0, 0.4 * len(models) * len(boards)), 2.6 * len(ops) + 0.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(ops), len(boards), squeeze=False)
    colors = {"before": "#bbbbbb", "size": "#6a9fd4", "after": "#1f4e8c"}
    for j, board in enumerate(boards):
        brows = {r["model"]: r for r in rows if r["board"] == board}
        for i, op in enumerate(ops):
            ax = axes[i][j]
            names = [m for m in models if m in brows and brows[m]["before"]["by_op"].get(op)]
            for k, variant in enumerate(VARIANTS):
                vals = [brows[m][variant]["by_op"].get(op, 0) for m in names]
                ax.bar([x + (k - 1) * 0.27 for x in range(len(names))], vals, width=0.27, color=colors[variant],
                       label=variant)  # fmt: skip
            ax.set_yscale("log")
            ax.set_xticks(list(range(len(names))), [m.replace("digits_", "d_") for m in names], rotation=30,
                          ha="right", fontsize=6)  # fmt: skip
            ax.set_title(f"{op} on {board}", fontsize=8)
            ax.tick_params(axis="y", labelsize=6)
            if j == 0:
                ax.set_ylabel("instructions / inference", fontsize=7)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def write_results(rows: list[dict[str, Any]], meta: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n", encoding="utf-8"
    )
    (out / "speed.md").write_text(markdown(rows, meta), encoding="utf-8")
    if rows:
        plot_by_op(rows, out / "speed.png")


# --- main --------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    from edgesdk.util.progress import progress

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", nargs="+", help="keys, shell patterns or groups (mlperf, digits); default all"
    )
    ap.add_argument("--boards", nargs="+", default=list(BOARDS))
    ap.add_argument("--validate", type=int, default=3, help="inputs compared bit for bit on the board")
    ap.add_argument("--jobs", type=int, default=2, help="(model, board) rows measured in parallel processes")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--report-only", action="store_true", help="rewrite speed.md/png from speed.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.report_only:
        data = json.loads((args.out / "speed.json").read_text(encoding="utf-8"))
        models = {m.key: m for m in suite()}  # the ratios follow the current reference figures
        rows = [finish_row(r, models[r["model"]]) if r.get("model") in models else r for r in data["rows"]]
        write_results(rows, data["meta"], args.out)
        return 0
    t0 = time.monotonic()
    everything = suite()
    chosen = select(args.models, everything)
    by_key = {m.key: m for m in everything}
    # Models are prepared in the pool too, one job per group: the digits models train (minutes, when not
    # cached) while the MLPerf Tiny rows are already measured on the other worker.
    groups = {g: [m.key for m in chosen if m.group == g] for g in dict.fromkeys(m.group for m in chosen)}
    new: list[dict[str, Any]] = []
    prep_seconds: dict[str, float] = {}
    bar = progress(iter(range(len(chosen) * len(args.boards))), total=len(chosen) * len(args.boards),
                   desc="speed suite", force=True)  # fmt: skip
    ctx = multiprocessing.get_context("spawn")  # TensorFlow may be loaded here: never fork it
    with cf.ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=ctx) as pool:
        pending = {pool.submit(prepare_job, keys): ("prepare", g) for g, keys in groups.items()}
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                kind, what = pending.pop(fut)
                if kind == "prepare":
                    paths, took = fut.result()
                    prep_seconds[what] = round(took, 1)
                    log.info("%s models ready in %.0f s: %s", what, took, ", ".join(paths))
                    for key, path in paths.items():
                        for b in args.boards:
                            pending[pool.submit(measure_job, key, path, b, args.validate)] = ("row", key)
                    continue
                row = finish_row(fut.result(), by_key[what])
                new.append(row)
                next(bar, None)
                log.info(
                    "%s on %s: before %s, size %s, after %s, default %s instructions (%.2fx), bit-exact %s, %.0f s",
                    row["model"], row["board"], f"{row['before']['instructions']:,}",
                    f"{row['size']['instructions']:,}", f"{row['after']['instructions']:,}",
                    f"{row[DEFAULT]['instructions']:,}", row["speedup"],
                    "/".join(str(row[v]["bit_exact"]) for v in (*VARIANTS, DEFAULT)), row["seconds"],
                )  # fmt: skip
    next(bar, None)  # let the bar draw its last line
    build_seconds = max(prep_seconds.values(), default=0.0)
    seconds = round(time.monotonic() - t0, 1)
    meta = {"commit": _bench_module("compression").git_commit(), "models_run": [m.key for m in chosen], "boards": args.boards, "validate": args.validate,
            "jobs": args.jobs, "seconds": seconds, "build_seconds": build_seconds}  # fmt: skip
    rows = merge(load_results(args.out / "speed.json"), new, [m.key for m in everything])
    write_results(rows, meta, args.out)
    log.info("speed suite: %d rows measured, %d in %s, total %.0f s wall time", len(new), len(rows), args.out,
             seconds)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
