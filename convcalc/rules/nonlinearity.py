"""CC303: two layers with weights and no nonlinearity between them collapse into one linear map."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.findings import Fix, Severity
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.graph import (
    is_nonlinear,
    kind_of,
    mode_of,
    per_channel,
    reaching_output,
    readers_of,
    starts_per_channel,
)

SOURCES_KEPT = 16
"""CC303 remembers at most this many layers with weights per layer (the nearest), so that a chain of
concats (DenseNet) stays linear in the number of layers."""


def _linear_sources(net: NetworkFacts) -> list[frozenset[int]]:
    """Per layer, the layers with weights whose output reaches this layer's output through linear layers
    only (the layer itself, for a layer with weights; nothing after a nonlinearity): the nearest
    ``SOURCES_KEPT`` of them.

    One pass in order; a single-input linear layer shares its producer's set, so only merges build new ones.
    Keeping the highest indices keeps every kept layer in some producer's set, so paths can be traced back.
    """
    empty: frozenset[int] = frozenset()
    sources: list[frozenset[int]] = []
    for layer in net.layers:
        if layer.traits.weighted:
            sources.append(frozenset((layer.index,)))
        elif is_nonlinear(layer):
            sources.append(empty)
        else:
            reached = [sources[source] for source in layer.inputs if source >= 0 and sources[source]]
            union = reached[0] if len(reached) == 1 else empty.union(*reached)
            sources.append(union if len(union) <= SOURCES_KEPT else frozenset(heapq.nlargest(SOURCES_KEPT, union)))
    return sources


def _reaches(sources: list[frozenset[int]], source: int, target: int) -> bool:
    return source == target or target in sources[source]


def _linear_path(net: NetworkFacts, sources: list[frozenset[int]], layer: LayerFacts, target: int) -> list[LayerFacts]:
    """The linear layers on one path from ``target`` (which has weights) to ``layer``, in order."""
    path: list[LayerFacts] = []
    current = next(source for source in layer.inputs if source >= 0 and _reaches(sources, source, target))
    while current != target:
        between = net.layers[current]
        path.append(between)
        current = next(source for source in between.inputs if source >= 0 and _reaches(sources, source, target))
    return path[::-1]


def _upsamples(layer: LayerFacts) -> bool:
    """A learned upsampling: a layer with weights whose output grid is finer than its input's."""
    return layer.traits.weighted and min(layer.spec.grid_step(layer.window)) < 1


def _pointwise(layer: LayerFacts) -> bool:
    return layer.type == "conv" and layer.window is not None and layer.window.kernel == (1, 1)


def _spatial(layer: LayerFacts) -> bool:
    """A window wider than 1×1: what a per-channel conv adds when it reaches across pixels."""
    return layer.window is not None and max(layer.window.kernel) > 1


def _passes_on(layer: LayerFacts) -> bool:
    """A single-input linear layer without weights: what reads it reads what it reads, in effect."""
    return len(layer.inputs) == 1 and not layer.traits.weighted and not is_nonlinear(layer)


