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
            read = [source for source in layer.inputs if source >= 0]
            if layer.traits.sums and any(source < 0 or not _broadcast(net.layers[source]) for source in layer.inputs):
                # A context vector added at every position (GCNet's) is a bias per channel to the other addends
                # (the network input among them): what reads the sum cannot absorb the context's layers without a
                # copy for them.
                read = [source for source in read if not _broadcast(net.layers[source])]
            reached = [sources[source] for source in read if sources[source]]
            union = reached[0] if len(reached) == 1 else empty.union(*reached)
            sources.append(union if len(union) <= SOURCES_KEPT else frozenset(heapq.nlargest(SOURCES_KEPT, union)))
    return sources


def _broadcast(layer: LayerFacts) -> bool:
    """A 1×1 volume upsampled to H×W: the same vector at every position."""
    shape = layer.input_shape
    return (
        layer.type == "upsample" and (shape.height, shape.width) == (1, 1) and layer.output_shape.values > shape.values
    )


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


def _per_position(layer: LayerFacts) -> bool:
    """A layer that keeps the volume and acts at each position (an activation, a normalisation), not a pool."""
    return layer.traits.keeps_shape and not layer.traits.pooling and layer.window is None


_BLOCK = 64
"""How many layers after a conv CC303 looks for the residual add that closes the block the conv starts."""


