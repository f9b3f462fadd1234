"""convcalc: CNN shape and parameter calculator with static analysis.

The library in one call: ``convcalc.check(source) -> Report`` for a spec or model file, spec data, a
``convcalc.Network`` built in Python, or a Keras model in memory. Importing convcalc loads nothing else: each
public name is imported on first use (PEP 562), so ``convcalc --version`` and ``import convcalc`` stay cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

TYPE_CHECKING = False  # typing's constant, without importing typing (mypy reads the name the same way)
if TYPE_CHECKING:
    from typing import Any

    from convcalc.api import Report as Report
    from convcalc.api import check as check
    from convcalc.building import InvalidSpec as InvalidSpec
    from convcalc.building import Layer as Layer
    from convcalc.building import Network as Network

_HOMES = {
    "check": "convcalc.api",
    "Report": "convcalc.api",
    "InvalidSpec": "convcalc.building",
    "Layer": "convcalc.building",
    "Network": "convcalc.building",
}
"""Each public name → the module defining it; the layer kinds' constructors (``Conv``, ``Pool`` …) come from
:data:`convcalc.building.CONSTRUCTORS`, generated from the registry."""


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    elif name == "__all__":
        value = _public_names()
    elif name[:1].isupper():
        constructors = importlib.import_module("convcalc.building").CONSTRUCTORS
        if name not in constructors:
            raise AttributeError(f"module 'convcalc' has no attribute {name!r}")
        value = constructors[name]
    else:
        raise AttributeError(f"module 'convcalc' has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def _public_names() -> list[str]:
    constructors = importlib.import_module("convcalc.building").CONSTRUCTORS
    return sorted([*_HOMES, *constructors])


def __dir__() -> list[str]:
    return sorted({*globals(), *_public_names()})
