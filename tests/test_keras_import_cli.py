"""`convcalc import` and `convcalc check model.keras` from the command line (TensorFlow builds the models)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc.cli import app

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
runner = CliRunner()


def keras_round_trip(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``spec`` exported by ``convcalc export --to keras`` and read back by ``convcalc import``, as a spec."""
    source, model, back = folder / "spec.json", folder / "model.keras", folder / "back.json"
    source.write_text(json.dumps(spec), encoding="utf-8")
    exported = runner.invoke(app, ["export", str(source), "--to", "keras", "-o", str(model)])
    assert exported.exit_code == 0, exported.output
    imported = runner.invoke(app, ["import", str(model), "-o", str(back)])
    assert imported.exit_code == 0, imported.output
    loaded: dict[str, Any] = json.loads(back.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def model_files(keras: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    branch = keras.layers.Conv2D(8, 1, name="branch")(x)
    x = keras.layers.Add(name="sum")([x, branch])
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    model = keras.Model(inputs, outputs)
    folder = tmp_path_factory.mktemp("models")
    model.save(folder / "net.keras")
    (folder / "net.json").write_text(model.to_json())
    return {"keras": str(folder / "net.keras"), "json": str(folder / "net.json"), "params": model.count_params()}


def test_import_writes_a_spec_that_checks_with_the_same_total(model_files: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "spec.json"
    result = runner.invoke(app, ["import", model_files["keras"], "-o", str(out)])
    assert result.exit_code == 0, result.output
    spec = json.loads(out.read_text(encoding="utf-8"))
    assert any(layer.get("inputs") for layer in spec["layers"])  # the branch survives as a graph
    report = json.loads(runner.invoke(app, ["check", str(out), "-f", "json"]).stdout)
    assert report["total_params"] == model_files["params"]


def test_import_dash_o_dash_writes_to_standard_output(
    model_files: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    dash = runner.invoke(app, ["import", model_files["keras"], "-o", "-"])
    assert dash.exit_code == 0 and json.loads(dash.stdout)["layers"]
    assert dash.stdout == runner.invoke(app, ["import", model_files["keras"]]).stdout
    assert list(tmp_path.iterdir()) == []  # no file called "-"


@pytest.mark.parametrize("kind", ["keras", "json"])
def test_check_reads_model_files_directly(model_files: dict[str, Any], kind: str) -> None:
    result = runner.invoke(app, ["check", model_files[kind], "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total_params"] == model_files["params"]


@pytest.mark.parametrize("command", [["draw"], ["solve"], ["export", "--to", "python"], ["verify"]])
def test_every_command_reads_model_files_through_the_same_pipeline(
    model_files: dict[str, Any], command: list[str]
) -> None:
    result = runner.invoke(app, [command[0], model_files["keras"], *command[1:]])
    assert result.exit_code in (0, 1), result.output  # solve exits 1 when no input size nearby fits
    assert "Traceback" not in result.output and "not a valid convcalc spec" not in result.output
    if command[0] == "verify":
        assert f"model.count_params() {model_files['params']:,}" in result.stdout


def test_import_refuses_a_spec_and_junk(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text('{"input": [8, 8, 1], "layers": [{"type": "relu"}]}')
    result = runner.invoke(app, ["import", str(spec)])
    assert result.exit_code == 2 and "not a Keras model file" in result.output
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    result = runner.invoke(app, ["import", str(broken)])
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_import_says_why_a_file_cannot_be_read_at_all(tmp_path: Path) -> None:
    pipe = tmp_path / "model.keras.fifo"
    os.mkfifo(pipe)
    cases = {str(pipe): "is not a regular file but a named pipe", str(tmp_path / "gone.keras"): "no such file"}
    for path, why in cases.items():
        result = runner.invoke(app, ["import", path])
        assert result.exit_code == 2
        assert result.stderr == f"error: {path}: {why}" + (
            "; convcalc reads only regular files\n" if "pipe" in why else "\n"
        )


@pytest.fixture(scope="module")
def open_model(keras: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fully convolutional model with an open input (None, None, 3), and TensorFlow's shapes at 64×48."""

    def build(height: int | None, width: int | None) -> Any:
        inputs = keras.Input((height, width, 3))
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="down")(inputs)
        x = keras.layers.Conv2D(4, 3, name="valid")(x)
        return keras.Model(inputs, keras.layers.Conv2D(2, 1, name="head")(x))

    folder = tmp_path_factory.mktemp("open")
    build(None, None).save(folder / "fcn.keras")
    fixed = build(64, 48)
    shapes = {layer.name: list(layer.output.shape[1:]) for layer in fixed.layers[1:]}
    return {"keras": str(folder / "fcn.keras"), "shapes": shapes, "params": fixed.count_params()}


@pytest.mark.parametrize("command", [["check"], ["import"], ["draw"], ["solve"]])
def test_an_open_input_asks_for_the_input_option(open_model: dict[str, Any], command: list[str]) -> None:
    result = runner.invoke(app, [*command, open_model["keras"]])
    assert result.exit_code == 2
    assert "(None, None, None, 3) is not fixed" in result.stderr and "--input 224x224" in result.stderr


@pytest.mark.parametrize("size", ["64x48", "64x48x3", "64×48"])
def test_the_input_option_sizes_an_open_model_as_tensorflow_builds_it(open_model: dict[str, Any], size: str) -> None:
    result = runner.invoke(app, ["check", open_model["keras"], "--input", size, "-f", "json"])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    assert report["input_shape"] == [64, 48, 3]
    shapes = {
        layer["name"]: layer["output_shape"] for layer in report["layers"] if layer["name"] in open_model["shapes"]
    }
    assert shapes == open_model["shapes"]
    assert report["total_params"] == open_model["params"]


def test_import_writes_the_size_it_was_given(open_model: dict[str, Any]) -> None:
    result = runner.invoke(app, ["import", open_model["keras"], "--input", "64x48"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["input"] == [64, 48, 3]


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("64x48x4", "its depth is fixed at 3, but --input 64x48x4 asks for 4"),
        ("64", "expected HxW or HxWxD"),
        ("0x48", "expected HxW or HxWxD"),
        ("64x48x3x1", "expected HxW or HxWxD"),
        ("1e9x2", "expected HxW or HxWxD"),
    ],
)
def test_a_wrong_input_option_is_a_usage_error(open_model: dict[str, Any], size: str, message: str) -> None:
    result = runner.invoke(app, ["check", open_model["keras"], "--input", size])
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_fixed_model_keeps_its_size_and_refuses_another(model_files: dict[str, Any]) -> None:
    same = runner.invoke(app, ["check", model_files["keras"], "--input", "32x32", "-f", "json"])
    assert same.exit_code == 0, same.output
    other = runner.invoke(app, ["check", model_files["keras"], "--input", "64x64"])
    assert other.exit_code == 2
    assert "its height is fixed at 32, but --input 64x64 asks for 64" in other.stderr


def test_a_spec_states_its_own_input() -> None:
    result = runner.invoke(app, ["check", "examples/vgg16.json", "--input", "224x224"])
    assert result.exit_code == 2
    assert "a spec states its own `input`" in result.stderr
