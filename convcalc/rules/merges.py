"""Merges: CC105 (add of different shapes), CC106 (concat of different H×W), CC110 (multiply of shapes that do
not broadcast), CC309 (misaligned fields)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

from convcalc.analysis import LayerFacts, NetworkFacts, Shape
from convcalc.arithmetic import INPUT_RECEPTIVE_FIELD
from convcalc.findings import Severity
from convcalc.layers.merge import broadcast_shape
from convcalc.rules.base import Hit, Settings, message_check, rule
from convcalc.rules.fixing import MERGE_FIXES, merge_fixes
from convcalc.text import fraction_text


def _merge_inputs(net: NetworkFacts, layer: LayerFacts) -> list[tuple[str, Shape]]:
    return [
        ("the input", net.input_shape) if source < 0 else (net.layers[source].label, net.layers[source].output_shape)
        for source in layer.inputs
    ]


def _shown(net: NetworkFacts, layer: LayerFacts) -> str:
    return "; ".join(f"{label}: {shape}" for label, shape in _merge_inputs(net, layer))


def _merge_hits(
    net: NetworkFacts,
    settings: Settings,
    message_of: Callable[[NetworkFacts, LayerFacts], str | None],
    fits: Callable[[list[Shape]], bool],
) -> Iterator[Hit]:
    """One hit per merge ``message_of`` finds wrong; the first MERGE_FIXES get fixes (a branch's stride or
    filters) under which ``fits`` holds for the merged shapes."""
    fixed = 0
    for layer in net.layers:
        message = message_of(net, layer)
        if message is None:
            continue
        fixed += 1
        fixes = merge_fixes(net, layer, fits) if settings.fixes and fixed <= MERGE_FIXES else ()
        yield Hit(layer.index, message, fixes)


def _add_message(net: NetworkFacts, layer: LayerFacts) -> str | None:
    if layer.type != "add" or any(s.empty for s in layer.input_shapes) or len(set(layer.input_shapes)) <= 1:
        return None
    return (
        f"add needs equal shapes but gets {_shown(net, layer)}; change the stride or filters of the branch that"
        " differs (or project the shortcut with a 1×1 conv)"
    )


def _concat_message(net: NetworkFacts, layer: LayerFacts) -> str | None:
    if layer.type != "concat" or any(s.empty for s in layer.input_shapes):
        return None
    if len({(s.height, s.width) for s in layer.input_shapes}) <= 1:
        return None
    return f"concat needs the same H×W on every input but gets {_shown(net, layer)}"


def _multiply_message(net: NetworkFacts, layer: LayerFacts) -> str | None:
    if layer.type != "multiply" or any(s.empty for s in layer.input_shapes):
        return None
    if broadcast_shape(layer.input_shapes) is not None:
        return None
    return f"multiply needs equal shapes or a 1×1×D gate over an H×W×D volume but gets {_shown(net, layer)}"


@rule(
    "CC105",
    "add-shapes-differ",
    Severity.ERROR,
    summary="An add merges volumes whose shapes differ.",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "stride": 2, "padding": 1, "name": "main"},
            {"type": "add", "inputs": ["main", "input"]},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "main"},
            {"type": "add", "inputs": ["main", "input"]},
        ],
    },
    tensorflow_refuses=True,
    layer_check=message_check(_add_message),
)
def add_shapes_differ(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that every input of an `add` has the same H×W×D.

    ## Why is this bad
    A residual connection adds values position by position and channel by channel; TensorFlow fails at
    build time ("Inputs have incompatible shapes"). Usually one branch downsamples (stride 2) or widens
    (more filters) and the shortcut does not.

    ## Use instead
    Give the shortcut the same stride and depth, typically a 1×1 conv with stride 2 and K filters (the
    ResNet "projection shortcut"), or drop the stride on the main branch.
    """
    yield from _merge_hits(net, settings, _add_message, lambda shapes: len(set(shapes)) == 1)


