"""The one place that turns Python values into C source text.

Every identifier, number, array, string literal and comment the C backend writes goes through here, so
that the rules that keep generated C valid live in one tested module: identifiers are sanitized, unique and
never reserved; integers are range-checked for their C type (``INT32_MIN`` has no literal of its own);
floats are written with the shortest text that reads back to the same float32/float64; strings and
comments are escaped so that no name can end a comment, start a trigraph, or inject code.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable

import numpy as np

__all__ = [
    "C_RESERVED",
    "c_array",
    "c_comment",
    "c_double",
    "c_float",
    "c_identifier",
    "c_int",
    "c_string",
    "c_value",
    "macro_name",
]

# C99/C11 keywords, C++ keywords (headers may be included from C++), and names of the standard library or
# of our own headers that a generated file-scope identifier must never shadow.
C_RESERVED: frozenset[str] = frozenset(
    """
    auto break case char const continue default do double else enum extern float for goto if inline int long
    register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
    _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local
    alignas alignof and and_eq asm bitand bitor bool catch char16_t char32_t class compl constexpr const_cast
    decltype delete dynamic_cast explicit export false friend mutable namespace new noexcept not not_eq nullptr
    operator or or_eq private protected public reinterpret_cast static_assert static_cast template this
    thread_local throw true try typeid typename using virtual wchar_t xor xor_eq
    main NULL errno assert offsetof size_t ptrdiff_t memcpy memmove memset malloc free abort exit printf
    int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t intptr_t uintptr_t
    INT8_MIN INT8_MAX INT16_MIN INT16_MAX INT32_MIN INT32_MAX INT64_MIN INT64_MAX UINT8_MAX UINT32_MAX
    INFINITY NAN edgesdk_model edgesdk_model_t
    """.split()
)

MAX_IDENTIFIER = 56  # below C99's 63 significant characters for internal identifiers

_INT_RANGES: dict[str, tuple[int, int]] = {
    "int8_t": (-(1 << 7), (1 << 7) - 1),
    "uint8_t": (0, (1 << 8) - 1),
    "int16_t": (-(1 << 15), (1 << 15) - 1),
    "uint16_t": (0, (1 << 16) - 1),
    "int32_t": (-(1 << 31), (1 << 31) - 1),
    "uint32_t": (0, (1 << 32) - 1),
    "int64_t": (-(1 << 63), (1 << 63) - 1),
    "uint64_t": (0, (1 << 64) - 1),
    "int": (-(1 << 15), (1 << 15) - 1),  # the portable guarantee
    "size_t": (0, (1 << 16) - 1),
}


def c_identifier(name: str, used: set[str] | None = None) -> str:
    """Turn any string into a valid, unreserved C identifier, unique within ``used`` (which is updated).

    Characters outside ``[A-Za-z0-9_]`` become ``_``, runs of ``_`` collapse (a leading ``_`` or ``__`` would be
    reserved), a leading digit gets an ``n`` prefix, reserved words get a ``_`` suffix. Long names are cut and
    get a short hash of the original so that distinct long names stay distinct. Clashes get ``_2``, ``_3``...
    """
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    s = re.sub(r"_+", "_", s).strip("_")
    if not s:
        s = "x"
    if s[0].isdigit():
        s = "n" + s
    if len(s) > MAX_IDENTIFIER:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:6]
        s = s[: MAX_IDENTIFIER - 7].rstrip("_") + "_" + digest
    if s in C_RESERVED or s.upper() in C_RESERVED and s.isupper():
        s += "_"
    if used is not None:
        base = s
        k = 2
        while s in used:
            s = f"{base}_{k}"
            k += 1
        used.add(s)
    return s


def macro_name(identifier: str) -> str:
    """The upper-case form of an identifier for ``#define`` names (``ic_model`` -> ``IC_MODEL``)."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", identifier):
        raise ValueError(f"not a C identifier: {identifier!r}")
    return identifier.upper()


