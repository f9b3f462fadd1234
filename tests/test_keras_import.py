"""Importing Keras models as specs, with TensorFlow as the oracle: every layer's shape and parameter count,
and the totals, must be Keras's own. Bad files and layers convcalc cannot express are refused by name, and
the import never runs anything from the file (nor imports TensorFlow).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import NetworkFacts, Shape, analyze
from convcalc.importers import keras as keras_import
from convcalc.importers.keras import is_keras_file, spec_from_keras_config, spec_from_keras_file
from convcalc.layers.keras import Refusal, Source, Step, Tensor
from convcalc.loading import SpecError, validate
from tests.helpers import EXAMPLES, ROOT, sequential

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Keras' own saving code trips NumPy 2's copy= deprecation on every weight; it is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

# include_top fixes VGG16 at 224×224; the others accept small inputs, which build and save faster. The smallest
# model of each family is here; benchmarks/keras_applications.py runs all of them. Models over 20 M parameters
# are saved as JSON only: their archives would write hundreds of MiB of weights the import never reads.
APPLICATIONS: dict[str, dict[str, Any]] = {
    "VGG16": {},
    "ResNet50": {"input_shape": (64, 64, 3)},
    "MobileNetV2": {"input_shape": (96, 96, 3)},
    "MobileNet": {"input_shape": (32, 32, 3)},  # its top ends in Reshape((1000,)): a flatten
    "DenseNet121": {"input_shape": (64, 64, 3)},
    "InceptionV3": {"input_shape": (75, 75, 3)},
    # Operation nodes (hard sigmoid: ReLU6(x + 3) · 1/6), Rescaling, hard_silu, squeeze-excite Multiply.
    "MobileNetV3Small": {"input_shape": (64, 64, 3)},
    # Rescaling, Normalization (non-trainable), squeeze-excite Reshape((1, 1, C)) and Multiply.
    "EfficientNetB0": {"input_shape": (64, 64, 3)},
    "NASNetMobile": {"input_shape": (64, 64, 3)},  # Cropping2D
    "ConvNeXtTiny": {"input_shape": (32, 32, 3)},  # Dense on volumes, LayerNormalization, LayerScale, x + y nodes
    "InceptionResNetV2": {"input_shape": (75, 75, 3)},  # CustomScaleLayer: x + s·r
}
JSON_ONLY = ("VGG16", "ConvNeXtTiny", "InceptionResNetV2")
# The published totals (the input size does not change them: the tops pool globally, or are VGG16's).
PUBLISHED_TOTALS = {
    "VGG16": 138_357_544,
    "ResNet50": 25_636_712,
    "MobileNetV2": 3_538_984,
    "MobileNet": 4_253_864,
    "DenseNet121": 8_062_504,
    "InceptionV3": 23_851_784,
    "MobileNetV3Small": 2_554_968,
    "EfficientNetB0": 5_330_571,
    "NASNetMobile": 5_326_716,
    "ConvNeXtTiny": 28_589_128,
    "InceptionResNetV2": 55_873_736,
}


@dataclass(frozen=True)
class Saved:
    """A Keras model saved both ways, and what Keras says about it."""

    archive: Path | None
    """The .keras archive, when one was saved."""
    json_file: Path
    model: Any


def save(model: Any, directory: Path, *, archive: bool = True) -> Saved:
    directory.mkdir(parents=True, exist_ok=True)
    json_file = directory / "m.json"
    json_file.write_text(model.to_json(), encoding="utf-8")
    if not archive:
        return Saved(None, json_file, model)
    model.save(directory / "m.keras")
    return Saved(directory / "m.keras", json_file, model)


def volume(shape: tuple[Any, ...]) -> Shape:
    """Keras' (None, H, W, D) → H×W×D, (None, n) → 1×1×n."""
    dims = tuple(shape)[1:]
    return Shape(1, 1, dims[0]) if len(dims) == 1 else Shape(*dims)


def trainable_count(model: Any) -> int:
    return sum(math.prod(weight.shape) for weight in model.trainable_weights)


def imported(path: Path) -> tuple[dict[str, Any], NetworkFacts]:
    spec = spec_from_keras_file(str(path))
    return spec, analyze(validate(str(path), json.loads(json.dumps(spec))))


def assert_layers_match(model: Any, facts: NetworkFacts, prefix: str = "", skipped: tuple[str, ...] = ()) -> None:
    """Each Keras layer's output shape and parameter count are those of the spec layer carrying its name."""
    by_name = {layer.name: layer for layer in facts.layers}
    for layer in model.layers:
        name = prefix + layer.name
        if type(layer).__name__ == "InputLayer":
            if not prefix:
                assert facts.input_shape == volume(layer.output.shape)
            continue
        if hasattr(layer, "layers"):  # a nested model: its layers are inlined under "<model>/"
            assert_layers_match(layer, facts, f"{name}/", skipped)
            continue
        if layer.name in skipped:
            assert name not in by_name
            continue
        ours = by_name[name]
        assert ours.output_shape == volume(layer.output.shape), (name, ours.output_shape, layer.output.shape)
        assert ours.params == layer.count_params(), (name, ours.params, layer.count_params())


