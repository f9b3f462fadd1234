"""The mapping from a spec to Keras layers, decided once, as plain data (no TensorFlow here).

The in-memory Keras build, the generated Keras code, the tf.nn code and ``verify`` all read one
:class:`ExportPlan`, so they cannot disagree about what a spec layer becomes. Each layer kind maps itself
(``to_keras`` in its module under :mod:`convcalc.layers`, where the mapping is documented); this module
threads the tensors through and adds what the whole network needs:

- convcalc sees whole-input layers' outputs (fc, flatten, global pooling) as 1×1×n, Keras as ``(batch, n)``: a
  layer that needs a volume after one first gets ``Reshape((1, 1, n))``, and so does a flat input of a merge
  with volumes;
- a network that declares ``classes`` and ends in a 1×1×classes volume gets a final ``Flatten``, so its
  logits are ``(batch, classes)`` as the loss expects;
- a frozen layer (``"trainable": false``) gives the op holding its weights ``trainable=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

from convcalc.analysis import LayerFacts, NetworkFacts, Shape
from convcalc.export.naming import NameAllocator, sanitize
from convcalc.layers import REGISTRY
from convcalc.layers.keras import KerasOps, Op, Volume
from convcalc.layers.tfnn import list_notation, nhwc

INPUT_TENSOR = "input"
"""The name of the Keras ``Input`` (no spec layer may be called that, and no Keras layer is)."""


@dataclass(frozen=True)
class LayerPlan:
    """What one spec layer becomes: one or more Keras layers; the last one outputs the spec layer's volume."""

    facts: LayerFacts
    ops: tuple[Op, ...]
    main: Op
    """The op that does the spec layer's work (and holds its parameters)."""

    @property
    def output_op(self) -> Op:
        return self.ops[-1]


@dataclass(frozen=True)
class ExportPlan:
    """A whole network as Keras layers, with the names the generated code and the model use."""

    facts: NetworkFacts
    model_name: str
    layers: tuple[LayerPlan, ...]
    input_name: str = INPUT_TENSOR

    @property
    def input_shape(self) -> tuple[int, int, int]:
        shape = self.facts.input_shape
        return (shape.height, shape.width, shape.depth)

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(op for layer in self.layers for op in layer.ops)

    @property
    def output_shape(self) -> Volume:
        return self.layers[-1].output_op.output

    @property
    def classes(self) -> int | None:
        """The class count when the model outputs ``(batch, classes)`` logits, else None."""
        classes = self.facts.network.classes
        return classes if classes is not None and self.output_shape == (classes,) else None

    @property
    def custom_layers(self) -> list[str]:
        """The Keras classes convcalc defines itself (``L2Pooling2D``) that the model uses."""
        return sorted({op.layer for op in self.ops if REGISTRY.keras_ops[op.layer].keras_source})

    @property
    def is_sequential(self) -> bool:
        """Every op reads the op before it (the generated code can thread one variable through)."""
        previous = self.input_name
        for op in self.ops:
            if op.inputs != (previous,):
                return False
            previous = op.name
        return True


class UnbuildableError(ValueError):
    """The network has a layer TensorFlow cannot build, or one the export cannot map."""


# --- what cannot be exported -----------------------------------------------------------------------------


def unbuildable(facts: NetworkFacts, skip: tuple[str, ...] = ()) -> list[str]:
    """Why TensorFlow cannot build some layer at all, even with sizes floored (one sentence per layer).

    The error findings of the rules marked ``tensorflow_refuses`` (no output, groups that do not divide,
    merge inputs that do not line up, output_padding ≥ stride …), whatever the config enables; ``skip`` leaves
    out rules by code (PyTorch builds what CC108 says TensorFlow's kernels refuse).
    """
    from convcalc.rules import REGISTRY

    reasons = [
        f"{facts.layers[finding.layer].label if finding.layer is not None else 'the network'}: {finding.message}"
        for rule in sorted(REGISTRY.values(), key=lambda rule: rule.code)
        if rule.tensorflow_refuses and rule.code not in skip
        for finding in rule.run(facts)
    ]
    if not reasons and any(layer.output_shape.empty for layer in facts.layers):
        reasons.append(f"{next(layer for layer in facts.layers if layer.output_shape.empty).label} has no output")
    return reasons


