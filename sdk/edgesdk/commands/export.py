"""``edgesdk export``: a model becomes a C project for a board, checked against the board's memory.

The project holds the generated model (``model/``), the device harness for the board's family
(``firmware/``), a linker script rendered from the board's memory map, a Makefile and a CMakeLists.txt,
and a report (``report.json``, ``report.md`` with plots). It is written to a temporary folder beside the
target and renamed into place only when complete, so a failure never leaves a half-written folder.
A model that cannot fit the board's flash or RAM is refused before anything is written or built.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesdk import __version__
from edgesdk.boards import CORE_SLOWER_KERNELS, UART_DRIVERS, Board, get_board
from edgesdk.compiler import ccm
from edgesdk.compiler.footprint import Footprint, build_failure_cause, model_only
from edgesdk.compiler.planner import Plan, plan
from edgesdk.errors import BoardError, BuildError, EdgeSDKError, describe_os_error
from edgesdk.ir import Graph
from edgesdk.passes import DEFAULT_OPTIMIZE, OPTIMIZE_GOALS, PassContext, kernel_decisions, run_pipeline
from edgesdk.passes.specialize import CODE_BUDGET, KERNEL, KERNEL16
from edgesdk.runtime.mlperf_modes import resolve_mlperf
from edgesdk.util.escape import safe_file_stem
from edgesdk.util.resources import firmware_dir
from edgesdk.util.templating import render

log = logging.getLogger(__name__)

# RAM besides the arena and stack when no compiler measures it: the harness's input/output buffers are counted
# separately; this covers its frame buffer, protocol state and newlib-nano's data.
HARNESS_RAM_ESTIMATE = 2 * 1024
MAKE_TIMEOUT_S = 600
#: Kernels the specialisation pass instantiates per layer under the kernel-code budget.
SPECIALIZED = (KERNEL, KERNEL16)


@dataclass
class MemoryUse:
    """Flash and RAM in bytes: an estimate before building, or what ``size`` says after."""

    flash: int
    ram: int
    detail: dict[str, int] = field(default_factory=dict)
    measured: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"flash": self.flash, "ram": self.ram, "measured": self.measured, **self.detail}


@dataclass
class ExportResult:
    out_dir: Path
    board: Board
    graph: Graph
    plan: Plan
    c_name: str
    estimate: MemoryUse
    size: MemoryUse | None = None
    elf: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)
    mlperf: dict[str, Any] = field(default_factory=dict)  # MLPerf Tiny mode: model, input_offset, inferred
    ccm: dict[str, Any] = field(default_factory=dict)  # arena/stack placed in core-coupled RAM, and why
    footprint: Footprint | None = None  # the estimate's parts: weights, code, kernel code, stack
    #: the kernel-code budget of the specialisation pass, the compiled kernel code, and the budgets the copies were
    #: chosen again within when the compiled code was over
    code_budget: dict[str, Any] = field(default_factory=dict)


def estimate_memory(graph: Graph, arena: Plan, board: Board, footprint: Footprint | None = None) -> MemoryUse:
    """What the exported firmware will need, before building (the build then measures it): ``footprint`` from
    the project's compiled objects (:mod:`edgesdk.compiler.footprint`), else the layers' constant arrays and a constant for
    the code (:func:`edgesdk.compiler.footprint.model_only`). RAM includes the stack the linker script reserves."""
    fp = footprint or fallback_footprint(graph, arena, board)
    return MemoryUse(
        flash=fp.flash,
        ram=fp.ram,
        detail={
            "weights": fp.weights,
            "code": fp.code,
            "kernel_code": fp.kernel_code,
            "data": fp.data,
            "arena": arena.arena_bytes,
            "stack": board.stack_bytes,
            **({"stack_estimate": fp.stack_estimate} if fp.stack_estimate is not None else {}),
        },
    )


def fallback_footprint(
    graph: Graph, arena: Plan, board: Board, layer_bytes: dict[str, int] | None = None
) -> Footprint:
    """The footprint without a compiler: the layers' constant arrays (``layer_bytes``, lowered here when not
    given) and constants for the code and the harness's RAM."""
    if layer_bytes is None:
        from edgesdk.backends.c.generator import constant_bytes

        layer_bytes = constant_bytes(graph, target=board.kernel_target)
    io = sum(graph.tensors[n].nbytes for n in graph.inputs + graph.outputs)
    return model_only(layer_bytes, arena.arena_bytes + io + HARNESS_RAM_ESTIMATE, board.stack_bytes)


