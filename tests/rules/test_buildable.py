"""CC108: what TensorFlow cannot build although the shapes are sound, and fixes it can. TensorFlow is the oracle:
each flagged layer fails to run without oneDNN, each fix runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from convcalc.analysis import analyze
from convcalc.loading import validate
from convcalc.rules import REGISTRY
from tests.helpers import ROOT, analyze_spec

SAME_TRANSPOSE = {"type": "conv_transpose", "filters": 1, "kernel": [2, 3], "stride": 2, "padding": "same"}
REFUSED: list[dict[str, Any]] = [
    {"type": "conv", "filters": 2, "kernel": 3, "stride": 2, "dilation": 2},
    {"type": "depthwise", "kernel": 3, "stride": [1, 2], "padding": 1},
    {"type": "separable", "filters": 4, "kernel": 3, "stride": [2, 1], "padding": 1},
    {"type": "depthwise", "kernel": 3, "stride": 2, "dilation": 2, "padding": 2},
    {"type": "conv_transpose", "filters": 2, "kernel": 3, "dilation": 2},
    # Keras asks conv2d_transpose for (W − 1)·S rows; "same" would map them back to W − 1, not W.
    {**SAME_TRANSPOSE, "output_padding": [0, 1]},
]
BUILT: list[dict[str, Any]] = [
    {"type": "conv", "filters": 2, "kernel": 3, "dilation": 2},
    {"type": "depthwise", "kernel": 3, "stride": 2, "padding": 1},
    {"type": "conv_transpose", "filters": 2, "kernel": 3, "stride": 2},
    {**SAME_TRANSPOSE, "output_padding": [1, 0]},
]


def one_layer(layer: dict[str, Any]) -> dict[str, Any]:
    return {"input": [16, 16, 4], "layers": [layer]}


def fixed_layers(layer: dict[str, Any]) -> list[dict[str, Any]]:
    [finding] = REGISTRY["CC108"].run(analyze_spec(one_layer(layer)))
    assert finding.fixes, finding.message
    return [{**layer, **fix.set} for fix in finding.fixes]


@pytest.mark.parametrize("layer", REFUSED, ids=lambda layer: layer["type"])
def test_each_refused_layer_gets_one_error_and_fixes_that_clear_it(layer: dict[str, Any]) -> None:
    [finding] = REGISTRY["CC108"].run(analyze_spec(one_layer(layer)))
    assert finding.layer == 0 and "TensorFlow" in finding.message
    for fixed in fixed_layers(layer):
        fixed = {key: value for key, value in fixed.items() if value is not None}
        assert list(REGISTRY["CC108"].run(analyze_spec(one_layer(fixed)))) == [], fixed


@pytest.mark.parametrize("layer", BUILT, ids=lambda layer: layer["type"])
def test_layers_tensorflow_builds_are_not_flagged(layer: dict[str, Any]) -> None:
    assert list(REGISTRY["CC108"].run(analyze_spec(one_layer(layer)))) == []


def test_fixes_are_skipped_when_fixes_are_off() -> None:
    from convcalc.rules import Settings

    [finding] = REGISTRY["CC108"].run(analyze_spec(one_layer(REFUSED[0])), Settings(fixes=False))
    assert finding.fixes == ()


# TensorFlow as the oracle, in a child process: oneDNN off (as on CPUs and GPUs that lack it), one thread.
ORACLE = """
import json, os, sys
import numpy as np
from convcalc.export.keras_build import build_keras_model
from convcalc.loading import validate
results = []
for spec in json.loads(sys.stdin.read()):
    try:
        model = build_keras_model(validate("<t>", spec))
        model(np.zeros((1, *spec["input"]), dtype="float32"))
        results.append("ran")
    except Exception as error:
        results.append(type(error).__name__)
print(json.dumps(results))
"""


@pytest.mark.tensorflow
def test_tensorflow_refuses_what_cc108_flags_and_runs_its_fixes() -> None:
    refused = [one_layer(layer) for layer in REFUSED]
    fixed = [one_layer({k: v for k, v in f.items() if v is not None}) for layer in REFUSED for f in fixed_layers(layer)]
    built = [one_layer(layer) for layer in BUILT]
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.run(
        [sys.executable, "-c", ORACLE],
        input=json.dumps(refused + fixed + built),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    results = json.loads(process.stdout.strip().splitlines()[-1])
    assert all(result != "ran" for result in results[: len(refused)]), list(zip(REFUSED, results, strict=False))
    assert results[len(refused) :] == ["ran"] * (len(fixed) + len(built)), results
    assert all(analyze(validate("<t>", spec)).layers for spec in fixed)
