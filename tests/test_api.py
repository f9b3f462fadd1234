"""The Python API (convcalc.check, Report, Network and the layer constructors): the same figures, findings, fixes
and text as the CLI, the same validation messages as a file, and a cheap ``import convcalc``."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import types
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import convcalc
from convcalc import FC, Conv, InvalidSpec, Network, Pool, ReLU, Report, check
from convcalc.building import CONSTRUCTORS, EXTRA_POSITIONAL, Layer
from convcalc.cli import app
from convcalc.layers import REGISTRY
from convcalc.loading import format_path
from tests.helpers import ROOT, example_spec

HEAVY = ("rich", "typer", "tensorflow", "keras", "onnx", "torch")


@pytest.fixture(autouse=True)
def _in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # file names in reports are relative, as a user types them


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_import_convcalc_loads_nothing_else() -> None:
    code = (
        "import sys, convcalc\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('convcalc', 'pydantic', *HEAVY)))\n"
        "report = convcalc.check('examples/vgg16.json'); report.to_json(); repr(report)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in HEAVY}))\n"
    ).replace("HEAVY", repr(HEAVY))
    process = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert process.returncode == 0, process.stderr
    imported, heavy_after_check = process.stdout.splitlines()
    assert imported == "['convcalc']"  # the public names load on first use
    assert heavy_after_check == "[]"  # checking a spec and writing JSON needs no rich, typer or framework


def test_public_names() -> None:
    assert {"check", "Report", "Network", "InvalidSpec", "Layer"} <= set(convcalc.__all__)
    assert {kind.__name__ for kind in REGISTRY.kinds} <= set(convcalc.__all__)  # every kind has a constructor
    assert all(getattr(convcalc, name) is not None for name in convcalc.__all__)
    assert (Path(convcalc.__file__).parent / "py.typed").is_file()
    with pytest.raises(AttributeError):
        convcalc.Nonsense  # noqa: B018


@pytest.mark.parametrize("name", ["vgg16", "stride_mismatch", "resnet50", "inception_block"])
def test_to_json_is_the_cli_json(name: str) -> None:
    file = f"examples/{name}.json"
    printed = cli("check", "-f", "json", file).stdout
    report = check(file)
    assert report.to_json() == printed  # byte for byte
    record = json.loads(printed)
    assert report.layers == record["layers"]
    assert report.total_params == record["total_params"] and report.total_macs == record["total_macs"]
    assert report.totals["total_params"] == record["total_params"]
    assert report.totals["training_memory"] == record["training_memory"]
    assert [f.code for f in report.findings] == [f["code"] for f in record["findings"]]
    assert report.fails == (cli("check", file).exit_code == 1)


def test_table_and_draw_are_the_cli_output() -> None:
    file = "examples/stride_mismatch.json"
    report = check(file)
    assert report.table(width=100) == cli("check", "--width", "100", file).stdout
    assert report.table(width=60, all=True) == cli("check", "--width", "60", "--all", file).stdout
    assert report.draw() == cli("draw", file).stdout
    assert report._repr_svg_() == report.draw()
    ET.fromstring(report.draw())  # well-formed SVG


def test_repr_is_one_short_line() -> None:
    assert (
        repr(check("examples/vgg16.json"))
        == "<Report vgg16: 36 layers, 138,357,544 params, 0 errors, 0 warnings, 2 infos>"
    )
    assert repr(check("examples/stride_mismatch.json")).startswith(
        "<Report stride-mismatch: 1 layer, 224 params, 1 error"
    )


def test_a_network_in_python_is_checked_as_the_same_spec_in_a_file() -> None:
    data = example_spec("lenet5")
    from_file = check("examples/lenet5.json").to_dict()
    from_python = check(Network(**data)).to_dict()
    from_dict = check(data).to_dict()
    for record in (from_python, from_dict):
        assert record["file"] == "<python>"
        for finding in record["findings"]:
            finding["line"] = finding["column"] = None
    for finding in from_file["findings"]:
        finding["line"] = finding["column"] = None
    assert from_python == from_dict == {**from_file, "file": "<python>"}


def test_the_course_network_of_the_issue() -> None:
    net = Network(input=(28, 28, 1), layers=[Conv(32, 5, padding="same"), ReLU(), Pool(2), FC(10)], classes=10)
    assert isinstance(net, Network)
    report = check(net)
    assert [layer["output_shape"] for layer in report.layers] == [[28, 28, 32], [28, 28, 32], [14, 14, 32], [1, 1, 10]]
    assert report.total_params == (5 * 5 * 1 + 1) * 32 + (14 * 14 * 32 + 1) * 10
    assert report.network == net and report.file == "<python>"


def test_constructors_build_spec_json() -> None:
    assert Conv(32, 5, padding="same") == {"type": "conv", "filters": 32, "kernel": 5, "padding": "same"}
    assert Pool(2) == {"type": "pool", "kernel": 2} and FC(10, name="logits") == {
        "type": "fc",
        "units": 10,
        "name": "logits",
    }
    assert repr(Conv(32, 5)) == "Conv(filters=32, kernel=5)"
    # A layer dict of no known kind shows as a dict, whatever its "type" holds (a list once raised TypeError).
    assert repr(Layer({"type": "dense", "units": 3})) == "FC(units=3)"
    assert repr(Layer({"type": "nope"})) == "Layer({'type': 'nope'})"
    assert repr(Layer({"type": ["conv"]})) == "Layer({'type': ['conv']})"
    assert json.loads(json.dumps(Conv(8, (1, 3)))) == {"type": "conv", "filters": 8, "kernel": [1, 3]}
    with pytest.raises(
        TypeError, match=r"Conv\(\): got an unexpected keyword argument 'strides' \(did you mean 'stride'\?\)"
    ):
        Conv(32, 3, strides=2)
    with pytest.raises(TypeError, match="missing a required argument: 'kernel'"):
        Conv(32)


def test_every_kind_has_a_constructor_whose_layer_validates() -> None:
    for kind in REGISTRY.kinds:
        build = CONSTRUCTORS[kind.__name__]
        assert kind.type_names()[0] in build.__doc__
        fields = set(kind.model_fields) - {"type"}
        assert set(__import__("inspect").signature(build).parameters) == fields
    for type_name, names in EXTRA_POSITIONAL.items():
        assert set(names) <= set(REGISTRY.kind(type_name).model_fields)


def test_plain_dicts_and_layers_mix() -> None:
    net = Network(input=[8, 8, 3], layers=[{"type": "conv", "filters": 4, "kernel": 3}, Layer(type="relu")])
    assert [layer.type for layer in net.layers] == ["conv", "relu"]


def test_invalid_networks_list_every_problem_as_the_cli_does(tmp_path: Path) -> None:
    data = {"input": [32, 32, 3], "layers": [{"type": "conv", "filters": 8, "kernel": 0, "stride": -1}, {"type": "fc"}]}
    with pytest.raises(InvalidSpec) as caught:
        Network(input=(32, 32, 3), layers=[Conv(8, 0, stride=-1), {"type": "fc"}])
    error = caught.value
    assert isinstance(error, ValueError)
    assert [format_path(p.path) for p in error.problems] == ["layers[0].kernel", "layers[0].stride", "layers[1].units"]
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(data, indent=1), encoding="utf-8")
    printed = cli("check", str(file)).stderr
    shown = [line.split(": ", 1)[1] for line in printed.splitlines() if line.startswith("  - ")]
    ours = [line.split(": ", 1)[1] for line in str(error).splitlines() if line.startswith("  - ")]
    assert ours == shown  # path and message, word for word
    assert str(error).startswith("<python> is not a valid convcalc spec:\n  - <python>: layers[0].kernel: must be ≥ 1")
    assert "Traceback" not in str(error) and "pydantic" not in str(error)
    with pytest.raises(InvalidSpec, match="layers"):
        Network(input=(32, 32, 3), layers=[])
    with pytest.raises(InvalidSpec, match="no such file"):
        check("examples/missing.json")


def test_apply_returns_the_fixed_network_and_the_finding_goes() -> None:
    report = check("examples/stride_mismatch.json")
    (cc101,) = [f for f in report.findings if f.code == "CC101"]
    assert len(cc101.fixes) > 3
    for fix in cc101.fixes:
        fixed = report.apply(fix)
        assert isinstance(fixed, Network)
        again = check(fixed)
        assert not [f for f in again.findings if f.code == "CC101"], fix.title
        assert again.count("error") == 0, fix.title
    assert report.apply(cc101) == report.apply(cc101.fixes[0])  # a finding: its first fix


def test_settings_as_in_the_config_file() -> None:
    file = "examples/stride_mismatch.json"
    assert check(file, select="CC1").to_json() == cli("check", "-f", "json", "--select", "CC1", file).stdout
    assert {f.code[:3] for f in check(file, select=["CC1"]).findings} == {"CC1"}
    assert check("examples/vgg16.json", fail_on="info").fails and not check("examples/vgg16.json").fails
    assert check(file, batch=32).totals["training_memory"]["batch"] == 32
    with pytest.raises(InvalidSpec, match="fail_on: must be one of error, warning, info"):
        check(file, fail_on="fatal")
    with pytest.raises(InvalidSpec, match="unknown setting 'failon'"):
        check(file, failon="error")
    with pytest.raises(InvalidSpec, match="unknown rule code 'CC999'"):
        check(example_spec("lenet5"), ignore=["CC999"])


def test_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "convcalc.toml"
    config.write_text('ignore = ["CC101"]\n', encoding="utf-8")
    assert "CC101" not in {f.code for f in check(example_spec("stride_mismatch"), config=config).findings}
    config.write_text('fail-on = "fatal"\n', encoding="utf-8")
    with pytest.raises(InvalidSpec, match="fail-on: must be one of"):
        check(example_spec("stride_mismatch"), config=config)


def test_what_convcalc_cannot_read_is_refused_by_name() -> None:
    torch_like = type("Module", (), {"__module__": "torch.nn.modules.module"})()  # no eval(): not a module
    with pytest.raises(InvalidSpec, match=r"cannot read a torch\.nn\.modules\.module\.Module"):
        check(torch_like)
    with pytest.raises(InvalidSpec, match=r"cannot read a builtins\.int"):
        check(3)
    with pytest.raises(InvalidSpec, match=r"expected \(H, W\) or \(H, W, D\)"):
        check(example_spec("lenet5"), input=(0, 4))
    with pytest.raises(InvalidSpec, match="a spec states its own"):
        check(example_spec("lenet5"), input=(32, 32))


def test_repr_html_is_a_safe_fragment_with_table_findings_and_diagram() -> None:
    report = check("examples/stride_mismatch.json")
    page = report._repr_html_()
    for needle in ("<script", "http", "@import", "url(", "<link", "<iframe", "<img", "<html", "<body"):
        assert needle not in page, needle
    assert "<svg " in page and "<table>" in page and "conv1" in page
    assert all(f"fix: {fix.title}".replace('"', "&quot;") in page for fix in report.findings[0].fixes)
    style = re.search(r"<style>(.*?)</style>", page, flags=re.S)
    assert style is not None
    for selectors in re.findall(r"(?:^|[{}])\s*([^{}@]+)\{", style.group(1)):
        assert all(s.strip().startswith("div.convcalc-report") for s in selectors.split(",")), selectors
    evil = Network(name="<script>alert(1)</script>", input=(4, 4, 1), layers=[FC(2, name="<b onclick=x>")])
    shown = check(evil)._repr_html_()
    assert "<script" not in shown and "<b onclick" not in shown and "&lt;script&gt;" in shown
    assert check(evil)._repr_html_() != shown  # ids unique per output in one page


def test_a_path_object() -> None:
    assert check(ROOT / "examples" / "lenet5.json").total_params == check("examples/lenet5.json").total_params


def test_a_keras_model_in_memory_is_the_same_model_saved(keras: Any, tmp_path: Path) -> None:
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, strides=2),
            layers.Flatten(),
            layers.Dense(10),
        ],
        name="small",
    )
    path = tmp_path / "small.keras"
    model.save(path)
    in_memory = check(model)
    saved = check(path)
    assert in_memory.file == "<keras Sequential small>"
    assert {**in_memory.to_dict(), "file": None} == {**saved.to_dict(), "file": None}
    assert in_memory.total_params == model.count_params()
    assert check(json.loads(model.to_json())).to_dict()["layers"] == saved.to_dict()["layers"]  # a config dict


def test_a_keras_model_convcalc_cannot_read_names_the_layer(keras: Any) -> None:
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.AutoContrast(name="contrast")])
    with pytest.raises(InvalidSpec, match=r"layer 'contrast' \(AutoContrast\)"):
        check(model)


def test_an_onnx_file_is_the_cli_json() -> None:
    fixture = ROOT / "tests" / "fixtures" / "onnx" / "resnet18.torchscript.onnx"
    if importlib.util.find_spec("convcalc.importers.onnx") is None or not fixture.exists():
        pytest.skip("convcalc reads ONNX files with its ONNX importer (issue 14), absent from this tree")
    pytest.importorskip("onnx", reason="needs the onnx extra")
    file = str(fixture.relative_to(ROOT))
    assert check(file).to_json() == cli("check", "-f", "json", file).stdout


TORCHSCRIPT_GONE = """
import json, sys
import torch
import convcalc
from convcalc import InvalidSpec

