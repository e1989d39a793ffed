"""Run exported models on boards: flash, validate bit-exactly against the host reference, and profile.

A board is reached in one of three ways, chosen by its board file: an emulated board runs the firmware in QEMU
with a loopback TCP serial port; the ``host`` board runs the harness as a process over stdin/stdout; a real board
is flashed with the first installed tool its board file lists and reached over ``--port``. All three speak
edgesdk's binary protocol (:class:`edgesdk.transport.DeviceClient`).

Results are appended to ``results.jsonl`` as they arrive, so a fault part-way keeps what was measured; the
output folder is locked for the run (:func:`edgesdk.util.procutil.folder_lock`), so two runs never mix their lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.boards import Board, get_board
from edgesdk.commands.export import ExportResult, export
from edgesdk.compiler.data import (
    DEFAULT_RANDOM_INPUTS,
    input_names,
    input_tensor,
    load_labels,
    make_inputs,
    split_labeled_inputs,
    top1,
)
from edgesdk.errors import BoardError, EdgeSDKError, TransportError, ValidationError
from edgesdk.ir import Graph
from edgesdk.transport import DeviceClient, Emulator, ProcessTransport, SerialTransport, Transport
from edgesdk.util.escape import safe_file_stem
from edgesdk.util.procutil import folder_lock
from edgesdk.util.progress import progress

log = logging.getLogger(__name__)

FLASH_TIMEOUT_S = 300
#: How long the host waits for a board (README, "Timeouts"): seconds per attempt of a command, attempts after the
#: first, and seconds per inference a RUN may take on top. Environment variables override them (a slow board,
#: or tests that need a lying device to be given up on in a second).
LINK_SETTINGS = (
    ("EDGESDK_DEVICE_TIMEOUT", "timeout", float, 5.0, 0.05, 3600.0),
    ("EDGESDK_DEVICE_RETRIES", "retries", int, 4, 0, 20),
    ("EDGESDK_RUN_TIMEOUT", "run_timeout", float, 10.0, 0.05, 86400.0),
)


def link_settings() -> dict[str, float]:
    """The client's timeouts: the defaults of :data:`LINK_SETTINGS`, or the environment's, checked."""
    out: dict[str, float] = {}
    for env, key, kind, default, lo, hi in LINK_SETTINGS:
        text = os.environ.get(env, "").strip()
        try:
            value = kind(text) if text else default
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise EdgeSDKError(f"{env}={text!r} is not a {kind.__name__} in {lo:g}..{hi:g}")
        out[key] = value
    return out


def device_client(transport: Transport) -> DeviceClient:
    """A protocol client on ``transport`` with the timeouts of :func:`link_settings`."""
    return DeviceClient(transport, **link_settings())  # type: ignore[arg-type]


# --- flashing ----------------------------------------------------------------------------------------------------
def _flash_commands(board: Board, elf: Path, port: str | None) -> list[tuple[str, list[str] | None]]:
    """(method, command or None when its tool is missing) for each flash method of the board, in order."""
    binary = elf.with_suffix(".bin")
    origin = f"0x{board.memory.flash_origin:08X}"
    out: list[tuple[str, list[str] | None]] = []
    for method in board.flash.methods:
        cmd: list[str] | None = None
        if method == "pyocd" and shutil.which("pyocd") and board.flash.pyocd_target:
            cmd = ["pyocd", "flash", "-t", board.flash.pyocd_target, str(elf)]
        elif method == "openocd" and shutil.which("openocd") and board.flash.openocd_config:
            # OpenOCD reads -c as Tcl: the image path goes in braces (no substitution), so it is refused if it
            # holds a brace, a backslash or a control character, which braces cannot hold literally.
            if re.search(r"[{}\\\x00-\x1f]", str(elf)):
                raise BoardError(
                    f"the image path {elf!r} holds a brace, backslash or control character: rename it"
                )
            cmd = ["openocd", "-f", board.flash.openocd_config, "-c", f"program {{{elf}}} verify reset exit"]
        elif method == "st-flash" and shutil.which("st-flash"):
            cmd = ["st-flash", "--reset", "write", str(binary), origin]
        elif method == "stm32loader" and shutil.which("stm32loader") and port:
            cmd = ["stm32loader", "-p", port, "-e", "-w", "-v", "-a", origin, str(binary)]
        elif method == "esptool" and shutil.which("esptool") and board.flash.esptool_chip:
            cmd = ["esptool", "--chip", board.flash.esptool_chip, *(["--port", port] if port else [])]
            cmd += ["--baud", str(ESPTOOL_BAUD), "write-flash", f"0x{board.flash.image_offset:X}"]
            cmd.append(str(esp_image_path(elf)))
        out.append((method, cmd))
    return out


#: The serial rate esptool writes at (the ROM's download mode follows esptool's change from 115200).
ESPTOOL_BAUD = 460800


def esp_image_path(elf: Path) -> Path:
    """Where :func:`esp_image` puts the image made from ``elf`` (``firmware.elf`` -> ``firmware.esp.bin``)."""
    return elf.with_suffix(".esp.bin")


def esp_image(board: Board, elf: Path) -> Path:
    """The Espressif image of ``elf`` that the chip's boot ROM loads (``esptool --chip C elf2image``): a header
    with the entry point, one segment per loaded section (at its run address), a checksum and a SHA-256 digest.
    Raises :class:`BoardError` naming the board and esptool's last line when esptool refuses the ELF."""
    dest = esp_image_path(elf)
    cmd = ["esptool", "--chip", board.flash.esptool_chip, "elf2image", "--flash-mode", "dio", "-o", str(dest)]
    cmd.append(str(elf))
    _run_flash_tool(board, "esptool elf2image", cmd)
    if not dest.is_file():
        raise BoardError(f"esptool elf2image wrote no image {dest} for board {board.name}")
    return dest


