#!/usr/bin/env python3
"""Fuzz edgesdk's model reader and verifier with mutants of the shared MLPerf Tiny models.

Every mutant is one deterministic mutation (seeded by its index) of a shared ``.tflite``: raw byte mutations
(bit flips, an interesting 32-bit word written at a random aligned offset, truncation, a duplicated chunk) or
flatbuffer-aware ones made on the parsed schema objects and packed again (a tensor's shape, type, buffer
index, scales, zero points or quantized dimension; an operator's inputs, outputs, operator code or any field
of its options; buffer contents and lengths; graph inputs and outputs; operator order).

Stage 1 (every mutant): ``load_model`` + ``summarize``, what ``edgesdk inspect`` does. Each outcome is either
acceptance or an :class:`~edgesdk.errors.EdgeSDKError` (counted by class); anything else is a *crash*, and a
mutant that takes longer than the time limit is a *hang*.

Stage 2 (a sample of the accepted mutants, distinct by content): ``export`` for the host board, then the
exported model sources are compiled with the host test driver under ``-fsanitize=address,undefined`` and
run on a few inputs (all -128, all 127, random), and the outputs compared bit for bit with the reference.
The contract is that every accepted mutant passes this stage; anything else is counted as a violation.

Usage: ``python3 scripts/fuzz_models.py --mutants 10000 --sanitize 40`` (writes
``benchmarks/results/fuzz_models.json``). ``tests/test_fuzz_models.py`` runs a few hundred mutants of it.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.get("EDGESDK_MODELS", REPO / "models" / "mlperf_tiny"))
MODEL_FILES = ("ad01_int8.tflite", "pretrainedResnet_quant.tflite")
RESULTS = REPO / "benchmarks" / "results" / "fuzz_models.json"

INTERESTING_INTS = [
    0,
    -1,
    1,
    2,
    3,
    5,
    7,
    8,
    16,
    31,
    32,
    33,
    63,
    64,
    100,
    127,
    128,
    -128,
    -129,
    255,
    256,
    1000,
    4096,
    32767,
    32768,
    65535,
    65536,
    1000000,
    2**24,
    2**31 - 1,
    -(2**31),
    2**32,
    2**40,
]
INTERESTING_FLOATS = [
    0.0,
    -0.0,
    -1.0,
    1.0,
    0.5,
    2.0,
    256.0,
    1.0 / 256,
    1e-3,
    1e-6,
    1e-12,
    1e-30,
    1e-38,
    1e-45,
    1e6,
    1e12,
    1e30,
    3.4e38,
    math.nan,
    math.inf,
    -math.inf,
]

log = logging.getLogger("fuzz_models")


@dataclass
class Mutant:
    index: int
    model: str
    kind: str  # "raw" or "fb"
    what: str
    data: bytes


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _pack(model: Any) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# --- raw byte mutations --------------------------------------------------------------------------------------
def _raw(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    buf = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:
        n = rng.choice([1, 1, 2, 4, 8])
        for _ in range(n):
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        return f"flip {n} bits", bytes(buf)
    if kind == 1:
        i = rng.randrange(0, len(buf) - 4) & ~3
        v = rng.choice(INTERESTING_INTS) & 0xFFFFFFFF
        buf[i : i + 4] = v.to_bytes(4, "little")
        return f"word at {i} = {v:#x}", bytes(buf)
    if kind == 2:
        n = rng.randrange(1, len(buf))
        return f"truncate to {n}", bytes(buf[:n])
    i, j = sorted(rng.sample(range(len(buf)), 2))
    j = min(j, i + 256)
    k = rng.randrange(len(buf))
    return f"copy {i}:{j} to {k}", bytes(buf[:k] + buf[i:j] + buf[k + (j - i) :])[: len(buf)]


# --- flatbuffer-aware mutations ------------------------------------------------------------------------------
def _set_list(obj: Any, attr: str, rng: random.Random, values: list[Any]) -> str:
    seq = list(getattr(obj, attr) if getattr(obj, attr) is not None else [])
    if seq and rng.random() < 0.85:
        i = rng.randrange(len(seq))
        seq[i] = rng.choice(values)
        what = f"{attr}[{i}] = {seq[i]}"
    elif seq and rng.random() < 0.5:
        seq.pop(rng.randrange(len(seq)))
        what = f"{attr} drops one"
    else:
        seq.append(rng.choice(values))
        what = f"{attr} appends {seq[-1]}"
    setattr(obj, attr, seq)
    return what


def _fb(rng: random.Random, model: Any, sch: Any) -> str:
    sg = model.subgraphs[0]
    tensors = sg.tensors
    ops = sg.operators
    n_t = len(tensors)
    kind = rng.randrange(14)
    if kind == 0:
        t = rng.choice(tensors)
        return f"tensor {t.name!r}: " + _set_list(t, "shape", rng, INTERESTING_INTS[:24])
    if kind == 1:
        t = rng.choice(tensors)
        t.type = rng.randrange(18)
        return f"tensor {t.name!r}: type = {t.type}"
    if kind in (2, 3):
        t = rng.choice(
            [t for t in tensors if t.quantization is not None and t.quantization.scale is not None]
        )
        q = t.quantization
        if kind == 2:
            return f"tensor {t.name!r}: " + _set_list(q, "scale", rng, INTERESTING_FLOATS)
        return f"tensor {t.name!r}: " + _set_list(q, "zeroPoint", rng, INTERESTING_INTS)
    if kind == 4:
        t = rng.choice([t for t in tensors if t.quantization is not None])
        t.quantization.quantizedDimension = rng.choice([-1, 0, 1, 2, 3, 4, 100])
        return f"tensor {t.name!r}: quantizedDimension = {t.quantization.quantizedDimension}"
    if kind == 5:
        t = rng.choice(tensors)
        t.buffer = rng.choice([0, 1, rng.randrange(len(model.buffers)), len(model.buffers), 2**31 - 1])
        return f"tensor {t.name!r}: buffer = {t.buffer}"
    if kind == 6:
        op = rng.choice(ops)
        attr = rng.choice(["inputs", "outputs"])
        return f"op {ops.index(op)}: " + _set_list(
            op, attr, rng, [-1, 0, 1, n_t - 1, n_t, rng.randrange(n_t), 2**31 - 1]
        )
    if kind == 7:
        op = rng.choice(ops)
        op.opcodeIndex = rng.choice([0, 1, rng.randrange(len(model.operatorCodes)), len(model.operatorCodes)])
        return f"op {ops.index(op)}: opcodeIndex = {op.opcodeIndex}"
    if kind in (8, 9, 10):  # the most productive: option fields
        op = rng.choice([o for o in ops if o.builtinOptions is not None] or ops)
        o = op.builtinOptions
        if o is None:
            return "no options"
        fields = [k for k, v in vars(o).items() if isinstance(v, (int, float, bool))]
        if not fields:
            return "no option fields"
        k = rng.choice(fields)
        v = getattr(o, k)
        if isinstance(v, bool):
            setattr(o, k, not v)
        elif isinstance(v, float):
            setattr(o, k, rng.choice(INTERESTING_FLOATS))
        else:
            setattr(o, k, rng.choice([-1, 0, 1, 2, 3, 4, 5, 7, 8, 33, 127, 1000, 2**31 - 1]))
        return f"op {ops.index(op)} options: {k} = {getattr(o, k)}"
    if kind == 11:
        bufs = [b for b in model.buffers if b.data is not None and len(b.data)]
        b = rng.choice(bufs)
        data = np.asarray(b.data, dtype=np.uint8).copy()
        choice = rng.randrange(3)
        if choice == 0:
            b.data = data[: rng.randrange(len(data))]
            return f"buffer shortened to {len(b.data)}"
        if choice == 1:
            b.data = np.concatenate([data, data[: rng.randrange(1, 64)]])
            return f"buffer grown to {len(b.data)}"
        idx = rng.sample(range(len(data)), min(len(data), rng.choice([1, 4, 64])))
        data[idx] = rng.choice([0x00, 0x7F, 0x80, 0xFF])
        b.data = data
        return f"buffer bytes set at {len(idx)} places"
    if kind == 12:
        attr = rng.choice(["inputs", "outputs"])
        return "graph " + _set_list(sg, attr, rng, [-1, 0, 1, n_t - 1, n_t, rng.randrange(n_t)])
    oc = rng.choice(model.operatorCodes)
    names = [v for k, v in vars(sch.BuiltinOperator).items() if not k.startswith("_")]
    if rng.random() < 0.5:
        oc.builtinCode = rng.choice(names)
        oc.deprecatedBuiltinCode = min(oc.builtinCode, 127)
        return f"operator code = {oc.builtinCode}"
    if len(ops) > 1:
        i = rng.randrange(len(ops) - 1)
        ops[i], ops[i + 1] = ops[i + 1], ops[i]
        return f"ops {i} and {i + 1} swapped"
    return "nothing"


def mutants(seed: int, count: int, models: dict[str, bytes] | None = None) -> Iterator[Mutant]:
    """``count`` deterministic mutants: the same (seed, count) always gives the same bytes."""
    sch = _schema()
    models = models or {name: (MODELS / name).read_bytes() for name in MODEL_FILES}
    parsed = {name: sch.ModelT.InitFromPackedBuf(data, 0) for name, data in models.items()}
    names = sorted(models)
    for i in range(count):
        rng = random.Random(f"{seed}:{i}")
        name = names[i % len(names)]
        if rng.random() < 0.3:
            what, data = _raw(rng, models[name])
            yield Mutant(i, name, "raw", what, data)
            continue
        for _attempt in range(5):
            model = copy.deepcopy(parsed[name])
            # mostly one mutation, sometimes two or three stacked (deeper semantic changes)
            n_mut = rng.choice([1, 1, 1, 1, 2, 3])
            what = "; ".join(_fb(rng, model, sch) for _ in range(n_mut))
            try:
                data = _pack(model)
            except Exception:  # a value the field's type cannot hold: pick another mutation
                continue
            yield Mutant(i, name, "fb", what, data)
            break


# --- stage 1: inspect ---------------------------------------------------------------------------------------------
class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang()


def inspect_one(data: bytes, name: str, timeout_s: float = 10.0) -> tuple[str, Any]:
    """``("accepted", graph)``, ``("refused:<Error>", message)``, ``("crash:<Type>", message)`` or ``("hang", "")``."""
    from edgesdk.commands.inspection import summarize
    from edgesdk.compiler.model import load_model
    from edgesdk.errors import EdgeSDKError

    use_alarm = hasattr(signal, "SIGALRM")
    if use_alarm:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with np.errstate(all="ignore"):
            graph = load_model(data)
            graph.name = name
            summarize(graph)
        return "accepted", graph
    except _Hang:
        return "hang", ""
    except EdgeSDKError as exc:
        msg = str(exc)
        if "\n" in msg or not msg:
            return "crash:MultilineError", msg
        return f"refused:{type(exc).__name__}", msg
    except Exception as exc:  # noqa: BLE001 - the point is to catch what should not happen
        return f"crash:{type(exc).__name__}", f"{exc}"
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


# --- stage 2: export, build under sanitizers, compare -----------------------------------------------------------
SANITIZE = [
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-O1",
    "-g",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]


def check_accepted(graph: Any, work: Path, seed: int = 0) -> tuple[str, str]:
    """Export for the host, compile the exported model under ASan/UBSan with the host driver, compare with the
    reference. Returns ``("exact", "")`` or a violation: ``export:<Error>``, ``build``, ``sanitizer``,
    ``mismatch``, ``reference:<Type>``, ``hang``."""
    from edgesdk.commands.export import export
    from edgesdk.errors import EdgeSDKError
    from edgesdk.reference import Reference
    from edgesdk.util.resources import firmware_dir

    out = work / "proj"
    shutil.rmtree(out, ignore_errors=True)
    try:
        export(graph, "host", out)
    except EdgeSDKError as exc:
        return f"export:{type(exc).__name__}", str(exc)
    except Exception as exc:  # noqa: BLE001
        return f"export-crash:{type(exc).__name__}", str(exc)
    srcs = sorted(str(p) for p in (out / "model").rglob("*.c"))
    incs = sorted(
        {f"-I{p.parent}" for p in (out / "model").rglob("*.h")} | {f"-I{firmware_dir() / 'include'}"}
    )
    exe = work / "model_asan"
    cmd = [
        "gcc",
        *SANITIZE,
        *incs,
        "-o",
        str(exe),
        *srcs,
        str(firmware_dir() / "host" / "edgesdk_host_main.c"),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "hang", "gcc"
    if proc.returncode != 0:
        return "build", (proc.stderr or proc.stdout)[-500:]
    ins = [graph.tensors[n] for n in graph.inputs]
    in_size = sum(t.size for t in ins)
    rng = np.random.default_rng(seed)
    x = np.concatenate(
        [
            np.full((1, in_size), -128, np.int8),
            np.full((1, in_size), 127, np.int8),
            rng.integers(-128, 128, (2, in_size), dtype=np.int8),
        ]
    )
    try:
        ref = Reference(graph)
        rows = []
        for row in x:
            parts, pos = [], 0
            for t in ins:
                parts.append(row[pos : pos + t.size].reshape(t.shape))
                pos += t.size
            outs = ref.run_multi(parts) if len(parts) > 1 or len(graph.outputs) > 1 else [ref.run(parts[0])]
            rows.append(np.concatenate([np.asarray(o).reshape(-1) for o in outs]).astype(np.int8))
        expected = np.stack(rows)
    except Exception as exc:  # noqa: BLE001
        return f"reference:{type(exc).__name__}", str(exc)
    fin, fout = work / "in.bin", work / "out.bin"
    x.tofile(fin)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1")
    try:
        run = subprocess.run(
            [str(exe), str(fin), str(fout)], capture_output=True, text=True, timeout=300, env=env
        )
    except subprocess.TimeoutExpired:
        return "hang", "run"
    if run.returncode != 0 or "runtime error" in run.stderr or "Sanitizer" in run.stderr:
        return "sanitizer", run.stderr[-800:]
    got = np.fromfile(fout, dtype=np.int8)
    if got.size != expected.size or not np.array_equal(got.reshape(expected.shape), expected):
        return (
            "mismatch",
            f"{int(np.sum(got.reshape(-1)[: expected.size] != expected.reshape(-1)[: got.size]))} values differ",
        )
    return "exact", ""


def _category(m: Mutant) -> str:
    """What a mutant changed, coarsely: ``fb:options:strideH``, ``fb:scale``, ``raw:flip`` ..."""
    if m.kind == "raw":
        return "raw:" + m.what.split()[0]
    first = m.what.split(";")[0]
    tail = first.split(":", 1)[-1].strip()
    field = tail.split("=")[0].split("[")[0].strip().split()[-1] if tail else "?"
    return f"fb:{'options:' if 'options' in first else ''}{field}"


def _spread(
    accepted: list[tuple[Mutant, Any]], category: Callable[[Mutant], str] = _category
) -> list[tuple[Mutant, Any]]:
    groups: dict[str, list[tuple[Mutant, Any]]] = {}
    for mg in sorted(accepted, key=lambda mg: (mg[0].kind == "raw", mg[0].index)):
        groups.setdefault(category(mg[0]), []).append(mg)
    order = sorted(groups, key=lambda k: (k.startswith("raw"), groups[k][0][0].index))
    out: list[tuple[Mutant, Any]] = []
    while any(groups.values()):
        for k in order:
            if groups[k]:
                out.append(groups[k].pop(0))
    return out


# --- driver ---------------------------------------------------------------------------------------------------------
def run(
    count: int,
    sanitize: int,
    seed: int = 1,
    show_progress: bool = False,
    workdir: Path | None = None,
    source: Callable[[int, int], Iterator[Mutant]] | None = None,
    models: tuple[str, ...] = MODEL_FILES,
    category: Callable[[Mutant], str] = _category,
) -> dict[str, Any]:
    """Run both stages over ``source(seed, count)`` (default: the ``.tflite`` mutants of :func:`mutants`);
    returns the counts (and a few examples of every non-acceptance outcome)."""
    t0 = time.time()
    commit = _commit()  # what the mutants run against (HEAD now, not when the run ends)
    stage1: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    accepted: list[tuple[Mutant, Any]] = []
    seen: set[str] = set()
    from edgesdk.util.progress import progress

    for m in progress(
        (source or mutants)(seed, count),
        total=count,
        desc="inspect mutants",
        force=None if show_progress else False,
    ):
        outcome, detail = inspect_one(m.data, f"fuzz_{m.index}")
        stage1[outcome] += 1
        by_kind[f"{m.kind}:{outcome.split(':')[0]}"] += 1
        if outcome != "accepted":
            ex = examples.setdefault(outcome, [])
            if len(ex) < 3:
                ex.append(f"#{m.index} {m.model} {m.what}: {str(detail)[:300]}")
        else:
            digest = hashlib.sha256(m.data).hexdigest()
            if digest not in seen:
                seen.add(digest)
                accepted.append((m, detail))
    t1 = time.time()
    # Stage 2: spread the sample over kinds of mutation (round robin over what was mutated), flatbuffer-aware
    # ones first (they change semantics more often than a flipped weight bit).
    accepted = _spread(accepted, category)
    stage2: Counter[str] = Counter()
    violations: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="fuzz_models.", dir=workdir))
    try:
        for k, (m, graph) in enumerate(accepted[:sanitize]):
            outcome, detail = check_accepted(graph, tmp, seed=m.index)
            stage2[outcome] += 1
            if outcome != "exact":
                violations.append(f"#{m.index} {m.model} {m.what}: {outcome}: {detail[:400]}")
            log.info(
                "sanitize %d/%d: #%d %s -> %s", k + 1, min(sanitize, len(accepted)), m.index, m.what, outcome
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    crashes = sum(v for k, v in stage1.items() if k.startswith("crash"))
    return {
        "seed": seed,
        "mutants": count,
        "commit": commit,
        "models": list(models),
        "inspect": {
            "accepted": stage1["accepted"],
            "refused": {k.split(":", 1)[1]: v for k, v in sorted(stage1.items()) if k.startswith("refused:")},
            "crashes": crashes,
            "hangs": stage1["hang"],
            "by_kind": dict(sorted(by_kind.items())),
            "distinct_accepted": len(accepted),
            "seconds": round(t1 - t0, 1),
        },
        "sanitize": {
            "checked": sum(stage2.values()),
            "exact": stage2["exact"],
            "outcomes": dict(sorted(stage2.items())),
            "sanitizer_findings": stage2["sanitizer"],
            "violations": violations,
            "seconds": round(time.time() - t1, 1),
        },
        "examples": examples,
    }


def _commit() -> str:
    """HEAD of the checkout, with ``-dirty`` when the SDK or the scripts differ from it."""

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True, timeout=30
        )
        return out.stdout.strip()

    try:
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "sdk", "scripts")
        return git("rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(
    argv: list[str] | None = None,
    run_fn: Callable[..., dict[str, Any]] | None = None,
    results: Path = RESULTS,
    mutants_default: int = 10_000,
    sanitize_default: int = 40,
    what: str = "mutants",
) -> int:
    """The command line of this script and of ``scripts/fuzz_archives.py`` (another ``run_fn``)."""
    ap = argparse.ArgumentParser(description=(sys.modules["__main__"].__doc__ or __doc__).splitlines()[0])
    ap.add_argument("--mutants", type=int, default=mutants_default)
    ap.add_argument(
        "--sanitize", type=int, default=sanitize_default, help="accepted mutants to build under ASan/UBSan"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", type=Path, default=results)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("edgesdk").setLevel(logging.ERROR)
    sys.path.insert(0, str(REPO / "sdk"))
    result = (run_fn or run)(args.mutants, args.sanitize, args.seed, show_progress=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    i, s = result["inspect"], result["sanitize"]
    print(
        f"{result['mutants']} {what}: {i['accepted']} accepted ({i['distinct_accepted']} distinct), "
        f"refused {sum(i['refused'].values())} {i['refused']}, crashes {i['crashes']}, hangs {i['hangs']}; "
        f"sanitizer stage: {s['exact']}/{s['checked']} exact, outcomes {s['outcomes']} -> {args.output}"
    )
    return 0 if i["crashes"] == 0 and i["hangs"] == 0 and s["exact"] == s["checked"] else 1


if __name__ == "__main__":
    sys.exit(main())