def check_fits(model_name: str, use: MemoryUse, board: Board) -> None:
    """Refuse, in one sentence with the figures, a model that does not fit the board."""
    if board.is_host:
        return
    in_ram = 0
    if board.memory.load_in_place and not use.measured:  # the boot ROM puts the constants in RAM
        in_ram = use.detail.get("weights", 0)
        use = MemoryUse(flash=use.flash - in_ram, ram=use.ram + in_ram, detail=use.detail, measured=False)
    problems = []
    if use.flash > board.memory.flash_bytes:
        what = (
            "measured"
            if use.measured
            else f"weights {use.detail.get('weights', 0):,} + code {use.detail.get('code', 0):,}"
            + (f" + data {use.detail['data']:,}" if use.detail.get("data") else "")
        )
        problems.append(
            f"{use.flash:,} bytes of flash ({what}) but the board has {board.memory.flash_bytes:,}"
        )
    if use.ram > board.memory.ram_bytes:
        what = (
            "measured"
            if use.measured
            else f"arena {use.detail.get('arena', 0):,} + stack {board.stack_bytes:,} + harness "
            f"{use.ram - use.detail.get('arena', 0) - board.stack_bytes - in_ram:,}"
            + (f" + weights {in_ram:,}" if in_ram else "")
        )
        problems.append(f"{use.ram:,} bytes of RAM ({what}) but the board has {board.memory.ram_bytes:,}")
    if problems:
        raise BoardError(
            f"model {model_name} does not fit board {board.name}: it needs " + " and ".join(problems)
        )


_SIZE_RE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+[0-9a-fA-F]+\s+(.+)$", re.M)


def measure_size(elf: Path, board: Board) -> MemoryUse:
    """Flash (text + data) and RAM (data + bss) of a built image, from ``size`` (Berkeley format)."""
    tool = board.tool("size")
    try:
        out = subprocess.run([tool, str(elf)], check=True, capture_output=True, text=True, timeout=60).stdout
    except FileNotFoundError:
        raise BuildError(f"{tool} is not installed; it is needed to measure {elf}") from None
    except subprocess.CalledProcessError as exc:
        raise BuildError(f"{tool} failed on {elf}: {exc.stderr.strip()}") from None
    m = _SIZE_RE.search(out)
    if not m:
        raise BuildError(f"cannot read the output of {tool} for {elf}")
    text, data, bss = (int(m.group(i)) for i in (1, 2, 3))
    stack = 0 if board.is_host else board.stack_bytes  # reserved by the linker script, not in .bss
    detail = {"text": text, "data": data, "bss": bss, "stack": stack}
    if not board.is_host:
        detail["kernel_code"] = kernel_code_in_elf(elf, tool.replace("size", "nm"))
    if board.memory.load_in_place:  # constants sit in RAM: count each section where its address puts it
        in_ram = _bytes_in_region(elf, tool, board.memory.ram_origin, board.memory.ram_bytes)
        return MemoryUse(flash=text + data + bss - in_ram, ram=in_ram + stack, detail=detail, measured=True)
    return MemoryUse(flash=text + data, ram=data + bss + stack, detail=detail, measured=True)


def _bytes_in_region(elf: Path, tool: str, origin: int, size: int) -> int:
    """Bytes of the image's allocated sections whose address lies in [origin, origin + size), from ``size -A``."""
    try:
        out = subprocess.run(
            [tool, "-A", "-d", str(elf)], check=True, capture_output=True, text=True, timeout=60
        )
    except subprocess.CalledProcessError as exc:
        raise BuildError(f"{tool} -A failed on {elf}: {exc.stderr.strip()}") from None
    total = 0
    for line in out.stdout.splitlines():
        parts = line.split()
        if (
            len(parts) == 3
            and parts[1].isdigit()
            and parts[2].isdigit()
            and origin <= int(parts[2]) < origin + size
        ):
            total += int(parts[1])
    return total


