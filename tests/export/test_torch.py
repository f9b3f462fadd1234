"""PyTorch as the oracle: every kind's PyTorch mapping, random specs and graphs, the examples (torchvision's with
torchvision's published parameter counts) and the generated ``model.py`` run as a program.

Needs the ``torch`` extra (the whole module skips without it; CI, with CONVCALC_REQUIRE_ALL=1, fails instead).
TensorFlow is not needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from typer.testing import CliRunner

from convcalc.analysis import NetworkFacts, analyze
from convcalc.cli import app
from convcalc.export.plan import UnbuildableError
from convcalc.export.torch_codegen import torch_source
from convcalc.export.torch_plan import MODULE_ATTRIBUTES, TorchPlan, plan_torch
from convcalc.export.torch_verify import build_module, verify_torch
from convcalc.layers import KINDS, LayerSpec
from convcalc.loading import load_spec, validate
from tests import optional
from tests.export.strategies import HOSTILE_NAMES, buildable_specs
from tests.export.test_scripts import HOSTILE_SPEC
from tests.helpers import EXAMPLES, examples
from tests.test_famous_networks import PUBLISHED

pytestmark = pytest.mark.torch
torch = optional.torch()  # skips this module (in CI: fails it) without the torch extra

ASYMMETRIC_SAME = {"input": [7, 6, 1], "layers": [{"type": "pool", "mode": "l2", "kernel": [2, 3], "padding": "same"}]}
EVEN_SAME_CONV = {"input": [8, 7, 3], "layers": [{"type": "conv", "filters": 4, "kernel": 2, "padding": "same"}]}
TRANSPOSE_SAME = {
    "input": [5, 5, 2],
    "layers": [{"type": "conv_transpose", "filters": 3, "kernel": 4, "padding": "same"}],
}
TRANSPOSE_WIDE = {
    "input": [3, 3, 2],
    "layers": [{"type": "conv_transpose", "filters": 2, "kernel": 1, "stride": 3, "padding": 0}],
}
FLAT_THEN_VOLUME = {
    "input": [4, 4, 2],
    "layers": [
        {"type": "global_pool"},
        {"type": "batchnorm", "name": "g"},
        {"type": "multiply", "inputs": ["input", "g"]},
        {"type": "split", "parts": 2, "part": 1},
        {"type": "channel_shuffle", "groups": 1},
        {"type": "cropping", "crop": [[1, 0], [0, 1]]},
    ],
}


def analysed(spec: dict[str, Any]) -> NetworkFacts:
    return analyze(validate("<generated>", spec))


def assert_torch_matches_analysis(facts: NetworkFacts) -> TorchPlan:
    plan = plan_torch(facts)
    table = verify_torch(plan)
    wrong = [row for row in table.rows if not (row.shape_ok and row.params_ok)]
    assert not wrong, wrong
    assert table.total[0] == table.total[1] and table.trainable[0] == table.trainable[1], (table.total, table.trainable)
    # Every parameter and buffer sits in a module some spec layer owns: nothing hides outside the comparison.
    net = build_module(plan)
    owned = {step.name for layer in plan.layers for step in layer.modules}
    assert {name.split(".")[0] for name, _ in net.state_dict().items()} <= owned
    return plan


@pytest.mark.parametrize("kind", KINDS, ids=[kind.__name__ for kind in KINDS])
def test_every_kind_maps_to_pytorch(kind: type[LayerSpec]) -> None:
    assert_torch_matches_analysis(analysed({"input": [8, 8, 4], "layers": [dict(kind.example)]}))


def test_each_prelu_form_is_pytorchs_prelu_or_its_helper() -> None:
    layers = [
        {"type": "prelu"},
        {"type": "prelu", "slopes": "one"},
        {"type": "prelu", "slopes": "position", "trainable": False},
        {"type": "fc", "units": 5},
        {"type": "prelu", "slopes": "position"},  # on [N, 5]: one slope per value, nn.PReLU(5)
    ]
    plan = assert_torch_matches_analysis(analysed({"input": [6, 5, 4], "layers": layers}))
    constructors = [step.module for layer in plan.layers for step in layer.modules if "PReLU" in step.module]
    assert constructors == ["nn.PReLU(4)", "nn.PReLU()", "PReLUPerPosition((4, 6, 5))", "nn.PReLU(5)"]


@pytest.mark.parametrize(
    "spec",
    [ASYMMETRIC_SAME, EVEN_SAME_CONV, TRANSPOSE_SAME, TRANSPOSE_WIDE, FLAT_THEN_VOLUME],
    ids=["asymmetric_same", "even_same_conv", "transpose_same", "transpose_wide", "flat_then_volume"],
)
def test_what_pytorch_pads_differently_still_gives_convcalcs_shapes(spec: dict[str, Any]) -> None:
    assert_torch_matches_analysis(analysed(spec))


@examples(15, deadline=None)
@given(buildable_specs(fit_exactly=False))
@example(ASYMMETRIC_SAME)
@example(EVEN_SAME_CONV)
def test_pytorch_module_matches_the_static_analysis(spec: dict[str, Any]) -> None:
    facts = analysed(spec)
    try:
        plan_torch(facts)
    except UnbuildableError as refused:
        # Refused by name, with the reason: a γ-only batchnorm, a ceil-mode pool PyTorch pads otherwise.
        assert "PyTorch" in str(refused), refused
        return
    assert_torch_matches_analysis(facts)


def test_a_norm_pytorch_cannot_express_is_refused_by_name() -> None:
    facts = analysed({"input": [4, 4, 2], "layers": [{"type": "batchnorm", "center": False, "name": "bn"}]})
    with pytest.raises(UnbuildableError, match=r"bn.*γ without β: PyTorch's nn.BatchNorm2d learns γ and β together"):
        plan_torch(facts)


def test_module_attribute_names_are_reserved() -> None:
    public = {name for name in dir(torch.nn.Module()) if not name.startswith("_")}
    assert public <= MODULE_ATTRIBUTES
    spec = {"input": [4, 4, 1], "layers": [{"type": "relu", "name": name} for name in ("forward", "training", "to")]}
    plan = assert_torch_matches_analysis(analysed(spec))
    assert [layer.main.name for layer in plan.layers] == ["forward_2", "training_2", "to_2"]


CLEAN = sorted(
    [*EXAMPLES.glob("*.json"), *(EXAMPLES / "torchvision").glob("*.json")],
    key=lambda path: (path.parent.name, path.stem),
)
FLOORED = {"stride_mismatch", "squeezenet1_1"}
REFUSED = {"inception_v3": "AuxLogits.fc is read by no later layer"}
"""torchvision's Inception v3 keeps its auxiliary classifier, a second output: refused as for the Keras export."""


