"""Hostile configuration: every report names the config file that applied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from convcalc.cli import app

runner = CliRunner()
MISFIT = {"input": [10, 10, 3], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "stride": 2, "padding": 1}]}
"""One error finding (CC101: the stride does not fit)."""
SILENCE_ALL = '[tool.convcalc]\nignore = ["CC"]\n'


def run(*args: str, **env: str) -> Any:
    result = runner.invoke(app, list(args), env=env or None)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def spec_in(directory: Path, name: str = "net.json") -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(MISFIT), encoding="utf-8")
    return str(path)


def codes(report: dict[str, Any]) -> list[str]:
    return [finding["code"] for finding in report["findings"]]


# --- saying which config applied ------------------------------------------------------------------------


def test_the_report_names_the_config_that_applied(tmp_path: Path) -> None:
    # A parent directory's config silences every rule: the report says which file did it.
    (tmp_path / "pyproject.toml").write_text(SILENCE_ALL)
    spec = spec_in(tmp_path / "repo" / "models")
    report = json.loads(run("check", spec, "-f", "json").stdout)
    assert report["findings"] == [] and report["config_file"] == str(tmp_path / "pyproject.toml")
    table = run("check", spec, "--width", "200").stdout
    assert f"config: {tmp_path / 'pyproject.toml'}" in table
    assert f"config: {tmp_path / 'pyproject.toml'}" in run("check", spec, "-f", "markdown").stdout


def test_no_config_is_null_and_no_footer_line(tmp_path: Path) -> None:
    spec = spec_in(tmp_path / "clean")
    assert json.loads(run("check", spec, "-f", "json").stdout)["config_file"] is None
    assert "config:" not in run("check", spec).stdout


def test_the_config_named_by_option_is_the_one_reported(tmp_path: Path) -> None:
    chosen = tmp_path / "strict.toml"
    chosen.write_text('fail-on = "info"\n')
    report = json.loads(run("check", spec_in(tmp_path / "specs"), "-f", "json", "--config", str(chosen)).stdout)
    assert report["config_file"] == str(chosen)