class _Branches:
    """What reads a layer's output through single-input layers without weights (normalisation, dropout,
    padding): a live activation (a pre-activation branch) or product (a squeeze-and-excite gate), or an ``add``
    (a residual sum). Each layer's
    answer is worked out when first asked, from the readers, which are gathered once."""

    def __init__(self, net: NetworkFacts) -> None:
        self._net = net
        self._readers: dict[int, list[int]] | None = None
        self._live: set[int] | None = None
        self._answers: dict[int, tuple[bool, bool]] = {}
        self._linear_streams: bool | None = None

    def _answer(self, index: int) -> tuple[bool, bool]:
        answer = self._answers.get(index)
        if answer is None:
            net = self._net
            readers = self._readers = self._readers if self._readers is not None else readers_of(net)
            activated = summed = False
            stack, seen = [index], {index}
            while stack:
                for reader_index in readers.get(stack.pop(), ()):
                    reader = net.layers[reader_index]
                    if reader.type == "add":
                        summed = True
                    elif kind_of(reader) is not None or (reader.traits.merge and is_nonlinear(reader)):
                        # an activation, or a product with another branch (a squeeze-and-excite gate); not a max
                        # pool, which Inception's pool branch is, beside the convs a lost ReLU leaves linear
                        self._live = self._live if self._live is not None else reaching_output(net)
                        activated = activated or reader_index in self._live
                    elif reader_index not in seen and _passes_on(reader):
                        seen.add(reader_index)
                        stack.append(reader_index)
            answer = self._answers[index] = (activated, summed)
        return answer

    def activated(self, index: int) -> bool:
        return self._answer(index)[0]

    def linear_streams(self) -> bool:
        """Whether most ``add`` layers of the network feed no live activation: its sums are linear by design
        (MobileNetV2 and what followed it; RepGhostNet, whose re-parameterisable sums inside a block may have
        their ReLU), where a ResNet or RegNet that lost one ReLU after an add has the others."""
        if self._linear_streams is None:
            activated = [self.activated(layer.index) for layer in self._net.layers if layer.type == "add"]
            self._linear_streams = 2 * activated.count(False) > len(activated)
        return self._linear_streams

    def sums_of(self, index: int) -> set[int]:
        """The ``add`` layers that read ``index``'s output through single-input layers without weights."""
        net = self._net
        readers = self._readers = self._readers if self._readers is not None else readers_of(net)
        sums: set[int] = set()
        stack, seen = [index], {index}
        while stack:
            for reader_index in readers.get(stack.pop(), ()):
                reader = net.layers[reader_index]
                if reader.type == "add":
                    sums.add(reader_index)
                elif reader_index not in seen and _passes_on(reader):
                    seen.add(reader_index)
                    stack.append(reader_index)
        return sums

    def wider_twins(self, layer: LayerFacts) -> list[LayerFacts]:
        """Convs that read what ``layer`` reads with a wider window, to the same shape, summed with it: the
        branches of a block re-parameterised into one conv after training (RepVGG, MobileOne, RepViT: a 3×3, a
        1×1 and the identity, added), of which ``layer`` is the narrower part."""
        net = self._net
        window = layer.window
        if window is None or len(layer.inputs) != 1:
            return []
        readers = self._readers = self._readers if self._readers is not None else readers_of(net)
        twins = []
        for index in readers.get(layer.inputs[0], ()):
            other = net.layers[index]
            wider = other.window is not None and max(other.window.kernel) > max(window.kernel)
            if wider and other.traits.convolution and other.output_shape == layer.output_shape:
                twins.append(other)
        if not twins:
            return []
        sums = self.sums_of(layer.index)
        return [twin for twin in twins if sums & self.sums_of(twin.index)]

    def summed(self, index: int) -> bool:
        return self._answer(index)[1]


