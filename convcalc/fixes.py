"""Applying a finding's fix to a spec (as JSON data): the contract the fix tests and editors rely on."""

from __future__ import annotations

import copy
import re
from typing import Any

from convcalc.findings import Fix

_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)|\[(\d+)\]")


def apply_fix(spec: dict[str, Any], fix: Fix) -> dict[str, Any]:
    """A copy of ``spec`` with ``fix.set`` applied to the object at ``fix.path``.

    An ``input`` written as ``[H, W, D]`` is rewritten as an object first, so ``{"height": 224}`` applies.

    >>> apply_fix({"input": [10, 10, 3], "layers": [{"type": "relu"}]}, Fix("", "input", {"height": 11}))
    {'input': {'height': 11, 'width': 10, 'channels': 3}, 'layers': [{'type': 'relu'}]}
    """
    result = copy.deepcopy(spec)
    if isinstance(result.get("input"), list) and len(result["input"]) == 3:
        height, width, channels = result["input"]
        result["input"] = {"height": height, "width": width, "channels": channels}
    target: Any = result
    for match in _PATH_PART.finditer(fix.path):
        key, index = match.groups()
        target = target[key] if key is not None else target[int(index)]
    if not isinstance(target, dict):
        raise ValueError(f"fix path {fix.path!r} does not name an object")
    target.update(copy.deepcopy(fix.set))
    return result
