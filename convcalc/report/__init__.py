"""Renderers: each format is one module whose ``render(results, options) -> str`` turns checked specs into text.

Each module also splits its ``render`` in two: ``part(checked, options)``, one spec's share of the output (a
picklable value, made where the spec was checked: in a worker process of ``check --jobs``), and
``join(parts, options) -> str``, the whole output from the parts in order. ``render`` is ``join`` of the
``part``s, so a report made in many processes is byte for byte the one made in one.

:data:`FORMATS` maps a format's name to its module; a module is imported only when its format is asked for,
so ``convcalc check --format json`` never loads rich's tables or the diagram.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convcalc.report.common import Joiner, PartRenderer, Renderer

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


def part_renderer(name: str) -> tuple[PartRenderer, Joiner]:
    """The ``part`` and ``join`` functions of a format in :data:`FORMATS` (see above)."""
    module = importlib.import_module(FORMATS[name])
    return module.part, module.join
