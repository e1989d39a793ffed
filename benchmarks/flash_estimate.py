"""The flash and RAM ``export`` prints before building, against the built image, for the four MLPerf Tiny models.

IC (ResNet-8) and AD (autoencoder) from ``models/mlperf_tiny/``, the KWS DS-CNN and VWW MobileNetV1 replicas from
``benchmarks/mlperf_replicas.py``, each exported for the emulated Cortex-M4 (mps2-an386) with ``--optimize speed``
and ``--optimize size`` and built. Per export: the estimate made before anything is written
(:mod:`edgesdk.compiler.footprint`: the generated project's objects with the link's garbage collection replayed), the
built image's flash (``arm-none-eabi-size`` text + data) and RAM (data + bss, plus the stack reservation), the
kernel code (``ed_*`` and ``<model>_*`` functions, estimated and in the linked ELF) and the static stack estimate
(deepest call chain of ``-fstack-usage`` frames) beside the stack the board used in one inference, measured by
painting (the reset path fills the stack with a pattern; the firmware reports the deepest word overwritten). Writes ``benchmarks/results/flash_estimate.json`` and
``flash_estimate.md`` with the commit.

    python benchmarks/flash_estimate.py
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
BOARD = "mps2-an386"
log = logging.getLogger("flash_estimate")


def kernel_code_in_elf(elf: Path, model_prefix: str) -> int:
    """Bytes of the ``ed_*`` and ``<model>_*`` functions of a linked image (``arm-none-eabi-nm -S``)."""
    out = subprocess.run(
        ["arm-none-eabi-nm", "-S", str(elf)], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    total = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW" and parts[3].startswith(("ed_", f"{model_prefix}_")):
            total += int(parts[1], 16)
    return total


def models() -> dict[str, Path]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from mlperf_replicas import replica_path

    tiny = REPO / "models" / "mlperf_tiny"
    return {
        "IC": tiny / "pretrainedResnet_quant.tflite",
        "AD": tiny / "ad01_int8.tflite",
        "KWS (replica)": replica_path("kws"),
        "VWW (replica)": replica_path("vww"),
    }


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def painted_stack(r) -> int | None:
    """Run one inference on the emulated board and read the stack's painted high-water mark."""
    import numpy as np

    from edgesdk.commands.device import connect

    with connect(r.board, r.elf) as client:
        client.infer(np.zeros(client.info().input_size, dtype=np.int8))
        return client.stack_used()


def main() -> int:
    from edgesdk.commands.export import export
    from edgesdk.compiler.model import load_model

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = []
    for name, path in models().items():
        graph = load_model(path)
        for optimize in ("speed", "size"):
            log.info("%s, --optimize %s: export and build for %s", name, optimize, BOARD)
            with tempfile.TemporaryDirectory() as tmp:
                r = export(graph, BOARD, Path(tmp) / "p", build=True, optimize=optimize)
                assert r.size is not None and r.elf is not None and r.footprint is not None
                rows.append(
                    {
                        "model": name,
                        "optimize": optimize,
                        "flash_estimate": r.estimate.flash,
                        "flash_built": r.size.flash,
                        "flash_error_pct": round(100 * (r.estimate.flash / r.size.flash - 1), 3),
                        "ram_estimate": r.estimate.ram,
                        "ram_built": r.size.ram,
                        "weights": r.footprint.weights,
                        "code_estimate": r.footprint.code,
                        "kernel_code_estimate": r.footprint.kernel_code,
                        "kernel_code_built": kernel_code_in_elf(r.elf, r.c_name),
                        "stack_estimate": r.footprint.stack_estimate,
                        "stack_painted": painted_stack(r),
                        "stack_chain": r.footprint.stack_chain,
                        "kernel_code_budget": r.code_budget.get("budget"),
                    }
                )
            log.info("  %s", rows[-1])
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"commit": commit(), "board": BOARD, "compiler": "arm-none-eabi-gcc -O2 (board flags)"}
    (RESULTS / "flash_estimate.json").write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Flash printed before building vs the built image",
        "",
        f"Commit {meta['commit']}, board {BOARD} (Cortex-M4, arm-none-eabi-gcc -O2), `python benchmarks/flash_estimate.py`.",
        "Flash = text + data (`arm-none-eabi-size`); RAM = data + bss + the linker script's stack reservation.",
        "",
        "| model | --optimize | flash estimated | flash built | error | RAM estimated | RAM built | weights | "
        "kernel code est. / built | stack: static estimate / painted on the board |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['optimize']} | {r['flash_estimate']:,} | {r['flash_built']:,} | "
            f"{r['flash_error_pct']:+.2f} % | {r['ram_estimate']:,} | {r['ram_built']:,} | {r['weights']:,} | "
            f"{r['kernel_code_estimate']:,} / {r['kernel_code_built']:,} | "
            f"{r['stack_estimate']:,} / {r['stack_painted']:,} B |"
        )
    lines += [
        "",
        "Deepest call chains (GCC -fstack-usage frames over the call graph of the linked sections):",
        "",
    ]
    for r in rows:
        lines.append(f"- {r['model']} ({r['optimize']}): {' > '.join(r['stack_chain'])}")
    (RESULTS / "flash_estimate.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    worst = max(abs(r["flash_error_pct"]) for r in rows)
    return 0 if worst <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
