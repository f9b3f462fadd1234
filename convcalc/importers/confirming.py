"""What every importer shares: the errors that refuse one layer or node, and the tail: the walk's problems, then
validate the spec, then confirm it against what the model file records (each importer's own check), refusing
rather than returning a spec that disagrees."""

from __future__ import annotations

from typing import Any, Protocol

from convcalc.analysis import NetworkFacts, analyze
from convcalc.loading import Problem, SpecError, capped, validate

UNFORESEEN = (ArithmeticError, AssertionError, IndexError, KeyError, TypeError, ValueError)
"""What a reader raises on a layer or node it did not foresee (an index past a shape it lacks, a config value of
another type): each importer refuses that layer or node by name instead of a traceback."""


def rearranged_output(layout: str, steps: str) -> str:
    """Why a model whose output is a step of a rearranging pattern (``layout``) is refused; ``steps`` are the
    file's names for such steps."""
    return (
        f"the model's output is a step of a rearrangement ({layout}: a {steps} that convcalc reads only as part of"
        " a pattern), not a volume or vector"
    )


class Importer(Protocol):
    """What :func:`confirmed` needs of an importer after its walk."""

    @property
    def problems(self) -> list[Problem]: ...

    def report(self) -> list[Problem]:
        """The walk's problems as the user sees them (capped, with a hint where an op or class is unknown)."""
        ...

    def translate(self, problem: Problem) -> Problem:
        """A validation problem of the spec, placed in the model file."""
        ...

    def confirm(self, facts: NetworkFacts) -> list[Problem]:
        """Where convcalc's figures disagree with what the file records."""
        ...


def confirmed(file: str, spec: dict[str, Any] | None, importer: Importer) -> dict[str, Any]:
    """``spec`` once it validates and agrees with the file; else :class:`SpecError` with the importer's words."""
    if importer.problems:
        raise SpecError(file, importer.report())
    assert spec is not None
    try:
        network = validate(file, spec)
    except SpecError as exc:
        raise SpecError(file, [importer.translate(p) for p in exc.problems]) from None
    problems = importer.confirm(analyze(network))
    if problems:
        raise SpecError(file, capped(problems))
    return spec
