"""convcalc.loading: every bad file becomes a SpecError naming where and what; positions point at the text."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcalc import loading
from convcalc.loading import LoadedSpec, SpecError, format_path, load_spec
from tests.helpers import EXAMPLES, examples
from tests.strategies import formatted_json, json_values, spec_dicts, spec_like_values

WriteSpec = Callable[..., Path]

GOOD_LAYERS = [
    {"type": "conv", "filters": 8, "kernel": 3, "padding": 1},
    {"type": "relu"},
    {"type": "pool", "kernel": 2},
    {"type": "conv", "filters": 8, "kernel": 3, "stride": 1},
]


def spec(*layers: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"input": [16, 16, 3], "layers": list(layers) or GOOD_LAYERS, **top}


def with_layer(index: int, **changes: Any) -> dict[str, Any]:
    layers = [dict(layer) for layer in GOOD_LAYERS]
    layers[index].update(changes)
    return spec(*layers)


def problems_of(path: Path | str) -> list[loading.Problem]:
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    assert caught.value.file == str(path)
    assert caught.value.problems, "a SpecError must carry at least one problem"
    return caught.value.problems


def only_problem(path: Path | str) -> tuple[str, str]:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    return format_path(problems[0].path), problems[0].message


def offset_of(text: str, line: int, column: int) -> int:
    """The string offset of a 1-based line and column (lines end at ``\\n``)."""
    lines = text.split("\n")
    assert 1 <= line <= len(lines)
    assert 1 <= column <= len(lines[line - 1]) + 1
    return sum(len(previous) + 1 for previous in lines[: line - 1]) + column - 1


# --- files that cannot be read ----------------------------------------------------------------------


def test_a_missing_file(tmp_path: Path) -> None:
    assert only_problem(tmp_path / "nope.json") == ("(top level)", "no such file")


def test_a_directory(tmp_path: Path) -> None:
    _, message = only_problem(tmp_path)
    assert "directory" in message


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x00\x01\x02\x03", id="NUL bytes"),
        pytest.param(b"\x7fELF\x02\x01\x01\x00\x00\x00", id="an ELF header"),
        pytest.param(b'{"input": [1, 1, 1], "layers": [{"type": "relu"}]}\x00', id="NUL after valid JSON"),
    ],
)
def test_binary_junk(write_spec: WriteSpec, content: bytes) -> None:
    _, message = only_problem(write_spec(content))
    assert "binary" in message


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"name": "caf\xe9", "input": [1, 1, 1], "layers": [{"type": "relu"}]}', id="latin-1"),
        pytest.param(b"\xff\xfe{\x00}\x00".replace(b"\x00", b""), id="UTF-16 BOM"),
        pytest.param(b'{"name": "\xc3"}', id="truncated sequence"),
    ],
)
def test_non_utf8_text(write_spec: WriteSpec, content: bytes) -> None:
    _, message = only_problem(write_spec(content))
    assert "UTF-8" in message


def test_a_utf8_bom_is_accepted(write_spec: WriteSpec) -> None:
    path = write_spec(b"\xef\xbb\xbf" + json.dumps(spec()).encode())
    assert len(load_spec(str(path)).network.layers) == len(GOOD_LAYERS)


def test_a_file_over_the_cap(write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_spec(spec())
    monkeypatch.setattr(loading, "MAX_SPEC_BYTES", 50)
    _, message = only_problem(path)
    assert "limit" in message
    assert "50" in message


def test_the_cap_holds_for_a_stream_that_never_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A pipe (or /dev/zero, /dev/stdin …) has no size to stat: the reader must stop at the cap by itself (or
    # refuse what is not a regular file) instead of reading to the end first.
    monkeypatch.setattr(loading, "MAX_SPEC_BYTES", 1000)
    fifo = tmp_path / "stream.json"
    os.mkfifo(fifo)
    reader_done = threading.Event()
    closed_by_timeout = []

    def writer() -> None:
        try:
            with open(fifo, "wb") as stream:
                stream.write(b" " * 5000)
                stream.flush()
                # Keep the pipe open (no EOF) until the loader has given up, or for at most 2 s.
                if not reader_done.wait(timeout=2):
                    closed_by_timeout.append(True)
        except OSError:
            pass  # the loader never read: the pipe broke

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with pytest.raises(SpecError) as caught:
            load_spec(str(fifo))
    finally:
        reader_done.set()
        # Unblock a writer still waiting in open() for a reader that never came.
        unblock = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        thread.join(timeout=5)
        os.close(unblock)
    assert not closed_by_timeout, "load_spec waited for the end of an endless stream"
    assert caught.value.problems


# --- text that is not JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        pytest.param('{\n  "input": [1, 1, 1]\n  "layers": []\n}', 3, 3, id="missing comma"),
        pytest.param(
            '{\n  "input": [1, 1, 1],\n  "layers": [\n    {"type": "relu",}\n  ]\n}', 4, 21, id="trailing comma"
        ),
        pytest.param("", 1, 1, id="empty file"),
        pytest.param("\n\n   ", 3, 4, id="only whitespace"),
        pytest.param('{"input": [1, 1, 1], "layers": [{"type": "relu"}]} {}', 1, 52, id="extra data"),
        pytest.param("{'input': [1, 1, 1]}", 1, 2, id="single quotes"),
        pytest.param('{"input": [1, 1, 1], // comment\n"layers": []}', 1, 22, id="a comment"),
    ],
)
def test_malformed_json_reports_line_and_column(write_spec: WriteSpec, text: str, line: int, column: int) -> None:
    problems = problems_of(write_spec(text))
    assert len(problems) == 1
    assert "malformed JSON" in problems[0].message
    assert (problems[0].line, problems[0].column) == (line, column)


@pytest.mark.parametrize(
    ("value", "kind"),
    [([], "an array"), ("spec", "a string"), (3, "a number"), (None, "null"), (True, "a boolean")],
)
def test_the_top_level_must_be_an_object(write_spec: WriteSpec, value: Any, kind: str) -> None:
    where, message = only_problem(write_spec(json.dumps(value)))
    assert where == "(top level)"
    assert "object" in message
    assert kind in message


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_numbers(write_spec: WriteSpec, token: str) -> None:
    text = '{"input": [1, 1, 1],\n "layers": [{"type": "fc", "units": ' + token + "}]}"
    problems = problems_of(write_spec(text))
    assert [format_path(p.path) for p in problems] == ["layers[0].units"]
    assert token in problems[0].message
    assert problems[0].line == 2 and problems[0].column is not None
    assert offset_of(text, 2, problems[0].column) == text.index(token)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 5000])
def test_numbers_too_large_for_python(write_spec: WriteSpec, number: str) -> None:
    problems = problems_of(write_spec('{"input": [1, 1, 1], "layers": [{"type": "fc", "units": ' + number + "}]}"))
    assert len(problems) == 1


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("1e400", "layers[1].rate"),
        ("-2.5e999", "layers[1].rate"),
        ("[1, 1e400]", "layers[1].rate[1]"),
        ('1e400, "rate": 0.5', "layers[1].rate"),  # a duplicate key after it must not hide it
        ('1e400, "units": ' + "9" * 5000, "layers[1].rate"),  # an int Python will not convert, after it
    ],
)
def test_a_float_past_its_range_is_placed_like_nan(write_spec: WriteSpec, value: str, path: str) -> None:
    # json reads 1e400 as infinity; it was refused as "malformed JSON" with no place. The name holds the same
    # digits as a string, which must not be taken for the number.
    text = '{"name": "1e400", "input": [8, 8, 1],\n "layers": [{"type": "relu"},\n {"type": "dropout", "rate": ' + value
    problems = problems_of(write_spec(text + "}]}"))
    assert [format_path(p.path) for p in problems] == [path]
    assert "too large for a number" in problems[0].message
    assert problems[0].line == 3 and problems[0].column is not None


@pytest.mark.parametrize(
    ("text", "path"),
    [
        pytest.param('{"input": [1, 1, 1], "input": [2, 2, 2], "layers": [{"type": "relu"}]}', "input", id="top"),
        pytest.param(
            '{"input": [1, 1, 1], "layers": [{"type": "relu"},\n'
            ' {"type": "conv", "filters": 1, "kernel": 1, "kernel": 3}]}',
            "layers[1].kernel",
            id="in a layer",
        ),
        pytest.param(
            '{"input": {"height": 1, "width": 1, "channels": 1, "width": 2}, "layers": [{"type": "relu"}]}',
            "input.width",
            id="in input",
        ),
    ],
)
def test_duplicate_keys_are_reported_with_their_path(write_spec: WriteSpec, text: str, path: str) -> None:
    problems = problems_of(write_spec(text))
    assert [format_path(p.path) for p in problems] == [path]
    assert "duplicate" in problems[0].message
    # The position is the second occurrence of the key.
    key = path.rsplit(".", 1)[-1]
    assert problems[0].line is not None and problems[0].column is not None
    at = offset_of(text, problems[0].line, problems[0].column)
    assert text.startswith(f'"{key}"', at)
    assert text.find(f'"{key}"') < at


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
@pytest.mark.parametrize("bracket", ["[", '{"a":', "{", '{"a":[{'])
def test_absurd_nesting_is_refused_without_recursion(write_spec: WriteSpec, depth: int, bracket: str) -> None:
    # "{" alone: objects opened where a key belongs (a refusal named a path with no key, and crashed).
    closing = "]" if bracket == "[" else "}"
    for text in (bracket * depth + closing * depth, bracket * depth):
        _, message = only_problem(write_spec(text))
        assert "nesting" in message


def test_nesting_inside_a_valid_spec_is_refused(write_spec: WriteSpec) -> None:
    text = json.dumps(spec(name="x")).replace('"x"', "[" * 40 + "]" * 40)
    _, message = only_problem(write_spec(text))
    assert "nesting" in message


# --- JSON that is not a spec ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        pytest.param({"layers": GOOD_LAYERS}, "input", ["required"], id="missing input"),
        pytest.param(spec(classes="10"), "classes", ["integer", "'10'"], id="classes a string"),
        pytest.param({"input": [1, 1, 1], "layers": {}}, "layers", ["list"], id="layers an object"),
        pytest.param({"input": [1, 1, 1], "layers": []}, "layers", ["at least one"], id="no layers"),
        pytest.param({"input": [1, 1], "layers": GOOD_LAYERS}, "input", ["[H, W, D]"], id="input of 2"),
        pytest.param({"input": "28x28", "layers": GOOD_LAYERS}, "input", ["object"], id="input a string"),
        pytest.param(
            {"input": {"height": 1, "width": 1}, "layers": GOOD_LAYERS},
            "input.channels",
            ["required"],
            id="no channels",
        ),
        pytest.param(with_layer(0, filters=True), "layers[0].filters", ["integer", "true"], id="filters true"),
        pytest.param(with_layer(0, filters=10.5), "layers[0].filters", ["integer", "10.5"], id="filters 10.5"),
        pytest.param(with_layer(0, filters="3"), "layers[0].filters", ["integer", "'3'"], id="filters '3'"),
        pytest.param(with_layer(0, kernel=[3, 3, 3]), "layers[0].kernel", ["pair", "3"], id="kernel of 3"),
        pytest.param(with_layer(0, padding="full"), "layers[0].padding", ["same", "valid", "'full'"], id="padding"),
        pytest.param(with_layer(0, bias="yes"), "layers[0].bias", ["true or false"], id="bias"),
        pytest.param(with_layer(2, mode="min"), "layers[2].mode", ["max", "'min'"], id="pool mode"),
        pytest.param(spec({"type": "conv", "kernel": 3}), "layers[0].filters", ["required"], id="missing filters"),
        pytest.param(spec({"type": "pool"}), "layers[0].kernel", ["required"], id="missing kernel"),
        pytest.param(
            spec({"filters": 3, "kernel": 3}), "layers[0].type", ["type", "conv, depthwise"], id="missing type"
        ),
        pytest.param(
            spec({"type": "densse", "units": 3}), "layers[0].type", ["'densse'", "conv, depthwise"], id="unknown type"
        ),
        pytest.param(spec({"type": 3}), "layers[0].type", ["conv, depthwise"], id="type a number"),
        pytest.param(spec("conv"), "layers[0]", ["object"], id="layer a string"),
        pytest.param(with_layer(1, units=3), "layers[1].units", ["unknown field", "allowed"], id="unknown field"),
        pytest.param(spec(inputs=[1, 1, 1]), "inputs", ["unknown field", "'input'"], id="misspelt top key"),
        pytest.param(with_layer(3, strides=2), "layers[3].strides", ["did you mean 'stride'"], id="strides"),
        pytest.param(with_layer(0, filter=8), "layers[0].filter", ["did you mean 'filters'"], id="filter"),
        pytest.param(with_layer(3, stride=0), "layers[3].stride", ["≥ 1", "got 0"], id="zero stride"),
        pytest.param(with_layer(3, stride=-1), "layers[3].stride", ["≥ 1", "got -1"], id="negative stride"),
        pytest.param(with_layer(3, stride=2**31), "layers[3].stride", ["2^31", "2147483648"], id="huge stride"),
        pytest.param(with_layer(0, padding=-2), "layers[0].padding", ["≥ 0", "got -2"], id="negative padding"),
        pytest.param(spec(*GOOD_LAYERS, classes=0), "classes", ["≥ 1"], id="zero classes"),
        pytest.param({"input": [0, 1, 1], "layers": GOOD_LAYERS}, "input.height", ["≥ 1"], id="zero height"),
        pytest.param(with_layer(1, name=""), "layers[1].name", ["1 to 200"], id="empty name"),
    ],
)
def test_each_mistake_names_its_path(write_spec: WriteSpec, data: Any, path: str, words: list[str]) -> None:
    where, message = only_problem(write_spec(data))
    assert where == path
    for word in words:
        assert word in message


def test_paths_have_no_union_tags(write_spec: WriteSpec) -> None:
    # pydantic says layers.3.conv.stride; the user wrote layers[3].stride.
    problems = problems_of(write_spec(with_layer(3, stride=0)))
    assert problems[0].path == ("layers", 3, "stride")
    for kind, layer in [
        ("conv", {"type": "conv", "filters": 1, "kernel": 1, "conv": 1}),
        ("pool", {"type": "pool", "kernel": 1, "pool": 1}),
        ("fc", {"type": "fc", "units": 1, "fc": 1}),
        ("relu", {"type": "relu", "relu": 1}),
    ]:
        # A field that happens to be called like a tag is still reported, once.
        problems = problems_of(write_spec(spec(layer)))
        assert [p.path for p in problems] == [("layers", 0, kind)]


def test_every_problem_is_reported_not_just_the_first(write_spec: WriteSpec) -> None:
    data = spec(
        {"type": "conv", "filters": 0, "kernel": 3},
        {"type": "relu", "units": 3},
        {"type": "pool", "kernel": 2, "stride": -1},
        classes="ten",
    )
    problems = problems_of(write_spec(data))
    assert sorted(format_path(p.path) for p in problems) == sorted(
        ["classes", "layers[0].filters", "layers[1].units", "layers[2].stride"]
    )


def test_the_exception_text_says_where(write_spec: WriteSpec) -> None:
    # A library caller who prints the exception must learn the field, not only "must be ≥ 1 (got 0)".
    path = write_spec(with_layer(3, stride=0))
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    assert str(path) in str(caught.value)
    assert "layers[3].stride" in str(caught.value)


# --- positions --------------------------------------------------------------------------------------


def test_positions_in_a_hand_formatted_spec(write_spec: WriteSpec) -> None:
    text = (
        '{\n  "input": [8, 8, 1],\n  "layers": [\n    {"type": "relu"},\n'
        '\t{ "type": "conv",\n      "filters": 2, "kernel": 3, "stride": 0 }\n  ]\n}\n'
    )
    problems = problems_of(write_spec(text))
    assert [(format_path(p.path), p.line, p.column) for p in problems] == [("layers[1].stride", 6, 34)]


def test_a_missing_field_points_at_its_layer(write_spec: WriteSpec) -> None:
    text = '{"input": [8, 8, 1],\n "layers": [\n  {"type": "relu"},\n   {"type": "conv", "kernel": 3}]}'
    problems = problems_of(write_spec(text))
    assert [(format_path(p.path), p.line, p.column) for p in problems] == [("layers[1].filters", 4, 4)]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_layer_positions_in_the_examples(path: Path) -> None:
    loaded = load_spec(str(path))
    text = path.read_text(encoding="utf-8")
    for index in range(len(loaded.network.layers)):
        line, column = loaded.source.positions[("layers", index)]
        at = offset_of(text, line, column)
        assert text[at] == "{"
        assert json.loads(text[at : text.index("}", at) + 1]) == json.loads(text)["layers"][index]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("fuzz") / "spec.json"


def load_text(file: Path, content: str | bytes) -> LoadedSpec:
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    file.write_bytes(content)
    return load_spec(str(file))


@given(data=st.data(), value=spec_dicts(max_layers=6))
def test_layer_positions_point_at_each_layers_brace(scratch: Path, data: st.DataObject, value: dict[str, Any]) -> None:
    text, offsets = data.draw(formatted_json(value))
    loaded = load_text(scratch, text)
    assert sorted(offsets) == list(range(len(value["layers"])))
    for index, offset in offsets.items():
        line, column = loaded.source.positions[("layers", index)]
        assert offset_of(text, line, column) == offset
        assert text[offset] == "{"


@given(data=st.data(), value=spec_dicts(max_layers=6), bogus=st.sampled_from(["bogus", "strides", "filter", "unit"]))
def test_error_positions_point_at_the_offending_key(
    scratch: Path, data: st.DataObject, value: dict[str, Any], bogus: str
) -> None:
    index = data.draw(st.integers(0, len(value["layers"]) - 1))
    value["layers"][index] = {**value["layers"][index], bogus: 1}
    text, _ = data.draw(formatted_json(value))
    with pytest.raises(SpecError) as caught:
        load_text(scratch, text)
    [problem] = caught.value.problems
    assert problem.path == ("layers", index, bogus)
    assert problem.line is not None and problem.column is not None
    assert text.startswith(f'"{bogus}"', offset_of(text, problem.line, problem.column))


# --- fuzz: nothing but SpecError ----------------------------------------------------------------------


def load_never_crashes(file: Path, content: str | bytes) -> None:
    try:
        load_text(file, content)
    except SpecError as error:
        assert error.problems
        for problem in error.problems:
            assert isinstance(problem.message, str) and problem.message
            assert (problem.line is None) == (problem.column is None)
            if problem.line is not None:
                assert problem.line >= 1 and problem.column is not None and problem.column >= 1


@given(st.text())
@examples(200)
def test_arbitrary_text_gives_a_spec_or_a_spec_error(scratch: Path, text: str) -> None:
    load_never_crashes(scratch, text)


@given(st.binary())
@examples(100)
def test_arbitrary_bytes_give_a_spec_or_a_spec_error(scratch: Path, content: bytes) -> None:
    load_never_crashes(scratch, content)


@given(json_values)
@examples(200)
def test_arbitrary_json_gives_a_spec_or_a_spec_error(scratch: Path, value: Any) -> None:
    load_never_crashes(scratch, json.dumps(value))


@given(spec_like_values())
@examples(200)
def test_spec_shaped_json_gives_a_spec_or_a_spec_error(scratch: Path, value: Any) -> None:
    load_never_crashes(scratch, json.dumps(value))


@given(st.text(alphabet='{}[]:,"\\ntrufalse0123456789.eE+-NaInfy \n', max_size=80))
@examples(200)
def test_json_shaped_noise_gives_a_spec_or_a_spec_error(scratch: Path, text: str) -> None:
    load_never_crashes(scratch, text)


@given(spec_dicts(max_layers=4), st.integers(0, 10_000), st.text(max_size=3))
@examples(200)
def test_damaged_specs_give_a_spec_or_a_spec_error(scratch: Path, value: dict[str, Any], cut: int, junk: str) -> None:
    text = json.dumps(value)
    cut %= len(text)
    load_never_crashes(scratch, text[:cut] + junk + text[cut + 1 :])


@pytest.mark.parametrize(
    ("layer", "where", "meant"),
    [
        ({"type": "Relu"}, "layers[0].type", "'relu'"),
        ({"type": "maxpool", "kernel": 2}, "layers[0].type", '"type": "pool", "mode": "max"'),
        ({"type": "MaxPooling2D", "kernel": 2}, "layers[0].type", '"type": "pool", "mode": "max"'),
        ({"type": "Linear", "units": 3}, "layers[0].type", '"type": "fc"'),
        ({"type": "convv", "filters": 2, "kernel": 3}, "layers[0].type", "'conv'"),
        ({"type": "conv", "filters": 2, "kernel": 3, "padding": "SAME"}, "layers[0].padding", "'same'"),
        ({"type": "activation", "kind": "leakyrelu"}, "layers[0].kind", "'leaky_relu'"),
        ({"type": "pool", "kernel": 2, "mode": "Max"}, "layers[0].mode", "'max'"),
    ],
)
def test_a_misspelt_value_gets_the_value_it_should_be(
    write_spec: WriteSpec, layer: dict[str, Any], where: str, meant: str
) -> None:
    path, message = only_problem(write_spec(spec(layer)))
    assert path == where
    assert f"(did you mean {meant}?)" in message


def test_every_other_spelling_a_kind_suggests_is_a_valid_layer() -> None:
    from convcalc.layers import KINDS
    from convcalc.loading import validate
    from convcalc.text import folded

    types = {folded(name) for kind in KINDS for name in kind.type_names()}
    for kind in KINDS:
        for spelling, written in kind.spelled_elsewhere.items():
            assert spelling == folded(spelling) and spelling not in types, spelling
            suggested = json.loads("{" + written + "}")
            try:  # the suggestion on top of the kind's example, or on its own where it replaces the example's form
                validate("<t>", {"input": [8, 8, 4], "layers": [{**kind.example, **suggested}]})
            except SpecError:
                validate("<t>", {"input": [8, 8, 4], "layers": [suggested]})


# --- the plain path: parsed first, positions on demand, the same answers as the scan -------------------


def assert_plain_agrees_with_the_scan(text: str) -> None:
    """parse_plain takes ``text`` only where the scan finds nothing to refuse or report, and then its
    positions are the scan's, path by path (each asked of a fresh map: the walk of the top level alone)."""
    plain = loading.parse_plain(text)
    scan = loading.scan_positions(text)
    if plain is None:
        return
    assert scan.refusal is None and not scan.problems
    assert plain == json.loads(text)
    scanned = scan.source.positions
    layers = plain.get("layers", [])
    asked = [*scanned, ("layers", len(layers)), ("layers", -1), ("nothing",), ("layers", 0, "nothing")]
    for path in asked:
        assert loading.PlainTextPositions(text).get(path) == scanned.get(path), path
    assert dict(loading.PlainTextPositions(text)) == dict(scanned)


