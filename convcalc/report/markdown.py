"""The Markdown report: a GitHub-flavoured table per spec, totals and findings (for PR comments, docs)."""

from __future__ import annotations

from convcalc.report.common import CheckedSpec, fold_runs, human_bytes, hyperparameters, percent, printable


def _cell(text: str) -> str:
    # Pipes split cells and backslashes escape; both must stay literal in a name.
    return printable(text).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def render(results: list[CheckedSpec], *, fold: bool = True) -> str:
    lines: list[str] = []
    for checked in results:
        facts = checked.facts
        lines.append(f"## {_cell(facts.name or checked.file)}")
        lines.append("")
        lines.append("| # | layer | type | F S P K | input → output | neurons | params | share | RF |")
        lines.append("|--:|---|---|---|---|--:|--:|--:|--:|")
        lines.append(f"|  | input | input |  | {facts.input_shape} | {facts.input_shape.values:,} |  |  |  |")
        runs = fold_runs(facts.layers) if fold else None
        groups = [(r.start, r.length, r.count) for r in runs] if runs else [(i, 1, 1) for i in range(len(facts.layers))]
        for start, length, count in groups:
            for offset in range(length):
                layer = facts.layers[start + offset]
                index = str(layer.index)
                name = _cell(layer.name)
                if count > 1:
                    index = f"{layer.index}…{layer.index + length * (count - 1)}"
                    name += f" ×{count}"
                rf = f"{layer.rf_rows.size}×{layer.rf_cols.size}"
                lines.append(
                    f"| {index} | {name} | {layer.type} | {hyperparameters(layer)} |"
                    f" {layer.input_shape} → {layer.output_shape} | {layer.neurons:,} | {layer.params:,} |"
                    f" {percent(layer.params * count, facts.total_params)} | {rf} |"
                )
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
