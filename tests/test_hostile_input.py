"""Hostile input (issue 11): no traceback, no hang, no quadratic walk, and every limit refused at once, by name.

Big inputs are generated here, at the real limits, never committed. The costs are pinned by counting the
work (difflib searches, membership tests, validated chunks, regex memory) rather than by timing, except
where a generous wall-clock bound is the clearest statement (ten or more times what the code takes).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcalc import graph
from convcalc.analysis import NetworkFacts, analyze
from convcalc.checking import load_any
from convcalc.importers import keras as keras_import
from convcalc.loading import (
    SpecError,
)
from convcalc.rules.graph import size_locked
from convcalc.spec import Network
from tests.helpers import ROOT

# --- helpers -----------------------------------------------------------------------------------------------


@contextmanager
def no_hang(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in the test if the block takes longer (interrupts a blocking open, too)."""
    import signal

    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "convcalc", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


# --- files that are not regular files ----------------------------------------------------------------------

COMMANDS = ["check", "draw", "solve", "export", "verify"]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "p.json"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_a_fifo_is_refused_by_every_command_without_blocking(fifo: Path, command: str) -> None:
    # Before: `convcalc check p.json` blocked forever in open(), waiting for a writer.
    process = run_cli(command, str(fifo), timeout=30)
    assert process.returncode == 2, process.stderr
    assert f"{fifo}: is not a regular file but a named pipe" in process.stderr
    assert "Traceback" not in process.stderr


def test_import_of_a_fifo_exits_2_without_blocking(fifo: Path) -> None:
    process = run_cli("import", str(fifo), timeout=30)
    assert process.returncode == 2 and "Traceback" not in process.stderr


@pytest.mark.parametrize("kind", ["fifo", "device", "socket", "directory"])
def test_the_loader_refuses_what_is_not_a_regular_file_by_name(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = tmp_path / "spec.json"
        os.mkfifo(path)
        expected = "is not a regular file but a named pipe"
    elif kind == "device":
        path = Path(os.devnull)
        expected = "is not a regular file but a character device"
    elif kind == "socket":
        path = tmp_path / "s.json"
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        expected = "is not a regular file but a socket"
    else:
        path = tmp_path / "spec.json"
        path.mkdir()
    with no_hang(10), pytest.raises(SpecError) as caught:
        load_any(str(path))
    if kind == "directory":
        expected = "is a directory, not a spec file"
    else:
        expected += "; convcalc reads only regular files"
    assert [p.message for p in caught.value.problems] == [expected]


def test_a_fifo_named_like_a_keras_model_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    os.mkfifo(path)
    with no_hang(10), pytest.raises(SpecError) as caught:
        keras_import.spec_from_keras_file(str(path))
    assert "is not a regular file but a named pipe" in caught.value.problems[0].message
    with no_hang(10):
        assert not keras_import.is_keras_file(str(path))


# --- quadratic walks made linear ----------------------------------------------------------------------------


def test_unknown_inputs_get_a_bounded_number_of_did_you_mean_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: difflib over every earlier name for each of 2,000 unknown inputs (127 s in the issue).
    searched: list[int] = []
    real = graph.difflib.get_close_matches

    def counting(word: str, candidates: list[str], *args: Any, **kwargs: Any) -> list[str]:
        searched.append(len(candidates))
        return real(word, candidates, *args, **kwargs)

    monkeypatch.setattr(graph.difflib, "get_close_matches", counting)
    layers: list[dict[str, Any]] = []
    for i in range(2000):
        layers += [{"type": "relu", "name": f"conv_block_{i}"}, {"type": "relu", "inputs": [f"conv_blok_{i}"]}]
    problems = graph.graph_problems(Network.model_validate({"input": [8, 8, 1], "layers": layers}))
    assert len(problems) == 2000
    assert len(searched) == graph.MAX_SUGGESTIONS
    assert max(searched) <= graph.SUGGESTION_CANDIDATES + 1
    assert "did you mean 'conv_block_0'?" in problems[0][1]
    assert "did you mean" not in problems[-1][1]
    assert "earlier names: 'input', 'conv_block_0'" in problems[-1][1]


def test_graph_problems_stop_at_most() -> None:
    layers = [{"type": "relu", "inputs": [f"missing{i}"]} for i in range(5000)]
    network = Network.model_validate({"input": [8, 8, 1], "layers": layers})
    assert len(graph.graph_problems(network, most=10)) == 10


def brute_force_size_locked(net: NetworkFacts) -> set[int]:
    """The definition, read literally: a layer is locked when any reader is a merge whose inputs share one
    H×W, or a shape-keeping layer that is itself locked (the quadratic version the rule used to run)."""
    readers: list[list[int]] = [[] for _ in net.layers]
    for layer in net.layers:
        for source in layer.inputs:
            if source >= 0:
                readers[source].append(layer.index)
    locked: set[int] = set()
    for layer in reversed(net.layers):
        for r in readers[layer.index]:
            reader = net.layers[r]
            fits = len({(s.height, s.width) for s in reader.input_shapes}) == 1
            if (reader.traits.merge and fits) or (reader.traits.keeps_shape and r in locked):
                locked.add(layer.index)
    return locked


@st.composite
def merge_graphs(draw: st.DrawFn) -> dict[str, Any]:
    """Random graphs of convs, pools, relus, adds and concats reading earlier layers or the input."""
    layers: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 14))):
        names = ["input", *(f"l{j}" for j in range(i))]
        kind = draw(st.sampled_from(["conv", "pool", "relu", "add", "concat"]))
        if kind in ("add", "concat"):
            reads = draw(st.lists(st.sampled_from(names), min_size=2, max_size=4))
            layer: dict[str, Any] = {"type": kind, "inputs": reads}
        else:
            layer = {"type": kind, "inputs": [draw(st.sampled_from(names))]}
            if kind == "conv":
                layer.update(filters=2, kernel=draw(st.sampled_from([1, 3])), padding=draw(st.sampled_from([0, 1])))
            elif kind == "pool":
                layer.update(kernel=2, stride=draw(st.sampled_from([1, 2])))
        layers.append({**layer, "name": f"l{i}"})
    return {"input": [8, 8, 2], "layers": layers}