def linear_activations(model: Any) -> tuple[str, ...]:
    """The Activation("linear") layers of a model and those nested in it, which leave no spec layer."""
    found: list[str] = []
    for layer in model.layers:
        if hasattr(layer, "layers"):
            found += linear_activations(layer)
        elif type(layer).__name__ == "Activation" and layer.get_config()["activation"] == "linear":
            found.append(layer.name)
    return tuple(found)


def assert_matches_keras(saved: Saved, skipped: tuple[str, ...] = ()) -> dict[str, Any]:
    spec, facts = imported(saved.archive or saved.json_file)
    assert spec_from_keras_file(str(saved.json_file)) == spec
    assert facts.total_params == saved.model.count_params()
    assert facts.total_trainable_params == trainable_count(saved.model)
    assert_layers_match(saved.model, facts, skipped=skipped)
    return spec


# ---------------------------------------------------------------- keras.applications


@pytest.fixture(scope="module", params=list(APPLICATIONS))
def application(
    request: pytest.FixtureRequest, keras: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Saved]:
    name = request.param
    model = getattr(keras.applications, name)(weights=None, **APPLICATIONS[name])
    assert model.count_params() == PUBLISHED_TOTALS[name]
    yield save(model, tmp_path_factory.mktemp(name), archive=name not in JSON_ONLY)
    keras.backend.clear_session()


@pytest.mark.slow
def test_application_matches_keras(application: Saved) -> None:
    spec = assert_matches_keras(application, skipped=linear_activations(application.model))
    assert spec["name"] == application.model.name
    assert is_keras_file(str(application.json_file))
    assert application.archive is None or is_keras_file(str(application.archive))


# ---------------------------------------------------------------- every supported kind, in small models


