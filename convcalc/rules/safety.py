"""Fixes that never break the network: each is applied to the whole spec, the network re-analysed, and the
error rules run again; a fix that would bring a new error anywhere is dropped, or paired with the one change
that clears that error too, and then offered as one fix if the pair still clears the fix's own finding.

Rules compute their fixes locally (the layer's own window, its own merge); only this pass sees what a change
does further down (a new stride that leaves the next layer a fractional size, a kernel that no longer fits
a pool below).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError

from convcalc.analysis import FigureLimitError, NetworkFacts, analyze, reanalyze
from convcalc.findings import Edit, Finding, Fix, Severity
from convcalc.fixes import apply_fix, layer_index
from convcalc.rules.base import REGISTRY, Rule, Settings, run_rules
from convcalc.rules.graph import padding_after, reaching_output, readers_of
from convcalc.spec import MAX_LAYERS, Network, layers_by_object, network_data, validate_by_kind, validate_layer

if TYPE_CHECKING:
    from convcalc.spec import AnyLayer

ErrorSite = tuple[str, int | None]
"""An error finding's identity: its code and its layer (None: the whole network)."""
PARTNERS = 2
"""Fixes of a new error tried as the second half of a pair."""
CHECK_BUDGET = 30_000
"""Layers re-analysed, in all, to check the fixes of one spec. Each check re-analyses the whole network, so
a spec of 10,000 layers with thousands of findings would cost minutes; past this budget the remaining
findings are reported without fixes (and counted), never with a fix that was not checked."""


def _error_rules() -> list[Rule]:
    return [rule for _, rule in sorted(REGISTRY.items()) if rule.severity is Severity.ERROR]


def error_sites(net: NetworkFacts, settings: Settings) -> set[ErrorSite]:
    """Where the error rules fire on ``net`` (fix searches off: only the findings are wanted)."""
    quiet = settings._replace(fixes=False)
    return {(finding.code, finding.layer) for finding in run_rules(net, _error_rules(), quiet)}


def known_error_sites(findings: Iterable[Finding], rules: Iterable[Rule]) -> set[ErrorSite] | None:
    """:func:`error_sites` read off the findings of a run of ``rules`` on the same network, before any ignore
    is applied (a fix search changes a finding's fixes, never whether it fires); None when ``rules`` leave out
    an error rule, whose sites only a run of it can tell."""
    codes = {rule.code for rule in rules}
    errors = {rule.code for rule in _error_rules()}
    if not errors <= codes:
        return None
    return {(finding.code, finding.layer) for finding in findings if finding.code in errors}


def _shift(fix: Fix) -> list[tuple[int, int]]:
    """(index, +1 or −1) for every layer the fix inserts before or removes: how later indices move."""
    shifts = []
    for edit in fix.edits:
        index = layer_index(edit.path)
        if index is not None and (edit.insert is not None or edit.remove):
            shifts.append((index, -1 if edit.remove else 1))
    return shifts


def _moved(site: ErrorSite, shifts: list[tuple[int, int]]) -> ErrorSite:
    code, layer = site
    if layer is None:
        return site
    return code, layer + sum(step for index, step in shifts if layer >= index)


def _validated(data: dict[str, Any], known: Mapping[int, AnyLayer]) -> Network:
    """A fixed spec (JSON data made from a valid network) validated by kind: one that does not validate is not
    a fix, and why is never shown, so the union's validator (and its messages) is never built for it. The
    layers the fix left as they were are ``known`` (see :func:`~convcalc.spec.validate_by_kind`)."""
    network = validate_by_kind(data, known)
    if network is None:
        raise ValueError("the fixed spec does not validate")
    return network


