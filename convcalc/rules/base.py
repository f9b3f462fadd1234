"""The rule machinery: what a rule is, the registry, and running the selected rules over facts.

A rule is one decorated function in a category module. The decorator records its code, name,
severity, summary, a bad and a good example spec; the function's docstring is its rationale.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.findings import Finding, Fix, Severity
from convcalc.rules.graph import reaching_output


class Hit(NamedTuple):
    """What a rule's check yields: the layer (or None), the specific message, and fixes."""

    layer: int | None
    message: str
    fixes: tuple[Fix, ...] = ()


class Settings(NamedTuple):
    """Knobs some rules read (from the command line or a config file)."""

    activation_budget_bytes: int = 512 * 1024 * 1024
    """CC403 fires above this activation memory per example (float32)."""
    max_params: int | None = None
    """CC405: a CI gate on the total parameter count."""
    max_macs: int | None = None
    """CC405: a CI gate on the multiply-accumulates of one example."""
    max_memory_bytes: int | None = None
    """CC405: a CI gate on the training-memory estimate at ``batch`` and ``dtype``."""
    batch: int = 1
    dtype: str = "float32"
    fixes: bool = True
    """Search for fixes; off when a fix is itself being checked (only the findings matter then)."""


Check = Callable[[NetworkFacts, Settings], Iterable[Hit]]
LayerCheck = Callable[[NetworkFacts, LayerFacts, Settings], Hit | None]
"""A local rule's check of one layer: what it finds there (one finding at most; a plain call, no generator:
it runs on every layer), reading the facts of that layer and of the padding and
shape-keeping layers right before it (:func:`~convcalc.rules.graph.padding_before`), never another layer's."""


class Rule(NamedTuple):
    """One lint rule: identity, documentation, examples and the check itself."""

    code: str
    name: str
    severity: Severity
    summary: str
    rationale: str
    bad: dict[str, Any]
    good: dict[str, Any]
    check: Check
    default_enabled: bool = True
    example_settings: Settings | None = None
    """Settings under which the bad example triggers (for rules that read a budget)."""
    tensorflow_refuses: bool = False
    """Its findings are layers TensorFlow cannot build at all (the exporter refuses them even with --force)."""
    judges_dead_branches: bool = False
    """It reports on layers whose output never reaches the network's output (the others stay quiet there: a
    branch nothing reads is CC308's, and its layers' other findings would only be noise)."""
    layer_check: LayerCheck | None = None
    """A local rule's check of one layer: the findings ``check`` makes on that layer (their fixes may be left
    out). The fix checks run it on the layers a fix changed, not over the whole network; None: a rule that
    reads the whole network (totals, the last layer), run in full."""

    def run(self, net: NetworkFacts, settings: Settings | None = None) -> Iterator[Finding]:
        for hit in self.check(net, settings or Settings()):
            yield self._finding(hit)

    def run_at(self, net: NetworkFacts, layers: Iterable[int], settings: Settings) -> Iterator[Finding]:
        """A local rule's findings on the given layers only (fixes may be left out)."""
        assert self.layer_check is not None, f"{self.code} is not local"
        for index in layers:
            hit = self.layer_check(net, net.layers[index], settings)
            if hit is not None:
                yield self._finding(hit)

    def _finding(self, hit: Hit) -> Finding:
        return Finding(self.code, self.severity, hit.layer, hit.message, self.name, hit.fixes)


REGISTRY: dict[str, Rule] = {}


def rule(
    code: str,
    name: str,
    severity: Severity,
    *,
    summary: str,
    bad: dict[str, Any],
    good: dict[str, Any],
    default_enabled: bool = True,
    example_settings: Settings | None = None,
    tensorflow_refuses: bool = False,
    judges_dead_branches: bool = False,
    layer_check: LayerCheck | None = None,
) -> Callable[[Check], Check]:
    """Register the decorated check as a rule; its docstring becomes the rationale. ``layer_check``: the
    check of one layer, for a rule that is local (see :attr:`Rule.layer_check`)."""

    def register(check: Check) -> Check:
        if code in REGISTRY:
            raise ValueError(f"duplicate rule code {code}")
        REGISTRY[code] = Rule(
            code=code,
            name=name,
            severity=severity,
            summary=summary,
            rationale=inspect.cleandoc(check.__doc__ or ""),
            bad=bad,
            good=good,
            check=check,
            default_enabled=default_enabled,
            example_settings=example_settings,
            tensorflow_refuses=tensorflow_refuses,
            judges_dead_branches=judges_dead_branches,
            layer_check=layer_check,
        )
        return check

    return register


def message_check(message: Callable[[NetworkFacts, LayerFacts], str | None]) -> LayerCheck:
    """The layer check of a rule whose network check counts its findings (to offer the costly fixes on the
    first few only): ``message`` says whether, and what, it finds on one layer; the hit carries no fix."""

    def check(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
        text = message(net, layer)
        return None if text is None else Hit(layer.index, text)

    return check


def layer_rule(
    code: str,
    name: str,
    severity: Severity,
    *,
    summary: str,
    bad: dict[str, Any],
    good: dict[str, Any],
    tensorflow_refuses: bool = False,
) -> Callable[[LayerCheck], Check]:
    """Register a local rule from its check of one layer (a :data:`LayerCheck`), and give back its network
    check, which runs that over every layer in order. The docstring becomes the rationale."""

    def register(layer_check: LayerCheck) -> Check:
        @functools.wraps(layer_check)
        def check(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
            for layer in net.layers:
                hit = layer_check(net, layer, settings)
                if hit is not None:
                    yield hit

        rule(
            code,
            name,
            severity,
            summary=summary,
            bad=bad,
            good=good,
            tensorflow_refuses=tensorflow_refuses,
            layer_check=layer_check,
        )(check)
        return check

    return register


def run_rules(net: NetworkFacts, rules: Iterable[Rule], settings: Settings | None = None) -> list[Finding]:
    """Every finding of the given rules, unsorted."""
    settings = settings or Settings()
    live = reaching_output(net)
    return [
        finding
        for r in rules
        for finding in r.run(net, settings)
        if finding.layer is None or finding.layer in live or r.judges_dead_branches
    ]
