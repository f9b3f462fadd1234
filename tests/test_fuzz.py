"""Hostile specs through every command and format: whatever the values, convcalc exits 0, 1 or 2 with its own
message, never a traceback, and never hangs.

The specs start from each kind's example and replace fields with extremes (0, −1, 2^31, 2^63 ± 1, 10^30,
floats, strings, nesting), names with control, bidi and invisible characters, and inputs with names that may or
may not exist. The watchdog is a hang detector (a minute per example), not a speed target: the figures live in
benchmarks/.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.layers import KINDS

runner = CliRunner()

HUGE = [2**31 - 1, 2**31, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64, 10**30]
extreme_ints = st.one_of(st.sampled_from([0, 1, 2, 3, -1, *HUGE]), st.integers(1, 9), st.integers(-(2**70), 2**70))
extreme_values = st.one_of(
    extreme_ints,
    st.lists(extreme_ints, min_size=1, max_size=3),
    st.lists(st.lists(extreme_ints, min_size=2, max_size=2), min_size=2, max_size=2),
    st.sampled_from(["same", "valid", "max", "avg", "relu", "", "SAME", None, True, 1.5, 1e308, -0.0]),
    st.text(max_size=4),
)
hostile_text = st.one_of(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=12),
    st.sampled_from(["\x1b[31mred", "a\u202eb", "x\u2028y", "::error::x", "%0A", "<b>", "[l](u)", "`c`", "\x00"]),
)
sizes = st.one_of(st.sampled_from([1, 2, 7, 224, 2**31 - 1]), st.integers(1, 64))
"""Input sizes the schema takes (≤ 2^31 − 1, TensorFlow's int32); the layers then make huge volumes."""
FIELDS = {kind.kind_name: [f for f in kind.model_fields if f not in ("type", "inputs", "name")] for kind in KINDS}
EXAMPLES = {kind.kind_name: kind.example for kind in KINDS}


LARGE = [2**16, 10**6, 2**31 - 1]
positive = st.one_of(st.integers(1, 9), st.sampled_from(LARGE))
positive_values = st.one_of(positive, st.lists(positive, min_size=2, max_size=2))
"""Values the schema takes for the size fields: positive, small or as large as TensorFlow's int32 allows."""
SIZE_FIELDS = {"filters", "kernel", "stride", "padding", "dilation", "groups", "multiplier", "units", "output_padding"}


@st.composite
def hostile_layers(draw: st.DrawFn, earlier: list[str], garbage: bool) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(EXAMPLES)))
    layer = dict(EXAMPLES[kind])
    values = extreme_values if garbage else positive_values
    fields = [f for f in FIELDS[kind] if garbage or f in SIZE_FIELDS]
    for field in draw(st.lists(st.sampled_from(fields), max_size=2, unique=True)) if fields else []:
        layer[field] = draw(values)
    if draw(st.booleans()):
        layer["name"] = draw(hostile_text)
    if "inputs" in layer or draw(st.integers(0, 9)) == 0:
        choices = st.sampled_from(["input", *earlier, *(["nowhere"] if garbage else [])])
        merge = "inputs" in layer
        count = st.integers(1, 3) if garbage else (st.integers(2, 3) if merge else st.just(1))
        layer["inputs"] = draw(st.lists(choices, min_size=(n := draw(count)), max_size=n))
    return layer


@st.composite
def hostile_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"input": [draw(sizes), draw(sizes), draw(sizes)], "layers": []}
    names: list[str] = []
    garbage = draw(st.integers(0, 3)) == 0  # a quarter of the specs invalid by design, the rest mostly valid
    for _ in range(draw(st.integers(1, 6))):
        layer = draw(hostile_layers(names, garbage))
        spec["layers"].append(layer)
        if isinstance(layer.get("name"), str) and layer["name"] not in ("input", *names):
            names.append(layer["name"])
        else:
            layer.pop("name", None)
    if draw(st.booleans()):
        spec["classes"] = draw(extreme_values if garbage else sizes)
    if draw(st.booleans()):
        spec["name"] = draw(hostile_text)
    return spec


COMMANDS: list[list[str]] = [
    *(["check", "-f", fmt] for fmt in ("table", "json", "markdown", "sarif", "github", "html")),
    ["check", "--all", "--width", "40", "--select", "CC", "--fail-on", "info"],
    ["draw"],
    ["solve"],
    ["export", "--to", "python"],
    ["export", "--to", "tf-nn"],
]


@contextmanager
def watchdog(seconds: int) -> Iterator[None]:
    def hung(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a command ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_every_command(path: Path) -> None:
    for command in COMMANDS:
        with watchdog(60):
            result = runner.invoke(app, [*command, str(path)])
        shown = f"{command}: exit {result.exit_code}\n{result.output[-2000:]}"
        assert result.exit_code in (0, 1, 2), shown
        assert result.exception is None or isinstance(result.exception, SystemExit), (shown, result.exc_info)
        assert "Traceback" not in result.output, shown
        if result.exit_code == 2:
            assert str(path.name) in result.output or "Error" in result.output, shown
        elif command[1:3] == ["-f", "json"]:
            json.loads(result.stdout)
        elif command[1:3] == ["-f", "sarif"]:
            assert json.loads(result.stdout)["version"] == "2.1.0"


# Found by an explore run: `solve` re-analyses other input sizes, where the cropping leaves a 0×1 volume and the
# multiply broadcast a 1×3 with it into 0×3, which neither input has (StopIteration from Multiply.compute).
CROPPED_INTO_A_MULTIPLY = {
    "input": [1, 7, 1],
    "layers": [
        {"type": "cropping", "crop": 1, "name": "0", "inputs": ["input"]},
        {"type": "multiply", "inputs": ["input", "0"]},
        {"type": "depthwise", "kernel": 3, "padding": 1, "inputs": ["0"]},
    ],
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_specs())
@example(spec=CROPPED_INTO_A_MULTIPLY)
def test_hostile_specs_through_every_command_exit_0_1_or_2(tmp_path_factory: pytest.TempPathFactory, spec: Any) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "spec.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8", errors="surrogatepass")
    run_every_command(path)


CALC_OPTIONS = st.lists(
    st.tuples(
        st.sampled_from(["-i", "-F", "-S", "-P", "-K", "--pool", "-f"]),
        st.one_of(
            extreme_ints.map(str),
            st.sampled_from(["227x227", "3x3x3", "2,3", "same", "0x0", "1e9", "-", "x", "max", "json", "html"]),
        ),
    ),
    max_size=5,
)
SOLVE_OPTIONS = st.lists(
    st.tuples(
        st.sampled_from(["--in", "--out", "-F", "-S", "-P", "--max-kernel", "--max-stride", "-f"]),
        st.one_of(extreme_ints.map(str), st.sampled_from(["224", "112", "7x7", "1e99", "", "json", "sarif"])),
    ),
    max_size=5,
)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(["calc", "solve"]), st.data())
def test_hostile_calculator_options_exit_0_1_or_2(command: str, data: st.DataObject) -> None:
    options = data.draw(CALC_OPTIONS if command == "calc" else SOLVE_OPTIONS)
    argv = [command, *(part for option in options for part in option)]
    with watchdog(60):
        result = runner.invoke(app, argv)
    shown = f"{argv}: exit {result.exit_code}\n{result.output[-2000:]}"
    assert result.exit_code in (0, 1, 2), shown
    assert result.exception is None or isinstance(result.exception, SystemExit), (shown, result.exc_info)
    assert "Traceback" not in result.output, shown
