"""The generated files run on their own: each builds its network, checks convcalc's figures, runs a forward pass
and a training step, and exits 0 — and does nothing else.

The hostile spec's two files run as real programs (``python <file>`` in a fresh process, as a user runs them,
and must do nothing but their job); every other file runs in this process as ``__main__`` (runpy), in an empty
working directory with its own argv: the same code, without paying TensorFlow's import again for each of them.
The small examples run in full; the big ones (vgg16, alexnet, alexnet_two_tower, mobilenet_v1: a training step at
224×224 or 227×227) are exported and compiled (tests/export/test_cli.py), verified in memory, and their tf.nn
code is checked against Keras in process (tests/export/test_differential.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc.cli import app
from tests.export.strategies import HOSTILE_NAMES
from tests.helpers import EXAMPLES

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]

RUN_EXAMPLES = [
    "mnist_cnn",
    "lenet5",
    "softmax_regression",
    "alexnet_conv1",
    "digits_cnn",
    "inception_block",
    "unet_small",
]
TARGETS = {"python": ".py", "tf-nn": "_nn.py"}

HOSTILE_SPEC: dict[str, Any] = {
    "name": "x'); __import__('os').system('touch PWNED') #",
    "input": [12, 12, 2],
    "classes": 4,
    "layers": [
        {"type": "conv", "filters": 3, "kernel": 3, "padding": 1, "name": HOSTILE_NAMES[1]},
        {"type": "batchnorm", "name": HOSTILE_NAMES[2]},
        {"type": "relu", "name": "block_in"},
        {"type": "conv", "filters": 3, "kernel": 3, "padding": "same", "name": HOSTILE_NAMES[3]},
        {"type": "dropout", "rate": 0.25, "name": HOSTILE_NAMES[4]},
        {"type": "add", "inputs": ["block_in", HOSTILE_NAMES[4]], "name": "a\nb"},
        {"type": "pool", "mode": "l2", "kernel": 2, "padding": "same", "name": HOSTILE_NAMES[5]},
        {"type": "conv", "filters": 4, "kernel": [3, 2], "dilation": 2, "padding": "same", "name": HOSTILE_NAMES[6]},
        {"type": "pool", "mode": "avg", "kernel": 2, "name": HOSTILE_NAMES[7]},
        {"type": "fc", "units": 5, "name": "__import__('os').system('touch PWNED2')"},
        {"type": "conv", "filters": 4, "kernel": 1, "name": HOSTILE_NAMES[9]},
    ],
}
NO_CLASSES_SPEC: dict[str, Any] = {
    "input": [6, 6, 1],
    "layers": [{"type": "conv", "filters": 2, "kernel": 3, "bias": False}, {"type": "pool", "kernel": 2}],
}
NO_PARAMS_SPEC: dict[str, Any] = {"input": [4, 4, 1], "layers": [{"type": "relu"}, {"type": "flatten"}]}


IN_A_PROCESS = {"hostile-python", "hostile-tf-nn"}
"""The files run as real programs; the rest run in this process."""


@dataclass(frozen=True)
class Run:
    script: Path
    workdir: Path
    """An empty directory the script ran in: it must stay empty."""
    result: subprocess.CompletedProcess[str]


def _export(spec: Path, target: str, output: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(spec), "--to", target, "-o", str(output)])
    assert result.exit_code == 0, result.output


def _run_process(script: Path, workdir: Path) -> Run:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return Run(script, workdir, result)


def _run_here(script: Path, workdir: Path, keras: Any) -> Run:
    """Run ``script`` as ``__main__`` in this process, in ``workdir``, with only its own name as argv."""
    stdout, stderr = io.StringIO(), io.StringIO()
    argv, cwd = sys.argv, Path.cwd()
    sys.argv = [str(script)]
    os.chdir(workdir)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            runpy.run_path(str(script), run_name="__main__")
        code: Any = 0
    except SystemExit as exit:
        code = exit.code
    finally:
        sys.argv = argv
        os.chdir(cwd)
        keras.backend.clear_session()
    returncode = code if isinstance(code, int) else 1
    result = subprocess.CompletedProcess([str(script)], returncode, stdout.getvalue(), stderr.getvalue())
    return Run(script, workdir, result)


@pytest.fixture(scope="module")
def runs(keras: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Export every script, then run them: the real programs in the background, the others here; keyed
    ``<spec>-<target>``."""
    root = tmp_path_factory.mktemp("generated")
    specs = {name: EXAMPLES / f"{name}.json" for name in RUN_EXAMPLES}
    for name, spec in (("hostile", HOSTILE_SPEC), ("no_classes", NO_CLASSES_SPEC), ("no_params", NO_PARAMS_SPEC)):
        specs[name] = root / f"{name}.json"
        specs[name].write_text(json.dumps(spec), encoding="utf-8")
    jobs: dict[str, tuple[Path, Path]] = {}
    for name, spec in specs.items():
        for target, suffix in TARGETS.items():
            script = root / f"{name}{suffix}"
            _export(spec, target, script)
            jobs[f"{name}-{target}"] = (script, root / f"cwd-{name}-{target}")
    # A generated file whose figure was tampered with must notice and exit 1.
    tampered = root / "tampered.py"
    source = (root / "lenet5.py").read_text(encoding="utf-8")
    tampered.write_text(source.replace("TOTAL_PARAMS = 61706", "TOTAL_PARAMS = 61707"), encoding="utf-8")
    jobs["tampered"] = (tampered, root / "cwd-tampered")
    for _, workdir in jobs.values():
        workdir.mkdir()
    with ThreadPoolExecutor(max_workers=len(IN_A_PROCESS)) as pool:
        programs = {key: pool.submit(_run_process, *jobs[key]) for key in IN_A_PROCESS}
        done = {
            key: _run_here(script, workdir, keras) for key, (script, workdir) in jobs.items() if key not in programs
        }
        return done | {key: future.result() for key, future in programs.items()}


