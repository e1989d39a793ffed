"""Vendor HLS synthesis of an hls4ml project: find the tool, run C synthesis, parse its report.

Synthesis runs the tool hls4ml's own build would run (``vitis-run --mode hls``, ``vitis_hls`` or ``vivado_hls`` on
``build_prj.tcl``, its options in ``build_opt.tcl`` rendered from ``templates/hls/build_opt.tcl.j2``) and its
``*_csynth.xml`` report is parsed (latency, initiation interval, LUT/FF/DSP/BRAM).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from edgesdk.errors import BuildError
from edgesdk.util.templating import render

log = logging.getLogger(__name__)

#: vendor tools in the order they are tried: (executable, hls4ml backend)
VENDOR_TOOLS = (("vitis-run", "Vitis"), ("vitis_hls", "Vitis"), ("vivado_hls", "Vivado"))
SYNTH_TIMEOUT_S = 6 * 3600


def find_vendor_tool() -> tuple[str, str] | None:
    """(executable path, hls4ml backend) of the first vendor HLS tool on PATH, or None."""
    for exe, backend in VENDOR_TOOLS:
        path = shutil.which(exe)
        if path:
            return path, backend
    return None


def run_synthesis(project_dir: Path, exe: str, timeout: float = SYNTH_TIMEOUT_S) -> Path:
    """Run C synthesis of the hls4ml project in ``project_dir`` with ``exe``; return the csynth.xml it wrote."""
    name = Path(exe).name
    opts = {
        "reset": 0,
        "csim": 0,
        "synth": 1,
        "cosim": 0,
        "validation": 0,
        "export": 0,
        "vsynth": 0,
        "fifo_opt": 0,
    }
    render("hls/build_opt.tcl.j2", project_dir / "build_opt.tcl", {"opts": opts})
    if name == "vitis-run":
        cmd = [exe, "--tcl", "build_prj.tcl", "--mode", "hls"]
    else:
        cmd = [exe, "-f", "build_prj.tcl", " ".join(f"{k}={v}" for k, v in opts.items())]
    log.info("synthesizing with %s in %s", " ".join(cmd), project_dir)
    try:
        with open(project_dir / "synth.log", "w", encoding="utf-8") as logf:
            subprocess.run(
                cmd, cwd=project_dir, check=True, timeout=timeout, stdout=logf, stderr=subprocess.STDOUT
            )
    except subprocess.CalledProcessError as exc:
        raise BuildError(
            f"synthesis with {name} failed (exit {exc.returncode}); see {project_dir / 'synth.log'}"
        ) from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"synthesis with {name} did not finish within {timeout:.0f} s") from None
    reports = sorted(project_dir.glob("**/syn/report/*_csynth.xml"))
    if not reports:
        raise BuildError(f"synthesis with {name} wrote no csynth.xml report under {project_dir}")
    top = [r for r in reports if r.parent.parent.parent.name.startswith("solution")]
    return (top or reports)[0]


def _num(root: ET.Element, path: str) -> float | None:
    node = root.find(path)
    if node is None or node.text is None:
        return None
    text = node.text.strip()
    try:
        return float(text)
    except ValueError:
        return None


def parse_csynth_report(path: Path) -> dict[str, Any]:
    """Latency, initiation interval, clock and LUT/FF/DSP/BRAM from a Vivado/Vitis HLS ``*_csynth.xml``."""
    try:
        text = path.read_text(encoding="utf-8")
        root = ET.fromstring(re.sub(r'\sxmlns="[^"]+"', "", text, count=1))
    except (OSError, ET.ParseError) as exc:
        raise BuildError(f"synthesis report {path} cannot be read: {exc}") from None
    lat = "PerformanceEstimates/SummaryOfOverallLatency/"

    def as_int(v: float | None) -> int | None:
        return None if v is None else int(v)

    res: dict[str, int | None] = {}
    avail: dict[str, int | None] = {}
    for key, tags in (
        ("lut", ("LUT",)),
        ("ff", ("FF",)),
        ("dsp", ("DSP", "DSP48E")),
        ("bram_18k", ("BRAM_18K",)),
    ):
        for tag in tags:
            v = _num(root, f"AreaEstimates/Resources/{tag}")
            if v is not None:
                res[key] = int(v)
                avail[key] = as_int(_num(root, f"AreaEstimates/AvailableResources/{tag}"))
                break
    top = root.find("UserAssignments/TopModelName")
    return {
        "report": str(path),
        "top": top.text if top is not None else None,
        "target_clock_ns": _num(root, "UserAssignments/TargetClockPeriod"),
        "estimated_clock_ns": _num(root, "PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
        "latency_best_cycles": as_int(_num(root, lat + "Best-caseLatency")),
        "latency_worst_cycles": as_int(_num(root, lat + "Worst-caseLatency")),
        "interval_min_cycles": as_int(_num(root, lat + "Interval-min")),
        "interval_max_cycles": as_int(_num(root, lat + "Interval-max")),
        "resources": res,
        "available": avail,
    }
