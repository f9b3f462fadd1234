"""What the ONNX model-zoo benchmarks (torchvision_onnx.py, timm_onnx.py) share: a cache of stripped exports
with PyTorch's figures, convcalc's check of one export, and the run over the models."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convcalc.checking import check_loaded, load_any  # noqa: E402
from convcalc.findings import Severity  # noqa: E402
from convcalc.loading import SpecError  # noqa: E402
from convcalc.text import tally  # noqa: E402

Row = TypeVar("Row")


class Checked(NamedTuple):
    """convcalc's figures for one export, or why it refused it."""

    trainable: int | None = None
    total: int | None = None
    macs: int | None = None
    errors: str = "—"
    """Its errors by rule code (CC101 ×2, …)."""
    warnings: str = "—"
    refusal: str = ""


def cached_figures(name: str, folder: Path, export: Callable[[str, Path], dict[str, Any]]) -> dict[str, Any]:
    """PyTorch's figures for ``name``, and its stripped export in ``folder``: ``export`` makes both, once."""
    path = folder / f"{name}.figures.json"
    if path.exists() and (folder / f"{name}.onnx").exists():
        figures: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return figures
    figures = export(name, folder)
    path.write_text(json.dumps(figures), encoding="utf-8")
    return figures


def check_export(folder: Path, name: str) -> Checked:
    """``folder/<name>.onnx`` checked the way ``convcalc check model.onnx`` checks it."""
    try:
        checked = check_loaded(load_any(str(folder / f"{name}.onnx")))
    except SpecError as error:
        return Checked(refusal=str(error.problems[0].message))
    facts = checked.facts
    return Checked(
        facts.total_trainable_params,
        facts.total_params,
        facts.total_macs,
        tally(f.code for f in checked.findings if f.severity is Severity.ERROR),
        tally(f.code for f in checked.findings if f.severity is Severity.WARNING),
    )


def run(
    names: Iterable[str],
    cache: Path | None,
    export: Callable[[str, Path], dict[str, Any]],
    row: Callable[[str, dict[str, Any], Checked], Row],
) -> list[Row]:
    """Each model's ``row``: its name, PyTorch's figures (``export`` makes them, once, in ``cache`` or a temporary
    folder) and convcalc's check of its export; stderr says how far the run got."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = cache or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for name in names:
            figures = cached_figures(name, folder, export)
            rows.append(row(name, figures, check_export(folder, name)))
            print(f"{name}: {getattr(rows[-1], 'verdict', '')}", file=sys.stderr, flush=True)
    return rows


def markdown_table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    """The lines of a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


def count_or_dash(value: int | None, text: Callable[[int], str] = "{:,}".format) -> str:
    return "—" if value is None else text(value)


def machine() -> str:
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