class FixChecker:
    """Checks fixes of one network, remembering each verdict (several findings may offer the same fix)."""

    def __init__(
        self, network: Network, facts: NetworkFacts, settings: Settings, before: set[ErrorSite] | None = None
    ) -> None:
        self.network = network
        self._layer_data: list[dict[str, Any] | None] = [None] * len(network.layers)
        """Each layer's JSON data, dumped when a fix that edits only layers first edits it (most fixes)."""
        self._base = facts
        """What the incremental checks start from (its receptive fields are kept: no error rule reads them)."""
        self.settings = settings
        self.before = error_sites(facts, settings) if before is None else before
        """The network's own error sites (``before``: already known, see :func:`known_error_sites`)."""
        self._quiet = settings._replace(fixes=False)
        rules = _error_rules()
        self._local = [rule for rule in rules if rule.layer_check is not None]
        self._whole = [rule for rule in rules if rule.layer_check is None]
        local = {rule.code for rule in self._local}
        self._before_local = {site for site in self.before if site[0] in local}
        self.verdicts: dict[tuple[str, str, int | None], Fix | None] = {}
        """Each fix's verdict, by its record and the finding it is offered for (a pair must clear that one)."""
        self.layers = len(facts.layers)
        self.spent = 0
        """Layers re-analysed so far (each check and each pair counts the whole network)."""

    # A fix checked incrementally keeps every layer's kind and inputs: the graph, and so who reads whom and which
    # layers reach the output, stays the base's. Found when a first fix is checked so (not for a checker whose
    # fixes are all refused or checked whole: a walk of every layer each).

    @functools.cached_property
    def _readers(self) -> dict[int, list[int]]:
        return readers_of(self._base)

    @functools.cached_property
    def _live(self) -> set[int]:
        return reaching_output(self._base)

    @functools.cached_property
    def spec(self) -> dict[str, Any]:
        """The whole spec as JSON data, dumped when a fix first needs more than the layers it edits."""
        return network_data(self.network)

    @functools.cached_property
    def _known(self) -> dict[int, AnyLayer]:
        """The network's layers by their objects in ``spec``, which keeps them alive (the fixes' ``known``)."""
        return layers_by_object(self.spec, self.network)

    def affordable(self, fixes: int, budget: int) -> bool:
        """Whether checking ``fixes`` more fixes stays within ``budget`` re-analysed layers."""
        return self.spent + fixes * self.layers <= budget

    def _after(self, fix: Fix) -> tuple[NetworkFacts, set[ErrorSite]] | None:
        """The network with the fix applied, and its error sites; None when the fix does not even validate."""
        self.spent += self.layers
        try:
            changed, incremental = self._changed(fix)
        except (ValidationError, FigureLimitError, ValueError, IndexError, KeyError):
            return None
        return changed, self._sites(changed) if incremental else error_sites(changed, self.settings)

    def _sites(self, changed: NetworkFacts) -> set[ErrorSite]:
        """``error_sites(changed)`` for facts that :func:`~convcalc.analysis.reanalyze` made from the base: the
        local rules run again on the layers whose facts changed and on those that read them through padding
        (:attr:`~convcalc.rules.base.Rule.layer_check`); everywhere else their findings are the base's. The
        rules that read the whole network run in full."""
        touched = [
            i for i, (was, now) in enumerate(zip(self._base.layers, changed.layers, strict=True)) if was is not now
        ]
        scope = padding_after(changed, touched, self._readers)
        sites = {site for site in self._before_local if site[1] not in scope}
        for rule in self._local:
            layers = sorted(scope if rule.judges_dead_branches else scope & self._live)
            sites.update((finding.code, finding.layer) for finding in rule.run_at(changed, layers, self._quiet))
        for rule in self._whole:
            sites.update(
                (finding.code, finding.layer)
                for finding in rule.run(changed, self._quiet)
                if finding.layer is None or finding.layer in self._live or rule.judges_dead_branches
            )
        return sites

    def _changed(self, fix: Fix) -> tuple[NetworkFacts, bool]:
        """The facts of the network with the fix applied (receptive fields not computed), and whether they were
        re-analysed incrementally. A fix that only sets fields of layers keeping their kind, name and inputs
        (most fixes) is validated and analysed in those layers alone (:func:`~convcalc.analysis.reanalyze`);
        any other is checked on the whole spec again."""
        indices = [layer_index(edit.path) for edit in fix.edits]
        if fix.insert is not None or fix.remove or None in indices:
            return self._analyse_whole(fix), False
        edited = sorted({i for i in indices if i is not None})
        for i in edited:
            if self._layer_data[i] is None:
                self._layer_data[i] = self.network.layers[i].model_dump(mode="json", exclude_defaults=True)
        # The edited layers' data alone, each where its index says: apply_fix copies only the objects it edits.
        new = apply_fix({"layers": self._layer_data}, fix)["layers"]
        layers = list(self.network.layers)
        for i in edited:
            layer = validate_layer(new[i])
            was = layers[i]
            if (layer.kind_name, layer.name, layer.inputs) != (was.kind_name, was.name, was.inputs):
                return self._analyse_whole(fix), False
            layers[i] = layer
        return reanalyze(self._base, self.network.model_copy(update={"layers": layers}), edited), True

    def _analyse_whole(self, fix: Fix) -> NetworkFacts:
        """The facts of the whole spec with the fix applied, validated and analysed again. A fix that would take
        the spec past :data:`~convcalc.spec.MAX_LAYERS` does not validate: it is refused before the whole spec is
        dumped for it (a spec at the limit, where the dump is the costliest)."""
        grown = sum(step for _, step in _shift(fix))
        if len(self.network.layers) + grown > MAX_LAYERS:
            raise ValueError(f"the fixed spec would have more than {MAX_LAYERS:,} layers")
        return analyze(_validated(apply_fix(self.spec, fix), self._known), receptive_fields=False)

    def new_errors(self, fix: Fix) -> tuple[NetworkFacts, set[ErrorSite]] | None:
        """The errors the fix would bring (None: it breaks the spec itself)."""
        after = self._after(fix)
        if after is None:
            return None
        changed, sites = after
        shifts = _shift(fix)
        return changed, sites - {_moved(site, shifts) for site in self.before}

    def check(self, fix: Fix, finding: Finding) -> Fix | None:
        """The fix of ``finding`` as it may be offered: itself, paired with a second change, or None."""
        key = (repr(fix.record()), finding.code, finding.layer)
        if key not in self.verdicts:
            self.verdicts[key] = self._verdict(fix, finding)
        return self.verdicts[key]

    def _verdict(self, fix: Fix, finding: Finding) -> Fix | None:
        result = self.new_errors(fix)
        if result is None:
            return None
        changed, new = result
        if not new:
            return fix  # a rule offers a fix that clears its finding (computed on the layer's own figures)
        if len(new) != 1 or fix.insert is not None or fix.remove:
            return None
        # One new error further down: offer the pair when one of that error's own fixes clears it.
        code, layer = next(iter(new))
        rule = REGISTRY[code]
        partners = [f for f in rule.run(changed, self.settings) if f.layer == layer]
        for partner in (p for found in partners for p in found.fixes[:PARTNERS]):
            if partner.insert is not None or partner.remove or partner.also or _undoes(partner, fix):
                continue
            pair = Fix(
                f"{fix.title}, and {changed.layers[layer].name if layer is not None else 'then'}: {partner.title}",
                fix.path,
                fix.set,
                also=(*fix.also, Edit(partner.path, partner.set)),
            )
            paired = self.new_errors(pair)
            if paired is not None and not paired[1] and self._clears(paired[0], finding):
                return pair
        return None

    def _clears(self, changed: NetworkFacts, finding: Finding) -> bool:
        """Whether the network a pair made (``changed``) is rid of ``finding``. The second change works on what
        the first left, and may bring the finding back: a conv's new input size that its own stride no longer
        divides. Pairs are few, so the network is analysed whole, receptive fields included (a warning's rule
        may read them), and the finding's rule run on it (counted against the budget as a check)."""
        self.spent += self.layers
        facts = analyze(changed.network)
        return all(found.layer != finding.layer for found in run_rules(facts, [REGISTRY[finding.code]], self._quiet))


