"""One pass over a validated network that records frozen facts per layer.

Rules and renderers read these facts; nothing downstream recomputes a shape or a count.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from convcalc import arithmetic as ar
from convcalc.graph import producers
from convcalc.layers import KIND_HOMES, Computed, Padding, Shape, Traits, Window, resolve_window
from convcalc.spec import Network

if TYPE_CHECKING:
    from convcalc.spec import AnyLayer

__all__ = [
    "BYTES_PER_FLOAT32",
    "FIGURE_LIMIT",
    "PARAMS_CONVENTION",
    "FigureLimitError",
    "LayerFacts",
    "NetworkFacts",
    "Padding",
    "Shape",
    "Window",
    "analyze",
    "macs_convention",
    "reanalyze",
    "resolve_window",
]

BYTES_PER_FLOAT32 = 4


class LayerFacts(NamedTuple):
    """Everything convcalc knows about one layer after the analysis pass."""

    index: int  # type: ignore[assignment]  # a field, shadowing tuple's index() (never called on a record)
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
    """Sliding-window layers (convs and pools): the window, resolved."""
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
    statistics: int = 0
    """Parameters the kind itself never trains (the running statistics of normalisation layers)."""
    macs: int = 0
    """Multiply-accumulates for one example (FLOPs = 2·MACs)."""
    trainable: bool = True
    """False for a frozen layer (``"trainable": false``): its weights and biases are not trained either."""

    @property
    def traits(self) -> Traits:
        """The kind's yes/no facts (weighted, convolution, merge …)."""
        return self.spec.traits

    @property
    def params(self) -> int:
        return self.weights + self.biases + self.statistics

    @property
    def trainable_params(self) -> int:
        return self.weights + self.biases if self.trainable else 0

    @property
    def frozen_params(self) -> int:
        """The weights and biases of a frozen layer (``"trainable": false``); 0 for a trained one."""
        return 0 if self.trainable else self.weights + self.biases

    @property
    def non_trainable(self) -> int:
        """Parameters not trained: the kind's statistics, plus the weights and biases of a frozen layer."""
        return self.params - self.trainable_params

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


@functools.cache
def macs_convention() -> str:
    """How MACs are counted, as the JSON's ``macs_convention`` says it: the kinds with weights, and those that
    weigh activations, as :data:`~convcalc.layers.KIND_HOMES` declares them (held to the classes when the
    registry is built), so that the JSON report imports no kind its spec does not use."""
    weighted = [home.kind_name for home in KIND_HOMES if home.weighted]
    counted = ", ".join(weighted[:-1]) + f" and {weighted[-1]}"
    weighing = " and ".join(home.kind_name for home in KIND_HOMES if home.macs_of_activations)
    return (
        f"1 MAC = one multiply-accumulate, FLOPs = 2·MACs; counted for {counted} layers (weights only) and for"
        f" {weighing} (its weighted sum, a matmul of activations); biases, pooling, normalisation, activations and"
        " other merges count 0"
    )


PARAMS_CONVENTION = "Keras' count: batchnorm has 4·D params (γ, β trainable; moving mean and variance not)"
"""How the table and ``total_params`` count normalisation statistics (the JSON's ``params_convention``)."""


class NetworkFacts(NamedTuple):
    """The analysed network: per-layer facts plus totals."""

    network: Network
    input_shape: Shape
    layers: tuple[LayerFacts, ...]
    total_weights: int
    total_biases: int
    activation_values: int
    """Values of every volume for one example, the input included (the CS231n convention)."""
    total_statistics: int = 0
    """The kinds' own non-trainable parameters (normalisation statistics)."""
    total_frozen: int = 0
    """Weights and biases of frozen layers (counted in ``total_weights`` and ``total_biases`` too)."""
    total_macs: int = 0

    @property
    def name(self) -> str | None:
        return self.network.name

    @property
    def total_params(self) -> int:
        return self.total_weights + self.total_biases + self.total_statistics

    @property
    def total_trainable_params(self) -> int:
        return self.total_weights + self.total_biases - self.total_frozen

    @property
    def total_non_trainable(self) -> int:
        """Parameters not trained: statistics, and the weights and biases of frozen layers."""
        return self.total_statistics + self.total_frozen

    @property
    def param_bytes(self) -> int:
        return self.total_params * BYTES_PER_FLOAT32

    @property
    def activation_bytes(self) -> int:
        return self.activation_values * BYTES_PER_FLOAT32

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape if self.layers else self.input_shape


