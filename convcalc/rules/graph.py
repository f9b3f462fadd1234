"""Walks over the analysed graph that rules share: who reads whom, the output head, the first convs,
the padding in front of a window, and which layers a merge locks to their size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from convcalc.analysis import LayerFacts, NetworkFacts, Shape, Window
from convcalc.arithmetic import same_output_size


def sliding_conv(layer: LayerFacts) -> bool:
    """A convolution with a sliding window (not a transposed one)."""
    return layer.traits.convolution and layer.window is not None


def producers_of(net: NetworkFacts, layer: LayerFacts) -> list[LayerFacts | None]:
    """The layers ``layer`` reads, in order; None stands for the network's input volume."""
    return [None if source < 0 else net.layers[source] for source in layer.inputs]


def only_producer(net: NetworkFacts, layer: LayerFacts) -> LayerFacts | None:
    """The one layer a single-input layer reads; None for the network input or a merge."""
    if len(layer.inputs) != 1 or layer.inputs[0] < 0:
        return None
    return net.layers[layer.inputs[0]]


def reader_counts(net: NetworkFacts) -> dict[int, int]:
    """How many layers read each layer's output (key −1: the network input); unread layers are absent."""
    counts: dict[int, int] = {}
    for layer in net.layers:
        for source in layer.inputs:
            counts[source] = counts.get(source, 0) + 1
    return counts


def size_locked(net: NetworkFacts) -> set[int]:
    """Layers whose output H×W a merge relies on: they reach an ``add`` or ``concat`` (directly or through
    layers that keep the shape) whose inputs all have the same H×W now. A fix must not change their size,
    or it would trade a warning for a merge that no longer fits (CC105, CC106)."""
    # Whether each layer passes a lock up to the layers it reads: a merge whose inputs all have one H×W, or a
    # shape-keeping layer that is itself locked. Decided once per reader, so the walk is linear in the edges.
    merge_fits = [
        layer.traits.merge and len({(shape.height, shape.width) for shape in layer.input_shapes}) == 1
        for layer in net.layers
    ]
    locked: set[int] = set()
    for layer in reversed(net.layers):
        if merge_fits[layer.index] or (layer.traits.keeps_shape and layer.index in locked):
            locked.update(source for source in layer.inputs if source >= 0)
    return locked


class LockedSizes:
    """``index in LockedSizes(net)``: whether :func:`size_locked` holds that layer, worked out when first asked.
    A rule asks only for a layer it has a finding on (to choose its fixes), and most networks give it none:
    the walk over every layer is then never made."""

    __slots__ = ("_locked", "_net")

    def __init__(self, net: NetworkFacts) -> None:
        self._net = net
        self._locked: set[int] | None = None

    def __contains__(self, index: object) -> bool:
        if self._locked is None:
            self._locked = size_locked(self._net)
        return index in self._locked


class ReaderCounts:
    """``ReaderCounts(net).of(index)``: how many layers read that layer's output (:func:`reader_counts`), counted
    when first asked. Rules ask only about the layers they judge, and most networks give them none."""

    __slots__ = ("_counts", "_net")

    def __init__(self, net: NetworkFacts) -> None:
        self._net = net
        self._counts: dict[int, int] | None = None

    def of(self, index: int) -> int:
        if self._counts is None:
            self._counts = reader_counts(self._net)
        return self._counts.get(index, 0)


def mode_of(layer: LayerFacts) -> str | None:
    """A pool's or global pool's mode (max, avg, l2), else None."""
    mode = getattr(layer.spec, "mode", None)
    return mode if isinstance(mode, str) else None


def kind_of(layer: LayerFacts) -> str | None:
    """The elementwise function an activation layer applies (relu, softmax…), else None."""
    return layer.spec.activation_function()


def is_nonlinear(layer: LayerFacts) -> bool:
    """ReLU, any ``activation``, max and L2 pools, global max pooling, a normalisation by the input's own spread,
    and the merges that are no linear combination of their inputs, a product or the largest or smallest (as each
    kind declares).

    Avg pooling, an affine normalisation (once trained), dropout, zero padding, flatten, the sums and stacking are
    linear; so is every layer with weights.
    """
    return layer.spec.is_nonlinear()


def is_relu(layer: LayerFacts) -> bool:
    """A ``relu`` layer or an ``activation`` of kind relu."""
    return kind_of(layer) == "relu"


def output_head(net: NetworkFacts) -> tuple[LayerFacts | None, list[LayerFacts]]:
    """The output path: the last layer with weights (the logits) and the layers after it, in order.

    Walks back from the last layer through single-input layers without weights; a merge or the
    network input on the way means there is no single logits layer (None, and the layers walked).
    """
    after: list[LayerFacts] = []
    layer: LayerFacts | None = net.layers[-1] if net.layers else None
    while layer is not None and not layer.traits.weighted:
        after.append(layer)
        layer = only_producer(net, layer)
    return layer, after[::-1]


def first_convs(net: NetworkFacts) -> list[LayerFacts]:
    """The sliding convs (of every kind) that read the network input through layers without weights:
    the first conv of a plain network, one per branch where several branches start at the input."""
    weighted_above: list[bool] = []
    first: list[LayerFacts] = []
    layers = net.layers
    for layer in layers:
        above = any(weighted_above[source] or layers[source].traits.weighted for source in layer.inputs if source >= 0)
        weighted_above.append(above)
        if not above and sliding_conv(layer):
            first.append(layer)
    return first