@given(merge_graphs())
def test_size_locked_agrees_with_the_definition(spec: dict[str, Any]) -> None:
    net = analyze(Network.model_validate(spec))
    assert size_locked(net) == brute_force_size_locked(net)


def test_size_locked_is_linear_in_a_merge_of_thousands() -> None:
    # Before: the input-shape set of the merge rebuilt for each of its 3,000 sources (0.9 s here; now 2 ms).
    layers: list[dict[str, Any]] = [{"type": "relu", "name": f"r{i}", "inputs": ["input"]} for i in range(3000)]
    layers.append({"type": "concat", "inputs": [f"r{i}" for i in range(3000)]})
    net = analyze(Network.model_validate({"input": [8, 8, 1], "layers": layers}))
    start = time.perf_counter()
    assert size_locked(net) == set(range(3000))
    assert time.perf_counter() - start < 0.25


class CountingSet(set[str]):
    """A set that counts membership tests."""

    tests = 0

    def __contains__(self, item: object) -> bool:
        CountingSet.tests += 1
        return super().__contains__(item)


def sequential(layers: list[dict[str, Any]], shape: tuple[int, ...] = (8, 8, 1)) -> dict[str, Any]:
    entry = {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, *shape]}}
    return {"class_name": "Sequential", "config": {"name": "m", "layers": [entry, *layers]}}


def keras_relu(name: str) -> dict[str, Any]:
    return {"class_name": "ReLU", "config": {"name": name}}


def test_keras_names_made_unique_in_linear_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: each of 10,000 layers named "a" walked a_2, a_3, … from the start (28 s in the issue).
    CountingSet.tests = 0
    monkeypatch.setattr(keras_import._Importer, "__init__", _counting_init(keras_import._Importer.__init__))
    spec = keras_import.spec_from_keras_config(sequential([keras_relu("a") for _ in range(10_000)]))
    names = [layer["name"] for layer in spec["layers"]]
    assert names[:3] == ["a", "a_2", "a_3"] and names[-1] == "a_10000"
    assert len(set(names)) == 10_000
    assert CountingSet.tests <= 3 * 10_000


def _counting_init(init: Any) -> Any:
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.names = CountingSet(self.names)

    return wrapped


def test_keras_names_skip_names_already_taken() -> None:
    layers = [keras_relu("a_2"), keras_relu("a"), keras_relu("a"), keras_relu("a"), keras_relu("a_3")]
    spec = keras_import.spec_from_keras_config(sequential(layers))
    assert [layer["name"] for layer in spec["layers"]] == ["a_2", "a", "a_3", "a_4", "a_3_2"]
