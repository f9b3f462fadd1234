"""The record every renderer takes: one spec after analysis and linting.

A leaf of the pipeline: it holds facts and findings and knows where each finding sits in the file, but
imports no rule, so renderers depend on the record and not on the rules that filled it.
"""

from __future__ import annotations

from typing import NamedTuple

from convcalc.analysis import NetworkFacts
from convcalc.findings import Finding
from convcalc.loading import SourceMap
from convcalc.memory import TrainingMemory


class CheckedSpec(NamedTuple):
    """One spec after analysis and linting: the record every renderer takes."""

    file: str
    facts: NetworkFacts
    findings: list[Finding]
    source: SourceMap
    memory: TrainingMemory | None = None
    """The training-memory estimate at the configured batch size and dtype."""
    config_file: str | None = None
    """The config file whose settings applied (``--config`` or the one found above the spec); None: none did."""
    unchecked_fixes: int = 0
    """Findings shown without fixes because checking every fix on so large a network would take too long."""

    def position(self, finding: Finding) -> tuple[int, int] | None:
        """Line and column (1-based) of the finding's layer object in the file, if known."""
        path: tuple[str | int, ...] = ("layers", finding.layer) if finding.layer is not None else ()
        return self.source.locate(path)

    def layer_label(self, finding: Finding) -> str:
        if finding.layer is None:
            return "network"
        return self.facts.layers[finding.layer].label
