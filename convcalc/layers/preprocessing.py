"""Preprocessing layers that a model carries: ``rescaling`` and ``normalization`` (Keras's).

Both keep the volume and act on each value with per-channel constants: rescaling x·scale + offset (no
parameters), normalization (x − mean)/√variance, whose mean and variance Keras either takes as constants or
keeps as non-trainable weights to ``adapt()`` (mean D, variance D and a sample count: 2·D + 1, what
``count_params()`` says). Keras: ``Rescaling``, ``Normalization``; tf.nn: the same arithmetic.
"""

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from convcalc.layers.base import BuildProblem, Computed, PerPosition
from convcalc.layers.fields import Values
from convcalc.layers.keras import ArgValue, KerasLayer, KerasOps, Mapped, Op, Tensor, short_json
from convcalc.layers.onnx import OnnxMapped, OnnxNode, shortest_float, written_number
from convcalc.layers.pytorch import TorchOps, TorchStep
from convcalc.layers.tfnn import KerasOp, variable
from convcalc.layers.volume import Shape, Window
from convcalc.pysource import identifier, literal

NORMALIZATION_EPSILON = 1e-7
"""keras.backend.epsilon(): Keras's Normalization divides by max(√variance, this)."""


def _constant(value: float | tuple[float, ...]) -> str:
    return literal(value) if isinstance(value, float) else f"tf.constant({literal(list(value))})"


def _channels_problem(shape: Shape, **fields: float | tuple[float, ...] | None) -> BuildProblem | None:
    """A per-channel list whose length is neither 1 nor D: Keras cannot broadcast it over the depth."""
    for key, value in fields.items():
        if isinstance(value, tuple) and len(value) not in (1, shape.depth):
            return BuildProblem(
                f"{key} has {len(value)} values for a depth of D = {shape.depth}; Keras broadcasts one value,"
                f" or one per channel ({shape.depth}), so TensorFlow refuses this layer"
            )
    return None


