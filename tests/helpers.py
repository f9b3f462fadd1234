"""What many test modules share: the repository's paths, a spec or an example analysed or checked, and the
Hypothesis example counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from hypothesis import settings

from convcalc.analysis import NetworkFacts, analyze
from convcalc.checking import CheckedSpec, check_loaded
from convcalc.findings import Finding
from convcalc.loading import LoadedSpec, SourceMap, load_spec, validate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SVG = "{http://www.w3.org/2000/svg}"


def sequential(layers: list[dict[str, Any]], shape: tuple[int, ...] = (8, 8, 1)) -> dict[str, Any]:
    """A Keras Sequential model's config (``model.to_json()`` as data): an input of ``shape``, then ``layers``."""
    entry = {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, *shape]}}
    return {"class_name": "Sequential", "config": {"name": "m", "layers": [entry, *layers]}}


def example_spec(name: str) -> dict[str, Any]:
    """The spec of ``examples/<name>.json`` as a dict."""
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def analyze_spec(spec: dict[str, Any]) -> NetworkFacts:
    """The facts of a spec given as a dict, validated as a file is (fields and graph)."""
    return analyze(validate("<test>", spec))


def spec_findings(spec: dict[str, Any]) -> list[Finding]:
    """What ``convcalc check`` finds in a spec given as a dict (its enabled rules, the spec's ignores, the fixes)."""
    return check_loaded(LoadedSpec("<test>", validate("<test>", spec), SourceMap())).findings


def analyze_example(name: str) -> NetworkFacts:
    """The facts of ``examples/<name>.json``, loaded as ``convcalc check`` loads it."""
    return analyze(load_spec(str(EXAMPLES / f"{name}.json")).network)


def check_example(name: str) -> CheckedSpec:
    """``examples/<name>.json`` checked as ``convcalc check examples/<name>.json`` run in the repository would."""
    cwd = Path.cwd()
    os.chdir(ROOT)  # file names in reports are relative, as a user would type them
    try:
        return check_loaded(load_spec(f"examples/{name}.json"))
    finally:
        os.chdir(cwd)


def check_spec(spec: dict[str, Any], directory: Path) -> CheckedSpec:
    """A spec given as a dict, written to ``directory``/spec.json and checked as that file."""
    path = directory / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return check_loaded(load_spec(str(path)))


def volumes(svg: str) -> list[ET.Element]:
    """The drawn volumes of a diagram: its groups that carry ``data-volume``."""
    return [g for g in ET.fromstring(svg).iter(f"{SVG}g") if "data-volume" in g.attrib]


DEFAULT_EXAMPLES = 100
"""Examples per property in the default Hypothesis profile (tests/conftest.py)."""


def examples(count: int, **more: Any) -> settings:
    """``@settings`` for a property that wants ``count`` examples in the default profile, scaled with the loaded
    profile (the ``explore`` profile's ten times as many), plus any other settings in ``more``."""
    return settings(max_examples=max(1, count * settings.default.max_examples // DEFAULT_EXAMPLES), **more)


PYTORCH_EXPORTS = (
    ("default", {}),
    ("dynamo", {"dynamo": True, "optimize": False}),
    ("torchscript", {"dynamo": False}),
)
"""PyTorch's three ONNX exports: its default (the dynamo exporter, optimised), the dynamo exporter unoptimised, and
the TorchScript exporter."""


def exported_three_ways(model: Any, sample: Any, folder: str, stem: str) -> list[tuple[str, str]]:
    """``model`` exported on ``sample`` by each of :data:`PYTORCH_EXPORTS` into ``folder``: (exporter, path) pairs.
    For the scripts :func:`exported_by_pytorch` runs (it needs torch)."""
    import torch

    exported = []
    for exporter, options in PYTORCH_EXPORTS:
        path = f"{folder}/{stem}.{exporter}.onnx"
        torch.onnx.export(model, (sample,), path, **options)
        exported.append((exporter, path))
    return exported


def imported_three_ways(model: Any, sample: Any, folder: str, stem: str) -> list[tuple[str, dict[str, Any], Any]]:
    """``model`` exported as :func:`exported_three_ways` does, each file read by the ONNX import and analysed:
    (exporter, spec, facts) triples. For the scripts :func:`exported_by_pytorch` runs."""
    from convcalc.analysis import analyze
    from convcalc.importers.onnx import read_onnx_file
    from convcalc.loading import validate

    imported = []
    for exporter, path in exported_three_ways(model, sample, folder, stem):
        spec = read_onnx_file(path).spec
        imported.append((exporter, spec, analyze(validate("m", spec))))
    return imported


def refusal_of(path: str) -> str:
    """What the ONNX import says of the file at ``path``: ``"read"``, or its refusal's message. For the scripts
    :func:`exported_by_pytorch` runs, on an export convcalc should refuse by name."""
    from convcalc.importers.onnx import read_onnx_file
    from convcalc.loading import SpecError

    try:
        read_onnx_file(path)
    except SpecError as error:
        return str(error)
    return "read"


def pooled_then(folder: Path, op: str, reads: list[str], name: str) -> str:
    """An ONNX file (opset 17) of an AveragePool ``pool`` (3×3, padded 1) of x [1, 4, 6, 6] into p, then one node
    ``name`` of type ``op`` reading p and ``reads`` (x, p, or c: a stored [4, 1, 1] tensor); its path."""
    from tests import optional

    optional.onnx()
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("AveragePool", ["x"], ["p"], name="pool", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node(op, ["p", *reads], ["y"], name=name),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("c", TensorProto.FLOAT, [4, 1, 1], [1.0, 2.0, 3.0, 4.0])],
    )
    path = folder / f"{op}.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return str(path)


def exported_by_pytorch(script: str, *args: str) -> Any:
    """Run ``script`` (it exports with PyTorch and prints one JSON line last) in a process of its own, and return
    that JSON. torch.export, which the dynamo exporter runs, imports triton, and triton's first import after
    TensorFlow's kills the process: this test session may have imported TensorFlow. Needs torch, onnx and
    onnxscript (the caller asks for them, to skip with its reason)."""
    from tests import optional

    optional.torch()
    optional.onnx()
    optional.module("onnxscript", "pip install -e '.[torch]'")
    run = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.splitlines()[-1])