export, used = torch.onnx.export, []


def without_torchscript(*args, dynamo, **options):
    used.append(dynamo)
    if not dynamo:
        raise RuntimeError("the TorchScript exporter is gone")
    if sys.argv[1] == "fails":
        raise RuntimeError("nothing exports this")
    return export(*args, dynamo=dynamo, **options)


torch.onnx.export = without_torchscript
nn = torch.nn
model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten())
try:
    facts = convcalc.check(model, input=(8, 8, 3)).checked.facts
except InvalidSpec as error:
    print(json.dumps({"used": used, "refused": str(error)}))
else:
    print(json.dumps({
        "used": used,
        "trainable": facts.total_trainable_params,
        "expected": sum(p.numel() for p in model.parameters()),
        "types": [layer.type for layer in facts.layers],
    }))
"""


@pytest.mark.parametrize("case", ["exports", "fails"])
def test_a_pytorch_module_the_torchscript_exporter_fails_on_is_exported_by_dynamo(case: str) -> None:
    from tests.optional import module

    module("torch", "pip install -e '.[torch]'")
    module("onnx", "pip install -e '.[onnx]'")
    module("onnxscript", "pip install -e '.[torch]'")
    # A process of its own: torch.export imports triton, which crashes a process that imported TensorFlow first
    # (as this test session may have).
    run = subprocess.run(
        [sys.executable, "-c", TORCHSCRIPT_GONE, case], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    outcome = json.loads(run.stdout.splitlines()[-1])
    assert outcome["used"] == [False, True]
    if case == "exports":
        assert outcome["trainable"] == outcome["expected"]  # batchnorm kept
        assert outcome["types"] == ["conv", "batchnorm", "relu", "flatten"]
    else:
        assert re.search(
            r"torch.onnx.export failed \(TorchScript: RuntimeError: the TorchScript exporter is gone; dynamo: "
            r"RuntimeError: nothing exports this\)",
            outcome["refused"],
        ), outcome["refused"]


def test_a_pytorch_before_the_dynamo_exporter_uses_the_torchscript_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.optional import module

    torch = module("torch", "pip install -e '.[torch]'")
    module("onnx", "pip install -e '.[onnx]'")
    export, calls = torch.onnx.export, []

    def before_2_5(model: Any, args: Any, f: Any, do_constant_folding: bool = True) -> Any:  # no dynamo keyword
        calls.append(do_constant_folding)
        return export(model, args, f, do_constant_folding=do_constant_folding, dynamo=False)

    monkeypatch.setattr(torch.onnx, "export", before_2_5)
    report = check(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), input=(8, 8, 3))
    assert calls == [False] and report.checked.facts.total_params == 3 * 3 * 3 * 4 + 4


def test_the_dynamo_exporter_is_not_tried_where_it_would_crash_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.optional import module

    torch = module("torch", "pip install -e '.[torch]'")
    module("onnx", "pip install -e '.[onnx]'")
    import convcalc.api

    installed = convcalc.api.is_installed
    monkeypatch.setattr(convcalc.api, "is_installed", lambda name: name in ("onnxscript", "triton") or installed(name))
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    monkeypatch.delitem(sys.modules, "triton", raising=False)

    def without_torchscript(*args: Any, dynamo: bool, **options: Any) -> Any:
        raise AssertionError("the dynamo exporter ran") if dynamo else RuntimeError("the TorchScript exporter is gone")

    monkeypatch.setattr(torch.onnx, "export", without_torchscript)
    with pytest.raises(InvalidSpec, match="the dynamo exporter, which might read it, cannot run after TensorFlow"):
        check(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), input=(8, 8, 3))


def test_a_pytorch_module_is_read_without_the_exporters_deprecation_warnings() -> None:
    from tests.optional import module

    torch = module("torch", "pip install -e '.[torch]'")
    module("onnx", "pip install -e '.[onnx]'")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the legacy exporter's warnings would raise here
        report = check(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), input=(8, 8, 3))
    assert report.checked.facts.total_params == 3 * 3 * 3 * 4 + 4


def test_report_is_exported() -> None:
    assert isinstance(check("examples/lenet5.json"), Report)


def test_a_pytorch_module_is_read_through_onnx() -> None:
    from tests.optional import module

    torch = module("torch", "pip install -e '.[torch]'")
    module("onnx", "pip install -e '.[onnx]'")
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, stride=2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    report = check(model, input=(32, 32, 3))
    facts = report.checked.facts
    assert facts.total_trainable_params == sum(p.numel() for p in model.parameters())  # batchnorm not folded
    assert facts.total_params - facts.total_trainable_params == 2 * 8  # its running mean and variance
    assert [tuple(layer.output_shape) for layer in facts.layers][-1] == (1, 1, 10)
    assert any(f.code == "CC101" for f in report.findings)  # (16 − 3)/2 + 1 = 7.5: a real row unread
    assert model.training, "the module is handed back in the mode it came in"
    with pytest.raises(InvalidSpec, match=r"states no input size: pass input=\(H, W, D\)"):
        check(model, input=(32, 32))
