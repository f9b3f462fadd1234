"""Keras 3 operation nodes: arithmetic written on tensors in a functional model (``x + 3.0``, ``inputs + y``).

Keras 3 serialises ``x + y``, ``x * (1/6)`` and friends as nodes of class ``Add``, ``Multiply`` … from
``keras.src.ops.numpy`` (the class names of the merge layers, another module), with the constant among the
node's arguments. MobileNetV3's hard sigmoid is ``ReLU(6)(x + 3) * (1/6)``; ConvNeXt's residual is
``inputs + x``. A node with two tensors reads as the merge layer of that name (add, multiply); one tensor and
a number is an affine map, a ``rescaling`` layer (``scale·x + offset``); anything else is refused by name.
"""

from __future__ import annotations

import math
from typing import Any

from convcalc.layers import REGISTRY
from convcalc.layers.keras import KerasLayer, Mapped, Tensor, short_json

OPERATION_MODULES = ("keras.src.ops.", "keras.ops.")
AFFINE = ("Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Negative")
"""The operations that, on one tensor and numbers, are scale·x + offset."""
MERGES = ("Add", "Multiply")
"""The operations that, on two tensors, are the merge layer of the same class name."""


def is_operation(raw: dict[str, Any]) -> bool:
    """Whether a config entry is an operation node rather than a layer."""
    module = raw.get("module")
    return isinstance(module, str) and module.startswith(OPERATION_MODULES)


def read_operation(layer: KerasLayer, sources: list[Tensor]) -> Mapped:
    """The spec layers of one operation node (its tensors are ``sources``, in argument order)."""
    name = layer.class_name
    operands = _operands(layer)
    numbers = [o for o in operands if o is not _TENSOR]
    if name in MERGES and not numbers and len(operands) >= 2:
        reader = REGISTRY.keras_readers.get(name)
        if reader is None:
            raise layer.refuse(f"the operation {name} of two tensors needs convcalc's {name.lower()} layer")
        return reader(layer, sources)
    if name in AFFINE and len(sources) == 1 and len(operands) == (1 if name == "Negative" else 2):
        scale, offset = _affine(layer, operands)
        return Mapped([{"type": "rescaling", "scale": scale, "offset": offset}], sources[0].rank)
    raise layer.refuse(
        f"the Keras operation {name} on {short_json([o if o is not _TENSOR else 'tensor' for o in operands])}:"
        " convcalc imports x + y and x * y of two tensors, and x + c, x - c, c - x, x * c, x / c, -x of one tensor"
        " and a number"
    )


_TENSOR = object()
"""Marks an operand that is a tensor."""


def _operands(layer: KerasLayer) -> list[Any]:
    """The node's positional arguments: tensors as ``_TENSOR``, numbers as themselves."""
    nodes = layer.raw.get("inbound_nodes")
    node = nodes[0] if isinstance(nodes, list) and nodes else None
    if not isinstance(node, dict) or not isinstance(node.get("args"), list):
        raise layer.refuse("an operation node without the Keras 3 'args' convcalc reads")
    if node.get("kwargs"):
        raise layer.refuse(
            f"the operation has keyword arguments {short_json(node['kwargs'])}, which convcalc does not model"
        )
    operands: list[Any] = []
    for arg in node["args"]:
        if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            operands.append(_TENSOR)
        elif type(arg) in (int, float) and math.isfinite(arg):
            operands.append(arg)
        else:
            raise layer.refuse(f"an operand {short_json(arg)} that is neither a tensor nor a number")
    return operands


def _affine(layer: KerasLayer, operands: list[Any]) -> tuple[float, float]:
    """(scale, offset) of the operation on one tensor and a number."""
    name = layer.class_name
    if name == "Negative":
        return -1.0, 0.0
    tensor_first = operands[0] is _TENSOR
    c = float(operands[1] if tensor_first else operands[0])
    if name == "Add":
        return 1.0, c
    if name == "Subtract":
        return (1.0, -c) if tensor_first else (-1.0, c)
    if name == "Multiply":
        return c, 0.0
    if not tensor_first:
        raise layer.refuse(f"{short_json(operands[0])} / x is not an affine map of x; convcalc cannot model it")
    if c == 0:
        raise layer.refuse("divides by zero")
    return 1.0 / c, 0.0
