"""`convcalc draw` and `check --format html` from the command line."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from convcalc.cli import app
from tests.helpers import ROOT

runner = CliRunner()


def test_draw_writes_an_svg_file(tmp_path: Path) -> None:
    out = tmp_path / "net.svg"
    result = runner.invoke(app, ["draw", str(ROOT / "examples" / "vgg16.json"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    root = ET.fromstring(out.read_text(encoding="utf-8"))
    assert root.tag.endswith("svg")
    assert "224×224×64" in out.read_text(encoding="utf-8")


def test_draw_to_stdout_is_deterministic() -> None:
    args = ["draw", str(ROOT / "examples" / "resnet18.json")]
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == 0 and first.stdout == second.stdout and first.stdout.startswith("<svg")


def test_draw_refuses_other_formats_and_bad_specs(tmp_path: Path) -> None:
    result = runner.invoke(app, ["draw", str(ROOT / "examples" / "vgg16.json"), "-o", str(tmp_path / "net.png")])
    assert result.exit_code == 2 and "SVG only" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 0, "kernel": 3}]}')
    result = runner.invoke(app, ["draw", str(bad)])
    assert result.exit_code == 2 and "layers[0].filters" in result.output


def test_check_html_report_is_one_self_contained_file(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(
        app, ["check", str(ROOT / "examples" / "stride_mismatch.json"), "-f", "html", "-o", str(out)]
    )
    assert result.exit_code == 1  # the findings still decide the exit code
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html") and "<svg" in text and "CC101" in text
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text