@given(data=st.data(), value=st.one_of(spec_dicts(max_layers=6), spec_like_values()))
@examples(200)
def test_the_plain_path_agrees_with_the_scan(data: st.DataObject, value: Any) -> None:
    text, _ = data.draw(formatted_json(value))
    assert_plain_agrees_with_the_scan(text)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_the_examples_take_the_plain_path(path: Path) -> None:
    text = loading.read_text(str(path))
    assert loading.parse_plain(text) is not None
    assert_plain_agrees_with_the_scan(text)


def limit_texts() -> Iterator[tuple[str, str]]:
    """(what, text) at each limit of the scan and one past it."""
    for over in (0, 1):
        relu = '{"type":"relu"}'
        yield "layers", '{"layers":[' + ",".join([relu] * (loading.MAX_LAYERS + over)) + "]}"
        yield "items", '{"layers":[],"x":[' + ",".join(["1"] * (loading.MAX_LIST_ITEMS + over)) + "]}"
        yield "strings", '{"layers":[],"x":["' + "s" * (loading.MAX_STRING + over) + '"]}'
        yield "key", '{"layers":[],"' + "k" * (loading.MAX_STRING + over) + '":1}'
        keys = ",".join(f'"k{i}":1' for i in range(loading.MAX_KEYS + over - 1))
        yield "keys", '{"layers":[{' + keys + "}]," + '"x":{' + keys + ',"last":[{}]}}'
        depth = loading.MAX_NESTING - 1 + over  # containers around the innermost one
        yield "nesting", '{"layers":[],"x":' + "[" * depth + "]" * depth + "}"
        per = loading.MAX_LIST_ITEMS
        merge = '{"type":"add","inputs":[' + ",".join(['"input"'] * per) + "]}"
        tail = '{"type":"add","inputs":[' + ",".join(['"input"'] * (loading.MAX_INPUTS % per + over)) + "]}"
        yield "inputs", '{"layers":[' + ",".join([merge] * (loading.MAX_INPUTS // per) + [tail]) + "]}"


@pytest.mark.parametrize(("what", "text"), list(limit_texts()), ids=lambda v: v if len(v) < 20 else "")
def test_the_plain_path_takes_a_text_exactly_when_the_scan_would_not_refuse_it(what: str, text: str) -> None:
    assert (loading.parse_plain(text) is None) == (loading.scan_positions(text).refusal is not None), what


@pytest.mark.parametrize(
    "text",
    [
        '{"layers": [], "name": "a\\u0041"}',  # an escape: the scan counts its characters
        '{"layers": [], "name": "a", "name": "b"}',
        '{"layers": [], "x": NaN}',
        '{"layers": {}}',
        '[{"layers": []}]',
        '{"layers": [' + ", ".join(['{"type": "relu"}'] * 10) + "]}" + " " * loading.PLAIN_CHARS,
    ],
    ids=["escape", "duplicate", "nan", "layers not a list", "not an object", "long"],
)
def test_what_the_plain_path_leaves_to_the_scan(text: str) -> None:
    assert loading.parse_plain(text) is None