KEYS = [f"{name}-{target}" for name in [*RUN_EXAMPLES, "hostile", "no_classes"] for target in TARGETS]


@pytest.mark.parametrize("key", KEYS)
def test_generated_file_runs_and_checks_its_figures(runs: dict[str, Run], key: str) -> None:
    run = runs[key]
    output = run.result.stdout
    assert run.result.returncode == 0, output + run.result.stderr
    assert "as convcalc computed" in output
    assert "forward pass: [2, " in output
    assert "training step" in output and "loss" in output
    assert list(run.workdir.iterdir()) == []  # it wrote nothing


def test_keras_file_prints_the_summary(runs: dict[str, Run]) -> None:
    output = runs["mnist_cnn-python"].result.stdout
    assert "Total params: 3,274,634" in output
    assert "model.count_params() = 3,274,634, as convcalc computed" in output
    assert "sparse_categorical_crossentropy" in output


def test_tf_nn_file_holds_filters_of_shape_f_f_d_k(runs: dict[str, Run]) -> None:
    output = runs["mnist_cnn-tf-nn"].result.stdout
    assert "conv1_kernel:0" in output and "[5, 5, 1, 32]" in output
    assert "fc1_kernel:0" in output and "[3136, 1024]" in output


def test_hostile_names_run_as_data_and_do_nothing_else(runs: dict[str, Run]) -> None:
    for target in TARGETS:
        run = runs[f"hostile-{target}"]
        assert run.result.returncode == 0, run.result.stderr
        assert not list(run.workdir.iterdir())
        assert not list(run.script.parent.glob("PWNED*"))
    source = runs["hostile-python"].script.read_text(encoding="utf-8")
    assert "'ﬁlter'" in source  # the spec's name, kept as an escaped literal; the Keras layer is 'filter'
    assert "name='filter'" in source


def test_a_network_without_parameters_runs_without_a_training_step(runs: dict[str, Run]) -> None:
    for target in TARGETS:
        run = runs[f"no_params-{target}"]
        assert run.result.returncode == 0, run.result.stderr
        assert "nothing to train" in run.result.stdout


def test_a_tampered_figure_makes_the_file_exit_1(runs: dict[str, Run]) -> None:
    run = runs["tampered"]
    assert run.result.returncode == 1
    assert "model.count_params() = 61,706, convcalc computed 61,707" in run.result.stderr
