"""The one-layer calculator's report: output volume, the formula with numbers, parameters, findings."""

from __future__ import annotations

import json
from fractions import Fraction

from convcalc.checked import CheckedSpec
from convcalc.layers import WindowAxis
from convcalc.report.rows import hyperparameters
from convcalc.text import exact_decimal, fraction_text, json_safe


def _formula(axis: WindowAxis, same: bool, unit: str) -> str:
    """One axis's arithmetic, worked out, and what TensorFlow makes of it."""
    result = axis.result
    if same:
        return f"same → ceil(W/S) = ceil({axis.size}/{axis.stride}) = {result.size} (P = {axis.pads} in total)"
    exact = Fraction(result.numerator, axis.stride) + 1
    formula = f"(W − F + 2P)/S + 1 = ({axis.size} − {axis.span} + {axis.pads})/{axis.stride} + 1"
    if not result.has_output:
        return (
            f"{formula} = {fraction_text(exact).replace('-', '−')}: the window ({axis.letter} = {axis.span}) is"
            f" larger than the padded input (W + 2P = {axis.padded}), so there is no output (CC102)"
        )
    if result.ceil:
        return _ceil_formula(axis, formula, exact, unit)
    if result.fits:
        return f"{formula} = {result.size}"
    if axis.lost:
        rows = f"{axis.lost} {unit}" if axis.lost == 1 else f"{axis.lost} {unit.replace('/', 's/')}s"
        why = f"the last {rows} of the input {'goes' if axis.lost == 1 else 'go'} unread (CC101)"
    elif axis.drops_padding:
        why = "only padding goes unread (CC208)"
    else:
        why = "the rows it skips lie in the stride's own gap"
    return f"{formula} {exact_decimal(exact)} is not an integer: TensorFlow floors it to {result.size}; {why}"


def _ceil_formula(axis: WindowAxis, formula: str, exact: Fraction, unit: str) -> str:
    """A ceil-mode pool's axis: the rounding up, and PyTorch's rule that the last window starts inside."""
    result = axis.result
    if result.remainder == 0:
        return f"{formula} = {result.size} (exact: ceil mode rounds nothing)"
    rounded = result.numerator // axis.stride + 2
    if result.size < rounded:
        start = (rounded - 1) * axis.stride
        return (
            f"{formula} {exact_decimal(exact)} is not an integer: ceil mode would round it up to {rounded}, but"
            f" that window would start at {start} ≥ W + P = {axis.size + axis.pad}, past the input (PyTorch's"
            f" rule), so {result.size}: the same as the floor"
        )
    overhang = (result.size - 1) * axis.stride + axis.span - axis.padded
    rows = f"{overhang} {unit}" if overhang == 1 else f"{overhang} {unit.replace('/', 's/')}s"
    return (
        f"{formula} {exact_decimal(exact)} is not an integer: ceil mode rounds it up to {result.size}; the last"
        f" window starts inside the input and hangs {rows} past the padded input, which it does not read"
    )


def render(checked: CheckedSpec, output_format: str) -> str:
    """The report of a one-layer spec (its findings already chosen by the caller)."""
    layer = checked.facts.layers[0]
    window = layer.window
    assert window is not None
    findings = [f for f in checked.findings if f.layer == 0]
    axes = window.axes(layer.input_shape)
    both = [_formula(axis, window.same, "row/column") for axis in axes]
    if both[0] == both[1]:  # a square layer: one sentence about rows and columns
        formulas = [f"height and width: {both[0]}"]
    else:
        formulas = [f"{axis.name}: {_formula(axis, window.same, axis.unit)}" for axis in axes]
    if output_format == "json":
        payload = {
            "input_shape": list(layer.input_shape),
            "output_shape": list(layer.output_shape),
            "weights": layer.weights,
            "biases": layer.biases,
            "params": layer.params,
            "fits": window.fits or window.same,
            "rounding": "same" if window.same else window.rounding,
            "findings": [
                {
                    "code": f.code,
                    "severity": f.severity.value,
                    "message": f.message,
                    "fixes": [fix.title for fix in f.fixes],
                }
                for f in findings
            ],
        }
        return json_safe(json.dumps(payload, indent=2, ensure_ascii=False)) + "\n"
    output = "no output" if layer.output_shape.empty else str(layer.output_shape)
    lines = [
        f"{layer.type} {hyperparameters(layer)}: {layer.input_shape} → {output}",
        *(f"  {formula}" for formula in formulas),
        f"  weights {layer.weights:,} + biases {layer.biases:,} = params {layer.params:,}",
    ]
    if layer.unshared_params is not None and not layer.output_shape.empty:
        lines.append(f"  without parameter sharing (locally connected): {layer.unshared_params:,} params")
    for f in findings:
        lines.append(f"{f.code} {f.severity.value}: {f.message}")
        lines.extend(f"    fix: {fix.title}" for fix in f.fixes)
    return "\n".join(lines) + "\n"
