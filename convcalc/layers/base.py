"""What a layer kind is: its spec model and, on the same class, everything convcalc knows about it.

A kind is one pydantic model (the JSON object in a spec) that also answers every question the rest of
convcalc asks about it — shape and counts, receptive field, traits, course notation, how the diagram draws
it, its Keras layers both ways, its tf.nn code, the ONNX ops it reads and its PyTorch modules — the way a
Keras layer class owns its ``compute_output_shape`` and ``get_config``. The registry (:mod:`convcalc.layers`)
lists the kinds and refuses, when it is built, a kind that leaves a capability undeclared: there is no default that
would silently treat an unknown kind as an identity.
"""

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar, Literal, NamedTuple, get_args

from pydantic import BaseModel, ConfigDict, Field

from convcalc import arithmetic as ar
from convcalc.layers.fields import Codes, Inputs, Name, StrictBool

# Imported for real, not under TYPE_CHECKING, and no ``from __future__ import annotations`` in this module
# nor in the kinds' modules: pydantic evaluates LayerSpec's annotations again for every kind, and its own, and
# each string annotation costs a compile every time (about 400 here, ~6 ms of a cold start; the kinds' own
# fields about 85 more, ~1.5 ms). A kind's method that returns its own class names it in quotes. These
# modules never import this one.
from convcalc.layers.keras import KerasOps, Op, Reader
from convcalc.layers.onnx import OnnxReader
from convcalc.layers.pytorch import TorchOps, TorchStep
from convcalc.layers.tfnn import KerasOp
from convcalc.layers.volume import Padding, Shape, Window

FieldPair = tuple[ar.ReceptiveField, ar.ReceptiveField]
"""The receptive field along rows and along columns."""
MergeMark = Literal["plus", "minus", "times", "stack", "mean", "max", "min", "select"]
"""The sign the diagram draws in a merge circle: ⊕ add, ⊖ subtract, ⊗ multiply, ‖ concat, ÷ average, ∧ maximum,
∨ minimum, Σ split attention (a weighted sum of branches)."""

Drawing = Literal["volume", "bar", "merge", "inside", "prefix"]
"""How the diagram draws a kind: its own box, a flat bar (fc, flatten, global pooling), a merge circle, inside
the box of the layer it reads (layers that keep the volume), or folded into the window that reads it (zero
padding, which Keras writes before a "valid" conv)."""


PerChannel = Literal["none", "first", "all"]
"""Which of a layer's spatial filters read one input channel each (:meth:`LayerSpec.per_channel_filters`)."""


class Traits(NamedTuple):
    """Yes/no facts about a kind that rules, renderers and the exporter ask; every kind states all of them."""

    weighted: bool
    """A linear map with learned weights (conv, fc …): what CC303 pairs up and where the logits come from."""
    convolution: bool
    """Any convolution: a sliding filter bank, or its transpose."""
    mixes_channels: bool
    """Each output reads every input channel (per group): false for a depthwise conv, pooling, activations."""
    keeps_shape: bool
    """Reads one volume and outputs one of the same H×W×D (the values may change)."""
    merge: bool
    """Reads two or more volumes."""
    whole_input: bool
    """Sees the whole H×W of its input at once and outputs a 1×1×n vector (fc, flatten, global pooling)."""
    pooling: bool
    """A pooling layer (no parameters; summarises windows or the whole input)."""
    sums: bool = False
    """A merge that adds, subtracts or averages its inputs elementwise: a linear combination, one stream (a
    residual)."""
    equal_shapes: bool = False
    """A merge of volumes of one shape, value by value (add, subtract, average, maximum, minimum): CC105's."""
    new_grid: bool = False
    """Lays its input's values out as a volume of its own (a reshape): no output position stands for an input
    position, so no stride chain runs through it and no merge aligns it with another grid."""


PLUMBING_TRAITS = Traits(
    weighted=False,
    convolution=False,
    mixes_channels=False,
    keeps_shape=False,
    merge=False,
    whole_input=False,
    pooling=False,
)
"""A single-input layer without weights that changes the volume's size by moving values (padding, cropping,
resampling, a channel slice): every trait false."""


class Computed(NamedTuple):
    """What a layer computes on its input volume(s): the output, the resolved window, counts and MACs."""

    out: Shape
    window: Window | None = None
    weights: int = 0
    biases: int = 0
    non_trainable: int = 0
    macs: int = 0
    unshared: int | None = None
    """Conv only: the cost without parameter sharing (a locally connected layer)."""
    connectivity: Shape | None = None
    """Conv and fc: the F×F×D input values one output neuron sees."""
    grid_input: int = 0
    """Merges: the input whose grid (H×W) the output keeps; a broadcast 1×1 gate has none."""


