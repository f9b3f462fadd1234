"""The lint side of `convcalc check`: selection, configuration, exit codes and the CI formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.config import ConfigError, resolve_config
from convcalc.report.github import escape_data, escape_property
from tests.helpers import EXAMPLES, ROOT

MISMATCH = str(ROOT / "examples" / "stride_mismatch.json")
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def write_spec(directory: Path, spec: dict, name: str = "net.json") -> str:
    path = directory / name
    path.write_text(json.dumps(spec, indent=2))
    return str(path)


# (10 − 3 + 0)/2 + 1 = 4.5: the last input row and column are never read (CC101).
MISFIT = {"input": [10, 10, 3], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "stride": 2, "padding": 0}]}


def codes(result) -> list[str]:
    return [f["code"] for f in json.loads(result.stdout)["findings"]]


def test_error_exits_1_and_exit_zero_exits_0():
    assert run("check", MISMATCH).exit_code == 1
    assert run("check", MISMATCH, "--exit-zero").exit_code == 0


def test_exit_zero_never_hides_invalid_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert run("check", str(bad), "--exit-zero").exit_code == 2


def test_ignore_and_select(tmp_path):
    spec = write_spec(tmp_path, MISFIT)
    assert "CC101" in codes(run("check", spec, "-f", "json"))
    assert "CC101" not in codes(run("check", spec, "-f", "json", "--ignore", "CC101"))
    assert "CC101" not in codes(run("check", spec, "-f", "json", "--ignore", "CC1"))
    selected = codes(run("check", spec, "-f", "json", "--select", "CC101"))
    assert set(selected) == {"CC101"}


@pytest.mark.parametrize("option", ["--select", "--ignore"])
def test_unknown_code_is_a_usage_error_that_names_it(tmp_path, option):
    result = run("check", write_spec(tmp_path, MISFIT), option, "CC999")
    assert result.exit_code == 2
    assert "CC999" in result.output


def test_fail_on_sets_the_lowest_failing_severity(tmp_path):
    # A 5×5 conv with "same" padding and a fc head: CC201 (warning) and nothing worse.
    spec = {
        "input": [8, 8, 1],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 5, "padding": "same"},
            {"type": "relu"},
            {"type": "fc", "units": 4},
        ],
    }
    path = write_spec(tmp_path, spec)
    severities = {f["severity"] for f in json.loads(run("check", path, "-f", "json").stdout)["findings"]}
    assert "warning" in severities and "error" not in severities
    assert run("check", path).exit_code == 0
    assert run("check", path, "--fail-on", "warning").exit_code == 1
    assert run("check", path, "--fail-on", "warning", "--ignore", "CC2").exit_code == 0
    assert run("check", path, "--fail-on", "bogus").exit_code == 2


def test_spec_ignore_silences_layer_and_network(tmp_path):
    layer_ignored = dict(MISFIT, layers=[dict(MISFIT["layers"][0], ignore=["CC101"])])
    assert "CC101" not in codes(run("check", write_spec(tmp_path, layer_ignored), "-f", "json"))
    top_ignored = dict(MISFIT, ignore=["CC1"])
    assert "CC101" not in codes(run("check", write_spec(tmp_path, top_ignored), "-f", "json"))


def test_unknown_code_in_spec_ignore_is_invalid_input(tmp_path):
    spec = dict(MISFIT, layers=[dict(MISFIT["layers"][0], ignore=["CC998"])])
    result = run("check", write_spec(tmp_path, spec))
    assert result.exit_code == 2
    assert "layers[0].ignore" in result.output and "CC998" in result.output


def test_config_precedence(tmp_path):
    project = tmp_path / "project"
    nested = project / "models" / "deep"
    nested.mkdir(parents=True)
    spec = write_spec(nested, MISFIT)
    (project / "pyproject.toml").write_text('[tool.convcalc]\nignore = ["CC101"]\nfail-on = "warning"\n')
    config = resolve_config(spec)
    assert config.ignore == ("CC101",) and config.fail_on.value == "warning"
    assert config.source and config.source.endswith("pyproject.toml")
    # convcalc.toml nearer the spec wins over the pyproject.toml further up.
    (project / "models" / "convcalc.toml").write_text('select = ["CC1"]\n')
    config = resolve_config(spec)
    assert config.select == ("CC1",) and config.ignore == ()
    # Options beat files: --select replaces, --ignore adds, --fail-on overrides.
    config = resolve_config(spec, select=["CC101,CC102"], ignore=["CC102"], fail_on="info")
    assert config.select == ("CC101", "CC102") and config.ignore == ("CC102",) and config.fail_on.value == "info"
    assert [r.code for r in config.rules()] == ["CC101"]


def test_config_applies_through_the_cli(tmp_path):
    spec = write_spec(tmp_path, MISFIT)
    (tmp_path / "convcalc.toml").write_text('ignore = ["CC101"]\n')
    result = run("check", spec, "-f", "json")
    assert "CC101" not in codes(result)
    assert result.exit_code == 0


@pytest.mark.parametrize(
    "content, needle",
    [
        ('selekt = ["CC1"]\n', "selekt"),
        ('select = ["CC777"]\n', "CC777"),
        ('fail-on = "fatal"\n', "fail-on"),
        ("select = [\n", "cannot read"),
    ],
)
def test_bad_config_is_a_usage_error_that_names_the_key(tmp_path, content, needle):
    spec = write_spec(tmp_path, MISFIT)
    (tmp_path / "convcalc.toml").write_text(content)
    with pytest.raises(ConfigError, match=needle):
        resolve_config(spec)
    result = run("check", spec)
    assert result.exit_code == 2
    assert needle in result.output


def test_findings_point_at_line_and_column_of_the_layer(tmp_path):
    text = (
        '{\n  "input": [10, 10, 3],\n  "layers": [\n    {"type": "relu"},\n'
        '      {"type": "conv", "filters": 2, "kernel": 3, "stride": 2}\n  ]\n}\n'
    )
    spec = tmp_path / "pos.json"
    spec.write_text(text)
    findings = json.loads(run("check", str(spec), "-f", "json").stdout)["findings"]
    finding = next(f for f in findings if f["code"] == "CC101")
    assert (finding["line"], finding["column"]) == (5, 7)
    assert f"{spec}:5:7 CC101" in run("check", str(spec)).stdout


def test_sarif_has_what_github_code_scanning_requires(tmp_path):
    spec = write_spec(tmp_path, MISFIT)
    log = json.loads(run("check", spec, "-f", "sarif").stdout)
    assert log["version"] == "2.1.0" and "$schema" in log
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "convcalc" and driver["rules"]
    rule_ids = [r["id"] for r in driver["rules"]]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
    results = log["runs"][0]["results"]
    assert results
    for result in results:
        assert result["ruleId"] in rule_ids and rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"]
        assert location["region"]["startLine"] >= 1 and location["region"]["startColumn"] >= 1


def test_github_annotations_cannot_be_injected(tmp_path):
    hostile = "x%\r\n::set-output name=pwned::1,y:z"
    spec = dict(MISFIT, layers=[dict(MISFIT["layers"][0], name=hostile)])
    path = write_spec(tmp_path, spec, name="a,b:c.json")
    out = run("check", path, "-f", "github").stdout
    lines = out.splitlines()
    assert len(lines) == len([line for line in lines if line.startswith("::")])
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)
    assert "\\r\\n::set-output" in out and "\n::set-output" not in out  # shown escaped, as every format does
    assert "a%2Cb%3Ac.json" in out
    assert escape_data("100%") == "100%25" and escape_property("a:b,c") == "a%3Ab%2Cc"


def test_rules_command_lists_and_explains():
    listing = run("rules")
    assert listing.exit_code == 0 and "CC101" in listing.stdout
    explained = run("rules", "CC101")
    assert explained.exit_code == 0 and "stride-does-not-fit" in explained.stdout and "Example" in explained.stdout
    assert "```json" in run("rules", "CC101", "-f", "markdown").stdout
    assert run("rules", "CC000").exit_code == 2
    records = json.loads(run("rules", "-f", "json").stdout)
    assert all({"code", "name", "severity", "summary", "rationale", "bad", "good"} <= set(r) for r in records)


def test_docs_rules_md_is_generated_from_the_registry():
    generated = run("rules", "--format", "markdown").stdout
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == generated, (
        "docs/rules.md is stale: regenerate with `convcalc rules --format markdown > docs/rules.md`"
    )


def test_calc_prints_volume_formula_and_params():
    result = run("calc", "--input", "227x227x3", "--kernel", "11", "--stride", "4", "--padding", "0", "--filters", "96")
    assert result.exit_code == 0
    assert "227×227×3 → 55×55×96" in result.stdout
    assert "(227 − 11 + 0)/4 + 1 = 55" in result.stdout
    assert "34,944" in result.stdout
    data = json.loads(run("calc", "-i", "10x10x3", "-F", "3", "-S", "2", "-K", "8", "-f", "json").stdout)
    assert data["output_shape"] == [4, 4, 8] and data["fits"] is False
    assert "CC101" in [f["code"] for f in data["findings"]]


def test_calc_usage_errors():
    assert run("calc", "-i", "10x10x3", "-F", "3").exit_code == 2  # neither conv nor pool
    assert run("calc", "-i", "10xx", "-F", "3", "-K", "2").exit_code == 2
    result = run("calc", "-i", "10x10x3", "-F", "0", "-K", "2")
    assert result.exit_code == 2 and "kernel" in result.output


def test_calc_refuses_a_layer_past_convcalcs_figure_limit_without_a_traceback():
    # Valid sizes whose weights pass 2^63 (2 × 2^31−1 × 2^31−1): the analysis refuses them, as check does.
    result = run("calc", "-i", "2147483647x8x1", "-F", "2147483647,3", "-S", "5", "-P", "1", "-K", "2147483647")
    assert result.exit_code == 2
    assert "the weights" in result.output and "pass 2^63, convcalc's limit" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("convcalc.toml", 'dtype = ["float32"]\n'),
        ("convcalc.toml", 'max-params = "1e400x"\n'),
        ("convcalc.toml", "batch = 0\n"),
        ("pyproject.toml", "[tool]\nconvcalc = 3\n"),
        ("convcalc.toml", b"select = ['\xff']\n"),
    ],
)
def test_odd_config_files_are_usage_errors_not_tracebacks(tmp_path, name, content):
    spec = write_spec(tmp_path, MISFIT)
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    result = run("check", spec)
    assert result.exit_code == 2, result.output
    assert str(path) in result.output or name in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_pyproject_without_a_tool_table_is_no_config(tmp_path):
    spec = write_spec(tmp_path, MISFIT)
    (tmp_path / "pyproject.toml").write_text("tool = 1\n")
    result = run("check", spec)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # CC101, no traceback


def test_huge_gates_are_exact_not_overflowing(tmp_path):
    result = run("check", write_spec(tmp_path, MISFIT), "--max-params", "9.2e18", "--select", "CC405")
    assert result.exit_code == 0
    # Past 2^63 − 1 no figure can reach a gate: refused from its digits (1e999999999 is never computed).
    result = run("check", write_spec(tmp_path, MISFIT), "--max-params", "1e400", "--select", "CC405")
    assert result.exit_code == 2 and "--max-params: '1e400' is past 2^63" in result.output


def test_fail_on_is_judged_per_spec_config(tmp_path):
    strict, relaxed = tmp_path / "strict", tmp_path / "relaxed"
    strict.mkdir()
    relaxed.mkdir()
    (strict / "convcalc.toml").write_text('fail-on = "info"\n')
    warning_only = {"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 2, "kernel": 5, "padding": "same"}]}
    loose = write_spec(relaxed, warning_only)
    clean = write_spec(strict, {"input": [8, 8, 1], "layers": [{"type": "global_pool"}]})
    assert run("check", loose).exit_code == 0
    assert run("check", clean).exit_code == 0
    assert run("check", clean, loose).exit_code == 0  # the strict config does not judge the other spec


@pytest.mark.parametrize(
    ("options", "exit_code"),
    [
        (["--max-params", "140M"], 0),
        (["--max-params", "100M"], 1),
        (["--max-macs", "16G"], 0),
        (["--max-macs", "15G"], 1),
        (["--max-memory", "1GiB"], 1),
        (["--max-memory", "64GiB", "--batch", "16"], 0),
        (["--max-params", "lots"], 2),
        (["--dtype", "float64"], 2),
    ],
)
def test_ci_gates(options: list[str], exit_code: int) -> None:
    result = run("check", str(EXAMPLES / "vgg16.json"), *options)
    assert result.exit_code == exit_code, result.output
    if exit_code == 1:
        assert "CC405" in result.stdout


def test_gates_from_config(tmp_path: Path) -> None:
    (tmp_path / "convcalc.toml").write_text('max-params = "1M"\nbatch = 4\n')
    spec = tmp_path / "net.json"
    spec.write_text((EXAMPLES / "mnist_cnn.json").read_text())
    assert run("check", str(spec)).exit_code == 1
