"""The Markdown report: a GitHub-flavoured table per spec, totals and findings (for PR comments, docs)."""

from __future__ import annotations

from convcalc.checking import CheckedSpec
from convcalc.report.common import COLUMNS, input_row, layer_rows, printable, totals_lines, visible_columns


def _cell(text: str) -> str:
    # Pipes split cells and backslashes escape; both must stay literal in a name.
    return printable(text).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def render(results: list[CheckedSpec], *, fold: bool = True) -> str:
    lines: list[str] = []
    for checked in results:
        facts = checked.facts
        lines.append(f"## {_cell(facts.name or checked.file)}")
        lines.append("")
        keep = visible_columns(facts)
        lines.append("| " + " | ".join(COLUMNS[i][0] for i in keep) + " |")
        lines.append("|" + "|".join("--:" if COLUMNS[i][1] == "right" else "---" for i in keep) + "|")
        rows: list[list[str]] = [input_row(facts)]
        for row in layer_rows(checked, fold):
            rows.append([f"*{row[0]}*", f"*{row[1]}*"] + [""] * (len(COLUMNS) - 2) if isinstance(row, tuple) else row)
        lines.extend("| " + " | ".join(_cell(cells[i]) for i in keep) + " |" for cells in rows)
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
