"""Lint configuration: `[tool.convcalc]` in a pyproject.toml, or a convcalc.toml, found upward from a spec.

Precedence, highest first: command-line options; the nearest config file (a convcalc.toml wins over a
pyproject.toml in the same directory); the defaults. ``--select`` replaces the file's ``select``;
``--ignore`` adds to the file's ``ignore``. A spec's own ``"ignore"`` lists then silence findings on top.

The search starts in the spec's directory and goes up, but never past the root of the repository the spec
is in (the first directory holding ``.git``, a folder or a worktree's file) or the user's home directory,
whichever comes first; both are searched. So a config that someone else left in a parent directory (``/tmp``
is writable by everyone) cannot silence the checks of a project. ``--config FILE`` names the file instead of
searching. Every report names the config file that applied (the footer's ``config:`` line, JSON's
``config_file``).

A config file is at most :data:`MAX_CONFIG_BYTES`; a larger one, TOML nested too deeply to parse, an unknown
key or a bad value is a :class:`ConfigError` that names the file and the key (exit 2). Each file is read
once per run (:class:`ConfigFiles`), however many specs share it.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from convcalc.findings import Severity
from convcalc.memory import DTYPE_BYTES, MAX_QUANTITY, parse_quantity
from convcalc.rules import REGISTRY, Rule, Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]


class ConfigError(Exception):
    """A usage error in options or a config file (exit 2); the message names the culprit."""


class LintConfig(NamedTuple):
    """Which rules run, what fails the run, and the rules' settings."""

    select: tuple[str, ...] | None = None
    """Codes or prefixes to enable; None means every rule that is on by default."""
    ignore: tuple[str, ...] = ()
    fail_on: Severity = Severity.ERROR
    settings: Settings = Settings()
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


@functools.cache
def _known_prefixes() -> frozenset[str]:
    return frozenset(code[:end] for code in REGISTRY for end in range(1, len(code) + 1))


def names_a_rule(pattern: str) -> bool:
    """True when ``pattern`` is a rule code or the prefix of one (``CC2``, ``CC201``): one set lookup.

    >>> names_a_rule("CC2"), names_a_rule("CC201"), names_a_rule("CC999")
    (True, True, False)
    """
    return pattern in _known_prefixes()


def check_codes(patterns: Iterable[str], where: str) -> tuple[str, ...]:
    """The patterns, each checked to name at least one rule; a ConfigError names the first that does not."""
    result = []
    for pattern in patterns:
        pattern = pattern.strip().upper()
        if not pattern:
            continue
        if not names_a_rule(pattern):
            raise ConfigError(f"{where}: unknown rule code {pattern!r} (see `convcalc rules`)")
        result.append(pattern)
    return tuple(result)


def split_codes(values: Iterable[str]) -> list[str]:
    """``["CC2,CC301", "CC4"]`` → ``["CC2", "CC301", "CC4"]`` (options may repeat or use commas)."""
    return [part for value in values for part in value.split(",")]


MAX_CONFIG_BYTES = 1024 * 1024
"""The largest config file read (1 MiB); a larger one is refused by name rather than parsed for a minute."""


def search_directories(start: Path) -> Iterator[Path]:
    """``start`` and its parents, up to and including the repository root (the first directory holding
    ``.git``) or the home directory, whichever comes first; up to ``/`` when ``start`` is under neither."""
    home = _home()
    directory = start.resolve()
    for candidate in (directory, *directory.parents):
        yield candidate
        if candidate == home or os.path.lexists(candidate / ".git"):
            return


def _home() -> Path | None:
    try:
        home = Path.home()
    except (RuntimeError, OSError):  # no HOME and no password entry
        return None
    return home.resolve() if home.is_absolute() else None  # HOME="" would make it the working directory


class ConfigFiles:
    """Config files as one run reads them: each file parsed once and each spec folder searched once, however
    many specs share them (a check of a thousand specs in one folder reads its pyproject.toml once)."""

    def __init__(self) -> None:
        self._tables: dict[Path, dict[str, Any]] = {}
        self._found: dict[Path, tuple[Path, dict[str, Any]] | None] = {}

    def read(self, path: Path) -> dict[str, Any]:
        """The parsed TOML of ``path`` (a ConfigError names the file when it cannot be read)."""
        key = path.absolute()
        if key not in self._tables:
            self._tables[key] = read_toml(path)
        return self._tables[key]

    def find(self, start: Path) -> tuple[Path, dict[str, Any]] | None:
        """The nearest convcalc.toml, or pyproject.toml with a [tool.convcalc] table, in
        :func:`search_directories` of ``start``; with its table."""
        key = start.resolve()
        if key not in self._found:
            self._found[key] = self._search(key)
        return self._found[key]

    def _search(self, start: Path) -> tuple[Path, dict[str, Any]] | None:
        for directory in search_directories(start):
            own = directory / "convcalc.toml"
            if own.is_file():
                return own, self.read(own)
            pyproject = directory / "pyproject.toml"
            if pyproject.is_file():
                table = _tool_table(self.read(pyproject), pyproject)
                if table is not None:
                    return pyproject, table
        return None


