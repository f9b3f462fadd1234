"""Merges of two or more volumes: ``add`` (equal shapes, a residual connection), ``subtract`` (two of equal
shape, a − b: PoolFormer's pool(x) − x), ``average``, ``maximum`` and ``minimum`` (equal shapes, value by value),
``concat`` (equal H×W, stacked along the depth) and ``multiply`` (equal shapes, or a 1×1×D gate broadcast over an
H×W×D volume).

No parameters and no MACs (a multiply's H·W·D products count 0, like an add's sums); the receptive field
follows the input that sees the most. A mismatch is an error finding (CC105, CC106, CC110), not a validation
error: the analysis reports what a framework would build. Keras: ``Add``, ``Subtract``, ``Average``,
``Maximum``, ``Minimum``, ``Concatenate`` (axis −1), ``Multiply``, and InceptionResNetV2's ``CustomScaleLayer``
(x + s·r: a rescaling of r, then an add); tf.nn: ``tf.add_n``, ``-``, ``(a + b)/n``, ``tf.maximum``,
``tf.minimum``, ``tf.concat``, ``*``.
"""

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import ClassVar, Literal

from convcalc.layers.base import (
    UNIT_STEP,
    Computed,
    DiagramWindow,
    FieldPair,
    LayerSpec,
    MergeMark,
    Traits,
    merged_field,
    widest,
)
from convcalc.layers.keras import (
    KerasLayer,
    KerasOps,
    Mapped,
    Op,
    Reader,
    Source,
    Step,
    Tensor,
    Volume,
    short_json,
    volume_of,
)
from convcalc.layers.onnx import Constant, OnnxMapped, OnnxNode, OnnxReader, channel_axis, written_number
from convcalc.layers.pytorch import TorchOps, TorchShape, TorchStep, chw
from convcalc.layers.tfnn import KerasOp
from convcalc.layers.volume import Shape, Window, broadcast_shape
from convcalc.pysource import literal

MERGE_TRAITS = Traits(
    weighted=False,
    convolution=False,
    mixes_channels=False,
    keeps_shape=False,
    merge=True,
    whole_input=False,
    pooling=False,
)
ELEMENTWISE_TRAITS = MERGE_TRAITS._replace(equal_shapes=True)
"""Volumes of one shape, value by value (maximum and minimum; the sums below too)."""
SUM_TRAITS = ELEMENTWISE_TRAITS._replace(sums=True)
"""add, subtract and average: a linear combination of their inputs, one stream."""


def _merge_inputs(ops: KerasOps | TorchOps, volumes: bool = False) -> tuple[list[str], bool]:
    """The tensors a merge reads, a flat input reshaped to 1×1×n when another is a volume (or always, with
    ``volumes``); whether all are left flat."""
    inputs = []
    all_flat = not volumes and all(len(shape) == 1 for _, shape in ops.sources)
    for name, shape in ops.sources:
        if len(shape) == 1 and not all_flat:
            ops.current, ops.shape = name, shape
            ops.volume()
            name = ops.current
        inputs.append(name)
    return inputs, all_flat


class _Merge(LayerSpec):
    """The family base: every input as the same kind of tensor (flat only when all of them are flat)."""

    traits = MERGE_TRAITS
    drawing = "merge"
    mark: ClassVar[MergeMark]

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        return merged_field(fields)

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return UNIT_STEP

    def is_nonlinear(self) -> bool:
        return False

    def notation(self, window: Window | None) -> str:
        return ""

    def caption(self) -> str:
        return self.kind_name

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()

    def merge_mark(self) -> MergeMark:
        return self.mark

    def _merge(self, ops: KerasOps, layer: str, output: Shape) -> Op:
        inputs, all_flat = _merge_inputs(ops)
        out: Volume = (output.depth,) if all_flat else volume_of(output)
        return ops.append(layer, ops.base, out, tuple(inputs), {"axis": -1} if layer == "Concatenate" else {})

    def _torch_merge(self, ops: TorchOps, code: str, output: Shape) -> TorchStep:
        """The expression over every input, a flat one viewed as n×1×1 when the others are volumes."""
        inputs, all_flat = _merge_inputs(ops)
        out: TorchShape = (output.depth,) if all_flat else chw(output)
        return ops.expression(ops.base, code, out, tuple(inputs))


