"""convcalc.graph: layers that read other layers by name; residual and concat shapes, and every graph mistake
is invalid input that names the layers (exit 2), or a finding when the shapes of an add differ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcalc.analysis import analyze
from convcalc.cli import app
from convcalc.loading import SpecError, format_path, validate

runner = CliRunner()


RESIDUAL = {
    "input": [8, 8, 4],
    "layers": [
        {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "a"},
        {"type": "relu", "name": "a_relu"},
        {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "b"},
        {"type": "add", "inputs": ["b", "input"], "name": "sum"},
        {"type": "concat", "inputs": ["sum", "a_relu"], "name": "cat"},
    ],
}


def test_residual_graph_shapes_and_inputs() -> None:
    net = analyze(validate("g", RESIDUAL))
    assert net.layers[3].inputs == (2, -1)
    assert net.layers[3].output_shape == (8, 8, 4)
    assert net.layers[4].output_shape == (8, 8, 8)


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda s: s["layers"][3].update(inputs=["bb", "input"]), "layers[3].inputs[0]", ["unknown layer 'bb'", "'b'"]),
        (lambda s: s["layers"][3].update(inputs=["cat", "input"]), "layers[3].inputs[0]", ["comes later", "cycles"]),
        (lambda s: s["layers"][2].update(name="a"), "layers[2].name", ["duplicate", "layers[0]"]),
        (lambda s: s["layers"][0].update(name="input"), "layers[0].name", ["reserved"]),
        (lambda s: s["layers"][3].update(inputs=["b"]), "layers[3].inputs", ["at least two"]),
        (lambda s: s["layers"][1].update(inputs=["a", "input"]), "layers[1].inputs", ["exactly one"]),
        (lambda s: s["layers"][3].pop("inputs"), "layers[3].inputs", ["at least two"]),
    ],
)
def test_graph_mistakes_are_invalid_input_that_names_the_layers(change, path: str, words: list[str]) -> None:
    spec = json.loads(json.dumps(RESIDUAL))
    change(spec)
    with pytest.raises(SpecError) as raised:
        validate("g.json", spec)
    messages = {format_path(p.path): p.message for p in raised.value.problems}
    assert path in messages, messages
    message = messages[path]
    for word in words:
        assert word in message


def test_graph_mistake_exits_2_via_cli(tmp_path: Path) -> None:
    spec = json.loads(json.dumps(RESIDUAL))
    spec["layers"][3]["inputs"] = ["nope", "input"]
    path = tmp_path / "g.json"
    path.write_text(json.dumps(spec, indent=1))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert "layers[3].inputs[0]" in result.output and "nope" in result.output


def test_add_with_different_shapes_is_an_error_naming_both_branches(tmp_path: Path) -> None:
    spec = json.loads(json.dumps(RESIDUAL))
    spec["layers"][2].update(stride=2)
    path = tmp_path / "g.json"
    path.write_text(json.dumps(spec))
    result = runner.invoke(app, ["check", str(path), "-f", "json"])
    assert result.exit_code == 1
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "CC105"]
    assert "4×4×4" in finding["message"] and "8×8×4" in finding["message"] and "layers[2] b" in finding["message"]
    assert any(fix["path"] == "layers[2]" and fix["set"] == {"stride": 1} for fix in finding["fixes"])
