"""Generate standalone Python from an export plan: Keras 3 functional code, or low-level ``tf.nn`` code.

Both files build the same network (the plan's layers, in order), check the parameter count against
convcalc's, run a forward pass and one training step on random data, and exit 0. Spec text only ever
enters them as escaped literals (see :mod:`convcalc.export.pysource`); each file is compiled before it is
returned.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from convcalc import __version__
from convcalc.export.plan import ExportPlan, LayerPlan, structure_notation, tensor_notation
from convcalc.layers import REGISTRY
from convcalc.layers.keras import Op
from convcalc.layers.tfnn import KerasOp, frozen, padding_list
from convcalc.pysource import checked, comment, identifier, literal

_NOTATION = (
    "Comments give each layer's output as TensorFlow shapes it, [batch, H, W, D] ([batch, n] once flat; convcalc\n"
    "calls that 1×1×n), its filter W [F, F, D, K] (fc: [H·W·D, units]), its ksize and strides [1, S, S, 1], and\n"
    "the parameters convcalc computed."
)


def _translation(op: Op) -> KerasOp:
    """How the layer kind that emits this Keras class writes it (registered with the kind)."""
    found = REGISTRY.keras_ops.get(op.layer)
    if found is None:
        raise AssertionError(f"no layer kind declares the Keras class {op.layer}")
    return found


def _supports(plan: ExportPlan, part: str) -> list[str]:
    """A part of the support code (``keras_source``, ``tfnn_constants``, ``tfnn_support``) of every Keras class
    the plan uses, once each, in the order the classes first appear."""
    classes = dict.fromkeys(op.layer for op in plan.ops)
    return [text for text in (getattr(_translation(_first(plan, c)), part) for c in classes) if text]


def _first(plan: ExportPlan, layer: str) -> Op:
    return next(op for op in plan.ops if op.layer == layer)


def _op_comment(layer: LayerPlan, op: Op) -> str:
    text = f"→ {tensor_notation(op.output)}"
    if op is layer.main:
        facts = layer.facts
        if len(op.output) == 1:
            text += f" (1×1×{op.output[0]})"
        structure = structure_notation(facts)
        if structure:
            text += f"  {structure}"
        text = f"layers[{facts.index}] {text}  {facts.params:,} params"
    else:
        purpose = "logits as [batch, classes]" if op is layer.output_op else _translation(op).purpose
        text += f"  ({purpose})"
    return comment(text)


class Step(Protocol):
    """A Keras op or a PyTorch step: its name and what it reads."""

    @property
    def name(self) -> str: ...

    @property
    def inputs(self) -> tuple[str, ...]: ...


def _variables(plan: ExportPlan) -> dict[str, str]:
    return step_variables(plan.input_name, plan.ops)


def step_variables(input_name: str, ops: Sequence[Step]) -> dict[str, str]:
    """The Python variable that holds each op's output.

    ``x`` when only the next op reads it (a sequential network is one ``x`` threaded through), else
    ``<name>_out`` so that a later branch or merge can still read it; the input is ``inputs``.
    """
    readers: dict[str, list[int]] = defaultdict(list)
    for position, op in enumerate(ops):
        for name in op.inputs:
            readers[name].append(position)
    variables = {input_name: "inputs"}
    for position, op in enumerate(ops):
        last = position == len(ops) - 1
        only_next = readers[op.name] == [position + 1] or (last and not readers[op.name])
        variables[op.name] = "x" if only_next else identifier(f"{op.name}_out")
    return variables


def _arguments(op: Op, variables: dict[str, str]) -> str:
    read = [variables[name] for name in op.inputs]
    return read[0] if len(read) == 1 else f"[{', '.join(read)}]"


def _spec_names(plan: ExportPlan) -> dict[str, str]:
    """Keras name → the spec's own name, for the layers whose name had to be sanitised."""
    return {
        layer.main.name: layer.facts.spec.name
        for layer in plan.layers
        if layer.facts.spec.name is not None and layer.facts.spec.name != layer.main.name
    }