def every_kind(keras: Any) -> Any:
    """A Sequential model using every layer kind and option the import maps."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((20, 18, 3)),
            layers.ZeroPadding2D(((1, 2), (0, 3))),
            layers.Conv2D(8, (3, 5), strides=(2, 1), padding="same", activation="relu", name="first"),
            layers.Conv2D(8, 3, dilation_rate=2, groups=4, use_bias=False, activation="swish"),
            layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu6"),
            layers.SeparableConv2D(12, 3, depth_multiplier=2, activation="gelu"),
            layers.BatchNormalization(center=False),
            layers.BatchNormalization(scale=False),
            layers.GroupNormalization(groups=-1),  # instance normalisation: one group per channel
            layers.ReLU(max_value=6.0),
            layers.ReLU(negative_slope=0.1),
            layers.LeakyReLU(0.2),
            layers.PReLU(shared_axes=[1, 2]),  # one slope per channel: 12
            layers.PReLU(shared_axes=[1, 2, 3]),  # one: 1
            layers.AveragePooling2D(3, strides=2, padding="same"),
            layers.Conv2DTranspose(6, 2, strides=3),  # kernel < stride: Keras' default output_padding matters
            layers.Conv2DTranspose(6, 4, strides=2, padding="same", output_padding=1, activation="tanh"),
            layers.Conv2DTranspose(4, 3, strides=2, padding="same"),
            layers.SpatialDropout2D(0.2),
            layers.MaxPooling2D((2, 3), strides=(2, 2)),
            layers.PReLU(),  # one slope per value of H×W×D
            layers.Activation("linear", name="identity"),
            layers.Activation("sigmoid"),
            layers.GlobalMaxPooling2D(keepdims=True),
            layers.Dense(7, activation="leaky_relu"),  # on a 1×1×D volume: exact
            layers.Reshape((1, 1, -1)),
            layers.Flatten(),
            layers.PReLU(shared_axes=[]),  # on a vector, none shared: one slope per value, per channel of 1×1×n
            layers.Dropout(0.5),
            layers.Dense(5, activation="softmax"),
            layers.Softmax(),
            layers.Activation("log_softmax"),
        ],
        name="every_kind",
    )


def graphs(keras: Any) -> Any:
    """A functional model with branches, merges, flat tensors and nested Sequential and Functional models."""
    layers = keras.layers
    inner_input = keras.Input((16, 16, 8))
    residual = layers.Conv2D(8, 3, padding="same", name="conv")(inner_input)
    residual = layers.BatchNormalization(name="bn")(residual)
    block = keras.Model(inner_input, layers.Add(name="add")([inner_input, residual]), name="block")
    stem = keras.Sequential(
        [keras.Input((32, 32, 3)), layers.Conv2D(8, 3, strides=2, padding="same", name="conv")], name="stem"
    )

    image = keras.Input((32, 32, 3), name="image")
    x = stem(image)
    x = block(x)
    left = layers.Conv2D(4, 1, name="left")(x)
    right = layers.MaxPooling2D(3, strides=1, padding="same", name="right_pool")(x)
    right = layers.Conv2D(6, 1, activation="relu", name="right")(right)
    x = layers.Concatenate(name="mixed")([left, right, x])
    x = layers.Activation("relu", name="relu")(x)
    pooled = layers.GlobalAveragePooling2D(name="gap")(x)
    flat = layers.Flatten(name="flat")(layers.AveragePooling2D(4, name="pool")(x))
    x = layers.Concatenate(axis=-1, name="features")([pooled, flat])
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Dense(10, name="logits")(x)
    return keras.Model(image, x, name="graphs")


def vectors(keras: Any) -> Any:
    """A model on flat vectors: its input becomes 1×1×n."""
    layers = keras.layers
    return keras.Sequential([keras.Input((20,)), layers.Dense(16, activation="tanh"), layers.Dense(3)], name="mlp")


@pytest.fixture(scope="module")
def zoo(keras: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Saved]]:
    directory = tmp_path_factory.mktemp("zoo")
    yield {build.__name__: save(build(keras), directory / build.__name__) for build in (every_kind, graphs, vectors)}
    keras.backend.clear_session()


def test_every_supported_kind_matches_keras(zoo: dict[str, Saved]) -> None:
    spec = assert_matches_keras(zoo["every_kind"], skipped=("identity",))
    names = [layer["name"] for layer in spec["layers"]]
    # A fused activation follows its layer under "<name>/<kind>"; the linear Activation leaves no layer.
    assert names[1:3] == ["first", "first/relu"]
    assert "identity" not in names
    assert not any("inputs" in layer for layer in spec["layers"])  # a Sequential model reads in order
    # groups=-1 (instance normalisation) is one group per channel of the 12 it reads.
    assert [layer["groups"] for layer in spec["layers"] if layer["type"] == "group_norm"] == [12]
    slopes = [layer["slopes"] for layer in spec["layers"] if layer["type"] == "prelu"]
    assert slopes == ["channel", "one", "position", "channel"]


def test_graphs_and_nested_models_match_keras(zoo: dict[str, Saved]) -> None:
    spec = assert_matches_keras(zoo["graphs"])
    by_name = {layer["name"]: layer for layer in spec["layers"]}
    assert "stem/conv" in by_name and "block/conv" in by_name  # the same inner name, kept apart
    assert by_name["block/add"]["inputs"] == ["stem/conv", "block/bn"]
    assert by_name["mixed"]["inputs"] == ["left", "right/relu", "block/add"]
    assert by_name["features"]["inputs"] == ["gap", "flat"]


def test_training_only_layers_import_as_what_inference_computes(keras: Any, tmp_path: Path) -> None:
    # Keras's image-classification tutorial puts augmentation inside the model; outside training every one of
    # these returns its input (checked here too), so the spec is the network without them.
    from convcalc.layers.elementwise import TRAINING_ONLY

    settings = {"RandomRotation": (0.1,), "RandomZoom": (0.1,), "RandomTranslation": (0.1, 0.1)}
    settings |= {"RandomContrast": (0.2,), "RandomBrightness": (0.2,), "RandomHue": (0.2,), "GaussianNoise": (0.1,)}
    settings |= {"RandomSaturation": (0.2,), "RandomSharpness": (0.2,), "RandomShear": (0.2,)}
    settings |= {"RandomColorDegeneration": (0.2,), "RandomPosterization": (4,)}
    augment = [getattr(keras.layers, name)(*settings.get(name, ())) for name in TRAINING_ONLY]
    x = keras.random.uniform((2, 16, 16, 3))
    for layer in augment:
        assert keras.ops.all(layer(x, training=False) == x), type(layer).__name__
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            *augment,
            keras.layers.Conv2D(4, 3, padding="same", name="conv"),
            keras.layers.GaussianDropout(0.3, name="gd"),
            keras.layers.AlphaDropout(0.2, name="ad"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(5, name="logits"),
        ]
    )
    spec = assert_matches_keras(save(model, tmp_path), skipped=tuple(layer.name for layer in augment))
    assert [(layer["type"], layer.get("rate")) for layer in spec["layers"]] == [
        ("conv", None), ("dropout", 0.3), ("dropout", 0.2), ("global_pool", None), ("fc", None),
    ]  # fmt: skip


def test_a_center_crop_is_the_crop_keras_computes(keras: Any, tmp_path: Path) -> None:
    # Rows (H − h)//2 off the top, the rest off the bottom: 11 → 8 cuts 1 and 2; checked against Keras's output.
    crop = keras.layers.CenterCrop(8, 6, name="center")
    model = keras.Sequential([keras.Input((11, 10, 3)), crop, keras.layers.Conv2D(4, 3, name="conv")])
    spec = assert_matches_keras(save(model, tmp_path))
    assert spec["layers"][0] == {"type": "cropping", "crop": [[1, 2], [2, 2]], "name": "center"}
    x = keras.random.uniform((1, 11, 10, 3))
    assert keras.ops.all(crop(x) == x[:, 1:9, 2:8, :])
    smaller = keras.Sequential([keras.Input((6, 10, 3)), keras.layers.CenterCrop(8, 6, name="grow")])
    message = refused(saved_model(keras, tmp_path, lambda _: smaller))
    assert "layer 'grow' (CenterCrop): height 8 of an input of height 6: Keras resizes a smaller input" in message


def test_an_elu_layer_is_the_elu_of_alpha_1(keras: Any, tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Conv2D(3, 3), keras.layers.ELU(name="elu")])
    assert assert_matches_keras(save(model, tmp_path))["layers"][-1] == {
        "type": "activation",
        "kind": "elu",
        "name": "elu",
    }
    other = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.ELU(alpha=0.5, name="half")])
    message = refused(saved_model(keras, tmp_path, lambda _: other))
    assert "layer 'half' (ELU): alpha 0.5: convcalc's elu has α = 1" in message


def test_flat_inputs_become_1x1xn(zoo: dict[str, Saved]) -> None:
    spec = assert_matches_keras(zoo["vectors"])
    assert spec["input"] == [1, 1, 20]


def test_a_dense_on_a_volume_is_a_1x1_conv(keras: Any, tmp_path: Path) -> None:
    # Keras applies it at each of the 4×4 positions, along the depth (ConvNeXt's pointwise layers).
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Dense(5, activation="relu", name="pointwise")])
    spec = assert_matches_keras(save(model, tmp_path, archive=False))
    assert spec["layers"][:2] == [
        {"type": "conv", "filters": 5, "kernel": 1, "name": "pointwise"},
        {"type": "relu", "name": "pointwise/relu"},
    ]


def test_to_json_of_a_sequential_without_input_layer(keras: Any, tmp_path: Path) -> None:
    model = keras.Sequential([keras.layers.Dense(4)])
    model.build((None, 6))
    path = tmp_path / "m.json"
    path.write_text(model.to_json(), encoding="utf-8")
    _, facts = imported(path)
    assert facts.total_params == model.count_params() == 28


def frozen_model(keras: Any, how: str) -> Any:
    """A model of two convs (224 and 292 weights) frozen one of the ways Keras allows."""
    inputs = keras.Input((12, 12, 3))
    if how == "sequential constructor":
        return keras.Sequential([inputs, keras.layers.Conv2D(8, 3), keras.layers.Conv2D(4, 3)], trainable=False)
    first = keras.layers.Conv2D(8, 3)(inputs)
    if not how.startswith("nested"):
        model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(first), trainable=how != "model constructor")
        if how == "setter, then the last layer unfrozen":
            model.trainable = False
            model.layers[-1].trainable = True
        return model
    inner = keras.Model(inputs, first, trainable=how != "nested, frozen in its constructor")
    if how == "nested, frozen by the setter":
        inner.trainable = False
    outer_inputs = keras.Input((12, 12, 3))
    second = keras.layers.Conv2D(4, 3)(inner(outer_inputs))
    return keras.Model(outer_inputs, second, trainable=how != "nested, in a frozen outer model")


@pytest.mark.parametrize(
    ("how", "trained"),
    [
        ("model constructor", 0),
        ("sequential constructor", 0),
        ("setter, then the last layer unfrozen", 0),  # the model itself is frozen: its flag wins
        ("nested, frozen in its constructor", 224 + 292),  # the outer model collects the inner one's weights
        ("nested, frozen by the setter", 292),  # the setter writes False into the inner model's layers
        ("nested, in a frozen outer model", 0),
    ],
)
def test_a_frozen_model_trains_what_keras_trains(keras: Any, tmp_path: Path, how: str, trained: int) -> None:
    # Keras trains a weight when its layer's flag and the outermost model's both say so; convcalc used to read
    # the layers' flags alone.
    model = frozen_model(keras, how)
    assert trainable_count(model) == trained
    assert_matches_keras(save(model, tmp_path))


# ---------------------------------------------------------------- refusals of models convcalc cannot express


def refused(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        spec_from_keras_file(str(path))
    assert info.value.problems
    return str(info.value)


def saved_model(keras: Any, tmp_path: Path, build: Callable[[Any], Any]) -> Path:
    model = build(keras)
    path = tmp_path / "m.keras"
    model.save(path)
    return path


def channels_first(keras: Any) -> Any:
    return keras.Sequential([keras.Input((3, 8, 8)), keras.layers.Conv2D(4, 3, data_format="channels_first")])


def two_inputs(keras: Any) -> Any:
    a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    return keras.Model([a, b], keras.layers.Add()([a, b]))


def two_outputs(keras: Any) -> Any:
    a = keras.Input((8, 8, 3))
    return keras.Model(a, [keras.layers.Conv2D(2, 1)(a), keras.layers.Conv2D(3, 1)(a)])


def unknown_size(keras: Any) -> Any:
    return keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3)])


def shared_layer(keras: Any) -> Any:
    a = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(3, 1, name="shared")
    return keras.Model(a, conv(conv(a)))


def one_dimensional(keras: Any) -> Any:
    return keras.Sequential([keras.Input((16, 3)), keras.layers.Conv1D(4, 3)])


def exponential_conv(keras: Any) -> Any:
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="exponential", name="c")])


def thresholded_relu(keras: Any) -> Any:
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.ReLU(threshold=0.5)])


def prelu(keras: Any) -> Any:
    # One slope per position, shared by the channels: no form of convcalc's prelu.
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.PReLU(shared_axes=[3], name="learned_slope")])


def reshape(keras: Any) -> Any:
    return keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Reshape((6, 8))])  # a sequence: no image


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (channels_first, "data_format 'channels_first'"),
        (two_inputs, "has 2 inputs"),
        (two_outputs, "has 2 outputs"),
        (unknown_size, "is not fixed"),
        (shared_layer, "'shared' (Conv2D): is called 2 times"),
        (one_dimensional, "convcalc imports images (batch, H, W, D) or flat vectors (batch, n)"),
        (exponential_conv, "layer 'c' (Conv2D): activation \"exponential\" is not one convcalc models"),
        (thresholded_relu, "threshold=0.5"),
        (prelu, "layer 'learned_slope' (PReLU): shared_axes [3] on a rank-4 tensor: convcalc's prelu has one"),
        (reshape, "target_shape [6, 8]: convcalc imports reshapes that flatten, to (n,) or (1, 1, n), and reshapes to"),
    ],
)
def test_models_convcalc_cannot_express_are_refused(
    keras: Any, tmp_path: Path, build: Callable[[Any], Any], expected: str
) -> None:
    assert expected in refused(saved_model(keras, tmp_path, build))


def test_unsupported_layers_are_named_with_what_is_supported(keras: Any, tmp_path: Path) -> None:
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.AutoContrast(name="contrast"),
            layers.Conv2D(4, 3),
            layers.RandomCrop(2, 2),
        ]
    )
    message = refused(saved_model(keras, tmp_path, lambda _: model))
    assert "layer 'contrast' (AutoContrast): convcalc cannot import AutoContrast layers" in message
    assert "(RandomCrop)" in message  # every unsupported layer is named, not just the first
    assert "at inference the layer returns its input uncropped" in message  # and why, where convcalc knows
    assert "convcalc imports these Keras layers: Activation, ActivityRegularization, AdaptiveAvera" in message


def test_random_crop_is_refused_because_keras_does_not_crop_at_inference(keras: Any) -> None:
    # The reason the refusal gives, checked on this Keras: a model built for the crop, run on the whole input.
    import numpy as np

    inputs = keras.Input((8, 6, 3))
    cropped = keras.layers.RandomCrop(4, 5)(inputs)
    assert tuple(cropped.shape) == (None, 4, 5, 3)
    model = keras.Model(inputs, cropped)
    batch = np.zeros((1, 8, 6, 3), dtype="float32")
    assert tuple(model(batch, training=False).shape) == (1, 8, 6, 3)
    assert tuple(model(batch, training=True).shape) == (1, 4, 5, 3)


def test_a_lambda_is_refused_without_running_it(keras: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    def touch(x: Any) -> Any:
        marker.write_text("the file's code ran")
        return x

    path = saved_model(keras, tmp_path, lambda k: k.Sequential([k.Input((4, 4, 1)), k.layers.Lambda(touch, name="fn")]))
    marker.unlink()  # Keras itself ran it while building the model
    assert "layer 'fn' (Lambda): Lambda layers are Python code" in refused(path)
    assert not marker.exists()


def test_the_import_does_not_import_tensorflow(zoo: dict[str, Saved]) -> None:
    code = (
        "import sys\n"
        "from convcalc.importers.keras import spec_from_keras_file\n"
        f"spec_from_keras_file({str(zoo['graphs'].archive)!r})\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- configs as data (no Keras needed)

CONV: dict[str, Any] = {
    "class_name": "Conv2D",
    "config": {"name": "c", "filters": 4, "kernel_size": [3, 3], "activation": "relu"},
}


@pytest.mark.parametrize("value", ["", 1.5, [1], None, 0])
def test_the_models_own_trainable_flag_must_be_a_boolean(value: Any) -> None:
    config = sequential([{"class_name": "ReLU", "config": {"name": "r"}}])
    config["config"]["trainable"] = value
    with pytest.raises(SpecError) as caught:
        spec_from_keras_config(config, "m.json")
    (problem,) = caught.value.problems
    assert problem.path == ("config", "trainable")
    assert problem.message == f"must be true or false (got {json.dumps(value)})"


def test_a_model_that_is_not_trainable_freezes_every_layer() -> None:
    config = sequential([CONV, {"class_name": "Dense", "config": {"name": "d", "units": 3}}])
    layers = spec_from_keras_config(config)["layers"]
    assert len(layers) > 2 and all(layer.get("trainable", True) for layer in layers)
    config["config"]["trainable"] = False
    spec = spec_from_keras_config(config)
    assert [layer.get("trainable") for layer in spec["layers"]] == [False] * len(layers)
    assert analyze(validate("<test>", spec)).total_trainable_params == 0


def tensor(layer: str, shape: list[Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"keras_history": [layer, 0, 0]}
    if shape is not None:
        config["shape"] = shape
    return {"class_name": "__keras_tensor__", "config": config}


def functional(*layers: dict[str, Any], output: str = "c") -> dict[str, Any]:
    inputs = {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 8, 8, 3]}, "inbound_nodes": []}
    return {
        "class_name": "Functional",
        "config": {
            "name": "f",
            "layers": [inputs, *layers],
            "input_layers": ["x", 0, 0],
            "output_layers": [output, 0, 0],
        },
    }


def operation(name: str, class_name: str, *args: Any, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Keras 3 operation node (``x + 3.0`` …) as model.to_json() writes it."""
    return {
        "module": "keras.src.ops.numpy",
        "class_name": class_name,
        "config": {"name": name},
        "registered_name": class_name,
        "name": name,
        "inbound_nodes": [{"args": list(args), "kwargs": kwargs or {}}],
    }


