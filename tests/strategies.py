"""Hypothesis strategies shared by the test modules (one place, like attrs keeps them)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

MAX_SIZE = 2**31 - 1

# --- arithmetic -----------------------------------------------------------------------------------

sizes = st.integers(min_value=1, max_value=300)
kernels = st.integers(min_value=1, max_value=40)
strides = st.integers(min_value=1, max_value=12)
pads = st.integers(min_value=0, max_value=15)
counts = st.integers(min_value=1, max_value=5_000)


@st.composite
def windows(draw: st.DrawFn) -> tuple[int, int, int, int, int]:
    """(W, F, S, P_before, P_after) for one spatial axis; the window may or may not fit."""
    return (draw(sizes), draw(kernels), draw(strides), draw(pads), draw(pads))


window_stacks = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=7),  # F
        st.integers(min_value=1, max_value=4),  # S
        st.integers(min_value=0, max_value=3),  # P_before
    ),
    min_size=0,
    max_size=6,
)
"""A stack of 1-D windows (F, S, P_before), applied in order to the input."""

# --- specs ------------------------------------------------------------------------------------------

small = st.integers(min_value=1, max_value=64)
names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
    min_size=1,
    max_size=20,
)


def int_or_pair(values: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    return st.one_of(values, st.lists(values, min_size=2, max_size=2))


paddings = st.one_of(
    st.integers(min_value=0, max_value=8),
    st.lists(st.integers(min_value=0, max_value=8), min_size=2, max_size=2),
    st.sampled_from(["same", "valid"]),
)


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


@st.composite
def layer_dicts(draw: st.DrawFn, kinds: tuple[str, ...] = ("conv", "pool", "fc", "relu", "flatten")) -> dict[str, Any]:
    """One valid layer object of a random kind, with a random subset of its optional keys."""
    kind = draw(st.sampled_from(kinds))
    layer: dict[str, Any] = {"type": kind}
    if kind == "conv":
        layer["filters"] = draw(small)
        layer["kernel"] = draw(int_or_pair(st.integers(1, 7)))
        layer.update(
            draw(
                _optional(
                    stride=int_or_pair(st.integers(1, 4)),
                    padding=paddings,
                    bias=st.booleans(),
                    groups=st.integers(1, 4),  # not always dividing the channels: CC104's error
                    dilation=int_or_pair(st.integers(1, 3)),
                )
            )
        )
    elif kind == "pool":
        layer["kernel"] = draw(int_or_pair(st.integers(1, 4)))
        layer.update(
            draw(
                _optional(
                    mode=st.sampled_from(["max", "avg", "l2"]),
                    stride=int_or_pair(st.integers(1, 4)),
                    padding=paddings,
                )
            )
        )
    elif kind == "fc":
        layer["units"] = draw(small)
        layer.update(draw(_optional(bias=st.booleans())))
    layer.update(draw(_optional(name=names)))
    return layer


input_shapes = st.one_of(
    st.lists(st.integers(1, 64), min_size=3, max_size=3),
    st.fixed_dictionaries({"height": st.integers(1, 64), "width": st.integers(1, 64), "channels": st.integers(1, 8)}),
)


@st.composite
def spec_dicts(draw: st.DrawFn, max_layers: int = 8) -> dict[str, Any]:
    """A spec that validates: every layer kind, every padding form, optional names and classes.

    It need not be a *good* network (windows may not fit); validity is about the schema.
    """
    spec: dict[str, Any] = {
        "input": draw(input_shapes),
        "layers": draw(st.lists(layer_dicts(), min_size=1, max_size=max_layers)),
    }
    spec.update(draw(_optional(name=names, classes=small)))
    # Layer names must be unique and not "input" (graph specs refer to layers by name).
    seen: set[str] = {"input"}
    for layer in spec["layers"]:
        if layer.get("name") in seen:
            del layer["name"]
        elif "name" in layer:
            seen.add(layer["name"])
    return spec


# --- JSON text --------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)

SPEC_WORDS = [
    "input",
    "layers",
    "name",
    "classes",
    "type",
    "conv",
    "pool",
    "fc",
    "relu",
    "flatten",
    "filters",
    "kernel",
    "stride",
    "padding",
    "bias",
    "units",
    "mode",
    "height",
    "width",
    "channels",
    "same",
    "valid",
]
spec_words = st.sampled_from(SPEC_WORDS)

json_values = st.recursive(
    st.one_of(json_scalars, spec_words),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(spec_words, st.text(max_size=5)), children, max_size=5),
    ),
    max_leaves=20,
)
"""Arbitrary JSON values, biased towards the spec's vocabulary so validation goes deep."""


@st.composite
def spec_like_values(draw: st.DrawFn) -> Any:
    """Something shaped like a spec (input, layers of typed objects) with arbitrary values inside."""
    layer = st.dictionaries(spec_words, st.one_of(json_values, small, spec_words), max_size=6).map(
        lambda d: {"type": d.pop("type", "conv"), **d}
    )
    spec = draw(
        st.fixed_dictionaries(
            {"input": st.one_of(json_values, input_shapes), "layers": st.lists(layer, max_size=4)},
            optional={"classes": json_values, "name": json_values},
        )
    )
    return spec


WHITESPACE = st.lists(st.sampled_from([" ", "\t", "\n", "\r\n"]), max_size=4).map("".join)


@st.composite
def formatted_json(draw: st.DrawFn, value: Any) -> tuple[str, dict[int, int]]:
    """``value`` as JSON text with random whitespace between tokens.

    Returns the text and, for each element of the top-level ``layers`` array, the offset of its ``{``.
    """
    parts: list[str] = []
    offsets: dict[int, int] = {}

    def ws() -> None:
        parts.append(draw(WHITESPACE))

    def emit(node: Any, path: tuple[Any, ...]) -> None:
        if len(path) == 2 and path[0] == "layers" and isinstance(node, dict):
            offsets[path[1]] = sum(len(p) for p in parts)
        if isinstance(node, dict):
            parts.append("{")
            for i, (key, child) in enumerate(node.items()):
                if i:
                    parts.append(",")
                ws()
                parts.append(json.dumps(key, ensure_ascii=draw(st.booleans())))
                ws()
                parts.append(":")
                ws()
                emit(child, (*path, key))
                ws()
            parts.append("}")
        elif isinstance(node, list):
            parts.append("[")
            for i, child in enumerate(node):
                if i:
                    parts.append(",")
                ws()
                emit(child, (*path, i))
                ws()
            parts.append("]")
        else:
            parts.append(json.dumps(node, ensure_ascii=draw(st.booleans())))

    ws()
    emit(value, ())
    ws()
    return "".join(parts), offsets
