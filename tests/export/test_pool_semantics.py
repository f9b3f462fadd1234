"""Ceil-mode and adaptive pooling exported to Keras and tf.nn compute PyTorch's values, held to an independent
numpy implementation of PyTorch's rules (itself checked against torch by hand, outside the suite)."""

from __future__ import annotations

from typing import Any

import pytest

from convcalc.export.codegen import tfnn_source
from convcalc.export.keras_build import build_model
from convcalc.export.plan import plan_export
from tests import optional
from tests.export.test_differential import analysed, load_module

pytestmark = pytest.mark.tensorflow
keras = optional.keras()
np = optional.module("numpy", "pip install -e '.[tensorflow]'")


def torch_ceil_pool(x: Any, mode: str, kernel: int, stride: int, padding: int, out: tuple[int, int]) -> Any:
    """PyTorch's max/avg pooling with ceil_mode=True (avg: count_include_pad=True, its default): a window may
    hang past the padded input; an average divides by the part inside the padded input."""
    batch, height, width, depth = x.shape
    result = np.zeros((batch, *out, depth))
    for i in range(out[0]):
        for j in range(out[1]):
            top, left = i * stride - padding, j * stride - padding
            bottom, right = min(top + kernel, height + padding), min(left + kernel, width + padding)
            window = x[:, max(top, 0) : min(bottom, height), max(left, 0) : min(right, width), :]
            if mode == "max":
                result[:, i, j, :] = window.max(axis=(1, 2))
            else:
                result[:, i, j, :] = window.sum(axis=(1, 2)) / ((bottom - top) * (right - left))
    return result


def torch_adaptive_pool(x: Any, mode: str, out: tuple[int, int]) -> Any:
    """PyTorch's adaptive pooling: output i reads rows [floor(i·H/out), ceil((i + 1)·H/out))."""
    batch, height, width, depth = x.shape
    result = np.zeros((batch, *out, depth))
    for i in range(out[0]):
        top, bottom = i * height // out[0], -(-(i + 1) * height // out[0])
        for j in range(out[1]):
            left, right = j * width // out[1], -(-(j + 1) * width // out[1])
            window = x[:, top:bottom, left:right, :]
            result[:, i, j, :] = window.max(axis=(1, 2)) if mode == "max" else window.mean(axis=(1, 2))
    return result


def keras_and_tfnn(spec: dict[str, Any], x: Any) -> tuple[Any, Any, Any]:
    facts = analysed(spec)
    plan = plan_export(facts)
    model = build_model(plan)
    try:
        net = load_module(tfnn_source(plan), "generated_nn").Network()
        return facts, np.asarray(model(x)), np.asarray(net(x))
    finally:
        keras.backend.clear_session()


CEIL_CASES = [
    # (H, W, F, S, P): GoogLeNet's 112 → 56 and 56 → 28, odd and even sizes, padding counted by the average.
    (112, 112, 3, 2, 0),
    (8, 9, 3, 2, 0),
    (6, 7, 2, 2, 0),
    (7, 6, 3, 2, 1),
    (5, 5, 2, 2, 1),  # ceil would start a window at W + P: the decrement, equal to the floor
    (9, 10, 3, 1, 1),
    (2, 3, 3, 2, 0),  # a window larger than the 2 rows: one output all the same, hanging 1 row past them
    (1, 1, 2, 2, 0),
]


# A max pool with explicit padding is left out: PyTorch pads it with −inf, convcalc's explicit padding is zeros
# (README), so their values differ by design there; the shapes are the same and tested in tests/layers.
CEIL_VALUE_CASES = [("avg", *case) for case in CEIL_CASES] + [("max", *case) for case in CEIL_CASES if not case[4]]


@pytest.mark.parametrize(("mode", "height", "width", "kernel", "stride", "padding"), CEIL_VALUE_CASES)
def test_ceil_mode_pools_compute_pytorchs_values(
    mode: str, height: int, width: int, kernel: int, stride: int, padding: int
) -> None:
    layer = {"type": "pool", "mode": mode, "kernel": kernel, "stride": stride, "padding": padding, "ceil_mode": True}
    spec = {"input": [height, width, 2], "layers": [layer]}
    x = np.random.default_rng(1).standard_normal((2, height, width, 2)).astype("float32")
    facts, keras_out, tfnn_out = keras_and_tfnn(spec, x)
    out = facts.layers[0].output_shape
    expected = torch_ceil_pool(x.astype("float64"), mode, kernel, stride, padding, (out.height, out.width))
    np.testing.assert_allclose(keras_out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tfnn_out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(
    ("height", "width", "out"), [(14, 14, (7, 7)), (13, 11, (7, 7)), (5, 9, (3, 4)), (3, 3, (5, 2)), (3, 2, (1, 2))]
)
def test_adaptive_pools_compute_pytorchs_values(mode: str, height: int, width: int, out: tuple[int, int]) -> None:
    spec = {"input": [height, width, 3], "layers": [{"type": "pool", "mode": mode, "output": list(out)}]}
    x = np.random.default_rng(2).standard_normal((2, height, width, 3)).astype("float32")
    facts, keras_out, tfnn_out = keras_and_tfnn(spec, x)
    assert tuple(facts.layers[0].output_shape) == (*out, 3)
    expected = torch_adaptive_pool(x.astype("float64"), mode, out)
    np.testing.assert_allclose(keras_out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tfnn_out, expected, rtol=1e-5, atol=1e-6)
