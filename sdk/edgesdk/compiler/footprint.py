"""Flash, RAM and stack of an exported project, from its compiled objects, before it is linked.

One source for every byte figure the SDK prints (``export``'s fit check and report, ``inspect --board``): the
generated project - the graph *after* the passes, so each layer's weights are stored as its chosen kernel encodes
them (Winograd's int16 transforms, packed bit-planes, codebooks...) and each generated kernel copy is there - is
compiled to objects with the board's compiler and flags (the same sources, defines and flags as its Makefile, one
object per source), and the linker's ``--gc-sections`` is replayed on them: starting from the entry point and the
vector table, every section reachable through relocations is kept (as ``ld`` keeps it), the C library's routines
the kept code calls are counted at their size in the board's ``libc_nano``/``libgcc``. Flash is then ``text +
data`` as ``arm-none-eabi-size`` reports it for the linked image, RAM ``data + bss`` plus the stack the linker
script reserves.

The same objects give a static stack estimate (GCC's ``-fstack-usage`` frames over the call graph of the kept
sections: the deepest chain from the entry point, an interrupt handler's chain added on top). A function pointer is
followed wherever its address is taken, so the estimate is an upper bound of the chains the code can take; it has
no recursion to bound (generated code never recurses, and a cycle is reported, not followed).

Without the board's compiler (``inspect`` on a machine with only Python), :func:`model_only` gives the weights
exactly (the lowered constant arrays) and the code as one documented constant.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgesdk.errors import BuildError

log = logging.getLogger(__name__)

COMPILE_TIMEOUT_S = 300
#: Code of the harness, startup, UART driver and kernels when no compiler can measure it (the IC and AD builds on
#: a Cortex-M4 link 10-12 KB of code besides the model's constants).
CODE_WITHOUT_COMPILER = 12 * 1024
#: Added to each frame of the call chain for the return address and alignment that ``-fstack-usage`` leaves out
#: on an exception entry (the hardware-stacked frame of an interrupt: 8 words, 26 with the FPU's lazy state).
EXCEPTION_FRAME = 104


@dataclass
class Footprint:
    """Bytes of a project: ``flash`` = text + data, ``ram`` = data + bss + the stack reservation."""

    flash: int
    ram: int
    weights: (
        int  # the layers' constant arrays (weights, biases, requantization) as the chosen kernels store them
    )
    code: int  # functions linked (harness, kernels, generated layers, C library)
    kernel_code: int  # the model's kernels: ed_* and <model>_* functions
    data: int  # initialized RAM (its initial values are in flash too)
    bss: int
    stack_reserved: int  # the linker script's stack reservation
    stack_estimate: int | None  # deepest static call chain (bytes), None without a compiler
    stack_chain: list[str] = field(default_factory=list)
    layer_bytes: dict[str, int] = field(default_factory=dict)  # IR layer -> its constant arrays
    method: str = "compiled objects, linker garbage collection replayed"

    def to_dict(self) -> dict[str, Any]:
        """Every field but ``layer_bytes``, in the order of the fields."""
        return {k: v for k, v in asdict(self).items() if k != "layer_bytes"}


def model_only(layer_bytes: dict[str, int], ram_besides_stack: int, stack_reserved: int) -> Footprint:
    """The footprint without a compiler: the constant arrays exactly, the code as :data:`CODE_WITHOUT_COMPILER`."""
    weights = sum(layer_bytes.values())
    return Footprint(
        flash=weights + CODE_WITHOUT_COMPILER,
        ram=ram_besides_stack + stack_reserved,
        weights=weights,
        code=CODE_WITHOUT_COMPILER,
        kernel_code=0,
        data=0,
        bss=ram_besides_stack,
        stack_reserved=stack_reserved,
        stack_estimate=None,
        layer_bytes=dict(layer_bytes),
        method=f"constant arrays of the layers + ~{CODE_WITHOUT_COMPILER:,} B of code (no compiler to measure it)",
    )


# --- reading objects ----------------------------------------------------------------------------------------
@dataclass
class _Section:
    obj: str
    name: str
    size: int
    kind: str  # "text", "rodata", "data", "bss", "other"
    align: int
    refs: list[str] = field(default_factory=list)  # symbol or section names its relocations name
    symbols: list[str] = field(default_factory=list)  # functions and objects defined in it


_SEC_RE = re.compile(
    r"^\s*\[\s*(\d+)\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+(\S*)\s+\d+\s+\d+\s+(\d+)\s*$"
)
_SYM_RE = re.compile(r"^\s*\d+:\s+[0-9a-f]+\s+(0x[0-9a-f]+|\d+)\s+(\w+)\s+(\w+)\s+\w+\s+(\w+)\s+(\S+)\s*$")
_RELHDR_RE = re.compile(r"^Relocation section '\.rela?(\S+)'")
_REL_RE = re.compile(r"^[0-9a-f]+\s+[0-9a-f]+\s+\S+\s+[0-9a-f]+\s+(\S+)")


def _kind(name: str, sh_type: str, flags: str) -> str:
    if "A" not in flags:
        return "other"
    if sh_type == "NOBITS":
        return "bss"
    if "X" in flags:
        return "text"
    if "W" in flags:
        return "data"
    return "rodata"


def _read_object(readelf: str, obj: Path) -> list[tuple[str, list[_Section], dict[str, str], dict[str, str]]]:
    """Per member of an object or archive: (member, sections, global symbol -> section key, local symbol ->
    section key), a section key being ``member:section``."""
    out = subprocess.run(
        [readelf, "-W", "-S", "-s", "-r", str(obj)], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    chunks = re.split(r"^File: (.+)$", out, flags=re.M)
    if len(chunks) == 1:
        chunks = ["", obj.name, out]
    return [_parse_member(chunks[i].strip(), chunks[i + 1]) for i in range(1, len(chunks) - 1, 2)]


def _parse_member(member: str, out: str) -> tuple[str, list[_Section], dict[str, str], dict[str, str]]:
    by_index: dict[int, _Section] = {}
    sections: list[_Section] = []
    globals_: dict[str, str] = {}
    locals_: dict[str, str] = {}
    rel_target: _Section | None = None
    by_name: dict[str, _Section] = {}
    for line in out.splitlines():
        m = _SEC_RE.match(line)
        if m and line.lstrip().startswith("["):
            idx, name, sh_type, size, flags, align = m.groups()
            sec = _Section(member, name, int(size, 16), _kind(name, sh_type, flags), max(1, int(align)))
            by_index[int(idx)] = sec
            if sec.kind != "other" or name.startswith(".isr_vector"):
                sections.append(sec)
                by_name[name] = sec
            continue
        m = _SYM_RE.match(line)
        if m:
            _size, sym_type, bind, ndx, name = m.groups()
            if ndx.isdigit() and int(ndx) in by_index and sym_type in ("FUNC", "OBJECT", "NOTYPE"):
                sec = by_index[int(ndx)]
                (globals_ if bind in ("GLOBAL", "WEAK") else locals_)[name] = f"{member}:{sec.name}"
                if sym_type in ("FUNC", "OBJECT"):
                    sec.symbols.append(name)
            continue
        m = _RELHDR_RE.match(line)
        if m:
            rel_target = by_name.get(m.group(1))
            continue
        m = _REL_RE.match(line)
        if m and rel_target is not None:
            rel_target.refs.append(m.group(1))
    return member, sections, globals_, locals_


def _libraries(cc: str, cflags: Sequence[str]) -> list[Path]:
    """The board's ``libc_nano.a``, ``libgcc.a`` and ``libm.a`` (those the link's ``--specs=nano.specs`` uses)."""
    libs = []
    for lib in ("libc_nano.a", "libgcc.a", "libm.a", "libnosys.a"):
        path = subprocess.run(
            [cc, *cflags, f"-print-file-name={lib}"], check=True, capture_output=True, text=True, timeout=60
        ).stdout.strip()
        if Path(path).is_file():
            libs.append(Path(path))
    return libs


_LIB_CACHE: dict[tuple[str, ...], list[tuple[str, list[_Section], dict[str, str], dict[str, str]]]] = {}


def _tool(cc: str, name: str) -> str:
    """The binutils tool beside the compiler (``arm-none-eabi-gcc`` -> ``arm-none-eabi-readelf``)."""
    prefix = cc[: -len("gcc")] if cc.endswith("gcc") else ""
    return f"{prefix}{name}"


def compiler_available(cc: str) -> bool:
    return shutil.which(cc) is not None and shutil.which(_tool(cc, "readelf")) is not None


#: Compiled and parsed sources by content (compiler, flags, source, the project's headers): a process that exports
#: one model many times (a test session, a sweep) compiles each source once. Bounded, oldest dropped first.
_COMPILED: OrderedDict[str, tuple[_Member, dict[str, int]]] = OrderedDict()
_COMPILED_MAX = 256
_Member = tuple[str, list[_Section], dict[str, str], dict[str, str]]


def _headers_digest(cwd: Path, flags: Sequence[str]) -> str:
    """A digest of every header in the include folders of ``flags`` (relative to ``cwd``)."""
    h = hashlib.sha256()
    for flag in flags:
        if flag.startswith("-I"):
            for header in sorted((cwd / flag[2:]).glob("*.h")):
                h.update(header.name.encode() + b"\0" + header.read_bytes())
    return h.hexdigest()


def compile_objects(
    cc: str, flags: Sequence[str], sources: Sequence[Path], cwd: Path, out: Path
) -> list[tuple[_Member, dict[str, int]]]:
    """Compile each source (relative to ``cwd``) with ``-fstack-usage`` into ``out``, two at a time: per source
    its parsed object (member named by the source's path) and its functions' stack frames."""
    # The compiler runs in ``cwd``: a relative ``out`` (an export into a relative folder) must not be read from there.
    cwd, out = Path(cwd).resolve(), Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    headers = _headers_digest(cwd, flags)
    readelf = _tool(cc, "readelf")

    def one(i: int, src: Path) -> tuple[_Member, dict[str, int]]:
        key = hashlib.sha256(
            repr((cc, list(flags), str(src), headers)).encode() + (cwd / src).read_bytes()
        ).hexdigest()
        if key in _COMPILED:
            _COMPILED.move_to_end(key)
            return _COMPILED[key]
        obj = out / f"{i:03d}_{Path(src).stem}.o"
        cmd = [cc, *flags, "-fstack-usage", "-c", str(src), "-o", str(obj)]
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        if proc.returncode != 0:
            raise BuildError(f"compiling {src} failed: {build_failure_cause(proc.stderr or proc.stdout)}")
        (_name, sections, g, loc) = _read_object(readelf, obj)[0]
        for sec in sections:
            sec.obj = str(src)
        prefix = f"{obj.name}:"
        rename = lambda d: {k: str(src) + ":" + v[len(prefix) :] for k, v in d.items()}  # noqa: E731
        result = ((str(src), sections, rename(g), rename(loc)), _stack_frames([obj.with_suffix(".su")]))
        _COMPILED[key] = result
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
        return result

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, range(len(sources)), sources))


def _stack_frames(su_files: Iterable[Path]) -> dict[str, int]:
    """Function -> bytes of its frame, from GCC's ``.su`` files (``file:line:col:name<TAB>bytes<TAB>kind``)."""
    frames: dict[str, int] = {}
    for su in su_files:
        if not su.is_file():
            continue
        for line in su.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[1].strip().isdigit():
                name = parts[0].rsplit(":", 1)[-1]
                frames[name] = max(frames.get(name, 0), int(parts[1]))
    return frames


def measure(
    cc: str,
    flags: Sequence[str],
    sources: Sequence[Path],
    cwd: Path,
    work: Path,
    *,
    model_prefix: str,
    layer_bytes: dict[str, int],
    stack_reserved: int,
    entry: str = "Reset_Handler",
    keep: Sequence[str] = (".isr_vector",),
) -> Footprint:
    """Compile ``sources`` and replay the link's garbage collection (see the module doc)."""
    compiled = compile_objects(cc, flags, sources, cwd, work)
    readelf = _tool(cc, "readelf")
    key = tuple([cc, *(f for f in flags if f.startswith(("-m", "-f")))])
    if key not in _LIB_CACHE:  # the C library's members: linked where the code calls them, as ld links them
        _LIB_CACHE[key] = [m for lib in _libraries(cc, flags) for m in _read_object(readelf, lib)]
    members = [member for member, _frames in compiled]
    program = {m[0] for m in members}
    sections: dict[str, _Section] = {}
    globals_: dict[str, str] = {}
    local_maps: dict[str, dict[str, str]] = {}
    for member, secs, g, loc in members + _LIB_CACHE[key]:
        for sec in secs:
            sections[f"{member}:{sec.name}"] = sec
        for name, where in g.items():
            globals_.setdefault(name, where)
        local_maps[member] = loc

    def resolve(sec: _Section, ref: str) -> str | None:
        if f"{sec.obj}:{ref}" in sections:  # a section symbol (a reference to a static object)
            return f"{sec.obj}:{ref}"
        return local_maps[sec.obj].get(ref) or globals_.get(ref)

    roots = [k for k, s in sections.items() if any(s.name.startswith(p) for p in keep)]
    if entry in globals_:
        roots.append(globals_[entry])
    kept: set[str] = set()
    todo = list(roots)
    while todo:
        k = todo.pop()
        if k in kept:
            continue
        kept.add(k)
        sec = sections[k]
        for ref in sec.refs:
            target = resolve(sec, ref)
            if target is not None and target in sections:
                todo.append(target)

    def total(kinds: tuple[str, ...]) -> int:
        # each input section starts at its alignment, as the linker places it
        return sum(
            -(-sections[k].size // sections[k].align) * sections[k].align
            for k in kept
            if sections[k].kind in kinds
        )

    text = total(("text", "rodata"))
    data = total(("data",))
    bss = total(("bss",))
    code = total(("text",))
    kernel_code = sum(
        sections[k].size
        for k in kept
        if sections[k].kind == "text"
        and sections[k].obj in program
        and any(s.startswith(("ed_", f"{model_prefix}_")) for s in sections[k].symbols)
    )
    frames: dict[str, int] = {}
    for _member, f in compiled:
        for name, size in f.items():
            frames[name] = max(frames.get(name, 0), size)
    stack, chain = _deepest_chain(sections, kept, resolve, frames, entry, globals_)
    # the model's constants as linked: its arrays (and parameter structs) the code references; an array the C
    # backend emits but no kernel reads is dropped by the link and not counted
    weights = sum(
        sections[k].size
        for k in kept
        if sections[k].kind == "rodata"
        and sections[k].obj in program
        and any(s.startswith(f"{model_prefix}_") for s in sections[k].symbols)
    )
    return Footprint(
        flash=text + data,
        ram=data + bss + stack_reserved,
        weights=weights,
        code=code,
        kernel_code=kernel_code,
        data=data,
        bss=bss,
        stack_reserved=stack_reserved,
        stack_estimate=stack,
        stack_chain=chain,
        layer_bytes=dict(layer_bytes),
    )


def _deepest_chain(
    sections: dict[str, _Section],
    kept: set[str],
    resolve: Any,
    frames: dict[str, int],
    entry: str,
    globals_: dict[str, str],
) -> tuple[int, list[str]]:
    """The largest sum of frames over the call chains from ``entry`` (through every kept function a function's
    relocations name) plus the deepest interrupt handler's chain on top of it."""

    def frame(key: str) -> int:
        # GCC names a clone ``f.constprop.0`` in the object and ``f.constprop`` in the .su file
        sec = sections[key]
        names = sec.symbols or [sec.name.removeprefix(".text.")]
        return max((frames.get(n, frames.get(re.sub(r"\.\d+$", "", n), 0)) for n in names), default=0)

    memo: dict[str, tuple[int, list[str]]] = {}
    active: set[str] = set()

    def deepest(key: str) -> tuple[int, list[str]]:
        if key in memo:
            return memo[key]
        if key in active:  # a cycle: reported by its name, not followed
            return 0, [f"(cycle at {key.split(':', 1)[1]})"]
        active.add(key)
        sec = sections[key]
        best: tuple[int, list[str]] = (0, [])
        for ref in sec.refs:  # calls, and function pointers held in constant structs (followed through them)
            t = resolve(sec, ref)
            if t is not None and t in kept and sections[t].kind in ("text", "rodata", "data") and t != key:
                d = deepest(t)
                if d[0] > best[0] or (d[0] == best[0] and len(d[1]) > len(best[1])):
                    best = d
        active.discard(key)
        if sec.kind != "text":
            memo[key] = best
            return best
        name = (sec.symbols or [sec.name.removeprefix(".text.")])[0]
        memo[key] = (frame(key) + best[0], [name, *best[1]])
        return memo[key]

    if entry not in globals_:
        return 0, []
    main = deepest(globals_[entry])
    handlers = sorted(  # sorted: the report names the same chain in every process
        k
        for k in kept
        if sections[k].kind == "text" and any(s.endswith("_Handler") for s in sections[k].symbols)
    )
    irq = max((deepest(k) for k in handlers if k != globals_[entry]), default=(0, []), key=lambda d: d[0])
    total = main[0] + (irq[0] + EXCEPTION_FRAME if irq[0] else 0)
    chain = main[1] + ([f"+ interrupt: {' > '.join(irq[1])}"] if irq[0] else [])
    return total, chain


#: Lines of a build log that name a cause, most specific first: the linker's own errors, the operating system's
#: (a full disk, a killed compiler), then the compiler's.
_CAUSES = (
    re.compile(
        r"region [`'\"]?\w+'? overflowed.*|will not fit in region.*|relocation truncated to fit.*", re.I
    ),
    re.compile(r"undefined reference to.*|multiple definition of.*|cannot find .*|edgesdk: .*do not fit.*"),
    re.compile(
        r".*(No space left on device|Disk quota exceeded|Read-only file system|Permission denied|"
        r"Cannot allocate memory|out of memory|Killed signal|Too many open files|Input/output error).*",
        re.I,
    ),
    re.compile(r".*\b(fatal )?error\b.*", re.I),
)
#: Lines that only say that something else failed: make's ``*** [...] Error 1``, collect2's ``ld returned 1``.
_ECHOES = re.compile(r"^(g?make(\[\d+\])?: \*\*\*|collect2: |.*\bld returned \d+ exit status)")


def build_failure_cause(log_text: str) -> str:
    """The first line of a build log that says why it failed: the linker's own words where it is the linker, the
    operating system's (``No space left on device``), else the compiler's first error; never make's
    ``Error 1`` or collect2's ``ld returned 1 exit status``, which only echo a failure reported above them."""
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip()]
    causes = [ln for ln in lines if not _ECHOES.search(ln)]
    for pattern in _CAUSES:
        for ln in causes:
            m = pattern.search(ln)
            if m:
                return ln if pattern.pattern.startswith(".*") else m.group(0).strip()
    return (causes or lines or ["no output"])[-1]
