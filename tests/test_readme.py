"""The README's examples are run, so they cannot rot."""

from __future__ import annotations

import json
import re
import sys

import pytest
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.config import config_from_table, settings_markdown
from convcalc.loading import validate
from tests import optional
from tests.helpers import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, flags=re.S)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCKS if lang == language]


def test_quickstart_commands_name_the_real_entry_points():
    plain = "\n".join(body for lang, body in BLOCKS if lang == "")
    assert "pip install -e . && convcalc check examples/vgg16.json" in plain
    assert "python -m pytest" in plain
    assert (ROOT / "examples" / "vgg16.json").exists()


def test_the_spec_example_validates():
    specs = [json.loads(body) for body in blocks("json") if '"layers"' in body and '"type"' in body]
    specs = [s for s in specs if "input" in s and isinstance(s.get("layers"), list) and "findings" not in s]
    assert specs
    for spec in specs:
        validate("README.md", spec)


def test_the_config_example_is_a_valid_config():
    (toml,) = blocks("toml")
    table = tomllib.loads(toml)["tool"]["convcalc"]
    config = config_from_table(table, "README.md")
    assert config.fail_on.value == "warning" and config.ignore == ("CC201",)


def test_shown_command_output_is_what_the_command_prints():
    runner = CliRunner()
    shown = [body for lang, body in BLOCKS if lang == "" and body.startswith("$ convcalc ")]
    assert shown
    for body in shown:
        command, *expected = body.rstrip("\n").split("\n")
        result = runner.invoke(app, command.removeprefix("$ convcalc ").split())
        printed = " ".join(result.stdout.split())  # the terminal and the README wrap lines differently
        if not any("..." in line for line in expected):  # shown whole: exactly what the command prints
            assert " ".join(" ".join(expected).split()) == printed, command
            continue
        position = 0
        for line in expected:  # an abbreviated sample: what is shown is printed, in this order
            shown_part = " ".join(line.split("...")[0].split())
            found = printed.find(shown_part, position)
            assert found >= 0, line
            position = found + len(shown_part)


def test_the_settings_table_is_the_one_the_settings_declare():
    # One declaration (convcalc.config.SETTINGS) drives the keys, the options and this table.
    assert settings_markdown() in README


def test_the_limits_table_states_the_limits_the_code_enforces():
    from convcalc.importers import keras, onnx
    from convcalc.loading import MAX_INPUTS, MAX_KEYS, MAX_LIST_ITEMS, MAX_NESTING, MAX_SPEC_BYTES, MAX_STRING
    from convcalc.spec import MAX_LAYERS

    rows = {
        line.split("|")[1].strip(): line.split("|")[2].strip()
        for line in README.splitlines()
        if line.strip().startswith("| ") and line.count("|") == 4
    }
    mib = 1024 * 1024
    assert rows["layers"] == f"{MAX_LAYERS:,}"
    assert rows["names in all the layers' `inputs` together"] == f"{MAX_INPUTS:,}"
    assert rows["items in any other list (one merge's `inputs`, an `ignore`)"] == f"{MAX_LIST_ITEMS:,}"
    assert rows["keys in one object"] == str(MAX_KEYS)
    assert rows["characters in one string"] == f"{MAX_STRING:,}"
    assert rows["nesting"] == f"{MAX_NESTING} levels"
    assert rows["spec file"] == f"{MAX_SPEC_BYTES // mib} MiB"
    assert rows["Keras architecture JSON (`config.json`, or a `model.to_json()` file)"] == (
        f"{keras.MAX_CONFIG_BYTES // mib} MiB"
    )
    assert rows[".keras archive"] == (
        f"{keras.MAX_ARCHIVE_MEMBERS:,} members, {keras.MAX_DIRECTORY_BYTES // mib} MiB of directory"
    )
    assert rows["ONNX model file"] == f"{onnx.MAX_ONNX_BYTES // (1024 * mib)} GiB"
    assert rows["ONNX graph nodes"] == f"{onnx.MAX_NODES:,}"


def test_the_fix_check_budget_is_the_one_the_readme_states():
    from convcalc.rules.safety import CHECK_BUDGET

    assert f"past {CHECK_BUDGET:,}\n  re-analysed layers" in README


def _python_snippet_needs(body: str) -> str | None:
    """Why a README Python snippet cannot run here (an optional part is absent), or None."""
    import importlib.util

    if "import keras" in body:
        optional.keras()  # skips (or, in CI, fails) without the tensorflow extra
    if ".onnx" in body:
        if importlib.util.find_spec("convcalc.importers.onnx") is None:
            return "convcalc reads ONNX files with its ONNX importer (issue 14), absent from this tree"
        if importlib.util.find_spec("onnx") is None:
            return "needs the onnx extra: pip install -e '.[onnx]'"
        for path in re.findall(r'"([^"]+\.onnx)"', body):
            if not (ROOT / path).exists():
                return f"the snippet's model {path} is absent"
    return None


PYTHON_SNIPPETS = blocks("python")


@pytest.mark.parametrize("number", range(len(PYTHON_SNIPPETS)))
def test_python_snippets_run(number: int, monkeypatch: pytest.MonkeyPatch) -> None:
    body = PYTHON_SNIPPETS[number]
    reason = _python_snippet_needs(body)
    if reason is not None:
        optional.absent(reason)
    monkeypatch.chdir(ROOT)  # the snippets name files as a user in the repository would
    exec(compile(body, f"README.md python snippet {number + 1}", "exec"), {"__name__": "__readme__"})


def test_the_python_section_has_its_three_snippets() -> None:
    assert len(PYTHON_SNIPPETS) >= 3
    assert any("Network(" in body for body in PYTHON_SNIPPETS)
    assert any("import keras" in body for body in PYTHON_SNIPPETS)
    assert any(".onnx" in body for body in PYTHON_SNIPPETS)
