"""Renderers: each format is one module whose ``render(results, options) -> str`` turns checked specs into text.

:data:`FORMATS` maps a format's name to its module; a module is imported only when its format is asked for,
so ``convcalc check --format json`` never loads rich's tables or the diagram.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convcalc.report.common import Renderer

FORMATS: dict[str, str] = {
    "table": "convcalc.report.table",
    "json": "convcalc.report.json_report",
    "markdown": "convcalc.report.markdown",
    "sarif": "convcalc.report.sarif",
    "github": "convcalc.report.github",
    "html": "convcalc.report.html",
}
"""Format name → the module that renders it."""


def renderer(name: str) -> Renderer:
    """The ``render`` function of a format in :data:`FORMATS` (KeyError for an unknown one)."""
    render: Renderer = importlib.import_module(FORMATS[name]).render
    return render
