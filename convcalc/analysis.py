"""One pass over a validated network that records frozen facts per layer.

Rules and renderers read these facts; nothing downstream recomputes a shape or a count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from convcalc import arithmetic as ar
from convcalc.graph import producers
from convcalc.spec import (
    FC,
    AnyLayer,
    BatchNorm,
    Concat,
    Conv,
    ConvTranspose,
    Depthwise,
    Flatten,
    GlobalPool,
    Network,
    Pool,
    Separable,
    ZeroPadding,
)

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
    dilation: tuple[int, int] = (1, 1)

    @property
    def effective_kernel(self) -> tuple[int, int]:
        """d·(F − 1) + 1 per axis: the extent the (dilated) kernel covers."""
        return (
            ar.effective_kernel(self.kernel[0], self.dilation[0]),
            ar.effective_kernel(self.kernel[1], self.dilation[1]),
        )

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
    """The layer kind (``dense`` reads as ``fc``)."""
    spec: AnyLayer
    input_shape: Shape
    """The (first) input volume."""
    output_shape: Shape
    window: Window | None
    """Conv, depthwise, separable and pool layers: the sliding window, resolved."""
    weights: int
    biases: int
    unshared_params: int | None
    """Conv only: the cost without parameter sharing (a locally connected layer)."""
    local_connectivity: Shape | None
    """Conv and fc: the F×F×D input values one output neuron sees."""
    rf_rows: ar.ReceptiveField
    rf_cols: ar.ReceptiveField
    inputs: tuple[int, ...] = ()
    """Indices of the layers read (``-1``: the network input)."""
    input_shapes: tuple[Shape, ...] = ()
    """Every input volume (merges read several)."""
    non_trainable: int = 0
    """Parameters that are not trained (batchnorm's moving mean and variance)."""
    macs: int = 0
    """Multiply-accumulates for one example (FLOPs = 2·MACs)."""

    @property
    def params(self) -> int:
        return self.weights + self.biases + self.non_trainable

    @property
    def trainable_params(self) -> int:
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


MACS_CONVENTION = (
    "1 MAC = one multiply-accumulate, FLOPs = 2·MACs; counted for conv, depthwise, separable, conv_transpose"
    " and fc layers (weights only); biases, pooling, normalisation, activations and merges count 0"
)


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
    total_non_trainable: int = 0
    total_macs: int = 0

    @property
    def name(self) -> str | None:
        return self.network.name

    @property
    def total_params(self) -> int:
        return self.total_weights + self.total_biases + self.total_non_trainable

    @property
    def total_trainable_params(self) -> int:
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


def resolve_window(
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: object,
    shape: Shape,
    dilation: tuple[int, int] = (1, 1),
) -> Window:
    """Resolve a conv or pool window on an input volume: padding in pixels and the size per axis."""
    eff_h = ar.effective_kernel(kernel[0], dilation[0])
    eff_w = ar.effective_kernel(kernel[1], dilation[1])
    if padding == "same":
        top, bottom = ar.same_padding(shape.height, eff_h, stride[0])
        left, right = ar.same_padding(shape.width, eff_w, stride[1])
        same = True
    else:
        assert isinstance(padding, tuple)
        top = bottom = padding[0]
        left = right = padding[1]
        same = False
    rows = ar.conv_output_size(shape.height, eff_h, stride[0], top, bottom)
    cols = ar.conv_output_size(shape.width, eff_w, stride[1], left, right)
    if same:
        # TensorFlow's rule is ceil(W/S) by definition, even where its implied padding leaves a remainder.
        rows = rows._replace(size=ar.same_output_size(shape.height, stride[0]))
        cols = cols._replace(size=ar.same_output_size(shape.width, stride[1]))
    return Window(kernel, stride, Padding(top, bottom, left, right), same, rows, cols, dilation)


def transpose_output(layer: ConvTranspose, shape: Shape) -> Shape:
    """The output volume of a transposed conv (Keras' semantics for ``"same"``)."""
    sizes = []
    for axis, size in enumerate((shape.height, shape.width)):
        kernel = ar.effective_kernel(layer.kernel[axis], layer.dilation[axis])
        output_padding = None if layer.output_padding is None else layer.output_padding[axis]
        if layer.padding == "same":
            sizes.append(ar.same_transpose_output_size(size, kernel, layer.stride[axis], output_padding))
        else:
            assert isinstance(layer.padding, tuple)
            pad = layer.padding[axis]
            if output_padding is None:
                # Keras' default: a kernel smaller than the stride still fills whole stride-sized cells.
                output_padding = max(layer.stride[axis] - kernel, 0)
            sizes.append(ar.transpose_output_size(size, kernel, layer.stride[axis], pad, output_padding))
    return Shape(sizes[0], sizes[1], layer.filters)


def _whole_input_field(rf: ar.ReceptiveField, size: int) -> ar.ReceptiveField:
    # fc, flatten and global pooling see the whole H×W: a window as large as the input.
    return ar.receptive_field(rf, max(size, 1), 1, 0)


@dataclass
class _Layer:
    """What one layer kind computes from its input: filled in by ``_compute``."""

    out: Shape
    window: Window | None = None
    weights: int = 0
    biases: int = 0
    non_trainable: int = 0
    macs: int = 0
    unshared: int | None = None
    connectivity: Shape | None = None


def _compute(layer: AnyLayer, shape: Shape, inputs: list[Shape]) -> _Layer:
    """Shapes, counts and MACs of one layer on its input volume(s), with the formulas of ``arithmetic``."""
    d = shape.depth
    if isinstance(layer, Conv):
        window = resolve_window(layer.kernel, layer.stride, layer.padding, shape, layer.dilation)
        out = Shape(window.rows.size, window.cols.size, layer.filters)
        per_group = d // layer.groups  # a non-dividing group count is CC104's; count what TF cannot build
        fh, fw = layer.kernel
        weights = ar.conv_weights(fh, fw, per_group, layer.filters)
        return _Layer(
            out,
            window,
            weights=weights,
            biases=layer.filters if layer.bias else 0,
            macs=ar.shared_weight_macs(out.height * out.width, weights),
            unshared=ar.unshared_conv_params(out.height, out.width, fh, fw, per_group, layer.filters, layer.bias),
            connectivity=Shape(fh, fw, per_group),
        )
    if isinstance(layer, Depthwise | Separable):
        window = resolve_window(layer.kernel, layer.stride, layer.padding, shape, layer.dilation)
        fh, fw = layer.kernel
        positions = window.rows.size * window.cols.size
        if isinstance(layer, Depthwise):
            mid = d * layer.multiplier
            weights = ar.depthwise_weights(fh, fw, d, layer.multiplier)
            out = Shape(window.rows.size, window.cols.size, mid)
            biases = mid if layer.bias else 0
        else:
            weights = ar.separable_weights(fh, fw, d, layer.multiplier, layer.filters)
            out = Shape(window.rows.size, window.cols.size, layer.filters)
            biases = layer.filters if layer.bias else 0
        return _Layer(out, window, weights, biases, macs=ar.shared_weight_macs(positions, weights))
    if isinstance(layer, ConvTranspose):
        weights = ar.conv_weights(layer.kernel[0], layer.kernel[1], d, layer.filters)
        return _Layer(
            transpose_output(layer, shape),
            weights=weights,
            biases=layer.filters if layer.bias else 0,
            macs=ar.shared_weight_macs(shape.height * shape.width, weights),
        )
    if isinstance(layer, Pool):
        stride = layer.stride if layer.stride is not None else layer.kernel
        window = resolve_window(layer.kernel, stride, layer.padding, shape)
        return _Layer(Shape(window.rows.size, window.cols.size, d), window)
    if isinstance(layer, GlobalPool):
        return _Layer(Shape(1, 1, d))
    if isinstance(layer, FC):
        weights = ar.fc_params(shape.values, layer.units, bias=False)
        return _Layer(
            Shape(1, 1, layer.units),
            weights=weights,
            biases=layer.units if layer.bias else 0,
            macs=ar.shared_weight_macs(1, weights),
            connectivity=shape,
        )
    if isinstance(layer, BatchNorm):
        return _Layer(shape, weights=d if layer.scale else 0, biases=d if layer.center else 0, non_trainable=2 * d)
    if isinstance(layer, ZeroPadding):
        top, bottom, left, right = layer.padding
        return _Layer(Shape(shape.height + top + bottom, shape.width + left + right, d))
    if isinstance(layer, Flatten):
        return _Layer(Shape(1, 1, shape.values))
    if isinstance(layer, Concat):
        return _Layer(Shape(shape.height, shape.width, sum(s.depth for s in inputs)))
    # relu, activation, dropout, add: the shape passes through (add's mismatches are CC105's).
    return _Layer(shape)


def _receptive_fields(
    layer: AnyLayer, computed: _Layer, shape: Shape, fields: list[tuple[ar.ReceptiveField, ar.ReceptiveField]]
) -> tuple[ar.ReceptiveField, ar.ReceptiveField]:
    # Through a merge the largest field wins (the path that sees the most).
    rf_rows = max((f[0] for f in fields), key=lambda f: f.size)
    rf_cols = max((f[1] for f in fields), key=lambda f: f.size)
    window = computed.window
    if window is not None:
        eff = window.effective_kernel
        return (
            ar.receptive_field(rf_rows, eff[0], window.stride[0], window.padding.top),
            ar.receptive_field(rf_cols, eff[1], window.stride[1], window.padding.left),
        )
    if isinstance(layer, ConvTranspose):
        extent = [ar.effective_kernel(f, d) for f, d in zip(layer.kernel, layer.dilation, strict=True)]
        if layer.padding == "same":
            # Keras' "same" transposed conv is the gradient of a "same" conv from its output back to W.
            out = (computed.out.height, computed.out.width)
            pads = tuple(ar.same_padding(out[a], extent[a], layer.stride[a])[0] for a in (0, 1))
        else:
            assert isinstance(layer.padding, tuple)
            pads = layer.padding
        return (
            ar.transposed_receptive_field(rf_rows, extent[0], layer.stride[0], pads[0]),
            ar.transposed_receptive_field(rf_cols, extent[1], layer.stride[1], pads[1]),
        )
    if isinstance(layer, FC | Flatten | GlobalPool):
        return _whole_input_field(rf_rows, shape.height), _whole_input_field(rf_cols, shape.width)
    if isinstance(layer, ZeroPadding):
        top, _, left, _ = layer.padding
        return (
            rf_rows._replace(start=rf_rows.start - top * rf_rows.jump),
            rf_cols._replace(start=rf_cols.start - left * rf_cols.jump),
        )
    return rf_rows, rf_cols


def analyze(network: Network, receptive_fields: bool = True) -> NetworkFacts:
    """Walk the layers once, in order, computing shapes, counts, MACs and receptive fields.

    ``receptive_fields=False`` leaves every field at the input's (for callers that only need shapes:
    the exact fraction arithmetic is most of the cost on deep networks).
    """
    input_shape = Shape(network.input.height, network.input.width, network.input.channels)
    input_fields = (ar.INPUT_RECEPTIVE_FIELD, ar.INPUT_RECEPTIVE_FIELD)
    counters: dict[str, int] = {}
    facts: list[LayerFacts] = []
    totals = {"weights": 0, "biases": 0, "non_trainable": 0, "macs": 0}
    activation_values = input_shape.values
    for index, (layer, sources) in enumerate(zip(network.layers, producers(network), strict=True)):
        kind = "fc" if layer.type == "dense" else layer.type
        counters[kind] = counters.get(kind, 0) + 1
        name = layer.name if layer.name is not None else f"{kind}{counters[kind]}"
        shapes = [input_shape if s < 0 else facts[s].output_shape for s in sources]
        fields = [input_fields if s < 0 else (facts[s].rf_rows, facts[s].rf_cols) for s in sources]
        shape = shapes[0]
        computed = _compute(layer, shape, shapes)
        rf_rows, rf_cols = _receptive_fields(layer, computed, shape, fields) if receptive_fields else input_fields
        facts.append(
            LayerFacts(
                index=index,
                name=name,
                type=kind,
                spec=layer,
                input_shape=shape,
                output_shape=computed.out,
                window=computed.window,
                weights=computed.weights,
                biases=computed.biases,
                unshared_params=computed.unshared,
                local_connectivity=computed.connectivity,
                rf_rows=rf_rows,
                rf_cols=rf_cols,
                inputs=sources,
                input_shapes=tuple(shapes),
                non_trainable=computed.non_trainable,
                macs=computed.macs,
            )
        )
        totals["weights"] += computed.weights
        totals["biases"] += computed.biases
        totals["non_trainable"] += computed.non_trainable
        totals["macs"] += computed.macs
        activation_values += computed.out.values
    return NetworkFacts(
        network=network,
        input_shape=input_shape,
        layers=tuple(facts),
        total_weights=totals["weights"],
        total_biases=totals["biases"],
        activation_values=activation_values,
        total_non_trainable=totals["non_trainable"],
        total_macs=totals["macs"],
    )
