"""``convcalc export`` and ``convcalc verify``: exit codes, refusals, --force, .keras files, the verify table."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc.analysis import analyze
from convcalc.checking import check_loaded
from convcalc.cli import app
from convcalc.export import runtime, verify
from convcalc.export.keras_build import build_model
from convcalc.export.plan import ExportPlan, plan_export
from convcalc.findings import Severity
from convcalc.loading import load_spec, validate
from tests.helpers import EXAMPLES

runner = CliRunner()

ALL = sorted(EXAMPLES.glob("*.json"))
CLEAN = [p for p in ALL if not any(f.severity is Severity.ERROR for f in check_loaded(load_spec(str(p))).findings)]
SMALL = [p for p in CLEAN if analyze(load_spec(str(p)).network).total_params < 5_000_000]
"""Examples small enough to save as .keras and reload in a test (vgg16 and alexnet are 250–550 MB)."""
MISMATCH = str(EXAMPLES / "stride_mismatch.json")


def invoke(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_the_examples_cover_what_they_should() -> None:
    assert {p.stem for p in CLEAN} >= {"mnist_cnn", "lenet5", "vgg16", "alexnet", "digits_cnn", "softmax_regression"}
    assert {p.stem for p in SMALL} >= {"mnist_cnn", "lenet5", "digits_cnn", "softmax_regression", "alexnet_conv1"}


# --- verify --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def verified(keras: Any) -> Any:
    """``convcalc verify`` of every clean example, once: it builds each of them in Keras (vgg16 is 138 M)."""
    return invoke("verify", "--width", "220", *map(str, CLEAN))  # wide enough for every column


@pytest.mark.slow
def test_verify_agrees_with_tensorflow_on_every_clean_example(verified: Any) -> None:
    result = verified
    assert result.exit_code == 0, result.output
    assert "✗" not in result.stdout
    assert result.stdout.count("layers agree with TensorFlow, and so does the total") == len(
        [p for p in CLEAN if len(load_spec(str(p)).network.layers) > 1]
    )
    # The figures, and TensorFlow's own notation: [batch, H, W, D], filters [F, F, D, K], [1, S, S, 1] lists.
    assert "138,357,544" in result.stdout  # vgg16's total, in both columns of its footer
    assert "model.count_params() 138,357,544 ✓" in result.stdout
    assert "[2, 55, 55, 96]" in result.stdout  # alexnet conv1
    assert "W [11, 11, 3, 96]  strides [1, 4, 4, 1]  VALID" in result.stdout
    assert "ksize [1, 3, 3, 1]  strides [1, 2, 2, 1]" in result.stdout
    assert "[2, 4096] ≡ 1×1×4096" in result.stdout  # fc: Keras's (batch, n) compared as convcalc's 1×1×n


@pytest.mark.slow
def test_verify_shows_padding_as_keras_layers(verified: Any) -> None:
    vgg16 = verified.stdout[verified.stdout.index("vgg16") :]
    assert "ZeroPadding2D → Conv2D" in vgg16
    assert "Flatten → Dense" in vgg16


@pytest.mark.tensorflow
def test_verify_refuses_error_findings_unless_forced() -> None:
    refused = invoke("verify", MISMATCH)
    assert refused.exit_code == 1
    assert "CC101" in refused.stderr and "--force" in refused.stderr
    forced = invoke("verify", MISMATCH, "--force")
    assert forced.exit_code == 0, forced.output
    assert "4×4×8" in forced.stdout and "[2, 4, 4, 8]" in forced.stdout  # floored, as TensorFlow builds it
    assert "floored to 4×4×8" in forced.stderr


@pytest.mark.tensorflow
def test_verify_reports_a_mismatch_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Keras model that is not what convcalc computed (one filter more) must show ✗, not ✓.
    def wrong_model(plan: ExportPlan) -> Any:
        spec = plan.facts.network.model_dump(exclude_none=True)
        spec["layers"][0]["filters"] += 1
        return build_model(plan_export(analyze(validate("<wrong>", spec))))

    monkeypatch.setattr(verify, "build_model", wrong_model)
    result = invoke("verify", str(EXAMPLES / "lenet5.json"))
    assert result.exit_code == 1
    assert "✗" in result.stdout
    assert "mismatches with TensorFlow" in result.stdout


@pytest.mark.tensorflow
def test_verify_batch_size_and_several_files_with_one_bad(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 0, "kernel": 3}]}')
    result = invoke("verify", "--batch-size", "3", str(EXAMPLES / "softmax_regression.json"), str(bad))
    assert result.exit_code == 2
    assert "[3, 10] ≡ 1×1×10" in result.stdout
    assert "bad.json is not a valid convcalc spec" in result.stderr
    assert "layers[0].filters" in result.stderr


# --- export: the three forms ---------------------------------------------------------------------------


@pytest.mark.tensorflow
@pytest.mark.parametrize("example", CLEAN, ids=lambda p: p.stem)
@pytest.mark.parametrize(("target", "suffix"), [("python", ".py"), ("tf-nn", "_nn.py")])
def test_every_clean_example_exports_as_code_that_compiles(
    example: Path, target: str, suffix: str, tmp_path: Path
) -> None:
    output = tmp_path / f"{example.stem}{suffix}"
    result = invoke("export", str(example), "--to", target, "-o", str(output))
    assert result.exit_code == 0, result.output
    assert f"wrote {output}" in result.stderr
    source = output.read_text(encoding="utf-8")
    compile(source, str(output), "exec")
    total = analyze(load_spec(str(example)).network).total_params
    assert f"TOTAL_PARAMS = {total}" in source
    if target == "tf-nn":
        assert "tf.nn.conv2d(" in source or "tf.matmul(" in source


@pytest.mark.tensorflow
def test_python_export_without_output_goes_to_stdout() -> None:
    result = invoke("export", str(EXAMPLES / "lenet5.json"))
    assert result.exit_code == 0
    assert result.stdout.startswith('"""lenet_5: a Keras 3 model')
    assert "wrote stdout" in result.stderr