def _intended(earlier: LayerFacts, later: LayerFacts, branches: _Branches) -> bool:
    """Linear pairs that are designs, not slips: a factorised conv — a per-channel F×F conv then a
    1×1 conv (a separable conv written out; Xception found no nonlinearity between them works best), or any
    conv then a conv that starts with a per-channel F×F (alone or before a 1×1), which adds D·F² weights of
    spatial reach (ConvNeXt's 1×1 projection feeds the next block's 7×7 per-channel conv, and its 2×2
    downsampler one too, with no activation by design; Xception's last shortcut feeds a separable conv;
    a per-channel conv before a full F×F conv is still flagged: that pair is one larger conv); a linear
    bottleneck, a 1×1 projection that does not widen and whose output is the narrow residual stream (an add
    reads it), feeding the next block's expansion, a conv that widens (MobileNetV2, MobileNetV3's expansion-1
    blocks: a ReLU on the narrow volume would destroy information; EfficientNetV2's Fused-MBConv expands with
    a full 3×3 conv), or a 1×1 projection feeding a 1×1 expansion; and learned upsampling (a strided
    transposed conv, bilinear interpolation when initialised as in FCN) before or after a conv."""
    factorised = (per_channel(earlier) and _spatial(earlier) and _pointwise(later)) or (
        starts_per_channel(later) and _spatial(later) and earlier.traits.convolution
    )
    projects = _pointwise(earlier) and earlier.output_shape.depth <= earlier.input_shape.depth
    widens = later.traits.convolution and later.output_shape.depth > later.input_shape.depth
    expands = widens and (_pointwise(later) or branches.summed(earlier.index))
    # In a network whose residual sums are all linear (no activation reads any: the design of MobileNetV2's
    # descendants, not a lost ReLU), a 1×1 writing into the stream that the next block's 1×1 reads without
    # narrowing: a projection shortcut (GhostNet's) or an expansion-1 block (FBNet's).
    streams = (
        _pointwise(earlier)
        and _pointwise(later)
        and later.output_shape.depth >= later.input_shape.depth
        and branches.summed(earlier.index)
        and branches.linear_streams()
    )
    if factorised or (projects and expands) or streams or _upsamples(earlier) or _upsamples(later):
        return True
    # A narrow branch of a re-parameterised block is judged as the wider conv it is folded into.
    return any(_intended(earlier, twin, branches) for twin in branches.wider_twins(later)) or any(
        _intended(twin, later, branches) for twin in branches.wider_twins(earlier)
    )


def _relu_before(layer: LayerFacts, taken: set[str]) -> Fix:
    """Insert a ReLU right before ``layer``, named after it (unique among ``taken``, the spec's names)."""
    name = f"{layer.name}_relu"
    while name in taken:
        name += "_"
    return Fix(f"insert a ReLU ({name}) before {layer.name}", layer.path, insert={"type": "relu", "name": name})


def _reached_avoiding(
    net: NetworkFacts,
    sources: list[frozenset[int]],
    layer: LayerFacts,
    blocked: int,
    collapses: Callable[[LayerFacts, LayerFacts], bool],
) -> bool:
    """Whether a layer with weights that ``collapses`` into ``layer`` still reaches it linearly when ``blocked``
    becomes nonlinear."""
    stack = [source for source in layer.inputs if source >= 0]
    seen: set[int] = set()
    while stack:
        index = stack.pop()
        if index in seen or index == blocked or not sources[index]:
            continue
        seen.add(index)
        other = net.layers[index]
        if other.traits.weighted:
            if collapses(other, layer):
                return True
            continue
        stack.extend(source for source in other.inputs if source >= 0)
    return False