def _constants(plan: ExportPlan) -> list[str]:
    facts = plan.facts
    out = plan.output_shape
    lines = [f"SPEC_NAME = {literal(facts.name)}"]
    renamed = _spec_names(plan)
    if renamed:
        lines.append(comment("The spec's own layer names, where a Keras name had to be sanitised."))
        lines.append("SPEC_LAYER_NAMES = {")
        lines += [f"    {literal(keras_name)}: {literal(name)}," for keras_name, name in renamed.items()]
        lines.append("}")
    counts = f"{facts.total_weights:,} weights + {facts.total_biases:,} biases"
    if facts.total_statistics:
        counts += f" + {facts.total_statistics:,} non-trainable"
    if facts.total_frozen:
        counts += f" ({facts.total_frozen:,} of the weights and biases frozen)"
    lines += [
        f"INPUT_SHAPE = {literal(plan.input_shape)}  {comment(tensor_notation(plan.input_shape))}",
        f"OUTPUT_SHAPE = {literal(out)}  {comment(tensor_notation(out) + ' = ' + str(facts.output_shape))}",
        f"CLASSES = {literal(plan.classes)}",
        f"TOTAL_PARAMS = {facts.total_params}  {comment('convcalc: ' + counts)}",
    ]
    return lines


def _docstring(plan: ExportPlan, what: str, trainer: str) -> str:
    total = plan.facts.total_params
    return (
        f'"""{plan.model_name}: {what}, generated by convcalc {__version__}.\n\n'
        "Run: python <this file> [--batch-size N] [--seed N]. It builds the model, checks that its parameter\n"
        f"count equals convcalc's total ({total:,}), runs a forward pass and {trainer} on random\n"
        "data, and exits 0 (1 if a figure differs).\n\n"
        f'{_NOTATION}\n"""'
    )


_PREAMBLE = """from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow's start-up banners
"""

_ARGUMENTS = """    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=2, help="examples in the random batch (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the weights and the data (default 0)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch_size, *INPUT_SHAPE)).astype("float32")
"""

_CHECK_OUTPUT = """    if tuple(y_pred.shape) != (args.batch_size, *OUTPUT_SHAPE):
        print(f"error: output {list(y_pred.shape)}, expected {[args.batch_size, *OUTPUT_SHAPE]}", file=sys.stderr)
        return 1
    print(f"forward pass: {list(x.shape)} → {list(y_pred.shape)}")
"""

_CHECK_LOSS = """    if not np.isfinite(value):
        print(f"error: the training step gave loss {value}", file=sys.stderr)
        return 1
"""


def _targets(plan: ExportPlan) -> str:
    """The random targets: class labels for a classifier, else values shaped like the output."""
    if plan.classes is not None:
        return "    y = rng.integers(0, CLASSES, size=args.batch_size)  # random class labels\n"
    return (
        "    # No classes declared: regress random targets of the output's shape.\n"
        '    y = rng.standard_normal((args.batch_size, *OUTPUT_SHAPE)).astype("float32")\n'
    )


# --- Keras -----------------------------------------------------------------------------------------


def _keras_main(plan: ExportPlan) -> str:
    if plan.facts.total_trainable_params == 0:
        training = '    print("no trainable weights: nothing to train")\n'
    else:
        loss = (
            "keras.losses.SparseCategoricalCrossentropy(from_logits=True)"
            if plan.classes is not None
            else "keras.losses.MeanSquaredError()"
        )
        training = (
            _targets(plan)
            + f"    loss = {loss}\n"
            + "    model.compile(optimizer=keras.optimizers.Adam(), loss=loss)\n"
            + "    value = float(np.ravel(model.train_on_batch(x, y))[0])\n"
            + _CHECK_LOSS
            + '    print(f"one training step (Adam, {loss.name}): loss {value:.4f}")\n'
        )
    return (
        """


def main(argv: list[str] | None = None) -> int:
    \"\"\"Build and summarise the model, check its parameter count, then one forward pass and one training step.\"\"\"
"""
        + _ARGUMENTS
        + """    keras.utils.set_random_seed(args.seed)
    model = build_model()
    model.summary()
    if model.count_params() != TOTAL_PARAMS:
        message = f"model.count_params() = {model.count_params():,}, convcalc computed {TOTAL_PARAMS:,}"
        print(f"error: {message}", file=sys.stderr)
        return 1
    print(f"model.count_params() = {model.count_params():,}, as convcalc computed")
    y_pred = model(x)
"""
        + _CHECK_OUTPUT
        + training
        + """    return 0


if __name__ == "__main__":
    sys.exit(main())
"""
    )