FIGURE_LIMIT = 2**63
"""The largest size, count or receptive field convcalc computes with: past it a figure means nothing a
framework could build (TensorFlow's int32 shapes, int64 element counts), and it would only cost time."""


class FigureLimitError(ValueError):
    """A layer whose figures pass :data:`FIGURE_LIMIT`: the spec asks for more than any framework holds.

    Not a finding about the architecture but a limit of what convcalc represents, like a size over 2^31 − 1 in
    the spec itself; the pipeline reports it as invalid input naming the layer (exit 2).
    """

    def __init__(self, index: int, what: str) -> None:
        super().__init__(f"layers[{index}]: {what}")
        self.index = index
        self.what = what


def _over_limit(computed: Computed, fields: tuple[ar.ReceptiveField, ar.ReceptiveField] | None) -> str | None:
    """What passes FIGURE_LIMIT in one layer's figures, if anything (``fields`` None: not computed)."""
    out = computed.out
    values = out.values
    if max(values, computed.weights, computed.macs, computed.unshared or 0) > FIGURE_LIMIT:
        counts = {
            "the output volume": values,
            "the weights": computed.weights,
            "the multiply-accumulates": computed.macs,
            "the unshared parameters": computed.unshared or 0,
        }
        what, value = next((what, value) for what, value in counts.items() if value > FIGURE_LIMIT)
        # The volume shows its sides; the others are counts of it or of the weights: their size alone.
        shown = f"{out} → {_magnitude(value)}" if what == "the output volume" else _magnitude(value)
        return f"{what} ({shown}) pass 2^63, convcalc's limit"
    for rf in fields or ():
        for part in (rf.size, rf.jump, rf.start):
            if abs(part.numerator) > FIGURE_LIMIT or part.denominator > FIGURE_LIMIT:
                return "the receptive field passes 2^63 pixels (or 1/2^63 of one), convcalc's limit"
    return None


def _magnitude(value: int) -> str:
    # Never str() a huge int (Python refuses past 4,300 digits): say how many bits it takes.
    return f"about 2^{value.bit_length() - 1}"


def _layer_facts(
    index: int,
    layer: AnyLayer,
    name: str,
    sources: tuple[int, ...],
    shapes: list[Shape],
    fields: list[tuple[ar.ReceptiveField, ar.ReceptiveField]] | None,
) -> LayerFacts:
    """One layer's facts from its inputs' shapes (and receptive fields; None: the input's, not computed)."""
    shape = shapes[0]
    computed = layer.compute(shape, shapes)
    rf = layer.receptive_field(computed, shape, fields) if fields is not None else None
    # A field passed on whole (most layers: a relu, a batchnorm) was held to the limit where it was made.
    beyond = _over_limit(computed, None if fields is None or rf is fields[0] else rf)
    if beyond is not None:
        raise FigureLimitError(index, f"{name}: {beyond}")
    rf_rows, rf_cols = rf if rf is not None else _INPUT_FIELDS
    return LayerFacts(
        index=index,
        name=name,
        type=layer.kind_name,
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
        statistics=computed.non_trainable,
        macs=computed.macs,
        trainable=layer.trainable,
    )


_INPUT_FIELDS = (ar.INPUT_RECEPTIVE_FIELD, ar.INPUT_RECEPTIVE_FIELD)


def _network_facts(network: Network, input_shape: Shape, facts: tuple[LayerFacts, ...]) -> NetworkFacts:
    return NetworkFacts(
        network=network,
        input_shape=input_shape,
        layers=facts,
        total_weights=sum(layer.weights for layer in facts),
        total_biases=sum(layer.biases for layer in facts),
        activation_values=input_shape.values + sum(layer.output_shape.values for layer in facts),
        total_statistics=sum(layer.statistics for layer in facts),
        total_frozen=sum(layer.frozen_params for layer in facts if not layer.trainable),  # most have none
        total_macs=sum(layer.macs for layer in facts),
    )


