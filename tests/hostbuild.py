"""Build generated C with the host compiler and run it against the reference: the helpers the C tests share.

``generate_and_build`` writes a model's C project and compiles it with the host driver
(``firmware/host/edgesdk_host_main.c``; ``-std=c99 -Wall -Wextra -Werror -pedantic``, optionally under
AddressSanitizer and UndefinedBehaviorSanitizer); ``run_host`` runs every input row in one process (raw int8 in,
raw int8 out); ``reference_outputs`` gives ``edgesdk.reference``'s outputs for the same rows, to compare with
``np.testing.assert_array_equal``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgesdk.backends.c import CProject, generate_c
from edgesdk.ir import graph as ir
from edgesdk.reference import Reference
from edgesdk.util.resources import firmware_dir

GCC = shutil.which("gcc")
ARM_GCC = shutil.which("arm-none-eabi-gcc")
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE = [
    "-O1",
    "-g",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]


def compile_host(project: CProject, exe: Path, sanitize: bool = False, extra: Sequence[str] = ()) -> Path:
    """Build the project with the host test driver into ``exe`` (``extra``: more compiler flags)."""
    flags = CFLAGS + (SANITIZE if sanitize else ["-O2"]) + list(extra)
    driver = firmware_dir() / "host" / "edgesdk_host_main.c"
    cmd = [
        GCC,
        *flags,
        *(f"-I{d}" for d in project.include_dirs),
        "-o",
        str(exe),
        *map(str, project.sources),
        str(driver),
    ]
    subprocess.run(cmd, check=True, timeout=300, capture_output=True)
    return exe


def generate_and_build(graph: ir.Graph, out_dir: Path, sanitize: bool = False, **kw) -> tuple[CProject, Path]:
    project = generate_c(graph, out_dir, **kw)
    return project, compile_host(project, out_dir / ("model_asan" if sanitize else "model"), sanitize)


def run_host(exe: Path, inputs: np.ndarray, output_size: int) -> np.ndarray:
    """Run all rows of ``inputs`` (N x input_size int8) in one process; N x output_size int8 back."""
    x = np.ascontiguousarray(inputs, dtype=np.int8)
    fin, fout = exe.with_suffix(".in.bin"), exe.with_suffix(".out.bin")
    x.tofile(fin)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    subprocess.run([str(exe), str(fin), str(fout)], check=True, timeout=300, env=env)
    y = np.fromfile(fout, dtype=np.int8)
    assert y.size == x.shape[0] * output_size, "the driver wrote a wrong number of outputs"
    return y.reshape(x.shape[0], output_size)


def reference_outputs(graph: ir.Graph, inputs: np.ndarray, rounding: str = "double") -> np.ndarray:
    """The reference's int8 outputs for each row of packed inputs (graph inputs concatenated, as the C API)."""
    ref = Reference(graph, rounding=rounding)
    in_tensors = [graph.tensor(n) for n in graph.inputs]
    if len(graph.inputs) == 1 and len(graph.outputs) == 1 and in_tensors[0].shape[:1] == (1,):
        # Samples are independent in the reference: one batched run is the same as N single runs, and faster.
        return np.asarray(ref.run_batch(inputs)).reshape(inputs.shape[0], -1).astype(np.int8)
    rows = []
    for row in inputs:
        parts, pos = [], 0
        for t in in_tensors:
            parts.append(row[pos : pos + t.size].reshape(t.shape))
            pos += t.size
        outs = ref.run_multi(parts) if len(parts) > 1 else [ref.run(parts[0])]
        rows.append(np.concatenate([np.asarray(o).reshape(-1) for o in outs]).astype(np.int8))
    return np.stack(rows)


def random_inputs(size: int, n: int, seed: int) -> np.ndarray:
    """n random int8 vectors, plus the two extremes (all -128, all 127) first."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (n, size), dtype=np.int8)
    return np.concatenate([np.full((1, size), -128, np.int8), np.full((1, size), 127, np.int8), x])
