"""The JSON report: the machine contract of the core issue (keep its keys; add others freely)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from convcalc.analysis import PARAMS_CONVENTION, LayerFacts, macs_convention
from convcalc.checked import CheckedSpec
from convcalc.findings import Finding
from convcalc.loading import format_path
from convcalc.memory import TrainingMemory
from convcalc.report.common import DEFAULT_OPTIONS, PerField, RenderOptions
from convcalc.text import json_safe


def _fraction(value: Any) -> float | int:
    return value.numerator if value.denominator == 1 else float(value)  # the numerator: int() is a Python call


def layer_record(layer: LayerFacts, names: list[str]) -> dict[str, Any]:
    """Every fact of one layer as plain JSON values (``names``: every layer's name, for ``inputs``)."""
    record: dict[str, Any] = {
        "index": layer.index,
        "name": layer.name,
        "type": layer.type,
        "input_shape": list(layer.input_shape),
        "output_shape": list(layer.output_shape),
        "params": layer.params,
        "weights": layer.weights,
        "biases": layer.biases,
        "neurons": layer.neurons,
        "trainable_params": layer.trainable_params,
        "non_trainable_params": layer.non_trainable,
        "trainable": layer.trainable,
        "macs": layer.macs,
        "flops": 2 * layer.macs,
        "inputs": ["input" if s < 0 else names[s] for s in layer.inputs],
        "receptive_field": [_fraction(layer.rf_rows.size), _fraction(layer.rf_cols.size)],
        "receptive_field_jump": [_fraction(layer.rf_rows.jump), _fraction(layer.rf_cols.jump)],
        "receptive_field_start": [_fraction(layer.rf_rows.start), _fraction(layer.rf_cols.start)],
    }
    window = layer.window
    if window is not None:
        record["kernel"] = list(window.kernel)
        record["stride"] = list(window.stride)
        record["padding"] = list(window.padding)
        record["padding_mode"] = "same" if window.same else "explicit"
        record["fits"] = window.fits or window.same
        record["rounding"] = "same" if window.same else window.rounding
    if layer.unshared_params is not None:
        record["unshared_params"] = layer.unshared_params
    if layer.local_connectivity is not None:
        record["local_connectivity"] = list(layer.local_connectivity)
    return record


_string = json.encoder.encode_basestring
"""A string as JSON text (``ensure_ascii=False``): the function json's C encoder is given below."""


def _figure_text(value: Any) -> str:
    """:func:`_fraction` as JSON text: an int as ``int``, a float as ``float.__repr__`` (what json writes)."""
    return str(value.numerator) if value.denominator == 1 else float.__repr__(float(value))


def _ints_text(values: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, values)) + "]"


def _field_text(layer: LayerFacts) -> str:
    """The record's three receptive-field keys, as JSON text."""
    rows, cols = layer.rf_rows, layer.rf_cols
    return (
        f'"receptive_field": [{_figure_text(rows.size)}, {_figure_text(cols.size)}],'
        f' "receptive_field_jump": [{_figure_text(rows.jump)}, {_figure_text(cols.jump)}],'
        f' "receptive_field_start": [{_figure_text(rows.start)}, {_figure_text(cols.start)}]'
    )


def layer_text(layer: LayerFacts, quoted: list[str], fields: Callable[[LayerFacts], str] = _field_text) -> str:
    """``_dumps(layer_record(layer, names))`` written straight from the facts (``quoted``: every layer's name
    as JSON text): the record's dict and its encoding were two thirds of the JSON report of a deep network.
    The record stays the one definition; a test holds this text to its encoding, key for key. ``fields``: how
    the receptive field becomes its keys' text (a report's, made once per field: :class:`PerField`)."""
    i, o = layer.input_shape, layer.output_shape
    macs = layer.macs
    inputs = ", ".join('"input"' if s < 0 else quoted[s] for s in layer.inputs)
    text = (
        f'{{"index": {layer.index}, "name": {quoted[layer.index]}, "type": {_string(layer.type)},'
        f' "input_shape": [{i[0]}, {i[1]}, {i[2]}], "output_shape": [{o[0]}, {o[1]}, {o[2]}],'
        f' "params": {layer.params}, "weights": {layer.weights}, "biases": {layer.biases},'
        f' "neurons": {layer.neurons}, "trainable_params": {layer.trainable_params},'
        f' "non_trainable_params": {layer.non_trainable},'
        f' "trainable": {"true" if layer.trainable else "false"}, "macs": {macs}, "flops": {2 * macs},'
        f' "inputs": [{inputs}], {fields(layer)}'
    )
    window = layer.window
    if window is not None:
        text += (
            f', "kernel": {_ints_text(window.kernel)}, "stride": {_ints_text(window.stride)},'
            f' "padding": {_ints_text(window.padding)}, "padding_mode": "{"same" if window.same else "explicit"}",'
            f' "fits": {"true" if window.fits or window.same else "false"},'
            f' "rounding": {_string("same" if window.same else window.rounding)}'
        )
    if layer.unshared_params is not None:
        text += f', "unshared_params": {layer.unshared_params}'
    if layer.local_connectivity is not None:
        text += f', "local_connectivity": {_ints_text(layer.local_connectivity)}'
    return json_safe(text + "}")


