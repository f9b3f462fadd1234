"""Lint configuration: `[tool.convcalc]` in a pyproject.toml, or a convcalc.toml, found upward from a spec.

Precedence, highest first: command-line options; the nearest config file (a convcalc.toml wins over a
pyproject.toml in the same directory); the defaults. ``--select`` replaces the file's ``select``;
``--ignore`` adds to the file's ``ignore``. A spec's own ``"ignore"`` lists then silence findings on top.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from convcalc.findings import Severity
from convcalc.memory import DTYPE_BYTES, parse_quantity
from convcalc.rules import REGISTRY, Rule, Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

KNOWN_KEYS = (
    "select",
    "ignore",
    "fail-on",
    "activation-budget-mib",
    "max-params",
    "max-macs",
    "max-memory",
    "batch",
    "dtype",
)


class ConfigError(Exception):
    """A usage error in options or a config file (exit 2); the message names the culprit."""


@dataclass(frozen=True)
class LintConfig:
    """Which rules run, what fails the run, and the rules' settings."""

    select: tuple[str, ...] | None = None
    """Codes or prefixes to enable; None means every rule that is on by default."""
    ignore: tuple[str, ...] = ()
    fail_on: Severity = Severity.ERROR
    settings: Settings = field(default_factory=Settings)
    source: str | None = None
    """The config file these settings came from, if any."""

    def rules(self) -> list[Rule]:
        """The enabled rules, in code order."""
        chosen = []
        for code, rule in sorted(REGISTRY.items()):
            selected = rule.default_enabled if self.select is None else matches(code, self.select)
            if selected and not matches(code, self.ignore):
                chosen.append(rule)
        return chosen


def matches(code: str, patterns: Iterable[str]) -> bool:
    """True when ``code`` equals or starts with one of the patterns (``CC2`` matches CC201…CC299)."""
    return any(code.startswith(pattern) for pattern in patterns)


def check_codes(patterns: Iterable[str], where: str) -> tuple[str, ...]:
    """The patterns, each checked to name at least one rule; a ConfigError names the first that does not."""
    result = []
    for pattern in patterns:
        pattern = pattern.strip().upper()
        if not pattern:
            continue
        if not any(code.startswith(pattern) for code in REGISTRY):
            raise ConfigError(f"{where}: unknown rule code {pattern!r} (see `convcalc rules`)")
        result.append(pattern)
    return tuple(result)


def split_codes(values: Iterable[str]) -> list[str]:
    """``["CC2,CC301", "CC4"]`` → ``["CC2", "CC301", "CC4"]`` (options may repeat or use commas)."""
    return [part for value in values for part in value.split(",")]


