"""Layer order: CC304 (a conv after an fc layer) and CC306 (redundant orderings: pool on the input, pool
after pool, ReLU after ReLU).
"""

from __future__ import annotations

from collections.abc import Iterator

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.findings import Severity
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.graph import is_relu, only_producer


@rule(
    "CC304",
    "conv-after-fc",
    Severity.WARNING,
    summary="A conv after an fc layer: there is no spatial structure left to convolve.",
    bad={
        "input": [8, 8, 1],
        "layers": [{"type": "fc", "units": 16}, {"type": "relu"}, {"type": "conv", "filters": 4, "kernel": 1}],
    },
    good={
        "input": [8, 8, 1],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "fc", "units": 16},
        ],
    },
)
def conv_after_fc(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags convs of every kind (transposed ones too) with an fc layer upstream — on some
    path of inputs from the network input to the conv — while the volume is still the fc's 1×1 vector (a
    transposed conv that grows a spatial map again, as in a decoder, ends the path).

    ## Why is this bad
    An fc layer outputs a 1×1×n vector: the spatial layout is gone. A conv on it is an fc layer in disguise
    (FC ⇔ CONV), and the CS231n pattern puts every CONV before the FC layers.

    ## Use instead
    Move the conv before the fc layers, or write it as `{"type": "fc"}`.
    """
    # Per layer: the earliest fc upstream whose 1×1 output reaches this layer's output still 1×1 (a
    # transposed conv that grows a spatial map again ends it).
    first_fc: list[int | None] = []
    for layer in net.layers:
        sources = layer.inputs
        if len(sources) == 1:  # most layers: no merge to take the earliest of
            fc = None if sources[0] < 0 else first_fc[sources[0]]
        else:
            reached = (index for source in sources if source >= 0 and (index := first_fc[source]) is not None)
            fc = min(reached, default=None)
        out = layer.output_shape
        flat = out.height == out.width == 1
        first_fc.append((layer.index if fc is None and layer.type == "fc" else fc) if flat else None)
        if fc is not None and layer.traits.convolution:
            found = net.layers[fc]
            yield Hit(
                layer.index,
                f"this {layer.type} runs on {layer.input_shape}, after {found.label} flattened the volume to"
                f" {found.output_shape}: no spatial structure is left, so it is an fc layer in disguise",
            )


def _downsamples(layer: LayerFacts) -> bool:
    out, shape = layer.output_shape, layer.input_shape
    return out.height * out.width < shape.height * shape.width


@rule(
    "CC306",
    "redundant-layer-order",
    Severity.INFO,
    summary="A pool on the raw input, a pool right after a pool, or a ReLU right after a ReLU.",
    bad={
        "input": [8, 8, 1],
        "layers": [{"type": "conv", "filters": 4, "kernel": 3}, {"type": "relu"}, {"type": "relu"}],
    },
    good={"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3}, {"type": "relu"}]},
)
def redundant_layer_order(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Flags three orderings outside INPUT → [[CONV → RELU]×N → POOL?]×M → [FC → RELU]×K → FC, judged by what
    each layer reads (its inputs), not by the list order: a downsampling pool that reads the network input,
    a downsampling pool that reads another downsampling pool, and a ReLU (a `relu` or an `activation` of
    kind relu) that reads a ReLU. Stride-1 pools that keep the size (an Inception block's pool branch) are
    not downsampling.

    ## Why is this bad
    A pool on the input throws resolution away before any feature is computed. Two pools in a row are one
    larger, more destructive pool. ReLU is idempotent, max(0, max(0, x)) = max(0, x): the second one does
    nothing.

    ## Use instead
    Convs before the first pool, convs between pools, one ReLU after each layer with weights.
    """
    for layer in net.layers:
        if len(layer.inputs) != 1:
            continue
        previous = only_producer(net, layer)
        if layer.type == "pool" and _downsamples(layer) and layer.inputs[0] < 0:
            yield Hit(
                layer.index,
                f"a pool directly on the {layer.input_shape} input: it reduces the image to {layer.output_shape}"
                " before any conv has computed a feature",
            )
        elif (
            layer.type == "pool"
            and previous is not None
            and previous.type == "pool"
            and _downsamples(layer)
            and _downsamples(previous)
        ):
            yield Hit(
                layer.index,
                f"a pool right after {previous.label}: {previous.input_shape} → {previous.output_shape} →"
                f" {layer.output_shape} in two steps is one larger pool with no conv between them",
            )
        elif is_relu(layer) and previous is not None and is_relu(previous):
            yield Hit(
                layer.index, f"a ReLU right after {previous.label}: max(0, max(0, x)) = max(0, x), it does nothing"
            )
