"""The check pipeline: file → validated spec → facts → findings, as one record for the renderers."""

from __future__ import annotations

from collections.abc import Iterable

from convcalc.analysis import analyze
from convcalc.findings import Finding, Severity, sort_findings
from convcalc.loading import LoadedSpec
from convcalc.report.common import CheckedSpec
from convcalc.rules import REGISTRY, Rule, run_rules


def default_rules() -> list[Rule]:
    return [r for r in REGISTRY.values() if r.default_enabled]


def check_loaded(loaded: LoadedSpec, rules: Iterable[Rule] | None = None) -> CheckedSpec:
    """Analyse a loaded spec once and run the rules over its facts."""
    facts = analyze(loaded.network)
    findings = run_rules(facts, default_rules() if rules is None else rules)
    return CheckedSpec(file=loaded.file, facts=facts, findings=sort_findings(findings), source=loaded.source)


def worst_severity(findings: Iterable[Finding]) -> Severity | None:
    worst: Severity | None = None
    for finding in findings:
        if worst is None or finding.severity.rank > worst.rank:
            worst = finding.severity
    return worst
