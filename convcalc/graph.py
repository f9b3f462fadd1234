"""Which layer reads which: resolving ``inputs`` names, and the problems a graph can have as data.

A sequential spec stays what it was (each layer reads the previous one). A layer may instead name the
layers it reads in ``inputs``; ``"input"`` is the network's input volume. Layers may read only earlier
layers, which also rules out cycles.
"""

from __future__ import annotations

import difflib
from collections import deque
from itertools import islice

from convcalc.spec import INPUT_NAME, Network
from convcalc.text import article

NETWORK_INPUT = -1
"""The producer index of the network's input volume."""

GraphProblem = tuple[tuple[str | int, ...], str]


def producers(network: Network) -> list[tuple[int, ...]]:
    """For every layer, the indices of the layers it reads (``NETWORK_INPUT`` for the input).

    Robust on unvalidated graphs: an unknown or later name falls back to the previous layer, so the
    analysis never raises (``graph_problems`` reports those names).
    """
    index_of: dict[str, int] = {}
    result: list[tuple[int, ...]] = []
    for i, layer in enumerate(network.layers):
        if layer.inputs is None:
            result.append((i - 1,))
        else:
            result.append(
                tuple(NETWORK_INPUT if name == INPUT_NAME else index_of.get(name, i - 1) for name in layer.inputs)
            )
        if layer.name is not None:
            index_of.setdefault(layer.name, i)
    return result


MAX_SUGGESTIONS = 20
"""Unknown names that get a "did you mean": each is a difflib search, so a spec of 2,000 typos costs 20."""
SUGGESTION_CANDIDATES = 1000
"""The earlier names a "did you mean" looks through: the nearest ones before the layer (an unknown name is
most often a typo of a recent one)."""


def graph_problems(network: Network, most: int | None = None) -> list[GraphProblem]:
    """Duplicate or reserved names, unknown or forward references, and merges without enough inputs.

    Linear in the layers and their inputs; stops after ``most`` problems when given."""
    problems: list[GraphProblem] = []
    first_index: dict[str, int] = {}
    recent: deque[str] = deque(maxlen=SUGGESTION_CANDIDATES)
    all_names: dict[str, int] = {}
    for i, layer in enumerate(network.layers):
        if layer.name:
            all_names.setdefault(layer.name, i)
    suggested = 0
    for i, layer in enumerate(network.layers):
        if most is not None and len(problems) >= most:
            break
        if layer.inputs is not None:
            for j, name in enumerate(layer.inputs):
                path: tuple[str | int, ...] = ("layers", i, "inputs", j)
                if name == INPUT_NAME or name in first_index:
                    continue
                if name in all_names:
                    problems.append(
                        (
                            path,
                            f"names layers[{all_names[name]}] {name!r}, which comes later: a layer may only read"
                            " earlier layers (list layers in order; cycles are not allowed)",
                        )
                    )
                else:
                    hint = ""
                    if suggested < MAX_SUGGESTIONS:
                        suggested += 1
                        close = difflib.get_close_matches(name, [*recent, INPUT_NAME], n=1)
                        hint = f" (did you mean {close[0]!r}?)" if close else ""
                    known = ", ".join(repr(n) for n in [INPUT_NAME, *islice(first_index, 11)])
                    problems.append((path, f"unknown layer {name!r}{hint}; earlier names: {known}"))
        count = len(layer.inputs) if layer.inputs is not None else 1
        if layer.traits.merge and count < 2:
            problems.append(
                (("layers", i, "inputs"), f"{layer.type} needs 'inputs' naming at least two layers (got {count})")
            )
        elif layer.inputs_exactly is not None and count != layer.inputs_exactly:
            problems.append(
                (("layers", i, "inputs"), f"{layer.type} reads exactly {layer.inputs_exactly} inputs (got {count})")
            )
        elif not layer.traits.merge and count != 1:
            problems.append(
                (
                    ("layers", i, "inputs"),
                    f"{article(layer.type)} {layer.type} layer reads exactly one input (got {count})",
                )
            )
        if layer.name is not None:
            if layer.name == INPUT_NAME:
                problems.append((("layers", i, "name"), f"{INPUT_NAME!r} is reserved for the network's input volume"))
            elif layer.name in first_index:
                problems.append(
                    (
                        ("layers", i, "name"),
                        f"duplicate layer name {layer.name!r} (first used by layers[{first_index[layer.name]}])",
                    )
                )
            else:
                first_index[layer.name] = i
                recent.append(layer.name)
    return problems if most is None else problems[:most]
