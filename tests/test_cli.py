"""convcalc.cli: exit codes, every kind of bad input, the output formats and their contracts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc.cli import app, app_for
from tests.helpers import EXAMPLES, ROOT

runner = CliRunner()
# resnet18/resnet50 are faithful to torchvision and Keras, whose stems do not fit exactly: (224 − 7 + 6)/2
# is not an integer and the frameworks floor it. convcalc says so (CC101), so they exit 1 on purpose.
WITH_ERRORS = {"stride_mismatch"}
CLEAN = sorted(p.stem for p in EXAMPLES.glob("*.json") if p.stem not in WITH_ERRORS)
MISMATCH = str(EXAMPLES / "stride_mismatch.json")


def example(name: str) -> str:
    return str(EXAMPLES / f"{name}.json")


def invoke(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    # A crash inside the command shows up as an exception other than the SystemExit of typer.Exit.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def run_process(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "convcalc", *args], cwd=cwd, capture_output=True, timeout=60, env=env, check=False
    )


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in the repository root, its output as text."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env, check=False
    )


# --- exit codes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLEAN)
def test_clean_examples_exit_0(name: str) -> None:
    result = invoke("check", example(name))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_stems_floor_only_padding_so_they_pass_with_cc208(name: str) -> None:
    # 224 + 2·3 − 7 = 223 is odd: the stride-2 stem drops its last padded column, never real input.
    result = invoke("check", example(name), "--select", "CC1,CC208")
    assert result.exit_code == 0, result.stdout
    printed = " ".join(result.stdout.split())
    assert "CC101" not in printed
    assert "CC208 info layers[" in printed and "+ 1 = 112.5" in printed


def test_stride_mismatch_exits_1_with_the_finding() -> None:
    result = invoke("check", MISMATCH)
    assert result.exit_code == 1
    assert "CC101" in result.stdout
    assert "(10 − 3 + 0)/2 + 1 = 4.5" in result.stdout
    assert f"{MISMATCH}:3:5" in result.stdout  # where the layer is in the file


BAD_INPUTS: list[Any] = [
    pytest.param(None, "no such file", id="missing file"),
    pytest.param("DIR", "directory", id="a directory"),
    pytest.param(b"\x00\x01\x02junk", "binary", id="binary junk"),
    pytest.param(b'{"name": "caf\xe9"}', "UTF-8", id="not UTF-8"),
    pytest.param('{\n  "input": [1, 1, 1]\n  "layers": []\n}', ":3:3", id="malformed JSON"),
    pytest.param("[1, 2, 3]", "top level", id="top level an array"),
    pytest.param({"input": [8, 8, 1], "layers": {"type": "relu"}}, "layers: must be a list", id="wrong type"),
    pytest.param({"input": [8, 8, 1], "layers": [{"type": "conv", "kernel": 3}]}, "layers[0].filters", id="missing"),
    pytest.param({"input": [8, 8, 1], "layers": [{"type": "relu", "size": 1}]}, "layers[0].size", id="unknown field"),
    pytest.param(
        {"input": [8, 8, 1], "layers": [{"type": "relu"}, {"type": "conv", "filters": 1, "kernel": 1, "strides": 2}]},
        "layers[1].strides: unknown field 'strides' (did you mean 'stride'?)",
        id="misspelt strides",
    ),
    pytest.param({"input": [8, 8, 1], "layers": [{"type": "densse"}]}, "layers[0].type", id="unknown layer type"),
    pytest.param({"input": [8, 8, 0], "layers": [{"type": "relu"}]}, "input.channels", id="zero size"),
    pytest.param(
        {"input": [8, 8, 1], "layers": [{"type": "relu"}] * 3 + [{"type": "pool", "kernel": 2, "stride": -1}]},
        "layers[3].stride: must be ≥ 1 (got -1)",
        id="negative stride",
    ),
    pytest.param({"input": [8, 8, 1], "layers": [{"type": "fc", "units": 2**31}]}, "layers[0].units", id="huge"),
    pytest.param({"input": [8, 8, 1], "layers": [{"type": "fc", "units": True}]}, "layers[0].units", id="true"),
    pytest.param('{"input": [8, 8, 1], "input": [1, 1, 1], "layers": []}', "input: duplicate key", id="duplicate key"),
    pytest.param('{"input": [8, 8, 1], "layers": [{"type": "fc", "units": NaN}]}', "layers[0].units", id="NaN"),
    pytest.param("[" * 100_000, "nesting", id="absurd nesting"),
]


def bad_file(tmp_path: Path, content: Any) -> str:
    if content is None:
        return str(tmp_path / "missing.json")
    if content == "DIR":
        (tmp_path / "specs.json").mkdir()
        return str(tmp_path / "specs.json")
    path = tmp_path / "bad.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("content", "expected"), BAD_INPUTS)
def test_bad_input_exits_2_naming_file_and_field(tmp_path: Path, content: Any, expected: str) -> None:
    file = bad_file(tmp_path, content)
    result = invoke("check", file)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert file in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    files = []
    for i, param in enumerate(BAD_INPUTS):
        content, expected = param.values
        directory = tmp_path / str(i)
        directory.mkdir()
        files.append((bad_file(directory, content), expected))
    process = run_process("check", *(file for file, _ in files))
    stderr = process.stderr.decode("utf-8")
    assert process.returncode == 2
    assert "Traceback" not in stderr
    for file, expected in files:
        assert file in stderr
        assert expected in stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["check", example("lenet5"), "--frobnicate"], id="unknown option"),
        pytest.param(["check", example("lenet5"), "--format", "xml"], id="unknown format"),
        pytest.param(["check", example("lenet5"), "--width", "10"], id="width too small"),
        pytest.param(["check", example("lenet5"), "--width", "wide"], id="width not a number"),
        pytest.param(["check"], id="no files"),
        pytest.param(["frobnicate"], id="unknown command"),
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


COMMAND_NAMES = ["check", "rules", "calc", "solve", "draw", "import", "schema", "export", "verify"]


@pytest.mark.parametrize(
    "args",
    [
        *([name, "--help"] for name in COMMAND_NAMES),
        *([name, "--frobnicate"] for name in COMMAND_NAMES),
        ["check", example("lenet5"), "--format", "xml"],
        ["check", example("lenet5"), "--width", "60"],
        ["check"],
        ["--help"],
        ["chekc", "x.json"],
        [],
    ],
    ids=" ".join,
)
def test_a_run_builds_only_its_command_and_says_the_same(args: list[str]) -> None:
    # main() runs app_for(argv): typer builds the options of the named command alone.
    whole, one = invoke(*args), runner.invoke(app_for(args), args)
    assert (one.exit_code, one.stdout, one.stderr) == (whole.exit_code, whole.stdout, whole.stderr)
    assert (app_for(args) is app) == (not args or args[0] not in COMMAND_NAMES)


def test_every_command_is_named_in_the_test_above() -> None:
    assert sorted(info.name or info.callback.__name__ for info in app.registered_commands) == sorted(COMMAND_NAMES)


@pytest.mark.parametrize(
    ("files", "code"),
    [
        pytest.param(["lenet5", "vgg16"], 0, id="clean + clean"),
        pytest.param(["lenet5", "stride_mismatch", "vgg16"], 1, id="clean + finding"),
        pytest.param(["lenet5", "stride_mismatch", None], 2, id="clean + finding + bad"),
        pytest.param([None, "stride_mismatch"], 2, id="bad first"),
    ],
)
def test_several_files_exit_with_the_worst_code(tmp_path: Path, files: list[str | None], code: int) -> None:
    paths = [example(name) if name else str(tmp_path / "missing.json") for name in files]
    result = invoke("check", *paths)
    assert result.exit_code == code
    for name in files:
        if name:  # every readable spec is still reported
            assert f"{name}.json" in result.stdout


# --- output formats -------------------------------------------------------------------------------------


def test_json_output_keeps_the_contract() -> None:
    result = invoke("check", MISMATCH, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert {"name", "input_shape", "layers", "total_params", "findings"} <= set(report)
    assert report["name"] == "stride-mismatch"
    assert report["input_shape"] == [10, 10, 3]
    assert report["total_params"] == 224
    [layer] = report["layers"]
    assert {"index", "name", "type", "output_shape", "params"} <= set(layer)
    assert (layer["index"], layer["name"], layer["type"], layer["output_shape"], layer["params"]) == (
        0,
        "conv1",
        "conv",
        [4, 4, 8],
        224,
    )
    for finding in report["findings"]:
        assert {"code", "severity", "layer", "message"} <= set(finding)
    [finding] = [finding for finding in report["findings"] if finding["severity"] == "error"]
    assert (finding["code"], finding["severity"], finding["layer"]) == ("CC101", "error", 0)
    assert "4.5" in finding["message"]


@pytest.mark.parametrize("name", CLEAN)
def test_json_figures_match_for_every_example(name: str) -> None:
    report = json.loads(invoke("check", example(name), "-f", "json").stdout)
    assert report["total_params"] == sum(layer["params"] for layer in report["layers"])
    assert [layer["index"] for layer in report["layers"]] == list(range(len(report["layers"])))
    for layer in report["layers"]:
        if layer["type"] in ("fc", "flatten"):
            assert layer["output_shape"][:2] == [1, 1]
    assert [finding for finding in report["findings"] if finding["severity"] == "error"] == []


def test_json_for_several_files_is_a_list() -> None:
    result = invoke("check", example("lenet5"), MISMATCH, "--format", "json")
    reports = json.loads(result.stdout)
    assert isinstance(reports, list)
    assert [r["file"] for r in reports] == [example("lenet5"), MISMATCH]
    assert [r["total_params"] for r in reports] == [61_706, 224]


def test_json_for_several_files_is_a_list_even_when_one_is_invalid(tmp_path: Path) -> None:
    # The output's shape must follow the command line, not how many files happened to be valid: a script
    # that passes two files and reads a list must not get an object back.
    result = invoke("check", example("lenet5"), str(tmp_path / "missing.json"), "--format", "json")
    assert result.exit_code == 2
    reports = json.loads(result.stdout)
    assert isinstance(reports, list)
    assert [r["file"] for r in reports] == [example("lenet5")]


def test_format_is_case_insensitive() -> None:
    assert json.loads(invoke("check", example("lenet5"), "--format", "JSON").stdout)["total_params"] == 61_706


def test_markdown_output_is_a_table() -> None:
    result = invoke("check", MISMATCH, "--format", "markdown")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| #"))
    assert set(lines[header + 1]) <= set("|-: ")
    rows = [line for line in lines[header + 2 :] if line.startswith("|")]
    assert all(row.count("|") == lines[header].count("|") for row in rows)
    assert any("conv1" in row and "224" in row for row in rows)
    assert "CC101" in result.stdout


def test_markdown_escapes_pipes_in_names(tmp_path: Path) -> None:
    spec = tmp_path / "pipes.json"
    spec.write_text(json.dumps({"input": [4, 4, 1], "layers": [{"type": "relu", "name": "a|b"}]}), encoding="utf-8")
    lines = invoke("check", str(spec), "-f", "markdown").stdout.splitlines()
    header = next(line for line in lines if line.startswith("| #"))
    [row] = [line for line in lines if line.startswith("|") and "a\\|b" in line]
    assert row.replace("\\|", "").count("|") == header.count("|")


def test_table_output_has_the_figures() -> None:
    result = invoke("check", example("vgg16"))
    assert result.exit_code == 0
    for figure in ("138,357,544", "102,764,544", "7×7×512", "1×1×1000"):
        assert figure in result.stdout


@pytest.mark.parametrize("width", [80, 100])
def test_a_narrow_table_still_shows_every_name_and_figure(width: int) -> None:
    # 80 columns is the default terminal: the table may wrap or drop columns, but must not turn names and
    # counts into "…" or empty cells.
    result = invoke("check", example("alexnet"), "--width", str(width))
    assert result.exit_code == 0
    assert "…" not in result.stdout
    for name in ("conv1", "pool1", "conv5", "fc6", "fc8"):
        assert name in result.stdout
    for figure in ("34,944", "614,656", "37,752,832", "62,378,344"):
        assert figure in result.stdout


def test_schema_prints_valid_json() -> None:
    result = invoke("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert {"conv", "fc", "flatten", "pool", "relu"} <= set(
        schema["properties"]["layers"]["items"]["discriminator"]["mapping"]
    )


def test_python_dash_m_convcalc_and_the_console_script_work() -> None:
    version = run_process("--version")
    assert version.returncode == 0
    assert version.stdout.decode().startswith("convcalc ")
    script = Path(sys.executable).with_name("convcalc")  # installed by pip beside the interpreter
    console = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert (console.returncode, console.stdout) == (0, version.stdout.decode())
    process = run_process("check", "examples/alexnet_conv1.json", "--format", "json")
    assert process.returncode == 0
    assert json.loads(process.stdout)["layers"][0]["output_shape"] == [55, 55, 96]
    assert process.stderr == b""


def test_json_has_the_metric_keys() -> None:
    result = invoke("check", str(EXAMPLES / "resnet18.json"), "-f", "json", "--batch", "32")
    data = json.loads(result.stdout)
    for record in data["layers"]:
        assert {"macs", "receptive_field", "trainable_params", "inputs"} <= set(record)
        assert len(record["receptive_field"]) == 2
    assert data["total_macs"] == sum(r["macs"] for r in data["layers"])
    assert data["total_trainable_params"] == 11_689_512
    assert "FLOPs = 2·MACs" in data["macs_convention"]
    memory = data["training_memory"]
    assert memory["batch"] == 32 and memory["total_bytes"] == sum(
        memory[k] for k in ("weights_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes")
    )


# --- hostile names ----------------------------------------------------------------------------------------


HOSTILE = {
    "name": "\x1b]0;pwned\x07title",
    "input": [4, 4, 1],
    "layers": [
        {"type": "relu", "name": "[/bold]"},
        {"type": "relu", "name": "[red]markup[/red]"},
        {"type": "relu", "name": "a\x1b[31mred"},
        {"type": "conv", "filters": 1, "kernel": 5, "name": "\x1b[2J\rcr\u202eltr"},
    ],
}


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_names_never_reach_the_terminal_raw(tmp_path: Path, fmt: str) -> None:
    spec = tmp_path / "hostile.json"
    spec.write_text(json.dumps(HOSTILE), encoding="utf-8")
    process = run_process("check", str(spec), "--format", fmt)
    assert process.returncode == 1  # the 5×5 kernel does not fit the 4×4 input
    out = process.stdout.decode("utf-8")
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\r" not in out
    assert "Traceback" not in process.stderr.decode("utf-8")
    # Shown literally, not eaten as markup (Markdown escapes brackets, which then render as themselves).
    literal = (lambda text: text.replace("[", "\\[").replace("]", "\\]")) if fmt == "markdown" else str
    assert literal("[/bold]") in out
    assert literal("[red]markup[/red]") in out
    if fmt == "json":
        names = [layer["name"] for layer in json.loads(out)["layers"]]
        assert names == [layer["name"] for layer in HOSTILE["layers"]]  # type: ignore[index]
    else:
        assert literal("\\x1b[31m") in out  # escaped, visibly
        assert "\u202e" not in out  # a bidi override would reorder the rest of the line


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_a_lone_surrogate_in_a_name_does_not_crash(tmp_path: Path, fmt: str) -> None:
    # "\ud800" is valid JSON text but cannot be encoded as UTF-8: refuse it (exit 2) or write it escaped.
    spec = tmp_path / "surrogate.json"
    spec.write_text('{"input": [4, 4, 1], "layers": [{"type": "relu", "name": "x\\ud800"}]}', encoding="utf-8")
    process = run_process("check", str(spec), "--format", fmt)
    assert "Traceback" not in process.stderr.decode("utf-8", "replace")
    assert process.returncode in (0, 2)
    if process.returncode == 0:
        out = process.stdout.decode("utf-8")  # valid UTF-8
        if fmt == "json":
            json.loads(out)
    else:
        assert "layers[0].name" in process.stderr.decode("utf-8")


# --- TensorFlow stays out ---------------------------------------------------------------------------------


def test_check_does_not_import_tensorflow_onnx_or_torch() -> None:
    # The finder records even attempts that would fail, so the test means something where TensorFlow is not
    # installed too (a guarded `try: import tensorflow` at import time would still be caught).
    code = (
        "import sys, runpy\n"
        "attempts = []\n"
        "class Recorder:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'keras', 'onnx', 'torch'):\n"
        "            attempts.append(name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Recorder())\n"
        "sys.argv = ['convcalc', 'check'] + [f'examples/{n}.json' for n in ('vgg16', 'resnet50', 'stride_mismatch')]\n"
        "try:\n"
        "    runpy.run_module('convcalc', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 1, exit.code  # stride_mismatch's conv does not fit (CC101)\n"
        "else:\n"
        "    raise AssertionError('convcalc check did not exit')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'onnx', 'torch'))\n"
        "sys.stderr.write('HEAVY=' + repr(loaded) + '\\n')\n"
        "sys.stderr.write('ATTEMPTS=' + repr(attempts) + '\\n')\n"
        "sys.stderr.write('CONVCALC=' + repr('convcalc.cli' in sys.modules) + '\\n')\n"
    )
    process = run_python(code)
    assert process.returncode == 0, process.stderr
    assert "138,357,544" in process.stdout and "25,636,712" in process.stdout  # a sequence and a graph, checked
    assert "CONVCALC=True" in process.stderr
    assert "HEAVY=[]" in process.stderr
    assert "ATTEMPTS=[]" in process.stderr


def test_check_skips_pydantics_plugin_discovery_only_as_pydantic_would() -> None:
    # __main__ answers pydantic's plugin lookup with "none" when PYDANTIC_DISABLE_PLUGINS says all are off,
    # which spares importing importlib.metadata; pydantic's own loader gives that answer for those values.
    code = (
        "import os, sys\n"
        "from convcalc.__main__ import _ALL_PLUGINS_OFF\n"
        "from pydantic.plugin import _loader\n"
        "for value in _ALL_PLUGINS_OFF:\n"
        "    os.environ['PYDANTIC_DISABLE_PLUGINS'] = value\n"
        "    assert tuple(_loader.get_plugins()) == (), value\n"
    )
    process = run_python(code)
    assert process.returncode == 0, process.stderr
    code = (
        "import sys, runpy\n"
        "sys.argv = ['convcalc', 'check', 'examples/lenet5.json']\n"
        "try:\n"
        "    runpy.run_module('convcalc', run_name='__main__')\n"
        "except SystemExit:\n"
        "    sys.stderr.write('METADATA=' + repr('importlib.metadata' in sys.modules) + '\\n')\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYDANTIC_DISABLE_PLUGINS"}
    process = run_python(code, env)
    assert "METADATA=False" in process.stderr, process.stderr
    # Some plugins on: pydantic looks for them as usual.
    process = run_python(code, {**env, "PYDANTIC_DISABLE_PLUGINS": "some_plugin"})
    assert "METADATA=True" in process.stderr, process.stderr


def test_a_command_runs_with_the_collector_on_over_what_it_makes() -> None:
    # __main__ keeps the collector off while importing, then freezes what the imports made and collects the
    # command's own objects less often than CPython's default (see settle_collector).
    code = (
        "import gc, sys, convcalc.cli\n"
        "def command():\n"
        "    sys.stderr.write(f'GC={gc.isenabled()} {gc.get_threshold()[0]} {gc.get_freeze_count() > 10_000}\\n')\n"
        "convcalc.cli.main = command\n"
        "from convcalc.__main__ import FIRST_GENERATION, main\n"
        "assert FIRST_GENERATION != gc.get_threshold()[0]\n"
        "main()\n"
    )
    process = run_python(code)
    assert process.returncode == 0, process.stderr
    assert "GC=True 10000 True" in process.stderr, process.stderr


@pytest.mark.parametrize("pressed_while", ["convcalc.cli", "convcalc.checking"], ids=["importing", "checking"])
def test_ctrl_c_exits_130_quietly_and_a_second_press_is_ignored(pressed_while: str) -> None:
    # The first press comes while the named module is imported (the CLI itself, or what `check` imports as it
    # runs); the second while Python exits, where it used to break into the exit with a traceback.
    code = (
        "import atexit, os, signal, sys\n"
        "def press():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    sys.stderr.flush()\n"
        "atexit.register(press)\n"
        "class Press:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {pressed_while!r}:\n"
        "            press()\n"
        "        return None\n"
        "sys.meta_path.insert(0, Press())\n"
        "sys.argv = ['convcalc', 'check', 'examples/vgg16.json']\n"
        "from convcalc.__main__ import main; main()\n"
    )
    process = run_python(code)
    assert (process.returncode, process.stderr) == (130, "")
    assert "138,357,544" not in process.stdout  # stopped before the report


def test_a_press_after_the_grace_second_stops_the_command_again() -> None:
    # A first press that a library swallowed (a weakref callback's, a bare except) must not leave the command
    # deaf to Ctrl-C: only presses within a second of the last one are ignored.
    from convcalc.__main__ import Interrupts

    now = [100.0]
    handler = Interrupts(clock=lambda: now[0])
    with pytest.raises(KeyboardInterrupt):
        handler(2, None)
    now[0] += 0.5
    assert handler(2, None) is None  # stopping: ignored
    now[0] += Interrupts.GRACE_SECONDS
    with pytest.raises(KeyboardInterrupt):
        handler(2, None)


def test_a_missing_dependency_is_one_line_not_a_traceback() -> None:
    code = (
        "import sys; sys.modules['typer'] = None; sys.argv = ['convcalc', 'check', 'examples/vgg16.json']\n"
        "from convcalc.__main__ import main; main()"
    )
    process = run_python(code)
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    assert "'typer'" in process.stderr and "pip install" in process.stderr


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["check", str(EXAMPLES / "lenet5.json"), "--format", "json"], "{"),
        (["check", str(EXAMPLES / "lenet5.json")], " "),  # the title, centred
        (["draw", str(EXAMPLES / "lenet5.json")], "<svg"),
    ],
    ids=["check-json", "check-table", "draw"],
)
def test_output_dash_is_standard_output(
    args: list[str], start: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    default = runner.invoke(app, args)
    dash = runner.invoke(app, [*args, "-o", "-"])
    assert dash.exit_code == default.exit_code == 0
    assert dash.stdout == default.stdout and dash.stdout.startswith(start) and "lenet" in dash.stdout
    assert list(tmp_path.iterdir()) == []  # no file called "-"


@pytest.mark.parametrize(
    ("args", "registered"),
    [
        (["check", "examples/lenet5.json"], False),
        (["rules", "CC101"], False),
        (["export", "--help"], True),
        (["verify", "--help"], True),
        (["--help"], True),
        (["exprot"], True),  # a typo: the whole app, whose "did you mean" knows every command
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_only_a_run_that_needs_them_registers_the_export_commands(args: list[str], registered: bool) -> None:
    # convcalc.export.commands builds its two commands' options when imported (a few ms of every cold start):
    # main() imports it for export and verify, and for the whole app's help and errors, never for a check.
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['convcalc', *{args!r}]\n"
        "try:\n"
        "    runpy.run_module('convcalc', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('REGISTERED=' + repr('convcalc.export.commands' in sys.modules) + '\\n')\n"
    )
    process = run_python(code)
    assert f"REGISTERED={registered}" in process.stderr, process.stderr
    if args == ["--help"]:
        assert "export" in process.stdout and "verify" in process.stdout
    if args == ["exprot"]:
        assert "export" in process.stderr  # click's "Did you mean 'export'?"
