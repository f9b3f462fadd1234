"""What a person meets at the command line: help that reads, formats each command really supports, the
calculator's explanations, rule docs that fit the terminal."""

from __future__ import annotations

import re

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.rules import REGISTRY

runner = CliRunner()
COMMANDS = ["check", "rules", "calc", "solve", "draw", "import", "schema", "export", "verify"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_metavars_people_read_not_python_types(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert not re.search(r"<(list\[|str>|int>|bool>|float>)", result.stdout), result.stdout
    assert "{FILE...}" not in result.stdout


@pytest.mark.parametrize(
    ("argv", "supported"),
    [
        (["calc", "-i", "32x32x3", "-F", "3", "-K", "8", "-f", "sarif"], "'table', 'json'"),
        (["rules", "-f", "html"], "'table', 'json', 'markdown'"),
        (["solve", "--in", "32", "--out", "16", "-f", "markdown"], "'table', 'json'"),
    ],
)
def test_each_command_accepts_only_its_own_formats(argv: list[str], supported: str) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert supported in result.output and "--format" in result.output


def test_calc_explains_a_window_larger_than_the_input() -> None:
    result = runner.invoke(app, ["calc", "-i", "32x32x3", "-F", "40", "-K", "8"])
    assert result.exit_code == 1
    assert "32×32×3 → no output" in result.stdout
    assert "(32 − 40 + 0)/1 + 1 = −7: the window (F = 40) is larger than the padded input" in result.stdout
    assert "not an integer" not in result.stdout
    assert "CC102 error" in result.stdout


def test_calc_says_which_rows_go_unread_and_when_only_padding_does() -> None:
    lost = runner.invoke(app, ["calc", "-i", "10x10x3", "-F", "3", "-S", "2", "--pool", "max"]).stdout
    assert "= 4.5 is not an integer: TensorFlow floors it to 4; the last 1 row/column of the input goes unread" in lost
    padding = runner.invoke(app, ["calc", "-i", "112x112x64", "-F", "3", "-S", "2", "-P", "1", "-K", "64"])
    assert padding.exit_code == 0
    assert "= 56.5 is not an integer: TensorFlow floors it to 56; only padding goes unread (CC208)" in padding.stdout


def test_calc_without_a_depth_says_it_assumes_one() -> None:
    result = runner.invoke(app, ["calc", "-i", "227x227", "-F", "11", "-S", "4", "-K", "96"])
    assert result.exit_code == 0
    assert "227×227×1 → 55×55×96" in result.stdout
    assert "no depth; assuming 1" in result.stderr


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_the_rule_list_fits_the_terminal_and_names_every_rule_whole(columns: int) -> None:
    result = runner.invoke(app, ["rules"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= columns
    for rule in REGISTRY.values():
        assert rule.code in result.stdout and rule.name in result.stdout


def test_one_rule_renders_its_markdown_for_the_terminal() -> None:
    result = runner.invoke(app, ["rules", "CC201"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert "What it does" in result.stdout and "## What it does" not in result.stdout
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= 80
    raw = runner.invoke(app, ["rules", "CC201", "-f", "markdown"]).stdout
    assert "## What it does" in raw
