"""``convcalc verify``: build the plan in Keras, run a random batch through it, set TensorFlow's figures beside
convcalc's static ones for every layer.

TensorFlow is the oracle: each spec layer's output tensor as the forward pass returns it, and the parameters
of the Keras layers it became, against convcalc's volume and count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convcalc.analysis import Shape
from convcalc.export.keras_build import build_model, layer_outputs_model
from convcalc.export.plan import ExportPlan, LayerPlan, as_volume, kernel_shapes, tensor_notation
from convcalc.export.runtime import import_keras
from convcalc.layers.tfnn import list_notation
from convcalc.text import printable

OK, MISMATCH = "✓", "✗"


@dataclass(frozen=True)
class LayerComparison:
    """One spec layer: convcalc's static figures and what TensorFlow built and computed."""

    plan: LayerPlan
    tf_shape: tuple[int, ...]
    """The layer's output tensor from the forward pass, batch axis first."""
    tf_params: int
    """``count_params()`` summed over the Keras layers this spec layer became."""
    tf_kernels: tuple[tuple[int, ...], ...]
    """The built kernels' shapes ([F, F, D, K] for conv, [H·W·D, units] for fc …), none for other layers."""
    tf_structure: str
    """Filter, ksize and strides as the built Keras layer holds them, in TensorFlow's notation."""

    @property
    def static_shape(self) -> Shape:
        return self.plan.facts.output_shape

    @property
    def tf_volume(self) -> Shape | None:
        """TensorFlow's output in convcalc's terms: [b, H, W, D] → H×W×D, a flat [b, n] → 1×1×n."""
        return as_volume(self.tf_shape[1:]) if len(self.tf_shape) in (2, 4) else None

    @property
    def shape_ok(self) -> bool:
        return self.tf_volume == self.static_shape

    @property
    def params_ok(self) -> bool:
        return self.tf_params == self.plan.facts.params and self.tf_kernels == kernel_shapes(self.plan.facts)

    @property
    def ok(self) -> bool:
        return self.shape_ok and self.params_ok


@dataclass(frozen=True)
class Verification:
    """A whole network compared: per layer, plus ``model.count_params()`` against convcalc's total."""

    plan: ExportPlan
    batch_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    layers: tuple[LayerComparison, ...]
    tf_total_params: int
    versions: str
    tf_trainable_params: int
    """The values in ``model.trainable_weights``."""

    @property
    def total_ok(self) -> bool:
        return self.tf_total_params == self.plan.facts.total_params

    @property
    def trainable_ok(self) -> bool:
        return self.tf_trainable_params == self.plan.facts.total_trainable_params

    @property
    def mismatches(self) -> int:
        return sum(not layer.ok for layer in self.layers) + (not self.total_ok) + (not self.trainable_ok)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")
"""Keras's names for weight tensors, in the order convcalc's ``kernel_shapes`` lists them."""


def _tf_structure(layer: Any) -> tuple[tuple[tuple[int, ...], ...], str]:
    """The built layer's kernel shapes, and its filters/ksize/strides/padding in TensorFlow's notation."""
    kernels = []
    for attribute in _KERNELS:
        weight = getattr(layer, attribute, None)
        if weight is not None:
            kernels.append(tuple(int(size) for size in weight.shape))
    parts = [f"W {' + '.join(list_notation(shape) for shape in kernels)}"] if kernels else []
    pool_size = getattr(layer, "pool_size", None)
    if pool_size is not None:
        parts.append(f"ksize {list_notation((1, *pool_size, 1))}")
    strides = getattr(layer, "strides", None)
    if strides is not None:
        parts.append(f"strides {list_notation((1, *strides, 1))}")
    dilation = getattr(layer, "dilation_rate", None)
    if dilation is not None and max(dilation) > 1:
        parts.append(f"dilations {list_notation((1, *dilation, 1))}")
    padding = getattr(layer, "padding", None)
    if isinstance(padding, str):
        parts.append(padding.upper())
    return tuple(kernels), "  ".join(parts)


