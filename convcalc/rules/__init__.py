"""Lint rules. Importing this package registers every rule in :data:`REGISTRY`."""

from convcalc.rules import architecture, cost, magic, shape  # noqa: F401  (registers the rules)
from convcalc.rules.base import REGISTRY, Hit, Rule, Settings, rule, run_rules

__all__ = ["REGISTRY", "Hit", "Rule", "Settings", "rule", "run_rules"]
