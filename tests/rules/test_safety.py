"""The fix checks' shortcut is exact: after an incremental re-analysis only the local rules' layers that a fix
changed are checked again, and the new errors are the very ones a full re-run of every error rule finds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from convcalc.analysis import NetworkFacts, analyze
from convcalc.findings import Fix, Severity
from convcalc.fixes import apply_fix
from convcalc.loading import load_spec, validate
from convcalc.rules import REGISTRY, Settings, run_rules
from convcalc.rules.safety import FixChecker, _moved, _shift, error_sites, known_error_sites
from convcalc.spec import Network
from tests.export.strategies import buildable_specs
from tests.helpers import EXAMPLES, analyze_spec
from tests.strategies import spec_dicts

SETTINGS = Settings()
SPECS = sorted([*EXAMPLES.glob("*.json"), *(EXAMPLES / "torchvision").glob("*.json")])


class FullRerun(FixChecker):
    """A checker that also re-runs every error rule over the whole re-analysed network for each fix it checks
    (pairs included), and records any difference."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.compared = 0
        self.differences: list[str] = []

    def new_errors(self, fix: Fix) -> tuple[NetworkFacts, set[tuple[str, int | None]]] | None:
        result = super().new_errors(fix)
        if result is not None:
            full = analyze(Network.model_validate(apply_fix(self.spec, fix)), receptive_fields=False)
            moved = {_moved(site, _shift(fix)) for site in self.before}
            expected = error_sites(full, self.settings) - moved
            self.compared += 1
            if result[1] != expected:
                self.differences.append(f"{fix.title}: {sorted(map(str, result[1]))} != {sorted(map(str, expected))}")
        return result


def compare(network: Network, settings: Settings = SETTINGS) -> FullRerun:
    facts = analyze(network)
    findings = sorted(run_rules(facts, list(REGISTRY.values()), settings), key=lambda f: -f.severity.rank)
    checker = FullRerun(network, facts, settings)
    for finding in findings:
        for fix in finding.fixes:
            checker.check(fix, finding)
    assert not checker.differences, checker.differences
    return checker


@pytest.mark.parametrize("path", SPECS, ids=lambda path: str(path.relative_to(EXAMPLES)))
def test_the_new_errors_of_every_fix_of_every_example_match_a_full_rerun(path: Path) -> None:
    compare(load_spec(str(path)).network)


def test_the_examples_offer_fixes_to_compare() -> None:
    assert sum(compare(load_spec(str(path)).network).compared for path in SPECS) > 50


@given(spec_dicts())
def test_the_new_errors_match_a_full_rerun_on_random_specs(spec: dict[str, Any]) -> None:
    compare(validate("<test>", spec), Settings(max_params=10_000, max_macs=100_000))


@given(buildable_specs(fit_exactly=False, max_steps=8))
def test_the_new_errors_match_a_full_rerun_on_random_graphs(spec: dict[str, Any]) -> None:
    compare(validate("<test>", spec))


@given(buildable_specs(fit_exactly=False, max_steps=8))
def test_a_local_rules_layer_check_finds_what_its_check_finds(spec: dict[str, Any]) -> None:
    net = analyze_spec(spec)
    quiet = SETTINGS._replace(fixes=False)
    for rule in REGISTRY.values():
        if rule.layer_check is not None:
            everywhere = [(f.code, f.layer, f.message) for f in rule.run(net, quiet)]
            each = [(f.code, f.layer, f.message) for f in rule.run_at(net, range(len(net.layers)), quiet)]
            assert each == everywhere, rule.code


def test_every_error_rule_says_whether_it_is_local() -> None:
    local = {code for code, rule in REGISTRY.items() if rule.layer_check is not None}
    errors = {code for code, rule in REGISTRY.items() if rule.severity is Severity.ERROR}
    assert errors - local == {"CC103", "CC405"}, "the rules that read the last layer or the totals"