def _keras_call(op: Op) -> str:
    args = ", ".join(f"{identifier(key)}={literal(value)}" for key, value in op.args)
    args = f"{args}, name={literal(op.name)}" if args else f"name={literal(op.name)}"
    # A class Keras lacks is defined in the generated file itself (see KerasOp.keras_source).
    cls = identifier(op.layer) if _translation(op).keras_source else f"layers.{identifier(op.layer)}"
    return f"{cls}({args})"


def keras_source(plan: ExportPlan) -> str:
    """A standalone Python file that builds the plan with the Keras 3 functional API, one line per layer."""
    lines = [
        _docstring(plan, "a Keras 3 model", "one Adam training step"),
        "",
        _PREAMBLE,
        "import keras  # noqa: E402  (imported once the environment is set)",
        "import numpy as np  # noqa: E402",
        "from keras import layers  # noqa: E402",
        "",
        *_constants(plan),
    ]
    lines += [source.rstrip("\n") for source in _supports(plan, "keras_source")]
    variables = _variables(plan)
    lines += [
        "",
        "",
        "def build_model() -> keras.Model:",
        f'    """The network as a Keras functional model: one line per layer (convcalc {__version__})."""',
        f"    inputs = keras.Input(shape=INPUT_SHAPE, name={literal(plan.input_name)})"
        f"  {comment(tensor_notation(plan.input_shape))}",
    ]
    for layer in plan.layers:
        for op in layer.ops:
            call = f"{_keras_call(op)}({_arguments(op, variables)})"
            lines.append(f"    {variables[op.name]} = {call}  {_op_comment(layer, op)}")
    output = variables[plan.layers[-1].output_op.name]
    lines.append(f"    return keras.Model(inputs, {output}, name={literal(plan.model_name)})")
    source = "\n".join(lines) + _keras_main(plan)
    return checked(source, f"{plan.model_name}.py")


# --- tf.nn -----------------------------------------------------------------------------------------

_TFNN_INIT = '''

def glorot_uniform(shape: list[int], fan_in: int, fan_out: int, generator: tf.random.Generator) -> tf.Tensor:
    """Keras's default initialiser: uniform in ±sqrt(6 / (fan_in + fan_out))."""
    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    return generator.uniform(shape, -limit, limit)
'''


def _tfnn_main(plan: ExportPlan) -> str:
    if plan.facts.total_trainable_params == 0:
        step = ""
        training = '    print("no trainable variables: nothing to train")\n'
    else:
        logits = "net(x, training=True)"
        loss = (
            f"tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits={logits}))"
            if plan.classes is not None
            else f"tf.reduce_mean(tf.square({logits} - y))"
        )
        step = f"""


def train_step(net: Network, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    \"\"\"One step of plain gradient descent: loss, gradients by tf.GradientTape, variables moved against them.\"\"\"
    with tf.GradientTape() as tape:
        loss = {loss}
    gradients = tape.gradient(loss, net.trainable_variables)
    for variable, gradient in zip(net.trainable_variables, gradients):
        variable.assign_sub(LEARNING_RATE * gradient)
    return loss"""
        training = (
            _targets(plan)
            + "    value = float(train_step(net, tf.constant(x), tf.constant(y)))\n"
            + _CHECK_LOSS
            + '    print(f"one gradient-descent training step: loss {value:.4f}")\n'
        )
    return (
        step
        + """


def main(argv: list[str] | None = None) -> int:
    \"\"\"Build the module, check its parameter count, then one forward pass and one training step.\"\"\"
"""
        + _ARGUMENTS
        + """    net = Network(seed=args.seed)
    for variable in net.variables:
        print(f"{variable.name:<40} {list(variable.shape)}{'' if variable.trainable else '  (not trained)'}")
    params = sum(int(np.prod(variable.shape)) for variable in net.variables)
    if params != TOTAL_PARAMS:
        message = f"the variables hold {params:,} parameters, convcalc computed {TOTAL_PARAMS:,}"
        print(f"error: {message}", file=sys.stderr)
        return 1
    print(f"{params:,} parameters in tf.Variables, as convcalc computed")
    y_pred = net(tf.constant(x))
"""
        + _CHECK_OUTPUT
        + training
        + """    return 0


if __name__ == "__main__":
    sys.exit(main())
"""
    )


