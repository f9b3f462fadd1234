"""Hostile configuration: which config applies is bounded and said, and a bad one is exit 2 naming the file.

The search for a config stops at the repository root (``.git``) or the home directory; every report names the
config file that applied; a file too large, nested too deeply, an empty selection or a gate past 2^63 is a
usage error (exit 2, one line naming the file and the key, no traceback), found without computing or parsing
for minutes; each config file is read once per run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc import config
from convcalc.cli import app
from convcalc.config import MAX_CONFIG_BYTES, ConfigFiles, search_directories
from convcalc.memory import MAX_QUANTITY, parse_quantity

runner = CliRunner()
MISFIT = {"input": [10, 10, 3], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "stride": 2}]}
"""One error finding (CC101: (10 − 3)/2 + 1 = 4.5, the stride does not fit)."""
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


def usage_error(result: Any, *needles: str) -> None:
    """Exit 2 with one ``error:`` line that names each needle."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository (``.git``) inside a folder whose pyproject.toml would silence every rule, as one left in
    /tmp by anyone could."""
    (tmp_path / "pyproject.toml").write_text(SILENCE_ALL)
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    return root


# --- which config applies, and saying so ---------------------------------------------------------------


def test_a_config_above_the_repository_root_does_not_apply(repo: Path) -> None:
    result = run("check", spec_in(repo / "models" / "v1"), "-f", "json")
    assert result.exit_code == 1, result.output  # CC101 still reported
    report = json.loads(result.stdout)
    assert "CC101" in codes(report) and report["config_file"] is None


def test_the_report_names_the_config_that_applied(tmp_path: Path) -> None:
    # A parent directory's config silences every rule: the report says which file did it.
    (tmp_path / "pyproject.toml").write_text(SILENCE_ALL)
    (tmp_path / ".git").mkdir()  # the search ends here (inclusive), whatever lies above tmp_path
    spec = spec_in(tmp_path / "repo" / "models")
    report = json.loads(run("check", spec, "-f", "json").stdout)
    assert report["findings"] == [] and report["config_file"] == str(tmp_path / "pyproject.toml")
    table = run("check", spec, "--width", "200").stdout
    assert f"config: {tmp_path / 'pyproject.toml'}" in table
    assert f"config: {tmp_path / 'pyproject.toml'}" in run("check", spec, "-f", "markdown").stdout


def test_no_config_is_null_and_no_footer_line(repo: Path) -> None:
    spec = spec_in(repo / "clean")
    assert json.loads(run("check", spec, "-f", "json").stdout)["config_file"] is None
    assert "config:" not in run("check", spec).stdout


@pytest.mark.parametrize("where", ["root", "below"])
def test_a_config_in_the_repository_applies(repo: Path, where: str) -> None:
    folder = repo if where == "root" else repo / "models"
    folder.mkdir(exist_ok=True)
    (folder / "convcalc.toml").write_text('ignore = ["CC101"]\n')
    report = json.loads(run("check", spec_in(repo / "models" / "v1"), "-f", "json").stdout)
    assert "CC101" not in codes(report) and report["config_file"] == str(folder / "convcalc.toml")
    # SARIF says which config judged each result too.
    sarif = json.loads(run("check", spec_in(repo / "models" / "v1"), "-f", "sarif").stdout)
    configs = {result["properties"]["config_file"] for result in sarif["runs"][0]["results"]}
    assert configs == {str(folder / "convcalc.toml")}


def test_a_worktree_git_file_is_a_repository_root_too(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(SILENCE_ALL)
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text("gitdir: /elsewhere/.git/worktrees/wt\n")
    assert run("check", spec_in(tmp_path / "wt" / "a")).exit_code == 1


def test_the_search_stops_at_the_home_directory(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(SILENCE_ALL)
    home = tmp_path / "home"
    spec = spec_in(home / "project")
    assert run("check", spec, HOME=str(home)).exit_code == 1  # the config above home does not apply
    (home / "convcalc.toml").write_text('ignore = ["CC101"]\n')  # home itself is searched
    result = run("check", spec, "-f", "json", HOME=str(home))
    assert result.exit_code == 0 and json.loads(result.stdout)["config_file"] == str(home / "convcalc.toml")


def test_search_directories_end_at_the_first_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "a"))
    (tmp_path / "a" / "b" / ".git").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c").mkdir()
    assert list(search_directories(tmp_path / "a" / "b" / "c")) == [tmp_path / "a" / "b" / "c", tmp_path / "a" / "b"]
    (tmp_path / "x").mkdir()
    assert list(search_directories(tmp_path / "x"))[-1] == Path("/")  # under neither bound: up to the root


def test_the_config_named_by_option_is_the_one_reported(tmp_path: Path) -> None:
    chosen = tmp_path / "strict.toml"
    chosen.write_text('fail-on = "info"\n')
    report = json.loads(run("check", spec_in(tmp_path / "specs"), "-f", "json", "--config", str(chosen)).stdout)
    assert report["config_file"] == str(chosen)


# --- refusing what would silence everything or take forever ---------------------------------------------


@pytest.mark.parametrize(
    ("content", "options", "needles"),
    [
        ("select = []\n", [], ["convcalc.toml: select", "selects no rule"]),
        ('select = [""]\n', [], ["convcalc.toml: select", "selects no rule"]),
        ("", ["--select", ""], ["--select", "selects no rule"]),
        ("", ["--select", ","], ["--select", "selects no rule"]),
        ("", ["--select", " , "], ["--select", "selects no rule"]),
    ],
)
def test_an_empty_selection_is_a_usage_error(repo: Path, content: str, options: list[str], needles: list[str]) -> None:
    if content:
        (repo / "convcalc.toml").write_text(content)
    usage_error(run("check", spec_in(repo), *options), *needles)


def test_an_empty_ignore_is_harmless(repo: Path) -> None:
    (repo / "convcalc.toml").write_text("ignore = []\n")
    assert run("check", spec_in(repo), "--ignore", "").exit_code == 1


def test_toml_nested_too_deeply_in_a_parent_is_a_usage_error(repo: Path) -> None:
    (repo / "pyproject.toml").write_text("[tool.convcalc]\nx = " + "[" * 1000 + "]" * 1000 + "\n")
    usage_error(run("check", spec_in(repo / "sub")), str(repo / "pyproject.toml"), "nested too deeply")


@pytest.mark.parametrize("size", [MAX_CONFIG_BYTES + 1, 170 * 1024 * 1024])
def test_a_config_file_too_large_is_refused_by_name_without_reading_it(repo: Path, size: int) -> None:
    big = repo / "pyproject.toml"
    with big.open("wb") as handle:  # sparse: the size is what counts
        handle.truncate(size)
    started = time.perf_counter()
    result = run("check", spec_in(repo / "sub"))
    assert time.perf_counter() - started < 5  # it took 69 s to parse 170 MB before
    usage_error(result, str(big), "too large", f"{size:,} bytes", "--config")


def test_a_config_file_just_under_the_cap_is_read(repo: Path) -> None:
    content = '[tool.convcalc]\nignore = ["CC101"]\n'
    padding = "#" * (MAX_CONFIG_BYTES - len(content) - 1) + "\n"
    (repo / "pyproject.toml").write_text(content + padding)
    assert run("check", spec_in(repo)).exit_code == 0


def test_an_option_names_an_oversized_config_too(repo: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    usage_error(run("check", spec_in(repo), "--config", str(big)), str(big), "too large")


def test_each_config_file_is_read_once_per_run(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "pyproject.toml").write_text("[tool.other]\nx = 1\n")  # read, found to hold no convcalc table
    (repo / "models").mkdir()
    (repo / "models" / "convcalc.toml").write_text('fail-on = "warning"\n')
    reads: list[Path] = []
    real = config.read_toml
    monkeypatch.setattr(config, "read_toml", lambda path: reads.append(path) or real(path))
    specs = [spec_in(repo / "models" / folder, f"net{i}.json") for i in range(4) for folder in ("a", "b")]
    specs += [spec_in(repo / "other", f"net{i}.json") for i in range(3)]
    assert run("check", *specs).exit_code == 1
    assert sorted(reads) == sorted([repo / "models" / "convcalc.toml", repo / "pyproject.toml"])


def test_config_files_cache_reads_by_path(tmp_path: Path) -> None:
    path = tmp_path / "convcalc.toml"
    path.write_text("batch = 2\n")
    files = ConfigFiles()
    assert files.read(path) == {"batch": 2}
    path.write_text("batch = 3\n")
    assert files.read(path) == {"batch": 2}  # one run, one reading
    assert ConfigFiles().read(path) == {"batch": 3}  # the next run reads it afresh


# --- gates: refused from their digits, never computed ---------------------------------------------------


@pytest.mark.parametrize("value", ["1e999999999", "1e100000000", "9.3e18", "1" * 30, "99999999999999999999T"])
def test_an_absurd_gate_option_is_refused_at_once(repo: Path, value: str) -> None:
    started = time.perf_counter()
    result = run("check", spec_in(repo), "--max-params", value)
    assert time.perf_counter() - started < 5
    usage_error(result, "--max-params", "past 2^63")


@pytest.mark.parametrize(
    "line", ['max-params = "1e999999999"', "max-macs = 99999999999999999999999", 'max-memory = "1e40GiB"']
)
def test_an_absurd_gate_in_a_config_is_refused_by_file_and_key(repo: Path, line: str) -> None:
    (repo / "convcalc.toml").write_text(line + "\n")
    key = line.split(" ")[0]
    result = run("check", spec_in(repo))
    usage_error(result, f"{repo / 'convcalc.toml'}: {key}")


@pytest.mark.parametrize(("text", "byte_units"), [("1.5", False), ("0.5", False), ("2.25e0", False), ("1.5B", True)])
def test_a_quantity_is_a_whole_number(text: str, byte_units: bool) -> None:
    # 1.5 parameters was taken as 1, and 0.5 refused as "must be positive".
    with pytest.raises(ValueError, match="not a whole number"):
        parse_quantity(text, byte_units=byte_units)
    assert parse_quantity("1.5K") == 1_500 and parse_quantity("0.5KiB", byte_units=True) == 512
    assert parse_quantity("2.5e1") == 25


@pytest.mark.parametrize("where", ["option", "config"])
def test_the_batch_is_at_most_tensorflows_largest_dimension(repo: Path, where: str) -> None:
    # A batch of 10^20 made a training-memory total past 2^63 in the JSON report.
    def check_at(batch: int) -> Any:
        if where == "config":
            (repo / "convcalc.toml").write_text(f"batch = {batch}\n")
            return run("check", spec_in(repo))
        return run("check", spec_in(repo), "--batch", str(batch))

    usage_error(check_at(2**31), "batch", "at most 2,147,483,647")
    assert check_at(2**31 - 1).exit_code == 1  # accepted: the misfit's error finding


def test_a_training_memory_past_2_63_bytes_is_exact(tmp_path: Path) -> None:
    # Every layer is within 2^63 values; their bytes, times the batch, need not be: exact ints, not refused
    # (an input of 2^31 − 1 squared is a valid spec).
    spec = tmp_path / "wide.json"
    layers = [{"type": "conv", "filters": 64, "kernel": 3, "padding": "same"}]
    spec.write_text(json.dumps({"input": [1_000_000, 1_000_000, 64], "layers": layers}), encoding="utf-8")
    report = json.loads(run("check", str(spec), "--batch", str(2**31 - 1), "-f", "json").stdout)
    values = 2 * 1_000_000 * 1_000_000 * 64  # the input and the conv's output
    assert report["training_memory"]["activations_bytes"] == (2**31 - 1) * values * 4 > 2**63


def test_a_quantity_text_is_bounded() -> None:
    with pytest.raises(ValueError, match="at most 64"):
        parse_quantity("1" * 65 + "e9")
    assert parse_quantity("9.223372036854775807e18") == MAX_QUANTITY
    assert parse_quantity("8TiB", byte_units=True) == 8 * 2**40
    assert parse_quantity("0e999999999999") == 0  # zero is zero: never 10^999999999999 computed
    assert parse_quantity("0.000000000000000000000000000000000000000000001e60") == 10**15