def kernel_code_in_elf(elf: Path, nm: str = "arm-none-eabi-nm") -> int:
    """Bytes of the kernel functions of a linked image: ``ed_*`` and the model's own (``<model>_*``, found as the
    functions beside ``<model>_invoke``), from ``nm -S``."""
    try:
        out = subprocess.run(
            [nm, "-S", str(elf)], check=True, capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"{nm} failed on {elf}: {exc}") from None
    funcs = [
        (p[3], int(p[1], 16))
        for p in (ln.split() for ln in out.splitlines())
        if len(p) == 4 and p[2] in "tTwW"
    ]
    prefixes = tuple(["ed_"] + [n.removesuffix("_invoke") + "_" for n, _ in funcs if n.endswith("_invoke")])
    return sum(size for name, size in funcs if name.startswith(prefixes))


def build_project(project: Path, board: Board, jobs: int = 2) -> Path:
    """Run ``make`` in an exported project; returns the built ELF. The whole output goes to ``build.log``."""
    cc = board.build.cc
    if shutil.which(cc) is None:
        raise BuildError(
            f"compiler {cc} for board {board.name} is not installed (see the README's setup command)"
        )
    cmd = ["make", "-C", str(project), f"-j{jobs}"]
    log.info("building %s for %s", project, board.name)
    logfile = project / "build.log"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=MAKE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BuildError(f"building {project} for {board.name} took longer than {MAKE_TIMEOUT_S} s") from None
    logfile.write_text(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}", encoding="utf-8")
    if proc.returncode != 0:
        cause = build_failure_cause(proc.stderr or proc.stdout)
        raise BuildError(f"building the project for {board.name} failed: {cause}")
    elf = project / "build" / "firmware.elf"
    if not elf.is_file():
        raise BuildError(f"building {project} for {board.name} produced no {elf.name}")
    return elf


def _copy_firmware(dst: Path, board: Board) -> list[str]:
    """Copy the harness, the board family's target code and the make fragment; return the .c files it builds."""
    src = firmware_dir()
    parts = ["include", "harness", f"targets/{board.family}"] + (["targets/cortexm"] if board.is_arm else [])
    # shared Cortex-M code holds UART drivers named after the board file's [uart] driver: take only this board's
    other_drivers = [f"{d}.c" for d in UART_DRIVERS if d != board.uart.driver]
    for part in parts:
        if not (src / part).is_dir():
            raise EdgeSDKError(f"firmware folder {src / part} is missing from this edgesdk installation")
        ignore = shutil.ignore_patterns("*.o", "__pycache__", *other_drivers)
        shutil.copytree(src / part, dst / "firmware" / part, ignore=ignore)
    shutil.copy2(src / "edgesdk.mk", dst / "firmware" / "edgesdk.mk")
    return sorted(str(p.relative_to(dst)) for p in (dst / "firmware").rglob("*.c"))


def _harness_settings(
    graph: Graph, board: Board, mlperf: dict[str, Any], profile: bool
) -> list[tuple[str, str]]:
    """The make variables of firmware/edgesdk.mk that come from the board and the model."""
    size = lambda names: max((graph.tensors[n].nbytes for n in names), default=0)  # noqa: E731
    settings = [
        ("BOARD_NAME", board.name),
        ("CLOCK_HZ", str(board.clock_hz)),
        ("EMULATED", "1" if board.emulated else "0"),
        ("ICOUNT_SHIFT", str(board.emulator.icount_shift if board.emulator else 0)),
        ("PROFILE", "1" if profile else "0"),
        ("MLPERF_MODEL", mlperf["model"]),
        ("MLPERF_INPUT_OFFSET", str(mlperf["input_offset"])),
        ("MAX_INPUT_BYTES", str(max(size(graph.inputs), 1))),
        ("MAX_OUTPUT_BYTES", str(max(size(graph.outputs), 1))),
        ("MAX_LAYERS", str(max(len(graph.nodes), 1))),
    ]
    if not board.is_host:
        settings += [("UART_BASE", f"0x{board.uart.base:08X}"), ("UART_BAUD", str(board.uart.baud))]
        settings += [("LINKER_SCRIPT", "linker.ld"), ("OBJCOPY", board.tool("objcopy"))]
        for key in (
            "irq",
            "tx_pin",
            "rx_pin",
        ):  # the UART's interrupt line and pins, where the board names them
            if key in board.uart.extra:
                settings.append((f"UART_{key.upper()}", f"{board.uart.extra[key]}u"))
    return settings