def finding_record(checked: CheckedSpec, finding: Finding) -> dict[str, Any]:
    position = checked.position(finding)
    return {
        "code": finding.code,
        "severity": finding.severity.value,
        "layer": finding.layer,
        "layer_name": None if finding.layer is None else checked.facts.layers[finding.layer].name,
        "path": format_path(("layers", finding.layer)) if finding.layer is not None else None,
        "rule": finding.rule,
        "message": finding.message,
        "line": position[0] if position else None,
        "column": position[1] if position else None,
        "fixes": [fix.record() for fix in finding.fixes],
    }


def _memory_record(memory: TrainingMemory) -> dict[str, Any]:
    return {
        "batch": memory.batch,
        "dtype": memory.dtype,
        "weights_bytes": memory.weights,
        "gradients_bytes": memory.gradients,
        "optimizer_bytes": memory.optimizer,
        "activations_bytes": memory.activations,
        "total_bytes": memory.total,
    }


def spec_record(checked: CheckedSpec) -> dict[str, Any]:
    """Every fact of one checked spec as plain JSON values: the report's object."""
    names = [layer.name for layer in checked.facts.layers]
    return _spec_fields(checked, [layer_record(layer, names) for layer in checked.facts.layers])


def _spec_fields(checked: CheckedSpec, layers: list[Any]) -> dict[str, Any]:
    facts = checked.facts
    return {
        "file": checked.file,
        "config_file": checked.config_file,
        "name": facts.name,
        "input_shape": list(facts.input_shape),
        "output_shape": list(facts.output_shape),
        "classes": facts.network.classes,
        "layers": layers,
        "total_params": facts.total_params,
        "total_trainable_params": facts.total_trainable_params,
        "total_non_trainable_params": facts.total_non_trainable,
        "total_macs": facts.total_macs,
        "total_flops": 2 * facts.total_macs,
        "macs_convention": macs_convention(),
        "params_convention": PARAMS_CONVENTION,
        "total_weights": facts.total_weights,
        "total_biases": facts.total_biases,
        "param_bytes": facts.param_bytes,
        "activation_values": facts.activation_values,
        "activation_bytes": facts.activation_bytes,
        "dtype": "float32",
        "training_memory": None if checked.memory is None else _memory_record(checked.memory),
        "findings": [finding_record(checked, f) for f in checked.findings],
    }


_ENCODER = json.JSONEncoder(ensure_ascii=False)
"""``json.dumps(value, ensure_ascii=False)`` without building an encoder per call (one per layer line)."""


def _one_encoder() -> Callable[[Any], str]:
    """``_ENCODER.encode`` without its setup on every call: the stdlib makes json's C encoder anew each time,
    a third of the cost of one layer's line, so it is made once here, with the arguments the stdlib passes
    (no check for cycles: a report has none). Where the C encoder is missing, or takes other arguments, or
    writes a probe otherwise, the stdlib's own call."""
    make = getattr(json.encoder, "c_make_encoder", None)
    try:
        encode = make(None, _ENCODER.default, json.encoder.encode_basestring, None, ": ", ", ", False, False, True)  # type: ignore[misc]
    except TypeError:
        return _ENCODER.encode

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    probe = {"a": [1, -2.5, 1e300, None, True, 'é\u2028"\\'], "b": {"c": -0.0, "d": []}}
    return dumps if dumps(probe) == _ENCODER.encode(probe) else _ENCODER.encode


_encode = _one_encoder()


def _dumps(value: Any) -> str:
    # Readable UTF-8, but nothing invisible or unencodable (json_safe): C1 and bidi controls as \u escapes.
    return json_safe(_encode(value))


def _spec_text(record: dict[str, Any], indent: str, written: tuple[str, ...] = ()) -> str:
    # One key per line and one layer or finding per line: readable, diffable, and written by json's C
    # encoder (an ``indent=`` argument would switch to the pure-Python one, 4× slower on big specs).
    # ``written``: the keys whose lists hold their items already as JSON text (the layers' lines).
    inner = indent + "  "
    lines = []
    for key, value in record.items():
        if isinstance(value, list) and value and (key in written or isinstance(value[0], dict)):
            items = f",\n{inner}  ".join(value if key in written else map(_dumps, value))
            lines.append(f"{inner}{_dumps(key)}: [\n{inner}  {items}\n{inner}]")
        else:
            lines.append(f"{inner}{_dumps(key)}: {_dumps(value)}")
    return f"{indent}{{\n" + ",\n".join(lines) + f"\n{indent}}}"


def spec_json(spec: dict[str, Any]) -> str:
    """A spec as JSON text: one key per line, one layer per line (the layout of examples/)."""
    return _spec_text(spec, "") + "\n"


def part(checked: CheckedSpec, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """One spec's object as text, not indented (no string in it holds a raw line break)."""
    quoted = [_string(layer.name) for layer in checked.facts.layers]
    fields = PerField(_field_text)
    layers = [layer_text(layer, quoted, fields) for layer in checked.facts.layers]
    return _spec_text(_spec_fields(checked, layers), "", written=("layers",))


def join(parts: Sequence[str], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """One object for one spec; an array of objects (each with its ``file``) for several.

    ``as_list`` follows the number of files asked for, not of files that loaded, so the shape never
    depends on which inputs were valid.
    """
    as_list = options.as_list
    if not (len(parts) > 1 if as_list is None else as_list) and len(parts) == 1:
        return parts[0] + "\n"
    return "[\n" + ",\n".join("  " + text.replace("\n", "\n  ") for text in parts) + "\n]\n"


def render(results: Sequence[CheckedSpec], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """See :func:`join`."""
    return join([part(checked, options) for checked in results], options)
