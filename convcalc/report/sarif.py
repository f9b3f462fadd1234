"""SARIF 2.1.0 for GitHub code scanning: rules (from the registry, with help text) and located results."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

from convcalc import __version__
from convcalc.checked import CheckedSpec
from convcalc.findings import Severity
from convcalc.report.common import DEFAULT_OPTIONS, RenderOptions
from convcalc.rules import REGISTRY, Rule
from convcalc.text import json_safe

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
INFORMATION_URI = "https://pypi.org/project/convcalc/"


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.summary},
        "help": {"text": rule.rationale, "markdown": rule.rationale},
        "defaultConfiguration": {"level": LEVELS[rule.severity], "enabled": rule.default_enabled},
        "properties": {"tags": ["cnn", "architecture"], "problem.severity": rule.severity.value},
    }


def artifact_uri(file: str) -> str:
    """The file as a percent-encoded URI: relative with forward slashes when it is under the working
    directory, else ``file://``. The file name's bytes are encoded, so an undecodable one survives exactly.

    >>> artifact_uri("my spec#1?.json")
    'my%20spec%231%3F.json'
    """
    path = Path(file)
    try:
        path = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path.resolve().as_uri()
    return quote_from_bytes(os.fsencode(path.as_posix()), safe="/")


def render(results: Sequence[CheckedSpec], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    return join([part(checked, options) for checked in results], options)


def part(checked: CheckedSpec, options: RenderOptions = DEFAULT_OPTIONS) -> list[dict[str, Any]]:
    """One spec's SARIF results."""
    index = {code: i for i, code in enumerate(sorted(REGISTRY))}
    sarif_results = []
    uri = artifact_uri(checked.file)
    for finding in checked.findings:
        line, column = checked.position(finding) or (1, 1)
        label = checked.layer_label(finding)
        sarif_results.append(
            {
                "ruleId": finding.code,
                "ruleIndex": index[finding.code],
                "level": LEVELS[finding.severity],
                "message": {"text": f"{label}: {finding.message}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri},
                            "region": {"startLine": line, "startColumn": column},
                        }
                    }
                ],
                "properties": {
                    "layer": finding.layer,
                    "fixes": [fix.record() for fix in finding.fixes],
                    "config_file": checked.config_file,
                },
            }
        )
    return sarif_results


def join(parts: Sequence[list[dict[str, Any]]], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """One SARIF log: every rule, and the specs' results in order."""
    codes = sorted(REGISTRY)
    sarif_results = [result for results in parts for result in results]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "convcalc",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [rule_descriptor(REGISTRY[code]) for code in codes],
                    }
                },
                "results": sarif_results,
            }
        ],
    }
    return json_safe(json.dumps(log, indent=2, ensure_ascii=False)) + "\n"