def _cmake_defines(settings: list[tuple[str, str]]) -> list[str]:
    """The same -D definitions firmware/edgesdk.mk derives from its variables, for CMakeLists.txt."""
    s = dict(settings)
    out = [f'EDGESDK_MLPERF_MODEL="{s["MLPERF_MODEL"]}"', f'EDGESDK_BOARD_NAME="{s["BOARD_NAME"]}"']
    out.append(f"EDGESDK_MLPERF_INPUT_OFFSET={s['MLPERF_INPUT_OFFSET']}")
    out.append(f"EDGESDK_CLOCK_HZ={s['CLOCK_HZ']}u")
    if s.get("ARENA_IN_CCM") == "1":
        out.append("EDGESDK_ARENA_IN_CCM")
    if "UART_BASE" in s:
        out += [f"EDGESDK_UART_BASE={s['UART_BASE']}u", f"EDGESDK_UART_BAUD={s['UART_BAUD']}u"]
    for key in ("UART_IRQ", "UART_TX_PIN", "UART_RX_PIN"):
        if key in s:
            out.append(f"EDGESDK_{key}={s[key]}")
    if s["PROFILE"] == "1":
        out.append("EDGESDK_PROFILE")
    if s["EMULATED"] == "1":
        out += ["EDGESDK_EMULATED", "EDGESDK_SEMIHOSTING", f"EDGESDK_ICOUNT_SHIFT={s['ICOUNT_SHIFT']}"]
    for key in ("MAX_INPUT_BYTES", "MAX_OUTPUT_BYTES", "MAX_LAYERS"):
        out.append(f"EDGESDK_{key}={s[key]}u")
    return out


def render_linker_script(board: Board, dest: Path, *, stack_in_ccm: bool = False) -> Path:
    """The board's linker script (memory map, stack) rendered from ``templates/firmware/linker.ld.j2``;
    ``stack_in_ccm`` puts the stack at the top of the board's core-coupled RAM (see :mod:`edgesdk.compiler.ccm`)."""
    return render(
        "firmware/linker.ld.j2",
        dest,
        {
            "board_name": board.name,
            "flash_origin": board.memory.flash_origin,
            "flash_bytes": board.memory.flash_bytes,
            "ram_origin": board.memory.ram_origin,
            "ram_bytes": board.memory.ram_bytes,
            "stack_bytes": board.stack_bytes,
            "ccm_origin": board.memory.ccm_origin,
            "ccm_bytes": board.memory.ccm_bytes,
            "stack_in_ccm": stack_in_ccm,
            "load_in_place": board.memory.load_in_place,
        },
    )


def _prepare_out_dir(out_dir: Path) -> None:
    """An existing folder may be replaced only if it is empty or an earlier edgesdk export (a finished one with its
    report.json, or a failed build kept with its build.log)."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise EdgeSDKError(f"output {out_dir} exists and is not a folder")
        earlier = (out_dir / "report.json").is_file() or (out_dir / "build.log").is_file()
        if any(out_dir.iterdir()) and not earlier:
            raise EdgeSDKError(
                f"output folder {out_dir} is not empty and holds no earlier edgesdk export; choose another"
            )


def board_pass_context(board: Board, pass_ctx: PassContext | None, optimize: str) -> PassContext:
    """The passes' context for ``board``: its core, the kernels measured slower on that core than their cost models
    say forbidden (a forced layer still gets them), and its flash for the kernels that trade flash for speed."""
    ctx = pass_ctx or PassContext(optimize=optimize)
    if not ctx.core and not board.is_host:
        ctx = dataclasses.replace(ctx, core=board.core)
    slower = CORE_SLOWER_KERNELS.get(board.core)
    if slower:
        ctx = dataclasses.replace(ctx, forbid={**ctx.forbid, "*": set(ctx.forbid.get("*", set())) | slower})
    if "flash_bytes" not in ctx.options:  # kernels that trade flash for speed need the budget
        ctx = dataclasses.replace(ctx, options={**ctx.options, "flash_bytes": board.memory.flash_bytes})
    return ctx


def priced_code(graph: Graph) -> int:
    """Estimated code bytes of the int8 kernels that ``--optimize speed`` gave layers instead of a flash copy over
    its copy budget (``passes/balanced_copies.py``), which that budget already counts."""
    return sum(int(n.attrs.get("kernel_report", {}).get("priced_code", 0)) for n in graph.nodes)


@dataclasses.dataclass
class _Generated:
    """One generation of the project's model and firmware in the hidden folder, and what it measured."""

    graph: Graph
    arena: Plan
    project: Any
    settings: list[tuple[str, str]]
    firmware_srcs: list[str]
    model_srcs: list[str]
    fp: Footprint
    ctx: PassContext
    budget: int
    tightened: list[int]
    priced: int = 0


