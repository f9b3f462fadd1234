"""Build an :class:`~convcalc.export.plan.ExportPlan` as a Keras functional model, in memory.

This is the model ``export --to keras`` saves and ``verify`` measures; the generated Python builds the same
layers from the same plan.
"""

from __future__ import annotations

from typing import Any

from convcalc.analysis import analyze
from convcalc.export.plan import ExportPlan, plan_export
from convcalc.export.runtime import custom_layer_class, import_keras
from convcalc.layers import REGISTRY
from convcalc.layers.keras import Op
from convcalc.spec import Network


def make_layer(op: Op) -> Any:
    """The Keras layer object for one planned op."""
    keras = import_keras()
    custom = REGISTRY.keras_ops[op.layer].keras_source
    cls = custom_layer_class(op.layer) if custom else getattr(keras.layers, op.layer)
    return cls(**op.kwargs, name=op.name)


def build_model(plan: ExportPlan) -> Any:
    """The plan as a ``keras.Model`` (functional API), layer names as planned."""
    keras = import_keras()
    inputs = keras.Input(shape=plan.input_shape, name=plan.input_name)
    tensors = {plan.input_name: inputs}
    for op in plan.ops:
        read = [tensors[name] for name in op.inputs]
        tensors[op.name] = make_layer(op)(read if len(read) > 1 else read[0])
    return keras.Model(inputs, tensors[plan.layers[-1].output_op.name], name=plan.model_name)


def build_keras_model(network: Network) -> Any:
    """Analyse ``network`` and build it in Keras (what TensorFlow builds: a size that does not fit is floored)."""
    return build_model(plan_export(analyze(network)))


def layer_outputs_model(plan: ExportPlan, model: Any) -> Any:
    """A model over the same layers whose outputs are every spec layer's output tensor, in spec order."""
    keras = import_keras()
    outputs = [model.get_layer(layer.output_op.name).output for layer in plan.layers]
    return keras.Model(model.input, outputs, name=f"{plan.model_name}_layer_outputs")
