"""Boards as data: every board is one TOML file in ``boards/``. No board name appears in code elsewhere.

``get_board(name)`` accepts a board's name or one of its aliases (``stm32`` -> ``nucleo-f446re``);
``default_board()`` is the emulated STM32 used when no board is named.

A board file with ``kind = "fpga"`` describes an FPGA board (part, clock, resources) for ``edgesdk synth``:
``fpga_boards()`` / ``get_fpga_board(name)`` read those; ``all_boards()`` / ``get_board()`` keep to the
microcontroller boards (``kind = "mcu"``, the default) and name the right command for an FPGA board.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from edgesdk.errors import BoardError
from edgesdk.resources import boards_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)

DEFAULT_BOARD = "netduinoplus2"
FAMILIES = ("stm32f4", "stm32l4", "stm32h7", "mps2", "host")
UART_DRIVERS = ("stm32_usart_v1", "stm32_usart_v2", "cmsdk_uart", "stdio")
FLASH_METHODS = ("qemu", "process", "pyocd", "openocd", "st-flash", "stm32loader", "mass-storage")


@dataclass(frozen=True)
class Memory:
    flash_origin: int
    flash_bytes: int
    ram_origin: int
    ram_bytes: int


@dataclass(frozen=True)
class Build:
    cc: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]


@dataclass(frozen=True)
class Uart:
    driver: str
    base: int
    baud: int
    extra: dict[str, int] = field(default_factory=dict)  # clock enables, pins, alternate function


@dataclass(frozen=True)
class Flash:
    methods: tuple[str, ...]
    pyocd_target: str = ""
    openocd_config: str = ""
    mass_storage_label: str = ""


@dataclass(frozen=True)
class Emulator:
    machine: str
    icount_shift: int = 0


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    family: str
    mcu: str
    core: str
    fpu: str
    float_abi: str
    clock_hz: int
    emulated: bool
    stack_bytes: int
    memory: Memory
    build: Build
    uart: Uart
    flash: Flash
    emulator: Emulator | None
    aliases: tuple[str, ...]
    path: Path

    @property
    def is_host(self) -> bool:
        return self.family == "host"

    @property
    def timer_unit(self) -> str:
        """What the board's counter counts: emulated boards count executed instructions, not cycles."""
        return "instructions" if self.emulated else "cycles"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "family": self.family,
            "mcu": self.mcu,
            "core": self.core,
            "fpu": self.fpu,
            "clock_hz": self.clock_hz,
            "emulated": self.emulated,
            "flash_bytes": self.memory.flash_bytes,
            "ram_bytes": self.memory.ram_bytes,
            "flash_methods": list(self.flash.methods),
            "aliases": list(self.aliases),
        }