def _generate_within_budget(
    read: Graph,
    ctx: PassContext,
    tmp: Path,
    board: Board,
    mlperf: dict[str, Any],
    profile: bool,
    rounding: str,
) -> _Generated:
    """Run the passes, plan, generate the C and copy the firmware into ``tmp``, and measure the footprint; with
    ``--optimize speed``, choose the specialised copies again while the compiled kernel code (less the code that the
    speed copy budget priced, :func:`priced_code`) is over its budget."""
    from edgesdk.backends.c import generate_c

    budget = int(ctx.options.get("kernel_code_budget", CODE_BUDGET))
    tightened: list[int] = []
    while True:
        graph = run_pipeline(read, "default", ctx)
        arena = plan(graph)
        arena.check_no_overlap()
        project = generate_c(graph, tmp / "model", plan=arena, rounding=rounding, target=board.kernel_target)
        firmware_srcs = _copy_firmware(tmp, board)
        settings = _harness_settings(graph, board, mlperf, profile)
        model_srcs = sorted(str(p.relative_to(tmp)) for p in (tmp / "model").rglob("*.c"))
        fp = project_footprint(tmp, board, settings, firmware_srcs, model_srcs, project)
        if fp is None:
            fp = fallback_footprint(graph, arena, board, project.layer_flash)
        # the code of the int8 kernels that layers went back to under the speed copy budget was priced there
        # (passes/balanced_copies.py): the kernel-code budget is for the rest
        priced = priced_code(graph)
        over = fp.kernel_code - priced - budget
        copies = [n for n in graph.nodes if n.attrs.get("kernel") in SPECIALIZED and ctx.forced(n) is None]
        # The budget is the speed kernels' (--optimize speed); balanced keeps its copies: their instructions
        # are worth more than the few hundred bytes its extra int8 kernels add to the code.
        if over <= 0 or not copies or len(tightened) >= 4 or ctx.optimize != "speed":
            return _Generated(
                graph, arena, project, settings, firmware_srcs, model_srcs, fp, ctx, budget, tightened, priced
            )
        # The specialisation pass chose copies by its code estimate and the compiled code is over the budget:
        # choose again with the budget lowered by the excess, until the compiled code keeps it.
        tighter = int(ctx.options.get("kernel_code_budget", budget)) - over
        log.info(
            "kernel code %d B is over the %d B budget: copies chosen again within %d B",
            fp.kernel_code,
            budget,
            tighter,
        )
        tightened.append(tighter)
        ctx = dataclasses.replace(ctx, options={**ctx.options, "kernel_code_budget": tighter})
        shutil.rmtree(tmp / "model")
        shutil.rmtree(tmp / "firmware")


def _render_project(tmp: Path, board: Board, gen: _Generated, placement: Any) -> None:
    """The build files of the project in ``tmp``: Makefile, CMakeLists.txt, the toolchain file, the linker script."""
    graph, settings = gen.graph, gen.settings
    model_includes = sorted({str(p.parent.relative_to(tmp)) for p in (tmp / "model").rglob("*.h")})
    banner = f"Generated by edgesdk {__version__} from {graph.name} (sha256:{graph.sha256}). Do not edit."
    if placement.arena_in_ccm:
        settings.append(("ARENA_IN_CCM", "1"))
    tctx = {
        "banner": banner,
        "board": board,
        "model_name": gen.project.model_name,
        "size_tool": board.tool("size"),
        "make_vars": settings,
        "model_srcs": gen.model_srcs,
        "model_includes": model_includes,
        "firmware_srcs": gen.firmware_srcs,
        "firmware_includes": ["firmware/include", "firmware/harness"]
        + (["firmware/targets/cortexm"] if board.is_arm else []),
        "cmake_defines": _cmake_defines(settings),
    }
    render("project/Makefile.j2", tmp / "Makefile", tctx)
    render("project/CMakeLists.txt.j2", tmp / "CMakeLists.txt", tctx)
    if not board.is_host:
        render("project/arm-none-eabi.cmake.j2", tmp / "arm-none-eabi.cmake", tctx)
        render_linker_script(board, tmp / "linker.ld", stack_in_ccm=placement.stack_in_ccm)


