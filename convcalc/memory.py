"""Memory estimates from the analysis facts: parameters, activations, and training at a batch size."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import NamedTuple

from convcalc.analysis import NetworkFacts

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
ADAM_STATES = 2
"""Adam keeps two moments (m and v) per trainable parameter."""


class TrainingMemory(NamedTuple):
    """What one training step holds, in bytes, for ``batch`` examples of ``dtype`` values.

    weights = params·b; gradients = trainable·b; optimizer = 2·trainable·b (Adam's m and v);
    activations = batch·(every volume's values, the input included)·b, all saved for the backward pass.
    A lower bound: frameworks add workspace, and fuse or recompute some activations.
    """

    batch: int
    dtype: str
    weights: int
    gradients: int
    optimizer: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations


def training_memory(facts: NetworkFacts, batch: int = 1, dtype: str = "float32") -> TrainingMemory:
    """The estimate for one network.

    >>> from convcalc.analysis import analyze
    >>> from convcalc.spec import Network
    >>> net = analyze(Network.model_validate({"input": [2, 2, 1], "layers": [{"type": "fc", "units": 3}]}))
    >>> m = training_memory(net, batch=2)
    >>> (m.weights, m.gradients, m.optimizer, m.activations)
    (60, 60, 120, 56)
    """
    size = DTYPE_BYTES[dtype]
    trainable = facts.total_trainable_params
    return TrainingMemory(
        batch=batch,
        dtype=dtype,
        weights=facts.total_params * size,
        gradients=trainable * size,
        optimizer=ADAM_STATES * trainable * size,
        activations=batch * facts.activation_values * size,
    )


_QUANTITY = re.compile(r"\s*(([0-9]+)(?:\.([0-9]+))?(?:[eE]([0-9]+))?)\s*([A-Za-z]*)\s*")
MAX_QUANTITY = 2**63 - 1
"""The largest count or size a gate takes: no figure of an analysed network goes past it."""
_MAX_QUANTITY_TEXT = 64
_DECIMAL = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BYTES = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_quantity(text: str, *, byte_units: bool = False) -> int:
    """``"140M"`` → 140,000,000; with ``byte_units``, ``"2GiB"`` → 2,147,483,648. Exact (no float rounding);
    a ValueError says what is allowed. At most :data:`MAX_QUANTITY`: ``"1e999999999"`` is refused from its
    digits, never computed.

    >>> parse_quantity("15.5G"), parse_quantity("2GiB", byte_units=True), parse_quantity("9007199254740993")
    (15500000000, 2147483648, 9007199254740993)
    """
    if len(text) > _MAX_QUANTITY_TEXT:
        raise ValueError(f"{text[:20]!r}… is {len(text):,} characters long; a number has at most {_MAX_QUANTITY_TEXT}")
    match = _QUANTITY.fullmatch(text)
    units = _BYTES if byte_units else _DECIMAL
    if not match or match.group(5).upper() not in units:
        what, allowed = ("a size", "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB") if byte_units else ("a count", "K, M, G, T")
        raise ValueError(f"{text!r} is not {what}: write a number with an optional unit ({allowed})")
    whole, fraction, exponent = match.group(2), match.group(3) or "", int(match.group(4) or 0)
    significant = (whole + fraction).lstrip("0")
    if not significant:
        return 0
    # The value is at least 10^(digits − 1): past 10^40 it is far beyond MAX_QUANTITY whatever the unit, and
    # 10^exponent is never computed (1e999999999 would take minutes and gigabytes).
    digits = len(significant) + exponent - len(fraction)
    if digits > 40 or (exact := Fraction(match.group(1)) * units[match.group(5).upper()]) > MAX_QUANTITY:
        raise ValueError(f"{text.strip()!r} is past 2^63 − 1 ({MAX_QUANTITY:,}), more than any network's figure")
    if exact.denominator != 1:  # 1.5 parameters, or half a byte: a count or a size is a whole number
        whole = "1.5KiB, 1,536 bytes, is" if byte_units else "1.5K, 1,500, is"
        raise ValueError(f"{text.strip()!r} is not a whole number ({whole})")
    return int(exact)
