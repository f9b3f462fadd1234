"""The network diagram: structure, escaping and determinism from the SVG text, then in headless Chromium.

Refresh the screenshots in docs/ after an intended change with:
CONVCALC_UPDATE_SCREENSHOTS=1 python -m pytest tests/draw/test_svg.py tests/report/test_html.py
"""

from __future__ import annotations

import math
import re
import shutil
import time
import xml.etree.ElementTree as ET

import pytest

from convcalc.draw import build_nodes, draw_svg
from tests import browser
from tests.browser import CONV_FACE, SCREENSHOTS, UPDATE_SCREENSHOTS
from tests.helpers import EXAMPLES, ROOT, SVG, check_example, check_spec, volumes

EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


def texts(svg: str) -> list[str]:
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG}text")]


def svg_size(svg: str) -> tuple[int, int]:
    root = ET.fromstring(svg)
    return math.ceil(float(root.attrib["width"])), math.ceil(float(root.attrib["height"]))


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_draws_well_formed_deterministic_svg(name):
    spec = check_example(name)
    first, second = draw_svg(spec), draw_svg(check_example(name))
    assert first == second
    root = ET.fromstring(first)  # well-formed XML
    assert root.tag == f"{SVG}svg"
    assert not list(root.iter(f"{SVG}script"))
    geometry = " ".join(re.findall(r' (?:x|y|width|height|points|d|cx|cy|r)="([^"]*)"', first))
    assert re.search(r"\d\.\d\d", geometry) is None  # coordinates are rounded to one decimal
    nodes, _ = build_nodes(spec.facts)
    assert 2 <= len(volumes(first)) <= len(nodes)
    assert "prefers-color-scheme:dark" in first


def test_sequential_network_has_one_box_per_volume_changing_layer():
    spec = check_example("mnist_cnn")
    svg = draw_svg(spec)
    expected = 1 + sum(layer.spec.drawing != "inside" for layer in spec.facts.layers)
    assert len(volumes(svg)) == expected == 7
    labels = texts(svg)
    for shape in ("28×28×1", "28×28×32", "14×14×32", "14×14×64", "7×7×64", "1×1×1024", "1×1×10"):
        assert shape in labels
    assert "conv+relu" in labels and "fc+relu" in labels
    assert "F=5 S=1 P=2" in labels and "F=2 S=2" in labels  # P shown only when non-zero
    kinds = [g.attrib["data-kind"] for g in volumes(svg)]
    assert kinds == ["input", "volume", "volume", "volume", "volume", "bar", "bar"]


def test_vgg16_volumes_and_windows():
    svg = draw_svg(check_example("vgg16"))
    assert len(volumes(svg)) == 1 + 13 + 5 + 3
    labels = texts(svg)
    assert labels.count("F=3 S=1 P=1") == 13
    assert labels.count("F=2 S=2") == 5
    assert 'class="win"' in svg


def test_resnet50_folds_batchnorm_padding_and_repeated_blocks():
    spec = check_example("resnet50")
    svg = draw_svg(spec)
    labels = texts(svg)
    assert "pad+conv+bn+relu" in labels and "pad+maxpool" in labels and "add+relu" in labels
    assert "F=7 S=2 P=3" in labels  # the zero padding shows as the window's P
    folds = [text for text in labels if "block repeated" in text]
    assert [f.split(":")[0] for f in folds] == ["×2", "×3", "×5", "×2"]
    drawn = volumes(svg)
    assert len(drawn) < 60 < len(spec.facts.layers)
    assert sum(g.attrib["data-kind"] == "merge" for g in drawn) == 8  # one per stage and per folded block


def test_concat_and_add_are_drawn_as_merges():
    inception = volumes(draw_svg(check_example("inception_block")))
    assert [g.attrib["data-kind"] for g in inception].count("merge") == 1
    assert len(inception) == 1 + 6 + 1 + 1  # input, six convs, the pool, the concat
    resnet18 = draw_svg(check_example("resnet18"))
    assert "add+relu" in texts(resnet18)


def test_findings_outline_the_layer_with_the_code_beside_it(tmp_path):
    svg = draw_svg(check_example("stride_mismatch"))
    assert svg.count('class="o-error"') == 1
    assert "CC101" in " ".join(texts(svg))
    warnings = draw_svg(check_example("mnist_cnn"))
    assert warnings.count('class="o-warning"') == 2 and 'class="o-error"' not in warnings
    assert texts(warnings).count("CC201") == 2


def test_spec_text_is_escaped_never_markup(tmp_path):
    evil = "<script>alert(1)</script>"
    spec = {
        "name": evil,
        "input": [8, 8, 1],
        "layers": [
            {"type": "conv", "filters": 2, "kernel": 3, "padding": 1, "name": '"><script>alert(2)</script>'},
            {"type": "fc", "units": 2, "name": "a\x1b[31m&b"},
        ],
    }
    svg = draw_svg(check_spec(spec, tmp_path))
    root = ET.fromstring(svg)
    assert not list(root.iter(f"{SVG}script"))
    assert "<script>" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "".join(root.find(f"{SVG}title").itertext()) == evil
    assert evil in texts(svg)  # real, searchable text
    names = [g.attrib["data-volume"] for g in volumes(svg)]
    assert names == ["input", '"><script>alert(2)</script>', "a\\x1b[31m&b"]
    assert "\x1b" not in svg


@pytest.mark.parametrize("name", ["vgg16", "resnet50"])
def test_drawing_is_fast(name):
    spec = check_example(name)
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        draw_svg(spec)
        best = min(best, time.perf_counter() - start)
    assert best < 0.25, f"{name}: {best * 1000:.0f} ms"