def read(raw: dict[str, Any], *ranks: int) -> Any:
    """What the import makes of one layer or operation reading tensors of these ranks (named a, b …)."""
    layer = keras_import._keras_layer(raw, ("config", "layers", 1))
    sources = [Tensor(chr(ord("a") + i), rank) for i, rank in enumerate(ranks)]
    return keras_import._Importer()._map(layer, sources)


@pytest.mark.parametrize(
    ("class_name", "args", "scale", "offset"),
    [
        ("Add", [tensor("x"), 3.0], 1.0, 3.0),  # MobileNetV3's hard sigmoid: ReLU6(x + 3) · (1/6)
        ("Add", [3, tensor("x")], 1.0, 3.0),
        ("Multiply", [tensor("x"), 1 / 6], 1 / 6, 0.0),
        ("Multiply", [2.0, tensor("x")], 2.0, 0.0),
        ("Subtract", [tensor("x"), 1.0], 1.0, -1.0),
        ("Subtract", [1.0, tensor("x")], -1.0, 1.0),
        ("TrueDivide", [tensor("x"), 4.0], 0.25, 0.0),
        ("Divide", [tensor("x"), 2], 0.5, 0.0),
        ("Negative", [tensor("x")], -1.0, 0.0),
    ],
)
def test_an_operation_with_a_number_is_a_rescaling(
    class_name: str, args: list[Any], scale: float, offset: float
) -> None:
    mapped = read(operation("op", class_name, *args), 4)
    assert mapped.layers == [{"type": "rescaling", "scale": scale, "offset": offset}]
    assert mapped.rank == 4 and mapped.reads is None