def _read_add(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    return Mapped([{"type": "add"}], sources[0].rank)


def _rescaled(node: OnnxNode, scale: float, offset: float) -> OnnxMapped:
    """A node that is x·scale + offset of one input, as a rescaling (preprocessing's reader)."""
    # Imported on use: a check imports only the kinds its spec uses (see convcalc.layers).
    from convcalc.layers.preprocessing import rescaled

    return rescaled(node, scale=scale, offset=offset)


def _read_onnx_add(node: OnnxNode) -> OnnxMapped:
    """Add or Sum of data inputs is a merge; an Add of one data input and a stored constant is the bias of the
    conv or fc before it (MatMul + Add), which the importer checks."""
    sources = node.sources
    constants = [i for i, item in enumerate(node.inputs) if isinstance(item, Constant)]
    number = written_number(node) if node.op_type == "Add" else None
    if number is not None:
        return _rescaled(node, scale=1.0, offset=number[1])
    if len(sources) == 1 and len(constants) == 1 and node.op_type == "Add":
        position = next(i for i, item in enumerate(node.inputs) if isinstance(item, Tensor))
        rank = sources[0].rank  # a bias keeps the layout of what it follows (a channels-last Linear's)
        return OnnxMapped([], rank, weights=(constants[0],), bias_for=position, reads_layout=True)
    if constants or len(sources) < 2:
        raise node.refuse("adds a constant tensor: convcalc models an add of layer outputs, or a bias after an fc")
    return _broadcast_vector(node) or OnnxMapped([{"type": "add"}], max(s.rank for s in sources))


def _broadcast_vector(node: OnnxNode) -> OnnxMapped | None:
    """An Add of an (N, C, H, W) volume and an (N, C, 1, 1) vector (GCNet's context, added at every position): the
    vector upsampled to H×W (nearest: every position its one value), then an add of equal shapes; None otherwise."""
    shapes = node.input_shapes
    if len(node.sources) != 2 or any(source.rank != 4 or source.layout for source in node.sources):
        return None
    if any(shape is None or len(shape) != 4 or None in shape[1:] for shape in shapes):
        return None
    for wide, narrow in ((0, 1), (1, 0)):
        _, depth, height, width = (int(size or 0) for size in shapes[wide] or ())
        if tuple((shapes[narrow] or ())[1:]) == (depth, 1, 1) and height * width > 1:
            reads: list[list[Source | Step]] = [[Source(narrow)], [Source(wide), Step(0)]]
            if wide == 1:
                reads[1].reverse()
            upsample = {"type": "upsample", "factor": [height, width]}
            return OnnxMapped([upsample, {"type": "add"}], 4, main=1, reads=reads)
    return None


SCALED_ADD_MODULE = "keras.src.applications.inception_resnet_v2"


def _read_scaled_add(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    """InceptionResNetV2's CustomScaleLayer, ``x + scale·r``: the residual r rescaled, then added (no weights)."""
    if layer.raw.get("module") != SCALED_ADD_MODULE:
        raise layer.refuse(f"a CustomScaleLayer from {short_json(layer.raw.get('module'))}, not {SCALED_ADD_MODULE}")
    scale = layer.config.get("scale")
    if not isinstance(scale, int | float) or isinstance(scale, bool) or not math.isfinite(scale):
        raise layer.refuse(f"scale must be a number (got {short_json(scale)})", "scale")
    if len(sources) != 2:
        raise layer.refuse(f"reads {len(sources)} tensors; it adds a scaled residual to one other (two inputs)")
    rescale = {"type": "rescaling", "scale": float(scale), "offset": 0.0}
    return Mapped([rescale, {"type": "add"}], sources[0].rank, reads=[[Source(1)], [Source(0), Step(0)]])


class _Elementwise(_Merge):
    """The family base of the merges of volumes of one shape, combined value by value (add, subtract, average,
    maximum, minimum)."""

    traits = ELEMENTWISE_TRAITS

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(shape)  # mismatched shapes are CC105's


class _Sum(_Elementwise):
    """The family base of add, subtract and average: a linear combination of the inputs (one stream)."""

    traits = SUM_TRAITS


class Add(_Sum):
    """Adds two or more volumes of the same shape (a residual connection)."""

    type: Literal["add"]

    kind_name = "add"
    mark = "plus"
    example = {"type": "add", "inputs": ["input", "input"]}
    keras_readers = {"Add": _read_add, "CustomScaleLayer": _read_scaled_add}
    onnx_readers = {"Add": _read_onnx_add, "Sum": _read_onnx_add}
    keras_ops = {"Add": KerasOp(lambda op, read, _: f"tf.add_n([{', '.join(read)}])")}

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return self._merge(ops, "Add", output)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        return self._torch_merge(ops, " + ".join(f"{{{i}}}" for i in range(len(ops.sources))), output)


def _read_subtract(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    if len(sources) != 2:
        raise layer.refuse(f"reads {len(sources)} tensors; Subtract reads two (a − b)")
    return Mapped([{"type": "subtract"}], max(source.rank for source in sources))


def _read_onnx_sub(node: OnnxNode) -> OnnxMapped:
    """Sub of two layer outputs is a subtract (PoolFormer's pool(x) − x, FastViT's difference of branches);
    ``x − c`` or ``c − x`` for a number c written into the graph is a rescaling, x·1 − c or x·(−1) + c."""
    sources = node.sources
    if len(sources) == 2 and len(node.inputs) == 2:
        return OnnxMapped([{"type": "subtract"}], max(s.rank for s in sources))
    number = written_number(node)
    if number is None:
        raise node.refuse(
            "subtracts a constant tensor: convcalc models a − b of layer outputs, and x − c or c − x for a number c"
        )
    position, value = number
    return _rescaled(node, scale=1.0, offset=-value) if position == 1 else _rescaled(node, scale=-1.0, offset=value)


class Subtract(_Sum):
    """Subtracts one volume from another of the same shape, a − b (the first input minus the second): PoolFormer's
    token mixer pool(x) − x, FastViT's difference of two branches. Two inputs; 0 params, 0 MACs; linear, like an
    add."""

    type: Literal["subtract"]

    kind_name = "subtract"
    mark = "minus"
    inputs_exactly = 2
    example = {"type": "subtract", "inputs": ["input", "input"]}
    keras_readers = {"Subtract": _read_subtract}
    onnx_readers = {"Sub": _read_onnx_sub}
    spelled_elsewhere = {"sub": '"type": "subtract"', "subtraction": '"type": "subtract"'}
    keras_ops = {"Subtract": KerasOp(lambda op, read, _: f"{read[0]} - {read[1]}")}

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return self._merge(ops, "Subtract", output)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        return self._torch_merge(ops, "{0} - {1}", output)


def _read_elementwise(kind: str) -> Reader:
    """Keras's Average, Maximum, Minimum and Multiply: the merge ``kind`` of every input."""

    def reader(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
        return Mapped([{"type": kind}], max(source.rank for source in sources))

    return reader


def _read_onnx_elementwise(kind: str) -> OnnxReader:
    """ONNX's Mean, Max and Min of layer outputs of one shape: the merge ``kind``; of one input, nothing (it is that
    input); Max(x, 0) of a number 0 written into the graph, a relu. Inputs that broadcast (a gate, a flat vector
    against a volume: ONNX lines up the last axes, W not C) are refused, where shape inference shows them."""

    def reader(node: OnnxNode) -> OnnxMapped:
        sources = node.sources
        number = written_number(node) if kind == "maximum" else None
        if number is not None and number[1] == 0:  # max(x, 0): the unoptimised dynamo exporter's clamp(x, min=0)
            return OnnxMapped([{"type": "relu"}], sources[0].rank, layout=sources[0].layout, reads_layout=True)
        if len(sources) != len(node.inputs):
            raise node.refuse(f"reads a constant tensor: convcalc's {kind} takes layer outputs")
        if len(sources) == 1:
            return OnnxMapped([], sources[0].rank)
        shapes = node.input_shapes
        if len({tuple(s) for s in shapes if s is not None}) > 1:
            shown = ", ".join(str(list(s)) if s is not None else "unknown" for s in shapes)
            raise node.refuse(f"reads tensors of shapes {shown}: convcalc's {kind} takes layer outputs of one shape")
        return OnnxMapped([{"type": kind}], max(s.rank for s in sources))

    return reader


class Average(_Sum):
    """Averages two or more volumes of the same shape, value by value: (a + b + …)/n (Keras's Average; the mean
    of an ensemble's branches). 0 params, 0 MACs, like an add; linear."""

    type: Literal["average"]

    kind_name = "average"
    mark = "mean"
    example = {"type": "average", "inputs": ["input", "input"]}
    keras_readers = {"Average": _read_elementwise("average")}
    onnx_readers = {"Mean": _read_onnx_elementwise("average")}
    spelled_elsewhere = {"mean": '"type": "average"'}
    # Keras sums the inputs in order, then divides by their number: the same float operations here
    keras_ops = {"Average": KerasOp(lambda op, read, _: f"({' + '.join(read)}) / {literal(float(len(read)))}")}

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return self._merge(ops, "Average", output)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        count = len(ops.sources)
        return self._torch_merge(ops, f"({' + '.join(f'{{{i}}}' for i in range(count))}) / {count}", output)


def _nested(function: str, read: Sequence[str]) -> str:
    """``function(function(a, b), c)``: a pairwise function over every input in order, as Keras applies it."""
    code = read[0]
    for other in read[1:]:
        code = f"{function}({code}, {other})"
    return code


class _Extremum(_Elementwise):
    """The family base of maximum and minimum: per value, the largest (or smallest) of the inputs."""

    function: ClassVar[str]
    """The name of the pairwise function in tf and in torch (``maximum``, ``minimum``)."""
    keras_layer: ClassVar[str]

    def is_nonlinear(self) -> bool:
        return True  # max(x, f(x)) is an activation (the funnel ReLU's)

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return self._merge(ops, self.keras_layer, output)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        code = _nested(f"torch.{self.function}", [f"{{{i}}}" for i in range(len(ops.sources))])
        return self._torch_merge(ops, code, output)


class Maximum(_Extremum):
    """The largest of two or more volumes of the same shape, value by value (Keras's Maximum, ``torch.maximum``:
    the funnel ReLU's max(x, T(x)), a maxout over branches). 0 params, 0 MACs; nonlinear."""

    type: Literal["maximum"]

    kind_name = "maximum"
    mark = "max"
    function = "maximum"
    keras_layer = "Maximum"
    example = {"type": "maximum", "inputs": ["input", "input"]}
    keras_readers = {"Maximum": _read_elementwise("maximum")}
    onnx_readers = {"Max": _read_onnx_elementwise("maximum")}
    spelled_elsewhere = {"max": '"type": "maximum"'}
    keras_ops = {"Maximum": KerasOp(lambda op, read, _: _nested("tf.maximum", read))}


class Minimum(_Extremum):
    """The smallest of two or more volumes of the same shape, value by value (Keras's Minimum,
    ``torch.minimum``). 0 params, 0 MACs; nonlinear."""

    type: Literal["minimum"]

    kind_name = "minimum"
    mark = "min"
    function = "minimum"
    keras_layer = "Minimum"
    example = {"type": "minimum", "inputs": ["input", "input"]}
    keras_readers = {"Minimum": _read_elementwise("minimum")}
    onnx_readers = {"Min": _read_onnx_elementwise("minimum")}
    spelled_elsewhere = {"min": '"type": "minimum"'}
    keras_ops = {"Minimum": KerasOp(lambda op, read, _: _nested("tf.minimum", read))}


def _read_concat(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.last_axis(sources[0], "axis")
    return Mapped([{"type": "concat"}], sources[0].rank)


def _read_onnx_concat(node: OnnxNode) -> OnnxMapped:
    sources = node.sources
    if len(sources) != len(node.inputs):
        raise node.refuse("concatenates a constant tensor: convcalc concatenates layer outputs")
    rank = sources[0].rank
    if len(sources) == 1:  # one input, along any axis: that input (PyTorch's circular padding of H alone)
        return OnnxMapped([], rank)
    axis = node.integer("axis", 1)
    if not channel_axis(node, axis, rank) or any(s.rank != rank for s in sources):
        raise node.refuse(f"concatenates along axis {axis}: convcalc concatenates along the channels (axis 1)")
    return OnnxMapped([{"type": "concat"}], rank)


class Concat(_Merge):
    """Concatenates volumes of the same H×W along the depth."""

    type: Literal["concat"]

    kind_name = "concat"
    mark = "stack"
    example = {"type": "concat", "inputs": ["input", "input"]}
    keras_readers = {"Concatenate": _read_concat}
    onnx_readers = {"Concat": _read_onnx_concat}
    spelled_elsewhere = {"concatenate": '"type": "concat"', "cat": '"type": "concat"'}
    keras_ops = {"Concatenate": KerasOp(lambda op, read, _: f"tf.concat([{', '.join(read)}], axis=-1)")}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(Shape(shape.height, shape.width, sum(s.depth for s in inputs)))

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return self._merge(ops, "Concatenate", output)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        return self._torch_merge(ops, "torch.cat([{all}], dim=1)", output)


def _read_onnx_mul(node: OnnxNode) -> OnnxMapped:
    """Mul of layer outputs (a squeeze-excite gate times the volume) is a multiply; Mul of a volume by a stored
    per-channel tensor ([C, 1, 1]) is a learned scale (ConvNeXt's layer scale), by a stored single value one
    learned γ for the whole tensor (NFNet's skip-init gain, HGNetV2's learnable affine block)."""
    sources = node.sources
    constants = [i for i, item in enumerate(node.inputs) if isinstance(item, Constant)]
    if len(sources) >= 2 and not constants:
        return OnnxMapped([{"type": "multiply"}], max(s.rank for s in sources))
    number = written_number(node)
    if number is not None:
        return _rescaled(node, scale=number[1], offset=0.0)
    if len(sources) == 1 and len(constants) == 1 and sources[0].rank == 4 and not sources[0].layout:
        constant = node.inputs[constants[0]]
        assert isinstance(constant, Constant)
        channels = node.input_shapes[1 - constants[0]]
        dims = constant.dims or ()
        per_channel = len(dims) >= 3 and all(d == 1 for d in dims[:-3]) and tuple(dims[-2:]) == (1, 1)
        # C from shape inference when it gives it; else the import's check of the stored count against the
        # scale's C parameters (the volume's depth) still refuses a constant of another length
        depth = channels[1] if channels is not None and len(channels) == 4 else None
        if node.is_stored(constants[0]) and per_channel and depth in (None, dims[-3]):
            return OnnxMapped([{"type": "scale"}], 4, weights=(constants[0],))
    if len(sources) == 1 and len(constants) == 1 and not sources[0].layout and node.is_stored(constants[0]):
        constant = node.inputs[constants[0]]
        assert isinstance(constant, Constant)
        single = constant.dims
        if single is not None and len(single) <= sources[0].rank and all(d == 1 for d in single):
            return OnnxMapped([{"type": "scale", "gammas": "one"}], sources[0].rank, weights=(constants[0],))
    raise node.refuse(
        "multiplies by a constant tensor: convcalc models a product of layer outputs (a gate) or of a volume and a"
        " stored per-channel scale ([C, 1, 1]) or single value"
    )


def _read_onnx_expand(node: OnnxNode) -> OnnxMapped:
    """Expand of a layer output to a shape it broadcasts to (timm's ECA expands its (N, C, 1, 1) gate to the
    volume before the Mul): nothing, as a multiply broadcasts the 1×1×D gate itself; a later layer other than a
    product would compute on the unexpanded gate, which the import's shape check against ONNX refuses."""
    before, after = node.input_shapes[0], node.output_shape
    if (
        before is None
        or after is None
        or len(before) != len(after)
        or any(b not in (1, a) for b, a in zip(before[1:], after[1:], strict=True))
    ):
        raise node.refuse(f"expands {before} to {after}: convcalc reads a broadcast of a 1×1×D gate")
    return OnnxMapped([], node.source().rank)


class Multiply(_Merge):
    """Multiplies volumes elementwise: equal shapes, or a 1×1×D gate scaling every position of an H×W×D volume
    (squeeze-and-excite); out = the broadcast shape (per axis the sizes agree or are 1). 0 params, 0 MACs."""

    type: Literal["multiply"]

    kind_name = "multiply"
    mark = "times"
    example = {"type": "multiply", "inputs": ["input", "input"]}
    keras_readers = {"Multiply": _read_elementwise("multiply")}
    onnx_readers = {"Mul": _read_onnx_mul, "Expand": _read_onnx_expand}
    spelled_elsewhere = {"mul": '"type": "multiply"', "multiplication": '"type": "multiply"'}
    keras_ops = {"Multiply": KerasOp(lambda op, read, _: " * ".join(read))}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        out = broadcast_shape(inputs)
        if out is None:
            return Computed(shape)  # shapes that do not broadcast are CC110's
        # The grid of the input that has the output's H×W; where none has (an H×1 times a 1×W, or an empty input
        # from a cropping), the first input's.
        grid = next((i for i, s in enumerate(inputs) if (s.height, s.width) == (out.height, out.width)), 0)
        return Computed(out, grid_input=grid)

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        # The output keeps the grid (jump, centres) of a full-size input; a broadcast gate only widens the field.
        rows, cols = fields[computed.grid_input]
        wide_rows, wide_cols = widest(fields)
        return rows._replace(size=wide_rows.size), cols._replace(size=wide_cols.size)

    def is_nonlinear(self) -> bool:
        return True  # a product of two branches of the input (x·σ(f(x))) is no linear map of it

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return self._merge(ops, "Multiply", output)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        # Broadcasts as Keras does: an [N, C, 1, 1] gate scales every position of [N, C, H, W].
        return self._torch_merge(ops, " * ".join(f"{{{i}}}" for i in range(len(ops.sources))), output)
