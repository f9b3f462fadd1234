"""CC308: a layer whose output nothing reads."""

from __future__ import annotations

from collections.abc import Iterator

from convcalc.analysis import NetworkFacts
from convcalc.findings import Severity
from convcalc.rules.base import Hit, Settings, rule


@rule(
    "CC308",
    "unused-layer",
    Severity.WARNING,
    summary="A layer's output is never read: no later layer names it and it is not the last layer.",
    bad={
        "input": [8, 8, 3],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "a"},
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "b", "inputs": ["input"]},
            {"type": "relu", "inputs": ["b"]},
        ],
    },
    good={
        "input": [8, 8, 3],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "a"},
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "b", "inputs": ["input"]},
            {"type": "add", "inputs": ["a", "b"]},
        ],
    },
    judges_dead_branches=True,
)
def unused_layer(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Finds layers whose output no later layer reads (through `inputs`, or by coming right before a layer
    without `inputs`) and that are not the network's last layer.

    ## Why is this bad
    A dangling branch costs parameters and compute at build time but never reaches the output: usually a
    merge forgot one of its inputs, or a name in `inputs` points at the wrong layer.

    ## Use instead
    Merge the branch (`add` or `concat` naming it), or delete it.
    """
    read = {source for layer in net.layers for source in layer.inputs}
    for layer in net.layers[:-1]:
        if layer.index not in read:
            yield Hit(
                layer.index,
                f"the output {layer.output_shape} of {layer.label} is never read: no later layer takes it"
                " and it is not the last layer",
            )