def _read_values(layer: KerasLayer, key: str, default: Any) -> Any:
    value = layer.config.get(key, default)
    if isinstance(value, list) and value and all(_is_number(v) for v in value):
        return value
    if value is None or _is_number(value):
        return value
    raise layer.refuse(f"{key} {short_json(value)}: convcalc reads a number or a list of one per channel", key)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _read_rescaling(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    scale, offset = _read_values(layer, "scale", None), _read_values(layer, "offset", 0.0)
    if scale is None:
        raise layer.refuse("has no scale", "scale")
    body: dict[str, Any] = {"type": "rescaling", "scale": scale}
    if offset is not None and offset != 0:
        body["offset"] = offset
    return Mapped([body], sources[0].rank)


def rescaled(node: OnnxNode, scale: float, offset: float) -> OnnxMapped:
    """``x·scale + offset`` on the node's data input, laid out as it is: ONNX arithmetic with a number."""
    body: dict[str, Any] = {"type": "rescaling", "scale": scale}
    if offset:
        body["offset"] = offset
    source = node.sources[0]
    return OnnxMapped([body], source.rank, layout=source.layout, groups=source.groups, reads_layout=True)


def _read_onnx_div(node: OnnxNode) -> OnnxMapped:
    """``x / c`` for a nonzero number c written into the graph: x·(1/c)."""
    number = written_number(node)
    if number is None or number[0] != 1 or number[1] == 0:
        raise node.refuse("divides tensors: convcalc models x / c for a nonzero number c (a Constant node)")
    return rescaled(node, scale=shortest_float(1 / number[1]), offset=0.0)


def _read_normalization(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    layer.last_axis(sources[0], "axis")
    if layer.config.get("invert"):
        raise layer.refuse("invert=true (undoing a normalisation) is not modelled by convcalc", "invert")
    body: dict[str, Any] = {"type": "normalization"}
    mean, variance = _read_values(layer, "mean", None), _read_values(layer, "variance", None)
    if (mean is None) != (variance is None):
        raise layer.refuse("mean and variance must be given together", "mean" if mean is None else "variance")
    if mean is not None:
        body.update(mean=mean, variance=variance)
    return Mapped([body], sources[0].rank)


def _tf_rescaling(op: Op, read: list[str], padding: str) -> str:
    scale, offset = op.kwargs["scale"], op.kwargs.get("offset", 0.0)
    assert isinstance(scale, float | tuple) and isinstance(offset, float | tuple), (scale, offset)
    return f"{read[0]} * {_constant(scale)} + {_constant(offset)}"  # type: ignore[arg-type]


def _tf_normalization(op: Op, read: list[str], padding: str) -> str:
    if "mean" in op.kwargs:
        mean, variance = _constant(op.kwargs["mean"]), _constant(op.kwargs["variance"])  # type: ignore[arg-type]
    else:
        name = identifier(op.name)
        mean, variance = f"self.{name}_mean", f"self.{name}_variance"
    return f"({read[0]} - {mean}) / tf.maximum(tf.sqrt({variance}), NORMALIZATION_EPSILON)"


def _normalization_variables(op: Op, shape: Shape) -> list[str]:
    if "mean" in op.kwargs:
        return []  # constants in the expression, as Keras keeps them
    name, depth = identifier(op.name), shape.depth
    return [
        variable(name, "mean", f"tf.zeros([{depth}])", "set by Keras's adapt()", trainable=False),
        variable(name, "variance", f"tf.ones([{depth}])", trainable=False),
        variable(name, "count", "tf.zeros([], tf.int64)", "samples adapt() has seen", trainable=False),
    ]


RESCALING_TORCH_SOURCE = '''
class Rescaling(nn.Module):
    """Keras's Rescaling: x·scale + offset, each a number or one per channel (constants, not parameters)."""

    def __init__(self, scale: float | tuple[float, ...], offset: float | tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32), persistent=False)
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (-1, *[1] * (x.dim() - 2))  # per channel: C, then 1 for each spatial axis
        return x * self.scale.reshape(shape) + self.offset.reshape(shape)
'''

NORMALIZATION_TORCH_SOURCE = '''
class Normalization(nn.Module):
    """Keras's Normalization: (x − mean)/max(√variance, 1e-7) per channel. Given constants are not state;
    without them Keras keeps mean, variance and a count for adapt(): buffers here (0, 1 and 0)."""

    def __init__(self, channels: int, mean: object = None, variance: object = None) -> None:
        super().__init__()
        adapt = mean is None
        mean = torch.zeros(channels) if adapt else torch.tensor(mean, dtype=torch.float32).expand(channels)
        variance = torch.ones(channels) if adapt else torch.tensor(variance, dtype=torch.float32).expand(channels)
        self.register_buffer("mean", mean.clone(), persistent=adapt)
        self.register_buffer("variance", variance.clone(), persistent=adapt)
        if adapt:
            self.register_buffer("count", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (-1, *[1] * (x.dim() - 2))
        return (x - self.mean.reshape(shape)) / self.variance.sqrt().clamp_min(1e-7).reshape(shape)
'''


class Rescaling(PerPosition):
    """x·scale + offset on every value (per channel when a list): no parameters, no MACs, linear.

    Keras ``Rescaling`` (EfficientNet's 1/255 input scaling).
    """

    type: Literal["rescaling"]
    scale: Values = Field(description="The factor: a number, or a list of one per channel.")
    offset: Values = Field(default=0.0, description="Added after scaling: a number, or a list of one per channel.")

    kind_name = "rescaling"
    example = {"type": "rescaling", "scale": 0.00392156862745098}
    keras_readers = {"Rescaling": _read_rescaling}
    onnx_readers = {"Div": _read_onnx_div}  # Sub: subtract's, a − b or a number's x − c
    spelled_elsewhere = {"rescale": '"type": "rescaling"'}
    torch_helpers = {"Rescaling": RESCALING_TORCH_SOURCE}
    keras_ops = {"Rescaling": KerasOp(_tf_rescaling)}

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(shape)

    def is_nonlinear(self) -> bool:
        return False

    def notation(self, window: Window | None) -> str:
        def shown(value: float | tuple[float, ...]) -> str:
            return f"{value:.4g}" if isinstance(value, float) else "[" + ", ".join(f"{v:.4g}" for v in value) + "]"

        return f"×{shown(self.scale)} +{shown(self.offset)}"

    def caption(self) -> str:
        return "rescale"

    def tensorflow_problem(self, shape: Shape, output: Shape) -> BuildProblem | None:
        return _channels_problem(shape, scale=self.scale, offset=self.offset)

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        return ops.add("Rescaling", ops.base, ops.shape, scale=self.scale, offset=self.offset)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        return ops.module(ops.base, f"Rescaling({literal(self.scale)}, {literal(self.offset)})", ops.shape)


class Normalization(PerPosition):
    """Keras's Normalization preprocessing: (x − mean)/max(√variance, 1e-7) per channel; no MACs, linear.

    Without ``mean`` and ``variance``, Keras keeps them as weights for ``adapt()``: mean D, variance D and a
    count, 2·D + 1 non-trainable parameters. Given as constants (both, a number or one per channel), Keras
    holds no weights: 0 parameters (what ``count_params()`` says in Keras 3.15).
    """

    type: Literal["normalization"]
    mean: Values | None = Field(default=None, description="Per-channel means as constants (with variance).")
    variance: Values | None = Field(default=None, description="Per-channel variances as constants (with mean).")

    kind_name = "normalization"
    example = {"type": "normalization"}
    keras_readers = {"Normalization": _read_normalization}
    spelled_elsewhere = {"normalize": '"type": "normalization"'}
    torch_helpers = {"Normalization": NORMALIZATION_TORCH_SOURCE}
    keras_ops = {
        "Normalization": KerasOp(
            _tf_normalization,
            _normalization_variables,
            tfnn_constants=f"NORMALIZATION_EPSILON = {NORMALIZATION_EPSILON!r}  # keras.backend.epsilon()",
        )
    }

    @model_validator(mode="after")
    def _together(self) -> "Normalization":
        if (self.mean is None) != (self.variance is None):
            raise ValueError("mean and variance must be given together (or neither, to adapt them in Keras)")
        lengths = [len(v) if isinstance(v, tuple) else None for v in (self.mean, self.variance)]
        if lengths[0] != lengths[1]:
            shown = ["a number" if n is None else f"{n} values" for n in lengths]
            raise ValueError(f"mean ({shown[0]}) and variance ({shown[1]}) must have the same shape, as Keras requires")
        variance = self.variance if isinstance(self.variance, tuple) else (self.variance or 0.0,)
        if min(variance) < 0:
            raise ValueError("variance must be ≥ 0")
        return self

    def compute(self, shape: Shape, inputs: Sequence[Shape]) -> Computed:
        return Computed(shape, non_trainable=2 * shape.depth + 1 if self.mean is None else 0)

    def is_nonlinear(self) -> bool:
        return False

    def notation(self, window: Window | None) -> str:
        return "(x − mean)/√var" + (" (+ mean, var, count)" if self.mean is None else "")

    def caption(self) -> str:
        return "normalize"

    def tensorflow_problem(self, shape: Shape, output: Shape) -> BuildProblem | None:
        return _channels_problem(shape, mean=self.mean, variance=self.variance)

    def to_keras(self, ops: KerasOps, window: Window | None, output: Shape) -> Op:
        constants: dict[str, ArgValue] = {}
        if self.mean is not None and self.variance is not None:
            constants = {"mean": self.mean, "variance": self.variance}
        return ops.add("Normalization", ops.base, ops.shape, **constants)

    def to_torch(self, ops: TorchOps, window: Window | None, output: Shape) -> TorchStep:
        constants = "" if self.mean is None else f", {literal(self.mean)}, {literal(self.variance)}"
        return ops.module(ops.base, f"Normalization({ops.channels()}{constants})", ops.shape)