@rule(
    "CC303",
    "missing-nonlinearity",
    Severity.WARNING,
    summary="Two layers with weights and no nonlinearity between them collapse into one linear map.",
    bad={
        "input": [8, 8, 1],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
        ],
    },
    good={
        "input": [8, 8, 1],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
        ],
    },
)
def missing_nonlinearity(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    For each layer with weights (every conv and fc layer), follows its inputs back
    through linear layers — normalisation, dropout, zero padding, flatten, avg pooling, and `add`/`concat`,
    which follow every input — and flags it when another layer with weights is reached before a
    nonlinearity: a ReLU, any `activation` (relu6, gelu, softmax…), a max or L2 pool, global max pooling, a
    `multiply` (a product of two branches: squeeze-and-excite). Upsampling, `split`, `channel_shuffle` and
    `cropping` are linear.
    Three designs are exempt: a factorised conv (a per-channel F×F conv feeding a 1×1 conv: a separable conv written
    out; any conv feeding a conv that starts with a per-channel F×F: ConvNeXt's projection feeding the next block's
    7×7 per-channel conv, Xception's shortcut feeding a separable conv), a linear bottleneck (a 1×1 projection that
    does not widen feeding a 1×1 expansion, through a residual add or not: MobileNetV2/V3, MNASNet, EfficientNet; or
    feeding a wider F×F conv when an add reads the projection, the narrow residual stream: EfficientNetV2's
    Fused-MBConv; and in a network where most `add` layers feed no activation, so its sums are linear by design, any
    1×1 writing into a sum that a 1×1 reads without narrowing it: GhostNet's projection shortcut, FBNet's
    expansion-1 block, RepGhostNet's re-parameterisable branches), and a strided transposed conv (learned
    upsampling) on either side. A narrow branch of a re-parameterised block (a 1×1 added to a 3×3 of the same input:
    RepVGG, RepViT) is judged as the wider conv it folds into. A conv with one group per channel is a per-channel
    conv too; a per-channel 1×1 reaches across no pixels and is not exempt. And a layer does not collapse where a
    live activation or a `multiply` reads what flows between the two, directly or through normalisation, dropout or
    padding: a ReLU reads what it computes (Xception's sum feeds both the next block's ReLU and its shortcut conv),
    or a gate multiplies it (squeeze-and-excite on a conv without an activation: SE-ResNeXt's last conv, its squeeze
    path linear on its own). A max pool beside the convs does not count (Inception's pool branch). A sum that
    reaches a ReLU only through a later add (a ResNet that lost its ReLU after the add) still collapses.

    ## Why is this bad
    A composition of linear maps is a linear map: the two layers compute nothing a single layer could not,
    with more parameters and more computation. CS231n's pattern puts a RELU after every CONV and FC but the
    last. (MobileNetV2's linear bottlenecks are linear on purpose, and exempt: Sandler et al. show a ReLU on
    the narrow volume loses information.)

    ## Use instead
    A `{"type": "relu"}` (or another activation) between them. Where an avg pool sits between them, a max
    pool is also a nonlinearity (the fix, offered where every linear path runs through that pool).
    """
    sources = _linear_sources(net)
    taken: set[str] | None = None  # the spec's layer names, gathered at the first finding
    branches = _Branches(net)

    def collapses(earlier: LayerFacts, later: LayerFacts) -> bool:
        """Whether ``earlier`` collapses into ``later``: no design, and no activation reads what flows between
        them (a pre-activation branch: Xception's sum feeds both the next block's ReLU and its shortcut conv,
        so the shortcut before it computes something the ReLU reads)."""
        if _intended(earlier, later, branches):
            return False
        path = [earlier]
        if any(source >= 0 and _reaches(sources, source, earlier.index) for source in later.inputs):
            path += _linear_path(net, sources, later, earlier.index)  # (a far source may be out of the kept sets)
        return not any(branches.activated(between.index) for between in path)

    for layer in net.layers:
        if not layer.traits.weighted:
            continue
        reached = {target for source in layer.inputs if source >= 0 for target in sources[source]}
        earlier = sorted(
            (net.layers[target] for target in reached if collapses(net.layers[target], layer)),
            key=lambda other: -other.index,
        )
        if not earlier:
            continue
        nearest = earlier[0]
        linear = _linear_path(net, sources, layer, nearest.index)
        between = ", ".join(f"{other.name} ({mode_of(other) or other.type})" for other in linear)
        message = (
            f"{nearest.label} ({nearest.input_shape} → {nearest.output_shape}) feeds this {layer.type}"
            f" ({layer.input_shape} → {layer.output_shape}) through {between or 'nothing'}, no nonlinearity:"
            f" the two compose into one linear map, so {nearest.name}'s {nearest.params:,} params add no"
            " expressive power"
        )
        if len(earlier) > 1:
            others = ", ".join(other.label for other in earlier[1:4])
            capped = len(reached) >= SOURCES_KEPT
            more = " and more" if capped else f" and {len(earlier) - 4} more" if len(earlier) > 4 else ""
            message += f" (nor do {others}{more}, reached through the merge)"
        # A ReLU right before this layer (it reads what the layer read); an avg pool between them becomes the
        # nonlinearity when it takes the max instead.
        pools = [
            Fix(f"max pool in {other.name}", other.path, {"mode": "max"})
            for other in linear
            if other.type == "pool" and not _reached_avoiding(net, sources, layer, other.index, collapses)
        ]
        taken = taken if taken is not None else {other.name for other in net.layers}
        fixes = (_relu_before(layer, taken), *pools)
        yield Hit(layer.index, message, fixes)