class _Branches:
    """What reads a layer's output through single-input layers without weights (an affine normalisation, dropout,
    padding): a live activation or nonlinear normalisation (a pre-activation or pre-norm branch) or product (a
    squeeze-and-excite gate), or an ``add``, ``subtract`` or ``average`` (a residual sum). Each answer is worked
    out when first asked, from the readers, which are gathered once."""

    def __init__(self, net: NetworkFacts) -> None:
        self._net = net
        self._readers: dict[int, list[int]] | None = None
        self._live: set[int] | None = None
        self._answers: dict[int, tuple[bool, bool, frozenset[int]]] = {}
        self._twins: dict[int, LayerFacts | None] = {}
        self._linear_streams: bool | None = None

    def _readers_of(self) -> dict[int, list[int]]:
        if self._readers is None:
            self._readers = readers_of(self._net)
        return self._readers

    def _live_layers(self) -> set[int]:
        """The layers whose output reaches the network's output (a dead activation makes nothing nonlinear)."""
        if self._live is None:
            self._live = reaching_output(self._net)
        return self._live

    def _answer(self, index: int) -> tuple[bool, bool, frozenset[int]]:
        """Whether a live activation, nonlinear normalisation or product reads ``index``, whether an add (or a
        subtract) does, and which."""
        answer = self._answers.get(index)
        if answer is None:
            net, readers = self._net, self._readers_of()
            activated = False
            sums: set[int] = set()
            stack, seen = [index], {index}
            while stack:
                for reader_index in readers.get(stack.pop(), ()):
                    reader = net.layers[reader_index]
                    if reader.traits.sums:
                        sums.add(reader_index)
                    elif kind_of(reader) is not None or (
                        is_nonlinear(reader) and (reader.traits.merge or _per_position(reader))
                    ):
                        # an activation, a normalisation that divides by the input's own spread (a pre-norm
                        # block's: PoolFormer's GroupNorm, a transformer's LayerNorm) or a product with another
                        # branch (a squeeze-and-excite gate); not a max pool, which Inception's pool branch is,
                        # beside the convs a lost ReLU leaves linear
                        activated = activated or reader_index in self._live_layers()
                    elif reader_index not in seen and _passes_on(reader):
                        seen.add(reader_index)
                        stack.append(reader_index)
            answer = self._answers[index] = (activated, bool(sums), frozenset(sums))
        return answer

    def activated(self, index: int) -> bool:
        return self._answer(index)[0]

    def read_on(self, index: int, besides: int) -> bool:
        """Whether a layer other than ``besides`` reads ``index``'s output and is no readout of scores itself:
        the network keeps using the map (LRASPP's backbone), not only heads that read it (an RPN's two 1×1s)."""
        return any(reader != besides and not self.gives_scores(reader) for reader in self._readers_of().get(index, ()))

    def shuffled_up(self, index: int) -> bool:
        """Whether a depth_to_space reads ``index``'s output: a sub-pixel conv, a learned upsampling (ESPCN,
        EDSR)."""
        return any(self._net.layers[reader].type == "depth_to_space" for reader in self._readers_of().get(index, ()))

    def gives_scores(self, index: int) -> bool:
        """Whether ``index``'s output reaches the network's output through layers without weights that are
        linear (sums, upsampling, dropout …; a normalisation or an activation ends the walk): it computes the
        scores, a linear readout."""
        net, readers = self._net, self._readers_of()
        last = len(net.layers) - 1
        stack, seen = [index], {index}
        while stack:
            current = stack.pop()
            for reader_index in readers.get(current, ()):
                reader = net.layers[reader_index]
                if reader.traits.weighted or is_nonlinear(reader):
                    return False
                if reader_index not in seen:
                    seen.add(reader_index)
                    stack.append(reader_index)
        return last in seen

    def summed(self, index: int) -> bool:
        return self._answer(index)[1]

    def linear_streams(self) -> bool:
        """Whether the network's residual streams are linear by design (MobileNetV2 and what followed it): of its
        adds that an activation or another add reads (the sums a stream is made of, not a sum a conv alone reads,
        as in Res2Net's blocks), at least two, and most, feed no live activation, while the blocks between them
        have activations (a network without any is no design); a ResNet or RegNet that lost one ReLU after an add
        has the others (RepGhostNet's re-parameterisable sums inside a block may keep theirs)."""
        if self._linear_streams is None:
            net = self._net
            streams = [self._answer(layer.index) for layer in net.layers if layer.traits.sums]
            linear = sum(1 for activated, summed, _ in streams if summed and not activated)
            activated = sum(1 for answer in streams if answer[0])
            # and the blocks between the sums have their nonlinearity: a network without any is no design
            inside = any(kind_of(net.layers[index]) is not None for index in self._live_layers())
            self._linear_streams = linear >= 2 and linear > activated and inside
        return self._linear_streams

    def on_a_stream(self, later: LayerFacts, earlier: LayerFacts) -> bool:
        """Whether ``later`` reads ``earlier`` as a residual stream: through an add that ``earlier`` feeds (and
        adds and single-input layers without weights after it: RepGhostNet's re-parameterisable sum, then the
        block's residual one), or as the first layer of a block whose residual add ``earlier`` feeds (FBNet's
        expansion-1 block reads the projection before it, which the block's own add sums)."""
        return self._reads_a_sum_of(later, earlier) or self._block_closed_by_a_sum_of(later, earlier)

    def _block_closed_by_a_sum_of(self, later: LayerFacts, earlier: LayerFacts) -> bool:
        sums, readers = self._answer(earlier.index)[2], self._readers_of()
        stack, seen = [later.index], {later.index}
        while stack and len(seen) <= _BLOCK:
            for reader in readers.get(stack.pop(), ()):
                if reader in sums:
                    return True
                if reader not in seen:
                    seen.add(reader)
                    stack.append(reader)
        return False

    def _reads_a_sum_of(self, later: LayerFacts, earlier: LayerFacts) -> bool:
        sums, net = self._answer(earlier.index)[2], self._net
        stack = [source for source in later.inputs if source >= 0]
        seen = set(stack)
        while stack:
            index = stack.pop()
            if index in sums:
                return True
            layer = net.layers[index]
            if layer.traits.sums or _passes_on(layer):
                for source in layer.inputs:
                    if source >= 0 and source not in seen:
                        seen.add(source)
                        stack.append(source)
        return False

    def widest_twin(self, layer: LayerFacts) -> LayerFacts | None:
        """The widest conv of ``layer``'s kind that reads what it reads with a wider window, the same stride,
        groups and output shape, summed with it: the conv a block re-parameterised after training folds into
        (RepVGG, MobileOne, RepViT: a 3×3, a 1×1 and the identity, added), of which ``layer`` is a narrower
        branch. None for a layer that is no such branch."""
        if layer.index not in self._twins:
            twins = self._find_twins(layer)
            widest = max(twins, key=lambda twin: _area(twin.window.kernel) if twin.window else 0, default=None)
            self._twins[layer.index] = widest
        return self._twins[layer.index]

    def _find_twins(self, layer: LayerFacts) -> list[LayerFacts]:
        net, window = self._net, layer.window
        if window is None or len(layer.inputs) != 1 or not layer.traits.weighted:
            return []
        twins = []
        for index in self._readers_of().get(layer.inputs[0], ()):
            other = net.layers[index]
            if (
                other.type != layer.type
                or other.window is None
                or other.window.stride != window.stride
                or other.output_shape != layer.output_shape
                or max(other.window.kernel) <= max(window.kernel)
                # one kernel position's weights: the same channels connected (the same groups)
                or other.weights * _area(window.kernel) != layer.weights * _area(other.window.kernel)
            ):
                continue
            twins.append(other)
        sums = self._sums_reached(layer.index)
        return [twin for twin in twins if sums & self._sums_reached(twin.index)]

    def _sums_reached(self, index: int) -> frozenset[int]:
        """The adds that sum ``index``'s output, and the adds that sum those directly: a sum of three branches
        written as two adds in a row (MobileOne's, as PyTorch exports it) is one sum."""
        net, readers = self._net, self._readers_of()
        reached, frontier = set(self._answer(index)[2]), list(self._answer(index)[2])
        while frontier and len(reached) <= _BLOCK:
            for reader in readers.get(frontier.pop(), ()):
                if net.layers[reader].traits.sums and reader not in reached:
                    reached.add(reader)
                    frontier.append(reader)
        return frozenset(reached)


