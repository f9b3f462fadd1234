"""Rule documentation from the registry: `convcalc rules`, `convcalc rules CODE`, and docs/rules.md."""

from __future__ import annotations

import io
import json

from rich.console import Console
from rich.table import Table
from rich.text import Text

from convcalc.report.common import DEFAULT_WIDTH
from convcalc.rules import REGISTRY, Rule


def _example(spec: dict[str, object]) -> str:
    return json.dumps(spec, ensure_ascii=False)


def rule_record(rule: Rule) -> dict[str, object]:
    return {
        "code": rule.code,
        "name": rule.name,
        "severity": rule.severity.value,
        "default_enabled": rule.default_enabled,
        "summary": rule.summary,
        "rationale": rule.rationale,
        "bad": rule.bad,
        "good": rule.good,
    }


def rule_markdown(rule: Rule) -> str:
    state = "" if rule.default_enabled else " (off by default: enable with `--select " + rule.code + "`)"
    return (
        f"## {rule.code} `{rule.name}`\n\n"
        f"*{rule.severity.value}*{state} — {rule.summary}\n\n"
        f"{rule.rationale.replace('## ', '#### ')}\n\n"
        f"### Example\n\n```json\n{_example(rule.bad)}\n```\n\n"
        f"### Instead\n\n```json\n{_example(rule.good)}\n```\n"
    )


def render_list(output_format: str, width: int = DEFAULT_WIDTH) -> str:
    rules = [REGISTRY[code] for code in sorted(REGISTRY)]
    if output_format == "json":
        return json.dumps([rule_record(r) for r in rules], indent=2, ensure_ascii=False) + "\n"
    if output_format == "markdown":
        header = (
            "# convcalc rules\n\nGenerated from the rule registry by `convcalc rules --format markdown`.\n\n"
            "| code | name | severity | summary |\n|---|---|---|---|\n"
        )
        rows = "".join(
            f"| {r.code} | `{r.name}` | {r.severity.value}{'' if r.default_enabled else ' (off)'} | {r.summary} |\n"
            for r in rules
        )
        return header + rows + "\n" + "\n".join(rule_markdown(r) for r in rules)
    table = Table(title="convcalc rules", header_style="bold")
    for column in ("code", "name", "severity"):
        table.add_column(column, no_wrap=True)  # codes and names are looked up: never broken
    table.add_column("summary", ratio=1)  # the summary wraps at spaces to fit the terminal
    for r in rules:
        severity = r.severity.value + ("" if r.default_enabled else " (off)")
        table.add_row(Text(r.code), Text(r.name), Text(severity), Text(r.summary))
    return _console_text(table, width)


def render_rule(rule: Rule, output_format: str, width: int = DEFAULT_WIDTH) -> str:
    """One rule's documentation: JSON, its Markdown source, or (table) that Markdown rendered for a terminal."""
    if output_format == "json":
        return json.dumps(rule_record(rule), indent=2, ensure_ascii=False) + "\n"
    if output_format == "markdown":
        return rule_markdown(rule)
    from rich.markdown import Markdown

    return _console_text(Markdown(rule_markdown(rule), code_theme="ansi_dark", inline_code_lexer=None), width)


def _console_text(renderable: object, width: int) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, markup=False, highlight=False, emoji=False, color_system=None)
    console.print(renderable)
    return buffer.getvalue()