class DiagramWindow(NamedTuple):
    """The window a diagram labels on a box: F, S, P per side and the dilation."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: Padding
    dilation: tuple[int, int] = (1, 1)


def merged_field(fields: Sequence[FieldPair]) -> FieldPair:
    """Through a merge of volumes of one H×W: the largest field, on the grid of the coarsest input (per axis, the
    largest jump; among those, the widest). A 1×1 volume upsampled to H×W (GCNet's context, DeepLab's image pooling)
    is the same at every position, and its finer jump is no grid: the sum keeps its other input's."""
    if len(fields) == 1:
        return fields[0]
    pair = []
    for axis in (0, 1):
        coarsest = max(f[axis].jump for f in fields)
        grid = max((f[axis] for f in fields if f[axis].jump == coarsest), key=lambda f: f.size)
        pair.append(grid._replace(size=max(f[axis].size for f in fields)))
    return pair[0], pair[1]


def widest(fields: Sequence[FieldPair]) -> FieldPair:
    """Through a merge the largest field wins (the path that sees the most); one input: its field."""
    if len(fields) == 1:
        return fields[0]
    return (max((f[0] for f in fields), key=lambda f: f.size), max((f[1] for f in fields), key=lambda f: f.size))


class BuildProblem(NamedTuple):
    """What a framework refuses in a layer whose shapes are sound: why, and field changes that avoid it."""

    reason: str
    changes: tuple[dict[str, object], ...] = ()


UNIT_STEP = (Fraction(1), Fraction(1))
"""The output grid of a layer that does not resample: one output per input position."""


class LayerSpec(BaseModel):
    """The fields every layer object has, and the capabilities every kind must declare.

    The methods below raise when a kind has not declared them; the registry refuses such a kind when it is
    built (see :func:`convcalc.layers.missing_capabilities`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    if TYPE_CHECKING:
        type: str
        """Every kind's discriminator field: a Literal of its type names."""

    name: Name | None = Field(default=None, description="Optional layer name, shown in tables and findings.")
    ignore: Codes = Field(default=(), description="Rule codes or prefixes silenced for this layer (like # noqa).")
    inputs: Inputs | None = Field(
        default=None,
        description='Names of the layers (or "input") this one reads; by default the previous layer.',
    )
    trainable: StrictBool = Field(
        default=True,
        description="false: a frozen layer (Keras trainable=False); its weights and biases count as non-trainable.",
    )

    # --- declarations every kind makes (class attributes) ------------------------------------------------

    kind_name: ClassVar[str]
    """The kind's name as tables and findings show it (``dense`` is written as ``fc``)."""
    traits: ClassVar[Traits]
    drawing: ClassVar[Drawing]
    example: ClassVar[Mapping[str, object]]
    """A small valid layer object of this kind (read on an 8×8×4 input): documentation, and what the registry's
    tests build to prove every capability."""
    keras_readers: ClassVar[Mapping[str, Reader]]
    """Keras layer class → how its config becomes spec layers (the Keras import)."""
    keras_ops: ClassVar[Mapping[str, KerasOp]]
    """The Keras layer classes this kind's export emits that it owns, with their tf.nn translation."""
    onnx_readers: ClassVar[Mapping[str, OnnxReader]] = {}
    """ONNX op type → how a node becomes spec layers (the ONNX import). Optional: a kind that no single ONNX op
    computes has none, and an op that no kind claims is refused by name."""
    torch_helpers: ClassVar[Mapping[str, str]] = {}
    """Optional: ``nn.Module`` classes PyTorch lacks that this kind's ``to_torch`` uses (``ChannelLayerNorm``),
    name → source (needs ``torch``, ``nn`` and ``F`` in scope): pasted into generated code and executed by
    ``verify``, so each is written once."""
    macs_of_activations: ClassVar[bool] = False
    """Optional: a kind without weights whose output contracts its inputs with each other, a multiply-add per
    term (attention pooling's weighted sum: a matmul, which PyTorch's FLOP counter counts); its MACs count them."""
    inputs_exactly: ClassVar[int | None] = None
    """Optional: for a merge that reads a fixed number of inputs (subtract's two), that number."""
    spelled_elsewhere: ClassVar[Mapping[str, str]] = {}
    """Optional: names other tools give this kind, folded (:func:`~convcalc.text.folded`: ``maxpooling2d``),
    with what to write in a spec instead (``"type": "pool", "mode": "max"``): a "did you mean" for them."""

    @classmethod
    def type_names(cls) -> tuple[str, ...]:
        """The ``type`` values that select this kind (``fc`` and its alias ``dense``)."""
        names: tuple[str, ...] = get_args(cls.model_fields["type"].annotation)
        return names

    # --- capabilities --------------------------------------------------------------------------------------

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        """Output volume, window, parameter counts and MACs on the input ``shape`` (all ``inputs`` for merges)."""
        raise NotImplementedError(f"{type(self).__name__} does not declare compute")

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        """The receptive field of the output, from the fields of the inputs."""
        raise NotImplementedError(f"{type(self).__name__} does not declare receptive_field")

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        """Input pixels between neighbouring outputs, per axis, in units of the input's: S for a strided
        window, 1/S for a transposed conv, 1 where the grid stays."""
        raise NotImplementedError(f"{type(self).__name__} does not declare grid_step")

    def is_nonlinear(self) -> bool:
        """Whether the layer bends its input (ReLU, max pooling …); linear layers compose into one map."""
        raise NotImplementedError(f"{type(self).__name__} does not declare is_nonlinear")

    def notation(self, window: Window | None) -> str:
        """The settings in the notation CNN courses use: ``F=3 S=1 P=1 K=64``."""
        raise NotImplementedError(f"{type(self).__name__} does not declare notation")

    def caption(self) -> str:
        """The short name the diagram writes in a box's caption (``conv``, ``bn``, ``maxpool``)."""
        raise NotImplementedError(f"{type(self).__name__} does not declare caption")

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        """The window the diagram labels on this layer's box, if it has one."""
        raise NotImplementedError(f"{type(self).__name__} does not declare diagram_window")

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        """Append this layer's Keras layers to ``ops``; returns the one that does the work (holds the weights)."""
        raise NotImplementedError(f"{type(self).__name__} does not declare to_keras")

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        """The weight tensors in TensorFlow's layout, as Keras names them (kernel, depthwise, pointwise)."""
        raise NotImplementedError(f"{type(self).__name__} does not declare weight_shapes")

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        """Append this layer's PyTorch steps to ``ops``; returns the one that does the work (holds the weights).
        Raises :class:`~convcalc.layers.pytorch.TorchRefusal` where PyTorch cannot compute it exactly."""
        raise NotImplementedError(f"{type(self).__name__} does not declare to_torch")

    # --- hooks with a stated meaning when a kind says nothing ---------------------------------------------

    def added_padding(self) -> Padding | None:
        """Zeros this layer adds around the volume on its own (a zero-padding layer); None for others."""
        return None

    def merge_mark(self) -> MergeMark | None:
        """The sign a merge circle shows in the diagram (⊕, ⊗, ‖); None for layers that are no merge."""
        return None

    def activation_function(self) -> str | None:
        """The elementwise function this layer applies (``relu``, ``softmax`` …), None for other layers."""
        return None

    def per_channel_filters(self, depth: int) -> PerChannel:
        """Which of its spatial filters read one input channel each, on an input ``depth`` channels deep:
        ``"all"``, ``"first"`` (an F×F part before a 1×1 part that mixes the channels) or ``"none"``. The
        rules read it: a per-channel F×F is cheap, and a linear layer feeding one gains spatial reach.
        By default a convolution that does not mix channels is ``"all"``."""
        return "all" if self.traits.convolution and not self.traits.mixes_channels else "none"

    def tensorflow_problem(self, shape: Shape, output: Shape) -> BuildProblem | None:
        """Why TensorFlow cannot build this layer although its shapes are sound (a kernel it lacks), and the
        changes to this layer's fields that avoid it; None when it can (CC108 reports it)."""
        return None


