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
class Edit:
    """One change to a spec: set ``set``'s keys on the object at ``path``; or, for a layer, insert ``insert`` (a
    layer object) right before it, so that it reads what the layer read and the layer reads it; or remove it."""

    path: str
    set: dict[str, Any] = field(default_factory=dict)
    insert: dict[str, Any] | None = None
    remove: bool = False

    def record(self) -> dict[str, Any]:
        """The JSON form: ``path`` and ``set``, plus ``insert`` or ``remove`` where the edit has them."""
        record: dict[str, Any] = {"path": self.path, "set": self.set}
        if self.insert is not None:
            record["insert"] = self.insert
        if self.remove:
            record["remove"] = True
        return record


@dataclass(frozen=True)
class Fix:
    """A concrete, re-computed change: set ``set``'s keys on the spec object at ``path`` (the contract every
    fix keeps), and the further edits a fix may need (``insert``, ``remove``, and ``also``: other objects changed
    together, where one change needs a second to keep the network sound)."""

    title: str
    path: str
    """``layers[0]``, ``input`` … the JSON path of the object to change."""
    set: dict[str, Any] = field(default_factory=dict)
    insert: dict[str, Any] | None = None
    """A layer to insert right before the layer at ``path`` (it reads what that layer read)."""
    remove: bool = False
    """Remove the layer at ``path`` (the layers that read it read its input instead)."""
    also: tuple[Edit, ...] = ()

    @property
    def edits(self) -> tuple[Edit, ...]:
        """Every edit of the fix, the main one first."""
        return (Edit(self.path, self.set, self.insert, self.remove), *self.also)

    def record(self) -> dict[str, Any]:
        """The JSON form: ``title``, ``path``, ``set`` always; ``insert``, ``remove``, ``also`` where used."""
        record: dict[str, Any] = {"title": self.title, **self.edits[0].record()}
        if self.also:
            record["also"] = [edit.record() for edit in self.also]
        return record


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