def _build_into(tmp: Path, out_dir: Path, board: Board) -> Path:
    """``make`` in the hidden folder; on a failed build the project and its build.log move to ``out_dir``."""
    try:
        return build_project(tmp, board)
    except BuildError as exc:
        if (tmp / "build.log").is_file():  # keep the project and its log where the user looks
            if out_dir.exists():
                shutil.rmtree(out_dir)
            tmp.rename(out_dir)
            raise BuildError(f"{exc} (the project and its build.log are in {out_dir})") from None
        raise


def export(
    graph: Graph,
    board: Board | str | None = None,
    out_dir: str | Path | None = None,
    *,
    build: bool = False,
    rounding: str = "double",
    mlperf_model: str | None = None,
    profile: bool = True,
    pass_ctx: PassContext | None = None,
    optimize: str = DEFAULT_OPTIMIZE,
    check: bool = True,
) -> ExportResult:
    """Write (and with ``build`` compile) the C project for ``graph`` on ``board``.

    ``optimize`` ("balanced", the default, "speed" or "size") is what kernel-selection passes favour where they disagree
    (e.g. Winograd's transformed int16 weights take 3.6x the flash of the int8 ones); the report states the
    trade per layer under ``optimization``. ``check=False`` writes a project that does not fit the board too
    (``inspect`` reports what it would need)."""

    board = board if isinstance(board, Board) else get_board(board)
    out_dir = Path(out_dir) if out_dir is not None else Path(f"{safe_file_stem(graph.name)}-{board.name}")
    mlperf = resolve_mlperf(graph, mlperf_model)
    if optimize not in OPTIMIZE_GOALS:
        raise EdgeSDKError(f"--optimize must be one of {', '.join(OPTIMIZE_GOALS)}, not {optimize!r}")
    ctx = board_pass_context(board, pass_ctx, optimize)
    read = graph
    _prepare_out_dir(out_dir)
    made = [
        p for p in (out_dir.parent, *out_dir.parent.parents) if not p.exists()
    ]  # removed again on a refusal
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as exc:
        raise EdgeSDKError(f"cannot create the output folder {out_dir} ({describe_os_error(exc)})") from None
    try:
        # The project is written to a hidden folder first; what it needs is measured from its compiled objects,
        # and a model that does not fit is refused before the output folder exists (the hidden one is removed).
        gen = _generate_within_budget(read, ctx, tmp, board, mlperf, profile, rounding)
        graph, arena, project, fp, ctx = gen.graph, gen.arena, gen.project, gen.fp, gen.ctx
        estimate = estimate_memory(graph, arena, board, fp)
        placement = ccm.place(board, estimate.ram, arena.arena_bytes, board.stack_bytes)
        if placement.used:  # main RAM too small: the arena and/or stack go to core-coupled RAM (see ccm.py)
            log.info("board %s: %s", board.name, placement.why)
            estimate = MemoryUse(
                estimate.flash, placement.ram_bytes, {**estimate.detail, "ccm": placement.ccm_bytes}
            )
        if check:
            check_fits(graph.name, estimate, board)
        _render_project(tmp, board, gen, placement)
        result = ExportResult(
            out_dir=out_dir,
            board=board,
            graph=graph,
            plan=arena,
            c_name=project.model_name,
            estimate=estimate,
            mlperf=mlperf,
            ccm=placement.to_dict() if placement.used else {},
            footprint=fp,
            code_budget={
                "budget": gen.budget,
                "kernel_code": fp.kernel_code,
                "tightened_to": gen.tightened,
                "priced_by_copy_budget": gen.priced,
            }
            if fp.kernel_code and ctx.dsp and ctx.optimize != "size"
            else {},
        )
        if build:
            elf = _build_into(tmp, out_dir, board)
            result.size = ccm.split_measured(measure_size(elf, board), elf, board, placement)
            if check:
                check_fits(graph.name, result.size, board)
        result.report = export_report(result, tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except OSError as exc:
        _remove_tree(tmp)
        raise EdgeSDKError(f"cannot write the project to {out_dir} ({describe_os_error(exc)})") from None
    except BaseException:  # an error, Ctrl-C or SIGTERM (see procutil): leave no hidden half-written folder
        _remove_tree(tmp)
        for (
            folder
        ) in made:  # nor the parent folders made for it (a model refused before writing writes nothing)
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    if result.size is not None:
        result.elf = out_dir / "build" / "firmware.elf"
    return result


def compile_flags(board: Board, settings: list[tuple[str, str]]) -> list[str]:
    """The compiler flags ``firmware/edgesdk.mk`` gives every source of a project (warnings aside)."""
    flags = ["-std=c99", *board.build.cflags]
    if not board.is_host:
        flags += ["-ffunction-sections", "-fdata-sections", "-ffreestanding"]
    flags += [f"-D{d}" for d in _cmake_defines(settings)]
    flags += ["-Ifirmware/include", "-Ifirmware/harness", "-Ifirmware/targets/cortexm"]
    return flags


def project_footprint(
    project: Path,
    board: Board,
    settings: list[tuple[str, str]],
    firmware_srcs: list[str],
    model_srcs: list[str],
    cproject: Any,
) -> Footprint | None:
    """The footprint of a written project from its compiled objects (:func:`edgesdk.compiler.footprint.measure`), or None
    on the host (no flash to fit) or without the board's compiler (the caller falls back to the model-only
    estimate)."""
    from edgesdk.compiler import footprint

    if board.is_host or not footprint.compiler_available(board.build.cc):
        if not board.is_host:
            log.warning("%s is not installed: flash is estimated without measuring the code", board.build.cc)
        return None
    includes = sorted({f"-I{Path(s).parent}" for s in model_srcs})
    flags = compile_flags(board, settings) + includes
    harness = [s for s in firmware_srcs if "/harness/" in s or "/targets/" in s]
    work = project / ".footprint"
    try:
        return footprint.measure(
            board.build.cc,
            flags,
            [Path(s) for s in harness + model_srcs],
            project,
            work,
            model_prefix=cproject.model_name,
            layer_bytes=cproject.layer_flash,
            stack_reserved=board.stack_bytes,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def target_summary(
    graph: Graph,
    board: Board | str | None = None,
    *,
    pass_ctx: PassContext | None = None,
    optimize: str = DEFAULT_OPTIMIZE,
) -> dict[str, Any]:
    """What ``export`` would give ``graph`` on ``board``, without writing anything the caller sees: the project is
    exported (the same passes, planner, C backend and footprint as ``export``) into a temporary folder and
    removed. A layer the C backend cannot run is refused here as there (``UnsupportedOpError``)."""
    board = board if isinstance(board, Board) else get_board(board)
    with tempfile.TemporaryDirectory(prefix="edgesdk-inspect-") as tmp:
        r = export(graph, board, Path(tmp) / "p", pass_ctx=pass_ctx, optimize=optimize, check=False)
    fits = True
    try:
        check_fits(graph.name, r.estimate, board)
    except BoardError as exc:
        fits = False
        why = str(exc)
    out: dict[str, Any] = {
        "board": board.name,
        "optimize": (pass_ctx.optimize if pass_ctx else optimize),
        "arena_bytes": r.plan.arena_bytes,
        "arena_lower_bound": r.plan.lower_bound,
        "flash": r.estimate.flash,
        "flash_total": board.memory.flash_bytes or None,
        "ram": r.estimate.ram,
        "ram_total": board.memory.ram_bytes or None,
        "weights": r.estimate.detail.get("weights", 0),
        "code": r.estimate.detail.get("code", 0),
        "method": r.footprint.method if r.footprint else "",
        **stack_figures(r),
        "kernels": {d["layer"]: d["kernel"] for d in kernel_decisions(r.graph)},
        "fits": fits,
    }
    if not fits:
        out["does_not_fit"] = why
    return out


def stack_figures(result: ExportResult) -> dict[str, Any]:
    """The stack beside the arena: the linker script's reservation (counted in RAM) and the static estimate of the
    deepest call chain (GCC ``-fstack-usage`` frames of the project's objects over its call graph)."""
    fp = result.footprint
    out: dict[str, Any] = {"stack_reserved": 0 if result.board.is_host else result.board.stack_bytes}
    if fp is not None and fp.stack_estimate is not None:
        out["stack_estimate"] = fp.stack_estimate
        out["stack_chain"] = fp.stack_chain
    if fp is not None and fp.kernel_code:
        out["kernel_code"] = (
            result.size.detail.get("kernel_code") if result.size else None
        ) or fp.kernel_code
    return out


def _remove_tree(path: Path) -> None:
    """Remove ``path``; retried briefly, since a compiler killed a moment ago may still be writing into it."""
    for _ in range(20):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.05)


def _arena_by_layer(graph: Graph, arena: Plan) -> dict[str, Any]:
    """The plan with each tensor named by the layer that produces it (TFLite tensor names are long)."""
    producer = {out: node.name for node in graph.nodes for out in node.outputs}
    data = arena.to_dict()
    for buf in data["buffers"]:
        buf["tensors"] = [producer.get(t, f"input {t}" if t in graph.tensors else t) for t in buf["tensors"]]
        buf["name"] = buf["tensors"][0]
    return data


def _optimization_trade(graph: Graph) -> list[dict[str, Any]]:
    """Per layer a kernel pass considered: the candidates' bytes and instructions, the choice and why."""
    rows = []
    for node in graph.nodes:
        rep = node.attrs.get("kernel_report")
        if rep and "candidates" in rep:
            rows.append(
                {
                    "layer": node.name,
                    "kernel": node.attrs.get("kernel", "default"),
                    "candidates": rep["candidates"],
                    "why": rep.get("why", ""),
                }
            )
    return rows


def export_report(result: ExportResult, project: Path) -> dict[str, Any]:
    """Write ``report.json`` and a readable ``report.md`` (per-layer table, memory, arena map) into ``project``."""
    from edgesdk.commands.inspection import summarize
    from edgesdk.numerics.weights import layer_weights
    from edgesdk.profiling.plots import plot_arena_map, plot_memory
    from edgesdk.profiling.report import write_json, write_report

    board = result.board
    use = result.size or result.estimate
    summary = summarize(result.graph)
    data: dict[str, Any] = {
        "edgesdk": __version__,
        "model": {"name": result.graph.name, "c_name": result.c_name, "sha256": result.graph.sha256},
        "board": board.to_dict(),
        "memory": {
            "flash_used": use.flash,
            "flash_total": board.memory.flash_bytes or None,
            "ram_used": use.ram,
            "ram_total": board.memory.ram_bytes or None,
            "arena_bytes": result.plan.arena_bytes,
            "arena_lower_bound": result.plan.lower_bound,
            **stack_figures(result),
            "source": "measured by size" if use.measured else "estimated before building",
            "estimate": result.estimate.to_dict(),
            "measured": result.size.to_dict() if result.size else None,
            **(
                {"ccm_placement": result.ccm["why"], "ccm_used": result.ccm["ccm_used"]} if result.ccm else {}
            ),
        },
        "arena": result.plan.to_dict(),
        "layers": summary["layers"],
        "totals": summary.get("totals", {}),
        "kernels": kernel_decisions(result.graph),
        "optimization": _optimization_trade(result.graph),
        "mlperf": result.mlperf,
        # Per layer with weights: format (int8/ternary/binary/xnor), stored weight bytes, MACs or bit-ops.
        "weights": layer_weights(
            result.graph, result.footprint.layer_bytes if result.footprint else None, board.kernel_target
        ),
    }
    plots = {"arena": plot_arena_map(_arena_by_layer(result.graph, result.plan), project / "arena_map.png")}
    if not board.is_host:
        plots["memory"] = plot_memory(
            use.flash, board.memory.flash_bytes, use.ram, board.memory.ram_bytes, project / "memory.png"
        )
    write_json(project / "report.json", data)
    write_report(
        project,
        data,
        {k: Path(v).relative_to(project) if Path(v).is_absolute() else Path(v) for k, v in plots.items()},
    )
    return data