def _moved_totals(base: NetworkFacts, network: Network, facts: tuple[LayerFacts, ...], moved: set[int]) -> NetworkFacts:
    """:func:`_network_facts` of ``facts``, which differ from ``base.layers`` at ``moved`` only: the base's totals
    plus what those layers add or take away (exact ints, so the same totals; a fix touches a few of many layers)."""

    weights = biases = values = statistics = frozen = macs = 0
    for i in moved:  # one pass for the six totals: a fix that moves every later shape moves most layers
        now, was = facts[i], base.layers[i]
        weights += now.weights - was.weights
        biases += now.biases - was.biases
        values += now.output_shape.values - was.output_shape.values
        statistics += now.statistics - was.statistics
        frozen += now.frozen_params - was.frozen_params
        macs += now.macs - was.macs
    return base._replace(
        network=network,
        layers=facts,
        total_weights=base.total_weights + weights,
        total_biases=base.total_biases + biases,
        activation_values=base.activation_values + values,
        total_statistics=base.total_statistics + statistics,
        total_frozen=base.total_frozen + frozen,
        total_macs=base.total_macs + macs,
    )


def analyze(network: Network, receptive_fields: bool = True) -> NetworkFacts:
    """Walk the layers once, in order, computing shapes, counts, MACs and receptive fields.

    ``receptive_fields=False`` leaves every field at the input's (for callers that only need shapes:
    the exact fraction arithmetic is most of the cost on deep networks). Raises FigureLimitError at the first
    layer whose figures pass FIGURE_LIMIT.
    """
    input_shape = Shape(network.input.height, network.input.width, network.input.channels)
    counters: dict[str, int] = {}
    facts: list[LayerFacts] = []
    for index, (layer, sources) in enumerate(zip(network.layers, producers(network), strict=True)):
        kind = layer.kind_name
        counters[kind] = counters.get(kind, 0) + 1
        name = layer.name if layer.name is not None else f"{kind}{counters[kind]}"
        shapes = [input_shape if s < 0 else facts[s].output_shape for s in sources]
        fields = (
            [_INPUT_FIELDS if s < 0 else (facts[s].rf_rows, facts[s].rf_cols) for s in sources]
            if receptive_fields
            else None
        )
        facts.append(_layer_facts(index, layer, name, sources, shapes, fields))
    return _network_facts(network, input_shape, tuple(facts))


def reanalyze(base: NetworkFacts, network: Network, changed: Iterable[int]) -> NetworkFacts:
    """``analyze(network, receptive_fields=False)`` for a ``network`` that differs from ``base.network`` only in
    the layers at ``changed``: as many layers, each of the same kind, name and ``inputs``. Only a changed
    layer, or one that reads a volume whose shape changed, is computed again; every other layer keeps its
    facts, and the walk stops after the last change once no shape differs. So a fix re-checked on a deep
    network costs the layers it touches, not all of them.

    A ``base`` analysed with receptive fields gives the same facts but for those fields: the layers computed
    again have the input's (not computed), the others keep the base's; for callers that read no field (the
    fix checks: no error rule does), that saves analysing the base again.
    """
    todo = set(changed)
    if not todo:
        return base._replace(network=network)
    facts = list(base.layers)
    moved: set[int] = set()
    computed: set[int] = set()
    last = max(todo)
    index = min(todo)
    while index < len(facts) and (index <= last or moved):
        before = facts[index]
        layer = network.layers[index]
        if index in todo or any(s in moved for s in before.inputs):
            shapes = [base.input_shape if s < 0 else facts[s].output_shape for s in before.inputs]
            facts[index] = _layer_facts(index, layer, before.name, before.inputs, shapes, None)
            computed.add(index)
            if facts[index].output_shape != before.output_shape:
                moved.add(index)
        elif layer is not before.spec:
            facts[index] = before._replace(spec=layer)
        index += 1
    return _moved_totals(base, network, tuple(facts), computed)