def test_an_operation_on_two_tensors_is_the_merge_layer() -> None:
    # ConvNeXt's residual, `inputs + x`, is an Add operation node, not an Add layer.
    mapped = read(operation("add", "Add", tensor("a"), tensor("b")), 4, 4)
    assert mapped.layers == [{"type": "add"}]
    conv = {**CONV, "config": {**CONV["config"], "padding": "same", "activation": "linear"}}
    residual = operation("add", "Add", tensor("x", [None, 8, 8, 3]), tensor("c", [None, 8, 8, 3]))
    with pytest.raises(
        SpecError, match="'add' \\(Add\\): Keras records its input as 8×8×3 but the imported spec computes 8×8×4"
    ):
        # The recorded shapes are checked against each input, however the operation reads them.
        spec_from_keras_config(functional({**conv, "inbound_nodes": [{"args": [tensor("x")]}]}, residual, output="add"))
    conv = {**conv, "config": {**conv["config"], "filters": 3}}
    spec = spec_from_keras_config(
        functional({**conv, "inbound_nodes": [{"args": [tensor("x")]}]}, residual, output="add")
    )
    assert spec["layers"][-1] == {"type": "add", "name": "add", "inputs": ["input", "c"]}


@pytest.mark.parametrize(
    ("raw", "ranks", "expected"),
    [
        (operation("d", "TrueDivide", 1.0, tensor("x")), (4,), "1.0 / x is not an affine map of x"),
        (operation("d", "TrueDivide", tensor("x"), 0.0), (4,), "divides by zero"),
        (operation("s", "Subtract", tensor("a"), tensor("b")), (4, 4), "the Keras operation Subtract on"),
        (operation("m", "Mean", tensor("x")), (4,), "the Keras operation Mean on"),
        (operation("a", "Add", tensor("x"), [1.0, 2.0]), (4,), "an operand [1.0, 2.0] that is neither"),
        (operation("a", "Add", tensor("x"), 1.0, kwargs={"dtype": "float16"}), (4,), "keyword arguments"),
    ],
)
def test_operations_convcalc_cannot_model_are_refused(
    raw: dict[str, Any], ranks: tuple[int, ...], expected: str
) -> None:
    with pytest.raises(Refusal) as info:
        read(raw, *ranks)
    assert expected in info.value.message and f"layer {raw['name']!r} ({raw['class_name']})" in info.value.message


