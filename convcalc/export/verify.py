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


@dataclass(frozen=True)
class Framework:
    """How the table names the framework and its figures."""

    name: str
    """``TensorFlow``, ``PyTorch``."""
    steps: str
    """The column of what each spec layer became (``Keras layers``)."""
    structure: str
    """The column of the built layer's weights and window."""
    total: str
    """What the total count is read from (``model.count_params()``)."""
    trainable: str
    """What the trainable count is read from (``model.trainable_weights``)."""


TENSORFLOW = Framework(
    "TensorFlow", "Keras layers", "TensorFlow W / ksize / strides", "model.count_params()", "model.trainable_weights"
)


@dataclass(frozen=True)
class Row:
    """One spec layer in the table: convcalc's figures beside the framework's."""

    index: int
    name: str
    steps: str
    static_shape: str
    output: str
    shape_ok: bool
    params: int
    framework_params: int
    params_ok: bool
    structure: str


@dataclass(frozen=True)
class Table:
    """Everything ``render`` shows: the rows, the totals, the forward pass and the verdict."""

    framework: Framework
    rows: tuple[Row, ...]
    total: tuple[int, int]
    """convcalc's total and the framework's."""
    trainable: tuple[int, int]
    batch_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    versions: str

    @property
    def mismatches(self) -> int:
        wrong = sum(not (row.shape_ok and row.params_ok) for row in self.rows)
        return wrong + (self.total[0] != self.total[1]) + (self.trainable[0] != self.trainable[1])


def keras_table(result: Verification) -> Table:
    """The Keras verification as a table."""
    rows = []
    for layer in result.layers:
        facts = layer.plan.facts
        name = printable(facts.name)
        if layer.plan.main.name != facts.name:
            name += f" (Keras: {layer.plan.main.name})"
        rows.append(
            Row(
                index=facts.index,
                name=f"{name} {facts.type}",
                steps=" → ".join(op.layer for op in layer.plan.ops),
                static_shape=str(facts.output_shape),
                output=_tf_output(layer),
                shape_ok=layer.shape_ok,
                params=facts.params,
                framework_params=layer.tf_params,
                params_ok=layer.params_ok,
                structure=layer.tf_structure,
            )
        )
    network = result.plan.facts
    return Table(
        framework=TENSORFLOW,
        rows=tuple(rows),
        total=(network.total_params, result.tf_total_params),
        trainable=(network.total_trainable_params, result.tf_trainable_params),
        batch_shape=result.batch_shape,
        output_shape=result.output_shape,
        versions=result.versions,
    )


def render(file: str, result: Verification | Table, width: int, color: bool = False) -> str:
    """The side-by-side table, the totals and a one-line verdict, as text ``width`` wide (figures and shapes
    never wrap: at a narrow width the names and the framework's structure do)."""
    import io

    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    table = result if isinstance(result, Table) else keras_table(result)
    framework = table.framework
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

    theirs = f"{framework.name}'s"
    columns = (
        ("#", "right", False),
        ("layer", "left", True),
        (framework.steps, "left", True),
        ("output", "left", False),
        (theirs, "left", False),
        ("", "center", False),
        ("params", "right", False),
        (theirs, "right", False),
        ("", "center", False),
        (framework.structure, "left", True),
    )
    rows: list[list[str | Text]] = [
        [
            str(row.index),
            row.name,
            row.steps,
            row.static_shape,
            row.output,
            mark(row.shape_ok),
            f"{row.params:,}",
            f"{row.framework_params:,}",
            mark(row.params_ok),
            row.structure,
        ]
        for row in table.rows
    ]
    # Too wide for the terminal: the framework's structure goes first, then its layers (`export` shows both).
    keep = list(range(len(columns)))
    for dropped in (9, 2):
        natural = [max([len(columns[i][0]), *(len(str(row[i])) for row in rows)]) for i in keep]
        if sum(natural) + 3 * len(keep) + 1 <= width:
            break
        keep.remove(dropped)
    rich_table = RichTable(title=f"{printable(file)}: convcalc's static figures beside {theirs}", title_justify="left")
    for i in keep:
        header, justify, wraps = columns[i]
        rich_table.add_column(header, justify=justify, no_wrap=not wraps, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        rich_table.add_row(*(row[i] for i in keep))
    console.print(rich_table)
    for what, label, (ours, their) in (
        ("total", framework.total, table.total),
        ("trainable", framework.trainable, table.trainable),
    ):
        console.print(Text.assemble(f"{what} params: convcalc {ours:,} · {label} {their:,} ", mark(ours == their)))
    console.print(
        f"forward pass on a random batch: {list_notation(table.batch_shape)} → {list_notation(table.output_shape)}"
        f" ({table.versions})"
    )
    if table.mismatches == 0:
        count = len(table.rows)
        layers = f"all {count} layers agree" if count > 1 else "the layer agrees"
        console.print(Text(f"{OK} {layers} with {framework.name}, and so does the total", style="green"))
    else:
        count = table.mismatches
        console.print(
            Text(f"{MISMATCH} {count} mismatch{'es' if count != 1 else ''} with {framework.name}", style="bold red")
        )
    return buffer.getvalue()
