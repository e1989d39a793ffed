"""Jinja rendering for every generated file: one environment, StrictUndefined, deterministic output.

Templates are named by their path under ``templates/`` (``c/model.c.j2``, ``project/...``, ``hls/...``: the config
structs of the hls4ml units and ``build_opt.tcl``), and those under ``hls/`` by ``hls/<path>``
(``hls/rtl/xnor_dense.v.j2``): the C backend, the project files, the hls4ml units and the RTL generators all
render through :func:`environment`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from edgesdk.util.resources import hls_dir, templates_dir


@cache
def environment() -> jinja2.Environment:
    """The Jinja environment; the escaping functions of :mod:`edgesdk.util.escape` are its filters, so a template
    writes ``{{ name | make_comment }}`` for every user-supplied value."""
    from edgesdk.util import escape

    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(str(templates_dir())),
                jinja2.PrefixLoader({"hls": jinja2.FileSystemLoader(str(hls_dir()))}),
            ]
        ),
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
