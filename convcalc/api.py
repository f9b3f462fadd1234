"""convcalc as a library: :func:`check` anything convcalc reads, and get a :class:`Report`.

``check`` takes a spec or model file (through :func:`convcalc.checking.check_file`, the pipeline of
``convcalc check``), spec JSON data, a :class:`~convcalc.building.Network`, or a Keras model in memory (its
``to_json()`` read as data by the Keras importer of model files: nothing is built or run). A :class:`Report`
holds the facts and findings and renders them as the CLI does; in a notebook it shows itself.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from convcalc import spec
from convcalc.building import PYTHON, InvalidSpec, Network, as_data, to_data
from convcalc.checked import CheckedSpec
from convcalc.checking import check_file, check_loaded, fails
from convcalc.config import SETTINGS, ConfigError, LintConfig, resolve_config, with_options
from convcalc.extras import is_installed
from convcalc.findings import Finding, Fix, Severity
from convcalc.layers.fields import MAX_SIZE
from convcalc.loading import LoadedSpec, Problem, SourceMap, SpecError, validate
from convcalc.text import plural, printable

if TYPE_CHECKING:
    from convcalc.importers.keras import InputSize

__all__ = ["Report", "check"]

KERAS_MODULES = ("keras", "tf_keras", "tensorflow")
"""Where a Keras model's class (or a base class of it) is defined."""
TORCH_MODULES = ("torch",)
_SETTING_NAMES = {setting.name: setting for setting in SETTINGS}
_ANCHORS = itertools.count()
REPR_NAME = 40
"""The most characters of a name ``repr`` shows (an imported model's name can be a sentence)."""


def check(source: Any, *, input: Any = None, config: str | os.PathLike[str] | None = None, **settings: Any) -> Report:
    """Check a network: every volume and count, and the lint rules' findings with their fixes.

    ``source``: a spec or model file (a path: JSON spec, ``.keras``, ``model.to_json()`` output, and whatever
    else ``convcalc check`` reads), spec JSON data (a dict; a Keras config dict too), a :class:`Network`, or a
    Keras model in memory (read through ``model.to_json()`` as data; nothing is run).
    ``input``: ``(H, W)`` or ``(H, W, D)`` for a model whose input size is open (the CLI's ``--input``).
    ``config``: a convcalc.toml or pyproject.toml to use; a file source also finds one above it as the CLI does.
    ``settings``: the ``[tool.convcalc]`` keys with underscores (``select=["CC1", "CC2"]``, ``fail_on="warning"``,
    ``batch=32`` …), on top of the config file's.

    Raises :class:`InvalidSpec` for a source, setting or config convcalc cannot use, naming every problem.
    """
    options = _options(settings)
    input_size = _input_size(input)
    config_file = None if config is None else os.fspath(config)
    if isinstance(source, (str, os.PathLike)):
        file = os.fspath(source)
        try:
            checked = check_file(file, options, config_file, input_size=input_size)
        except SpecError as error:
            raise InvalidSpec.of(error) from None
        except ConfigError as error:
            raise _refused(None, str(error)) from None
        return Report(checked.spec, checked.config)
    loaded = _loaded(source, input_size)
    try:
        lint = resolve_config("", config_file=config_file) if config_file is not None else LintConfig()
        lint = with_options(lint, options)
    except ConfigError as error:
        raise _refused(None, str(error)) from None
    try:
        return Report(check_loaded(loaded, lint), lint)
    except SpecError as error:
        raise InvalidSpec.of(error) from None


