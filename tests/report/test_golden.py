"""Golden files of the rendered reports (fixed width, no colour), reviewed in diffs.

Regenerate after an intended change with: CONVCALC_UPDATE_GOLDEN=1 python -m pytest tests/report/test_golden.py
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from convcalc.checking import check_loaded
from convcalc.loading import load_spec
from convcalc.report import markdown, table
from tests.helpers import EXAMPLES, ROOT

GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.json"))
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


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_table_matches_golden(name):
    buffer = io.StringIO()
    table.render([_check(name)], buffer, width=200)
    rendered = buffer.getvalue()
    assert "\x1b" not in rendered
    _compare(rendered, GOLDEN / f"{name.removesuffix('.json')}.table.txt")


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_markdown_matches_golden(name):
    _compare(markdown.render([_check(name)]), GOLDEN / f"{name.removesuffix('.json')}.md")