def unsupported(facts: NetworkFacts) -> list[str]:
    """Why the export cannot map this network although the spec is sound (one sentence per layer)."""
    read = {source for layer in facts.layers for source in layer.inputs}
    reasons = []
    for layer in facts.layers:
        if layer.index not in read and layer.index != len(facts.layers) - 1:
            reasons.append(
                f"{layer.label} is read by no later layer; the exported model has one output, the last layer"
            )
    return reasons


# --- the mapping ------------------------------------------------------------------------------------------


def as_volume(shape: Volume) -> Shape:
    """convcalc's view of a Keras output shape: (H, W, D) as it is, a flat (n,) as 1×1×n.

    >>> as_volume((28, 28, 32)), as_volume((10,))
    (Shape(height=28, width=28, depth=32), Shape(height=1, width=1, depth=10))
    """
    if len(shape) == 1:
        return Shape(1, 1, shape[0])
    height, width, depth = shape
    return Shape(height, width, depth)


def plan_export(facts: NetworkFacts) -> ExportPlan:
    """Map every spec layer to Keras layers (see the module docstring for the mapping)."""
    reasons = unbuildable(facts) + unsupported(facts)
    if reasons:
        raise UnbuildableError("; ".join(reasons))
    names = NameAllocator(reserved=(INPUT_TENSOR,))
    input_shape = facts.input_shape
    tensors: dict[int, tuple[str, Volume]] = {
        -1: (INPUT_TENSOR, (input_shape.height, input_shape.width, input_shape.depth))
    }
    planned: list[LayerPlan] = []
    for layer in facts.layers:
        base = names.take(sanitize(layer.name, f"{layer.type}{layer.index}"))
        builder = KerasOps(base, names, [tensors[source] for source in layer.inputs])
        main = layer.spec.to_keras(builder, layer.window, layer.output_shape)
        if not layer.trainable:
            frozen = main._replace(args=(*main.args, ("trainable", False)))
            builder.ops = [frozen if op is main else op for op in builder.ops]
            main = frozen
        classes = facts.network.classes
        if layer.index == len(facts.layers) - 1 and classes is not None and builder.shape == (1, 1, classes):
            builder.flatten(builder.helper("flatten"))
        planned.append(LayerPlan(facts=layer, ops=tuple(builder.ops), main=main))
        tensors[layer.index] = (builder.current, builder.shape)
    return ExportPlan(facts=facts, model_name=sanitize(facts.name or "", "model"), layers=tuple(planned))


# --- TensorFlow's notation, shared by verify's table and the generated code's comments ----------------


def tensor_notation(shape: Volume, batch: str | int = "batch") -> str:
    """An activation as TensorFlow shapes it: ``[batch, H, W, D]``, or ``[batch, n]`` once flat.

    >>> tensor_notation((28, 28, 32)), tensor_notation((10,), 2)
    ('[batch, 28, 28, 32]', '[2, 10]')
    """
    return "[" + ", ".join(str(size) for size in (batch, *shape)) + "]"


def kernel_shapes(layer: LayerFacts) -> tuple[tuple[int, ...], ...]:
    """convcalc's weight shapes in TensorFlow's order, as Keras names its kernels (see ``weight_shapes``)."""
    return layer.spec.weight_shapes(layer.input_shape)


def structure_notation(layer: LayerFacts) -> str:
    """Filters, ksize and strides as TensorFlow writes them: ``W [3, 3, 64, 128]  strides [1, 1, 1, 1]``."""
    parts = [f"W {' + '.join(list_notation(shape) for shape in kernel_shapes(layer))}"] if kernel_shapes(layer) else []
    window = layer.spec.diagram_window(layer.window)
    if window is not None:
        if layer.traits.pooling:
            parts.append(f"ksize {list_notation(nhwc(window.kernel))}")
        parts.append(f"strides {list_notation(nhwc(window.stride))}")
        if layer.window is not None and window.dilation != (1, 1):
            parts.append(f"dilations {list_notation(nhwc(window.dilation))}")
    return "  ".join(parts)