def _options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings, checked here so that a bad one is named as the caller wrote it (``fail_on``, not
    ``--fail-on``); a rule-code list may be given as one string."""
    options: dict[str, Any] = {}
    problems = []
    for name, value in settings.items():
        setting = _SETTING_NAMES.get(name)
        if setting is None:
            allowed = ", ".join(_SETTING_NAMES)
            problems.append(Problem((), f"unknown setting {name!r}; the settings are {allowed} (and input, config)"))
            continue
        if setting.repeatable and isinstance(value, str):
            value = [value]
        try:
            setting.parse(value, name)
        except ConfigError as error:
            problems.append(Problem((), str(error)))
            continue
        options[name] = value
    if problems:
        raise InvalidSpec(None, problems)
    return options


def _input_size(value: Any) -> InputSize | None:
    if value is None:
        return None
    sizes = list(value) if isinstance(value, (list, tuple)) else None
    if (
        sizes is None
        or len(sizes) not in (2, 3)
        or not all(type(size) is int and 1 <= size <= MAX_SIZE for size in sizes)
    ):
        raise _refused(None, f"input: expected (H, W) or (H, W, D), sizes 1 to {MAX_SIZE:,} (got {value!r})")
    return (sizes[0], sizes[1], sizes[2] if len(sizes) == 3 else None)


def _defined_in(source: Any, roots: tuple[str, ...]) -> bool:
    """Whether the object's class, or a class it derives from, comes from one of these packages (without
    importing any of them)."""
    return any((cls.__module__ or "").split(".")[0] in roots for cls in type(source).__mro__)


def _refused(source: str | None, message: str, path: tuple[str, ...] = ()) -> InvalidSpec:
    return InvalidSpec(source, [Problem(path, message)])


_STATES_ITS_INPUT = "input= sizes a model whose input is open; a spec states its own"


def _loaded(source: Any, input_size: InputSize | None) -> LoadedSpec:
    """An in-memory source, validated as a spec."""
    if isinstance(source, Mapping) and "class_name" in source:  # a Keras config: json.loads(model.to_json())
        return _keras(as_data(source), f"<keras config {source.get('class_name')!s:.60}>", input_size)
    if isinstance(source, (spec.Network, Mapping)):
        if input_size is not None:
            raise _refused(PYTHON, _STATES_ITS_INPUT, ("input",))
        if isinstance(source, spec.Network):
            return LoadedSpec(PYTHON, source, SourceMap())
        try:
            return LoadedSpec(PYTHON, validate(PYTHON, as_data(source)), SourceMap())
        except SpecError as error:
            raise InvalidSpec.of(error) from None
    if _defined_in(source, KERAS_MODULES) and callable(getattr(source, "to_json", None)):
        label = f"<keras {type(source).__name__} {getattr(source, 'name', '')!s:.60}>"
        try:
            text = source.to_json()
        except Exception as exc:  # the framework's own error, whatever it is: convcalc cannot read this model
            failed = f"model.to_json() failed ({type(exc).__name__}: {exc!s:.300})"
            raise _refused(label, f"{failed}; convcalc reads Sequential and Functional models") from None
        return _keras(json.loads(text), label, input_size)
    if _defined_in(source, TORCH_MODULES) and callable(getattr(source, "eval", None)):
        return _torch(source, f"<torch {type(source).__name__}>", input_size)
    kind = f"{type(source).__module__}.{type(source).__qualname__}"
    raise _refused(
        None,
        f"convcalc.check cannot read a {kind}: give a path, spec data (a dict), a convcalc.Network or a Keras model",
    )


def _torch(module: Any, label: str, input_size: InputSize | None) -> LoadedSpec:
    """A ``torch.nn.Module`` through ONNX: exported in eval mode with the TorchScript exporter (no constant
    folding, so batchnorms stay and the trainable count is PyTorch's) to a temporary file, then read as data
    like any ``.onnx`` file. A module states no input size: ``input=(H, W, D)`` gives it."""
    if input_size is None or input_size[2] is None:
        raise _refused(label, "a PyTorch module states no input size: pass input=(H, W, D), e.g. input=(224, 224, 3)")
    if not is_installed("onnx"):
        raise _refused(label, "convcalc reads a PyTorch module through ONNX: pip install 'convcalc[onnx]'")
    import tempfile

    import torch  # the caller's own: they hold a module, so it is imported already

    from convcalc.importers.onnx import spec_from_onnx_file

    height, width, depth = input_size[0], input_size[1], input_size[2]
    sample = torch.zeros(1, depth, height, width)
    training = bool(module.training)
    with tempfile.TemporaryDirectory(prefix="convcalc-") as folder:
        path = os.path.join(folder, "model.onnx")
        module.eval()
        try:
            with _local_response_norm_as_lrn(torch, module):
                failed = _export_onnx(torch, module, sample, path)
        finally:
            module.train(training)
        if failed:
            raise _refused(label, f"torch.onnx.export failed ({failed})")
        try:
            # Its buffers (a blur pool's fixed filter) are stored as weights are: named, they import frozen.
            data = spec_from_onnx_file(path, fixed=frozenset(name for name, _ in module.named_buffers()))
        except SpecError as error:
            raise InvalidSpec.of(SpecError(label, error.problems)) from None
    try:
        return LoadedSpec(label, validate(label, data), SourceMap())
    except SpecError as error:
        raise InvalidSpec.of(error) from None


@contextlib.contextmanager
def _local_response_norm_as_lrn(torch: Any, module: Any) -> Iterator[None]:
    """PyTorch's ``LocalResponseNorm`` of an odd size exported as ONNX's one ``LRN`` node, the same definition
    (α divided by the size, the window centred). Without this the TorchScript exporter traces
    ``F.local_response_norm`` step by step (a Pad and an AveragePool over a 5-D view, an If on the rank), which
    no reader follows. Only the module's own instances, for the export alone; an even size (which PyTorch and
    ONNX centre differently) is left as PyTorch writes it, to be refused."""

    class LocalResponseNorm(torch.autograd.Function):  # type: ignore[misc]  # torch is untyped here
        @staticmethod
        def forward(ctx: Any, x: Any, size: int, alpha: float, beta: float, k: float) -> Any:
            return torch.nn.functional.local_response_norm(x, size, alpha, beta, k)

        @staticmethod
        def symbolic(g: Any, x: Any, size: int, alpha: float, beta: float, k: float) -> Any:
            return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)

    def as_lrn(norm: Any) -> Any:
        # Plain numbers: the exporter reads an int alpha as an int attribute, which LRN does not take.
        numbers = (int(norm.size), float(norm.alpha), float(norm.beta), float(norm.k))
        return lambda x: LocalResponseNorm.apply(x, *numbers)

    norms = [
        norm
        for norm in module.modules()
        if type(norm) is torch.nn.LocalResponseNorm and norm.size % 2 == 1 and "forward" not in vars(norm)
    ]
    for norm in norms:
        norm.forward = as_lrn(norm)
    try:
        yield
    finally:
        for norm in norms:
            del norm.forward


def _export_onnx(torch: Any, module: Any, sample: Any, path: str) -> str:
    """Export ``module`` to ``path``; what went wrong, or "" when it worked.

    The TorchScript exporter first: it keeps batchnorms unfolded and takes ~0.3 s for a ResNet-18, where the
    dynamo exporter takes ~2 s. PyTorch deprecates it and warns on every call, about convcalc's choice rather
    than the caller's code, so those warnings are silenced here. Where it fails (a module it cannot trace, or a
    PyTorch that has dropped it) the dynamo exporter, which needs onnxscript, tries next, unoptimised so that
    batchnorms stay. A PyTorch before the dynamo exporter (2.1 to 2.4: no ``dynamo`` keyword) has the
    TorchScript one alone."""
    import inspect

    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    chosen = {"dynamo": False} if has_dynamo else {}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="You are using the legacy TorchScript", category=DeprecationWarning
            )
            warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
            torch.onnx.export(module, (sample,), path, do_constant_folding=False, **chosen)
        return ""
    except Exception as exc:  # the exporter's own error, whatever it is
        legacy = f"{type(exc).__name__}: {exc!s:.300}"
    if not has_dynamo:
        return legacy
    if not is_installed("onnxscript"):
        return f"{legacy}; the dynamo exporter, which might read it, needs onnxscript: pip install onnxscript"
    if "tensorflow" in sys.modules and "triton" not in sys.modules and is_installed("triton"):
        # torch.export imports triton, and triton's first import after TensorFlow's kills the process.
        return f"{legacy}; the dynamo exporter, which might read it, cannot run after TensorFlow is imported here"
    try:
        torch.onnx.export(module, (sample,), path, dynamo=True, optimize=False, verbose=False)
    except Exception as exc:
        return f"TorchScript: {legacy}; dynamo: {type(exc).__name__}: {exc!s:.300}"
    return ""


def _keras(config: Any, label: str, input_size: InputSize | None) -> LoadedSpec:
    from convcalc.importers.keras import spec_from_keras_config

    try:
        data = spec_from_keras_config(config, label, input_size)
        return LoadedSpec(label, validate(label, data), SourceMap())
    except SpecError as error:
        raise InvalidSpec.of(error) from None


class Report:
    """One checked network: its facts, totals and findings, and the CLI's renderings of them.

    In a notebook it shows the table, the findings with their fixes and the diagram (``_repr_html_``).
    """

    def __init__(self, checked: CheckedSpec, config: LintConfig) -> None:
        self.checked = checked
        """The record every renderer takes (:class:`~convcalc.checked.CheckedSpec`)."""
        self.config = config
        """The settings that applied (the config file's, then the ones given)."""

    @property
    def name(self) -> str | None:
        """The network's name, if it has one."""
        return self.checked.facts.name

    @property
    def file(self) -> str:
        """The file checked, or ``<python>``, ``<keras Sequential name>`` for what was in memory."""
        return self.checked.file

    @property
    def network(self) -> Network:
        """The network checked (a Keras model's as convcalc's spec)."""
        return Network.of(self.checked.facts.network)

    @property
    def layers(self) -> list[dict[str, Any]]:
        """Every layer's facts (shapes, counts, MACs, receptive field, window), as in the JSON report."""
        from convcalc.report.json_report import layer_record

        names = [layer.name for layer in self.checked.facts.layers]
        return [layer_record(layer, names) for layer in self.checked.facts.layers]

    @property
    def totals(self) -> dict[str, Any]:
        """The network's totals (params, MACs, memory), as in the JSON report."""
        record = self.to_dict()
        keep = ("total_", "param_bytes", "activation_", "training_memory", "input_shape", "output_shape")
        return {key: value for key, value in record.items() if key.startswith(keep)}

    @property
    def total_params(self) -> int:
        return self.checked.facts.total_params

    @property
    def total_macs(self) -> int:
        return self.checked.facts.total_macs

    @property
    def findings(self) -> list[Finding]:
        """The findings, sorted by layer and code; each has its ``fixes``."""
        return list(self.checked.findings)

    def count(self, severity: Severity | str) -> int:
        """How many findings have this severity (``"error"``, ``"warning"``, ``"info"``)."""
        return sum(1 for finding in self.checked.findings if finding.severity == Severity(severity))

    @property
    def fails(self) -> bool:
        """Whether a finding reaches ``fail_on`` (by default: an error): ``convcalc check`` would exit 1."""
        return fails(self.checked.findings, self.config.fail_on)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report as Python data."""
        from convcalc.report.json_report import spec_record

        return spec_record(self.checked)

    def to_json(self) -> str:
        """The JSON report, byte for byte what ``convcalc check -f json FILE`` prints."""
        from convcalc.report import json_report

        return json_report.render([self.checked])

    def table(self, width: int = 100, all: bool = False) -> str:
        """The terminal report without colour: the table at ``width`` characters (``all``: every layer, no
        folding), the totals and the findings with their fixes, as ``convcalc check --width N`` prints it."""
        from convcalc.report import table
        from convcalc.report.common import RenderOptions

        return table.render([self.checked], RenderOptions(fold=not all, width=width))

    def draw(self) -> str:
        """The diagram as SVG text (``convcalc draw``)."""
        from convcalc.draw import draw_svg

        return draw_svg(self.checked)

    def apply(self, fix: Fix | Finding) -> Network:
        """The network with ``fix`` applied (a finding: its first fix), validated; check it again to see the
        finding gone."""
        from convcalc.fixes import apply_fix

        if isinstance(fix, Finding):
            if not fix.fixes:
                raise ValueError(f"{fix.code} on {self.checked.layer_label(fix)} has no fix")
            fix = fix.fixes[0]
        data = apply_fix(to_data(self.checked.facts.network), fix)
        try:
            return Network.of(validate(PYTHON, data))
        except SpecError as error:
            raise InvalidSpec.of(error) from None

    def __repr__(self) -> str:
        facts = self.checked.facts
        counts = [plural(self.count(Severity.ERROR), "error"), plural(self.count(Severity.WARNING), "warning")]
        if self.count(Severity.INFO):
            counts.append(plural(self.count(Severity.INFO), "info"))
        label = printable(facts.name or self.checked.file)
        label = label if len(label) <= REPR_NAME else label[: REPR_NAME - 1] + "…"
        return (
            f"<Report {label}: {plural(len(facts.layers), 'layer')},"
            f" {facts.total_params:,} params, {', '.join(counts)}>"
        )

    def _repr_html_(self) -> str:
        from convcalc.report.html import fragment

        return fragment(self.checked, f"convcalc{next(_ANCHORS)}")

    def _repr_svg_(self) -> str:
        return self.draw()