def find_config_file(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest convcalc.toml, or pyproject.toml with a [tool.convcalc] table, at or above ``start``."""
    directory = start.resolve()
    for candidate_dir in (directory, *directory.parents):
        own = candidate_dir / "convcalc.toml"
        if own.is_file():
            return own, _read_toml(own)
        pyproject = candidate_dir / "pyproject.toml"
        if pyproject.is_file():
            table = _tool_table(_read_toml(pyproject), pyproject)
            if table is not None:
                return pyproject, table
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None


def _tool_table(data: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """``[tool.convcalc]`` of a pyproject.toml, None when absent; a ConfigError when it is not a table."""
    tool = data.get("tool", {})
    table = tool.get("convcalc") if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.convcalc] must be a table of settings")
    return table


def config_from_table(table: dict[str, Any], where: str) -> LintConfig:
    """Validate a config table (the keys of KNOWN_KEYS) into a LintConfig."""
    for key in table:
        if key not in KNOWN_KEYS:
            raise ConfigError(f"{where}: unknown config key {key!r}; allowed: {', '.join(KNOWN_KEYS)}")
    config = LintConfig(source=where)
    for key in ("select", "ignore"):
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f'{where}: {key} must be a list of rule codes like ["CC201", "CC3"]')
            codes = check_codes(value, f"{where}: {key}")
            config = replace(config, select=codes) if key == "select" else replace(config, ignore=codes)
    if "fail-on" in table:
        config = replace(config, fail_on=parse_severity(table["fail-on"], f"{where}: fail-on"))
    settings = config.settings
    if "max-params" in table:
        settings = replace(settings, max_params=parse_gate(table["max-params"], f"{where}: max-params", False))
    if "max-macs" in table:
        settings = replace(settings, max_macs=parse_gate(table["max-macs"], f"{where}: max-macs", False))
    if "max-memory" in table:
        settings = replace(settings, max_memory_bytes=parse_gate(table["max-memory"], f"{where}: max-memory", True))
    if "batch" in table:
        settings = replace(settings, batch=parse_batch(table["batch"], f"{where}: batch"))
    if "dtype" in table:
        settings = replace(settings, dtype=parse_dtype(table["dtype"], f"{where}: dtype"))
    config = replace(config, settings=settings)
    if "activation-budget-mib" in table:
        budget = table["activation-budget-mib"]
        if type(budget) is not int or budget < 1:
            raise ConfigError(f"{where}: activation-budget-mib must be a positive integer (MiB)")
        config = replace(config, settings=replace(config.settings, activation_budget_bytes=budget * 1024 * 1024))
    return config


def parse_gate(value: Any, where: str, byte_units: bool) -> int:
    """A gate from a config value or option: an int, or text like "140M" / "2GiB"."""
    if type(value) is int and value > 0:
        return value
    try:
        parsed = parse_quantity(str(value), byte_units=byte_units)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if parsed <= 0:
        raise ConfigError(f"{where}: must be positive (got {value!r})")
    return parsed


def parse_batch(value: Any, where: str) -> int:
    if type(value) is not int or value < 1:
        raise ConfigError(f"{where}: must be a positive integer (got {value!r})")
    return value


def parse_dtype(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in DTYPE_BYTES:
        raise ConfigError(f"{where}: must be one of {', '.join(DTYPE_BYTES)} (got {value!r})")
    return str(value)


def parse_severity(value: Any, where: str) -> Severity:
    try:
        return Severity(str(value).lower())
    except ValueError:
        raise ConfigError(f"{where}: must be one of error, warning, info (got {value!r})") from None


def resolve_config(
    spec_file: str,
    *,
    select: list[str] | None = None,
    ignore: list[str] | None = None,
    fail_on: str | None = None,
    activation_budget_mib: int | None = None,
    config_file: str | None = None,
    max_params: str | None = None,
    max_macs: str | None = None,
    max_memory: str | None = None,
    batch: int | None = None,
    dtype: str | None = None,
) -> LintConfig:
    """The effective config for one spec: its config file (or ``config_file``), then the options on top."""
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"{config_file}: no such config file")
        data = _read_toml(path)
        table = (_tool_table(data, path) or {}) if path.name == "pyproject.toml" else data
        config = config_from_table(table, str(path))
    else:
        found = find_config_file(Path(spec_file).parent)
        config = config_from_table(found[1], str(found[0])) if found else LintConfig()
    if select is not None:
        config = replace(config, select=check_codes(split_codes(select), "--select"))
    if ignore:
        config = replace(config, ignore=config.ignore + check_codes(split_codes(ignore), "--ignore"))
    if fail_on is not None:
        config = replace(config, fail_on=parse_severity(fail_on, "--fail-on"))
    settings = config.settings
    if activation_budget_mib is not None:
        settings = replace(settings, activation_budget_bytes=activation_budget_mib * 1024 * 1024)
    if max_params is not None:
        settings = replace(settings, max_params=parse_gate(max_params, "--max-params", False))
    if max_macs is not None:
        settings = replace(settings, max_macs=parse_gate(max_macs, "--max-macs", False))
    if max_memory is not None:
        settings = replace(settings, max_memory_bytes=parse_gate(max_memory, "--max-memory", True))
    if batch is not None:
        settings = replace(settings, batch=parse_batch(batch, "--batch"))
    if dtype is not None:
        settings = replace(settings, dtype=parse_dtype(dtype, "--dtype"))
    return replace(config, settings=settings)
