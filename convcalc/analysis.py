"""One pass over a validated network that records frozen facts per layer.

Rules and renderers read these facts; nothing downstream recomputes a shape or a count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from convcalc import arithmetic as ar
from convcalc.spec import FC, Conv, Flatten, Network, Pool, ReLU

BYTES_PER_FLOAT32 = 4


class Shape(NamedTuple):
    """An H×W×D volume."""

    height: int
    width: int
    depth: int

    @property
    def values(self) -> int:
        """H·W·D, the number of neurons in the volume."""
        return ar.neurons(self.height, self.width, self.depth)

    @property
    def empty(self) -> bool:
        return self.height <= 0 or self.width <= 0 or self.depth <= 0

    def __str__(self) -> str:
        return f"{self.height}×{self.width}×{self.depth}"


class Padding(NamedTuple):
    """Resolved zero-padding in pixels on each side."""

    top: int
    bottom: int
    left: int
    right: int


@dataclass(frozen=True, slots=True)
class Window:
    """A sliding window (conv or pool) with every value resolved, and what it does per axis."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: Padding
    same: bool
    """True when the spec said ``"same"`` (TensorFlow chooses the padding)."""
    rows: ar.AxisResult
    cols: ar.AxisResult

    @property
    def fits(self) -> bool:
        return self.rows.fits and self.cols.fits

    @property
    def has_output(self) -> bool:
        return self.rows.has_output and self.cols.has_output


@dataclass(frozen=True, slots=True)
class LayerFacts:
    """Everything convcalc knows about one layer after the analysis pass."""

    index: int
    """Position in the spec's ``layers`` list (0-based, like the JSON path ``layers[0]``)."""
    name: str
    """The spec's name, or a generated one (``conv1``, ``pool2``…)."""
    type: str
    spec: Conv | Pool | FC | ReLU | Flatten
    input_shape: Shape
    output_shape: Shape
    window: Window | None
    weights: int
    biases: int
    unshared_params: int | None
    """Conv only: the cost without parameter sharing (a locally connected layer)."""
    local_connectivity: Shape | None
    """Conv and fc: the F×F×D input values one output neuron sees."""
    rf_rows: ar.ReceptiveField
    rf_cols: ar.ReceptiveField

    @property
    def params(self) -> int:
        return self.weights + self.biases

    @property
    def neurons(self) -> int:
        return self.output_shape.values

    @property
    def path(self) -> str:
        return f"layers[{self.index}]"

    @property
    def label(self) -> str:
        """How findings name the layer: ``layers[3] conv2``."""
        return f"layers[{self.index}] {self.name}"


@dataclass(frozen=True, slots=True)
class NetworkFacts:
    """The analysed network: per-layer facts plus totals."""

    network: Network
    input_shape: Shape
    layers: tuple[LayerFacts, ...]
    total_weights: int
    total_biases: int
    activation_values: int
    """Values of every volume for one example, the input included (the CS231n convention)."""

    @property
    def name(self) -> str | None:
        return self.network.name

    @property
    def total_params(self) -> int:
        return self.total_weights + self.total_biases

    @property
    def param_bytes(self) -> int:
        return self.total_params * BYTES_PER_FLOAT32

    @property
    def activation_bytes(self) -> int:
        return self.activation_values * BYTES_PER_FLOAT32

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape if self.layers else self.input_shape


def resolve_window(kernel: tuple[int, int], stride: tuple[int, int], padding: object, shape: Shape) -> Window:
    """Resolve a conv or pool window on an input volume: padding in pixels and the size per axis."""
    if padding == "same":
        top, bottom = ar.same_padding(shape.height, kernel[0], stride[0])
        left, right = ar.same_padding(shape.width, kernel[1], stride[1])
        same = True
    else:
        assert isinstance(padding, tuple)
        top = bottom = padding[0]
        left = right = padding[1]
        same = False
    rows = ar.conv_output_size(shape.height, kernel[0], stride[0], top, bottom)
    cols = ar.conv_output_size(shape.width, kernel[1], stride[1], left, right)
    if same:
        # TensorFlow's rule is ceil(W/S) by definition, even where its implied padding leaves a remainder.
        rows = rows._replace(size=ar.same_output_size(shape.height, stride[0]))
        cols = cols._replace(size=ar.same_output_size(shape.width, stride[1]))
    return Window(kernel, stride, Padding(top, bottom, left, right), same, rows, cols)


def analyze(network: Network) -> NetworkFacts:
    """Walk the layers once, computing shapes, counts and receptive fields."""
    shape = Shape(network.input.height, network.input.width, network.input.channels)
    input_shape = shape
    rf_rows = rf_cols = ar.INPUT_RECEPTIVE_FIELD
    counters: dict[str, int] = {}
    facts: list[LayerFacts] = []
    total_weights = total_biases = 0
    activation_values = shape.values
    for index, layer in enumerate(network.layers):
        counters[layer.type] = counters.get(layer.type, 0) + 1
        name = layer.name if layer.name is not None else f"{layer.type}{counters[layer.type]}"
        window: Window | None = None
        weights = biases = 0
        unshared: int | None = None
        connectivity: Shape | None = None
        if isinstance(layer, Conv):
            window = resolve_window(layer.kernel, layer.stride, layer.padding, shape)
            out = Shape(window.rows.size, window.cols.size, layer.filters)
            weights = ar.conv_weights(layer.kernel[0], layer.kernel[1], shape.depth, layer.filters)
            biases = layer.filters if layer.bias else 0
            unshared = ar.unshared_conv_params(
                out.height, out.width, layer.kernel[0], layer.kernel[1], shape.depth, layer.filters, layer.bias
            )
            connectivity = Shape(layer.kernel[0], layer.kernel[1], shape.depth)
        elif isinstance(layer, Pool):
            stride = layer.stride if layer.stride is not None else layer.kernel
            window = resolve_window(layer.kernel, stride, layer.padding, shape)
            out = Shape(window.rows.size, window.cols.size, shape.depth)
        elif isinstance(layer, FC):
            out = Shape(1, 1, layer.units)
            weights = shape.values * layer.units
            biases = layer.units if layer.bias else 0
            connectivity = shape
            # An fc layer is a conv whose kernel is the whole input volume (the FC ⇔ CONV equivalence).
            rf_rows = ar.receptive_field(rf_rows, max(shape.height, 1), 1, 0)
            rf_cols = ar.receptive_field(rf_cols, max(shape.width, 1), 1, 0)
        elif isinstance(layer, Flatten):
            out = Shape(1, 1, shape.values)
        else:  # ReLU: elementwise
            out = shape
        if window is not None:
            rf_rows = ar.receptive_field(rf_rows, window.kernel[0], window.stride[0], window.padding.top)
            rf_cols = ar.receptive_field(rf_cols, window.kernel[1], window.stride[1], window.padding.left)
        facts.append(
            LayerFacts(
                index=index,
                name=name,
                type=layer.type,
                spec=layer,
                input_shape=shape,
                output_shape=out,
                window=window,
                weights=weights,
                biases=biases,
                unshared_params=unshared,
                local_connectivity=connectivity,
                rf_rows=rf_rows,
                rf_cols=rf_cols,
            )
        )
        total_weights += weights
        total_biases += biases
        activation_values += out.values
        shape = out
    return NetworkFacts(
        network=network,
        input_shape=input_shape,
        layers=tuple(facts),
        total_weights=total_weights,
        total_biases=total_biases,
        activation_values=activation_values,
    )