def _req(data: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise BoardError(f"board file {where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise BoardError(f"board file {where}: key {key!r} has the wrong type ({type(value).__name__})")
    return value


def _section(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    return _req(data, key, dict, where)


def parse_board(path: Path) -> Board:
    """Read and check one board file."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardError(f"board file {where} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"board file {where} is not valid TOML: {exc}") from None
    family = _req(data, "family", str, where)
    if family not in FAMILIES:
        raise BoardError(f"board file {where}: family {family!r} is not one of {', '.join(FAMILIES)}")
    mem = _section(data, "memory", where)
    build = _section(data, "build", where)
    uart = _section(data, "uart", where)
    flash = _section(data, "flash", where)
    driver = _req(uart, "driver", str, where)
    if driver not in UART_DRIVERS:
        raise BoardError(
            f"board file {where}: uart driver {driver!r} is not one of {', '.join(UART_DRIVERS)}"
        )
    methods = tuple(_req(flash, "methods", list, where))
    bad = [m for m in methods if m not in FLASH_METHODS]
    if bad:
        raise BoardError(
            f"board file {where}: flash method {bad[0]!r} is not one of {', '.join(FLASH_METHODS)}"
        )
    emu = data.get("emulator")
    emulated = bool(data.get("emulated", False))
    if emulated and not emu:
        raise BoardError(f"board file {where}: an emulated board needs an [emulator] section")
    return Board(
        name=_req(data, "name", str, where),
        description=_req(data, "description", str, where),
        family=family,
        mcu=_req(data, "mcu", str, where),
        core=_req(data, "core", str, where),
        fpu=_req(data, "fpu", str, where),
        float_abi=_req(data, "float_abi", str, where),
        clock_hz=_req(data, "clock_hz", int, where),
        emulated=emulated,
        stack_bytes=_req(data, "stack_bytes", int, where),
        memory=Memory(
            flash_origin=_req(mem, "flash_origin", int, where),
            flash_bytes=_req(mem, "flash_bytes", int, where),
            ram_origin=_req(mem, "ram_origin", int, where),
            ram_bytes=_req(mem, "ram_bytes", int, where),
        ),
        build=Build(
            cc=_req(build, "cc", str, where),
            cflags=tuple(_req(build, "cflags", list, where)),
            ldflags=tuple(_req(build, "ldflags", list, where)),
        ),
        uart=Uart(
            driver=driver,
            base=_req(uart, "base", int, where),
            baud=_req(uart, "baud", int, where),
            extra={k: v for k, v in uart.items() if k not in ("driver", "base", "baud")},
        ),
        flash=Flash(
            methods=methods,
            pyocd_target=flash.get("pyocd_target", ""),
            openocd_config=flash.get("openocd_config", ""),
            mass_storage_label=flash.get("mass_storage_label", ""),
        ),
        emulator=Emulator(
            machine=_req(emu, "machine", str, where), icount_shift=int(emu.get("icount_shift", 0))
        )
        if emu
        else None,
        aliases=tuple(data.get("aliases", ())),
        path=path,
    )


@dataclass(frozen=True)
class FpgaBoard:
    """An FPGA board: the part the HLS project targets, the clock, and the resources a design may use."""

    name: str
    description: str
    vendor: str
    part: str
    clock_hz: int
    hls_backend: str  # hls4ml backend for the vendor flow ("Vitis", "Vivado"), "" for open-source-only parts
    resources: dict[str, int]
    aliases: tuple[str, ...]
    path: Path

    @property
    def clock_period_ns(self) -> float:
        return 1e9 / self.clock_hz

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "fpga",
            "description": self.description,
            "vendor": self.vendor,
            "part": self.part,
            "clock_hz": self.clock_hz,
            "hls_backend": self.hls_backend,
            "resources": dict(self.resources),
            "aliases": list(self.aliases),
        }


KINDS = ("mcu", "fpga")


def _kind(path: Path) -> str:
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardError(f"board file {where} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"board file {where} is not valid TOML: {exc}") from None
    kind = data.get("kind", "mcu")
    if kind not in KINDS:
        raise BoardError(f"board file {where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    return kind


def parse_fpga_board(path: Path) -> FpgaBoard:
    """Read and check one FPGA board file (``kind = "fpga"``)."""
    where = str(path)
    if _kind(path) != "fpga":
        raise BoardError(f'board file {where} is not an FPGA board (kind = "fpga")')
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    res = _section(data, "resources", where)
    for key, value in res.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BoardError(f"board file {where}: resource {key!r} must be a non-negative integer")
    clock = _req(data, "clock_hz", int, where)
    if clock <= 0:
        raise BoardError(f"board file {where}: clock_hz must be positive")
    return FpgaBoard(
        name=_req(data, "name", str, where),
        description=_req(data, "description", str, where),
        vendor=_req(data, "vendor", str, where),
        part=_req(data, "part", str, where),
        clock_hz=clock,
        hls_backend=str(data.get("hls_backend", "")),
        resources=dict(res),
        aliases=tuple(data.get("aliases", ())),
        path=path,
    )


@cache
def fpga_boards() -> dict[str, FpgaBoard]:
    """Every FPGA board file in ``boards/``, by name."""
    boards: dict[str, FpgaBoard] = {}
    for path in sorted(boards_dir().glob("*.toml")):
        if _kind(path) != "fpga":
            continue
        board = parse_fpga_board(path)
        if board.name in boards:
            raise BoardError(f"board file {path}: board {board.name!r} is defined twice")
        boards[board.name] = board
    return boards


def get_fpga_board(name: str) -> FpgaBoard:
    """The FPGA board called ``name`` (or one whose alias it is)."""
    boards = fpga_boards()
    key = name.strip().lower()
    if key in boards:
        return boards[key]
    for board in boards.values():
        if key in board.aliases:
            return board
    if key in all_boards():
        raise BoardError(f"board {name!r} is a microcontroller board: use edgesdk export/validate for it")
    raise BoardError(f"FPGA board {name!r} is unknown; known FPGA boards: {', '.join(sorted(boards))}")


@cache
def all_boards() -> dict[str, Board]:
    """Every microcontroller board file in ``boards/``, by name."""
    boards: dict[str, Board] = {}
    for path in sorted(boards_dir().glob("*.toml")):
        if _kind(path) != "mcu":
            continue
        board = parse_board(path)
        if board.name in boards:
            raise BoardError(f"board file {path}: board {board.name!r} is defined twice")
        boards[board.name] = board
    return boards


def get_board(name: str | None = None) -> Board:
    """The board called ``name`` (or one whose alias it is); the default emulated board for None."""
    boards = all_boards()
    if name is None:
        return boards[DEFAULT_BOARD]
    key = name.strip().lower()
    if key in boards:
        return boards[key]
    for board in boards.values():
        if key in board.aliases:
            log.warning("board %r means %s (%s)", name, board.name, board.description)
            return board
    fpga = fpga_boards()
    if key in fpga or any(key in b.aliases for b in fpga.values()):
        raise BoardError(f"board {name!r} is an FPGA board: use edgesdk synth for it")
    raise BoardError(f"board {name!r} is unknown; known boards: {', '.join(sorted(boards))}")
