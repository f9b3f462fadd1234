"""Helpers for rule authors: re-computing a layer with changed settings, so fixes are checked, not guessed,
and walking the layer graph (who reads whom) the way the analysis recorded it."""

from __future__ import annotations

from typing import Any

from convcalc.analysis import LayerFacts, NetworkFacts, Shape, Window, analyze, resolve_window
from convcalc.arithmetic import same_output_size
from convcalc.spec import InputShape, Pool, ZeroPadding

PARAMETERISED = frozenset({"conv", "depthwise", "separable", "conv_transpose", "fc"})
"""Layer kinds with weights that map their input linearly (batchnorm's scale and shift are not counted)."""
CONV_TYPES = frozenset({"conv", "depthwise", "separable", "conv_transpose"})
"""Every kind of convolution."""
SHAPE_KEEPING = frozenset({"batchnorm", "dropout", "activation", "relu"})
"""Single-input layers that pass the volume through unchanged (values may change, the shape does not)."""


def pair_value(height: int, width: int) -> int | list[int]:
    """How a spec writes a per-axis value: an int when square, ``[h, w]`` otherwise."""
    return height if height == width else [height, width]


def value_text(value: int | list[int] | str) -> str:
    """A spec value as fix titles write it: ``3``, ``1×3``, ``same``.

    >>> value_text(3), value_text([1, 3]), value_text("same")
    ('3', '1×3', 'same')
    """
    return "×".join(str(v) for v in value) if isinstance(value, list) else str(value)


def spec_padding(window: Window) -> Any:
    """The window's padding as the spec would write it (symmetric padding only)."""
    if window.same:
        return "same"
    return (window.padding.top, window.padding.left)


def rewindow(
    layer: LayerFacts,
    *,
    kernel: tuple[int, int] | None = None,
    stride: tuple[int, int] | None = None,
    padding: Any = None,
) -> Window:
    """The layer's window re-computed on the same input with some settings changed (the dilation kept)."""
    window = layer.window
    assert window is not None, "rewindow needs a conv or pool layer"
    return resolve_window(
        kernel or window.kernel,
        stride or window.stride,
        spec_padding(window) if padding is None else padding,
        layer.input_shape,
        window.dilation,
    )


def window_changes(layer: LayerFacts, changes: dict[str, Any]) -> dict[str, Any]:
    """The ``set`` of a fix that changes a window: a pool whose stride defaults to its kernel keeps its
    current stride explicitly when only the kernel changes (else the stride would silently follow)."""
    spec = layer.spec
    if "kernel" in changes and "stride" not in changes and isinstance(spec, Pool) and spec.stride is None:
        assert layer.window is not None
        return {**changes, "stride": pair_value(*layer.window.stride)}
    return changes


def window_output(window: Window, depth: int) -> Shape:
    return Shape(window.rows.size, window.cols.size, depth)


def with_input(
    net: NetworkFacts, height: int, width: int, upto: int | None = None, receptive_fields: bool = True
) -> NetworkFacts:
    """The network re-analysed on another input size (same depth); with ``upto``, only layers[: upto + 1]
    (a layer reads only earlier layers, so that prefix is a whole network of its own). Without
    ``receptive_fields`` the (exact, slower) field arithmetic is skipped: for shape-only questions."""
    shape = InputShape(height=height, width=width, channels=net.input_shape.depth)
    update: dict[str, Any] = {"input": shape}
    if upto is not None:
        update["layers"] = net.network.layers[: upto + 1]
    return analyze(net.network.model_copy(update=update), receptive_fields=receptive_fields)


# --- the graph -----------------------------------------------------------------------------------------


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
    readers: list[list[LayerFacts]] = [[] for _ in net.layers]
    for layer in net.layers:
        for source in layer.inputs:
            if source >= 0:
                readers[source].append(layer)
    locked: set[int] = set()
    for layer in reversed(net.layers):
        for reader in readers[layer.index]:
            merge_fits = len({(shape.height, shape.width) for shape in reader.input_shapes}) == 1
            if (reader.type in ("add", "concat") and merge_fits) or (
                reader.type in SHAPE_KEEPING and reader.index in locked
            ):
                locked.add(layer.index)
                break
    return locked


def mode_of(layer: LayerFacts) -> str | None:
    """A pool's or global pool's mode (max, avg, l2), else None."""
    mode = getattr(layer.spec, "mode", None)
    return mode if isinstance(mode, str) else None


def kind_of(layer: LayerFacts) -> str | None:
    """An activation layer's kind (relu, softmax…), ``relu`` for a relu layer, else None."""
    if layer.type == "relu":
        return "relu"
    kind = getattr(layer.spec, "kind", None) if layer.type == "activation" else None
    return kind if isinstance(kind, str) else None


def is_nonlinear(layer: LayerFacts) -> bool:
    """ReLU, any ``activation``, max and L2 pools, global max pooling.

    Avg pooling, batchnorm (an affine map once trained), dropout, zero padding, flatten and the merges
    are linear; so is every layer with weights.
    """
    if layer.type in ("relu", "activation"):
        return True
    mode = mode_of(layer)
    return (layer.type == "pool" and mode in ("max", "l2")) or (layer.type == "global_pool" and mode == "max")


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
    while layer is not None and layer.type not in PARAMETERISED:
        after.append(layer)
        layer = only_producer(net, layer)
    return layer, after[::-1]


def first_convs(net: NetworkFacts) -> list[LayerFacts]:
    """The convs (depthwise and separable too) that read the network input through layers without weights:
    the first conv of a plain network, one per branch where several branches start at the input."""
    weighted_above: list[bool] = []
    first: list[LayerFacts] = []
    for layer in net.layers:
        above = any(
            weighted_above[source] or net.layers[source].type in PARAMETERISED for source in layer.inputs if source >= 0
        )
        weighted_above.append(above)
        if not above and layer.type in ("conv", "depthwise", "separable"):
            first.append(layer)
    return first


def zero_padding_before(net: NetworkFacts, layer: LayerFacts) -> tuple[Shape, list[LayerFacts]]:
    """The explicit ``zero_padding`` layers right before ``layer`` (through batchnorm, dropout and
    activations), nearest last, and the volume before them (``layer``'s input when there are none).

    Keras writes a padded conv as ZeroPadding2D then a "valid" conv: together they are one padded conv.
    """
    pads: list[LayerFacts] = []
    origin = layer.input_shape
    current = only_producer(net, layer)
    while current is not None and (current.type == "zero_padding" or current.type in SHAPE_KEEPING):
        if current.type == "zero_padding":
            pads.append(current)
            origin = current.input_shape
        current = only_producer(net, current)
    return origin, pads[::-1]


def zero_padding_sides(pads: list[LayerFacts]) -> tuple[int, int, int, int]:
    """The (top, bottom, left, right) pixels that these ``zero_padding`` layers add together."""
    total = [0, 0, 0, 0]
    for pad in pads:
        if isinstance(pad.spec, ZeroPadding):
            for i, side in enumerate(pad.spec.padding):
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
    nor a ``zero_padding`` layer right before them, whose output is smaller than ``"same"`` would make it."""
    found = []
    for layer in first_convs(net):
        if layer.window is None or layer.input_shape.empty or not layer.window.has_output:
            continue  # no output at all is CC102's
        if any(zero_padding_sides(zero_padding_before(net, layer)[1])):
            continue  # Keras' ZeroPadding2D + "valid" conv: padded explicitly
        if shrinks_unpadded(layer, layer.window):
            found.append(layer)
    return found
