"""The check pipeline: file → validated spec → facts → findings, as one record for the renderers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from convcalc.analysis import FigureLimitError, analyze
from convcalc.checked import CheckedSpec
from convcalc.config import ConfigFiles, LintConfig, matches, names_a_rule, resolve_config
from convcalc.findings import Finding, Severity, sort_findings
from convcalc.loading import (
    MAX_PROBLEMS,
    LoadedSpec,
    Problem,
    SourceMap,
    SpecError,
    capped,
    load_spec,
    open_regular,
    validate,
)
from convcalc.memory import training_memory
from convcalc.rules import run_rules

if TYPE_CHECKING:
    from convcalc.importers.keras import InputSize
from convcalc.rules.safety import known_error_sites, safe_fixes


def load_any(file: str, input_size: InputSize | None = None) -> LoadedSpec:
    """A convcalc spec, or a model file read as data and converted: Keras (.keras or model.to_json()) or ONNX.

    The model is never loaded or run: only its architecture is read (see convcalc.importers).
    ``input_size`` (H, W, D or None) fills the sizes a model file leaves open; a spec states its own input,
    so it is refused with one.
    """
    if _looks_like_a_model(file):
        from convcalc.importers.onnx import is_onnx_file, spec_from_onnx_file

        if is_onnx_file(file):
            spec = spec_from_onnx_file(file, input_size)
            return LoadedSpec(file=file, network=validate(file, spec), source=SourceMap())
        from convcalc.importers.keras import is_keras_file, spec_from_keras_file

        if is_keras_file(file):
            spec = spec_from_keras_file(file, input_size)
            return LoadedSpec(file=file, network=validate(file, spec), source=SourceMap())
    loaded = load_spec(file)
    if input_size is not None:
        raise SpecError(
            file,
            [Problem(("input",), "--input sizes a model file whose input is open; a spec states its own `input`")],
        )
    return loaded


def _looks_like_a_model(file: str) -> bool:
    # A cheap sniff so that plain specs never pay for importing the Keras importer. It opens only regular
    # files and never blocks (a FIFO would wait for a writer); whatever it cannot open, load_spec refuses.
    try:
        with open_regular(file) as handle:
            head = handle.read(4096)
    except (SpecError, OSError):
        return False
    # An ONNX protobuf starts with field 1 (ir_version), byte 0x08; a JSON spec never does.
    model_suffix = file.lower().endswith((".keras", ".h5", ".onnx"))
    return model_suffix or head.startswith((b"PK", b"\x89HDF", b"\x08")) or b'"class_name"' in head


def _check_spec_codes(loaded: LoadedSpec) -> None:
    # A typo in a spec's "ignore" would silently silence nothing: refuse it like any invalid field.
    problems = []
    targets: list[tuple[tuple[str | int, ...], tuple[str, ...]]] = [(("ignore",), loaded.network.ignore)]
    targets += [
        (("layers", i, "ignore"), layer.ignore) for i, layer in enumerate(loaded.network.layers) if layer.ignore
    ]
    for path, codes in targets:
        for code in codes:
            if not names_a_rule(code):
                where = loaded.source.locate(path) or (None, None)
                problems.append(Problem(path, f"unknown rule code {code!r} (see `convcalc rules`)", *where))
                if len(problems) > MAX_PROBLEMS:  # enough to show; SpecError says there are more
                    raise SpecError(loaded.file, capped(problems, more=True))
    if problems:
        raise SpecError(loaded.file, problems)


def check_loaded(loaded: LoadedSpec, config: LintConfig | None = None) -> CheckedSpec:
    """Analyse a loaded spec once, run the enabled rules over its facts, apply the spec's own ignores."""
    config = config or LintConfig()
    _check_spec_codes(loaded)
    try:
        facts = analyze(loaded.network)
    except FigureLimitError as beyond:
        path = ("layers", beyond.index)
        where = loaded.source.locate(path) or (None, None)
        raise SpecError(loaded.file, [Problem(path, beyond.what, *where)]) from None
    network = loaded.network
    rules = config.rules()
    found = run_rules(facts, rules, config.settings)
    kept = [
        f
        for f in found
        if not matches(f.code, network.ignore)
        and not (f.layer is not None and matches(f.code, network.layers[f.layer].ignore))
    ]
    # Every fix is checked on the whole network: none may bring a new error anywhere. The most severe
    # findings first, so that a budget that runs out leaves the warnings and infos without fixes.
    kept.sort(key=lambda f: -f.severity.rank)
    checked = safe_fixes(network, facts, kept, config.settings, before=known_error_sites(found, rules))
    memory = training_memory(facts, config.settings.batch, config.settings.dtype)
    return CheckedSpec(
        file=loaded.file,
        facts=facts,
        findings=sort_findings(checked.findings),
        unchecked_fixes=checked.unchecked,
        source=loaded.source,
        memory=memory,
        config_file=config.source,
    )


class Checked(NamedTuple):
    """A spec checked under its config: what every command starts from."""

    spec: CheckedSpec
    config: LintConfig

    @property
    def fails(self) -> bool:
        """Whether a finding reaches this spec's ``fail-on`` threshold."""
        return fails(self.spec.findings, self.config.fail_on)


def check_file(
    file: str,
    options: Mapping[str, Any] | None = None,
    config_file: str | None = None,
    files: ConfigFiles | None = None,
    input_size: InputSize | None = None,
) -> Checked:
    """The one pipeline of every command: the config (the file's, then ``options`` on top), the spec or
    model file read as data, the analysis and the enabled rules. Raises ConfigError or SpecError.
    ``files``: the run's :class:`~convcalc.config.ConfigFiles`, to read each config file once for many specs;
    ``input_size``: see :func:`load_any`."""
    config = resolve_config(file, config_file=config_file, files=files, **(options or {}))
    return check_configured(file, config, input_size)


def check_configured(file: str, config: LintConfig, input_size: InputSize | None = None) -> Checked:
    """:func:`check_file` with the config already resolved (``check --jobs`` resolves it in the main process,
    so that each config file is read once per run). Raises SpecError."""
    return Checked(check_loaded(load_any(file, input_size), config), config)


def fails(findings: Iterable[Finding], threshold: Severity) -> bool:
    """True when any finding is at or above the threshold severity."""
    return any(f.severity.rank >= threshold.rank for f in findings)