def _run_flash_tool(board: Board, what: str, cmd: list[str]) -> None:
    """Run one flash-tool command; a failure or a timeout is one sentence with the tool's last line."""
    log.info("%s for %s: %s", what, board.name, " ".join(cmd))
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=FLASH_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        lines = [ln.strip() for ln in (exc.stderr or exc.stdout or "").splitlines() if ln.strip()]
        errors = [
            ln for ln in lines if "error" in ln.lower()
        ]  # the tool's error, not a hint printed after it
        raise BoardError(
            f"flashing board {board.name} with {what} failed: {(errors or lines or ['no output'])[-1]}"
        ) from None
    except subprocess.TimeoutExpired:
        raise BoardError(f"flashing board {board.name} with {what} took over {FLASH_TIMEOUT_S} s") from None


def _mass_storage_drive(label: str) -> Path | None:
    for root in (Path("/media"), Path("/run/media"), Path("/Volumes")):
        if root.is_dir():
            for candidate in root.rglob(label):
                if candidate.is_dir():
                    return candidate
    return None


def flash_real_board(board: Board, elf: Path, port: str | None = None) -> str:
    """Write ``elf`` to a real board with the first available method; returns the method used."""
    if board.emulated or board.is_host:
        raise BoardError(f"board {board.name} is not a real board: it runs the image directly")
    for method, cmd in _flash_commands(board, elf, port):
        if cmd is not None:
            if method == "esptool":
                esp_image(board, elf)  # the ELF becomes the image the write command names
            _run_flash_tool(board, method, cmd)
            return method
        if method == "mass-storage" and board.flash.mass_storage_label:
            drive = _mass_storage_drive(board.flash.mass_storage_label)
            if drive is not None:
                shutil.copy2(elf.with_suffix(".bin"), drive / "firmware.bin")
                return method
        if method == "uf2" and board.flash.mass_storage_label:  # the boot ROM's USB drive takes a UF2 copy
            drive = _mass_storage_drive(board.flash.mass_storage_label)
            if drive is not None:
                from edgesdk.runtime.uf2 import write_uf2

                uf2 = write_uf2(
                    elf.with_suffix(".bin"),
                    board.memory.flash_origin,
                    board.flash.uf2_family,
                    elf.with_suffix(".uf2"),
                )
                shutil.copy2(uf2, drive / "firmware.uf2")
                return method
    raise BoardError(
        f"no way to flash board {board.name}: none of {', '.join(board.flash.methods)} is installed or attached "
        "(install pyocd or esptool with pip, or openocd/stlink-tools from your package manager; a UF2 or "
        "mass-storage board must show up as its USB drive)"
    )