def load_keras(keras: Any, path: Path) -> Any:
    return keras.saving.load_model(str(path), safe_mode=True, custom_objects=runtime.custom_objects())


@pytest.mark.parametrize("example", SMALL, ids=lambda p: p.stem)
def test_keras_export_reloads_in_safe_mode(keras: Any, example: Path, tmp_path: Path) -> None:
    output = tmp_path / "model.keras"
    result = invoke("export", str(example), "--to", "keras", "-o", str(output))
    assert result.exit_code == 0, result.output
    facts = analyze(load_spec(str(example)).network)
    model = load_keras(keras, output)
    assert model.count_params() == facts.total_params
    assert tuple(model.output.shape[1:]) == plan_export(facts).output_shape
    with zipfile.ZipFile(output) as archive:
        config = archive.read("config.json").decode()
    assert "Lambda" not in config
    keras.backend.clear_session()


def test_keras_file_holds_identical_parameters_and_l2_pooling_loads_in_safe_mode(keras: Any, tmp_path: Path) -> None:
    import numpy as np  # TensorFlow's dependency

    spec = {
        "name": "l2 net",
        "input": [9, 9, 2],
        "classes": 3,
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "pool", "mode": "l2", "kernel": 3, "stride": 2, "padding": "same"},
            {"type": "fc", "units": 3},
        ],
    }
    path = tmp_path / "l2.json"
    path.write_text(json.dumps(spec))
    output = tmp_path / "l2.keras"
    result = invoke("export", str(path), "--to", "keras", "-o", str(output))
    assert result.exit_code == 0, result.output
    assert "custom_objects=convcalc.export.runtime.custom_objects()" in result.stderr
    with zipfile.ZipFile(output) as archive:
        config = archive.read("config.json").decode()
    assert '"convcalc>L2Pooling2D"' in config and "Lambda" not in config
    model = load_keras(keras, output)
    # Saving and loading keeps every weight exactly.
    original = build_model(plan_export(analyze(validate("<l2>", spec))))
    original.save(tmp_path / "again.keras")
    reloaded = load_keras(keras, tmp_path / "again.keras")
    assert [w.shape for w in reloaded.get_weights()] == [w.shape for w in original.get_weights()]
    for saved, kept in zip(original.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, kept)
    batch = np.random.default_rng(0).standard_normal((2, 9, 9, 2)).astype("float32")
    np.testing.assert_allclose(np.asarray(reloaded(batch)), np.asarray(original(batch)), rtol=1e-6)
    assert model.count_params() == original.count_params() == 4 * 18 + 4 + 4 * 5 * 5 * 3 + 3
    keras.backend.clear_session()


