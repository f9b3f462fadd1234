"""The HTML report: one self-contained page (no scripts, fonts or styles from elsewhere) per check run.

Each spec gets its diagram (inline SVG), the layer table with every figure (folded repeats, sticky header),
the findings with their fixes and the rule's explanation, and the totals.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from convcalc.analysis import BYTES_PER_FLOAT32
from convcalc.checked import CheckedSpec
from convcalc.draw.svg import draw_svg
from convcalc.findings import Finding
from convcalc.report.common import DEFAULT_OPTIONS, RenderOptions, totals_lines
from convcalc.report.rows import RunHeading, table_rows, visible_columns
from convcalc.rules import REGISTRY
from convcalc.text import human_bytes, printable

CSS = """
:root{color-scheme:light dark;--fg:#1f2328;--muted:#57606a;--bg:#ffffff;--panel:#f6f8fa;--line:#d0d7de;
--error:#cf222e;--warning:#9a6700;--info:#0969da;--run:#eef3fb}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--panel:#161b22;
--line:#30363d;--error:#ff7b72;--warning:#e3b341;--info:#79c0ff;--run:#1a2230}}
*{box-sizing:border-box}
body{margin:0;padding:24px;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg)}
main{max-width:1400px;margin:0 auto}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:19px;margin:32px 0 4px;padding-top:8px;border-top:1px solid var(--line)}
h3{font-size:16px;margin:24px 0 8px}
.file,.muted{color:var(--muted)}
code{font:12.5px/1.4 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
figure{margin:12px 0;overflow-x:auto;border:1px solid var(--line);border-radius:6px}
figure svg{display:block;max-width:100%;height:auto}
.table-wrap{max-height:80vh;overflow:auto;border:1px solid var(--line);border-radius:6px}
table{border-collapse:separate;border-spacing:0;font-size:12.5px;white-space:nowrap;min-width:100%}
th,td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{position:sticky;top:0;z-index:1;background:var(--panel);border-bottom:2px solid var(--line)}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.run th{background:var(--run);font-weight:normal;font-style:italic;color:var(--muted)}
tr.flag-error td:first-child{box-shadow:inset 3px 0 var(--error)}
tr.flag-warning td:first-child{box-shadow:inset 3px 0 var(--warning)}
ul.totals{padding-left:20px}
ol.findings{padding-left:0;list-style:none}
ol.findings>li{margin:0 0 14px;padding:8px 12px;border:1px solid var(--line);border-left-width:4px;border-radius:6px}
li.sev-error{border-left-color:var(--error)!important}
li.sev-warning{border-left-color:var(--warning)!important}
li.sev-info{border-left-color:var(--info)!important}
.badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px;font-weight:bold;color:var(--bg)}
.badge.error{background:var(--error)}.badge.warning{background:var(--warning)}.badge.info{background:var(--info)}
.message{margin:4px 0;overflow-wrap:anywhere}
.fixes{margin:4px 0;padding-left:20px}
details{margin-top:4px}
summary{cursor:pointer;color:var(--muted)}
.rationale h4{font-size:13px;margin:10px 0 2px}
.rationale p{margin:2px 0}
""".strip()

MEMORY_AFTER = "neurons"
MEMORY_HEADER = "activations"


def _esc(text: str) -> str:
    return html.escape(printable(text), quote=True)


def _inline(text: str) -> str:
    """Escaped text with ``code`` spans (the rules' rationale uses backticks)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _esc(text))


def rationale_html(text: str) -> str:
    """A rule's rationale (``## Heading`` sections and paragraphs) as HTML."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if lines and lines[0].startswith("## "):
            out.append(f"<h4>{_inline(lines[0][3:])}</h4>")
            lines = lines[1:]
        if lines:
            out.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
    return "".join(out)


def _table(checked: CheckedSpec, anchor: str) -> tuple[list[str], set[int]]:
    """The table's HTML lines and the layers that have a row of their own (an anchor to link to)."""
    keep = visible_columns(checked.facts)
    memory_at = next(i for i, column in enumerate(keep) if column.key == MEMORY_AFTER) + 1
    headers = [column.header for column in keep]
    aligns = [column.right for column in keep]
    headers.insert(memory_at, MEMORY_HEADER)
    aligns.insert(memory_at, True)
    worst: dict[int, str] = {}
    for finding in checked.findings:
        if finding.layer is not None and finding.severity.value != "info" and worst.get(finding.layer) != "error":
            worst[finding.layer] = finding.severity.value
    out = [
        '<div class="table-wrap"><table>',
        "<thead><tr>" + "".join(f'<th scope="col">{_esc(h)}</th>' for h in headers) + "</tr></thead>",
        "<tbody>",
    ]
    anchored: set[int] = set()
    for row in table_rows(checked, fold=True):
        if isinstance(row, RunHeading):
            out.append(f'<tr class="run"><th colspan="{len(headers)}">{_esc(row.span)}: {_esc(row.caption)}</th></tr>')
            continue
        cells = [row.cell(column.key) for column in keep]
        cells.insert(memory_at, human_bytes(row.neurons * BYTES_PER_FLOAT32))
        attrs = ""
        if row.layer is not None:
            attrs = f' id="{anchor}-l{row.layer}"'
            anchored.add(row.layer)
            if row.layer in worst:
                attrs += f' class="flag-{worst[row.layer]}"'
        tds = "".join(
            f'<td class="num">{_esc(cell)}</td>' if right else f"<td>{_esc(cell)}</td>"
            for cell, right in zip(cells, aligns, strict=True)
        )
        out.append(f"<tr{attrs}>{tds}</tr>")
    out.append("</tbody></table></div>")
    return out, anchored


def _finding(checked: CheckedSpec, finding: Finding, anchor: str, anchored: set[int]) -> list[str]:
    severity = finding.severity.value
    position = checked.position(finding)
    where = _esc(checked.file) + (f":{position[0]}:{position[1]}" if position else "")
    label = _esc(checked.layer_label(finding))
    if finding.layer in anchored:
        label = f'<a href="#{anchor}-l{finding.layer}">{label}</a>'
    out = [
        f'<li class="sev-{severity}">',
        f'<span class="badge {severity}">{severity}</span> <strong>{_esc(finding.code)}</strong>'
        f' <code>{_esc(finding.rule)}</code> · {label} · <span class="muted">{where}</span>',
        f'<p class="message">{_esc(finding.message)}</p>',
    ]
    if finding.fixes:
        out.append(
            '<ul class="fixes">' + "".join(f"<li>fix: {_esc(fix.title)}</li>" for fix in finding.fixes) + "</ul>"
        )
    rule = REGISTRY.get(finding.code)
    if rule is not None:
        out.append(
            f"<details><summary>{_esc(rule.code)} {_esc(rule.name)}: {_esc(rule.summary)}</summary>"
            f'<div class="rationale">{rationale_html(rule.rationale)}</div></details>'
        )
    out.append("</li>")
    return out


def _section(checked: CheckedSpec, anchor: str, svg: str) -> list[str]:
    facts = checked.facts
    table, anchored = _table(checked, anchor)
    out = [
        f'<section id="{anchor}">',
        f"<h2>{_esc(facts.name or checked.file)}</h2>",
        f'<div class="file">{_esc(checked.file)}</div>',
        f'<figure aria-label="diagram of {_esc(facts.name or checked.file)}">{svg.rstrip()}</figure>',
        "<h3>Layers</h3>",
        *table,
        '<ul class="totals">',
        *(f"<li>{_esc(line)}</li>" for line in totals_lines(checked)),
        "</ul>",
        f"<h3>Findings ({len(checked.findings)})</h3>",
    ]
    if checked.findings:
        out.append('<ol class="findings">')
        for finding in checked.findings:
            out.extend(_finding(checked, finding, anchor, anchored))
        out.append("</ol>")
    else:
        out.append('<p class="muted">No findings.</p>')
    out.append("</section>")
    return out


def render(results: Sequence[CheckedSpec], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """The whole report as one HTML document (UTF-8 text, ends with a newline)."""
    names = ", ".join(checked.facts.name or checked.file for checked in results)
    body: list[str] = []
    for number, checked in enumerate(results):
        body.extend(_section(checked, f"spec{number}", draw_svg(checked)))
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en">',
                "<head>",
                '<meta charset="utf-8">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f"<title>convcalc report — {_esc(names)}</title>",
                f"<style>{CSS}</style>",
                "</head>",
                "<body>",
                "<main>",
                f'<h1>convcalc report</h1><div class="muted">{len(results)} spec{"s" if len(results) != 1 else ""}:'
                f" {_esc(names)}</div>",
                *body,
                "</main>",
                "</body>",
                "</html>",
            ]
        )
        + "\n"
    )


