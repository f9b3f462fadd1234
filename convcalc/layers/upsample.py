"""Resampling without weights: ``upsample`` by an integer factor per axis, or to a fixed size.

Shape: H×W×D → (fh·H)×(fw·W)×D with ``factor``, h×w×D with ``size``; no parameters, no MACs. Interpolation is
TensorFlow's ``tf.image.resize`` with half-pixel centres: output i sits at input coordinate
x = (i + ½)·s − ½, s = in/out (1/f for a factor).

- ``nearest`` reads the one input pixel nearest x: the receptive field keeps its size.
- ``bilinear`` reads the two neighbours around x: the field grows by one input step, r + j (none when s = 1,
  where x falls on a pixel).

Either way the jump becomes j·s and the first centre moves to start + (s − 1)/2·j: exactly a transposed conv
with F = S = f (nearest upsampling *is* that conv with a kernel of ones). Keras: ``UpSampling2D`` (factor) or
``Resizing`` (size), both with an explicit ``interpolation``; tf.nn: ``tf.image.resize``.

A bilinear resize may instead align the corners (``align_corners``: PyTorch's ``align_corners=True`` and
``nn.UpsamplingBilinear2d``, TensorFlow 1's ``resize_bilinear(align_corners=True)``): output i sits at
x = i·s, s = (in − 1)/(out − 1), so the first centre stays where it was, the jump becomes j·s (the coarse grid
stretched, not halved: a ×2 of 16 rows steps 15/31, not 1/2) and the field grows by j unless s is a whole number.
Keras has no such layer: the export defines and registers ``CornerAlignedResizing`` (in ``keras.ops``); tf.nn:
``tf.raw_ops.ResizeBilinear(align_corners=True)``, the op TensorFlow 1 resized with.
"""

from collections.abc import Sequence
from fractions import Fraction
from typing import Literal

from pydantic import Field, StrictBool, model_validator
from pydantic_core import PydanticCustomError

from convcalc import arithmetic as ar
from convcalc.layers.base import (
    PLUMBING_TRAITS,
    UNIT_STEP,
    Computed,
    DiagramWindow,
    FieldPair,
    LayerSpec,
    widest,
)
from convcalc.layers.fields import PositivePair
from convcalc.layers.keras import KerasLayer, KerasOps, Mapped, Op, Tensor, compact, short_json, volume_of
from convcalc.layers.onnx import OnnxMapped, OnnxNode
from convcalc.layers.pytorch import TorchOps, TorchStep, chw
from convcalc.layers.tfnn import KerasOp
from convcalc.layers.volume import Shape, Window
from convcalc.pysource import literal
from convcalc.text import pair_text

INTERPOLATIONS = ("nearest", "bilinear")

CORNER_ALIGNED_RESIZING_SOURCE = '''
@keras.saving.register_keras_serializable(package="convcalc")
class CornerAlignedResizing(layers.Layer):
    """A bilinear resize to height×width with the corner pixels aligned (PyTorch's align_corners=True, TensorFlow
    1's resize_bilinear(align_corners=True)), which Keras lacks: output i reads input position i·(W − 1)/(w − 1)
    and its two neighbours, one axis after the other, as TensorFlow's ResizeBilinear does."""

    def __init__(self, height, width, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)

    def call(self, inputs):
        x = inputs
        for axis, out in ((2, self.width), (1, self.height)):
            size = x.shape[axis]
            scale = (size - 1) / (out - 1) if out > 1 else 0.0
            position = keras.ops.arange(out, dtype="float32") * scale
            lower = keras.ops.floor(position)
            low = keras.ops.cast(lower, "int32")
            high = keras.ops.minimum(low + 1, size - 1)
            shape = [1, 1, 1, 1]
            shape[axis] = out
            weight = keras.ops.reshape(position - lower, shape)
            first, second = keras.ops.take(x, low, axis=axis), keras.ops.take(x, high, axis=axis)
            x = first + (second - first) * weight
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
'''
"""The one definition of ``CornerAlignedResizing`` (a registered, serializable Keras layer,
``convcalc>CornerAlignedResizing``): the export of an ``upsample`` with ``align_corners``; the Keras import reads
its config as data."""


def _tf_resize(op: Op, read: list[str], padding: str) -> str:
    height, width, _ = op.output
    method = op.text("interpolation", "nearest")
    return f"tf.image.resize({read[0]}, [{height}, {width}], method={literal(method)})"


def _tf_corner_aligned_resize(op: Op, read: list[str], padding: str) -> str:
    height, width, _ = op.output
    size = f"[{height}, {width}]"
    return f"tf.raw_ops.ResizeBilinear(images={read[0]}, size={size}, align_corners=True, half_pixel_centers=False)"


