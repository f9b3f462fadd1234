"""The Markdown report: a GitHub-flavoured table per spec, totals and findings (for PR comments, docs)."""

from __future__ import annotations

from collections.abc import Sequence

from convcalc.checked import CheckedSpec
from convcalc.report.common import DEFAULT_OPTIONS, RenderOptions, totals_lines
from convcalc.report.rows import RunHeading, table_rows, visible_columns
from convcalc.text import printable


def _cell(text: str) -> str:
    # Pipes split cells and backslashes escape; both must stay literal in a name.
    return printable(text).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def render(results: Sequence[CheckedSpec], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """A section per spec: the layer table, the totals, the findings with their fixes."""
    lines: list[str] = []
    for checked in results:
        facts = checked.facts
        lines.append(f"## {_cell(facts.name or checked.file)}")
        lines.append("")
        keep = visible_columns(facts)
        lines.append("| " + " | ".join(column.header for column in keep) + " |")
        lines.append("|" + "|".join("--:" if column.right else "---" for column in keep) + "|")
        for row in table_rows(checked, options.fold):
            if isinstance(row, RunHeading):
                cells = [f"*{row.span}*", f"*{row.caption}*"] + [""] * (len(keep) - 2)
            else:
                cells = [row.cell(column.key) for column in keep]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        lines.append("")
        lines.extend(f"{_cell(line)}  " for line in totals_lines(checked))
        lines.append("")
        if checked.findings:
            lines.append("### Findings")
            lines.append("")
            for finding in checked.findings:
                lines.append(
                    f"- **{finding.code}** {finding.severity.value} · {_cell(checked.layer_label(finding))}:"
                    f" {_cell(finding.message)}"
                )
                for fix in finding.fixes:
                    lines.append(f"  - fix: {_cell(fix.title)}")
            lines.append("")
    return "\n".join(lines)
