"""The PyTorch export computes the Keras export's values, not only its shapes: the same input (and, for a
transposed conv, the same weights) through both, output for output.

The shape and parameter checks (tests/export/test_torch.py) cannot see where a layer reads: a "same" pool padded
with zeros in front, or a transposed conv cropped on the wrong side, has the right shape and the wrong values.
The Keras export is held to TensorFlow and to PyTorch's own rules elsewhere (tests/export/test_pool_semantics.py,
test_differential.py); here it is the oracle. Inputs are negative, where a max pool that reads zero padding shows.

Needs both the ``tensorflow`` and the ``torch`` extras (the module skips without either; CI fails instead).
"""

from __future__ import annotations

from typing import Any

import pytest

from convcalc.analysis import analyze
from convcalc.export.keras_build import build_model
from convcalc.export.plan import plan_export
from convcalc.export.torch_plan import plan_torch
from convcalc.export.torch_verify import build_module
from convcalc.loading import validate
from tests import optional

pytestmark = [pytest.mark.tensorflow, pytest.mark.torch]
keras = optional.keras()
torch = optional.torch()
np = optional.module("numpy", "pip install -e '.[tensorflow]'")


def both_outputs(spec: dict[str, Any], seed: int) -> tuple[Any, Any]:
    """The Keras export's and the PyTorch export's outputs (NHWC) on one random input; a transposed conv's
    weights are copied from Keras's layout [F, F, K, D] to PyTorch's [D, K, F, F]."""
    facts = analyze(validate("<test>", spec))
    model = build_model(plan_export(facts))
    module = build_module(plan_torch(facts)).eval()
    height, width, depth = spec["input"]
    x = -np.abs(np.random.default_rng(seed).standard_normal((2, height, width, depth))).astype("float32") - 0.5
    transposed = [m for m in module.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    for layer, target in zip([la for la in model.layers if la.weights], transposed, strict=True):
        weights = layer.get_weights()
        with torch.no_grad():
            target.weight.copy_(torch.tensor(weights[0].transpose(3, 2, 0, 1)))
            if target.bias is not None:
                target.bias.copy_(torch.tensor(weights[1]))
    try:
        expected = np.asarray(model(x))
    finally:
        keras.backend.clear_session()
    with torch.no_grad():
        actual = module(torch.tensor(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    return expected, actual


def pool(mode: str, kernel: Any, stride: Any, padding: Any, size: tuple[int, int], **more: Any) -> dict[str, Any]:
    layer = {"type": "pool", "mode": mode, "kernel": kernel, "stride": stride, "padding": padding, **more}
    return {"input": [*size, 2], "layers": [layer]}


def transpose(kernel: int, stride: int, padding: Any, size: tuple[int, int], **more: Any) -> dict[str, Any]:
    layer = {"type": "conv_transpose", "filters": 3, "kernel": kernel, "stride": stride, "padding": padding, **more}
    return {"input": [*size, 2], "layers": [layer]}


CASES = {
    # "same" pads P before and P + 1 after on an odd total: at S = 2 ceil mode's overhang, at S = 1 one more
    # window before the first, sliced off; both left out of the max and of the average's divisor.
    "max same 2/2 on 5x5": pool("max", 2, 2, "same", (5, 5)),
    "avg same 2x3/2 on 4x3": pool("avg", [2, 3], 2, "same", (4, 3)),
    "avg same 3x2/2x1 on 8x9": pool("avg", [3, 2], [2, 1], "same", (8, 9)),
    "max same 2/1 on 6x7": pool("max", 2, 1, "same", (6, 7)),
    "avg same 4/1 on 6x7": pool("avg", 4, 1, "same", (6, 7)),
    "avg same 3/1 on 6x7 (even)": pool("avg", 3, 1, "same", (6, 7)),
    "max same 3/2 on 7x8": pool("max", 3, 2, "same", (7, 8)),
    "l2 same 2x3 on 7x6": pool("l2", [2, 3], [2, 3], "same", (7, 6)),
    # An explicit padding is zeros, which a max reads (the Keras export pads them in front).
    "max P=1 3/2 on 7x8": pool("max", 3, 2, 1, (7, 8)),
    "max P=1 3/1 ceil on 6x7": pool("max", 3, 1, 1, (6, 7), ceil_mode=True),
    "avg P=1 3/2 on 7x8": pool("avg", 3, 2, 1, (7, 8)),
    # Zeros in front, where ceil mode then starts one more window in the right padding: sliced off.
    "max P=0x1 5x4/2x4 ceil on 5x7": pool("max", [5, 4], [2, 4], [0, 1], (5, 7), ceil_mode=True),
    "avg P=3 4/2 ceil on 6x7": pool("avg", 4, 2, 3, (6, 7), ceil_mode=True),
    # A "same" transposed conv crops ⌊(F − S)/2⌋ before, the rest after (TensorFlow's gradient of a "same" conv).
    "transpose same F=3 S=2": transpose(3, 2, "same", (5, 6)),
    "transpose same F=5 S=2": transpose(5, 2, "same", (4, 5), bias=False),
    "transpose same F=3 S=1": transpose(3, 1, "same", (4, 5)),
    "transpose same F=2 S=3": transpose(2, 3, "same", (3, 4), output_padding=1),
    "transpose same F=4 S=2 (even)": transpose(4, 2, "same", (4, 5)),
    # An explicit P crops P before and P − output_padding after.
    "transpose P=2 F=5 S=3 out_pad=2": transpose(5, 3, 2, (5, 6), output_padding=2),
    "transpose P=1 F=3 S=2 out_pad=1": transpose(3, 2, 1, (4, 5), output_padding=1),
}


@pytest.mark.parametrize("spec", list(CASES.values()), ids=list(CASES))
def test_the_pytorch_export_computes_the_keras_exports_values(spec: dict[str, Any]) -> None:
    expected, actual = both_outputs(spec, seed=len(str(spec)))
    assert expected.shape == actual.shape
    assert np.allclose(expected, actual, atol=1e-5), float(np.abs(expected - actual).max())
