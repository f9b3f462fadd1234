"""Unique spec layer names for the importers: a framework's names, made unique in linear time."""

from __future__ import annotations

from dataclasses import dataclass, field

from convcalc.spec import INPUT_NAME


@dataclass
class UniqueNames:
    """Hands out names no other layer (nor the input) has: ``name``, else ``name_2``, ``name_3`` …"""

    taken: set[str] = field(default_factory=lambda: {INPUT_NAME})
    suffixes: dict[str, int] = field(default_factory=dict)
    """The last n of ``<name>_<n>`` given each name: 10,000 layers named "a" cost 10,000 steps, not 50 million."""

    def take(self, name: str) -> str:
        candidate, n = name, self.suffixes.get(name, 1)
        while candidate in self.taken:
            n += 1
            candidate = f"{name}_{n}"
        self.suffixes[name] = n
        self.taken.add(candidate)
        return candidate
