"""TensorFlow as the oracle: random specs built in Keras must match convcalc's static analysis layer by layer,
and the tf.nn export must compute the same function as the Keras export.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from convcalc.analysis import NetworkFacts, analyze
from convcalc.checking import check_loaded
from convcalc.export.codegen import keras_source, tfnn_source
from convcalc.export.keras_build import build_model, layer_outputs_model
from convcalc.export.plan import ExportPlan, as_volume, plan_export
from convcalc.export.runtime import import_keras
from convcalc.findings import Severity
from convcalc.loading import LoadedSpec, SourceMap, validate
from tests.export.strategies import buildable_specs

keras = import_keras()

EXAMPLES = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<generated>", spec))


def run_layers(plan: ExportPlan, model: Any, batch: np.ndarray) -> list[tuple[int, ...]]:
    """The shape of every spec layer's output tensor on a real forward pass."""
    outputs = layer_outputs_model(plan, model)(batch)
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    return [tuple(int(size) for size in tensor.shape) for tensor in outputs]


def random_batch(plan: ExportPlan, batch: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, *plan.input_shape)).astype("float32")


def assert_keras_matches_analysis(facts: NetworkFacts) -> None:
    plan = plan_export(facts)
    model = build_model(plan)
    try:
        shapes = run_layers(plan, model, random_batch(plan))
        for layer, layer_plan, shape in zip(facts.layers, plan.layers, shapes, strict=True):
            assert shape[0] == 2
            assert as_volume(shape[1:]) == layer.output_shape, (layer.label, shape)
            params = sum(model.get_layer(op.name).count_params() for op in layer_plan.ops)
            assert params == layer.params, layer.label
        assert model.count_params() == facts.total_params
        # Every Keras layer is one the plan accounts for: nothing hides parameters outside the comparison.
        assert [layer.name for layer in model.layers[1:]] == [op.name for op in plan.ops]
    finally:
        keras.backend.clear_session()


@EXAMPLES
@given(buildable_specs(fit_exactly=True))
def test_keras_model_matches_the_static_analysis(spec: dict[str, Any]) -> None:
    facts = analysed(spec)
    findings = check_loaded(LoadedSpec("<generated>", facts.network, SourceMap())).findings
    # The strategy only draws windows that fit and have an output (no CC101, no CC102).
    assert not [f for f in findings if f.severity is Severity.ERROR and f.code in ("CC101", "CC102")]
    assert_keras_matches_analysis(facts)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buildable_specs(fit_exactly=False))
def test_floored_sizes_are_what_tensorflow_builds(spec: dict[str, Any]) -> None:
    # What --force exports: strides that leave a remainder; convcalc's floor must be TensorFlow's.
    assert_keras_matches_analysis(analysed(spec))


def load_module(source: str, name: str) -> types.ModuleType:
    """Generated source as a module, without running its ``main``."""
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def copy_keras_weights_into(net: Any, plan: ExportPlan, model: Any) -> int:
    """Assign every Keras kernel and bias to the tf.nn module's variable of the same name; the number copied."""
    copied = 0
    for op in plan.ops:
        layer = model.get_layer(op.name)
        for part in ("kernel", "bias"):
            weight = getattr(layer, part, None)
            if weight is not None:
                getattr(net, f"{op.name}_{part}").assign(weight.numpy())
                copied += 1
    return copied


def assert_same_function(plan: ExportPlan, model: Any, net: Any) -> None:
    copied = copy_keras_weights_into(net, plan, model)
    assert copied == len(net.trainable_variables)
    batch = random_batch(plan, batch=3, seed=1)
    expected = np.asarray(model(batch))
    actual = np.asarray(net(batch))
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buildable_specs(fit_exactly=False))
def test_tf_nn_export_computes_what_the_keras_export_computes(spec: dict[str, Any]) -> None:
    plan = plan_export(analysed(spec))
    keras.utils.set_random_seed(0)
    model = build_model(plan)
    try:
        net = load_module(tfnn_source(plan), "generated_nn").Network(seed=0)
        assert sum(int(np.prod(v.shape)) for v in net.trainable_variables) == plan.facts.total_params
        assert_same_function(plan, model, net)
    finally:
        keras.backend.clear_session()


