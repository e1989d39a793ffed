"""One escaping function per target language, for every user-supplied value that reaches a generated file.

A model's file name, its tensor and layer names and a board file's strings are user data. Written raw into a
Makefile banner, a file name holding a newline and ``$(shell ...)`` becomes a Make command that runs on
``--build``. So every such value passes through exactly one of these functions, chosen by where it lands:

========================  =====================================================================================
``c_string``/``c_comment``  C (re-exported from :mod:`edgesdk.backends.c.cformat`, the C formatting module)
``make_comment``          text after ``#`` in a Makefile: one line, ``$`` doubled, no trailing ``\\``
``make_value``            the right-hand side of ``VAR := value``: ``$`` doubled, ``#`` escaped, one line
``make_shell_word``       one word of a Makefile variable a recipe hands to ``/bin/sh``: shell-quoted, then
                          ``$`` doubled and ``#`` escaped, so Make and the shell both read it as one literal word
``cmake_comment``         text after ``#`` in CMakeLists.txt: one line, cannot open a bracket comment
``cmake_quoted``          a CMake quoted argument ``"..."``: ``\\``, ``"``, ``$``, ``;`` escaped, ``\\n`` for newlines
``ld_comment``            text inside a ``/* */`` comment of a linker script (C comment rules)
``md_text``               Markdown inline text: one line, ASCII punctuation that Markdown or HTML reads escaped
``html_text``             HTML text and attribute values (``html.escape`` with quotes)
``terminal_text``         text from a device shown on a terminal or in a log: one line, no escape sequences
========================  =====================================================================================

Every function returns a single line: a raw newline from user data never reaches a generated file.
Control characters become ``?`` (they have no business in a name and some tools stop at them).
"""

from __future__ import annotations

import html
import re

from edgesdk.backends.c.cformat import c_comment, c_string

__all__ = [
    "c_comment",
    "c_string",
    "cmake_comment",
    "cmake_quoted",
    "html_text",
    "ld_comment",
    "make_comment",
    "make_shell_word",
    "make_value",
    "md_text",
    "safe_file_stem",
    "terminal_text",
]


def _one_line(text: str) -> str:
    """Newlines and other control characters (C0, DEL, C1, line/paragraph separators) become ``?``."""
    return "".join(
        "?" if (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029\u0085") else ch
        for ch in str(text)
    )


def make_comment(text: str) -> str:
    """Text safe after ``#`` on one Makefile line.

    A newline would end the comment and make the rest a rule or a ``$(shell ...)``; a trailing backslash would
    continue the comment onto the next line, so backslashes become ``/`` (and quotes ``'``, as in C comments). ``$`` is doubled so that the text reads the same if it is ever
    moved out of the comment.
    """
    return _one_line(text).replace("\\", "/").replace('"', "'").replace("$", "$$")


def make_value(text: str) -> str:
    """Text safe as the value of ``VAR := value`` (taken literally, not expanded).

    ``$`` is doubled (``$$`` is a literal dollar after expansion), ``#`` is escaped (it would start a comment)
    and the value is one line. A backslash, which Make reads specially before ``#`` and at the end of a line,
    becomes ``/`` (board files are checked to hold none where a backslash would mean something).
    """
    return _one_line(text).replace("\\", "/").replace('"', "'").replace("$", "$$").replace("#", "\\#")


def make_shell_word(text: str) -> str:
    """One argument, taken literally by both Make and the shell, for a variable a recipe expands
    (``CFLAGS := '-O2' '-DNAME=x'`` then ``$(CC) $(CFLAGS) ...``).

    The text is single-quoted for ``/bin/sh`` (a ``'`` inside becomes ``'\\''``), so ``;``, ``|``, ``&``,
    ``>``, ``<``, parentheses, spaces and globs are data; then ``$`` is doubled (Make would expand it even inside
    the shell's quotes) and each ``#`` escaped for Make, with the backslashes before it doubled, since Make halves a
    run of backslashes before ``#``. The word never ends in a backslash, so it cannot continue the line.
    """
    quoted = "'" + _one_line(text).replace("'", "'\\''") + "'"
    quoted = quoted.replace("$", "$$")
    return re.sub(r"(\\*)#", lambda m: m.group(1) * 2 + "\\#", quoted)


def cmake_comment(text: str) -> str:
    """Text safe after ``# `` on one CMakeLists.txt line.

    A newline would end the comment; ``[`` right after the ``#`` could open a multi-line bracket comment, so
    ``[`` and ``]`` become ``(`` and ``)``. ``$`` is escaped (``\\$``) so no ``${VAR}`` or ``$ENV{}`` appears.
    """
    s = _one_line(text).replace("[", "(").replace("]", ")")
    return s.replace("\\", "/").replace('"', "'").replace("$", "\\$")


def cmake_quoted(text: str) -> str:
    """A CMake quoted argument (with its quotes) holding ``text`` literally.

    Inside ``"..."`` CMake expands ``${}``, ``$ENV{}`` and ``$CACHE{}``, reads escapes and splits lists at
    ``;``: backslash, quote, ``$``, ``@`` and ``;`` are escaped and a newline becomes ``\\n``.
    """
    out = []
    for ch in str(text):
        if ch in '\\"$;@':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029":
            out.append("?")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def ld_comment(text: str) -> str:
    """Text safe inside a ``/* ... */`` comment of a GNU ld script (the rules of a C comment)."""
    return c_comment(text)


_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|$\"#!{}~])")


def md_text(text: str) -> str:
    """Inline Markdown text that shows ``text`` literally: one line, punctuation escaped with a backslash.

    CommonMark lets any ASCII punctuation be backslash-escaped; the ones that start emphasis, code, links,
    HTML, tables, headings, math (``$``) or quotes are escaped. ``_`` is left alone: inside a word (the usual
    ``conv2d_3``) it never starts emphasis.
    """
    return _MD_SPECIAL.sub(r"\\\1", _one_line(text))


def html_text(text: str) -> str:
    """HTML text or a quoted attribute value: ``& < > " '`` escaped, one line."""
    return html.escape(_one_line(text), quote=True)


def safe_file_stem(text: str, default: str = "model") -> str:
    """A file or folder name made of ``[A-Za-z0-9._-]`` only (e.g. a default output folder from a model name).

    Such a name means the same thing to the shell, Make, CMake and every tool that reads a path.
    """
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._-")
    return s or default


# Everything a terminal acts on rather than shows: C0 controls (ESC starts colour, title and clear-screen
# sequences; BEL, BS and CR rewrite what is shown), DEL, C1 controls (0x9B is a one-byte CSI), line and paragraph
# separators, and the bidirectional overrides and isolates that reorder what follows them.
_TERMINAL_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def terminal_text(text: str | bytes, limit: int = 200) -> str:
    """Text that came from outside (a device's model, board and layer names, its problem strings) as it may be
    printed: invalid UTF-8 replaced, every character a terminal would act on (escape sequences for colour, window
    title or clearing the screen, carriage returns, newlines, bidi overrides) shown as ``?``, and at most
    ``limit`` characters (then ``...``). A device cannot rewrite the user's terminal or forge a line of output.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    s = _TERMINAL_UNSAFE.sub("?", str(text))
    return s if len(s) <= limit else s[:limit] + "..."


#: Public name of the cleaning every name read from a file gets before it can reach a message or a terminal.
one_line = _one_line
