"""The Markdown report: a GitHub-flavoured table per spec, totals and findings (for PR comments, docs)."""

from __future__ import annotations

from collections.abc import Sequence

from convcalc.checked import CheckedSpec
from convcalc.report.common import DEFAULT_OPTIONS, RenderOptions, totals_lines
from convcalc.report.rows import RunHeading, table_rows, visible_columns
from convcalc.text import printable

_MARKUP = str.maketrans(
    {"\\": "\\\\", "|": "\\|", "`": "\\`", "[": "\\[", "]": "\\]", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
)


def literal(value: str) -> str:
    """Spec text as literal Markdown: controls shown (:func:`~convcalc.text.printable`), and nothing that
    GitHub-flavoured Markdown would read as markup: no HTML (``<script>``, ``<img onerror>``), no entity, no
    link or image (``[x](javascript:…)``), no code span, no table cell break.

    >>> literal("<img src=x onerror=alert(1)> [x](javascript:y) `a|b`")
    '&lt;img src=x onerror=alert(1)&gt; \\\\[x\\\\](javascript:y) \\\\`a\\\\|b\\\\`'
    """
    return printable(value).translate(_MARKUP)


def render(results: Sequence[CheckedSpec], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """A section per spec: the layer table, the totals, the findings with their fixes."""
    return join([part(checked, options) for checked in results], options)


def join(parts: Sequence[str], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """The specs' sections in order."""
    return "\n".join(parts)


def part(checked: CheckedSpec, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """One spec's section: the layer table, the totals, the findings with their fixes."""
    lines: list[str] = []
    facts = checked.facts
    lines.append(f"## {literal(facts.name or checked.file)}")
    lines.append("")
    keep = visible_columns(facts)
    lines.append("| " + " | ".join(column.header for column in keep) + " |")
    lines.append("|" + "|".join("--:" if column.right else "---" for column in keep) + "|")
    for row in table_rows(checked, options.fold):
        if isinstance(row, RunHeading):
            cells = [f"*{row.span}*", f"*{row.caption}*"] + [""] * (len(keep) - 2)
        else:
            cells = [row.cell(column.key) for column in keep]
        lines.append("| " + " | ".join(literal(cell) for cell in cells) + " |")
    lines.append("")
    lines.extend(f"{literal(line)}  " for line in totals_lines(checked))
    lines.append("")
    if checked.findings:
        lines.append("### Findings")
        lines.append("")
        for finding in checked.findings:
            lines.append(
                f"- **{finding.code}** {finding.severity.value} · {literal(checked.layer_label(finding))}:"
                f" {literal(finding.message)}"
            )
            for fix in finding.fixes:
                lines.append(f"  - fix: {literal(fix.title)}")
        lines.append("")
    return "\n".join(lines)
