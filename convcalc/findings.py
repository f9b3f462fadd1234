"""Findings as data: one record shape that every renderer turns into text, JSON, SARIF…"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

EXIT_OK = 0
"""No finding at or above the failure threshold."""
EXIT_FINDINGS = 1
"""At least one finding at or above the failure threshold (by default: an error)."""
EXIT_USAGE = 2
"""The spec could not be read or validated, or the command line was wrong."""


class Severity(str, Enum):
    """How bad a finding is; ``rank`` orders them (error highest)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "info": 1}[self.value]


@dataclass(frozen=True)
class Fix:
    """A concrete, re-computed change: set ``set``'s keys on the spec object at ``path``."""

    title: str
    path: str
    """``layers[0]``, ``input`` … the JSON path of the object to change."""
    set: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """One problem (or piece of advice) about one layer, or about the whole network when ``layer`` is None."""

    code: str
    severity: Severity
    layer: int | None
    message: str
    rule: str = ""
    """The rule's kebab-case name."""
    fixes: tuple[Fix, ...] = ()

    @property
    def sort_key(self) -> tuple[int, str]:
        return (-1 if self.layer is None else self.layer, self.code)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Sorted by (layer, code); network-wide findings first."""
    return sorted(findings, key=lambda f: f.sort_key)