PER_POSITION_TRAITS = Traits(
    weighted=False,
    convolution=False,
    mixes_channels=False,
    keeps_shape=True,
    merge=False,
    whole_input=False,
    pooling=False,
)


class PerPosition(LayerSpec):
    """The base of kinds that keep the volume and act on each position on its own (activations, dropout,
    normalisation, per-channel scaling, preprocessing): the receptive field and the grid pass through, no
    window, no kernel; drawn inside the box of the layer it follows."""

    traits = PER_POSITION_TRAITS
    drawing = "inside"

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(shape)  # no parameters unless the kind says otherwise

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        return widest(fields)

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return UNIT_STEP

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()


REQUIRED_CAPABILITIES = (
    "compute",
    "receptive_field",
    "grid_step",
    "is_nonlinear",
    "notation",
    "caption",
    "diagram_window",
    "to_keras",
    "weight_shapes",
    "to_torch",
)
"""Methods a kind must define itself (or take from a family base of its module); LayerSpec's raise."""
REQUIRED_DECLARATIONS = ("kind_name", "traits", "drawing", "example", "keras_readers", "keras_ops")
"""Class attributes a kind must set."""


def missing_capabilities(cls: "type[LayerSpec]") -> list[str]:
    """What a kind leaves undeclared (empty for a complete kind)."""
    missing = [name for name in REQUIRED_DECLARATIONS if not hasattr(cls, name)]
    missing += [name for name in REQUIRED_CAPABILITIES if getattr(cls, name) is getattr(LayerSpec, name)]
    if "type" not in cls.model_fields or not get_args(cls.model_fields["type"].annotation):
        missing.append("type (a Literal of the type names)")
    return missing


def whole_input_field(fields: Sequence[FieldPair], shape: Shape) -> FieldPair:
    """fc, flatten and global pooling see the whole H×W: a window as large as the input."""
    rows, cols = widest(fields)
    return (
        ar.receptive_field(rows, max(shape.height, 1), 1, 0),
        ar.receptive_field(cols, max(shape.width, 1), 1, 0),
    )