EVERY_KIND = {
    "name": "every kind",
    "input": [13, 11, 2],
    "classes": 5,
    "layers": [
        {"type": "conv", "filters": 4, "kernel": [3, 2], "padding": [1, 2], "name": "conv a"},
        {"type": "relu"},
        {"type": "pool", "mode": "l2", "kernel": 2, "padding": "same", "stride": [2, 1]},
        {"type": "conv", "filters": 3, "kernel": 3, "stride": 2, "padding": "same", "bias": False},
        {"type": "pool", "mode": "avg", "kernel": [2, 1], "padding": 1},
        {"type": "pool", "mode": "l2", "kernel": 2, "padding": 1, "stride": 1},
        {"type": "fc", "units": 6, "bias": False},
        {"type": "pool", "mode": "max", "kernel": 1},
        {"type": "conv", "filters": 4, "kernel": 1},
        {"type": "flatten"},
        {"type": "relu"},
        {"type": "conv", "filters": 5, "kernel": 1},
    ],
}


def test_generated_keras_code_builds_the_in_memory_model() -> None:
    plan = plan_export(analysed(EVERY_KIND))
    keras.utils.set_random_seed(0)
    model = build_model(plan)
    generated = load_module(keras_source(plan), "generated_keras").build_model()
    try:
        assert [(type(layer).__name__, layer.name) for layer in generated.layers] == [
            (type(layer).__name__, layer.name) for layer in model.layers
        ]
        for ours, theirs in zip(model.layers, generated.layers, strict=True):
            config, generated_config = ours.get_config(), theirs.get_config()
            for key in ("dtype", "build_config"):
                config.pop(key, None)
                generated_config.pop(key, None)
            assert config == generated_config, ours.name
        generated.set_weights(model.get_weights())
        batch = random_batch(plan, batch=3, seed=2)
        np.testing.assert_allclose(np.asarray(generated(batch)), np.asarray(model(batch)), rtol=1e-5, atol=1e-5)
        assert generated.count_params() == plan.facts.total_params
        net = load_module(tfnn_source(plan), "generated_nn").Network(seed=0)
        assert_same_function(plan, generated, net)
    finally:
        keras.backend.clear_session()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("max", [[4.0]]),
        ("avg", [[2.5]]),
        ("l2", [[np.sqrt(1 + 4 + 9 + 16)]]),
    ],
)
def test_pool_modes_compute_their_formula(mode: str, expected: list[list[float]]) -> None:
    plan = plan_export(analysed({"input": [2, 2, 1], "layers": [{"type": "pool", "mode": mode, "kernel": 2}]}))
    model = build_model(plan)
    batch = np.array([[[[1.0], [2.0]], [[3.0], [4.0]]]], dtype="float32")
    np.testing.assert_allclose(np.asarray(model(batch))[0, :, :, 0], expected, rtol=1e-6)
    net = load_module(tfnn_source(plan), "generated_nn").Network()
    np.testing.assert_allclose(np.asarray(net(batch))[0, :, :, 0], expected, rtol=1e-6)
    keras.backend.clear_session()


def test_l2_pooling_has_a_finite_gradient_on_an_all_zero_window() -> None:
    import tensorflow as tf

    plan = plan_export(analysed({"input": [2, 2, 1], "layers": [{"type": "pool", "mode": "l2", "kernel": 2}]}))
    model = build_model(plan)
    batch = tf.zeros((1, 2, 2, 1))
    with tf.GradientTape() as tape:
        tape.watch(batch)
        output = tf.reduce_sum(model(batch))
    gradient = tape.gradient(output, batch)
    assert np.all(np.isfinite(gradient.numpy()))
    keras.backend.clear_session()
