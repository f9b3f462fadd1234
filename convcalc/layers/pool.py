"""Pooling: ``pool`` (max, avg or l2 over F×F windows, or adaptive to an output size) and ``global_pool``.

Shapes: a pool's window is a conv's, (W − F + 2P)/S + 1 rounded down, with S defaulting to F, or rounded up
with ``ceil_mode`` (PyTorch's rule, :func:`~convcalc.arithmetic.ceil_mode_output_size`); an adaptive pool
(``output``) gives exactly out×out with PyTorch's windows [floor(i·W/out), ceil((i + 1)·W/out)). The depth is
kept; no parameters, no MACs. Keras: ``MaxPooling2D``, ``AveragePooling2D``, ``AdaptiveAveragePooling2D``,
``AdaptiveMaxPooling2D``, ``GlobalAveragePooling2D``, ``GlobalMaxPooling2D``; TensorFlow has no L2 pooling, so
convcalc defines ``L2Pooling2D`` once (below) for the Keras export and the generated code. tf.nn:
``max_pool2d``, ``avg_pool2d``, ``reduce_mean``/``reduce_max`` (and over adaptive windows, a helper).

Ceil mode in Keras, which has none: the padding P as a ``ZeroPadding2D`` (zeros, as every explicit pool padding
here: an average counts them, PyTorch's ``count_include_pad=True``), then the pool with ``padding="same"`` on an
axis where TensorFlow's "same" on the padded input pads nothing before and exactly the overhang after: its max
ignores the overhang and its average divides by the values inside, which is PyTorch's ceil mode to the value.
Where one axis needs "same" and the other "valid", an F×1 pool then a 1×F one (max and average factor by axis).
Elsewhere (an overhang of two or more pixels, or an L2 pool that ceil mode changes) no Keras pool matches, and
the kind says so (CC108).
"""

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from convcalc import arithmetic as ar
from convcalc.layers.base import (
    UNIT_STEP,
    BuildProblem,
    Computed,
    DiagramWindow,
    FieldPair,
    LayerSpec,
    Traits,
    whole_input_field,
    widest,
)
from convcalc.layers.fields import Padding, PositivePair, StrictBool
from convcalc.layers.keras import KerasLayer, KerasOps, Mapped, Op, Tensor, compact, volume_of
from convcalc.layers.onnx import OnnxMapped, OnnxNode, OnnxReader
from convcalc.layers.pytorch import TorchOps, TorchRefusal, TorchStep, chw, pool_output_size, symmetric, tuple_text
from convcalc.layers.tfnn import KerasOp, list_notation, nhwc
from convcalc.layers.volume import Padding as Sides
from convcalc.layers.volume import Shape, Window, resolve_window
from convcalc.layers.windowed import WindowedLayer, keras_padding, window_notation

L2_EPSILON = 1e-30
"""Floor under the sum of squares before the square root, so an all-zero window has a zero gradient, not NaN."""

L2_POOLING_SOURCE = f'''
L2_EPSILON = {L2_EPSILON!r}  # floor under the sum of squares: an all-zero window gets gradient 0, not NaN


@keras.saving.register_keras_serializable(package="convcalc")
class L2Pooling2D(layers.Layer):
    """L2 pooling, which TensorFlow lacks: sqrt(sum of squares) over each window, no padding."""

    def __init__(self, pool_size=(2, 2), strides=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = tuple(pool_size)
        self.strides = tuple(strides) if strides is not None else self.pool_size

    def call(self, inputs):
        # Sum over the window = mean × window size; the mean is TensorFlow's own pooling kernel.
        mean = keras.ops.average_pool(keras.ops.square(inputs), self.pool_size, self.strides, padding="valid")
        window = self.pool_size[0] * self.pool_size[1]
        return keras.ops.sqrt(keras.ops.maximum(mean * window, L2_EPSILON))

    def get_config(self):
        return {{**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}}
'''
"""The one definition of ``L2Pooling2D`` (a registered, serializable Keras layer, ``convcalc>L2Pooling2D``):
pasted into generated Keras code, executed by :mod:`convcalc.export.runtime` for in-memory models."""

POOL_LAYERS = {"max": "MaxPooling2D", "avg": "AveragePooling2D", "l2": "L2Pooling2D"}
ADAPTIVE_LAYERS = {"max": "AdaptiveMaxPooling2D", "avg": "AdaptiveAveragePooling2D"}

