"""A network written in Python: :class:`Network`, a constructor per layer kind, and :class:`InvalidSpec`.

``Network(input=(28, 28, 1), layers=[Conv(32, 5, padding="same"), ReLU(), Pool(2), FC(10)], classes=10)``
is validated exactly as a spec file is (:func:`convcalc.loading.validate`, the same messages), and is the
spec model itself, so everything that takes a spec takes it. The constructors are generated from the layer
registry, so every kind has one, named after its class, with keywords that are the JSON fields: they build a
:class:`Layer` (a layer object as JSON data) and leave judging its values to the network, which reports every
problem with its path (``layers[3].stride``) at once.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from convcalc import spec
from convcalc.layers import LayerSpec, kind_of_type
from convcalc.loading import Problem, SpecError, validate
from convcalc.text import did_you_mean, printable

PYTHON = "<python>"
"""What reports call a network built in Python (a spec file's name goes there otherwise)."""

EXTRA_POSITIONAL: Mapping[str, tuple[str, ...]] = {
    "pool": ("kernel", "stride"),
    "dropout": ("rate",),
    "upsample": ("factor",),
}
"""Optional fields that are still the obvious positional arguments (``Pool(2)``, ``Dropout(0.5)``); every
kind's required fields are positional anyway (``Conv(32, 5)``, ``FC(10)``). Every field is also a keyword."""

COMMON_FIELDS = ("name", "inputs", "ignore")
"""Fields every kind has: always keywords."""


class InvalidSpec(ValueError):
    """A network, model or setting that convcalc cannot use: every problem found, each with its path.

    ``problems`` holds them (``path``: a JSON path such as ``("layers", 3, "stride")``; ``message``; ``line`` and
    ``column`` in a file, when known). The text is the CLI's: one bullet per problem,
    ``<python>: layers[3].stride: must be ≥ 1 (got -1)``.
    """

    def __init__(self, source: str | None, problems: Sequence[Problem]) -> None:
        self.source = source
        """The file, or ``<python>``, or ``<keras Sequential name>``; None for a bad setting."""
        self.problems = list(problems)
        super().__init__(self._text())

    def _text(self) -> str:
        if self.source is None:
            return "; ".join(printable(problem.message) for problem in self.problems)
        from convcalc.report.common import spec_error_text

        return spec_error_text(SpecError(self.source, self.problems)).removeprefix("error: ").rstrip("\n")

    @classmethod
    def of(cls, error: SpecError) -> InvalidSpec:
        """The API's form of a :class:`~convcalc.loading.SpecError` (same problems, same text)."""
        return cls(error.file, error.problems)


class Layer(dict[str, Any]):
    """One layer object of a spec as JSON data (``{"type": "conv", "filters": 32, "kernel": 5}``): what the
    constructors return, and what a spec file's ``layers`` list holds. A plain dict works the same."""

    def __repr__(self) -> str:
        tag = self.get("type")
        kind = kind_of_type(tag) if isinstance(tag, str) else None
        fields = ", ".join(f"{key}={value!r}" for key, value in self.items() if key != "type")
        return f"{kind.__name__}({fields})" if kind is not None else f"Layer({dict.__repr__(self)})"


def _default(field: Any) -> Any:
    if field.default is not PydanticUndefined:
        return field.default
    return inspect.Parameter.empty if field.is_required() else None


def constructor(kind: type[LayerSpec]) -> Callable[..., Layer]:
    """The Python constructor of a layer kind: the kind's required fields (and :data:`EXTRA_POSITIONAL`) may be
    given by position, every field by keyword; a misspelt keyword is a TypeError naming the closest field."""
    type_name = kind.type_names()[0]
    fields = {name: field for name, field in kind.model_fields.items() if name != "type"}
    extra = EXTRA_POSITIONAL.get(type_name, ())
    positional = [name for name, field in fields.items() if field.is_required()]
    positional += [name for name in extra if name in fields and name not in positional]
    parameters = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=_default(fields[name]))
        for name in positional
    ]
    keywords = [name for name in fields if name not in positional and name not in COMMON_FIELDS]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=_default(fields[name]))
        for name in [*keywords, *(name for name in COMMON_FIELDS if name in fields)]
    ]
    signature = inspect.Signature(parameters, return_annotation=Layer)
    title = kind.__name__

    def build(*args: Any, **kwargs: Any) -> Layer:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            unknown = next((key for key in kwargs if key not in fields), None)
            hint = did_you_mean(unknown, list(fields)) if unknown is not None else ""
            raise TypeError(f"{title}(): {exc}{hint}; the fields are {', '.join(fields)}") from None
        return Layer({"type": type_name, **bound.arguments})

    build.__name__ = build.__qualname__ = title
    build.__module__ = "convcalc"
    build.__signature__ = signature  # type: ignore[attr-defined]
    described = "\n".join(
        f"    {name}: {fields[name].description}" for name in fields if fields[name].description is not None
    )
    build.__doc__ = (
        f'A ``{type_name}`` layer (JSON ``{{"type": "{type_name}", ...}}``): {inspect.getdoc(kind) or ""}'
        + (f"\n\nFields:\n{described}" if described else "")
    )
    return build


if TYPE_CHECKING:
    CONSTRUCTORS: dict[str, Callable[..., Layer]]
    """Every kind's constructor by its class name (``Conv``, ``Pool``, ``FC`` …), generated from the registry."""


@functools.cache
def _constructors() -> dict[str, Callable[..., Layer]]:
    from convcalc.layers import KINDS

    return {kind.__name__: constructor(kind) for kind in KINDS}


def __getattr__(name: str) -> Any:
    # CONSTRUCTORS, made on first use (PEP 562): it imports every kind, which checking a spec need not.
    if name == "CONSTRUCTORS":
        return _constructors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def as_data(value: Any) -> Any:
    """Python values as the JSON data a spec file would hold: tuples as lists, models as their fields,
    integer-like numbers (numpy's) as ints; what JSON cannot hold is left for validation to name."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, Mapping):
        return {key: as_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_data(item) for item in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    try:
        return operator.index(value)
    except TypeError:
        return value


class Network(spec.Network):
    """A whole network, validated as a spec file is: a :class:`InvalidSpec` lists every problem.

    ``input`` is ``(H, W, D)``; ``layers`` holds the constructors' layers, plain dicts (any kind) or layer
    models; ``classes``, ``name`` and ``ignore`` are the spec's fields of those names.
    """

    def __init__(self, input: Any = None, layers: Any = None, **fields: Any) -> None:
        data = {"input": input, "layers": layers, **fields}
        data = {key: value for key, value in data.items() if value is not None or key not in ("input", "layers")}
        payload = as_data(data)
        try:
            validate(PYTHON, payload)  # every problem, with the messages of a file, and the graph's
        except SpecError as error:
            raise InvalidSpec.of(error) from None
        super().__init__(**payload)

    @classmethod
    def of(cls, network: spec.Network) -> Network:
        """A validated spec model as a :class:`Network` (no validation again)."""
        if isinstance(network, cls):
            return network
        values = {name: getattr(network, name) for name in type(network).model_fields}
        return cls.model_construct(_fields_set=set(network.model_fields_set), **values)

    def to_data(self) -> dict[str, Any]:
        """The network as spec JSON data (what a spec file holds; the fields given, not the defaults)."""
        return to_data(self)


def to_data(network: spec.Network) -> dict[str, Any]:
    """A validated network as spec JSON data, which validates back to the same network."""
    data: dict[str, Any] = network.model_dump(mode="json", exclude_unset=True)
    return data
