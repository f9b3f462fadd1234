"""The Markdown report: a GitHub-flavoured table per spec, totals and findings (for PR comments, docs)."""

from __future__ import annotations

from convcalc.report.common import COLUMNS, CheckedSpec, human_bytes, layer_rows, printable


def _cell(text: str) -> str:
    # Pipes split cells and backslashes escape; both must stay literal in a name.
    return printable(text).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def render(results: list[CheckedSpec], *, fold: bool = True) -> str:
    lines: list[str] = []
    for checked in results:
        facts = checked.facts
        lines.append(f"## {_cell(facts.name or checked.file)}")
        lines.append("")
        lines.append("| " + " | ".join(header for header, _ in COLUMNS) + " |")
        lines.append("|" + "|".join("--:" if justify == "right" else "---" for _, justify in COLUMNS) + "|")
        input_row = ["", "input", "input", "", f"{facts.input_shape}", f"{facts.input_shape.values:,}"]
        lines.append("| " + " | ".join(input_row + [""] * (len(COLUMNS) - len(input_row))) + " |")
        for row in layer_rows(checked, fold):
            cells = [f"*{row[0]}*", f"*{row[1]}*"] + [""] * (len(COLUMNS) - 2) if isinstance(row, tuple) else row
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        lines.append("")
        lines.append(
            f"**Total params:** {facts.total_params:,} · **parameter memory:** {human_bytes(facts.param_bytes)}"
            f" (float32) · **activation memory:** {human_bytes(facts.activation_bytes)} per example"
        )
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
