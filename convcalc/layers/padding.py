"""Explicit padding and its inverse: ``zero_padding`` (Keras' ZeroPadding2D), ``reflection_padding`` (PyTorch's
ReflectionPad2d), ``replication_padding`` (PyTorch's ReplicationPad2d), ``circular_padding`` (PyTorch's
CircularPad2d) and ``cropping`` (Cropping2D).

H×W×D → (H + top + bottom)×(W + left + right)×D for padding, (H − top − bottom)×(W − left − right)×D for
cropping (both written P, [h, w] or [[top, bottom], [left, right]]); no parameters. The receptive field keeps
its size and jump; its first centre moves up/left by the padding, down/right by the crop. Keras writes a
padded conv as ZeroPadding2D then a "valid" conv: the diagram folds the two into one box and the rules count
the padding as the conv's (a reflection padding too: the image-to-image networks of CycleGAN and fast style
transfer pad so, to keep borders free of zeros; a replication, the edge repeated, likewise; a circular padding, the
opposite side's rows and columns, for data on a cylinder or a torus). Keras: ``ZeroPadding2D``, ``Cropping2D``, and
``ReflectionPadding2D``, ``ReplicationPadding2D`` and ``CircularPadding2D``, which Keras lacks and convcalc defines
and registers once; tf.nn: ``tf.pad`` (mode ``REFLECT``), the edges repeated and concatenated, the opposite sides
concatenated, slicing.
"""

from collections.abc import Sequence
from fractions import Fraction
from typing import Annotated, Any, ClassVar, Literal

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from convcalc.layers.base import (
    PLUMBING_TRAITS,
    UNIT_STEP,
    BuildProblem,
    Computed,
    DiagramWindow,
    FieldPair,
    LayerSpec,
    widest,
)
from convcalc.layers.fields import NON_NEGATIVE_PAIR_SCHEMA, strict_pair
from convcalc.layers.keras import (
    CHANNELS_FIRST,
    KerasLayer,
    KerasOps,
    Mapped,
    Op,
    Reader,
    Tensor,
    compact,
    short_json,
    volume_of,
)
from convcalc.layers.onnx import OnnxMapped, OnnxNode, pad_sides
from convcalc.layers.pytorch import TorchOps, TorchRefusal, TorchStep, chw
from convcalc.layers.tfnn import KerasOp, padding_list
from convcalc.layers.volume import Padding, Shape, Window
from convcalc.pysource import literal
from convcalc.text import pair_text


def _sides(value: Any) -> tuple[int, int, int, int]:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, list) for v in value):
        (top, bottom), (left, right) = (strict_pair(v, 0) for v in value)
        return (top, bottom, left, right)
    height, width = strict_pair(value, 0)
    return (height, height, width, width)


def _sides_json(value: tuple[int, int, int, int]) -> list[list[int]]:
    # Dumped in a form the validator reads back: [[top, bottom], [left, right]].
    return [[value[0], value[1]], [value[2], value[3]]]


Sides = Annotated[
    tuple[int, int, int, int],
    PlainValidator(_sides),
    PlainSerializer(_sides_json, return_type=Any),
    WithJsonSchema(
        {
            "anyOf": [
                *NON_NEGATIVE_PAIR_SCHEMA["anyOf"],
                {"type": "array", "items": NON_NEGATIVE_PAIR_SCHEMA["anyOf"][1], "minItems": 2, "maxItems": 2},
            ],
            "description": "P, [h, w], or [[top, bottom], [left, right]]",
        }
    ),
]
"""Padding (or cropping) per side: P, [h, w] or [[top, bottom], [left, right]], held as (top, bottom, left,
right)."""


