"""Jinja rendering for every generated file: one environment, StrictUndefined, deterministic output."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from edgesdk.resources import templates_dir


@cache
def environment() -> jinja2.Environment:
    """The Jinja environment; the escaping functions of :mod:`edgesdk.escape` are its filters, so a template
    writes ``{{ name | make_comment }}`` for every user-supplied value."""
    from edgesdk import escape

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    for name in (
        "make_comment",
        "make_value",
        "make_shell_word",
        "cmake_comment",
        "cmake_quoted",
        "ld_comment",
        "c_comment",
    ):
        env.filters[name] = getattr(escape, name)
    return env


def render(template: str, dest: Path, context: dict[str, Any]) -> Path:
    """Render ``template`` (a path under templates/) to ``dest``."""
    text = environment().get_template(template).render(**context)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8", newline="\n")
    return dest
