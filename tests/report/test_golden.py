"""Golden files of the rendered reports (fixed width, no colour), reviewed in diffs.

Regenerate after an intended change with: CONVCALC_UPDATE_GOLDEN=1 python -m pytest tests/report/test_golden.py
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from convcalc.report import markdown, table
from tests.helpers import EXAMPLES, check_example

GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))
UPDATE = os.environ.get("CONVCALC_UPDATE_GOLDEN") == "1"


def _compare(rendered: str, golden: Path) -> None:
    if UPDATE:
        golden.write_text(rendered, encoding="utf-8")
    assert golden.exists(), f"missing {golden.name}: run with CONVCALC_UPDATE_GOLDEN=1"
    assert rendered == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_table_matches_golden(name):
    buffer = io.StringIO()
    table.render([check_example(name)], buffer, width=200)
    rendered = buffer.getvalue()
    assert "\x1b" not in rendered
    _compare(rendered, GOLDEN / f"{name}.table.txt")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_markdown_matches_golden(name):
    _compare(markdown.render([check_example(name)]), GOLDEN / f"{name}.md")
