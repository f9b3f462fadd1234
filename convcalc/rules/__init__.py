"""Lint rules, one small module per rule or family. Importing this package registers every rule in
:data:`REGISTRY`; the machinery is in :mod:`~convcalc.rules.base`, the fix search in
:mod:`~convcalc.rules.fixing` and the graph walks in :mod:`~convcalc.rules.graph`."""

from convcalc.rules import (  # noqa: F401  (each module registers its rules)
    buildable,
    cost,
    fit,
    gates,
    groups,
    kernels,
    merges,
    nonlinearity,
    order,
    output,
    padding,
    pools,
    skips,
    slicing,
    strides,
    transpose,
    unused,
)
from convcalc.rules.base import REGISTRY, Hit, Rule, Settings, rule, run_rules

__all__ = ["REGISTRY", "Hit", "Rule", "Settings", "rule", "run_rules"]