KERAS_ADAPTIVE_EXACT = 2**24
"""Keras's adaptive pooling computes floor(i·W/out) and ceil((i + 1)·W/out) in float32: exact while out·W < 2^24
(every product i·W is then exact, and a quotient at least 1/out from an integer cannot round onto it)."""


def _keras_adaptive_fails(height: int, width: int, output: tuple[int, int]) -> bool:
    """Whether Keras's adaptive pooling would fail in TensorFlow: it pools "valid" windows of ceil(W/out) + 1,
    and one wider than the input (any out = 1) kills the process with SIGFPE for max pooling in TensorFlow 2.21
    (found by the differential tests: 4×4 → 2×1) and, for average pooling, raises "Negative dimension size"
    when the model is traced (model.fit, tf.function; found by an explore run: 3×2 → 1×2), though it runs eagerly.

    >>> _keras_adaptive_fails(7, 7, (1, 1)), _keras_adaptive_fails(7, 7, (3, 3))
    (True, False)
    """
    return any(-(-size // out) + 1 > size for size, out in ((height, output[0]), (width, output[1])))


ADAPTIVE_TFNN_SUPPORT = '''

def adaptive_pool2d(x: tf.Tensor, output_size: tuple[int, int], reduce) -> tf.Tensor:
    """PyTorch's adaptive pooling: output (i, j) reduces rows [floor(i·H/oh), ceil((i + 1)·H/oh)) and the
    columns likewise, with integer arithmetic."""
    height, width = x.shape[1], x.shape[2]
    (out_h, out_w), rows = output_size, []
    for i in range(out_h):
        top, bottom = i * height // out_h, -(-(i + 1) * height // out_h)
        cells = []
        for j in range(out_w):
            left, right = j * width // out_w, -(-(j + 1) * width // out_w)
            cells.append(reduce(x[:, top:bottom, left:right, :], axis=[1, 2]))
        rows.append(tf.stack(cells, axis=1))
    return tf.stack(rows, axis=1)
'''
"""The tf.nn file's adaptive pooling (exact integer windows), written once when a model uses it."""
GLOBAL_POOL_LAYERS = {"avg": "GlobalAveragePooling2D", "max": "GlobalMaxPooling2D"}


def _tf_pool(function: str) -> Callable[[Op, list[str], str], str]:
    def expression(op: Op, read: list[str], padding: str) -> str:
        ksize, strides = list_notation(nhwc(op.pair("pool_size"))), list_notation(nhwc(op.pair("strides")))
        return f"tf.nn.{function}({read[0]}, ksize={ksize}, strides={strides}, padding={padding})"

    return expression


def _tf_l2_pool(op: Op, read: list[str], padding: str) -> str:
    ksize, strides = list_notation(nhwc(op.pair("pool_size"))), list_notation(nhwc(op.pair("strides")))
    kernel_h, kernel_w = op.pair("pool_size")
    # The sum of squares over each window is the mean of squares times the window size.
    mean = f"tf.nn.avg_pool2d(tf.square({read[0]}), ksize={ksize}, strides={strides}, padding='VALID')"
    return f"tf.sqrt(tf.maximum({mean} * {float(kernel_h * kernel_w)!r}, L2_EPSILON))"


def _tf_adaptive(reduce: str) -> Callable[[Op, list[str], str], str]:
    def expression(op: Op, read: list[str], padding: str) -> str:
        return f"adaptive_pool2d({read[0]}, {op.pair('output_size')!r}, tf.{reduce})"

    return expression


def _read_adaptive(mode: str) -> Callable[[KerasLayer, list[Tensor]], Mapped]:
    def reader(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
        layer.needs_volume(sources[0])
        return Mapped([{"type": "pool", "mode": mode, "output": compact(layer.pair("output_size"))}], 4)

    return reader


def _read_pool(mode: str) -> Callable[[KerasLayer, list[Tensor]], Mapped]:
    def reader(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
        layer.needs_volume(sources[0])
        kernel = layer.pair("pool_size", 2)
        body: dict[str, object] = {"type": "pool", "mode": mode, "kernel": compact(kernel)}
        if layer.config.get("strides") is not None:  # None means "= pool_size", the spec's default too
            stride = layer.pair("strides")
            if stride != kernel:
                body["stride"] = compact(stride)
        body["padding"] = layer.padding()
        return Mapped([body], 4)

    return reader


def _read_onnx_pool(mode: str) -> OnnxReader:
    """ONNX MaxPool or AveragePool: kernel, strides (ONNX's default is 1, not the kernel), pads, ceil_mode.

    An average counts explicit padding, PyTorch's default (``count_include_pad=1`` in the export); ONNX's default
    leaves it out, which changes the values at the border, so that is refused with padding. An adaptive pool
    the exporter wrote with computed kernels is the pool of those kernels (the same shapes); one whose output is
    its input's size (VGG's, AlexNet's) it writes as a 1×1 pool of stride 1, the identity, which imports as the
    adaptive pool to that size again (the same values, and not a pool that does nothing)."""

    def reader(node: OnnxNode) -> OnnxMapped:
        node.needs_volume()
        kernel, stride = node.spatial("kernel_shape", 0), node.spatial("strides", 1)
        if min(kernel) < 1:
            raise node.refuse("its kernel_shape is missing")
        if node.spatial("dilations", 1) != (1, 1):
            raise node.refuse(f"dilations {list(node.spatial('dilations', 1))}: convcalc's pool is not dilated")
        # Imported on use: a check imports only the kinds its spec uses (see convcalc.layers).
        from convcalc.layers.padding import onnx_window_padding

        padding, pad_layer = onnx_window_padding(node, kernel, stride, (1, 1))

        # TensorFlow's "same" leaves its padding out of a max and an average, as ONNX's MaxPool does, and its
        # AveragePool with count_include_pad=0: where the pads are "same"'s, the pool is that pool exactly.
        def as_same() -> bool:
            return not node.integer("ceil_mode", 0) and _pads_as_same(node, kernel, stride, padding, pad_layer)

        if mode == "avg" and not node.integer("count_include_pad", 0) and (pad_layer is not None or padding):
            if not as_same():
                raise node.refuse(
                    "count_include_pad=0 with padding: its average leaves the padded zeros out, convcalc's avg pool"
                    " counts them (PyTorch's default, count_include_pad=True), except with TensorFlow's"
                    ' padding "same", which these pads are not'
                )
            padding, pad_layer = "same", None
        elif mode == "max" and pad_layer is not None and as_same():
            padding, pad_layer = "same", None  # rather than zeros in front, which a max would read
        shape = node.input_shapes[0] if node.input_shapes else None
        if kernel == stride == (1, 1) and padding == 0 and pad_layer is None and shape is not None and len(shape) == 4:
            height, width = shape[2], shape[3]
            if height is not None and width is not None:
                return OnnxMapped([{"type": "pool", "mode": mode, "output": compact((height, width))}], 4)
        body: dict[str, object] = {"type": "pool", "mode": mode, "kernel": compact(kernel)}
        if stride != kernel:
            body["stride"] = compact(stride)
        body["padding"] = padding
        if node.integer("ceil_mode", 0) and padding != "same":
            body["ceil_mode"] = True
        layers = [body] if pad_layer is None else [pad_layer, body]
        return OnnxMapped(layers, 4, main=len(layers) - 1)

    return reader


def _pads_as_same(
    node: OnnxNode, kernel: tuple[int, int], stride: tuple[int, int], padding: Any, pad_layer: dict[str, Any] | None
) -> bool:
    """Whether a window's pads (symmetric ``padding``, or the ``pad_layer`` in front) are the ones TensorFlow's
    "same" gives its input (PyTorch's ``AvgPool2d(3, 1, 1, count_include_pad=False)`` in Inception and NASNet)."""
    if padding == "same":
        return True
    if not padding and pad_layer is None:
        return False
    if pad_layer is not None:
        sides = [tuple(side) for side in pad_layer["padding"]]
    else:
        rows, cols = (padding, padding) if isinstance(padding, int) else padding
        sides = [(rows, rows), (cols, cols)]
    shape = node.input_shapes[0] if node.input_shapes else None
    if shape is None or len(shape) != 4 or shape[2] is None or shape[3] is None:
        return False  # a size shape inference does not give: no telling
    size = (shape[2], shape[3])
    return all(ar.same_padding(size[axis], kernel[axis], stride[axis]) == sides[axis] for axis in (0, 1))


class Pool(WindowedLayer):
    """Spatial pooling over F×F windows with stride S, or adaptive to an output size; depth is preserved; no
    parameters."""

    type: Literal["pool"]
    mode: Literal["max", "avg", "l2"] = "max"
    output: PositivePair | None = Field(
        default=None,
        description="Adaptive pooling to this H×W (PyTorch's AdaptiveAvgPool2d/AdaptiveMaxPool2d): int or [h, w];"
        " instead of kernel, stride, padding and ceil_mode.",
    )
    kernel: PositivePair | None = Field(default=None, validate_default=True, description="F: int or [h, w].")
    stride: PositivePair | None = Field(default=None, description="S (defaults to the kernel).")
    padding: Padding = Field(default=(0, 0), description='P: int, [h, w], "valid" or "same".')
    ceil_mode: StrictBool = Field(
        default=False,
        description="Round (W − F + 2P)/S + 1 up, PyTorch's ceil_mode (the last window must start inside the"
        ' input or the left padding); no effect with "same".',
    )

    @field_validator("kernel", mode="before")
    @classmethod
    def _kernel_unless_adaptive(cls, value: Any, info: ValidationInfo) -> Any:
        # Validated even when left out (validate_default): a pool without output needs its kernel.
        if value is None and info.data.get("output") is None:
            raise PydanticCustomError(
                "pool_window",
                "required field is missing: F, an integer or a pair [h, w] (or output, for adaptive pooling)",
                {},
            )
        return value

    @field_validator("output")
    @classmethod
    def _adaptive_mode(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("mode") == "l2":
            raise PydanticCustomError(
                "adaptive_mode", "adaptive pooling is max or avg (PyTorch and Keras have no adaptive L2 pool)", {}
            )
        return value

    @field_validator("kernel", "stride", "padding", "ceil_mode")
    @classmethod
    def _not_adaptive(cls, value: Any, info: ValidationInfo) -> Any:
        # The defaults (as a dump writes them) mean nothing to an adaptive pool; any other value would.
        if info.data.get("output") is not None and value not in (None, (0, 0), False):
            raise PydanticCustomError(
                "adaptive_window",
                "{field} does not go with output: an adaptive pool chooses its own windows (give either output,"
                " or kernel with stride, padding and ceil_mode)",
                {"field": info.field_name},
            )
        return value

    def _window(self, shape: Shape) -> Window:
        assert self.kernel is not None
        stride = self.stride if self.stride is not None else self.kernel
        return resolve_window(self.kernel, stride, self.padding, shape, ceil_mode=self.ceil_mode)

    kind_name = "pool"
    example = {"type": "pool", "kernel": 2}
    traits = Traits(
        weighted=False,
        convolution=False,
        mixes_channels=False,
        keeps_shape=False,
        merge=False,
        whole_input=False,
        pooling=True,
    )
    drawing = "volume"
    keras_readers = {
        "MaxPooling2D": _read_pool("max"),
        "AveragePooling2D": _read_pool("avg"),
        "L2Pooling2D": _read_pool("l2"),  # convcalc's own (registered as convcalc>L2Pooling2D)
        "AdaptiveMaxPooling2D": _read_adaptive("max"),
        "AdaptiveAveragePooling2D": _read_adaptive("avg"),
    }
    onnx_readers = {"MaxPool": _read_onnx_pool("max"), "AveragePool": _read_onnx_pool("avg")}
    spelled_elsewhere = {
        "maxpool": '"type": "pool", "mode": "max"',
        "maxpool2d": '"type": "pool", "mode": "max"',
        "maxpooling": '"type": "pool", "mode": "max"',
        "maxpooling2d": '"type": "pool", "mode": "max"',
        "avgpool": '"type": "pool", "mode": "avg"',
        "avgpool2d": '"type": "pool", "mode": "avg"',
        "avgpooling": '"type": "pool", "mode": "avg"',
        "averagepool": '"type": "pool", "mode": "avg"',
        "averagepooling2d": '"type": "pool", "mode": "avg"',
    }
    keras_ops = {
        "MaxPooling2D": KerasOp(_tf_pool("max_pool2d")),
        "AveragePooling2D": KerasOp(_tf_pool("avg_pool2d")),
        "L2Pooling2D": KerasOp(
            _tf_l2_pool,
            tfnn_constants=f"L2_EPSILON = {L2_EPSILON!r}  # floor under the sum of squares: gradient 0, not NaN",
            keras_source=L2_POOLING_SOURCE,
        ),
        "AdaptiveMaxPooling2D": KerasOp(_tf_adaptive("reduce_max"), tfnn_support=ADAPTIVE_TFNN_SUPPORT),
        "AdaptiveAveragePooling2D": KerasOp(_tf_adaptive("reduce_mean"), tfnn_support=ADAPTIVE_TFNN_SUPPORT),
    }

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        if self.output is not None:  # adaptive: no one window; the output is what was asked for
            return Computed(Shape(self.output[0], self.output[1], shape.depth))
        window = self._window(shape)
        return Computed(window.output(shape.depth), window)

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        if self.output is None:
            return super().receptive_field(computed, shape, fields)
        rows, cols = widest(fields)
        return (
            adaptive_receptive_field(rows, shape.height, self.output[0]),
            adaptive_receptive_field(cols, shape.width, self.output[1]),
        )

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        # An adaptive pool takes any input size to its output: like global pooling, it asks nothing of it.
        return UNIT_STEP if self.output is not None else super().grid_step(window)

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None if self.output is not None else super().diagram_window(window)

    def is_nonlinear(self) -> bool:
        return self.mode in ("max", "l2")

    def notation(self, window: Window | None) -> str:
        if self.output is not None:
            return f"{self.mode} adaptive → {self.output[0]}×{self.output[1]}"
        words = window_notation(window)
        ceil = ["ceil"] if window is not None and window.ceil_mode else []
        return " ".join([f"{self.mode} {words[0]}", *words[1:], *ceil])

    def caption(self) -> str:
        return f"adaptive {self.mode}pool" if self.output is not None else f"{self.mode}pool"

    def tensorflow_problem(self, shape: Shape, output: Shape) -> BuildProblem | None:
        if self.output is not None and _keras_adaptive_fails(shape.height, shape.width, self.output):
            if shape.height % self.output[0] == 0 and shape.width % self.output[1] == 0:
                return None  # exported as an ordinary pool with the same windows
            failure = (
                "crashes TensorFlow 2.21 (a floating-point exception that kills the process)"
                if self.mode == "max"
                else 'fails in TensorFlow 2.21 once the model is traced ("Negative dimension size")'
            )
            return BuildProblem(
                f"adaptive {self.mode} pooling of {shape.height}×{shape.width} to {self.output[0]}×{self.output[1]}:"
                f" Keras's {ADAPTIVE_LAYERS[self.mode]} pools a window of ceil(W/out) + 1, wider than the input"
                f" here, which {failure}, and the sizes do not divide for an ordinary {self.mode} pool",
            )
        if self.output is not None:
            for size, out, axis in ((shape.height, self.output[0], "height"), (shape.width, self.output[1], "width")):
                if size * out >= KERAS_ADAPTIVE_EXACT and size % out:
                    return BuildProblem(
                        f"adaptive pooling of {axis} {size} to {out}: Keras computes the window bounds"
                        f" floor(i·W/out) in float32, exact only while out·W < 2^24 (here {size * out:,}), so its"
                        " windows may differ from PyTorch's"
                    )
            return None
        window = self._window(shape)
        if not window.ceil_mode or _ceil_export(window, self.mode) is not None:
            return None
        overhangs = [
            (result.size - 1) * stride + kernel - result.numerator - kernel
            for result, kernel, stride in (
                (window.rows, window.kernel[0], window.stride[0]),
                (window.cols, window.kernel[1], window.stride[1]),
            )
        ]
        sizes = f"{window.rows.size}×{window.cols.size}"
        floors = f"{_floor_size(window.rows, window.stride[0])}×{_floor_size(window.cols, window.stride[1])}"
        if self.mode == "l2":
            why = "convcalc's L2Pooling2D reads whole windows only"
        else:
            why = (
                'a pool with padding "same" computes the windows ceil mode adds only where the last one hangs'
                f" exactly 1 pixel past the padded input (here {overhangs[0]}×{overhangs[1]})"
            )
        return BuildProblem(
            f"ceil mode gives {sizes} where the floor gives {floors}, and Keras has no ceil mode: {why}, so no"
            " Keras pool computes these windows",
            ({"ceil_mode": False},),
        )

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        volume = volume_of(output)
        if self.output is not None:
            height, width, _ = ops.volume()
            if _keras_adaptive_fails(height, width, self.output):
                # Its windows all have one size here (checked by tensorflow_problem): an ordinary pool, exactly.
                kernel = (height // self.output[0], width // self.output[1])
                return ops.add(POOL_LAYERS[self.mode], ops.base, volume, pool_size=kernel, strides=kernel)
            return ops.add(ADAPTIVE_LAYERS[self.mode], ops.base, volume, output_size=self.output)
        assert window is not None
        l2 = self.mode == "l2"
        layer = POOL_LAYERS[self.mode]
        paddings = _ceil_export(window, self.mode) if window.ceil_mode else ("valid", "valid")
        assert paddings is not None, "CC108 stops the export of a ceil-mode pool Keras cannot match"
        if window.ceil_mode and paddings != ("valid", "valid"):
            ops.volume()
            ops.zero_pad(*window.padding)
            if paddings[0] != paddings[1]:  # factored by axis: the rows' pool, then the columns'
                _, width, depth = ops.shape
                ops.add(
                    layer,
                    ops.helper("rows"),
                    (output.height, width, depth),
                    pool_size=(window.kernel[0], 1),
                    strides=(window.stride[0], 1),
                    padding=paddings[0],
                )
                return ops.add(
                    layer, ops.base, volume, pool_size=(1, window.kernel[1]), strides=(1, window.stride[1]),
                    padding=paddings[1],
                )  # fmt: skip
            return ops.add(layer, ops.base, volume, pool_size=window.kernel, strides=window.stride, padding="same")
        padding = keras_padding(ops, window, same=not l2)  # the L2 layer has no padding of its own
        if l2:
            return ops.add(layer, ops.base, volume, pool_size=window.kernel, strides=window.stride)
        return ops.add(layer, ops.base, volume, pool_size=window.kernel, strides=window.stride, padding=padding)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        _, height, width = ops.volume()
        if self.output is not None:
            adaptive = "nn.AdaptiveMaxPool2d" if self.mode == "max" else "nn.AdaptiveAvgPool2d"
            return ops.module(ops.base, f"{adaptive}({tuple_text(self.output)})", chw(output))
        assert window is not None
        if window.same and self.mode != "l2":
            return _torch_same_pool(ops, window, self.mode, output)
        pads = symmetric(window.padding)
        # An explicit padding is zeros (an average counts them, a max reads them), as the Keras export pads.
        # PyTorch's average pool pads zeros itself, by at most F/2 a side, and counts them (count_include_pad);
        # its max pool leaves its padding out, and LPPool2d takes none: any other padding is an nn.ZeroPad2d in
        # front (an L2 pool's "same" too, whose zeros add nothing to the sum of squares).
        native = pads is not None and (self.mode == "avg" or pads == (0, 0))
        native = native and all(2 * p <= k for p, k in zip(pads or (0, 0), window.kernel, strict=True))
        if not native:
            ops.zero_pad(window.padding)
            _, height, width = ops.shape
            pads = (0, 0)
        assert pads is not None
        sizes = _torch_pool_sizes((height, width), window, pads, window.ceil_mode)
        # On the zero-padded input, ceil mode may start a last window in the right padding, which PyTorch's
        # own padding (convcalc's rule) does not: the windows before it are the same, and it is sliced off.
        extra = (sizes[0] - output.height, sizes[1] - output.width)
        if min(extra) < 0 or (any(extra) and not window.ceil_mode):
            raise TorchRefusal(
                f"PyTorch's pool gives {sizes[0]}×{sizes[1]} on the zero-padded input, convcalc"
                f" {output.height}×{output.width}"
            )
        constructor = _torch_pool(self.mode, window, pads, window.ceil_mode)
        purpose = "the last window ceil mode starts in the right padding"
        return ops.cropped_module(constructor, (output.depth, *sizes), Sides(0, extra[0], 0, extra[1]), purpose=purpose)

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()


def _torch_same_pool(ops: TorchOps, window: Window, mode: str, output: Shape) -> TorchStep:
    """A max or average pool with TensorFlow's "same" padding in PyTorch, padding left out as TensorFlow leaves it
    (a max ignores it, an average divides by the values inside), which a zero padding in front would not.

    PyTorch pads both sides alike, by at most F/2, and its max ignores that padding, as does its average with
    ``count_include_pad=False``. "same" pads each axis by P before and P or P + 1 after, P ≤ (F − 1)/2. The
    extra pixel after: at S ≥ 2, ceil mode's overhang (the last window hangs one pixel past the padded input,
    and PyTorch's divisor counts only the input's values); at S = 1 (an even F), padding P + 1 on both sides
    gives one more window before the first, which a slice drops.
    """
    pads = (window.padding.top, window.padding.left)
    extra = (window.padding.bottom - window.padding.top, window.padding.right - window.padding.left)
    shifted = tuple(more == 1 and stride == 1 for more, stride in zip(extra, window.stride, strict=True))
    ceil_mode = any(more == 1 and stride > 1 for more, stride in zip(extra, window.stride, strict=True))
    padding = (pads[0] + shifted[0], pads[1] + shifted[1])
    _, height, width = ops.shape  # a volume: Pool.to_torch made it one
    sizes = _torch_pool_sizes((height, width), window, padding, ceil_mode)
    if sizes != (output.height + shifted[0], output.width + shifted[1]):  # the arithmetic above, held to PyTorch's
        raise TorchRefusal(
            f'PyTorch\'s pool gives {sizes[0]}×{sizes[1]} where "same" gives {output.height}×{output.width}'
        )
    constructor = _torch_pool(mode, window, padding, ceil_mode, exclude_padding=mode == "avg")
    first = Sides(int(shifted[0]), 0, int(shifted[1]), 0)
    return ops.cropped_module(constructor, (output.depth, *sizes), first, purpose='the window before "same"\'s first')


def _torch_pool_sizes(
    sizes: tuple[int, int], window: Window, padding: tuple[int, int], ceil_mode: bool
) -> tuple[int, int]:
    """PyTorch's output H×W of the window's pool over ``sizes`` with its own ``padding`` on each side."""
    rows, cols = (
        pool_output_size(size, kernel, stride, pad, ceil_mode)
        for size, kernel, stride, pad in zip(sizes, window.kernel, window.stride, padding, strict=True)
    )
    return rows, cols


def _torch_pool(
    mode: str, window: Window, padding: tuple[int, int], ceil_mode: bool, exclude_padding: bool = False
) -> str:
    """The window's PyTorch pool, padded ``padding`` on each side (left out of an average with
    ``exclude_padding``: ``count_include_pad=False``)."""
    args = ["2"] if mode == "l2" else []
    args.append(f"kernel_size={tuple_text(window.kernel)}")
    if window.stride != window.kernel:
        args.append(f"stride={tuple_text(window.stride)}")
    if padding != (0, 0):
        args.append(f"padding={tuple_text(padding)}")
    if ceil_mode:
        args.append("ceil_mode=True")
    if exclude_padding and padding != (0, 0):
        args.append("count_include_pad=False")
    return f"{TORCH_POOLS[mode]}({', '.join(args)})"


TORCH_POOLS = {"max": "nn.MaxPool2d", "avg": "nn.AvgPool2d", "l2": "nn.LPPool2d"}
"""PyTorch's pool for each mode (LPPool2d with norm 2: the root of the sum of squares)."""


def _floor_size(result: ar.AxisResult, stride: int) -> int:
    return result.numerator // stride + 1 if result.numerator >= 0 else 0


def _axis_padding(result: ar.AxisResult, kernel: int, stride: int) -> str | None:
    """The Keras padding that computes one axis of a ceil-mode window exactly on the zero-padded input:
    ``"valid"`` where ceil and floor agree, ``"same"`` where TensorFlow's "same" pads nothing before and exactly
    the overhang after (its max ignores that, its average does not count it, as PyTorch); None otherwise."""
    if result.size == _floor_size(result, stride):
        return "valid"
    padded = result.numerator + kernel  # W + P_before + P_after
    if ar.same_output_size(padded, stride) == result.size and ar.same_padding(padded, kernel, stride)[0] == 0:
        return "same"
    return None


def _ceil_export(window: Window, mode: str) -> tuple[str, str] | None:
    """The Keras padding of each axis of a ceil-mode pool, or None where Keras cannot compute it exactly.

    Axes that need different paddings take two pools, F×1 then 1×F: max and average pooling factor by axis (a
    max of maxes; PyTorch's divisor, and TensorFlow's "same" one, is the rows' count times the columns'); L2
    pooling is not, and its layer has no "same" of its own.
    """
    rows = _axis_padding(window.rows, window.kernel[0], window.stride[0])
    cols = _axis_padding(window.cols, window.kernel[1], window.stride[1])
    if rows is None or cols is None or (mode == "l2" and (rows, cols) != ("valid", "valid")):
        return None
    return rows, cols


def adaptive_receptive_field(previous: ar.ReceptiveField, size: int, out: int) -> ar.ReceptiveField:
    """Receptive field after an adaptive pool of ``size`` rows to ``out``: the largest window, the mean step
    W/out between outputs (the steps are floor(W/out) or one more), and the first window [0, ceil(W/out))."""
    first = ar.ceil_div(size, out)
    return ar.ReceptiveField(
        size=previous.size + (ar.adaptive_largest_window(size, out) - 1) * previous.jump,
        jump=previous.jump * Fraction(size, out),
        start=previous.start + Fraction(first - 1, 2) * previous.jump,
    )


def _read_global_pool(mode: str) -> Callable[[KerasLayer, list[Tensor]], Mapped]:
    def reader(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
        layer.needs_volume(sources[0])
        # keepdims gives (batch, 1, 1, D), otherwise (batch, D): both are convcalc's 1×1×D.
        return Mapped([{"type": "global_pool", "mode": mode}], 4 if layer.flag("keepdims", False) else 2)

    return reader


def _read_onnx_global_pool(mode: str) -> OnnxReader:
    def reader(node: OnnxNode) -> OnnxMapped:
        node.needs_volume()
        return OnnxMapped([{"type": "global_pool", "mode": mode}], 4)

    return reader


def _read_onnx_reduce(mode: str) -> OnnxReader:
    """ReduceMean or ReduceMax over H and W (PyTorch's ``x.mean((2, 3))`` and adaptive pooling to 1×1): axes
    from the attribute (opset < 18) or the second input."""

    def reader(node: OnnxNode) -> OnnxMapped:
        node.needs_volume()
        axes = node.integers("axes") if "axes" in node.attributes else node.values(1, "axes")
        if axes is None or sorted(int(a) % 4 for a in axes) != [2, 3]:
            raise node.refuse(
                f"reduces over axes {list(axes) if axes is not None else 'all'}: convcalc models a reduction over"
                " H and W (axes 2 and 3), which is global pooling"
            )
        return OnnxMapped([{"type": "global_pool", "mode": mode}], 4 if node.integer("keepdims", 1) else 2)

    return reader


class GlobalPool(LayerSpec):
    """Pools each channel over the whole H×W: outputs 1×1×D."""

    type: Literal["global_pool"]
    mode: Literal["avg", "max"] = "avg"

    kind_name = "global_pool"
    example = {"type": "global_pool"}
    traits = Traits(
        weighted=False,
        convolution=False,
        mixes_channels=False,
        keeps_shape=False,
        merge=False,
        whole_input=True,
        pooling=True,
    )
    drawing = "bar"
    keras_readers = {"GlobalAveragePooling2D": _read_global_pool("avg"), "GlobalMaxPooling2D": _read_global_pool("max")}
    onnx_readers = {
        "GlobalAveragePool": _read_onnx_global_pool("avg"),
        "GlobalMaxPool": _read_onnx_global_pool("max"),
        "ReduceMean": _read_onnx_reduce("avg"),
        "ReduceMax": _read_onnx_reduce("max"),
    }
    spelled_elsewhere = {
        "gap": '"type": "global_pool", "mode": "avg"',
        "globalavgpool": '"type": "global_pool", "mode": "avg"',
        "globalaveragepooling2d": '"type": "global_pool", "mode": "avg"',
        "adaptiveavgpool2d": '"type": "global_pool", "mode": "avg"',
        "globalmaxpool": '"type": "global_pool", "mode": "max"',
        "globalmaxpooling2d": '"type": "global_pool", "mode": "max"',
        "adaptivemaxpool2d": '"type": "global_pool", "mode": "max"',
    }
    keras_ops = {
        "GlobalAveragePooling2D": KerasOp(lambda op, read, _: f"tf.reduce_mean({read[0]}, axis=[1, 2])"),
        "GlobalMaxPooling2D": KerasOp(lambda op, read, _: f"tf.reduce_max({read[0]}, axis=[1, 2])"),
    }

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(Shape(1, 1, shape.depth))

    def receptive_field(self, computed: Computed, shape: Shape, fields: Sequence[FieldPair]) -> FieldPair:
        return whole_input_field(fields, shape)

    def grid_step(self, window: Window | None) -> tuple[Fraction, Fraction]:
        return UNIT_STEP

    def is_nonlinear(self) -> bool:
        return self.mode == "max"

    def notation(self, window: Window | None) -> str:
        return f"{self.mode} over H×W"

    def caption(self) -> str:
        return f"global {self.mode}pool"

    def diagram_window(self, window: Window | None) -> DiagramWindow | None:
        return None

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        ops.volume()
        return ops.add(GLOBAL_POOL_LAYERS[self.mode], ops.base, (output.depth,))

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        ops.volume()
        reduce = "amax" if self.mode == "max" else "mean"
        return ops.expression(ops.base, f"{{0}}.{reduce}(dim=(2, 3))", (output.depth,))

    def weight_shapes(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        return ()
