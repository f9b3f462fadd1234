"""CC108: a layer whose shapes are sound but which TensorFlow cannot build (each kind declares what it refuses)."""

from __future__ import annotations

from pydantic import ValidationError

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.findings import Fix, Severity
from convcalc.layers import LayerSpec
from convcalc.rules.base import Hit, Settings, layer_rule
from convcalc.text import value_text


@layer_rule(
    "CC108",
    "tensorflow-cannot-build",
    Severity.ERROR,
    summary="A layer TensorFlow refuses although its shapes are sound (a kernel its CPU build lacks).",
    bad={"input": [32, 32, 8], "layers": [{"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "dilation": 2}]},
    good={"input": [32, 32, 8], "layers": [{"type": "conv", "filters": 8, "kernel": 3, "stride": 2}]},
    tensorflow_refuses=True,
)
def tensorflow_cannot_build(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
    """
    ## What it does
    Asks each layer's kind what TensorFlow cannot build: a per-channel conv with unequal strides (the
    Eigen kernel of DepthwiseConv2dNative takes one stride), a transposed conv with a dilation > 1 (its
    Conv2DBackpropInput kernel takes none), any conv with both a stride > 1 and a dilation > 1, and Keras's
    `"same"` transposed conv with an even kernel and output_padding 0. Several of these run where TensorFlow
    routes the op through oneDNN and fail where it does not (another CPU, a GPU, `TF_ENABLE_ONEDNN_OPTS=0`).

    ## Why is this bad
    The spec checks, the export writes a model, and then `model.fit` fails on some machine with
    "InvalidArgumentError: Current implementation only supports equal length strides…" — or works on the
    author's laptop and fails in CI.

    ## Use instead
    The fixes: one stride for both axes, a dilation of 1, or no stride with the dilation. A network meant only for
    PyTorch (a model imported from ONNX, `export --to torch`) may ignore the rule: `--ignore CC108`, or
    `ignore = ["CC108"]` in the config; the PyTorch export and verify already do.
    """
    if layer.input_shape.empty or layer.output_shape.empty:
        return None
    problem = layer.spec.tensorflow_problem(layer.input_shape, layer.output_shape)
    if problem is None:
        return None
    fixes = []
    for changes in problem.changes if settings.fixes else ():
        changed = _changed(layer.spec, changes)
        if changed is None:
            continue
        out = changed.compute(layer.input_shape, list(layer.input_shapes)).out
        if out.empty or changed.tensorflow_problem(layer.input_shape, out) is not None:
            continue
        title = ", ".join(f"{key}={value_text(_shown(value))}" for key, value in changes.items())
        fixes.append(Fix(f"{title} → {out}", layer.path, dict(changes)))
    return Hit(layer.index, problem.reason, tuple(fixes))


def _changed(spec: LayerSpec, changes: dict[str, object]) -> LayerSpec | None:
    data = {**spec.model_dump(mode="json", exclude_defaults=True), **changes, "type": spec.type}
    try:
        return type(spec).model_validate(data)
    except ValidationError:
        return None


def _shown(value: object) -> int | list[int] | str:
    if isinstance(value, int | str):
        return value
    return "default" if value is None else str(value)