def _read_padding(kind: str) -> Reader:
    """ZeroPadding2D, or convcalc's ReflectionPadding2D, ReplicationPadding2D or CircularPadding2D: the ``kind`` of
    padding, its sides as Keras wrote them."""

    def reader(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
        layer.needs_volume(sources[0])
        return Mapped([{"type": kind, "padding": layer.config.get("padding", 1)}], 4)

    return reader


def onnx_window_padding(
    node: OnnxNode, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> tuple[Any, dict[str, Any] | None]:
    """An ONNX window op's ``auto_pad`` and ``pads`` as a spec padding, and the padding layer to put in front
    when it is not the same on both sides of an axis (ONNX pads are [top, left, bottom, right])."""
    auto_pad = node.text("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        return 0, None
    if auto_pad == "SAME_UPPER":
        return "same", None  # TensorFlow's "same": the odd row or column at the bottom or right
    if auto_pad == "SAME_LOWER":
        sizes = node.input_size()
        sides = []
        for size, f, s, d in zip(sizes, kernel, stride, dilation, strict=True):
            total = max((-(-size // s) - 1) * s + d * (f - 1) + 1 - size, 0)
            sides.append((total - total // 2, total // 2))  # the odd one at the top or left
        (top, bottom), (left, right) = sides
    elif auto_pad == "NOTSET":
        pads = node.integers("pads", [0, 0, 0, 0])
        assert pads is not None
        if len(pads) != 4 or min(pads) < 0:
            raise node.refuse(f"pads {pads}: convcalc models 2-D windows padded by zeros ([top, left, bottom, right])")
        top, left, bottom, right = pads
    else:
        raise node.refuse(f"auto_pad {auto_pad!r}: ONNX allows NOTSET, SAME_UPPER, SAME_LOWER and VALID")
    if (top, left) == (bottom, right):
        return compact((top, left)), None
    return 0, {"type": "zero_padding", "padding": [[top, bottom], [left, right]]}


_MODES = {"reflect": ("reflection_padding", "reflects"), "edge": ("replication_padding", "repeats")}
_MODES["wrap"] = ("circular_padding", "wraps")


def _read_onnx_pad(node: OnnxNode) -> OnnxMapped:
    """Pad with zeros, a reflection, the edge repeated or the opposite side (wrap, opset 19) around H and W: pads are
    [n, c, top, left, n, c, bottom, right] (an attribute before opset 11, an input after)."""
    node.needs_volume()
    mode = node.text("mode", "constant")
    if mode not in ("constant", *_MODES):
        raise node.refuse(
            f"mode {mode!r}: convcalc pads with zeros (mode 'constant'), a reflection ('reflect'), the edge"
            " repeated ('edge') or the opposite side ('wrap')"
        )
    if node.opset < 11:
        pads: list[float] = list(node.integers("pads", []) or [])
        value = node.attributes.get("value", 0.0)
    else:
        pads = list(node.values(1, "pads") or [])
        value = (node.values(2, "constant value") or (0.0,))[0]
        if len(node.inputs) > 3 and node.inputs[3] is not None:
            raise node.refuse("pads only some axes (the axes input): convcalc reads pads of all four")
    if value != 0 and mode == "constant":  # the other modes do not read the value
        raise node.refuse(f"pads with the value {value}: convcalc's zero_padding pads with zeros")
    sides = pad_sides(pads)
    if sides is None:
        raise node.refuse(f"pads {[int(p) for p in pads]}: convcalc pads or crops H and W, not N or C")
    top, left, bottom, right = sides
    if mode != "constant":
        kind, verb = _MODES[mode]
        if min(sides) < 0:
            raise node.refuse(f"{verb} the edge with negative pads {list(sides)}: convcalc's {kind} pads, never crops")
        return OnnxMapped([{"type": kind, "padding": [[top, bottom], [left, right]]}], 4)
    # Negative pads crop (PyTorch's ZeroPad2d with negative sides; NASNet's pad-then-shift in one node)
    layers: list[dict[str, Any]] = []
    if min(sides) < 0:
        crop = [[max(-top, 0), max(-bottom, 0)], [max(-left, 0), max(-right, 0)]]
        layers.append({"type": "cropping", "crop": crop})
    if max(sides) > 0 or not layers:
        layers.append(
            {"type": "zero_padding", "padding": [[max(top, 0), max(bottom, 0)], [max(left, 0), max(right, 0)]]}
        )
    return OnnxMapped(layers, 4, main=len(layers) - 1)


class _Padding(LayerSpec):
    """The family base: a padding of each side, H + top + bottom, W + left + right."""

    padding: Sides

    traits = PLUMBING_TRAITS
    drawing = "prefix"
    keras_layer: ClassVar[str]
    """The Keras class that pads so (``padding=((top, bottom), (left, right))``)."""
    torch_module: ClassVar[str]
    """The PyTorch module that pads so (``(left, right, top, bottom)``)."""

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        top, bottom, left, right = self.padding
        return Computed(Shape(shape.height + top + bottom, shape.width + left + right, shape.depth))

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        ops.volume()
        top, bottom, left, right = self.padding
        return ops.add(self.keras_layer, ops.base, volume_of(output), padding=((top, bottom), (left, right)))

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        ops.volume()
        top, bottom, left, right = self.padding
        return ops.module(ops.base, f"{self.torch_module}({(left, right, top, bottom)})", chw(output))

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        rows, cols = widest(fields)
        top, _, left, _ = self.padding
        return rows._replace(start=rows.start - top * rows.jump), cols._replace(start=cols.start - left * cols.jump)

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return UNIT_STEP

    def is_nonlinear(self) -> bool:
        return False

    def added_padding(self) -> Padding:
        return Padding(*self.padding)

    def notation(self, window: Window | None) -> str:
        top, bottom, left, right = self.padding
        return f"P={pair_text((top, left))}" if (top, left) == (bottom, right) else f"P={top},{bottom},{left},{right}"

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()


class ZeroPadding(_Padding):
    """Pads the volume with zeros: H + top + bottom, W + left + right."""

    type: Literal["zero_padding"]

    kind_name = "zero_padding"
    example = {"type": "zero_padding", "padding": 1}
    keras_layer = "ZeroPadding2D"
    torch_module = "nn.ZeroPad2d"
    keras_readers = {"ZeroPadding2D": _read_padding("zero_padding")}
    onnx_readers = {"Pad": _read_onnx_pad}
    spelled_elsewhere = {
        "zeropadding2d": '"type": "zero_padding"',
        "zeropad2d": '"type": "zero_padding"',
        "pad": '"type": "zero_padding"',
    }
    keras_ops = {
        "ZeroPadding2D": KerasOp(
            lambda op, read, _: f"tf.pad({read[0]}, {padding_list(op.amounts('padding'))})", purpose="zero padding"
        )
    }

    def caption(self) -> str:
        return "pad"


def _helper_padding_op(function: str, purpose: str, tfnn_support: str, keras_source: str) -> KerasOp:
    """The op of a padding TensorFlow's pad lacks: the tf.nn file calls ``function(x, ((top, bottom), (left,
    right)))``, written once from ``tfnn_support``; Keras builds its custom layer from ``keras_source``."""
    return KerasOp(
        lambda op, read, _: f"{function}({read[0]}, {literal(op.amounts('padding'))})",
        purpose=purpose,
        tfnn_support=tfnn_support,
        keras_source=keras_source,
    )


def _padding_layer_source(name: str, doc: str, call: str) -> str:
    """The source of a registered Keras layer that pads H and W by ``padding=((top, bottom), (left, right))``:
    ``doc`` its docstring's text, ``call`` the body of its ``call`` after the sides are unpacked; the
    constructor, the output shape (an unknown size stays unknown) and the config are the same for each."""
    return f'''
@keras.saving.register_keras_serializable(package="convcalc")
class {name}(layers.Layer):
    """{doc}"""

    def __init__(self, padding=((1, 1), (1, 1)), **kwargs):
        super().__init__(**kwargs)
        self.padding = tuple(tuple(int(side) for side in axis) for axis in padding)

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
{call}

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        batch, height, width, depth = input_shape
        height = None if height is None else height + top + bottom
        return (batch, height, None if width is None else width + left + right, depth)

    def get_config(self):
        return {{**super().get_config(), "padding": self.padding}}
'''


class _FromInside(_Padding):
    """The base of paddings made of the volume's own rows and columns (a reflection, a wrap): each side at most the
    side it pads less ``spare``, else CC108 (whose fix is the largest padding that fits), and the PyTorch export
    refuses it too (CC108 is TensorFlow's, which that export otherwise skips)."""

    spare: ClassVar[int]
    """Rows (and columns) of each side a padding cannot take: 1 for a reflection (the edge is not repeated)."""
    why: ClassVar[str]
    """The reason, after the sides and the size, in the finding and the refusal."""

    def tensorflow_problem(self, shape: Shape, output: Shape) -> BuildProblem | None:
        top, bottom, left, right = self.padding
        if max(top, bottom) <= shape.height - self.spare and max(left, right) <= shape.width - self.spare:
            return None
        most = min(shape.height, shape.width) - self.spare
        return BuildProblem(
            f"padding {top},{bottom},{left},{right} on {shape.height}×{shape.width}: {self.why}",
            ({"padding": most},) if most >= 0 else (),
        )

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        _, height, width = ops.volume()
        problem = self.tensorflow_problem(Shape(height, width, 1), output)
        if problem is not None:
            raise TorchRefusal(problem.reason)
        return super().to_torch(ops, window, output)


REFLECTION_PADDING_SOURCE = _padding_layer_source(
    "ReflectionPadding2D",
    "Pads H and W with their mirror image, the edge not repeated (PyTorch's ReflectionPad2d, tf.pad's REFLECT),\n"
    "    which Keras lacks.",
    '        return keras.ops.pad(inputs, ((0, 0), (top, bottom), (left, right), (0, 0)), mode="reflect")',
)
"""The one definition of ``ReflectionPadding2D`` (a registered, serializable Keras layer,
``convcalc>ReflectionPadding2D``): pasted into generated Keras code, executed by :mod:`convcalc.export.runtime`
for in-memory models; the Keras import reads its config as data."""


class ReflectionPadding(_FromInside):
    """Pads the volume with its mirror image, the edge row or column not repeated: each side must be smaller
    than the side it mirrors (TensorFlow and PyTorch refuse otherwise: CC108)."""

    type: Literal["reflection_padding"]

    kind_name = "reflection_padding"
    spare = 1
    why = (
        "a reflection mirrors rows and columns inside the volume, so each side must be smaller than the side it"
        " mirrors (TensorFlow's REFLECT and PyTorch's ReflectionPad2d refuse it)"
    )
    example = {"type": "reflection_padding", "padding": 1}
    keras_layer = "ReflectionPadding2D"
    torch_module = "nn.ReflectionPad2d"
    keras_readers = {"ReflectionPadding2D": _read_padding("reflection_padding")}
    spelled_elsewhere = {
        "reflectionpad2d": '"type": "reflection_padding"',
        "reflectionpadding2d": '"type": "reflection_padding"',
        "reflectpad": '"type": "reflection_padding"',
    }
    keras_ops = {
        "ReflectionPadding2D": KerasOp(
            lambda op, read, _: f"tf.pad({read[0]}, {padding_list(op.amounts('padding'))}, mode='REFLECT')",
            purpose="reflection padding",
            keras_source=REFLECTION_PADDING_SOURCE,
        )
    }

    def notation(self, window: Window | None) -> str:
        return f"{super().notation(window)} reflect"

    def caption(self) -> str:
        return "reflect pad"


REPLICATION_PADDING_SOURCE = _padding_layer_source(
    "ReplicationPadding2D",
    "Pads H and W by repeating the edge row or column (PyTorch's ReplicationPad2d, NumPy's mode \"edge\"), which\n"
    "    Keras lacks (and TensorFlow's pad has no such mode).",
    "        ops = keras.ops\n"
    "        x = ops.concatenate([ops.repeat(inputs[:, :1], top, 1), inputs, "
    "ops.repeat(inputs[:, -1:], bottom, 1)], 1)\n"
    "        return ops.concatenate([ops.repeat(x[:, :, :1], left, 2), x, ops.repeat(x[:, :, -1:], right, 2)], 2)",
)
"""The one definition of ``ReplicationPadding2D`` (``convcalc>ReplicationPadding2D``), as for
:data:`REFLECTION_PADDING_SOURCE`."""

_TFNN_REPLICATION_PAD = '''

def replication_pad2d(x: tf.Tensor, padding) -> tf.Tensor:
    """Pads H and W by repeating the edge row or column (PyTorch's ReplicationPad2d), padding ((top, bottom),
    (left, right))."""
    (top, bottom), (left, right) = padding
    x = tf.concat([tf.repeat(x[:, :1], top, axis=1), x, tf.repeat(x[:, -1:], bottom, axis=1)], axis=1)
    return tf.concat([tf.repeat(x[:, :, :1], left, axis=2), x, tf.repeat(x[:, :, -1:], right, axis=2)], axis=2)
'''
"""The tf.nn file's replication padding, written once when a model uses it."""


class ReplicationPadding(_Padding):
    """Pads the volume by repeating its edge row or column (PyTorch's ReplicationPad2d, a conv's
    ``padding_mode="replicate"``): any size of side, as the edge repeats as often as asked."""

    type: Literal["replication_padding"]

    kind_name = "replication_padding"
    example = {"type": "replication_padding", "padding": 1}
    keras_layer = "ReplicationPadding2D"
    torch_module = "nn.ReplicationPad2d"
    keras_readers = {"ReplicationPadding2D": _read_padding("replication_padding")}
    spelled_elsewhere = {
        "replicationpad2d": '"type": "replication_padding"',
        "replicationpadding2d": '"type": "replication_padding"',
        "replicatepad": '"type": "replication_padding"',
        "edgepadding": '"type": "replication_padding"',
    }
    keras_ops = {
        "ReplicationPadding2D": _helper_padding_op(
            "replication_pad2d", "replication padding", _TFNN_REPLICATION_PAD, REPLICATION_PADDING_SOURCE
        )
    }

    def notation(self, window: Window | None) -> str:
        return f"{super().notation(window)} replicate"

    def caption(self) -> str:
        return "edge pad"


def _tf_crop(op: Op, read: list[str], padding: str) -> str:
    (top, _), (left, _) = op.amounts("cropping")
    height, width = op.output[0], op.output[1]
    return f"{read[0]}[:, {top}:{top + height}, {left}:{left + width}, :]"


def _read_cropping(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    if sources[0].layout == CHANNELS_FIRST:
        # Imported on use: a check imports only the kinds its spec uses (see convcalc.layers).
        from convcalc.layers.channels import channel_crop

        return channel_crop(layer)
    layer.needs_volume(sources[0])
    return Mapped([{"type": "cropping", "crop": layer.config.get("cropping", 0)}], 4)


def _read_center_crop(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    """Keras's CenterCrop of an input at least as large as height×width: rows (H − height)//2 off the top and the
    rest off the bottom, columns likewise. A smaller input it resizes instead (Keras's smart_resize), which is
    refused, as is an input whose size the file does not record."""
    layer.needs_volume(sources[0])
    if layer.config.get("data_format") not in (None, "channels_last"):
        raise layer.refuse("data_format channels_first: convcalc reads channels-last volumes", "data_format")
    height, width = layer.config.get("height"), layer.config.get("width")
    dims = layer.input_dims()
    if type(height) is not int or type(width) is not int or min(height, width) < 1:
        raise layer.refuse(f"height {short_json(height)}, width {short_json(width)}: convcalc reads positive sizes")
    if dims is None or len(dims) != 3:
        raise layer.refuse(
            "the file does not record the size of its input (a model of any input size): whether Keras crops or"
            " resizes depends on it, so convcalc reads a CenterCrop only where the file records it"
        )
    crop = []
    for size, wanted, key in zip(dims[:2], (height, width), ("height", "width"), strict=True):
        if size < wanted:
            raise layer.refuse(
                f"{key} {wanted} of an input of {key} {size}: Keras resizes a smaller input (smart_resize), which"
                " convcalc does not model; it models the crop",
                key,
            )
        crop.append([(size - wanted) // 2, size - wanted - (size - wanted) // 2])
    return Mapped([{"type": "cropping", "crop": crop}], 4)


class Cropping(LayerSpec):
    """Cuts rows and columns off the borders: H − top − bottom, W − left − right (nothing left: CC113)."""

    type: Literal["cropping"]
    crop: Sides

    kind_name = "cropping"
    example = {"type": "cropping", "crop": 1}
    traits = PLUMBING_TRAITS
    drawing = "volume"
    keras_readers = {"Cropping2D": _read_cropping, "CenterCrop": _read_center_crop}
    spelled_elsewhere = {"cropping2d": '"type": "cropping"', "crop": '"type": "cropping"'}
    keras_ops = {"Cropping2D": KerasOp(_tf_crop, purpose="crop")}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        top, bottom, left, right = self.crop
        return Computed(Shape(max(shape.height - top - bottom, 0), max(shape.width - left - right, 0), shape.depth))

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        rows, cols = widest(fields)
        top, _, left, _ = self.crop
        return rows._replace(start=rows.start + top * rows.jump), cols._replace(start=cols.start + left * cols.jump)

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return UNIT_STEP

    def is_nonlinear(self) -> bool:
        return False

    def notation(self, window: Window | None) -> str:
        top, bottom, left, right = self.crop
        return (
            f"crop={pair_text((top, left))}"
            if (top, left) == (bottom, right)
            else f"crop={top},{bottom},{left},{right}"
        )

    def caption(self) -> str:
        return "crop"

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        ops.volume()
        top, bottom, left, right = self.crop
        return ops.add("Cropping2D", ops.base, volume_of(output), cropping=((top, bottom), (left, right)))

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        return ops.crop(ops.base, Padding(*self.crop))

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()


CIRCULAR_PADDING_SOURCE = _padding_layer_source(
    "CircularPadding2D",
    "Pads H and W with the rows and columns of the opposite side, as on a torus (PyTorch's CircularPad2d and\n"
    "    padding_mode='circular', NumPy's mode \"wrap\"), which Keras lacks; each side at most the side it wraps.",
    "        ops = keras.ops\n"
    "        x = ops.concatenate([inputs[:, -top:] if top else inputs[:, :0], inputs, inputs[:, :bottom]], 1)\n"
    "        return ops.concatenate([x[:, :, -left:] if left else x[:, :, :0], x, x[:, :, :right]], 2)",
)
"""The one definition of ``CircularPadding2D`` (``convcalc>CircularPadding2D``), as for
:data:`REFLECTION_PADDING_SOURCE`."""

_TFNN_CIRCULAR_PAD = '''

def circular_pad2d(x: tf.Tensor, padding) -> tf.Tensor:
    """Pads H and W with the rows and columns of the opposite side (PyTorch's CircularPad2d), padding ((top,
    bottom), (left, right)), each side at most the side it wraps."""
    (top, bottom), (left, right) = padding
    x = tf.concat([x[:, -top:] if top else x[:, :0], x, x[:, :bottom]], axis=1)
    return tf.concat([x[:, :, -left:] if left else x[:, :, :0], x, x[:, :, :right]], axis=2)
'''
"""The tf.nn file's circular padding, written once when a model uses it."""


class CircularPadding(_FromInside):
    """Pads the volume with the rows and columns of its opposite side, as if it were a torus (PyTorch's
    CircularPad2d, a conv's ``padding_mode="circular"``): each side at most the side it wraps (PyTorch refuses more,
    and the export wraps once: CC108)."""

    type: Literal["circular_padding"]

    kind_name = "circular_padding"
    spare = 0
    why = (
        "a circular padding takes each side from the opposite one, so it may be at most the side it wraps (PyTorch's"
        " circular padding refuses more, and convcalc's export wraps once)"
    )
    example = {"type": "circular_padding", "padding": 1}
    keras_layer = "CircularPadding2D"
    torch_module = "nn.CircularPad2d"
    keras_readers = {"CircularPadding2D": _read_padding("circular_padding")}
    spelled_elsewhere = {
        "circularpad2d": '"type": "circular_padding"',
        "circularpadding2d": '"type": "circular_padding"',
        "circularpad": '"type": "circular_padding"',
        "wrappadding": '"type": "circular_padding"',
    }
    keras_ops = {
        "CircularPadding2D": _helper_padding_op(
            "circular_pad2d", "circular padding", _TFNN_CIRCULAR_PAD, CIRCULAR_PADDING_SOURCE
        )
    }

    def notation(self, window: Window | None) -> str:
        return f"{super().notation(window)} circular"

    def caption(self) -> str:
        return "wrap pad"