@pytest.mark.slow
@pytest.mark.parametrize("path", CLEAN, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_every_example_verifies_with_pytorch(path: Path) -> None:
    result = CliRunner().invoke(app, ["verify", str(path), "--framework", "torch", "--width", "200"])
    if path.stem in REFUSED and path.parent.name == "torchvision":
        assert result.exit_code == 2 and REFUSED[path.stem] in result.stderr
        return
    if path.stem in FLOORED:  # a conv that does not fit (CC101): refused unless --force, then floored as PyTorch does
        assert result.exit_code == 1 and "pass --force to build what PyTorch would build" in result.stderr
        result = CliRunner().invoke(app, ["verify", str(path), "--framework", "torch", "--force", "--width", "200"])
        assert "building what PyTorch builds despite" in result.stderr and "PyTorch drops" in result.stderr
    assert result.exit_code == 0, result.output
    assert "with PyTorch, and so does the total" in result.stdout
    if path.parent.name == "torchvision":
        # The real proof: the module PyTorch builds holds torchvision's published parameter count.
        params, _ = PUBLISHED[path.stem]
        assert f"parameters with requires_grad {params:,} ✓" in result.stdout


RUN = ["lenet5", "mnist_cnn", "inception_block"]


@pytest.mark.slow
@pytest.mark.parametrize("name", [*RUN, "hostile"])
def test_generated_model_py_runs_as_a_program(name: str, tmp_path: Path) -> None:
    if name == "hostile":
        spec = tmp_path / "hostile.json"
        spec.write_text(json.dumps(HOSTILE_SPEC), encoding="utf-8")
    else:
        spec = EXAMPLES / f"{name}.json"
    script = tmp_path / "model.py"
    exported = CliRunner().invoke(app, ["export", str(spec), "--to", "torch", "-o", str(script)])
    assert exported.exit_code == 0, exported.output
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "as convcalc computed" in result.stdout and "forward pass: [2, " in result.stdout
    assert "one SGD training step: loss" in result.stdout
    assert list(workdir.iterdir()) == [] and not list(tmp_path.glob("PWNED*"))  # it did its job and nothing else
    if name == "hostile":
        source = script.read_text(encoding="utf-8")
        assert repr(HOSTILE_NAMES[1]) in source or "SPEC_LAYER_NAMES" in source
        assert "__import__('os').system('touch PWNED2')" not in source.replace(
            repr("__import__('os').system('touch PWNED2')"), ""
        )


def test_a_tampered_figure_makes_the_file_exit_1(tmp_path: Path) -> None:
    source = torch_source(plan_torch(analyze(load_spec(str(EXAMPLES / "lenet5.json")).network)))
    script = tmp_path / "model.py"
    script.write_text(source.replace("TRAINABLE_PARAMS = 61706", "TRAINABLE_PARAMS = 61707"), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 1
    assert "PyTorch holds 61,706 trainable" in result.stderr


def test_frozen_layers_do_not_train() -> None:
    spec = {
        "input": [6, 6, 2],
        "layers": [{"type": "conv", "filters": 3, "kernel": 3, "trainable": False}, {"type": "batchnorm"}],
    }
    plan = assert_torch_matches_analysis(analysed(spec))
    net = build_module(plan)
    assert [p.requires_grad for p in net.parameters()] == [False, False, True, True]


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"),
    [(2, 3, 2, 0), (1, 2, 2, 0), (4, 7, 4, 1), (1, 3, 3, 1), (5, 6, 2, 0)],
)
def test_a_ceil_mode_window_larger_than_the_input_is_pytorchs_one_output(
    size: int, kernel: int, stride: int, padding: int, tmp_path: Path
) -> None:
    # PyTorch slides one window when F < W + 2P + S; convcalc's size, and no CC102, must agree.
    pool = {"type": "pool", "mode": "max", "kernel": kernel, "stride": stride, "padding": padding, "ceil_mode": True}
    spec = tmp_path / "pool.json"
    spec.write_text(json.dumps({"input": [size, size, 2], "layers": [pool]}))
    expected = torch.nn.functional.max_pool2d(torch.zeros(1, 2, size, size), kernel, stride, padding, ceil_mode=True)
    report = json.loads(CliRunner().invoke(app, ["check", str(spec), "-f", "json"]).stdout)
    assert report["layers"][0]["output_shape"] == [*expected.shape[2:], 2]
    assert "CC102" not in {finding["code"] for finding in report["findings"]}
    result = CliRunner().invoke(app, ["verify", str(spec), "--framework", "torch"])
    assert result.exit_code == 0, result.output