def padding_before(net: NetworkFacts, layer: LayerFacts) -> tuple[Shape, list[LayerFacts]]:
    """The explicit padding layers right before ``layer`` (through layers that keep the shape), nearest last,
    and the volume before them (``layer``'s input when there are none).

    Keras writes a padded conv as ZeroPadding2D then a "valid" conv: together they are one padded conv.
    """
    pads: list[LayerFacts] = []
    origin = layer.input_shape
    current = only_producer(net, layer)
    while current is not None:
        if current.spec.added_padding() is not None:
            pads.append(current)
            origin = current.input_shape
        elif not current.traits.keeps_shape:
            break
        current = only_producer(net, current)
    return origin, pads[::-1]


def readers_of(net: NetworkFacts) -> dict[int, list[int]]:
    """The layers that read each layer's output, in order (key −1: the network input); unread layers are absent."""
    readers: dict[int, list[int]] = {}
    for layer in net.layers:
        for source in layer.inputs:
            readers.setdefault(source, []).append(layer.index)
    return readers


def padding_after(net: NetworkFacts, layers: Iterable[int], readers: dict[int, list[int]]) -> set[int]:
    """``layers`` and every layer whose :func:`padding_before` walks through one of them: their single-input
    readers, and on through the readers of those that pad or keep the shape. ``readers``: :func:`readers_of`."""
    reached = set(layers)
    todo = list(reached)
    while todo:
        for index in readers.get(todo.pop(), ()):
            layer = net.layers[index]
            if len(layer.inputs) != 1 or index in reached:
                continue
            reached.add(index)
            if layer.spec.added_padding() is not None or layer.traits.keeps_shape:
                todo.append(index)
    return reached


def padding_sides(pads: list[LayerFacts]) -> tuple[int, int, int, int]:
    """The (top, bottom, left, right) pixels that these padding layers add together."""
    total = [0, 0, 0, 0]
    for pad in pads:
        for i, side in enumerate(pad.spec.added_padding() or ()):
            total[i] += side
    return (total[0], total[1], total[2], total[3])


def shrinks_unpadded(layer: LayerFacts, window: Window) -> bool:
    """No padding (0, not ``"same"``), and an output smaller than ``"same"`` would make it."""
    shape = layer.input_shape
    return (
        not window.same
        and window.padding == (0, 0, 0, 0)
        and (
            window.rows.size < same_output_size(shape.height, window.stride[0])
            or window.cols.size < same_output_size(shape.width, window.stride[1])
        )
    )


def unpadded_first_convs(net: NetworkFacts) -> list[LayerFacts]:
    """The first convs (one per branch that starts at the input) with no padding at all, neither their own
    nor a padding layer right before them, whose output is smaller than ``"same"`` would make it."""
    found = []
    for layer in first_convs(net):
        if layer.window is None or layer.input_shape.empty or not layer.window.has_output:
            continue  # no output at all is CC102's
        if any(padding_sides(padding_before(net, layer)[1])):
            continue  # Keras' ZeroPadding2D + "valid" conv: padded explicitly
        if shrinks_unpadded(layer, layer.window):
            found.append(layer)
    return found


def windowed(net: NetworkFacts, which: Callable[[LayerFacts], bool]) -> Iterator[tuple[LayerFacts, Window]]:
    """Window layers that ``which`` picks and that have an input and an output (the shape rules report the
    others)."""
    for layer in net.layers:
        window = layer.window
        if window is not None and which(layer) and not layer.input_shape.empty and window.has_output:
            yield layer, window


def any_window(layer: LayerFacts) -> bool:
    return True


def is_conv(layer: LayerFacts) -> bool:
    return layer.type == "conv"


def per_channel(layer: LayerFacts) -> bool:
    """A layer whose every spatial filter reads one input channel (a conv with one group per channel too: Keras
    writes ConvNeXt's 7×7 as ``Conv2D(groups=D)``)."""
    return layer.spec.per_channel_filters(layer.input_shape.depth) == "all"


def starts_per_channel(layer: LayerFacts) -> bool:
    """A layer whose spatial filters read one input channel each, before any part that mixes the channels."""
    return layer.spec.per_channel_filters(layer.input_shape.depth) != "none"


def is_pool(layer: LayerFacts) -> bool:
    return layer.type == "pool"


def covers_input(layer: LayerFacts, window: Window) -> bool:
    """A window over the whole input (global pooling, or a conv as an fc layer: 1×1 output).

    Such a layer is the FC ⇔ CONV form or global pooling, not a magic-number question.
    """
    shape, out = layer.input_shape, layer.output_shape
    return window.kernel[0] >= shape.height and window.kernel[1] >= shape.width and out.height == out.width == 1


def tiles_input(window: Window) -> bool:
    """A patchify window: F = S, no padding, no dilation, so the windows tile the input without overlap (ViT's
    and ConvNeXt's stems and downsamplers). Each output summarises its own patch; there is no centre to keep."""
    return window.kernel == window.stride and not any(window.padding) and window.dilation == (1, 1)


def reaching_output(net: NetworkFacts) -> set[int]:
    """The layers whose output reaches the network's output (the last layer), through the layers that read them."""
    if not net.layers:
        return set()
    reached = {net.layers[-1].index}
    for layer in reversed(net.layers):
        if layer.index in reached:
            reached.update(source for source in layer.inputs if source >= 0)
    return reached