def custom_scale(scale: Any, module: str = "keras.src.applications.inception_resnet_v2") -> dict[str, Any]:
    return {
        "module": module,
        "class_name": "CustomScaleLayer",
        "config": {"name": "block35_1", "trainable": True, "scale": scale},
        "registered_name": "CustomScaleLayer",
        "inbound_nodes": [{"args": [[tensor("x"), tensor("r")]], "kwargs": {}}],
    }


def test_inception_resnet_scaled_residual_is_a_rescaling_then_an_add() -> None:
    mapped = read(custom_scale(0.17), 4, 4)
    assert mapped.layers == [{"type": "rescaling", "scale": 0.17, "offset": 0.0}, {"type": "add"}]
    # The rescaling reads the residual r (the second input); the add reads x and the rescaled r.
    assert mapped.reads == [[Source(1)], [Source(0), Step(0)]]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (custom_scale("0.17"), 'scale must be a number (got "0.17")'),
        (custom_scale(0.17, "keras.src.my_models"), 'a CustomScaleLayer from "keras.src.my_models"'),
    ],
)
def test_scaled_residuals_convcalc_cannot_model_are_refused(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(Refusal, match=re.escape(expected)):
        read(raw, 4, 4)


def same_conv(name: str, source: str, filters: int = 3) -> dict[str, Any]:
    config = {"name": name, "filters": filters, "kernel_size": [3, 3], "padding": "same"}
    return {"class_name": "Conv2D", "config": config, "inbound_nodes": [{"args": [tensor(source)]}]}


def test_a_hard_sigmoid_of_operations_imports_as_its_parts() -> None:
    # MobileNetV3: ReLU(6.0)(x + 3.0) * (1.0 / 6.0), as Keras 3 writes it.
    relu6 = {
        "class_name": "ReLU",
        "config": {"name": "r6", "max_value": 6.0},
        "inbound_nodes": [{"args": [tensor("add")]}],
    }
    nodes = [operation("add", "Add", tensor("c"), 3.0), relu6, operation("multiply", "Multiply", tensor("r6"), 1 / 6)]
    spec = spec_from_keras_config(functional(same_conv("c", "x"), *nodes, output="multiply"))
    assert spec["layers"][1:] == [
        {"type": "rescaling", "scale": 1.0, "offset": 3.0, "name": "add"},
        {"type": "activation", "kind": "relu6", "name": "r6"},
        {"type": "rescaling", "scale": 1 / 6, "offset": 0.0, "name": "multiply"},
    ]
    facts = analyze(validate("<hard sigmoid>", spec))
    assert facts.output_shape == Shape(8, 8, 3) and facts.total_params == 3 * 3 * 3 * 3 + 3


def test_a_scaled_residual_imports_as_a_rescaling_and_an_add() -> None:
    scaled = {**custom_scale(0.17), "inbound_nodes": [{"args": [[tensor("x"), tensor("c", [None, 8, 8, 3])]]}]}
    spec = spec_from_keras_config(functional(same_conv("c", "x"), scaled, output="block35_1"))
    assert spec["layers"][1:] == [
        {"type": "rescaling", "scale": 0.17, "offset": 0.0, "name": "block35_1"},
        {"type": "add", "name": "block35_1/add", "inputs": ["input", "block35_1"]},
    ]
    facts = analyze(validate("<scaled residual>", spec))
    assert facts.output_shape == Shape(8, 8, 3) and facts.total_params == 3 * 3 * 3 * 3 + 3


def test_a_keras2_config_imports() -> None:
    # tf.keras 2 wrote inbound nodes as nested lists and the input shape as batch_input_shape.
    legacy = {
        "class_name": "Model",
        "config": {
            "name": "legacy",
            "layers": [
                {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 8, 8, 3]}},
                {**CONV, "inbound_nodes": [[["in", 0, 0, {}]]]},
                {"class_name": "Flatten", "config": {"name": "f"}, "inbound_nodes": [[["c", 0, 0, {}]]]},
                {"class_name": "Dense", "config": {"name": "d", "units": 2}, "inbound_nodes": [[["f", 0, 0, {}]]]},
            ],
            "input_layers": [["in", 0, 0]],
            "output_layers": [["d", 0, 0]],
        },
    }
    spec = spec_from_keras_config(legacy)
    assert [layer["name"] for layer in spec["layers"]] == ["c", "c/relu", "f", "d"]
    assert analyze(validate("<legacy>", spec)).total_params == (27 * 4 + 4) + (6 * 6 * 4 * 2 + 2)


