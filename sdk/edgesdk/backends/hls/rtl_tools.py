"""What the Verilog generators of the XNOR units share: the templates' Jinja environment, the popcount bounds and
adder tree, and running the open-source tools (Icarus Verilog, yosys, nextpnr) with their errors as sentences.

``rtl`` (the dense unit and the layer flow) and ``rtl_conv`` (the convolution unit) both import it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import numpy as np

from edgesdk.errors import BuildError

SIM_TIMEOUT_S = 300


def jinja_env() -> jinja2.Environment:
    """The one Jinja environment (:mod:`edgesdk.templating`); the RTL templates are ``hls/rtl/<name>``."""
    from edgesdk import templating

    return templating.environment()


def popcount_bounds(
    k: int, threshold: np.ndarray, flip: np.ndarray, mw: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row (bound U, ge): the output bit is ``acc >= U`` when ge, else ``acc < U``, acc = popcount(in ^ w)."""
    t = np.asarray(threshold, dtype=np.int64)
    f = np.asarray(flip, dtype=bool)
    lower = (k - t) // 2 + 1  # not flipped: dot >= t  <=>  acc <= floor((k - t) / 2)
    upper = -((t - k) // 2)  # flipped: dot <= t  <=>  acc >= ceil((k - t) / 2)
    bound = np.where(f, upper, lower)
    return np.clip(bound, 0, mw + 1), f


def popcount_tree(src: str, width: int, dst: str, accw: int) -> str:
    """Verilog wires summing the ``width`` bits of ``src`` as a balanced adder tree into ``dst`` (``accw`` bits):
    log2(width) adder levels instead of a chain of ``width`` additions."""
    lines = []
    terms = [f"{{{{{accw - 1}{{1'b0}}}}, {src}[{i}]}}" for i in range(width)]
    level = 0
    while len(terms) > 1:
        nxt = []
        for j in range(0, len(terms) - 1, 2):
            name = f"{dst}_l{level}_{j // 2}"
            lines.append(f"    wire [{accw - 1}:0] {name} = {terms[j]} + {terms[j + 1]};")
            nxt.append(name)
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms, level = nxt, level + 1
    lines.append(f"    wire [{accw - 1}:0] {dst} = {terms[0]};")
    return "\n".join(lines)


def find_tool(*names: str) -> str:
    """The path of the first of ``names`` on PATH; BuildError naming the Debian packages otherwise."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise BuildError(
        f"{' or '.join(names)} is not installed (Debian: apt-get install iverilog yosys nextpnr-ice40)"
    )


def run_tool(cmd: list[str], cwd: Path, timeout: float, what: str) -> str:
    """Run ``cmd`` in ``cwd`` (``what`` names it in the error); its stdout and stderr."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, check=True, timeout=timeout, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
        raise BuildError(f"{what} failed (exit {exc.returncode}): {' / '.join(tail)}") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what} did not finish within {timeout:.0f} s") from None
    return proc.stdout + proc.stderr
