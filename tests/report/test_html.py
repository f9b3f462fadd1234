"""The HTML report: self-contained, complete, escaped; then in headless Chromium (no errors, no overflow)."""

from __future__ import annotations

import re
import shutil

import pytest

from convcalc.report import html
from convcalc.report.common import totals_lines
from convcalc.rules import REGISTRY
from convcalc.text import human_count
from tests import browser
from tests.browser import CONV_FACE, SCREENSHOTS, UPDATE_SCREENSHOTS
from tests.helpers import check_example, check_spec, volumes


def test_report_is_self_contained():
    page = html.render([check_example("vgg16"), check_example("resnet50")])
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    urls = re.findall(r"(?:https?:)?//[\w.-]+", page)
    assert set(urls) <= {"http://www.w3.org"}, urls  # only the SVG namespace, never fetched
    for needle in ("<link", "@import", "url(", "<script", "<img", "<iframe"):
        assert needle not in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') == 2
    assert "position:sticky" in page and "prefers-color-scheme:dark" in page


def test_report_has_every_figure_findings_fixes_and_rules():
    spec = check_example("mnist_cnn")
    page = html.render([spec])
    for layer in spec.facts.layers:
        assert f'id="spec0-l{layer.index}"' in page
        assert f"<td>{layer.input_shape} → {layer.output_shape}</td>" in page
        assert f">{layer.params:,}<" in page and f">{human_count(layer.macs)}<" in page
    assert ">98.0 KiB<" in page  # activation memory of conv1's 28×28×32 output
    for line in totals_lines(spec):
        assert html._esc(line) in page
    for finding in spec.findings:
        assert html._esc(finding.message) in page
        for fix in finding.fixes:
            assert f"<li>fix: {html._esc(fix.title)}</li>" in page
        assert html._esc(REGISTRY[finding.code].summary) in page
    assert "<h4>Why is this bad</h4>" in page
    assert '<a href="#spec0-l0">' in page


def test_long_tables_fold_repeats_like_the_terminal_table():
    page = html.render([check_example("mobilenet_v1")])
    assert page.count('<tr class="run">') == 1
    assert '<tr class="run"><th colspan="15">41–70: 5× these 6 layers</th></tr>' in page
    assert '<td class="num">41…65</td>' in page


def test_spec_text_is_escaped(tmp_path):
    evil = "<script>alert(1)</script>"
    spec = {"name": evil, "input": [8, 8, 1], "layers": [{"type": "fc", "units": 2, "name": "<b onclick=x>"}]}
    page = html.render([check_spec(spec, tmp_path)])
    assert "<script" not in page and "<b onclick" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.browser
def test_report_in_chromium(tmp_path):
    specs = [check_example("mnist_cnn"), check_example("vgg16"), check_example("resnet50")]
    page = html.render(specs)
    for width in (1280, 820):
        probe = browser.probe(page, tmp_path, width=width)
        assert probe.console == [] and probe.data["errors"] == []
        assert probe.data["resources"] == []  # nothing loaded from anywhere
        assert probe.data["scrollWidth"] <= probe.data["clientWidth"], f"overflows at {width}px"
        counts = [len(volumes(html.draw_svg(spec))) for spec in specs]
        assert [d["volumes"] for d in probe.diagrams] == [d["volumesInside"] for d in probe.diagrams] == counts
        assert all(d["right"] <= width for d in probe.diagrams)

    report = tmp_path / "report.html"
    report.write_text(html.render(specs[:1]), encoding="utf-8")
    shot = browser.screenshot(report, tmp_path / "report.png", 1280, 1000)
    assert shot.console == []
    stats = browser.image_stats(shot.png)
    assert stats["background"] == (255, 255, 255)
    assert len(stats["colours"]) > 50 and stats["ink"] > 0.03
    assert CONV_FACE in stats["colours"]
    if UPDATE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "report.png", SCREENSHOTS / "report.png")
