"""What the Verilog generators of the XNOR units share: the templates' Jinja environment, the popcount bounds and
adder tree, and running the open-source tools (Icarus Verilog, yosys, nextpnr) with their errors as sentences.

``rtl`` (the dense unit and the layer flow) and ``rtl_conv`` (the convolution unit) both import it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from edgesdk.errors import BuildError, EdgeSDKError

SIM_TIMEOUT_S = 300


def jinja_env() -> jinja2.Environment:
    """The one Jinja environment (:mod:`edgesdk.util.templating`); the RTL templates are ``hls/rtl/<name>``."""
    from edgesdk.util import templating

    return templating.environment()


def render(template: str, **values: Any) -> str:
    """The RTL template ``hls/rtl/<template>`` rendered with ``values`` and the edgesdk version (its banner)."""
    from edgesdk import __version__

    return jinja_env().get_template(f"hls/rtl/{template}").render(version=__version__, **values)


def check_module(module: str) -> None:
    """EdgeSDKError unless ``module`` is a Verilog identifier."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", module):
        raise EdgeSDKError(f"module name {module!r} is not a Verilog identifier")


def split_words(value: int, words: int) -> list[int]:
    """The ``words`` 32-bit words of ``value``, least significant first (the reference's bit packing)."""
    return [(value >> (32 * j)) & 0xFFFFFFFF for j in range(words)]


def pe_roms(
    pe: int,
    nf: int,
    sf: int,
    slice_value: Callable[[int, int], int],
    hexw: int,
    bounds: tuple[np.ndarray, np.ndarray],
    simd: int,
    accw: int,
) -> list[dict[str, Any]]:
    """Per processing element of a FINN-style folded unit (Umuroglu et al., FPGA 2017), the template's
    description: its rows (``p``, ``p + pe``, ...), the ROM of the non-zero weight slices (``slice_value(row,
    slice)``, ``hexw`` hex digits) addressed by (fold, slice), the popcount bound of each row, and the popcount
    adder tree of ``simd`` bits."""
    bound, ge = bounds
    nfw, sfw = max(1, (nf - 1).bit_length()), max(1, (sf - 1).bit_length())
    pes = []
    for p in range(pe):
        rom, rows = [], []
        for n in range(nf):
            r = n * pe + p
            for s in range(sf):
                value = slice_value(r, s)
                if value:
                    rom.append({"addr": f"{nfw + sfw}'d{(n << sfw) | s}", "value": f"{value:0{hexw}x}"})
            rows.append({"nf": f"{nfw}'d{n}", "bound": int(bound[r]), "ge": int(bool(ge[r]))})
        pes.append(
            {
                "index": p,
                "rows": f"{p}, {p + pe}, ..." if nf > 1 else str(p),
                "rom": rom,
                "bounds": rows,
                "tree": popcount_tree(f"x{p}", simd, f"pop{p}", accw),
            }
        )
    return pes


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


def simulate_unit(work: Path, module: str, verilog: str, testbench: str, **values: Any) -> list[str]:
    """Write ``module``'s ``verilog`` and its testbench (the template ``testbench`` rendered with ``values``) into
    ``work`` and run them in Icarus Verilog: the non-empty lines the testbench wrote to ``outputs.txt``."""
    (work / f"{module}.v").write_text(verilog, encoding="utf-8")
    (work / f"{module}_tb.v").write_text(
        render(testbench, module=module, outputs="outputs.txt", **values), encoding="utf-8"
    )
    return run_icarus(work, [f"{module}_tb.v", f"{module}.v"], SIM_TIMEOUT_S)


def run_icarus(work: Path, sources: list[str], timeout: float, what: str = "vvp simulation") -> list[str]:
    """Compile ``sources`` (the testbench first, names in ``work``) with Icarus Verilog, run the simulation
    (``what`` names it in an error) and return the non-empty lines it wrote to ``outputs.txt``."""
    run_tool([find_tool("iverilog"), "-g2005", "-o", "sim.vvp", *sources], work, timeout, "iverilog")
    run_tool([find_tool("vvp"), "-n", "sim.vvp"], work, timeout, what)
    return [r for r in (work / "outputs.txt").read_text(encoding="utf-8").splitlines() if r.strip()]