def _undoes(partner: Fix, fix: Fix) -> bool:
    """Whether ``partner`` sets a key that ``fix`` sets on the same object: as the second change of a pair it
    would overwrite the first (S=1×2 set back to 2, where TensorFlow takes only equal strides)."""
    keys = {(edit.path, key) for edit in fix.edits for key in edit.set}
    return any((partner.path, key) in keys for key in partner.set)


class CheckedFixes(NamedTuple):
    """The findings with their checked fixes, and how many findings lost theirs to the budget."""

    findings: list[Finding]
    unchecked: int = 0
    """Findings whose fixes were withheld: checking them would have passed CHECK_BUDGET."""


def safe_fixes(
    network: Network,
    facts: NetworkFacts,
    findings: Iterable[Finding],
    settings: Settings,
    budget: int = CHECK_BUDGET,
    before: set[ErrorSite] | None = None,
) -> CheckedFixes:
    """The findings with only the fixes that leave the network with no new error (some of them paired).

    Findings are checked in the order given until ``budget`` layers have been re-analysed; later findings
    keep no fix (a fix that was not checked is never offered). ``before``: the network's error sites when
    they are known (:func:`known_error_sites`), else the error rules run once more to find them."""
    checker: FixChecker | None = None
    kept = []
    unchecked = 0
    for finding in findings:
        if not finding.fixes:
            kept.append(finding)
            continue
        checker = checker or FixChecker(network, facts, settings, before)
        if not checker.affordable(len(finding.fixes), budget):
            unchecked += 1
            kept.append(dataclasses.replace(finding, fixes=()))
            continue
        fixes: dict[str, Fix] = {}
        for offered in finding.fixes:
            fix = checker.check(offered, finding)
            if fix is not None:
                fixes.setdefault(repr(fix.record()), fix)  # a pair may equal another offer
        kept.append(dataclasses.replace(finding, fixes=tuple(fixes.values())))
    return CheckedFixes(kept, unchecked)
