"""Boards as data: every board is one TOML file in ``boards/``. No board name appears in code elsewhere.

``get_board(name)`` accepts a board's name or one of its aliases (``stm32`` -> ``nucleo-f446re``);
``default_board()`` is the emulated STM32 used when no board is named.

A board file with ``kind = "fpga"`` describes an FPGA board (part, clock, resources) for ``edgesdk synth``:
``fpga_boards()`` / ``get_fpga_board(name)`` read those; ``all_boards()`` / ``get_board()`` keep to the
microcontroller boards (``kind = "mcu"``, the default) and name the right command for an FPGA board.
"""

from __future__ import annotations

import logging
import re
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
    ccm_origin: int = 0  # core-coupled RAM (STM32F4: 64 KiB at 0x10000000, data only, no DMA); 0 bytes = none
    ccm_bytes: int = 0


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
            **({"ccm_bytes": self.memory.ccm_bytes} if self.memory.ccm_bytes else {}),
            "flash_methods": list(self.flash.methods),
            "aliases": list(self.aliases),
        }


_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
# Characters a board string must not hold: it lands in a Makefile, CMakeLists.txt, a shell command line and C.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f$`\\\"']")


def _req(data: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise BoardError(f"board file {where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        want = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise BoardError(
            f"board file {where}: key {key!r} has the wrong type ({type(value).__name__}, expected {want})"
        )
    return value


def _int(data: dict[str, Any], key: str, where: str, minimum: int, maximum: int = (1 << 32) - 1) -> int:
    """An integer field within [minimum, maximum] (addresses and sizes are 32-bit on every target)."""
    value = _req(data, key, int, where)
    if not minimum <= value <= maximum:
        raise BoardError(f"board file {where}: key {key!r} is {value}, outside {minimum}..{maximum}")
    return value


def _text(data: dict[str, Any], key: str, where: str, *, safe: bool = True) -> str:
    """A string field; ``safe`` ones (names, compiler, flags) hold no quote, ``$``, backslash or control."""
    value = _req(data, key, str, where)
    if safe and _UNSAFE.search(value):
        raise BoardError(
            f"board file {where}: key {key!r} holds a quote, '$', backslash or control character ({value!r})"
        )
    if not safe and re.search(r"[\x00-\x1f\x7f]", value):
        raise BoardError(f"board file {where}: key {key!r} holds a control character ({value!r})")
    return value


def _strings(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    """A list of safe strings (compiler flags, flash methods, aliases)."""
    items = _req(data, key, list, where)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise BoardError(
                f"board file {where}: item {i} of {key!r} is of type {type(item).__name__}, not a string"
            )
        if _UNSAFE.search(item) or not item:
            raise BoardError(
                f"board file {where}: item {i} of {key!r} ({item!r}) is empty or holds a quote, '$', "
                "backslash or control character"
            )
    return tuple(items)


def _section(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    return _req(data, key, dict, where)


def parse_board(path: Path) -> Board:
    """Read and check one board file: every field's type and range, named in the error."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardError(f"board file {where} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"board file {where} is not valid TOML: {exc}") from None
    name = _text(data, "name", where)
    if not _NAME_RE.fullmatch(name):
        raise BoardError(
            f"board file {where}: name {name!r} must be lower-case letters, digits, '.', '_' or '-'"
        )
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
    methods = _strings(flash, "methods", where)
    bad = [m for m in methods if m not in FLASH_METHODS]
    if bad:
        raise BoardError(
            f"board file {where}: flash method {bad[0]!r} is not one of {', '.join(FLASH_METHODS)}"
        )
    emu = data.get("emulator")
    if emu is not None and not isinstance(emu, dict):
        raise BoardError(f"board file {where}: key 'emulator' has the wrong type ({type(emu).__name__})")
    emulated = data.get("emulated", False)
    if not isinstance(emulated, bool):
        raise BoardError(f"board file {where}: key 'emulated' has the wrong type ({type(emulated).__name__})")
    if emulated and not emu:
        raise BoardError(f"board file {where}: an emulated board needs an [emulator] section")
    host = family == "host"
    extra = {k: v for k, v in uart.items() if k not in ("driver", "base", "baud")}
    for k, v in extra.items():
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 32:
            raise BoardError(f"board file {where}: uart key {k!r} must be an integer in 0..2^32-1")
    for k in ("pyocd_target", "openocd_config", "mass_storage_label"):
        if k in flash:
            _text(flash, k, where)
    aliases = _strings(data, "aliases", where) if "aliases" in data else ()
    for a in aliases:
        if not _NAME_RE.fullmatch(a):
            raise BoardError(
                f"board file {where}: alias {a!r} must be lower-case letters, digits, '.', '_' or '-'"
            )
    return Board(
        name=name,
        description=_text(data, "description", where, safe=False),
        family=family,
        mcu=_text(data, "mcu", where),
        core=_text(data, "core", where),
        fpu=_text(data, "fpu", where),
        float_abi=_text(data, "float_abi", where),
        clock_hz=_int(data, "clock_hz", where, 1, 10**10),
        emulated=emulated,
        stack_bytes=_int(data, "stack_bytes", where, 0 if host else 256),
        memory=Memory(
            flash_origin=_int(mem, "flash_origin", where, 0),
            flash_bytes=_int(mem, "flash_bytes", where, 0 if host else 1),
            ram_origin=_int(mem, "ram_origin", where, 0),
            ram_bytes=_int(mem, "ram_bytes", where, 0 if host else 1),
            ccm_origin=_int(mem, "ccm_origin", where, 0) if "ccm_origin" in mem else 0,
            ccm_bytes=_int(mem, "ccm_bytes", where, 0) if "ccm_bytes" in mem else 0,
        ),
        build=Build(
            cc=_text(build, "cc", where),
            cflags=_strings(build, "cflags", where),
            ldflags=_strings(build, "ldflags", where),
        ),
        uart=Uart(
            driver=driver,
            base=_int(uart, "base", where, 0),
            baud=_int(uart, "baud", where, 0 if host else 1, 10**8),
            extra=extra,
        ),
        flash=Flash(
            methods=methods,
            pyocd_target=flash.get("pyocd_target", ""),
            openocd_config=flash.get("openocd_config", ""),
            mass_storage_label=flash.get("mass_storage_label", ""),
        ),
        emulator=Emulator(
            machine=_text(emu, "machine", where),
            icount_shift=_int(emu, "icount_shift", where, 0, 10) if "icount_shift" in emu else 0,
        )
        if emu
        else None,
        aliases=aliases,
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
        try:
            kind = _kind(path)
        except BoardError:
            continue  # an unreadable file is reported by the microcontroller loader (broken_boards)
        if kind != "fpga":
            continue
        try:
            board = parse_fpga_board(path)
        except BoardError as exc:
            log.warning("%s", exc)  # a broken FPGA board file breaks only itself
            continue
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
def _load_all() -> tuple[dict[str, Board], dict[str, BoardError]]:
    """Every microcontroller board file in ``boards/``: the good ones by name, the broken ones' errors by file
    stem (FPGA boards, ``kind = "fpga"``, are :func:`fpga_boards`).

    One broken file must not break every command: it is reported when it is used or listed.
    """
    boards: dict[str, Board] = {}
    broken: dict[str, BoardError] = {}
    for path in sorted(boards_dir().glob("*.toml")):
        try:
            if _kind(path) != "mcu":
                continue
            board = parse_board(path)
            if board.name in boards:
                raise BoardError(f"board file {path}: board {board.name!r} is defined twice")
        except BoardError as exc:
            broken[path.stem] = exc
            continue
        boards[board.name] = board
    return boards, broken


def all_boards() -> dict[str, Board]:
    """Every board file in ``boards/`` that parses, by name (see :func:`broken_boards` for the others)."""
    return dict(_load_all()[0])


def broken_boards() -> dict[str, BoardError]:
    """The board files that do not parse: file stem -> the error naming the file and the field."""
    return dict(_load_all()[1])


def resolve_alias(name: str | None) -> Board | None:
    """The board an alias means (``stm32`` -> nucleo-f446re), or None if ``name`` is no alias."""
    if name is None:
        return None
    key = name.strip().lower()
    boards = _load_all()[0]
    if key in boards:
        return None
    return next((b for b in boards.values() if key in b.aliases), None)


def get_board(name: str | None = None) -> Board:
    """The board called ``name`` (or one whose alias it is); the default emulated board for None."""
    boards, broken = _load_all()
    key = DEFAULT_BOARD if name is None else name.strip().lower()
    if key in boards:
        return boards[key]
    for board in boards.values():
        if key in board.aliases:
            log.info("board %r means %s (%s)", name, board.name, board.description)
            return board
    fpga = fpga_boards()
    if key in fpga or any(key in b.aliases for b in fpga.values()):
        raise BoardError(f"board {name!r} is an FPGA board: use edgesdk synth for it")
    if key in broken:
        raise broken[key]
    note = f" (board files that do not load: {', '.join(sorted(broken))})" if broken else ""
    raise BoardError(f"board {name!r} is unknown; known boards: {', '.join(sorted(boards))}{note}")