def test_a_padding_change_that_keeps_the_shape_is_checked_at_the_window_after_it() -> None:
    # 1 + 10 + 1 rows, a 3×3 S=2 window: the row the floor drops is padding (CC208). The same 12 rows padded
    # 2 before and 0 after drop a row of input (CC101) at a layer the re-analysis leaves alone (its input
    # shape is the same): the conv reads the padding through a ReLU.
    spec = {
        "input": [10, 10, 1],
        "layers": [
            {"type": "zero_padding", "padding": 1},
            {"type": "relu"},
            {"type": "conv", "filters": 4, "kernel": 3, "stride": 2},
        ],
    }
    network = validate("<test>", spec)
    checker = FullRerun(network, analyze(network), SETTINGS)
    changed = checker.new_errors(Fix("P=2,0,2,0", "layers[0]", {"padding": [[2, 0], [2, 0]]}))
    assert changed is not None and changed[1] == {("CC101", 2)}
    assert not checker.differences


def _error_findings(net: NetworkFacts) -> list[tuple[str, int | None, str, list[Any]]]:
    rules = [rule for rule in REGISTRY.values() if rule.severity is Severity.ERROR]
    return [
        (f.code, f.layer, f.message, [fix.record() for fix in f.fixes]) for r in rules for f in r.run(net, SETTINGS)
    ]


@pytest.mark.parametrize("path", SPECS, ids=lambda path: str(path.relative_to(EXAMPLES)))
def test_no_error_rule_reads_receptive_fields(path: Path) -> None:
    # The fix checks re-analyse from the checked facts, receptive fields and all, and compute none again.
    network = load_spec(str(path)).network
    assert _error_findings(analyze(network)) == _error_findings(analyze(network, receptive_fields=False))


@given(buildable_specs(fit_exactly=False, max_steps=8))
def test_no_error_rule_reads_receptive_fields_on_random_graphs(spec: dict[str, Any]) -> None:
    network = validate("<test>", spec)
    assert _error_findings(analyze(network)) == _error_findings(analyze(network, receptive_fields=False))


def _known_sites_match(network: Network, settings: Settings) -> None:
    facts = analyze(network)
    every = list(REGISTRY.values())
    assert known_error_sites(run_rules(facts, every, settings), every) == error_sites(facts, settings)
    without_an_error_rule = [rule for rule in every if rule.code != "CC101"]
    assert known_error_sites(run_rules(facts, without_an_error_rule, settings), without_an_error_rule) is None


@pytest.mark.parametrize("path", SPECS, ids=lambda path: str(path.relative_to(EXAMPLES)))
def test_the_checks_error_sites_are_read_off_the_rules_run_on_every_example(path: Path) -> None:
    # check passes the findings of its own run (fix searches on) as the network's error sites: they must be
    # exactly where the error rules fire with fix searches off.
    _known_sites_match(load_spec(str(path)).network, SETTINGS)


@given(spec_dicts())
def test_the_error_sites_read_off_a_run_are_a_quiet_runs_on_random_specs(spec: dict[str, Any]) -> None:
    _known_sites_match(validate("<test>", spec), Settings(max_params=10_000, max_macs=100_000))


@given(buildable_specs(fit_exactly=False, max_steps=8))
def test_the_error_sites_read_off_a_run_are_a_quiet_runs_on_random_graphs(spec: dict[str, Any]) -> None:
    _known_sites_match(validate("<test>", spec), SETTINGS)


def test_a_fix_that_passes_the_layer_limit_is_refused_without_dumping_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    # CC303's fix inserts a ReLU: on a spec at the layer limit the fixed spec could not validate, so the checker
    # refuses it before dumping the whole spec (the costliest step on a spec of 10,000 layers); one layer short
    # of the limit, the same fix is checked and kept.
    spec = {
        "input": [8, 8, 3],
        "layers": [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}, {"type": "fc", "units": 10}],
    }
    network = validate("<test>", spec)
    facts = analyze(network)
    finding, insert = next(
        (finding, fix) for finding in run_rules(facts, [REGISTRY["CC303"]]) for fix in finding.fixes if fix.insert
    )
    for limit, kept in ((2, False), (3, True)):
        monkeypatch.setattr("convcalc.rules.safety.MAX_LAYERS", limit)
        checker = FixChecker(network, facts, SETTINGS)
        assert (checker.check(insert, finding) == insert) is kept
        assert ("spec" in checker.__dict__) is kept  # the whole spec's dump (a cached property)