def flash(board: Board | str | None, image: str | Path, port: str | None = None) -> str:
    """Put ``image`` on ``board``. An emulated board starts QEMU with it and serves it until Ctrl-C."""
    board = board if isinstance(board, Board) else get_board(board)
    elf = Path(image)
    if not elf.is_file():
        raise BoardError(f"firmware image {elf} does not exist (build one with 'edgesdk export --build')")
    if board.emulated:
        import time

        with Emulator.for_board(board, elf) as emu:
            emu.transport.close()  # QEMU's serial server takes one client at a time: leave the port to the user
            print(
                f"board {board.name} (QEMU {board.emulator.machine if board.emulator else ''}) runs {elf} "
                f"on socket://127.0.0.1:{emu.port}; press Ctrl-C to stop",
                flush=True,
            )
            with contextlib.suppress(KeyboardInterrupt):
                while emu.proc is not None and emu.proc.poll() is None:
                    time.sleep(0.5)
        return f"emulator for {board.name} stopped"
    if board.is_host:
        raise BoardError("board host runs the harness as a process; there is nothing to flash")
    method = flash_real_board(board, elf, port)
    return f"flashed {elf} to {board.name} with {method}"


@contextlib.contextmanager
def connect(
    board: Board, elf: Path, port: str | None = None, *, flash: bool = True
) -> Iterator[DeviceClient]:
    """A :class:`DeviceClient` talking to ``elf`` running on ``board``; stops what it started on exit."""
    if board.emulated:
        with Emulator.for_board(board, elf) as emu:
            yield device_client(emu.transport)
        return
    if board.is_host:
        transport = ProcessTransport([elf])
    else:
        if port is None:
            raise BoardError(f"board {board.name} is a real board: give its serial port with --port")
        if flash:
            flash_real_board(board, elf, port)
        transport = SerialTransport(port, baudrate=board.uart.baud)
    with transport:
        yield device_client(transport)


def _check_device(client: DeviceClient, graph: Graph, board: Board) -> None:
    """The board runs this model and says so truthfully: its INFO record is well formed (checked by the client),
    its model hash is the model's, and its input and output sizes are the model's. A device that lies is one
    sentence (TransportError, exit 7); a board that runs another model is a ValidationError (exit 8)."""
    info = client.info()
    if info.problem:
        raise TransportError(f"board {board.name} cannot run model {graph.name}: {info.problem}")
    if graph.sha256 and info.model_sha256 != graph.sha256:
        raise ValidationError(
            f"board {board.name} runs model {info.model_name} (sha256:{info.model_sha256[:12]}…), "
            f"not {graph.name} (sha256:{graph.sha256[:12]}…): flash the right image"
        )
    t = input_tensor(graph)
    want = (t.size, graph.tensors[graph.outputs[0]].size)  # what the generated model reports (elements)
    if (info.input_size, info.output_size) != want:
        raise TransportError(
            f"board {board.name} reports {info.input_size} input and {info.output_size} output bytes for model "
            f"{graph.name}, which has {want[0]} and {want[1]}"
        )


def _can_flash(board: Board, port: str | None) -> bool:
    """Whether some flash method of a real board is installed (or its mass-storage drive is mounted)."""
    probe = Path("firmware.elf")
    if any(cmd is not None for _method, cmd in _flash_commands(board, probe, port)):
        return True
    label = board.flash.mass_storage_label
    drive_methods = {"mass-storage", "uf2"} & set(board.flash.methods)
    return bool(drive_methods) and bool(label) and _mass_storage_drive(label) is not None


@contextlib.contextmanager
def open_device(
    graph: Graph,
    board: Board,
    out: Path,
    port: str | None = None,
    mlperf_model: str | None = None,
    pass_ctx: Any = None,
) -> Iterator[tuple[DeviceClient, ExportResult | None]]:
    """A client for ``graph`` on ``board`` (and the build, when one was made), checked to run that model.

    - An emulated board with ``port`` (``socket://127.0.0.1:PORT``, printed by ``edgesdk flash``): talk to
      that running emulator; nothing is built or started.
    - A real board with ``port`` but no installed flash tool: talk to the firmware already on the port.
    - Otherwise: export and build into ``out/project``, then flash/start it.
    Either way the model hash the firmware reports must equal the model's, or one sentence says so.
    """
    if port is not None and board.emulated:
        log.info("board %s: using the running emulator on %s (started by 'edgesdk flash')", board.name, port)
        with SerialTransport(port, baudrate=board.uart.baud) as transport:
            client = device_client(transport)
            _check_device(client, graph, board)
            yield client, None
        return
    built = _prepare(graph, board, out, mlperf_model, pass_ctx=pass_ctx)
    assert built.elf is not None
    flash_it = True
    if port is not None and not board.is_host and not _can_flash(board, port):
        log.warning(
            "no flash tool for board %s is installed: talking to the firmware already on %s", board.name, port
        )
        flash_it = False
    with connect(board, built.elf, port, flash=flash_it) as client:
        _check_device(client, graph, board)
        yield client, built


