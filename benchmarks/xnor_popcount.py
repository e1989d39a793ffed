"""Benchmark: popcount variants of the XNOR kernels on the emulated Cortex-M4 (which has no popcount instruction).

Builds the xnor dense 512->512 and 3x3 conv (32->32, 16x16) layers of ``benchmarks/compression.py`` twice: with the
kernels' default split SWAR count (``ed_xnor.c``) and with ``-DED_XNOR_BUILTIN_POPCOUNT`` (GCC's
``__builtin_popcount``, a libgcc call on Cortex-M4), and counts executed instructions per layer on QEMU
mps2-an386. Writes ``benchmarks/results/xnor_popcount.json``.

    python benchmarks/xnor_popcount.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> int:
    from compression import kernel_graph

    from edgesdk.boards import get_board
    from edgesdk.commands.device import connect, make_inputs
    from edgesdk.commands.export import export

    board = get_board("mps2-an386")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for op in ("dense", "conv"):
            g = kernel_graph("xnor", op)
            out = Path(tmp) / op
            export(g, board, out, build=False)
            mk = (out / "Makefile").read_text()
            cflags = (
                next(ln for ln in mk.splitlines() if ln.startswith("CFLAGS :=")).split(":=", 1)[1].strip()
            )
            x = make_inputs(g, None, 1, seed=1)[0]
            for variant, extra in (
                ("split SWAR (default)", ""),
                ("__builtin_popcount", " -DED_XNOR_BUILTIN_POPCOUNT"),
            ):
                shutil.rmtree(out / "build", ignore_errors=True)
                subprocess.run(
                    ["make", "-s", "-C", str(out), f"CFLAGS={cflags}{extra}"],
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
                with connect(board, out / "build" / "firmware.elf") as client:
                    client.load_input(x)
                    client.run(1)
                    counts = client.layer_counts()
                names = [n.name for n in g.nodes]
                layer = dict(zip(names, counts, strict=False))["layer"]
                rows.append({"op": op, "popcount": variant, "layer_instructions": int(layer)})
                print(f"{op:6} {variant:22} {layer:>12,}")
    dest = REPO / "benchmarks" / "results" / "xnor_popcount.json"
    dest.write_text(json.dumps({"board": board.name, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