@rule(
    "CC106",
    "concat-sizes-differ",
    Severity.ERROR,
    summary="A concat joins volumes whose H×W differ.",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "pool", "kernel": 2, "name": "down"},
            {"type": "concat", "inputs": ["down", "input"]},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "pool", "kernel": 3, "stride": 1, "padding": "same", "name": "branch"},
            {"type": "concat", "inputs": ["branch", "input"]},
        ],
    },
    tensorflow_refuses=True,
    layer_check=message_check(_concat_message),
)
def concat_sizes_differ(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that every input of a `concat` has the same H×W (depths may differ: they add up).

    ## Why is this bad
    Concatenation stacks volumes along the depth, position by position; TensorFlow fails at build time
    ("A Concatenate layer requires inputs with matching shapes except for the concatenation axis").

    ## Use instead
    Give every branch the same total stride and "same" padding (the Inception block), or crop/upsample
    the larger one (the U-Net skip connection).
    """
    same_size = lambda shapes: len({(s.height, s.width) for s in shapes}) == 1  # noqa: E731
    yield from _merge_hits(net, settings, _concat_message, same_size)


@rule(
    "CC110",
    "multiply-shapes-differ",
    Severity.ERROR,
    summary="A multiply merges volumes that neither match nor broadcast (a 1×1×D gate over H×W×D).",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "global_pool", "mode": "avg", "name": "squeeze"},
            {"type": "conv", "filters": 8, "kernel": 1, "name": "gate"},
            {"type": "multiply", "inputs": ["input", "gate"]},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "global_pool", "mode": "avg", "name": "squeeze"},
            {"type": "conv", "filters": 4, "kernel": 1, "name": "gate"},
            {"type": "activation", "kind": "sigmoid", "name": "sigmoid"},
            {"type": "multiply", "inputs": ["input", "sigmoid"]},
        ],
    },
    tensorflow_refuses=True,
    layer_check=message_check(_multiply_message),
)
def multiply_shapes_differ(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Checks that the inputs of a `multiply` broadcast: along each of H, W and D their sizes agree or are 1.
    The usual cases are equal shapes and a 1×1×D gate scaling every position of an H×W×D volume
    (squeeze-and-excite).

    ## Why is this bad
    An elementwise product needs one value of each input per output value; TensorFlow fails at build time
    ("Inputs have incompatible shapes"). Usually the gate's last conv or fc has a different number of
    units than the volume it scales has channels.

    ## Use instead
    Give the gate's last layer as many filters or units as the gated volume has channels.
    """
    yield from _merge_hits(net, settings, _multiply_message, lambda shapes: broadcast_shape(shapes) is not None)


@rule(
    "CC309",
    "misaligned-merge",
    Severity.WARNING,
    summary="The branches merged here see receptive fields with different centres or jumps.",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 2, "padding": "same", "name": "shifted"},
            {"type": "add", "inputs": ["shifted", "input"]},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": "same", "name": "centred"},
            {"type": "add", "inputs": ["centred", "input"]},
        ],
    },
)
def misaligned_merge(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    At an `add` or `concat`, compares the receptive fields of the inputs: the centre of the first
    output's field (start) and the distance between neighbouring outputs (jump), per axis.

    ## Why is this bad
    Merging values whose fields are centred on different input pixels mixes features of neighbouring
    locations: the shortcut of a stride-2 block with an even kernel or asymmetric padding is shifted by
    half a pixel or more against the main branch. Networks train anyway, but the misalignment is a
    common, silent bug in hand-built graphs.

    ## Use instead
    Odd kernels with (F − 1)/2 padding on both branches, and the same total stride on each.
    """
    for layer in net.layers:
        if not layer.traits.merge or len(layer.inputs) < 2:
            continue
        # A broadcast 1×1 gate (squeeze-and-excite) has no grid of its own to align.
        fields = [
            field
            for field, shape in zip(_merge_fields(net, layer), layer.input_shapes, strict=True)
            if (shape.height, shape.width) == (layer.output_shape.height, layer.output_shape.width)
        ]
        if len(fields) < 2:
            continue
        first_label, (rows0, cols0) = fields[0]
        for label, (rows, cols) in fields[1:]:
            if (rows.start, rows.jump, cols.start, cols.jump) != (rows0.start, rows0.jump, cols0.start, cols0.jump):
                starts = f"{_both(rows0.start, cols0.start)} vs {_both(rows.start, cols.start)}"
                jumps = f"{_both(rows0.jump, cols0.jump)} vs {_both(rows.jump, cols.jump)}"
                yield Hit(
                    layer.index,
                    f"{first_label} and {label} are centred differently: start {starts} input pixels, jump {jumps}:"
                    " the merge mixes features of different locations",
                )
                break


def _both(rows: Fraction, cols: Fraction) -> str:
    return f"{fraction_text(rows)}×{fraction_text(cols)}"


def _merge_fields(net: NetworkFacts, layer: LayerFacts) -> list[tuple[str, tuple[Any, Any]]]:
    return [
        ("the input", (INPUT_RECEPTIVE_FIELD, INPUT_RECEPTIVE_FIELD))
        if source < 0
        else (net.layers[source].label, (net.layers[source].rf_rows, net.layers[source].rf_cols))
        for source in layer.inputs
    ]
