"""Hostile input (issue 11): no traceback, no hang, no quadratic walk, and every limit refused at once, by name.

Big inputs are generated here, at the real limits, never committed. The costs are pinned by counting the
work (difflib searches, membership tests, validated chunks, regex memory) rather than by timing, except
where a generous wall-clock bound is the clearest statement (ten or more times what the code takes).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcalc import graph, loading
from convcalc.analysis import NetworkFacts, analyze
from convcalc.checking import load_any
from convcalc.importers import keras as keras_import
from convcalc.loading import (
    MAX_INPUTS,
    MAX_KEYS,
    MAX_LIST_ITEMS,
    MAX_PROBLEMS,
    MAX_SPEC_BYTES,
    MAX_STRING,
    SpecError,
    format_path,
    load_spec,
    scan_positions,
    validate,
)
from convcalc.rules.graph import size_locked
from convcalc.spec import MAX_LAYERS, Network
from tests.helpers import ROOT, sequential

# --- helpers -----------------------------------------------------------------------------------------------


def relus(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"type": "relu", **fields} for _ in range(n)]


def spec_text(layers: list[dict[str, Any]], **top: Any) -> str:
    return json.dumps({"input": [8, 8, 1], **top, "layers": layers}, separators=(",", ":"))


def refusal(path: Path) -> tuple[str, str]:
    """The one problem loading ``path`` gives, as (path, message)."""
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    problems = caught.value.problems
    assert len(problems) == 1, problems
    return format_path(problems[0].path), problems[0].message


class NeverValidate:
    """Stands in for the layers' validator where a limit must refuse the input first."""

    def validate_python(self, value: Any) -> Any:
        raise AssertionError("validated layers that a limit should have refused first")


