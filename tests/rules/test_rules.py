"""convcalc.rules: one generic walk over every registered rule: examples, findings, documentation."""

from __future__ import annotations

import re

import pytest

from convcalc.findings import Severity
from convcalc.loading import validate
from convcalc.rules import REGISTRY, Rule
from convcalc.spec import Network
from tests.helpers import analyze_spec

RULES = sorted(REGISTRY.values(), key=lambda rule: rule.code)


def rule_id(rule: Rule) -> str:
    return f"{rule.code}-{rule.name}"


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_the_bad_example_yields_exactly_this_rule(rule: Rule) -> None:
    findings = list(rule.run(analyze_spec(rule.bad), rule.example_settings))
    assert findings, f"{rule.code}'s bad example yields nothing"
    assert {f.code for f in findings} == {rule.code}
    for finding in findings:
        assert finding.rule == rule.name
        assert finding.severity is rule.severity
        assert finding.message.strip()


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_the_good_example_yields_nothing(rule: Rule) -> None:
    assert list(rule.run(analyze_spec(rule.good), rule.example_settings)) == []


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_the_rule_is_documented(rule: Rule) -> None:
    assert re.fullmatch(r"CC\d{3}", rule.code)
    assert REGISTRY[rule.code] is rule
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", rule.name), "a kebab-case name that reads after 'allow'"
    assert rule.summary.strip() and "\n" not in rule.summary
    assert len(rule.rationale.split()) >= 10, "the rationale explains why and how to fix"
    assert isinstance(rule.severity, Severity)


def test_names_and_codes_are_unique() -> None:
    assert len({rule.name for rule in RULES}) == len(RULES)


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_the_examples_are_valid_specs(rule: Rule) -> None:
    # A bad example is a bad *network*, never an invalid file (fields and graph).
    assert isinstance(validate("<bad>", rule.bad), Network)
    assert isinstance(validate("<good>", rule.good), Network)
