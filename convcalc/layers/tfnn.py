"""How a Keras op becomes low-level TensorFlow: the tf.nn expression and the tf.Variables it reads.

Each layer kind declares, for the Keras layer classes its export emits, a :class:`KerasOp`: the expression
over the tensors it reads and the variables of its weights. :mod:`convcalc.export.codegen` writes the file
from these; every piece of text is a generated identifier or a ``repr`` literal (:mod:`convcalc.pysource`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from convcalc.layers.keras import Op
from convcalc.layers.volume import Shape
from convcalc.pysource import comment, identifier, literal

Expression = Callable[[Op, list[str], str], str]
"""(op, the variables it reads, its padding argument as code) → the tf.nn expression."""
Variables = Callable[[Op, Shape], list[str]]
"""(the op, its input volume) → the ``self.… = tf.Variable(…)`` lines of its weights (bias included)."""


def _no_variables(op: Op, shape: Shape) -> list[str]:
    return []


def _never(op: Op) -> bool:
    return False


class KerasOp(NamedTuple):
    """One Keras layer class as tf.nn code."""

    expression: Expression
    variables: Variables = _no_variables
    biased: bool = False
    """A ``tf.nn.bias_add`` follows when the op uses a bias."""
    takes_explicit_padding: Callable[[Op], bool] = _never
    """Whether the op takes a ``ZeroPadding2D`` in front of it as its own explicit padding argument."""
    purpose: str = ""
    """What the op is for when it is a helper of another layer (shown in the generated comments)."""
    tfnn_constants: str = ""
    """Lines a tf.nn file that uses the op needs once among its constants."""
    tfnn_support: str = ""
    """Code a tf.nn file that uses the op needs once, after the initialiser (a helper function)."""
    keras_source: str = ""
    """For a layer Keras lacks: the source of its class (needs ``keras`` and ``layers`` in scope), pasted into
    generated Keras code and executed by the exporter's runtime, so it is written once."""


def padding_list(padding: tuple[tuple[int, int], tuple[int, int]]) -> str:
    """((top, bottom), (left, right)) as tf.pad's NHWC list."""
    (top, bottom), (left, right) = padding
    return f"[[0, 0], [{top}, {bottom}], [{left}, {right}], [0, 0]]"


def nhwc(pair: tuple[int, int]) -> tuple[int, int, int, int]:
    """A per-axis (h, w) window setting as TensorFlow's NHWC list [1, h, w, 1] (strides, ksize)."""
    return (1, pair[0], pair[1], 1)


def list_notation(values: tuple[int, ...]) -> str:
    """``(5, 5, 1, 32)`` → ``[5, 5, 1, 32]``."""
    return "[" + ", ".join(str(value) for value in values) + "]"


def variable(owner: str, part: str, initial: str, note: str = "", trainable: bool = True) -> str:
    """One ``self.<owner>_<part> = tf.Variable(...)`` line of a ``tf.Module``'s ``__init__``."""
    flag = "" if trainable else ", trainable=False"
    line = f"        self.{owner}_{part} = tf.Variable({initial}, name={literal(owner + '_' + part)}{flag})"
    return f"{line}  {comment(note)}" if note else line


def frozen(line: str) -> str:
    """A :func:`variable` line made non-trainable: the variable of a frozen layer (``"trainable": false``)."""
    if ", trainable=False)" in line:
        return line
    close = line.index(")", line.rindex(", name="))  # the name is an identifier's literal: no parenthesis
    return f"{line[:close]}, trainable=False{line[close:]}"


def glorot(shape: tuple[int, ...], fan_in: int, fan_out: int) -> str:
    """Keras's default initialiser as a call of the generated file's ``glorot_uniform``."""
    return f"glorot_uniform({literal(list(shape))}, {fan_in}, {fan_out}, generator)"


def bias_variable(op: Op, units: int) -> list[str]:
    """The bias of an op with ``units`` outputs, unless it has none."""
    return [variable(identifier(op.name), "bias", f"tf.zeros([{units}])")] if op.flag("use_bias", True) else []


def weight(op: Op) -> str:
    """The expression of an op's weight variable (``self.conv1_kernel``)."""
    return f"self.{identifier(op.name)}_kernel"
