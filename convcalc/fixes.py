"""Applying a finding's fix to a spec (as JSON data): the contract the fix tests and editors rely on.

Every fix sets keys on the object at its ``path``; some also insert a layer before that layer, remove it, or
change other objects together (``also``). The paths all name objects of the spec as it was before the fix.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from convcalc.findings import Edit, Fix

_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)|\[(\d+)\]")
LAYER_PATH = re.compile(r"layers\[(\d+)\]\Z")
"""A path naming one layer: ``layers[3]``."""


def apply_fix(spec: dict[str, Any], fix: Fix) -> dict[str, Any]:
    """A copy of ``spec`` with every edit of ``fix`` applied: the ``set``s first, then removals and insertions
    from the last layer up, so that every path keeps naming what it named.

    An ``input`` written as ``[H, W, D]`` is rewritten as an object first, so ``{"height": 224}`` applies.

    >>> apply_fix({"input": [10, 10, 3], "layers": [{"type": "relu"}]}, Fix("", "input", {"height": 11}))
    {'input': {'height': 11, 'width': 10, 'channels': 3}, 'layers': [{'type': 'relu'}]}
    >>> spec = {"input": [4, 4, 1], "layers": [{"type": "fc", "units": 2}, {"type": "fc", "units": 1}]}
    >>> apply_fix(spec, Fix("", "layers[1]", insert={"type": "relu"}))["layers"]
    [{'type': 'fc', 'units': 2}, {'type': 'relu'}, {'type': 'fc', 'units': 1}]
    """
    # Copy on write: only the objects on an edited path are copied (a fix re-checked on a network of
    # 10,000 layers must not copy all of them); everything else is shared with ``spec``, never changed.
    result = dict(spec)
    if isinstance(result.get("layers"), list):
        result["layers"] = list(result["layers"])
    if isinstance(result.get("input"), list) and len(result["input"]) == 3:
        height, width, channels = result["input"]
        result["input"] = {"height": height, "width": width, "channels": channels}
    for edit in fix.edits:
        _object(result, edit.path).update(copy.deepcopy(edit.set))
    structural = [edit for edit in fix.edits if edit.insert is not None or edit.remove]
    for edit in sorted(structural, key=lambda edit: -_layer_index(edit)):
        if edit.remove:
            _remove(result["layers"], _layer_index(edit))
        if edit.insert is not None:
            _insert(result["layers"], _layer_index(edit), copy.deepcopy(edit.insert))
    return result


def _object(spec: dict[str, Any], path: str) -> dict[str, Any]:
    """The object at ``path``, each container on the way copied into its parent first (copy on write)."""
    target: Any = spec
    for match in _PATH_PART.finditer(path):
        key, index = match.groups()
        where: str | int = key if key is not None else int(index)
        child = target[where]
        if isinstance(child, (dict, list)):
            child = target[where] = copy.copy(child)
        target = child
    if not isinstance(target, dict):
        raise ValueError(f"fix path {path!r} does not name an object")
    return target


def layer_index(path: str) -> int | None:
    """The index of the layer ``path`` names, or None for a path that names anything else.

    >>> layer_index("layers[3]"), layer_index("layers[3].padding"), layer_index("input")
    (3, None, None)
    """
    match = LAYER_PATH.fullmatch(path)
    return None if match is None else int(match.group(1))


def _layer_index(edit: Edit) -> int:
    index = layer_index(edit.path)
    if index is None:
        raise ValueError(f"fix path {edit.path!r} does not name a layer, so nothing can be inserted or removed there")
    return index


def _insert(layers: list[dict[str, Any]], index: int, layer: dict[str, Any]) -> None:
    # The new layer reads what the layer at ``index`` read; that layer reads the new one.
    before = layers[index] = dict(layers[index])
    if "inputs" in before:
        layer["inputs"] = before["inputs"]
        before["inputs"] = [layer["name"]]
    layers.insert(index, layer)


def _remove(layers: list[dict[str, Any]], index: int) -> None:
    # Only a layer no other layer names is removed; those after it read its input in its place.
    gone = layers.pop(index)
    if "inputs" in gone and index < len(layers) and "inputs" not in layers[index]:
        layers[index] = {**layers[index], "inputs": gone["inputs"]}
