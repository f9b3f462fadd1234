"""The tail every importer shares: the walk's problems, then validate the spec, then confirm it against what the
model file records (each importer's own check), refusing rather than returning a spec that disagrees."""

from __future__ import annotations

from typing import Any, Protocol

from convcalc.analysis import NetworkFacts, analyze
from convcalc.loading import Problem, SpecError, capped, validate


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