@contextmanager
def never_parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fails the test if the text reaches pydantic, or json.loads more than once: a limit must stop it before.
    The one parse allowed is parse_plain's of a text of at most PLAIN_CHARS (which then finds the limit broken
    and hands the text to the scan); a longer text is never parsed."""
    real = json.loads
    parsed: list[int] = []

    def parse_once(text: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(len(text))
        if len(text) > loading.PLAIN_CHARS or len(parsed) > 1:
            raise AssertionError("parsed text that a limit should have refused first")
        return real(text, *args, **kwargs)

    monkeypatch.setattr(loading.json, "loads", parse_once)
    monkeypatch.setattr(loading, "_layer_list", lambda: NeverValidate())
    monkeypatch.setattr(loading, "validate_by_kind", lambda *args: pytest.fail("validated a refused text"))
    yield


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


def test_a_spec_with_thousands_of_mistakes_shows_the_first_and_counts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "typos.json"
    path.write_text(spec_text([{"type": "relu", "inputs": [f"missing{i}"]} for i in range(3000)]))
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    problems = caught.value.problems
    assert len(problems) == MAX_PROBLEMS
    assert format_path(problems[0].path) == "layers[0].inputs[0]"
    assert problems[-1].message == f"… and more problems: convcalc stops after the first {MAX_PROBLEMS - 1}"


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
        self.names.taken = CountingSet(self.names.taken)

    return wrapped


def test_keras_names_skip_names_already_taken() -> None:
    layers = [keras_relu("a_2"), keras_relu("a"), keras_relu("a"), keras_relu("a"), keras_relu("a_3")]
    spec = keras_import.spec_from_keras_config(sequential(layers))
    assert [layer["name"] for layer in spec["layers"]] == ["a_2", "a", "a_3", "a_4", "a_3_2"]


# --- the limits: refused at once, by name ------------------------------------------------------------------


def test_one_layer_past_the_limit_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: 1,000,001 layers were refused by pydantic after validating them all (15 s, 1.4 GB).
    path = tmp_path / "deep.json"
    path.write_text(spec_text(relus(MAX_LAYERS + 1)))
    with never_parsed(monkeypatch):
        where, message = refusal(path)
    assert where == "layers"
    assert message == f"more than {MAX_LAYERS:,} layers; convcalc checks at most {MAX_LAYERS:,}"


def test_a_long_text_past_a_limit_is_refused_before_any_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past PLAIN_CHARS, parse_plain leaves the text alone: the scan refuses it before json.loads sees it.
    path = tmp_path / "deep.json"
    path.write_text(spec_text(relus(MAX_LAYERS + 1)) + " " * loading.PLAIN_CHARS)
    monkeypatch.setattr(loading.json, "loads", lambda *args, **kwargs: pytest.fail("parsed a refused text"))
    assert refusal(path) == ("layers", f"more than {MAX_LAYERS:,} layers; convcalc checks at most {MAX_LAYERS:,}")


def test_the_layer_limit_itself_is_admitted(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(spec_text(relus(MAX_LAYERS)))
    assert len(load_spec(str(path)).network.layers) == MAX_LAYERS


def test_data_past_the_layer_limit_is_refused_without_validating(monkeypatch: pytest.MonkeyPatch) -> None:
    # Data that never was text (an imported Keras model) is held to the same limit, before pydantic.
    monkeypatch.setattr(loading, "_layer_list", lambda: NeverValidate())
    with pytest.raises(SpecError) as caught:
        validate("model.keras", {"input": [8, 8, 1], "layers": relus(MAX_LAYERS + 1)})
    assert [(format_path(p.path), p.message) for p in caught.value.problems] == [
        ("layers", f"{MAX_LAYERS + 1:,} layers; convcalc checks at most {MAX_LAYERS:,}")
    ]


def test_data_past_the_input_limits_is_refused_without_validating(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading, "_layer_list", lambda: NeverValidate())
    wide = {"type": "add", "inputs": ["input"] * (MAX_LIST_ITEMS + 1)}
    merges = [{"type": "add", "inputs": ["input"] * MAX_LIST_ITEMS} for _ in range(MAX_INPUTS // MAX_LIST_ITEMS)]
    with pytest.raises(SpecError) as caught:
        validate("model.keras", {"input": [8, 8, 1], "layers": [wide, *merges]})
    assert [(format_path(p.path), p.message) for p in caught.value.problems] == [
        (
            "layers[0].inputs",
            f"a list of more than {MAX_LIST_ITEMS:,} items; the limit is {MAX_LIST_ITEMS:,} (the inputs of a merge,"
            " rule codes)",
        ),
        (
            "layers",
            f"the layers' inputs name more than {MAX_INPUTS:,} layers in all; convcalc checks at most {MAX_INPUTS:,}",
        ),
    ]


@pytest.mark.parametrize("escaped", [False, True], ids=["plain names", "escaped names"])
def test_a_merge_past_the_list_limit_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, escaped: bool
) -> None:
    # Plain names are counted in one match; names with escapes are walked token by token: both count.
    name = '"\\u0069nput"' if escaped else '"input"'
    path = tmp_path / "wide.json"
    path.write_text(
        '{"input":[8,8,1],"layers":[{"type":"concat","inputs":[' + ",".join([name] * (MAX_LIST_ITEMS + 1)) + "]}]}"
    )
    with never_parsed(monkeypatch):
        where, message = refusal(path)
    assert where == "layers[0].inputs"
    assert message.startswith(f"a list of more than {MAX_LIST_ITEMS:,} items")


def test_a_merge_at_the_list_limit_is_admitted(tmp_path: Path) -> None:
    branches = [{"type": "relu", "name": f"b{i}", "inputs": ["input"]} for i in range(MAX_LIST_ITEMS)]
    merge = {"type": "concat", "inputs": [f"b{i}" for i in range(MAX_LIST_ITEMS)]}
    path = tmp_path / "wide.json"
    path.write_text(spec_text([*branches, merge]))
    assert load_spec(str(path)).network.layers[-1].inputs is not None


@pytest.mark.parametrize("escaped", [False, True], ids=["plain names", "escaped names"])
def test_inputs_past_the_total_are_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, escaped: bool
) -> None:
    name = '"\\u0069nput"' if escaped else '"input"'
    per_layer = 16
    merge = '{"type":"add","inputs":[' + ",".join([name] * per_layer) + "]}"
    path = tmp_path / "edges.json"
    path.write_text('{"input":[8,8,1],"layers":[' + ",".join([merge] * (MAX_INPUTS // per_layer + 1)) + "]}")
    with never_parsed(monkeypatch):
        where, message = refusal(path)
    assert where == f"layers[{MAX_INPUTS // per_layer}].inputs"
    assert message == (
        f"the layers' inputs name more than {MAX_INPUTS:,} layers in all; convcalc checks at most {MAX_INPUTS:,}"
    )


def test_an_object_past_the_key_limit_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(spec_text([{"type": "relu", **{f"k{i}": i for i in range(MAX_KEYS)}}]))
    with never_parsed(monkeypatch):
        where, message = refusal(path)
    assert where == "layers[0]"
    assert message.startswith(f"an object with more than {MAX_KEYS} keys")


@pytest.mark.parametrize("where", ["value", "key", "escapes", "escaped quotes"])
def test_a_string_past_the_length_limit_is_refused_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    long = {"value": "n" * (MAX_STRING + 1), "escapes": "\\n" * MAX_STRING, "escaped quotes": '\\"' * MAX_STRING}
    if where == "key":
        text = '{"input":[8,8,1],"layers":[{"type":"relu","' + "k" * (MAX_STRING + 1) + '":1}]}'
    else:
        text = '{"input":[8,8,1],"layers":[{"type":"relu","name":"' + long[where] + '"}]}'
    path = tmp_path / "long.json"
    path.write_text(text)
    with never_parsed(monkeypatch):
        found, message = refusal(path)
    assert found == ("layers[0]" if where == "key" else "layers[0].name")
    assert message.startswith(f"a {'key' if where == 'key' else 'string'} of more than {MAX_STRING:,} characters")


def test_a_string_at_the_length_limit_reaches_validation(tmp_path: Path) -> None:
    path = tmp_path / "long.json"
    path.write_text(spec_text([{"type": "relu", "name": "n" * MAX_STRING}]))
    assert refusal(path) == ("layers[0].name", "must be 1 to 200 characters long")


def test_a_giant_string_costs_no_memory_in_the_scan() -> None:
    # Before: the regex's backtracking stack took 125 bytes per character (2.5 GB for a 20 MB string).
    text = '{"input":[8,8,1],"layers":[{"type":"relu","junk":"' + "x" * (MAX_SPEC_BYTES - 100) + '"}]}'
    tracemalloc.start()
    try:
        scan = scan_positions(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert scan.refusal is not None and scan.refusal.path == ("layers", 0, "junk")
    assert peak < 4 * 1024 * 1024, f"{peak:,} bytes"


def test_an_unterminated_string_is_left_to_the_parser(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('{"input": [8, 8, 1], "layers": [{"type": "relu", "name": "r\\"')
    where, message = refusal(path)
    assert where == "(top level)" and message.startswith("malformed JSON: Unterminated string")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("plain", "plain"),
        ("a\\\\", "a\\"),
        ('quote\\"d', 'quote"d'),
        ('\\\\\\"', '\\"'),
        ("\\u0041", "A"),
        ("comma, and ] bracket", "comma, and ] bracket"),
    ],
)
def test_strings_with_escapes_load_and_keep_positions(tmp_path: Path, name: str, expected: str) -> None:
    text = '{\n  "input": [8, 8, 1],\n  "layers": [\n    {"type": "relu", "name": "' + name + '"},\n'
    text += '    {"type": "relu", "inputs": ["' + name + '"], "name": "x"}\n  ]\n}'
    path = tmp_path / "escapes.json"
    path.write_text(text)
    loaded = load_spec(str(path))
    assert loaded.network.layers[0].name == expected
    assert loaded.network.layers[1].inputs == (expected,)
    assert loaded.source.locate(("layers", 1, "name")) == (5, text.splitlines()[4].index('"name"') + 1)


def test_many_mistakes_validate_only_until_enough_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each layer wrong in sixty ways: pydantic is asked about one chunk, not all of them.
    chunks = []
    real = loading._layer_list()

    class Counting:
        def validate_python(self, value: Any) -> Any:
            chunks.append(len(value))
            return real.validate_python(value)

    monkeypatch.setattr(loading, "_layer_list", lambda: Counting())
    junk = {f"junk{k}": k for k in range(60)}
    path = tmp_path / "junk.json"
    path.write_text(spec_text(relus(2000, **junk)))
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    assert len(chunks) == 1
    assert len(caught.value.problems) == MAX_PROBLEMS
    assert format_path(caught.value.problems[0].path) == "layers[0].junk0"


def test_mistakes_in_layers_and_the_top_level_are_reported_in_field_order(tmp_path: Path) -> None:
    path = tmp_path / "both.json"
    path.write_text(json.dumps({"layers": [{"type": "relu", "junk": 1}], "input": [8, 8], "extra": 1}))
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    assert [format_path(p.path) for p in caught.value.problems] == ["input", "layers[0].junk", "extra"]


def test_the_file_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_SPEC_BYTES + 1)  # sparse: nothing to read
    assert refusal(path) == ("(top level)", f"file is {MAX_SPEC_BYTES + 1:,} bytes; the limit is {MAX_SPEC_BYTES:,}")


# --- Keras model files -------------------------------------------------------------------------------------


def write_archive(path: Path, members: int, config: dict[str, Any] | None = None) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config or sequential([keras_relu("r")])))
        for i in range(members - 1):
            archive.writestr(f"assets/{i}", "")


def keras_refusal(path: Path, monkeypatch: pytest.MonkeyPatch | None = None) -> str:
    if monkeypatch is not None:  # the member count is read from the end record: zipfile never lists them
        monkeypatch.setattr(keras_import.zipfile, "ZipFile", None)
    with pytest.raises(SpecError) as caught:
        load_any(str(path))
    (problem,) = caught.value.problems
    return problem.message


def test_an_archive_at_the_member_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    write_archive(path, keras_import.MAX_ARCHIVE_MEMBERS)
    assert [layer.type for layer in load_any(str(path)).network.layers] == ["relu"]


def test_an_archive_past_the_member_limit_is_refused_before_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: a .keras of 1,000,000 empty members took 9 s and 0.6 GB to list.
    path = tmp_path / "model.keras"
    write_archive(path, keras_import.MAX_ARCHIVE_MEMBERS + 1)
    limit = keras_import.MAX_ARCHIVE_MEMBERS
    assert keras_refusal(path, monkeypatch) == (
        f"the archive declares {limit + 1:,} members; a .keras model has a handful and the limit is {limit:,}"
    )


def zip64_end(members: int, directory: int, comment: bytes = b"") -> bytes:
    """Just the end of a zip64 archive: its end record, locator and classic end record (counts saturated)."""
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, members, members, directory, 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, len(comment))
    return record + locator + end + comment


@pytest.mark.parametrize("comment", [b"", b"a comment PK"], ids=["no comment", "comment"])
def test_a_zip64_member_count_is_read_from_its_end_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, comment: bytes
) -> None:
    path = tmp_path / "model.keras"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100 + zip64_end(10**9, 46 * 10**9, comment))
    assert keras_refusal(path, monkeypatch).startswith("the archive declares 1,000,000,000 members")


def test_an_archive_whose_directory_is_too_large_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.keras"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100 + zip64_end(3, keras_import.MAX_DIRECTORY_BYTES + 1))
    assert keras_refusal(path, monkeypatch) == (
        f"the archive's directory is {keras_import.MAX_DIRECTORY_BYTES + 1:,} bytes;"
        f" the limit is {keras_import.MAX_DIRECTORY_BYTES:,}"
    )


def test_an_archive_that_understates_its_members_is_refused_after_listing(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    write_archive(path, keras_import.MAX_ARCHIVE_MEMBERS + 1)
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<2H", data, end + 8, 3, 3)  # the end record claims three members
    path.write_bytes(bytes(data))
    assert keras_refusal(path).startswith(f"the archive holds {keras_import.MAX_ARCHIVE_MEMBERS + 1:,} members")


def test_a_keras_model_past_the_layer_limit_stops_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading, "_layer_list", lambda: NeverValidate())  # refused before the spec is validated
    config = sequential([keras_relu(f"r{i}") for i in range(MAX_LAYERS + 1)])
    with pytest.raises(SpecError) as caught:
        keras_import.spec_from_keras_config(config, "model.json")
    assert [p.message for p in caught.value.problems] == [
        f"the model makes more than {MAX_LAYERS:,} spec layers; convcalc checks at most {MAX_LAYERS:,}"
    ]


def test_a_keras_json_over_the_config_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keras_import, "MAX_CONFIG_BYTES", 1000)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(sequential([keras_relu(f"r{i}") for i in range(100)])))
    with pytest.raises(SpecError) as caught:
        keras_import.spec_from_keras_file(str(path))
    assert "the limit is 1,000" in caught.value.problems[0].message


def test_importer_problems_are_capped_and_keep_the_list_of_kinds() -> None:
    config = sequential([{"class_name": "Lambda", "config": {"name": f"l{i}"}} for i in range(200)])
    with pytest.raises(SpecError) as caught:
        keras_import.spec_from_keras_config(config)
    problems = caught.value.problems
    assert len(problems) == MAX_PROBLEMS
    assert problems[-2].message.startswith("… and 152 more problems")
    assert problems[-1].message.startswith("convcalc imports these Keras layers")


# --- the command line --------------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["table", "json"])
def test_the_layer_limit_checks_in_seconds(tmp_path: Path, output: str) -> None:
    # The largest admitted chain (bench_limits.py measures more shapes): well inside the 10 s goal.
    layers = []
    while len(layers) < MAX_LAYERS:
        layers += [{"type": "conv", "filters": 16, "kernel": 3, "padding": 1}, {"type": "relu"}]
    path = tmp_path / "deep.json"
    path.write_text(spec_text(layers[:MAX_LAYERS]))
    start = time.perf_counter()
    process = run_cli("check", str(path), "--format", output)
    assert process.returncode in (0, 1), process.stderr
    assert time.perf_counter() - start < 10


def test_refusals_exit_2_naming_file_and_field_without_a_traceback(tmp_path: Path) -> None:
    cases = {
        "layers.json": (spec_text(relus(MAX_LAYERS + 1)), "layers: more than"),
        "string.json": (spec_text([{"type": "relu", "name": "n" * (MAX_STRING + 1)}]), "layers[0].name: a string of"),
        "keys.json": (spec_text([{"type": "relu", **{f"k{i}": i for i in range(MAX_KEYS)}}]), "layers[0]: an object"),
    }
    for name, (text, _) in cases.items():
        (tmp_path / name).write_text(text)
    process = run_cli("check", *(str(tmp_path / name) for name in cases))
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    bullets = [line for line in process.stderr.splitlines() if line.startswith("  - ")]
    for (name, (_, expected)), bullet in zip(cases.items(), bullets, strict=True):
        # file:line:column: path: message
        assert bullet.startswith(f"  - {tmp_path / name}:1:") and f": {expected}" in bullet, bullet


def test_bench_limits_builds_what_it_claims() -> None:
    # The benchmark's inputs sit at the limits: the admitted ones inside, the refused ones just past.
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_limits
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for case in bench_limits.CASES:
        if case.build is None or "model.to_json" in case.name:
            continue
        text = case.build()
        admitted = scan_positions(text).refusal is None and len(text.encode()) <= MAX_SPEC_BYTES
        assert admitted == case.admitted, case.name