def verify_plan(plan: ExportPlan, *, batch: int = 2, seed: int = 0) -> Verification:
    """Build ``plan`` in Keras, run a random batch through it and compare every layer with convcalc."""
    keras = import_keras()
    import numpy as np
    import tensorflow as tf  # type: ignore[import-untyped]

    keras.utils.set_random_seed(seed)
    model = build_model(plan)
    probe = layer_outputs_model(plan, model)
    batch_input = np.random.default_rng(seed).standard_normal((batch, *plan.input_shape)).astype("float32")
    outputs = probe(batch_input, training=False)
    if not isinstance(outputs, list | tuple):  # Keras returns a bare tensor for a single output
        outputs = [outputs]
    comparisons = []
    for layer, tensor in zip(plan.layers, outputs, strict=True):
        built = [model.get_layer(op.name) for op in layer.ops]
        tf_kernels, structure = _tf_structure(model.get_layer(layer.main.name))
        comparisons.append(
            LayerComparison(
                plan=layer,
                tf_shape=tuple(int(size) for size in tensor.shape),
                tf_params=sum(int(keras_layer.count_params()) for keras_layer in built),
                tf_kernels=tf_kernels,
                tf_structure=structure,
            )
        )
    final = model(batch_input, training=False)
    result = Verification(
        plan=plan,
        batch_shape=tuple(batch_input.shape),
        output_shape=tuple(int(size) for size in final.shape),
        layers=tuple(comparisons),
        tf_total_params=int(model.count_params()),
        tf_trainable_params=sum(int(np.prod(weight.shape)) for weight in model.trainable_weights),
        versions=f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
    )
    keras.backend.clear_session()  # free the graph state before the next spec
    return result


def _tf_output(layer: LayerComparison) -> str:
    text = tensor_notation(layer.tf_shape[1:], layer.tf_shape[0])
    if len(layer.tf_shape) == 2:
        text += f" ≡ 1×1×{layer.tf_shape[1]}"
    return text


def render(file: str, result: Verification, width: int, color: bool = False) -> str:
    """The side-by-side table, the totals and a one-line verdict, as text ``width`` wide (figures and shapes
    never wrap: at a narrow width the names and the TensorFlow structure do)."""
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
    )

    def mark(ok: bool) -> Text:
        return Text(OK, style="green") if ok else Text(MISMATCH, style="bold red")

    columns = (
        ("#", "right", False),
        ("layer", "left", True),
        ("Keras layers", "left", True),
        ("output", "left", False),
        ("TensorFlow's", "left", False),
        ("", "center", False),
        ("params", "right", False),
        ("TensorFlow's", "right", False),
        ("", "center", False),
        ("TensorFlow W / ksize / strides", "left", True),
    )
    rows: list[list[str | Text]] = []
    for layer in result.layers:
        facts = layer.plan.facts
        name = printable(facts.name)
        if layer.plan.main.name != facts.name:
            name += f" (Keras: {layer.plan.main.name})"
        rows.append(
            [
                str(facts.index),
                f"{name} {facts.type}",
                " → ".join(op.layer for op in layer.plan.ops),
                str(facts.output_shape),
                _tf_output(layer),
                mark(layer.shape_ok),
                f"{facts.params:,}",
                f"{layer.tf_params:,}",
                mark(layer.params_ok),
                layer.tf_structure,
            ]
        )
    # Too wide for the terminal: the TensorFlow structure goes first, then the Keras layers (`export` shows both).
    keep = list(range(len(columns)))
    for dropped in (9, 2):
        natural = [max([len(columns[i][0]), *(len(str(row[i])) for row in rows)]) for i in keep]
        if sum(natural) + 3 * len(keep) + 1 <= width:
            break
        keep.remove(dropped)
    table = Table(title=f"{printable(file)}: convcalc's static figures beside TensorFlow's", title_justify="left")
    for i in keep:
        header, justify, wraps = columns[i]
        table.add_column(header, justify=justify, no_wrap=not wraps, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    console.print(table)
    total, trainable = result.plan.facts.total_params, result.plan.facts.total_trainable_params
    console.print(
        Text.assemble(
            f"total params: convcalc {total:,} · model.count_params() {result.tf_total_params:,} ",
            mark(result.total_ok),
        )
    )
    console.print(
        Text.assemble(
            f"trainable params: convcalc {trainable:,} · model.trainable_weights {result.tf_trainable_params:,} ",
            mark(result.trainable_ok),
        )
    )
    console.print(
        f"forward pass on a random batch: {list_notation(result.batch_shape)} → {list_notation(result.output_shape)}"
        f" ({result.versions})"
    )
    if result.ok:
        count = len(result.layers)
        layers = f"all {count} layers agree" if count > 1 else "the layer agrees"
        console.print(Text(f"{OK} {layers} with TensorFlow, and so does the total", style="green"))
    else:
        count = result.mismatches
        console.print(
            Text(f"{MISMATCH} {count} mismatch{'es' if count != 1 else ''} with TensorFlow", style="bold red")
        )
    return buffer.getvalue()