def find_config_file(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest convcalc.toml, or pyproject.toml with a [tool.convcalc] table, at or above ``start`` (up to
    the repository root or the home directory: :func:`search_directories`)."""
    return ConfigFiles().find(start)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file of at most :data:`MAX_CONFIG_BYTES`, parsed; a ConfigError names the file otherwise."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            raw = handle.read(MAX_CONFIG_BYTES + 1)  # bounded even if the file grows or lies about its size
        if max(size, len(raw)) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{path}: config file too large ({max(size, len(raw)):,} bytes; at most {MAX_CONFIG_BYTES:,});"
                " pass --config FILE to use another"
            )
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
        return data
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(f"{path}: cannot read config: arrays or tables nested too deeply") from None


def _tool_table(data: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """``[tool.convcalc]`` of a pyproject.toml, None when absent; a ConfigError when it is not a table."""
    tool = data.get("tool", {})
    table = tool.get("convcalc") if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.convcalc] must be a table of settings")
    return table


# --- the settings, declared once -------------------------------------------------------------------------


class Setting(NamedTuple):
    """One knob: its config-file key (``--<key>`` on the command line), how it is read and where it lands.

    This table drives the TOML keys, the CLI options (:func:`convcalc.cli.lint_options`), their validation and
    the README's table (:func:`settings_markdown`).
    """

    key: str
    metavar: str
    help: str
    parse: Callable[[Any, str], Any]
    """The value from a config file or the command line, and where it came from → the validated value."""
    store: Callable[[LintConfig, Any, bool], LintConfig]
    """Put the parsed value into a config; the flag says it comes on top of a config file (the CLI's)."""
    integer: bool = False
    """The command line takes an integer ≥ 1 (otherwise text)."""
    repeatable: bool = False
    """The option may be given several times (and take comma-separated values)."""
    example: str = ""
    """How the README writes a value in a config file."""

    @property
    def name(self) -> str:
        """The Python name of the option (``fail_on``)."""
        return self.key.replace("-", "_")


def _codes(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{where}: must be a list of rule codes like ["CC201", "CC3"]')
    return check_codes(split_codes(value), where)


def _selection(value: Any, where: str) -> tuple[str, ...]:
    codes = _codes(value, where)
    if not codes:  # select = [], --select "" or --select ",": no rule would run, and nothing would say so
        raise ConfigError(
            f'{where}: selects no rule; name codes or prefixes like ["CC2", "CC301"], or leave it out for the'
            " default rules"
        )
    return codes


def _select(config: LintConfig, codes: tuple[str, ...], layered: bool) -> LintConfig:
    return config._replace(select=codes)  # the command line's --select replaces the file's


def _ignore(config: LintConfig, codes: tuple[str, ...], layered: bool) -> LintConfig:
    return config._replace(ignore=config.ignore + codes if layered else codes)  # --ignore adds to the file's


def _budget_mib(value: Any, where: str) -> int:
    if type(value) is not int or value < 1:
        raise ConfigError(f"{where}: must be a positive integer (MiB) (got {value!r})")
    return value


def _settings_field(name: str, scale: int = 1) -> Callable[[LintConfig, Any, bool], LintConfig]:
    def store(config: LintConfig, value: Any, layered: bool) -> LintConfig:
        return config._replace(settings=config.settings._replace(**{name: value * scale}))

    return store


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "select", "CODES", "Only these rule codes or prefixes (CC2, CC301); also enables off-by-default rules.",
        _selection, _select, repeatable=True, example='["CC1", "CC2", "CC3"]',
    ),
    Setting(
        "ignore", "CODES", "Skip these rule codes or prefixes (on the command line: added to the file's).",
        _codes, _ignore, repeatable=True, example='["CC201"]',
    ),
    Setting(
        "fail-on", "SEVERITY", "Exit 1 on findings at or above: error (default), warning, info.",
        lambda value, where: parse_severity(value, where), lambda c, v, _: c._replace(fail_on=v), example='"warning"',
    ),
    Setting(
        "activation-budget-mib", "MIB", "CC403's budget: activation memory per example (default 512).",
        _budget_mib, _settings_field("activation_budget_bytes", 1024 * 1024), integer=True, example="256",
    ),
    Setting(
        "max-params", "N", "CI gate (CC405): total parameters, e.g. 25M.",
        lambda value, where: parse_gate(value, where, False), _settings_field("max_params"), example='"25M"',
    ),
    Setting(
        "max-macs", "N", "CI gate (CC405): MACs per example, e.g. 4G.",
        lambda value, where: parse_gate(value, where, False), _settings_field("max_macs"), example='"4G"',
    ),
    Setting(
        "max-memory", "SIZE", "CI gate (CC405): training memory at --batch, e.g. 8GiB.",
        lambda value, where: parse_gate(value, where, True), _settings_field("max_memory_bytes"), example='"8GiB"',
    ),
    Setting(
        "batch", "N", "Batch size of the training-memory estimate (default 1).",
        lambda value, where: parse_batch(value, where), _settings_field("batch"), integer=True, example="32",
    ),
    Setting(
        "dtype", "DTYPE", "float32 (default), float16 or bfloat16 for the memory estimate.",
        lambda value, where: parse_dtype(value, where), _settings_field("dtype"), example='"float16"',
    ),
)  # fmt: skip
"""Every setting a config file or the command line can give, in the order they are documented."""
SETTING_KEYS = tuple(setting.key for setting in SETTINGS)


def config_from_table(table: dict[str, Any], where: str) -> LintConfig:
    """Validate a config table (the keys of SETTINGS) into a LintConfig."""
    for key in table:
        if key not in SETTING_KEYS:
            raise ConfigError(f"{where}: unknown config key {key!r}; allowed: {', '.join(SETTING_KEYS)}")
    config = LintConfig(source=where)
    for setting in SETTINGS:
        if setting.key in table:
            config = setting.store(config, setting.parse(table[setting.key], f"{where}: {setting.key}"), False)
    return config


def with_options(config: LintConfig, options: Mapping[str, Any]) -> LintConfig:
    """The command line's settings on top of a config (by Python name: ``fail_on``; None means not given)."""
    for setting in SETTINGS:
        value = options.get(setting.name)
        if value is None or (setting.repeatable and not value):
            continue
        config = setting.store(config, setting.parse(value, f"--{setting.key}"), True)
    return config


def parse_gate(value: Any, where: str, byte_units: bool) -> int:
    """A gate from a config value or option: an int, or text like "140M" / "2GiB"; at most
    :data:`~convcalc.memory.MAX_QUANTITY`."""
    if type(value) is int and 0 < value <= MAX_QUANTITY:
        return value
    try:
        parsed = parse_quantity(str(value), byte_units=byte_units)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if parsed <= 0:
        raise ConfigError(f"{where}: must be positive (got {value!r})")
    return parsed


MAX_BATCH = 2**31 - 1
"""The largest ``batch``: a tensor's dimension in TensorFlow is an int32 (and no estimate needs more)."""


def parse_batch(value: Any, where: str) -> int:
    if type(value) is not int or not 1 <= value <= MAX_BATCH:
        raise ConfigError(f"{where}: must be a positive integer of at most {MAX_BATCH:,} (got {value!r})")
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
    spec_file: str, *, config_file: str | None = None, files: ConfigFiles | None = None, **options: Any
) -> LintConfig:
    """The effective config for one spec: its config file (or ``config_file``), then the options on top
    (keyword arguments by the settings' Python names: ``select=["CC1"]``, ``fail_on="warning"`` …).

    ``files``: the run's :class:`ConfigFiles`, so that many specs share one reading of each config file.
    """
    unknown = set(options) - {setting.name for setting in SETTINGS}
    if unknown:
        raise TypeError(f"resolve_config: unknown options {sorted(unknown)}")
    files = files or ConfigFiles()
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"{config_file}: no such config file")
        data = files.read(path)
        table = (_tool_table(data, path) or {}) if path.name == "pyproject.toml" else data
        config = config_from_table(table, str(path))
    else:
        found = files.find(Path(spec_file).parent)
        config = config_from_table(found[1], str(found[0])) if found else LintConfig()
    return with_options(config, options)


def settings_markdown() -> str:
    """The README's table of settings: option, config-file key with an example value, meaning."""
    rows = ["| option | `[tool.convcalc]` key | meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        rows.append(f"| `--{setting.key} {setting.metavar}` | `{setting.key} = {setting.example}` | {setting.help} |")
    return "\n".join(rows) + "\n"