def test_layers_out_of_order_are_sorted() -> None:
    flat = {"class_name": "Flatten", "config": {"name": "flat"}, "inbound_nodes": [{"args": [tensor("c")]}]}
    conv = {**CONV, "inbound_nodes": [{"args": [tensor("x")], "kwargs": {}}]}
    spec = spec_from_keras_config(functional(flat, conv, output="flat"))
    assert [layer["name"] for layer in spec["layers"]] == ["c", "c/relu", "flat"]


def test_recorded_shapes_that_disagree_are_refused() -> None:
    # A config edited by hand: Keras says the Flatten reads 6×6×4, but a 5×5 kernel gives 4×4×4.
    conv = {**CONV, "config": {**CONV["config"], "kernel_size": [5, 5]}, "inbound_nodes": [{"args": [tensor("x")]}]}
    flat = {
        "class_name": "Flatten",
        "config": {"name": "flat"},
        "inbound_nodes": [{"args": [tensor("c", [None, 6, 6, 4])]}],
    }
    with pytest.raises(SpecError, match=r"Keras records its input as 6×6×4 but the imported spec computes 4×4×4"):
        spec_from_keras_config(functional(conv, flat, output="flat"))


def test_values_the_spec_refuses_are_placed_on_the_keras_layer() -> None:
    conv = {**CONV, "config": {**CONV["config"], "filters": 0}, "inbound_nodes": [{"args": [tensor("x")]}]}
    with pytest.raises(SpecError, match=r"layer 'c' \(Conv2D\): cannot be expressed in a spec: filters: must be ≥ 1"):
        spec_from_keras_config(functional(conv))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([1, 2], "expected an object with 'class_name' and 'config' (got an array)"),
        ({"class_name": "MyModel", "config": {}}, "model of class 'MyModel' is not a Keras Functional or Sequential"),
        ({"class_name": "Functional", "config": {"name": "sub"}}, "has no list of layers"),
        (
            {
                "class_name": "Sequential",
                "config": {"layers": [{"class_name": "Dense", "config": {"name": "d", "units": 2}}]},
            },
            "no fixed input shape",
        ),
        (functional(output="x"), "the model has no layers convcalc can count"),
        (
            functional(
                {**CONV, "inbound_nodes": [{"args": [tensor("x")]}]},
                {"class_name": "Flatten", "config": {"name": "stray"}, "inbound_nodes": [{"args": [tensor("x")]}]},
            ),
            "layer 'stray' (Flatten): does not lead to the model's output 'c'",
        ),
        (
            functional({**CONV, "inbound_nodes": [{"args": [tensor("nowhere")]}]}),
            "reads 'nowhere', which is not a layer",
        ),
        (
            functional({**CONV, "module": "my_package.layers", "inbound_nodes": [{"args": [tensor("x")]}]}),
            "a custom layer class (module 'my_package.layers')",
        ),
    ],
)
def test_configs_that_are_not_importable_models(data: Any, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        spec_from_keras_config(data, "m.json")
    assert expected in str(info.value)


# ---------------------------------------------------------------- files


def write_archive(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


VALID_CONFIG = json.dumps(functional({**CONV, "inbound_nodes": [{"args": [tensor("x")]}]})).encode()


def test_an_archive_written_by_hand_imports(tmp_path: Path) -> None:
    path = write_archive(tmp_path / "m.keras", {"config.json": VALID_CONFIG, "metadata.json": b"{}"})
    assert spec_from_keras_file(str(path))["layers"][0] == {
        "type": "conv",
        "filters": 4,
        "kernel": 3,
        "padding": "valid",
        "name": "c",
    }


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("m.keras", b"PK\x03\x04 this is not really a zip", "is not a readable .keras (zip) archive"),
        ("m.keras", b"{}", "is not a readable .keras (zip) archive"),
        ("m.h5", b"\x89HDF\r\n\x1a\n" + bytes(64), "legacy HDF5 (.h5) Keras file"),
        ("m.json", b'{"class_name": "Functional", "config": ', "malformed JSON"),
        ("m.json", b"[]", "(got an array)"),
    ],
)
def test_broken_files_are_refused(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert expected in refused(path)


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ({"metadata.json": b"{}", "model.weights.h5": b""}, "the archive has no config.json"),
        ({"config.json": b"[1, 2]"}, "(got an array)"),
        ({"config.json": b"{not json"}, "malformed JSON in config.json line 1 column 2"),
        ({"config.json": b"\xff\xfe"}, "config.json is not UTF-8 text"),
    ],
)
def test_broken_archives_are_refused(tmp_path: Path, members: dict[str, bytes], expected: str) -> None:
    assert expected in refused(write_archive(tmp_path / "m.keras", members))