def _tfnn_variables(plan: ExportPlan) -> list[str]:
    """The tf.Variables of every layer with weights, named like the Keras weights (``conv1_kernel`` …)."""
    lines = []
    for layer in plan.layers:
        made = _translation(layer.main).variables(layer.main, layer.facts.input_shape)
        lines += made if layer.facts.trainable else [frozen(line) for line in made]
    return lines


def tfnn_source(plan: ExportPlan) -> str:
    """A standalone Python file with the plan in low-level TensorFlow: a ``tf.Module`` and ``tf.nn`` ops."""
    lines = [
        _docstring(plan, "the network in low-level TensorFlow (tf.nn ops in a tf.Module)", "one gradient step"),
        "",
        _PREAMBLE,
        "import numpy as np  # noqa: E402  (imported once the environment is set)",
        "import tensorflow as tf  # noqa: E402",
        "",
        *_constants(plan),
    ]
    if plan.facts.total_trainable_params:
        lines.append("LEARNING_RATE = 0.01")
    lines += _supports(plan, "tfnn_constants")
    lines.append(_TFNN_INIT)
    lines += _supports(plan, "tfnn_support")
    batch_shape = literal([None, *plan.input_shape])
    lines += [
        "",
        "class Network(tf.Module):",
        f'    """{plan.model_name} on NHWC tensors; variables are named after the Keras weights (conv1_kernel …)."""',
        "",
        "    def __init__(self, seed: int = 0) -> None:",
        f"        super().__init__(name={literal(plan.model_name)})",
        "        generator = tf.random.Generator.from_seed(seed)",
        *_tfnn_variables(plan),
        "",
        "    @tf.function",
        "    def __call__(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:",
        f"        inputs = tf.ensure_shape(inputs, {batch_shape})"
        f"  {comment('NHWC: ' + tensor_notation(plan.input_shape))}",
    ]
    variables = _variables(plan)
    for layer in plan.layers:
        ops = layer.ops
        for position, op in enumerate(ops):
            following = ops[position + 1] if position + 1 < len(ops) else None
            if (
                op.layer == "ZeroPadding2D"
                and following is not None
                and _translation(following).takes_explicit_padding(following)
            ):
                continue  # the conv below takes the padding itself
            previous = ops[position - 1] if position else None
            read = [variables[name] for name in op.inputs]
            translation = _translation(op)
            written = op.kwargs.get("padding", "valid")  # ZeroPadding2D's padding is amounts, not a mode
            padding = literal(written.upper()) if isinstance(written, str) else ""
            if previous is not None and previous.layer == "ZeroPadding2D" and translation.takes_explicit_padding(op):
                padding = padding_list(previous.amounts("padding"))
                read = [variables[name] for name in previous.inputs]
            target = variables[op.name]
            lines.append(f"        {target} = {translation.expression(op, read, padding)}  {_op_comment(layer, op)}")
            if translation.biased and op.flag("use_bias", True):
                lines.append(f"        {target} = tf.nn.bias_add({target}, self.{identifier(op.name)}_bias)")
    lines.append(f"        return {variables[plan.layers[-1].output_op.name]}")
    source = "\n".join(lines) + _tfnn_main(plan)
    return checked(source, f"{plan.model_name}_nn.py")