# --- validate ----------------------------------------------------------------------------------------------------
@dataclass
class ValidationSummary:
    board: str
    model: str
    count: int
    exact: int
    max_abs_diff: int
    min_cosine: float
    mismatches: list[int] = field(default_factory=list)
    labeled: int = 0  # inputs with a label (top-1 is over these)
    top1_device: float | None = None
    top1_reference: float | None = None

    @property
    def passed(self) -> bool:
        return self.count > 0 and self.exact == self.count

    def to_dict(self) -> dict[str, Any]:
        return {
            "board": self.board,
            "model": self.model,
            "inputs": self.count,
            "exact_match": self.exact,
            "exact_match_pct": 100.0 * self.exact / self.count if self.count else 0.0,
            "max_abs_diff": self.max_abs_diff,
            "min_cosine": self.min_cosine,
            "mismatching_inputs": self.mismatches,
            "passed": self.passed,
            "labeled_inputs": self.labeled,
            "top1_device": self.top1_device,
            "top1_reference": self.top1_reference,
        }


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity, exactly 1.0 for equal vectors, clamped to [-1, 1] and rounded to 6 decimals, so that
    what the CLI prints and what validate.json stores are the same number."""
    if np.array_equal(a, b):
        return 1.0
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return round(float(np.clip(a @ b / (na * nb), -1.0, 1.0)), 6)


def _prepare(
    graph: Graph,
    board: Board | str | None,
    out_dir: Path,
    mlperf_model: str | None = None,
    pass_ctx: Any = None,
) -> ExportResult:
    return export(graph, board, out_dir / "project", build=True, mlperf_model=mlperf_model, pass_ctx=pass_ctx)


def validate(
    graph: Graph,
    board: Board | str | None = None,
    *,
    inputs: Any = None,
    count: int | None = None,
    out_dir: str | Path | None = None,
    port: str | None = None,
    rounding: str = "double",
    labels: Any = None,
    calib: Any = None,
    pass_ctx: Any = None,
) -> ValidationSummary:
    """Export, build, flash, run every input on the board and compare with the host reference bit for bit.

    Inputs: ``inputs`` (int8 ``.npy`` as is; float data quantized with the input's scale; an ``.npz`` with ``x``
    and ``y`` brings its labels), else the calibration samples ``calib`` (quantized: they exercise the model
    as random int8 does not), else seeded random int8. ``count``: how many (None: every ``inputs`` sample, else
    20 calibration samples or random inputs). With labels (``labels`` or the ``y`` of an ``.npz``)
    the summary holds the top-1 accuracy on the device next to the host reference's. Every device output is
    kept in ``results.jsonl``, so any other metric can be computed from it.
    """
    board = board if isinstance(board, Board) else get_board(board)
    out = Path(out_dir) if out_dir else Path(f"{safe_file_stem(graph.name)}-{board.name}-validate")
    with folder_lock(out, "validate"):
        return _validate(graph, board, out, inputs, count, port, rounding, labels, calib, pass_ctx)


def _validate(
    graph: Graph,
    board: Board,
    out: Path,
    inputs: Any,
    count: int | None,
    port: str | None,
    rounding: str,
    labels: Any,
    calib: Any,
    pass_ctx: Any = None,
) -> ValidationSummary:
    from edgesdk.profiling.report import append_result, write_json
    from edgesdk.reference import Reference

    inputs, npz_labels = split_labeled_inputs(inputs)
    if inputs is None and calib is not None:
        inputs = calib  # calibration samples stand in for inputs: as many as random ones, unless --count
        count = count or DEFAULT_RANDOM_INPUTS
    data = make_inputs(graph, inputs, count)
    expected = Reference(graph, rounding=rounding).run_batch(data).reshape(len(data), -1).astype(np.int8)
    given = labels if labels is not None else npz_labels
    ys = load_labels(given, len(data), names=input_names(inputs)) if given is not None else None
    if ys is not None and (expected.shape[1] < 2 or ys.max(initial=0) >= expected.shape[1]):
        raise EdgeSDKError(
            f"labels need a classifier: model {graph.name} has {expected.shape[1]} outputs "
            f"and the labels go up to {int(ys.max(initial=0))}"
        )
    results = out / "results.jsonl"
    results.unlink(missing_ok=True)
    summary = ValidationSummary(board.name, graph.name, 0, 0, 0, 1.0)
    outputs: list[np.ndarray] = []
    with open_device(graph, board, out, port, pass_ctx=pass_ctx) as (client, _built):
        for i in progress(range(len(data)), total=len(data), desc=f"validate on {board.name}"):
            want = expected[i]
            got, count_i = client.infer(data[i])
            diff = int(np.max(np.abs(got.astype(np.int32) - want.astype(np.int32)))) if got.size else 0
            cos = _cosine(got, want)
            exact = bool(np.array_equal(got, want))
            summary.count += 1
            summary.exact += exact
            summary.max_abs_diff = max(summary.max_abs_diff, diff)
            summary.min_cosine = min(summary.min_cosine, cos)
            if not exact:
                summary.mismatches.append(i)
            outputs.append(got)
            record = {"input": i, "exact": exact, "max_abs_diff": diff, "cosine": cos, "count": count_i}
            if ys is not None:
                record["label"] = int(ys[i])
            record["output"] = got.astype(int).tolist()
            append_result(results, record)
    if ys is not None and outputs:
        summary.labeled = len(outputs)
        summary.top1_device = top1(np.stack(outputs), ys[: len(outputs)])
        summary.top1_reference = top1(expected[: len(outputs)], ys[: len(outputs)])
    write_json(out / "validate.json", summary.to_dict())
    return summary


# --- profile -----------------------------------------------------------------------------------------------------
def profile(
    graph: Graph,
    board: Board | str | None = None,
    *,
    runs: int = 5,
    out_dir: str | Path | None = None,
    port: str | None = None,
    meter: str | None = None,
    meter_port: str | None = None,
    pass_ctx: Any = None,
) -> dict[str, Any]:
    """Latency per inference and per layer on the board, energy estimates (and a meter's reading), plots, report.

    ``pass_ctx`` (an ``edgesdk.passes.PassContext``) sets the kernel choice of the export (force, forbid, goal).
    """
    if runs < 1:
        raise EdgeSDKError("profile needs --runs of at least 1")
    board = board if isinstance(board, Board) else get_board(board)
    out = Path(out_dir) if out_dir else Path(f"{safe_file_stem(graph.name)}-{board.name}-profile")
    with folder_lock(out, "profile"):
        return _profile(graph, board, out, runs, port, meter, meter_port, pass_ctx)


def _profile(
    graph: Graph,
    board: Board,
    out: Path,
    runs: int,
    port: str | None,
    meter: str | None,
    meter_port: str | None,
    pass_ctx: Any = None,
) -> dict[str, Any]:
    from edgesdk.commands.inspection import summarize
    from edgesdk.profiling.energy import LayerStats, estimate_energy
    from edgesdk.profiling.plots import plot_layer_latency
    from edgesdk.profiling.report import append_result, write_json, write_report
    from edgesdk.profiling.stats import check_layer_sum, summarize_latency, unit_label

    x = make_inputs(graph, None, 1)[0]
    results = out / "results.jsonl"
    results.unlink(missing_ok=True)
    counts: list[int] = []
    per_layer: list[list[int]] = []
    samples = None
    with open_device(graph, board, out, port, pass_ctx=pass_ctx) as (client, built):
        info = client.info()
        client.load_input(x)
        meter_ctx = _open_meter(meter, meter_port)
        with meter_ctx as m:
            if m is not None:
                m.start()
            for i in progress(range(runs), total=runs, desc=f"profile on {board.name}"):
                (c,) = client.run(1)
                layers = client.layer_counts() if info.profile else []
                counts.append(c)
                per_layer.append(layers)
                append_result(results, {"run": i, "count": c, "layer_counts": layers})
            if m is not None:
                samples = m.stop()
        stack_used = client.stack_used()  # painted high-water mark since reset (None on the host)
    unit = info.timer_unit
    clock = info.clock_hz
    latency = summarize_latency(counts, clock, unit)
    summary = summarize(graph)
    layer_rows = []
    last = per_layer[-1] if per_layer and per_layer[-1] else []
    # A convolution fused into a residual ADD (passes/conv_add_fuse.py) has no layer of its own on the device: it
    # runs inside the ADD's, so the two are one row, named for both, with both layers' MACs and weights.
    # Without a build (a device already running, --port) the export the firmware was made by is written again into
    # a temporary folder, not built: its report has the memory figures and the kernels (fused layers) of the same
    # passes, planner and footprint.
    report = built.report if built else _export_report(graph, board, pass_ctx)
    fused = {k["fused_conv"]: k["layer"] for k in report.get("kernels", []) if k.get("fused_conv")}
    # a convolution chained by bands into the next one (passes/band_chain.py) runs inside that one's layer
    fused.update(
        {k["band_chain"]["conv"]: k["layer"] for k in report.get("kernels", []) if k.get("band_chain")}
    )
    for conv in list(fused):
        while fused[conv] in fused:  # A chained into B, B fused into the ADD: all three one row
            fused[conv] = fused[fused[conv]]
    rows = {row["name"]: row for row in summary["layers"]}
    own = [row["name"] for row in summary["layers"] if row["name"] not in fused]
    if last and len(last) != len(own):
        raise TransportError(
            f"board {board.name} reports {len(last)} layer counts for model {graph.name}, which runs {len(own)} layers"
        )
    device_layers = iter(last)
    for row in summary["layers"]:
        if row["name"] in fused:
            continue
        layer = dict(row)
        convs = [r["name"] for r in summary["layers"] if fused.get(r["name"]) == row["name"]]  # in order
        if convs:
            layer["name"] = " + ".join([*convs, row["name"]])
            layer["op"] = " + ".join([*(rows[c]["op"] for c in convs), row["op"]])
            layer["layers"] = [*convs, row["name"]]
            layer["input_shapes"] = rows[convs[0]]["input_shapes"] + [
                s for s in row["input_shapes"] if s != rows[convs[-1]]["output_shapes"][0]
            ]
            for key in ("params", "macs", "weight_bytes"):
                layer[key] = row[key] + sum(rows[c][key] for c in convs)
        if last:
            c = next(device_layers)
            layer["count"] = c
            layer["us"] = info.counts_to_us(c)
        layer_rows.append(layer)
    data: dict[str, Any] = {
        "model": {"name": graph.name, "sha256": graph.sha256},
        "board": board.to_dict(),
        "unit": unit_label(unit),
        "latency": latency.to_dict(),
        "runs": counts,
        "layers": layer_rows,
        # the static estimate (deepest call chain) beside what the board used (stack painting)
        "memory": {**report.get("memory", {}), **({"stack_measured": stack_used} if stack_used else {})},
    }
    plots: dict[str, Path] = {}
    if last:
        data["layer_sum"] = check_layer_sum(
            [(r["name"], r["count"]) for r in layer_rows], counts[-1]
        ).to_dict()
        plots["latency"] = plot_layer_latency(
            layer_rows, out / "layer_latency.png", unit=unit_label(unit), clock_hz=clock
        )
    stats = [LayerStats.from_dict(r) for r in layer_rows]
    energy = estimate_energy(stats, latency.median_us * 1e-6, board)
    data["energy"] = energy.to_dict()
    if samples is not None:
        from edgesdk.profiling.meters import energy_j

        data["meter"] = {"kind": meter, "energy_j": energy_j(samples), "samples": len(samples.values)}
    write_json(out / "profile.json", data)
    write_report(out, data, {k: v.relative_to(out) for k, v in plots.items()})
    return data


def _export_report(graph: Graph, board: Board, pass_ctx: Any) -> dict[str, Any]:
    """The report of ``export`` for ``graph`` on ``board`` (not built), from a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="edgesdk-profile-") as tmp:
        return export(graph, board, Path(tmp) / "p", pass_ctx=pass_ctx, check=False).report


def _open_meter(kind: str | None, port: str | None):
    if kind is None:
        return contextlib.nullcontext(None)
    from edgesdk.profiling.meters import open_meter

    if port is None:
        raise EdgeSDKError(f"meter {kind} needs its serial port (--meter-port)")
    return open_meter(kind, port)