def _area(kernel: tuple[int, int]) -> int:
    return kernel[0] * kernel[1]


def _intended(earlier: LayerFacts, later: LayerFacts, branches: _Branches) -> bool:
    """Linear pairs that are designs, not slips (:func:`_designed`), and the narrow branches of a
    re-parameterised block, judged as the wider conv each folds into."""
    if _designed(earlier, later, branches):
        return True
    folded_later, folded_earlier = branches.widest_twin(later), branches.widest_twin(earlier)
    return (folded_later is not None and _designed(earlier, folded_later, branches)) or (
        folded_earlier is not None and _designed(folded_earlier, later, branches)
    )


def _designed(earlier: LayerFacts, later: LayerFacts, branches: _Branches) -> bool:
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
    transposed conv, bilinear interpolation when initialised as in FCN, a sub-pixel conv: a conv into a
    depth_to_space) before or after a conv."""
    factorised = (per_channel(earlier) and _spatial(earlier) and _pointwise(later)) or (
        starts_per_channel(later) and _spatial(later) and earlier.traits.convolution
    )
    projects = _pointwise(earlier) and earlier.output_shape.depth <= earlier.input_shape.depth
    widens = later.traits.convolution and later.output_shape.depth > later.input_shape.depth
    expands = widens and (_pointwise(later) or branches.summed(earlier.index))
    # In a network whose residual streams are linear by design (not a lost ReLU), a 1×1 writing into a stream
    # that the next block's 1×1 reads through the sum without narrowing it: a projection shortcut (GhostNet's)
    # or an expansion-1 block (FBNet's).
    streams = (
        _pointwise(earlier)
        and _pointwise(later)
        and later.output_shape.depth >= later.input_shape.depth
        and branches.summed(earlier.index)
        and branches.on_a_stream(later, earlier)
        and branches.linear_streams()
    )
    learned_upsampling = _upsamples(earlier) or _upsamples(later) or branches.shuffled_up(earlier.index)
    return factorised or (projects and expands) or streams or learned_upsampling


def _is_partial_conv(net: NetworkFacts, concat: LayerFacts) -> bool:
    """Whether ``concat`` ends a partial conv: each input a part of one volume (a ``split``, through single-input
    layers without weights), at least one part through a spatial conv and at least one untouched (FasterNet's
    PConv, InceptionNeXt's token mixer: a conv on some channels, the rest passed on)."""
    if concat.type != "concat":
        return False
    volume: set[int] = set()
    convolved = untouched = False
    for source in concat.inputs:
        layer = net.layers[source] if source >= 0 else None
        while layer is not None and _passes_on(layer) and layer.type != "split":
            layer = net.layers[layer.inputs[0]] if layer.inputs[0] >= 0 else None
        if layer is not None and layer.type == "split":
            untouched = True
        elif layer is not None and layer.traits.convolution and _spatial(layer) and layer.inputs[0] >= 0:
            convolved = True
            layer = net.layers[layer.inputs[0]]
            if layer.type != "split":
                return False
        else:
            return False
        volume.add(layer.inputs[0])
    return len(volume) == 1 and convolved and untouched


def _through_a_partial_conv(net: NetworkFacts, path: list[LayerFacts], later: LayerFacts) -> bool:
    """Whether the linear path from ``path[0]`` to ``later`` runs through a partial conv: through its untouched
    channels (then the partial conv, a layer with weights once folded, stands between the two), or out of its
    conv into a 1×1 (a conv on some channels then a 1×1 over all: a T-shaped conv, factorised as a separable
    conv is)."""
    steps = [*path, later]
    for position, layer in enumerate(steps[1:], start=1):
        if not _is_partial_conv(net, layer):
            continue
        entered = steps[position - 1]
        if any(step.type == "split" for step in steps[1:position]):
            return True  # the untouched part
        if entered is steps[0] and entered.traits.convolution and _pointwise(later):
            return True  # the partial conv itself, then a 1×1
    return False


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
    For each layer with weights (every conv and fc layer), follows its inputs back through linear layers — affine
    normalisation, dropout, zero padding, flatten, avg pooling, and `add`/`subtract`/`average`/`concat`, which follow
    every input — and flags it when another layer with weights is reached before a nonlinearity: a ReLU, any
    `activation` (relu6, gelu, softmax…), a max or L2 pool, global max pooling, a `multiply` (a product of two branches:
    squeeze-and-excite), a `maximum` or `minimum` (the funnel ReLU's max(x, T(x))). Upsampling, `split`,
    `channel_shuffle` and `cropping` are linear. Three designs are exempt: a factorised conv (a per-channel F×F conv
    feeding a 1×1 conv: a separable conv written out; any conv feeding a conv that starts with a per-channel F×F:
    ConvNeXt's projection feeding the next block's 7×7 per-channel conv, Xception's shortcut feeding a separable conv),
    a linear bottleneck (a 1×1 projection that does not widen feeding a 1×1 expansion, through a residual add or not:
    MobileNetV2/V3, MNASNet, EfficientNet; or feeding a wider F×F conv when an add reads the projection, the narrow
    residual stream: EfficientNetV2's Fused-MBConv; and in a network where most `add` layers feed no activation, so its
    sums are linear by design, any 1×1 writing into a sum that a 1×1 reads without narrowing it: GhostNet's projection
    shortcut, FBNet's expansion-1 block, RepGhostNet's re-parameterisable branches), and a learned upsampling on either
    side (a strided transposed conv; a sub-pixel conv, one a depth_to_space reads: ESPCN, EDSR). A narrow branch of a
    re-parameterised block (a 1×1 added to a 3×3 of the same input, in one add or a chain of them: RepVGG, RepViT,
    MobileOne) is judged as the wider conv it folds into. A partial conv (a conv on some channels of a split,
    concatenated with the rest untouched: FasterNet's PConv, InceptionNeXt's token mixer) then a 1×1 is a T-shaped conv,
    factorised by design, and a path through its untouched channels passes the partial conv, which stands between the
    two. A 1×1 conv that computes the network's scores (only sums, upsampling and other linear layers without weights
    follow it) from a feature map the network also reads on is a linear readout of that map (LRASPP's low-level
    classifier on a MobileNetV3 linear bottleneck); heads that are all a map's readers (an RPN's class and box 1×1s on a
    3×3 that lost its ReLU) are judged as ever. A conv with one group per channel is a per-channel conv too; a
    per-channel 1×1 reaches across no pixels and is not exempt. And a layer does not collapse where a live activation, a
    normalisation that divides by its input's own spread (`layer_norm`, `group_norm`, `local_response_norm`) or a
    `multiply`, `maximum` or `minimum` reads what flows between the two, directly or through an affine normalisation,
    dropout or padding: a ReLU reads what it computes (Xception's sum feeds both the next block's ReLU and its shortcut
    conv), a pre-norm block's norm reads the residual stream it adds to (PoolFormer, a MetaFormer: the stream between
    two downsampling convs is linear by design, every block reading it through a GroupNorm), or a gate multiplies it
    (squeeze-and-excite on a conv without an activation: SE-ResNeXt's last conv, its squeeze path linear on its own; so
    a ReLU lost right before a squeeze-and-excite block goes unreported, as that design looks the same). A max pool
    beside the convs does not count (Inception's pool branch). A context vector added at every position (a 1×1 volume
    upsampled into an add: GCNet's global context) is a bias per channel to the other addends, which the layer reading
    the sum cannot take in without a copy of its weights for it: the context's layers are not followed through that
    add. A sum that reaches a ReLU only through a later add (a ResNet that lost its ReLU after the add) still collapses.

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
        if _through_a_partial_conv(net, path, later):
            return False
        if (
            _pointwise(later)
            and branches.gives_scores(later.index)
            and any(branches.read_on(source, later.index) for source in later.inputs if source >= 0)
        ):
            # A 1×1 readout of scores from a feature map the network also reads on (LRASPP's low-level
            # classifier on a linear bottleneck): the earlier layer is the network's, not this head's.
            return False
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
