"""Hostile spec text in every format: nothing invisible, no markup, no broken encoding, nothing lost in JSON.

Every human format (table, Markdown, HTML, GitHub annotations) shows control, bidi and separator characters
escaped, as ``convcalc.text.printable`` does; Markdown also escapes what GitHub would read as HTML, links or
code; JSON and SARIF stay valid JSON that reads back the same strings, with C1, bidi and separator characters
as ``\\u`` escapes; a file name's undecodable bytes (lone surrogates) are shown as ``\\udcff`` text everywhere.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from convcalc.checked import CheckedSpec
from convcalc.checking import check_loaded
from convcalc.loading import LoadedSpec, SourceMap
from convcalc.report import FORMATS, renderer
from convcalc.report.common import RenderOptions
from convcalc.report.markdown import literal
from convcalc.report.sarif import artifact_uri
from convcalc.spec import Network
from convcalc.text import json_safe, printable

INVISIBLE = {
    "ESC (colour)": "\x1b[31mred",
    "OSC 8 link": "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "BEL": "ring\x07",
    "backspace": "over\x08\x08ok",
    "DEL": "del\x7f",
    "C1 CSI": "c1\x9b31m",
    "C1 NEL": "c1\x85",
    "RLO U+202E": "abc\u202edef",
    "LRE U+202A": "abc\u202adef",
    "RLI U+2067": "abc\u2067def\u2069",
    "RLM U+200F": "abc\u200fdef",
    "LINE SEPARATOR U+2028": "line\u2028break",
    "PARAGRAPH SEPARATOR U+2029": "para\u2029break",
    "CR LF": "x\r\n::warning::forged",
    "tag character U+E0041": "tag\U000e0041",
}
MARKUP = {
    "img onerror": "<img src=x onerror=alert(1)>",
    "script": "<script>alert(1)</script>",
    "javascript link": "[x](javascript:alert(1))",
    "image": "![x](https://evil.example/p.png)",
    "backticks": "`code` & &amp; |pipe|",
}
NAMES = {**INVISIBLE, **MARKUP}
UNDECODABLE_FILE = "bad\udcff\udcfe.json"  # what Python makes of argv bytes b"bad\xff\xfe.json"
HOSTILE_FILE = "dir/\x1b[2Jx\u202e<b>[y](javascript:z)`.json"


def hostile_spec() -> dict[str, Any]:
    """A spec whose network and layers carry every hostile name; the last conv does not fit (findings)."""
    layers: list[dict[str, Any]] = [{"type": "relu", "name": name} for name in NAMES.values()]
    layers.append({"type": "conv", "filters": 1, "kernel": 5, "name": "\u202econv\x1b]8;;x\x07<script>"})
    return {"name": "net\u2028<script>alert(1)</script>\x1b[2J", "input": [4, 4, 1], "layers": layers}


def checked(file: str, config_file: str | None = None) -> CheckedSpec:
    network = Network.model_validate(hostile_spec())
    result = check_loaded(LoadedSpec(file=file, network=network, source=SourceMap()))
    assert result.findings, "the spec must have findings, so that names reach the messages"
    return result._replace(config_file=config_file)


def rendered(fmt: str, file: str = HOSTILE_FILE, config_file: str | None = "/cfg/\x1b[31m\u202e.toml") -> str:
    return renderer(fmt)([checked(file, config_file)], RenderOptions(width=200))


def unsafe(text: str) -> set[str]:
    """The characters a reader should never get raw: what str.isprintable refuses, bar the newline."""
    return {ch for ch in text if not ch.isprintable() and ch != "\n"}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("file", [HOSTILE_FILE, UNDECODABLE_FILE])
def test_every_format_is_plain_utf8_text_without_invisible_characters(fmt: str, file: str) -> None:
    out = rendered(fmt, file)
    out.encode("utf-8")  # strict: no lone surrogate left to crash a UTF-8 stream
    assert unsafe(out) == set()


@pytest.mark.parametrize("fmt", ["table", "markdown", "html", "github"])
def test_human_formats_show_hostile_names_escaped(fmt: str) -> None:
    out = rendered(fmt, UNDECODABLE_FILE)
    shown = literal if fmt == "markdown" else str  # Markdown doubles the backslash, which then reads as one
    for escape in ("\\x1b", "\\x07", "\\x08", "\\x9b", "\\u202e", "\\u2028"):
        assert shown(escape) in out  # visibly, as the terminal table does
    if fmt != "markdown":  # Markdown's heading is the spec's name; it shows no file name
        assert "bad\\udcff\\udcfe.json" in out


def test_github_annotations_stay_one_line_each() -> None:
    out = rendered("github")
    lines = out.splitlines()
    assert lines and all(re.match(r"::(error|warning|notice) file=[^\n]*::", line) for line in lines)
    assert "\n::warning::forged" not in out
    assert "file=dir/\\x1b[2Jx\\u202e<b>[y](javascript%3Az)`.json" in out


def _outside_escapes(markdown: str) -> str:
    """The Markdown with its backslash escapes and its three entities removed: what GitHub reads as markup."""
    return re.sub(r"&(amp|lt|gt);", "", re.sub(r"\\.", "", markdown))


def test_markdown_has_no_html_links_or_code_from_spec_text() -> None:
    out = rendered("markdown")
    left = _outside_escapes(out)
    for character in "<>[]`&":
        assert character not in left, f"unescaped {character!r} in Markdown"
    assert "&lt;script&gt;" in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "\\[x\\](javascript:alert(1))" in out and "!\\[x\\]" in out
    assert "\\`code\\` &amp; &amp;amp; \\|pipe\\|" in out
    assert "## net\\\\u2028&lt;script&gt;" in out  # the heading too


@pytest.mark.parametrize(("name", "text"), sorted(NAMES.items()))
def test_markdown_literal_renders_as_the_printable_text(name: str, text: str) -> None:
    # Undoing the escapes as a Markdown reader does gives back exactly what the terminal table shows.
    unescaped = re.sub(r"\\(.)", r"\1", literal(text))
    unescaped = unescaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped == printable(text)


def test_html_has_no_tags_from_spec_text() -> None:
    out = rendered("html")
    assert "<script" not in out and "<img" not in out and "<b>" not in out
    assert "&lt;script&gt;" in out


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_formats_escape_invisible_characters_and_read_back_the_same_names(fmt: str) -> None:
    out = rendered(fmt)
    for raw in ("\x85", "\x9b", "\x7f", "\u2028", "\u2029", "\u202a", "\u202e", "\u2067", "\u200f"):
        assert raw not in out
    for escaped in ("\\u0085", "\\u009b", "\\u007f", "\\u2028", "\\u2029", "\\u202a", "\\u202e", "\\u2067"):
        assert escaped in out
    data = json.loads(out)
    if fmt == "json":
        assert [layer["name"] for layer in data["layers"]][: len(NAMES)] == list(NAMES.values())
        assert data["name"] == hostile_spec()["name"]
        assert data["file"] == HOSTILE_FILE
    else:
        messages = [result["message"]["text"] for result in data["runs"][0]["results"]]
        assert any("\u202econv\x1b]8;;x\x07<script>" in message for message in messages)


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_formats_show_undecodable_file_names_as_text(fmt: str) -> None:
    data = json.loads(rendered(fmt, UNDECODABLE_FILE))
    if fmt == "json":
        assert data["file"] == "bad\\udcff\\udcfe.json"  # the visible escape, as printable shows it
    else:
        uri = data["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.endswith("bad%FF%FE.json")  # the file name's own bytes


def test_json_safe_keeps_json_and_printable_text_unchanged() -> None:
    text = json.dumps({"name": "résumé → 3×3 · 世界 😀", "n": [1, 2]}, ensure_ascii=False)
    assert json_safe(text) == text
    assert json_safe('"a\\u0000b"') == '"a\\u0000b"'


def test_json_safe_escapes_beyond_the_bmp_as_a_surrogate_pair() -> None:
    out = json_safe(json.dumps("tag\U000e0041", ensure_ascii=False))
    assert out == '"tag\\udb40\\udc41"' and json.loads(out) == "tag\U000e0041"


@pytest.mark.parametrize(
    ("file", "uri"),
    [
        ("my spec#1?.json", "my%20spec%231%3F.json"),
        ("dir/a%b [1].json", "dir/a%25b%20%5B1%5D.json"),
        ("bad\udcff\udcfe.json", "bad%FF%FE.json"),
        ("ünï.json", "%C3%BCn%C3%AF.json"),
    ],
)
def test_sarif_uris_are_percent_encoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file: str, uri: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert artifact_uri(file) == uri
    outside = tmp_path.parent / file
    assert artifact_uri(str(outside)) == tmp_path.parent.as_uri() + "/" + uri
