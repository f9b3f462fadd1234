"""Golden files of the rendered reports (fixed width, no colour) and of the JSON contract, reviewed in diffs.

Regenerate after an intended change with: CONVCALC_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from convcalc.checking import check_loaded
from convcalc.loading import load_spec
from convcalc.report import json_report, markdown, table
from convcalc.report.common import RenderOptions

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.json"))
UPDATE = os.environ.get("CONVCALC_UPDATE_GOLDEN") == "1"


def _check(name: str):
    cwd = Path.cwd()
    os.chdir(ROOT)  # file names in the output are relative, as a user would type them
    try:
        return check_loaded(load_spec(f"examples/{name}"))
    finally:
        os.chdir(cwd)


def _compare(rendered: str, golden: Path) -> None:
    if UPDATE:
        golden.write_text(rendered, encoding="utf-8")
    assert golden.exists(), f"missing {golden.name}: run with CONVCALC_UPDATE_GOLDEN=1"
    assert rendered == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", EXAMPLES)
def test_table_matches_golden(name):
    rendered = table.render([_check(name)], RenderOptions(width=200))
    assert "\x1b" not in rendered
    _compare(rendered, GOLDEN / f"{name.removesuffix('.json')}.table.txt")


@pytest.mark.parametrize("name", EXAMPLES)
def test_markdown_matches_golden(name):
    _compare(markdown.render([_check(name)]), GOLDEN / f"{name.removesuffix('.json')}.md")


@pytest.mark.parametrize("name", EXAMPLES)
def test_json_matches_golden(name):
    # Every fact, finding and fix of every example, byte for byte: refactorings must not change a figure.
    _compare(json_report.render([_check(name)]), GOLDEN / "json" / name)
