"""The one-layer calculator's report: output volume, the formula with numbers, parameters, findings."""

from __future__ import annotations

import json

from convcalc.checked import CheckedSpec
from convcalc.report.rows import hyperparameters
from convcalc.text import json_safe


def render(checked: CheckedSpec, output_format: str) -> str:
    """The report of a one-layer spec (its findings already chosen by the caller)."""
    layer = checked.facts.layers[0]
    window = layer.window
    assert window is not None
    findings = [f for f in checked.findings if f.layer == 0]
    formulas = []
    for axis in window.axes(layer.input_shape):
        result = axis.result
        if window.same:
            formulas.append(
                f"{axis.name}: same → ceil(W/S) = ceil({axis.size}/{axis.stride}) = {result.size}"
                f" (P = {axis.pads} in total)"
            )
        else:
            value = f"= {result.size}" if result.fits else f"is not an integer: TensorFlow floors it to {result.size}"
            formulas.append(
                f"{axis.name}: (W − F + 2P)/S + 1 = ({axis.size} − {axis.kernel} + {axis.pads})/{axis.stride} + 1"
                f" {value}"
            )
    if output_format == "json":
        payload = {
            "input_shape": list(layer.input_shape),
            "output_shape": list(layer.output_shape),
            "weights": layer.weights,
            "biases": layer.biases,
            "params": layer.params,
            "fits": window.fits or window.same,
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
    lines = [
        f"{layer.type} {hyperparameters(layer)}: {layer.input_shape} → {layer.output_shape}",
        *(f"  {formula}" for formula in formulas),
        f"  weights {layer.weights:,} + biases {layer.biases:,} = params {layer.params:,}",
    ]
    if layer.unshared_params is not None:
        lines.append(f"  without parameter sharing (locally connected): {layer.unshared_params:,} params")
    for f in findings:
        lines.append(f"{f.code} {f.severity.value}: {f.message}")
        lines.extend(f"    fix: {fix.title}" for fix in f.fixes)
    return "\n".join(lines) + "\n"
