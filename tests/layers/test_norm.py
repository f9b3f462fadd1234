"""The normalisation, per-channel scaling and preprocessing kinds (layer_norm, group_norm, scale, rescaling,
normalization), the activations of issue 13, prelu, and frozen layers: counts by hand, then TensorFlow as the
oracle.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from convcalc.analysis import NetworkFacts, analyze
from convcalc.checking import check_loaded
from convcalc.loading import LoadedSpec, SourceMap, SpecError, validate
from convcalc.report.json_report import layer_record
from tests import optional

ON_8x8x6 = [8, 8, 6]


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<test>", spec))


def one(layer: dict[str, Any], shape: list[int] | None = None) -> NetworkFacts:
    return analysed({"input": shape or ON_8x8x6, "layers": [layer]})


@pytest.mark.parametrize(
    ("layer", "trainable", "non_trainable"),
    [
        ({"type": "layer_norm"}, 12, 0),
        ({"type": "layer_norm", "center": False}, 6, 0),
        ({"type": "group_norm", "groups": 3}, 12, 0),
        ({"type": "group_norm", "groups": 2, "scale": False}, 6, 0),
        ({"type": "scale"}, 6, 0),
        ({"type": "scale", "init": 0.1}, 6, 0),
        ({"type": "scale", "gammas": "one"}, 1, 0),  # NFNet's skip-init gain
        ({"type": "scale", "gammas": "one", "center": True}, 2, 0),  # HGNetV2's learnable affine block
        ({"type": "scale", "center": True}, 12, 0),
        ({"type": "scale", "gammas": "one", "trainable": False}, 0, 1),
        ({"type": "rescaling", "scale": 0.00392156862745098}, 0, 0),
        ({"type": "rescaling", "scale": [1, 2, 3, 4, 5, 6], "offset": [0, 0, 0, 1, 1, 1]}, 0, 0),
        ({"type": "normalization"}, 0, 13),  # mean 6, variance 6, count 1
        ({"type": "normalization", "mean": 0.5, "variance": 2}, 0, 0),  # constants: no weights
        ({"type": "batchnorm"}, 12, 12),
        ({"type": "batchnorm", "trainable": False}, 0, 24),
        ({"type": "conv", "filters": 6, "kernel": 1, "trainable": False}, 0, 42),
        ({"type": "scale", "trainable": False}, 0, 6),
        ({"type": "activation", "kind": "mish", "trainable": False}, 0, 0),
        ({"type": "prelu"}, 6, 0),  # one slope per channel
        ({"type": "prelu", "slopes": "one"}, 1, 0),
        ({"type": "prelu", "slopes": "position"}, 8 * 8 * 6, 0),
        ({"type": "prelu", "trainable": False}, 0, 6),
    ],
)
def test_counts_split_trainable_and_not(layer: dict[str, Any], trainable: int, non_trainable: int) -> None:
    facts = one(layer)
    (fact,) = facts.layers
    assert (fact.trainable_params, fact.non_trainable) == (trainable, non_trainable)
    assert fact.params == trainable + non_trainable == facts.total_params
    assert (facts.total_trainable_params, facts.total_non_trainable) == (trainable, non_trainable)
    assert fact.output_shape == fact.input_shape
    record = layer_record(fact, [fact.name])
    assert (record["trainable_params"], record["non_trainable_params"]) == (trainable, non_trainable)
    assert record["trainable"] is layer.get("trainable", True)
    assert record["params"] == fact.params and record["weights"] + record["biases"] <= fact.params


def test_a_frozen_layer_is_marked_in_the_table_and_trains_nothing() -> None:
    facts = analysed(
        {
            "input": [4, 4, 2],
            "layers": [
                {"type": "conv", "filters": 3, "kernel": 1, "trainable": False, "name": "stem"},
                {"type": "conv", "filters": 2, "kernel": 1},
            ],
        }
    )
    from convcalc.memory import training_memory
    from convcalc.report.rows import hyperparameters

    assert hyperparameters(facts.layers[0]) == "F=1 S=1 P=0 K=3 frozen"
    assert hyperparameters(facts.layers[1]) == "F=1 S=1 P=0 K=2"
    assert (facts.total_params, facts.total_trainable_params, facts.total_frozen) == (9 + 8, 8, 9)
    memory = training_memory(facts, batch=1, dtype="float32")
    assert memory.gradients == 8 * 4  # only the trainable parameters get gradients (and Adam's moments)


def test_silu_is_read_as_swish() -> None:
    facts = one({"type": "activation", "kind": "silu"})
    assert facts.layers[0].spec.activation_function() == "swish"
    assert facts.network.model_dump(mode="json")["layers"][0]["kind"] == "swish"


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"type": "normalization", "mean": [1, 2]}, "mean and variance must be given together"),
        ({"type": "normalization", "mean": [1, 2], "variance": 1}, "must have the same shape"),
        ({"type": "normalization", "mean": 0, "variance": -1}, "variance must be ≥ 0"),
        ({"type": "rescaling", "scale": True}, "must be a finite number"),
        ({"type": "rescaling", "scale": []}, "non-empty list"),
        ({"type": "rescaling"}, "required field is missing"),
        ({"type": "group_norm", "groups": 0}, "must be ≥ 1"),
        ({"type": "conv", "filters": 1, "kernel": 1, "trainable": "no"}, "must be true or false"),
        ({"type": "activation", "kind": "hardswish"}, "hard_swish"),
    ],
)
def test_bad_values_are_refused_by_name(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate("<test>", {"input": ON_8x8x6, "layers": [layer]})
    assert message in json.dumps([p.message for p in caught.value.problems], ensure_ascii=False)


def findings(spec: dict[str, Any]) -> list[Any]:
    return list(check_loaded(LoadedSpec("<test>", validate("<test>", spec), SourceMap())).findings)


def test_group_norm_groups_must_divide_the_depth() -> None:
    spec = {"input": [8, 8, 6], "layers": [{"type": "group_norm", "groups": 4}]}
    (finding,) = [f for f in findings(spec) if f.severity.value == "error"]
    assert finding.code == "CC109"
    assert "groups = 4 must divide the input depth D = 6 (6 = 1·4 + 2)" in finding.message
    assert [fix.set for fix in finding.fixes] == [{"groups": 3}, {"groups": 6}]


def test_a_per_channel_list_of_the_wrong_length_is_a_build_error() -> None:
    spec = {"input": [8, 8, 6], "layers": [{"type": "rescaling", "scale": [1, 2, 3]}]}
    (finding,) = [f for f in findings(spec) if f.severity.value == "error"]
    assert finding.code == "CC108"
    assert "scale has 3 values for a depth of D = 6" in finding.message
    spec = {"input": [8, 8, 6], "layers": [{"type": "normalization", "mean": [0, 1], "variance": [1, 1]}]}
    assert [f.code for f in findings(spec) if f.severity.value == "error"] == ["CC108"]


@pytest.mark.parametrize("kind", ["layer_norm", "group_norm"])
def test_normalising_by_its_own_statistics_is_a_nonlinearity(kind: str) -> None:
    # conv → layer_norm → conv does not collapse into one linear map; conv → scale → conv does (CC303).
    layers = [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}, {"type": kind, "groups": 2}]
    layers[1] = {k: v for k, v in layers[1].items() if kind == "group_norm" or k != "groups"}
    spec = {"input": [8, 8, 4], "layers": [*layers, {"type": "conv", "filters": 4, "kernel": 3, "padding": 1}]}
    assert "CC303" not in [f.code for f in findings(spec)]
    spec["layers"][1] = {"type": "scale"}
    assert "CC303" in [f.code for f in findings(spec)]


# --- TensorFlow as the oracle ------------------------------------------------------------------------------

MODERN = {
    "name": "modern kinds",
    "input": [8, 8, 3],
    "classes": 4,
    "layers": [
        {"type": "rescaling", "scale": 0.00392156862745098},
        {"type": "normalization"},
        {"type": "conv", "filters": 8, "kernel": 3, "padding": "same", "trainable": False},
        {"type": "group_norm", "groups": 4},
        {"type": "activation", "kind": "hard_swish"},
        {"type": "prelu"},
        {"type": "depthwise", "kernel": 3, "padding": "same"},
        {"type": "prelu", "slopes": "position"},
        {"type": "layer_norm", "center": False},
        {"type": "activation", "kind": "mish"},
        {"type": "scale", "init": 0.5},
        {"type": "scale", "gammas": "one", "init": 0.25},
        {"type": "scale", "center": True},
        {
            "type": "normalization",
            "mean": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
            "variance": [1, 2, 3, 4, 5, 6, 7, 8],
        },
        {"type": "rescaling", "scale": [1, 2, 3, 4, 5, 6, 7, 8], "offset": 0.5},
        {"type": "activation", "kind": "hard_sigmoid"},
        {"type": "batchnorm", "trainable": False},
        {"type": "activation", "kind": "elu"},
        {"type": "activation", "kind": "selu"},
        {"type": "activation", "kind": "softplus"},
        {"type": "activation", "kind": "silu"},
        {"type": "prelu", "slopes": "one", "trainable": False},
        {"type": "global_pool", "mode": "avg"},
        {"type": "prelu"},  # on Keras's flat vector
        {"type": "scale", "gammas": "one", "center": True, "init": 2},
        {"type": "layer_norm", "scale": False},
        {"type": "fc", "units": 4},
    ],
}
"""Every kind and activation of issue 13, and prelu, in one small network, frozen layers included."""


@pytest.mark.tensorflow
def test_verify_agrees_on_every_layer_and_the_trainable_split() -> None:
    from convcalc.export.plan import plan_export
    from convcalc.export.verify import verify_plan

    facts = analysed(MODERN)
    result = verify_plan(plan_export(facts))
    assert result.ok, [(c.plan.facts.label, c.tf_params) for c in result.layers if not c.ok]
    assert result.tf_trainable_params == facts.total_trainable_params < facts.total_params - 24


@pytest.mark.tensorflow
def test_tf_nn_code_computes_what_keras_computes() -> None:
    optional.keras()
    from convcalc.export.codegen import keras_source, tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import assert_same_function, keras, load_module

    plan = plan_export(analysed(MODERN))
    keras.utils.set_random_seed(0)
    model = build_model(plan)
    try:
        net = load_module(tfnn_source(plan), "generated_nn").Network(seed=0)
        assert sum(1 for v in net.trainable_variables for _ in [v]) == len(model.trainable_weights)
        assert_same_function(plan, model, net)
        generated = load_module(keras_source(plan), "generated_keras").build_model()
        assert generated.count_params() == model.count_params()
        assert len(generated.trainable_weights) == len(model.trainable_weights)
    finally:
        keras.backend.clear_session()


@pytest.mark.tensorflow
@pytest.mark.parametrize(
    "kind",
    [
        *("hard_sigmoid", "hard_swish", "elu", "selu", "softplus", "mish", "swish", "log_softmax", "hard_tanh"),
        *("softsign", "log_sigmoid", "hard_shrink", "soft_shrink", "tanh_shrink", "celu"),
    ],
)
def test_each_activation_is_keras_s_function(kind: str) -> None:
    keras = optional.keras()
    np = optional.module("numpy", "pip install -e '.[tensorflow]'")
    from convcalc.export.codegen import tfnn_source
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    batch = np.linspace(-6, 6, 2 * 3 * 3 * 4, dtype="float32").reshape(2, 3, 3, 4)
    expected = keras.layers.Activation(kind)(batch)
    plan = plan_export(analysed({"input": [3, 3, 4], "layers": [{"type": "activation", "kind": kind}]}))
    actual = load_module(tfnn_source(plan), "generated_nn").Network()(batch)
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-6, atol=1e-6)
    keras.backend.clear_session()


def _keras_model(keras: Any) -> Any:
    """A Keras model with every Keras layer of issue 13, built by Keras itself (not by convcalc's export)."""
    from keras.src.applications.convnext import LayerScale

    layers = keras.layers
    inputs = keras.Input((6, 6, 3))
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.Normalization()(x)
    x = layers.Rescaling(scale=[1.0, 2.0, 3.0], offset=[0.5, 0.5, 0.5])(x)
    x = layers.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0])(x)
    x = layers.Conv2D(8, 3, padding="same", activation="hard_silu", trainable=False)(x)
    x = layers.GroupNormalization(groups=4, epsilon=1e-5)(x)
    x = layers.Activation("hard_sigmoid")(x)
    x = layers.LayerNormalization(epsilon=1e-6, center=False)(x)
    x = LayerScale(1e-6, 8)(x)
    for kind in ("elu", "selu", "softplus", "mish", "swish"):
        x = layers.Activation(kind)(x)
    x = layers.BatchNormalization(trainable=False)(x)
    x = layers.GlobalAveragePooling2D()(x)
    head = keras.Sequential([layers.Dense(5), layers.LayerNormalization()], name="head")
    head.trainable = False  # freezes every layer in it, as Keras writes in their configs
    return keras.Model(inputs, head(x))


