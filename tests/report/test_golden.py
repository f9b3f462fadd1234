"""Golden files of the rendered reports (fixed width, no colour) and of the JSON contract, reviewed in diffs.

Regenerate after an intended change with: CONVCALC_UPDATE_GOLDEN=1 python -m pytest tests/report/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from convcalc.report import json_report, markdown, table
from convcalc.report.common import RenderOptions
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
    rendered = table.render([check_example(name)], RenderOptions(width=200))
    assert "\x1b" not in rendered
    _compare(rendered, GOLDEN / f"{name}.table.txt")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_markdown_matches_golden(name):
    _compare(markdown.render([check_example(name)]), GOLDEN / f"{name}.md")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_json_matches_golden(name):
    # Every fact, finding and fix of every example, byte for byte: refactorings must not change a figure.
    _compare(json_report.render([check_example(name)]), GOLDEN / "json" / f"{name}.json")