def c_int(value: int | np.integer, ctype: str = "int32_t") -> str:
    """An integer literal valid for ``ctype``; raises ValueError if the value does not fit.

    The minimum of a signed type is written as an expression (``(-2147483647 - 1)``), since ``-2147483648`` is
    the negation of a literal that does not fit in 32 bits. 64-bit values use ``INT64_C``/``UINT64_C``.
    """
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise TypeError(f"not an integer: {value!r}")
    v = int(value)
    lo, hi = _INT_RANGES.get(ctype, _INT_RANGES["int32_t"])
    if not lo <= v <= hi:
        raise ValueError(f"{v} does not fit in {ctype}")
    if ctype in ("int64_t", "uint64_t"):
        if v == lo and lo < 0:
            return f"(INT64_C({v + 1}) - 1)"
        return f"{'INT64_C' if ctype == 'int64_t' else 'UINT64_C'}({v})"
    if v == lo and lo < 0 and ctype in ("int32_t", "int"):
        return f"({v + 1} - 1)"
    if ctype in ("uint32_t", "size_t") or (ctype == "uint16_t" and v > 32767):
        return f"{v}u"
    return str(v)


def _shortest(value: float, dtype: type) -> str:
    x = dtype(value)
    a = abs(float(x))
    if a == 0.0 or 1e-4 <= a < 1e7:
        text = np.format_float_positional(x, unique=True, trim="0")
    else:
        text = np.format_float_scientific(x, unique=True, trim="0")
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _c_real(value: float | np.floating, dtype: type[np.floating], suffix: str) -> str:
    """A ``dtype`` literal: the shortest text that reads back to the same ``dtype`` value, then ``suffix``;
    NaN and the infinities as math.h's macros, a negative literal in parentheses."""
    v = float(value)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "(-INFINITY)"
    if not np.isfinite(dtype(v)):
        raise ValueError(f"{v} overflows {dtype.__name__}")
    text = _shortest(v, dtype) + suffix
    return f"({text})" if text.startswith("-") else text


def c_float(value: float | np.floating) -> str:
    """A float (float32) literal with an ``f`` suffix, the shortest text that reads back to the same float32."""
    return _c_real(value, np.float32, "f")


def c_double(value: float | np.floating) -> str:
    """A double literal, the shortest text that reads back to the same float64."""
    return _c_real(value, np.float64, "")


def c_value(value: object, ctype: str) -> str:
    """One scalar for ``ctype``: float/double literals, integers range-checked for their type."""
    if ctype == "float":
        return c_float(value)  # type: ignore[arg-type]
    if ctype == "double":
        return c_double(value)  # type: ignore[arg-type]
    return c_int(value, ctype)  # type: ignore[arg-type]


def c_array(
    values: Iterable[object] | np.ndarray, ctype: str, per_line: int = 16, indent: str = "    "
) -> str:
    """The brace-enclosed initializer of a C array of ``ctype``: ``{\\n    1, 2,\\n    3\\n}``.

    An empty array is given one zero element (C forbids zero-length arrays); callers size arrays with
    ``max(1, n)``. ``values`` is flattened in C (row-major) order.
    """
    flat = np.asarray(values).reshape(-1) if isinstance(values, np.ndarray) else list(values)
    if ctype in ("float", "double"):
        items = [c_value(float(v), ctype) for v in flat]
    elif isinstance(flat, np.ndarray) and flat.dtype.kind in "iu" and flat.size:
        lo, hi = _INT_RANGES.get(ctype, _INT_RANGES["int32_t"])
        if int(flat.min()) < lo or int(flat.max()) > hi:
            raise ValueError(f"array values out of range for {ctype}")
        items = [c_int(int(v), ctype) for v in flat.tolist()]
    else:
        items = [c_value(v, ctype) for v in flat]
    if not items:
        items = ["0"]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "{\n" + ",\n".join(indent + line for line in lines) + "\n}"


def c_string(text: str) -> str:
    """A double-quoted C string literal holding the UTF-8 bytes of ``text``.

    Quotes and backslashes are escaped, ``?`` too (no trigraph can form), and every byte outside printable
    ASCII becomes a three-digit octal escape (an octal escape, unlike ``\\x``, cannot swallow a following digit).
    """
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_comment(text: str) -> str:
    """Text safe inside a ``/* ... */`` comment: one line, printable ASCII, no ``*/``, ``/*`` or ``??``.

    A backslash becomes ``/`` and a double quote ``'``: neither means anything inside a comment, but neither
    can then continue a line or open a string if the text is ever moved (the escaping rules of issue 7).
    """
    s = "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in text.replace("\n", " ").replace("\r", " "))
    s = s.replace("\\", "/").replace('"', "'")
    while "*/" in s or "/*" in s:
        s = s.replace("*/", "* /").replace("/*", "/ *")
    while "??" in s:
        s = s.replace("??", "? ?")
    if s.endswith("\\"):
        s += " "
    return s
