"""The one-layer calculator's report: output volume, the formula with numbers, parameters, findings."""

from __future__ import annotations

import json

from convcalc.analysis import analyze
from convcalc.config import LintConfig
from convcalc.findings import Severity
from convcalc.report.common import hyperparameters
from convcalc.rules import run_rules
from convcalc.spec import Network

LAYER_RULE_PREFIXES = ("CC1", "CC2")
"""A single layer has no architecture to judge: only shape and magic-number rules apply."""


def render(network: Network, output_format: str) -> tuple[str, bool]:
    facts = analyze(network)
    layer = facts.layers[0]
    window = layer.window
    assert window is not None
    rules = [r for r in LintConfig().rules() if r.code.startswith(LAYER_RULE_PREFIXES)]
    findings = [f for f in run_rules(facts, rules) if f.layer == 0]
    has_error = any(f.severity is Severity.ERROR for f in findings)
    pad = window.padding
    formulas = []
    for axis, size, kernel, pad2, stride, result in (
        ("height", layer.input_shape.height, window.kernel[0], pad.top + pad.bottom, window.stride[0], window.rows),
        ("width", layer.input_shape.width, window.kernel[1], pad.left + pad.right, window.stride[1], window.cols),
    ):
        if window.same:
            formulas.append(f"{axis}: same → ceil(W/S) = ceil({size}/{stride}) = {result.size} (P = {pad2} in total)")
        else:
            value = f"= {result.size}" if result.fits else f"is not an integer: TensorFlow floors it to {result.size}"
            formulas.append(f"{axis}: (W − F + 2P)/S + 1 = ({size} − {kernel} + {pad2})/{stride} + 1 {value}")
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
        return json.dumps(payload, indent=2, ensure_ascii=False) + "\n", has_error
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
    return "\n".join(lines) + "\n", has_error