@pytest.mark.tensorflow
def test_keras_import_reads_every_kind_and_the_frozen_layers() -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config

    model = _keras_model(keras)
    try:
        spec = spec_from_keras_config(json.loads(model.to_json()))
        trainable = sum(int(math_prod(w.shape)) for w in model.trainable_weights)
        facts = analysed(spec)
        assert facts.total_params == model.count_params()
        assert facts.total_trainable_params == trainable
        types = [layer["type"] for layer in spec["layers"]]
        for kind in ("rescaling", "normalization", "group_norm", "layer_norm", "scale", "batchnorm"):
            assert kind in types
        kinds = [layer.get("kind") for layer in spec["layers"] if layer["type"] == "activation"]
        assert kinds == ["hard_swish", "hard_sigmoid", "elu", "selu", "softplus", "mish", "swish"]
        frozen = [layer["type"] for layer in spec["layers"] if layer.get("trainable") is False]
        assert frozen == ["conv", "activation", "batchnorm", "fc", "layer_norm"]
        assert all(layer["name"].startswith("head/") for layer in spec["layers"][-2:])
        scale = next(layer for layer in spec["layers"] if layer["type"] == "scale")
        assert scale["init"] == 1e-6
    finally:
        keras.backend.clear_session()


def math_prod(shape: Any) -> int:
    product = 1
    for size in shape:
        product *= int(size)
    return product


@pytest.mark.tensorflow
@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda layers: layers.LayerNormalization(axis=[1, 2]), "axis"),  # over H and W, not D
        (lambda layers: layers.LayerNormalization(rms_scaling=True), "rms_scaling"),
        (lambda layers: layers.Normalization(invert=True, mean=0.0, variance=1.0), "invert"),
    ],
)
def test_what_a_spec_cannot_say_is_refused_by_name(build: Any, message: str) -> None:
    keras = optional.keras()
    from convcalc.importers.keras import spec_from_keras_config

    inputs = keras.Input((4, 4, 6))
    model = keras.Model(inputs, build(keras.layers)(inputs))
    with pytest.raises(SpecError) as caught:
        spec_from_keras_config(json.loads(model.to_json()))
    assert message in " ".join(p.message for p in caught.value.problems)
    keras.backend.clear_session()