def _interpolation(layer: KerasLayer, default: str) -> str:
    value = layer.config.get("interpolation", default)
    if value not in INTERPOLATIONS:
        raise layer.refuse(
            f"interpolation {short_json(value)}: convcalc models 'nearest' and 'bilinear'", "interpolation"
        )
    return str(value)


def _read_upsampling(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.needs_volume(sources[0])
    body = {"type": "upsample", "factor": compact(layer.pair("size", 2))}
    interpolation = _interpolation(layer, "nearest")
    return Mapped([body if interpolation == "nearest" else {**body, "interpolation": interpolation}], 4)


def _read_resizing(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.needs_volume(sources[0])
    for option in ("crop_to_aspect_ratio", "pad_to_aspect_ratio", "antialias"):
        if layer.config.get(option):
            raise layer.refuse(f"{option}=true: convcalc models a plain resize to height×width only", option)
    height, width = layer.config.get("height"), layer.config.get("width")
    body = {"type": "upsample", "size": [height, width]}
    interpolation = _interpolation(layer, "bilinear")  # Resizing's default
    return Mapped([body if interpolation == "nearest" else {**body, "interpolation": interpolation}], 4)


def _read_corner_aligned_resizing(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.needs_volume(sources[0])
    size = []
    for key in ("height", "width"):
        value = layer.config.get(key)
        if type(value) is not int or value < 1:
            raise layer.refuse(f"{key} must be an integer ≥ 1 (got {short_json(value)})", key)
        size.append(value)
    return Mapped([{"type": "upsample", "size": size, "interpolation": "bilinear", "align_corners": True}], 4)


_ONNX_MODES = {"nearest": "nearest", "linear": "bilinear"}


def _read_onnx_resize(node: OnnxNode) -> OnnxMapped:
    """Resize (Upsample before opset 10) of H and W: by integer scales (a factor) or to sizes. N and C are
    convcalc's own volume's (the node's data input); H×W come from the ``sizes`` or ``scales`` constants (ONNX's
    floor(H·scale)), else from shape inference. Nearest or linear (bilinear) with half-pixel centres, as
    TensorFlow resizes (PyTorch's align_corners=False; its nearest rounds differently, which moves values, not
    shapes)."""
    node.needs_volume()
    mode = node.text("mode", "nearest")
    if mode not in _ONNX_MODES:
        raise node.refuse(f"mode {mode!r}: convcalc resizes by nearest or linear (bilinear) interpolation")
    transform = node.text("coordinate_transformation_mode", "half_pixel")
    if mode == "linear" and transform not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        raise node.refuse(
            f"coordinate_transformation_mode {transform!r}: convcalc's bilinear resize is half_pixel or align_corners"
        )
    if mode == "nearest" and transform == "align_corners":
        raise node.refuse(
            "nearest with coordinate_transformation_mode 'align_corners': convcalc's nearest resize"
            " has half-pixel centres (align_corners is bilinear only)"
        )
    body: dict[str, object] = {"type": "upsample", **_onnx_resized(node)}
    if _ONNX_MODES[mode] != "nearest":
        body["interpolation"] = _ONNX_MODES[mode]
        if transform == "align_corners":
            body["align_corners"] = True
        if node.integer("antialias", 0) and (transform == "align_corners" or _shrinks(node, body)):
            # Downsampling (or with the corners aligned) an antialiased resize filters over more than two pixels.
            raise node.refuse(
                "antialias=1: convcalc's bilinear resize reads two pixels per axis; an antialiased one that shrinks"
                " (or aligns corners) filters over more"
            )
    return OnnxMapped([body], 4)


def _shrinks(node: OnnxNode, body: dict[str, object]) -> bool:
    """Whether the resize makes H or W smaller (a factor never does)."""
    size = body.get("size")
    before = node.input_shapes[0]
    if not isinstance(size, list) or before is None or len(before) != 4:
        return "factor" not in body
    return any(after < (axis or 0) for after, axis in zip(size, before[2:], strict=True))


def _onnx_resize_constants(node: OnnxNode) -> tuple[list[float] | None, list[float] | None]:
    """The scales and sizes of N, C, H and W, as far as the file gives their values."""
    if node.op_type == "Upsample" and node.opset < 9:
        scales = node.attributes.get("scales")
        return (list(scales) if isinstance(scales, list) and scales else None), None
    scales_at, sizes_at = (1, None) if node.op_type == "Upsample" or node.opset < 11 else (2, 3)
    found: list[list[float] | None] = []
    for position in (scales_at, sizes_at):
        item = node.inputs[position] if position is not None and position < len(node.inputs) else None
        values = getattr(item, "values", None)
        found.append(list(values) if values else None)  # an empty scales input is left out (sizes are given)
    axes = node.integers("axes")
    if axes is not None:
        if sorted(a % 4 for a in axes) != [2, 3]:
            raise node.refuse(f"axes {axes}: convcalc resizes H and W (axes 2 and 3)")
        order = [a % 4 for a in axes]
        found = [None if f is None else [1, 1] + [f[order.index(a)] for a in (2, 3)] for f in found]
    return found[0], found[1]


def _onnx_resized(node: OnnxNode) -> dict[str, object]:
    """The upsample's factor or size."""
    if node.opset >= 18 and node.text("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise node.refuse("keep_aspect_ratio_policy: convcalc resizes H and W to the sizes given (stretch)")
    before, after = node.input_shapes[0], node.output_shape
    height, width = (before[2], before[3]) if before is not None and len(before) == 4 else (None, None)
    scales, sizes = _onnx_resize_constants(node)
    out: tuple[int | None, int | None] = (None, None)
    if sizes is not None and len(sizes) == 4:
        out = (int(sizes[2]), int(sizes[3]))
    elif scales is not None and len(scales) == 4:
        if scales[:2] != [1, 1]:
            raise node.refuse(f"scales {scales}: convcalc resizes H and W, not N or C")
        if all(float(s).is_integer() and s >= 1 for s in scales[2:]):
            return {"factor": compact((int(scales[2]), int(scales[3])))}
        if height and width:
            out = (int(height * scales[2]), int(width * scales[3]))
    if None in out and after is not None and len(after) == 4:
        out = (after[2], after[3])
    out_h, out_w = out
    if not out_h or not out_w or out_h < 0 or out_w < 0:
        raise node.refuse(
            "convcalc needs its output's H and W: constant sizes or scales, or the sizes from shape inference"
        )
    if height and width and out_h % height == 0 and out_w % width == 0:
        return {"factor": compact((out_h // height, out_w // width))}
    return {"size": [out_h, out_w]}


class Upsample(LayerSpec):
    """Resamples the volume: out = f·W per axis with ``factor``, or the given h×w with ``size``; D unchanged.

    Nearest reads 1 input pixel per output (the field keeps its size), bilinear 2 per axis (r + j); the jump
    becomes j·W/out, or j·(W − 1)/(out − 1) with the corners aligned.
    """

    type: Literal["upsample"]
    factor: PositivePair | None = Field(default=None, description="f: int or [h, w]; out = f·W.")
    size: PositivePair | None = Field(default=None, description="[h, w]: the output size (Keras' Resizing).")
    interpolation: Literal["nearest", "bilinear"] = "nearest"
    align_corners: StrictBool = Field(
        default=False,
        description="Bilinear only: map the corner pixels onto each other, x = i·(in − 1)/(out − 1) (PyTorch's"
        " align_corners=True), instead of half-pixel centres.",
    )

    kind_name = "upsample"
    example = {"type": "upsample", "factor": 2}
    traits = PLUMBING_TRAITS
    drawing = "volume"
    keras_readers = {
        "UpSampling2D": _read_upsampling,
        "Resizing": _read_resizing,
        "CornerAlignedResizing": _read_corner_aligned_resizing,
    }
    onnx_readers = {"Resize": _read_onnx_resize, "Upsample": _read_onnx_resize}
    spelled_elsewhere = {
        "upsampling2d": '"type": "upsample"',
        "upsampling": '"type": "upsample"',
        "upsamplingnearest2d": '"type": "upsample"',
        "upsamplingbilinear2d": '"type": "upsample", "interpolation": "bilinear", "align_corners": true',
        "resizing": '"type": "upsample", "size": [16, 16]',
        "resize": '"type": "upsample", "size": [16, 16]',
        "interpolate": '"type": "upsample"',
    }
    keras_ops = {
        "UpSampling2D": KerasOp(_tf_resize),
        "Resizing": KerasOp(_tf_resize),
        "CornerAlignedResizing": KerasOp(_tf_corner_aligned_resize, keras_source=CORNER_ALIGNED_RESIZING_SOURCE),
    }

    @model_validator(mode="after")
    def _one_of(self) -> "Upsample":
        if (self.factor is None) == (self.size is None):
            raise PydanticCustomError(
                "upsample", "give exactly one of factor (an int or [h, w]) or size ([h, w]){got}", {"got": self._got()}
            )
        if self.align_corners and self.interpolation != "bilinear":
            raise PydanticCustomError(
                "upsample", "align_corners needs interpolation 'bilinear' (a nearest resize has no corners to align)"
            )
        return self

    def _got(self) -> str:
        return " (got both)" if self.factor is not None else " (got neither)"

    def _out(self, shape: Shape) -> tuple[int, int]:
        if self.factor is not None:
            return (shape.height * self.factor[0], shape.width * self.factor[1])
        assert self.size is not None
        return self.size

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        height, width = self._out(shape)
        return Computed(Shape(height, width, shape.depth))

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        axes = []
        out = (computed.out.height, computed.out.width)
        for field, before, after in zip(widest(fields), (shape.height, shape.width), out, strict=True):
            if self.align_corners:
                axes.append(corner_aligned_field(field, before, after))
                continue
            scale = Fraction(before, after) if after > 0 else Fraction(1)
            axes.append(resampled_field(field, scale, self.interpolation))
        return axes[0], axes[1]

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        if self.factor is None:
            # A resize to a fixed h×w: the step (W/h) depends on the input, and the sizes after it do not; no
            # stride chain (CC301) runs through it. A factor multiplies the sizes by f, corners aligned or not
            # (their centres then step (W − 1)/(f·W − 1), which the receptive field holds).
            return UNIT_STEP
        return (Fraction(1, self.factor[0]), Fraction(1, self.factor[1]))

    def is_nonlinear(self) -> bool:
        return False  # nearest copies values, bilinear takes a fixed weighted sum: both linear maps

    def notation(self, window: Window | None) -> str:
        text = f"×{pair_text(self.factor)}" if self.factor is not None else f"→{'×'.join(map(str, self.size or ()))}"
        return f"{text} {self.interpolation}" + (" align_corners" if self.align_corners else "")

    def caption(self) -> str:
        return "upsample"

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        ops.volume()
        if self.align_corners:
            return ops.add(
                "CornerAlignedResizing", ops.base, volume_of(output), height=output.height, width=output.width
            )
        if self.factor is not None:
            return ops.add(
                "UpSampling2D", ops.base, volume_of(output), size=self.factor, interpolation=self.interpolation
            )
        return ops.add(
            "Resizing",
            ops.base,
            volume_of(output),
            height=output.height,
            width=output.width,
            interpolation=self.interpolation,
        )

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        ops.volume()
        # Keras resizes with half-pixel centres: PyTorch's align_corners=False, and "nearest-exact" for a size
        # (integer factors give the same pixels either way).
        if self.interpolation == "bilinear":
            mode = f"mode='bilinear', align_corners={self.align_corners}"
        else:
            mode = "mode='nearest'" if self.factor is not None else "mode='nearest-exact'"
        if self.factor is not None:
            resize = f"scale_factor={tuple(float(f) for f in self.factor)}"
        else:
            resize = f"size={(output.height, output.width)}"
        return ops.module(ops.base, f"nn.Upsample({resize}, {mode})", chw(output))

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()


def resampled_field(field: ar.ReceptiveField, scale: Fraction, interpolation: str) -> ar.ReceptiveField:
    """One axis's field after resampling by ``scale`` = in/out with half-pixel centres (see the module doc).

    Bilinear output i reads the two pixels around x = i·s + (s − 1)/2, one alone where x is whole for every i:
    where s is an odd whole number (a ×1, or a resize from 99 rows to 33).

    >>> up = resampled_field(ar.ReceptiveField(3, Fraction(1), Fraction(1, 2)), Fraction(1, 2), "bilinear")
    >>> up.size, up.jump, up.start
    (Fraction(4, 1), Fraction(1, 2), Fraction(1, 4))
    >>> resampled_field(ar.ReceptiveField(3, Fraction(1), Fraction(1, 2)), Fraction(3), "bilinear").size
    3
    """
    grows = interpolation == "bilinear" and not (scale.denominator == 1 and scale.numerator % 2 == 1)
    return ar.ReceptiveField(
        size=field.size + (field.jump if grows else 0),
        jump=field.jump * scale,
        start=field.start + (scale - 1) / 2 * field.jump,
    )


def corner_aligned_field(field: ar.ReceptiveField, before: int, after: int) -> ar.ReceptiveField:
    """One axis's field after a bilinear resize of ``before`` rows to ``after`` with the corners aligned: output i
    sits at x = i·s, s = (before − 1)/(after − 1), so the first centre stays, the jump becomes j·s, and the
    field grows by j unless every x is a whole pixel (s whole). From one row (s = 0, every output that row's
    copy) the jump is taken as 1/after, as a half-pixel resize's, so that no step is zero.

    >>> up = corner_aligned_field(ar.ReceptiveField(3, Fraction(2), Fraction(1, 2)), 16, 32)
    >>> up.size, up.jump, up.start
    (Fraction(5, 1), Fraction(30, 31), Fraction(1, 2))
    >>> corner_aligned_field(ar.ReceptiveField(3, Fraction(2), Fraction(1, 2)), 9, 5).size
    3
    """
    if before <= 1 or after <= 1:
        scale = Fraction(before, after) if after > 0 else Fraction(1)
        return field._replace(jump=field.jump * scale)
    scale = Fraction(before - 1, after - 1)
    return ar.ReceptiveField(
        size=field.size + (field.jump if scale.denominator != 1 else 0), jump=field.jump * scale, start=field.start
    )