# --- refusals and --force ------------------------------------------------------------------------------


def test_error_findings_stop_the_export_and_nothing_is_written(tmp_path: Path) -> None:
    output = tmp_path / "model.py"
    result = invoke("export", MISMATCH, "-o", str(output))
    assert result.exit_code == 1
    assert "CC101" in result.stderr
    assert "not exported: 1 error finding" in result.stderr
    assert not output.exists()


def test_force_exports_what_tensorflow_builds_with_floored_sizes(keras: Any, tmp_path: Path) -> None:
    output = tmp_path / "mismatch.keras"
    result = invoke("export", MISMATCH, "--to", "keras", "-o", str(output), "--force")
    assert result.exit_code == 0, result.output
    assert "--force" in result.stderr and "floored to 4×4×8" in result.stderr
    model = load_keras(keras, output)
    assert tuple(model.output.shape) == (None, 4, 4, 8)
    assert model.count_params() == 3 * 3 * 3 * 8 + 8
    keras.backend.clear_session()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--max-param-bytes", "100MB"], "parameter memory is 527.8 MiB (float32), over the limit of 95.4 MiB"),
        (["--max-activation-bytes", "1MiB"], "activation memory is"),
    ],
)
def test_absurd_sizes_are_refused_before_tensorflow(options: list[str], message: str, tmp_path: Path) -> None:
    result = invoke("export", str(EXAMPLES / "vgg16.json"), "--to", "keras", "-o", str(tmp_path / "v.keras"), *options)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "v.keras").exists()