# --- in a real browser ------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize(("name", "count"), [("mnist_cnn", 7), ("vgg16", 22), ("resnet50", 41), ("inception_block", 9)])
def test_svg_in_chromium(name, count, tmp_path):
    svg = draw_svg(check_example(name))
    assert len(volumes(svg)) == count
    width, height = svg_size(svg)
    assert width <= 1280, "the diagram wraps before it gets wider than a page"

    probe = browser.probe(browser.wrap_svg(svg), tmp_path, width=1280)
    assert probe.console == [] and probe.data["errors"] == []
    assert probe.data["scrollWidth"] <= probe.data["clientWidth"]
    (diagram,) = probe.diagrams
    assert diagram["volumes"] == diagram["volumesInside"] == count
    assert diagram["textsOutside"] == []

    page = tmp_path / f"{name}.svg"
    page.write_text(svg, encoding="utf-8")
    shot = browser.screenshot(page, tmp_path / f"{name}.png", width, height)
    assert shot.console == []
    stats = browser.image_stats(shot.png)
    assert (stats["width"], stats["height"]) == (width, height)
    assert stats["background"] == (255, 255, 255)
    assert len(stats["colours"]) > 50 and stats["ink"] > 0.05
    assert CONV_FACE in stats["colours"]
    left, top, right, bottom = stats["box"]
    assert right - left > width * 0.7 and bottom - top > height * 0.7
    if UPDATE_SCREENSHOTS and name in {"mnist_cnn", "vgg16", "resnet50"}:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / f"{name}.png", SCREENSHOTS / f"{name}.png")
        (ROOT / "docs" / "diagrams").mkdir(exist_ok=True)
        (ROOT / "docs" / "diagrams" / f"{name}.svg").write_text(svg, encoding="utf-8")


@pytest.mark.browser
def test_svg_reads_in_dark_viewers(tmp_path):
    svg = draw_svg(check_example("mnist_cnn"))
    page = tmp_path / "dark.svg"
    page.write_text(svg, encoding="utf-8")
    width, height = svg_size(svg)
    stats = browser.image_stats(browser.screenshot(page, tmp_path / "dark.png", width, height, dark=True).png)
    assert stats["background"] == (0x0D, 0x11, 0x17)
    assert CONV_FACE not in stats["colours"] and len(stats["colours"]) > 50
    if UPDATE_SCREENSHOTS:
        shutil.copyfile(tmp_path / "dark.png", SCREENSHOTS / "mnist_cnn-dark.png")


@pytest.mark.browser
def test_escaped_name_stays_text_in_chromium(tmp_path):
    evil = "<script>alert(1)</script>"
    spec = {
        "name": evil,
        "input": [8, 8, 1],
        "layers": [{"type": "fc", "units": 2, "name": "<img src=x onerror=alert(3)>"}],
    }
    probe = browser.probe(browser.wrap_svg(draw_svg(check_spec(spec, tmp_path))), tmp_path)
    assert probe.data["alerts"] == 0 and probe.data["errors"] == [] and probe.console == []
    assert probe.data["scripts"] == 2  # the probe's own two
    assert probe.data["resources"] == []
    (diagram,) = probe.diagrams
    assert diagram["title"] == evil
    assert diagram["names"] == ["input", "<img src=x onerror=alert(3)>"]


def test_committed_screenshots_are_small_and_not_blank():
    for name in ("mnist_cnn", "vgg16", "resnet50", "mnist_cnn-dark", "report"):
        path = SCREENSHOTS / f"{name}.png"
        assert path.exists(), f"missing {path}: run with CONVCALC_UPDATE_SCREENSHOTS=1"
        data = path.read_bytes()
        assert len(data) < 300_000
        stats = browser.image_stats(data)
        assert len(stats["colours"]) > 20 and stats["ink"] > 0.02


def test_modern_kinds_are_drawn_gate_split_and_upsampling(tmp_path):
    # A squeeze-and-excite gate is a merge circle with a cross (⊗), a split and an upsample are volumes of
    # their own with their sizes, and a channel shuffle is drawn inside the box it follows.
    spec = {
        "input": [16, 16, 8],
        "layers": [
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "name": "body"},
            {"type": "global_pool", "mode": "avg", "name": "squeeze"},
            {"type": "conv", "filters": 8, "kernel": 1, "name": "excite"},
            {"type": "activation", "kind": "sigmoid"},
            {"type": "multiply", "inputs": ["body", "gate"], "name": "se"},
        ],
    }
    spec["layers"][3]["name"] = "gate"
    spec["layers"] += [
        {"type": "split", "parts": 2, "part": 0, "name": "half"},
        {"type": "upsample", "factor": 2, "name": "up"},
        {"type": "channel_shuffle", "groups": 2, "name": "shuffle"},
    ]
    svg = draw_svg(check_spec(spec, tmp_path))
    drawn = {g.attrib["data-volume"]: g for g in volumes(svg)}
    assert drawn["se"].attrib["data-kind"] == "merge"
    cross = [p.attrib["d"] for p in drawn["se"].iter(f"{SVG}path")]
    assert cross and cross[0].count("L") == 2, "⊗: two diagonal strokes"
    assert drawn["half"].attrib["data-kind"] == "volume" and drawn["up"].attrib["data-kind"] == "volume"
    assert "16×16×4" in texts(svg) and "32×32×4" in texts(svg)
    assert "shuffle" not in drawn