FRAGMENT_CLASS = "convcalc-report"
_PAGE_ROOTS = {":root", "body", "main"}
_SELECTORS = re.compile(r"(?:(?<=[{}])|^)(\s*)([^{}@\s][^{}]*)\{")
SVG_NAMESPACE = ' xmlns="http://www.w3.org/2000/svg"'


def scoped_css(css: str, scope: str) -> str:
    """The page's style with every selector inside ``scope`` (the page's root and body become ``scope``), so
    that a fragment's style cannot restyle the page around it (a notebook).

    >>> scoped_css("body{margin:0}\\n@media print{:root{--a:1}}\\nh2,td.num{x:y}", ".r")
    '.r{margin:0}\\n@media print{.r{--a:1}}\\n.r h2,.r td.num{x:y}'
    """

    def scope_one(selector: str) -> str:
        selector = selector.strip()
        if selector in _PAGE_ROOTS:
            return scope
        return f"{scope},{scope} *" if selector == "*" else f"{scope} {selector}"

    return _SELECTORS.sub(lambda m: m.group(1) + ",".join(map(scope_one, m.group(2).split(","))) + "{", css)


def fragment(checked: CheckedSpec, anchor: str) -> str:
    """One spec's section of the report as an HTML fragment to show inline (a notebook's ``_repr_html_``): the
    diagram, the table, the totals and the findings with their fixes, under a style scoped to the fragment.

    Like the page: escaped, no scripts, nothing fetched (the inline SVG needs no namespace URI in HTML).
    ``anchor``: a prefix for the ids of the rows the findings link to, unique in the page.
    """
    svg = draw_svg(checked).replace(SVG_NAMESPACE, "", 1)
    style = scoped_css(CSS, f"div.{FRAGMENT_CLASS}")
    body = "\n".join(_section(checked, anchor, svg))
    return f'<div class="{FRAGMENT_CLASS}"><style>{style}</style>\n{body}\n</div>\n'
