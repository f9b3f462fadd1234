"""Headless Chromium for the browser tests: screenshots, a DOM probe, and a small PNG decoder.

The tests need Debian's ``chromium`` (CI installs it with apt-get); mark them ``@pytest.mark.browser``: without
Chromium they skip and say so (tests/optional.py), and in CI they fail.
"""

from __future__ import annotations

import html
import json
import os
import re
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import optional
from tests.helpers import ROOT

TIMEOUT = 60
SCREENSHOTS = ROOT / "docs" / "screenshots"
UPDATE_SCREENSHOTS = os.environ.get("CONVCALC_UPDATE_SCREENSHOTS") == "1"
"""Refresh the screenshots in docs/ (and docs/diagrams/) from the browser tests."""
CONV_FACE = bytes((0xB6, 0xD7, 0xFF))
"""The light-mode front face of a conv volume, as a screenshot's RGB."""


def _run(args: list[str], user_data: Path) -> subprocess.CompletedProcess[str]:
    command = [
        optional.chromium(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
        f"--user-data-dir={user_data}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def console_lines(stderr: str) -> list[str]:
    """Chromium's log lines that carry a page's console messages (errors, warnings, failed loads)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@dataclass
class Shot:
    """A screenshot: the PNG bytes and whatever the page logged to the console."""

    png: bytes
    console: list[str]


def screenshot(page: Path, out: Path, width: int, height: int, *, dark: bool = False) -> Shot:
    """Render ``page`` (an .svg or .html file) at width×height CSS pixels into ``out`` (PNG)."""
    args = [f"--screenshot={out}", f"--window-size={width},{height}"]
    if dark:
        args.append("--force-dark-mode")
    result = _run([*args, page.resolve().as_uri()], out.parent / f".chromium-{out.stem}")
    assert out.exists(), f"chromium wrote no screenshot (exit {result.returncode}):\n{result.stderr[-2000:]}"
    return Shot(out.read_bytes(), console_lines(result.stderr))


PRELUDE = """<script>
window.__probe = {errors: [], alerts: 0};
window.addEventListener("error", function (e) { window.__probe.errors.push(String(e.message)); });
window.alert = function () { window.__probe.alerts += 1; };
</script>"""

PROBE = """<script>
window.addEventListener("load", function () {
  var de = document.documentElement;
  var result = {
    scrollWidth: de.scrollWidth, clientWidth: de.clientWidth,
    resources: performance.getEntriesByType("resource").map(function (r) { return r.name; }),
    errors: window.__probe.errors, alerts: window.__probe.alerts,
    scripts: document.querySelectorAll("script").length,
    diagrams: []
  };
  document.querySelectorAll("svg.convcalc-net").forEach(function (svg) {
    var vb = svg.viewBox.baseVal;
    function inside(b) {
      return b.width > 0 && b.height > 0 && b.x >= vb.x - 0.5 && b.y >= vb.y - 0.5
        && b.x + b.width <= vb.x + vb.width + 0.5 && b.y + b.height <= vb.y + vb.height + 0.5;
    }
    var volumes = Array.prototype.slice.call(svg.querySelectorAll("[data-volume]"));
    var texts = Array.prototype.slice.call(svg.querySelectorAll("text"));
    var rect = svg.getBoundingClientRect();
    result.diagrams.push({
      volumes: volumes.length,
      volumesInside: volumes.filter(function (v) { return inside(v.getBBox()); }).length,
      names: volumes.map(function (v) { return v.getAttribute("data-volume"); }),
      kinds: volumes.map(function (v) { return v.getAttribute("data-kind"); }),
      textsOutside: texts.filter(function (t) { return !inside(t.getBBox()); }).map(function (t) {
        return t.textContent; }),
      title: svg.querySelector("title").textContent,
      texts: texts.length,
      left: rect.left, right: rect.right, width: rect.width, height: rect.height
    });
  });
  var pre = document.createElement("pre");
  pre.id = "convcalc-probe";
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>"""


@dataclass
class Probe:
    """What the probe script measured in the page, and the console lines Chromium logged."""

    data: dict[str, Any]
    console: list[str]

    @property
    def diagrams(self) -> list[dict[str, Any]]:
        return list(self.data["diagrams"])


def wrap_svg(svg: str) -> str:
    """A minimal HTML page that shows an SVG document inline (for the probe to reach into it)."""
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">{svg}</body></html>'


def probe(page_html: str, workdir: Path, width: int = 1280, height: int = 900) -> Probe:
    """Load ``page_html`` with the probe scripts added and return the measurements."""
    head = page_html.index("<head>") + len("<head>")
    body_end = page_html.rindex("</body>")
    instrumented = page_html[:head] + PRELUDE + page_html[head:body_end] + PROBE + page_html[body_end:]
    page = workdir / "probe.html"
    page.write_text(instrumented, encoding="utf-8")
    result = _run(
        ["--virtual-time-budget=3000", f"--window-size={width},{height}", "--dump-dom", page.resolve().as_uri()],
        workdir / ".chromium-probe",
    )
    match = re.search(r'<pre id="convcalc-probe">(.*?)</pre>', result.stdout, re.DOTALL)
    assert match, f"the probe did not run (exit {result.returncode}):\n{result.stderr[-2000:]}"
    return Probe(json.loads(html.unescape(match.group(1))), console_lines(result.stderr))


def decode_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Width, height, channels and the unfiltered rows of an 8-bit, non-interlaced RGB/RGBA/grey PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, header = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or interlace or channels is None:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {color}, interlace {interlace}")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows: list[bytes] = []
    prev = bytes(stride)
    mask7 = int.from_bytes(b"\x7f" * stride, "big")
    mask8 = int.from_bytes(b"\x80" * stride, "big")
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = raw[start + 1 : start + 1 + stride]
        if kind == 0:
            cur = line
        elif kind == 2:
            # Bytewise addition modulo 256 of two big integers without carries between bytes.
            a, b = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
            cur = (((a & mask7) + (b & mask7)) ^ ((a ^ b) & mask8)).to_bytes(stride, "big")
        else:
            out = bytearray(line)
            if kind == 1:
                for i in range(channels, stride):
                    out[i] = (out[i] + out[i - channels]) & 255
            elif kind == 3:
                for i in range(stride):
                    left = out[i - channels] if i >= channels else 0
                    out[i] = (out[i] + ((left + prev[i]) >> 1)) & 255
            elif kind == 4:
                for i in range(stride):
                    if i >= channels:
                        a, c = out[i - channels], prev[i - channels]
                    else:
                        a = c = 0
                    b = prev[i]
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    out[i] = (out[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            else:
                raise ValueError(f"bad PNG filter {kind} in row {y}")
            cur = bytes(out)
        rows.append(cur)
        prev = cur
    return width, height, channels, rows


def image_stats(png: bytes) -> dict[str, Any]:
    """Size, background colour, distinct colours, and the box around every pixel unlike the background."""
    width, height, channels, rows = decode_png(png)
    background = rows[0][:channels]
    colours: set[bytes] = set()
    left, top, right, bottom, ink = width, height, -1, -1, 0
    for y in range(0, height, 2):
        row = rows[y]
        for x in range(0, width, 2):
            pixel = row[x * channels : (x + 1) * channels]
            colours.add(pixel)
            if pixel != background:
                ink += 1
                left, right = min(left, x), max(right, x)
                top, bottom = min(top, y), max(bottom, y)
    return {
        "width": width,
        "height": height,
        "background": tuple(background),
        "colours": colours,
        "ink": ink / max(1, ((width + 1) // 2) * ((height + 1) // 2)),
        "box": (left, top, right, bottom),
    }