def test_the_default_limit_refuses_a_spec_with_billions_of_parameters(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"input": [1, 1, 100_000], "layers": [{"type": "fc", "units": 100_000}]}))
    result = invoke("verify", str(huge))
    assert result.exit_code == 2
    assert "37.3 GiB" in result.stderr and "4.0 GiB" in result.stderr and "--max-param-bytes" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--to", "keras"],  # a .keras file needs -o
        ["--to", "keras", "-o", "model.h5"],
        ["--to", "onnx"],
        ["--max-param-bytes", "lots"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = invoke("export", str(EXAMPLES / "lenet5.json"), *args)
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "stride": -1}]}',
            "layers[0].stride: must be ≥ 1 (got -1)",
        ),
        ('{"input": [8, 8, 1], "ignore": ["CC999"], "layers": [{"type": "relu"}]}', "unknown rule code 'CC999'"),
        ('{"input": [8, 8, 1], "layers": [', "malformed JSON"),
    ],
)
def test_bad_spec_input_gives_the_friendly_error(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    for command in ("export", "verify"):
        result = invoke(command, str(bad))
        assert result.exit_code == 2
        assert message in result.stderr
        assert "is not a valid convcalc spec" in result.stderr
        assert "Traceback" not in result.output


@pytest.mark.tensorflow
def test_unwritable_output_exits_2(tmp_path: Path) -> None:
    result = invoke("export", str(EXAMPLES / "lenet5.json"), "-o", str(tmp_path / "missing" / "model.py"))
    assert result.exit_code == 2
    assert "cannot write" in result.stderr


def test_without_tensorflow_keras_export_and_verify_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # find_spec reports it missing
    lenet = str(EXAMPLES / "lenet5.json")
    for args in (["export", lenet, "--to", "keras", "-o", str(tmp_path / "m.keras")], ["verify", lenet]):
        result = invoke(*args)
        assert result.exit_code == 2
        [line] = result.stderr.strip().splitlines()
        assert "TensorFlow is not installed" in line and "pip install" in line and "[tensorflow]" in line
        assert result.stdout == ""
    assert not (tmp_path / "m.keras").exists()


def test_without_torch_verify_says_what_to_install_and_export_writes_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # find_spec reports it missing
    lenet = str(EXAMPLES / "lenet5.json")
    result = invoke("verify", lenet, "--framework", "torch")
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "PyTorch is not installed" in line and "[torch]" in line
    assert result.stdout == ""
    exported = invoke("export", lenet, "--to", "torch")  # code is text: only running it needs PyTorch
    assert exported.exit_code == 0, exported.stderr
    compile(exported.stdout, "model.py", "exec")
    assert "class Network(nn.Module):" in exported.stdout and "PyTorch steps" in exported.stderr


def test_torch_export_is_refused_by_name_where_pytorch_cannot_compute_it(write_spec: Any) -> None:
    spec = write_spec({"input": [4, 4, 2], "layers": [{"type": "batchnorm", "scale": False, "name": "bn"}]})
    result = invoke("export", str(spec), "--to", "torch")
    assert result.exit_code == 2
    assert "not exported for PyTorch: layers[0] bn" in result.stderr and "β without γ" in result.stderr


def test_tensorflow_only_refusals_do_not_stop_the_torch_export(write_spec: Any) -> None:
    # CC108: TensorFlow's depthwise kernel takes one stride for both axes; PyTorch's grouped conv does not care.
    spec = write_spec(
        {"input": [8, 8, 2], "layers": [{"type": "depthwise", "kernel": 3, "padding": 1, "stride": [2, 1]}]}
    )
    assert invoke("export", str(spec), "--to", "python").exit_code == 1
    result = invoke("export", str(spec), "--to", "torch")
    assert result.exit_code == 0, result.stderr
    assert "nn.Conv2d(2, 2, kernel_size=3, stride=(2, 1), padding=1, groups=2)" in result.stdout


@pytest.mark.parametrize(("target", "what"), [("python", "Keras layers"), ("tf-nn", "tf.nn operations")])
def test_code_exports_need_no_tensorflow(monkeypatch: pytest.MonkeyPatch, target: str, what: str) -> None:
    # Writing code is text: only running it needs TensorFlow.
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.setitem(sys.modules, "keras", None)
    result = invoke("export", str(EXAMPLES / "lenet5.json"), "--to", target)
    assert result.exit_code == 0, result.stderr
    compile(result.stdout, "model.py", "exec")
    assert "11 spec layers → " in result.stderr and what in result.stderr


@pytest.mark.tensorflow
def test_an_old_keras_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime.importlib.metadata, "version", lambda name: "3.10.0")
    result = invoke("export", str(EXAMPLES / "lenet5.json"), "--to", "keras", "-o", "never.keras")
    assert result.exit_code == 2
    assert "Keras 3.10.0 is too old" in result.stderr and "keras>=3.11" in result.stderr


@pytest.mark.slow
def test_verify_agrees_with_tensorflow_on_a_modern_network(keras: Any) -> None:
    # ShuffleNetV2 exercises split, channel_shuffle and concat; its squeeze-free blocks build quickly. (Every
    # torchvision example verifies the same way by hand: EfficientNet-B0's multiply gates, ConvNeXt's
    # layer_norm and scale, GoogLeNet's ceil-mode pools.)
    result = invoke("verify", "--width", "220", "examples/torchvision/shufflenet_v2_x1_0.json")
    assert result.exit_code == 0, result.output
    assert "✗" not in result.stdout
    assert "trainable params: convcalc 2,278,604 · model.trainable_weights 2,278,604 ✓" in result.stdout
    assert "layers agree with TensorFlow, and so does the total" in result.stdout