def test_a_zip_bomb_is_refused_before_inflating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keras_import, "MAX_CONFIG_BYTES", 1000)
    path = write_archive(tmp_path / "m.keras", {"config.json": b" " * 5000 + VALID_CONFIG})
    assert "config.json would inflate to" in refused(path)


def test_missing_files_and_directories_are_refused(tmp_path: Path) -> None:
    assert "no such file" in refused(tmp_path / "absent.keras")
    assert "is a directory" in refused(tmp_path)


def test_is_keras_file_tells_models_from_specs(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "model.zip", {"config.json": VALID_CONFIG})
    to_json = tmp_path / "model.json"
    to_json.write_bytes(VALID_CONFIG)
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b'{"class_name": ')
    assert is_keras_file(str(archive)) and is_keras_file(str(to_json))
    assert is_keras_file(str(tmp_path / "empty.keras")) is False  # missing
    assert not any(is_keras_file(str(spec)) for spec in EXAMPLES.glob("*.json"))
    assert not is_keras_file(str(garbage)) and not is_keras_file(str(tmp_path))


# ---------------------------------------------------------------- convcalc's analysis against Keras


def test_conv_transpose_kernel_smaller_than_stride(keras: Any) -> None:
    model = keras.Sequential([keras.Input((5, 5, 2)), keras.layers.Conv2DTranspose(4, 2, strides=3)])
    spec = {"input": [5, 5, 2], "layers": [{"type": "conv_transpose", "filters": 4, "kernel": 2, "stride": 3}]}
    assert analyze(validate("<spec>", spec)).output_shape == volume(model.output_shape)  # 14×14×4 vs 15×15×4


def _reshaped(*more: dict[str, Any]) -> dict[str, Any]:
    """A conv, then a Reshape to five axes (the first step of a depth_to_space export), then ``more``."""
    reshape = {
        "class_name": "Reshape",
        "config": {"name": "blocks", "target_shape": [8, 8, 2, 2, 1]},
        "inbound_nodes": [{"args": [tensor("c")]}],
    }
    return functional(
        same_conv("c", "x", filters=4), reshape, *more, output=(more[-1] if more else reshape)["config"]["name"]
    )


def test_an_output_in_the_middle_of_a_pattern_is_refused() -> None:
    with pytest.raises(SpecError, match="the model's output is a step of a rearrangement"):
        spec_from_keras_config(_reshaped())


def test_permute_dims_that_are_not_integers_are_refused_by_name() -> None:
    permute = {
        "class_name": "Permute",
        "config": {"name": "swap", "dims": [1.0, 3.0, 2.0, 4.0, 5.0]},
        "inbound_nodes": [{"args": [tensor("blocks")]}],
    }
    with pytest.raises(SpecError, match=re.escape("layer 'swap' (Permute): dims [1.0, 3.0")):
        spec_from_keras_config(_reshaped(permute))


def test_a_reader_that_meets_a_config_it_did_not_foresee_refuses_the_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    from convcalc.layers import REGISTRY

    def confused(layer: Any, sources: Any) -> Any:
        return {}["missing"]  # a KeyError, as a reader reading a config it did not foresee would raise

    monkeypatch.setitem(REGISTRY.keras_readers, "Conv2D", confused)
    with pytest.raises(SpecError, match="layer 'c' \\(Conv2D\\): convcalc cannot read this layer \\(KeyError"):
        spec_from_keras_config(functional(same_conv("c", "x")))
