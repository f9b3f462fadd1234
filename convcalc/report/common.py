"""What every human format shares: the footer's sentences, the renderers' options, and spec errors as text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from convcalc.analysis import PARAMS_CONVENTION
from convcalc.checked import CheckedSpec
from convcalc.loading import SpecError, format_path
from convcalc.text import human_bytes, human_count, printable

if TYPE_CHECKING:
    from convcalc.analysis import LayerFacts


class RenderOptions(NamedTuple):
    """What a renderer may be asked beyond the results; each format reads the options it has a use for."""

    fold: bool = True
    """Fold runs of repeated layers into one group (table, markdown)."""
    width: int | None = None
    """Table width in characters; None: the terminal's, or a default when not writing to one."""
    color: bool = False
    """Colour and bold for a terminal (ANSI), never in files or pipes."""
    as_list: bool | None = None
    """JSON: an array even for one spec (several files were asked for); None: by the number of results."""


DEFAULT_OPTIONS = RenderOptions()
DEFAULT_WIDTH = 100
"""Table width when not writing to a terminal (a pipe, a CI log, a file) and ``COLUMNS`` is not set."""

Renderer = Callable[[Sequence[CheckedSpec], RenderOptions], str]
"""Every format's ``render``: the checked specs and the options in, the whole output text out."""
PartRenderer = Callable[[CheckedSpec, RenderOptions], Any]
"""Every format's ``part``: one spec's share of the output, a picklable value (see :mod:`convcalc.report`)."""
Joiner = Callable[[Sequence[Any], RenderOptions], str]
"""Every format's ``join``: the whole output text from the parts, in order."""


_T = TypeVar("_T")


class PerField(Generic[_T]):
    """``make(layer)``, for a value that depends on the layer's receptive field alone, made once per field:
    most layers pass their input's field on whole (a relu, a batchnorm: the very same objects), so a ResNet-50's
    177 layers have 58 fields. Keyed by the fields' ``id``s (hashing their fractions would cost what it saves);
    each entry holds its fields, so no id is reused while the memo lives."""

    __slots__ = ("_made", "_make")

    def __init__(self, make: Callable[[LayerFacts], _T]) -> None:
        self._make = make
        self._made: dict[tuple[int, int], tuple[object, object, _T]] = {}

    def __call__(self, layer: LayerFacts) -> _T:
        rows, cols = layer.rf_rows, layer.rf_cols
        key = (id(rows), id(cols))
        entry = self._made.get(key)
        if entry is None:
            entry = self._made[key] = (rows, cols, self._make(layer))
        return entry[2]


def totals_lines(checked: CheckedSpec) -> list[str]:
    """The footer: totals, conventions, memory and the config file that applied; the same sentences in every
    human format."""
    facts = checked.facts
    lines = [
        f"total params: {facts.total_params:,} ({facts.total_weights:,} weights + {facts.total_biases:,} biases"
        + (f" + {facts.total_statistics:,} non-trainable" if facts.total_statistics else "")
        + f"; trainable {facts.total_trainable_params:,}"
        + (f", frozen {facts.total_frozen:,}" if facts.total_frozen else "")
        + ")"
        f" · parameter memory: {human_bytes(facts.param_bytes)} (float32)"
        f" · output: {facts.output_shape}",
        f"MACs per example: {facts.total_macs:,} ({human_count(facts.total_macs)}; FLOPs = 2·MACs ="
        f" {2 * facts.total_macs:,})"
        f" · activation memory: {human_bytes(facts.activation_bytes)} per example"
        f" ({facts.activation_values:,} values incl. input, float32)",
    ]
    memory = checked.memory
    if memory is not None:
        lines.append(
            f"training memory at batch {memory.batch}, {memory.dtype}: {human_bytes(memory.total)} ="
            f" weights {human_bytes(memory.weights)} + gradients {human_bytes(memory.gradients)}"
            f" + Adam state {human_bytes(memory.optimizer)} + saved activations {human_bytes(memory.activations)}"
            " (a lower bound)"
        )
    if facts.total_statistics:
        lines.append(f"params: {PARAMS_CONVENTION}")
    if checked.config_file is not None:
        lines.append(f"config: {printable(checked.config_file)}")
    return lines


def spec_error_text(error: SpecError) -> str:
    """Why a spec is invalid, as bullets: ``file:line:col: layers[3].stride: must be ≥ 1 (got -1)``."""
    lines = [f"error: {printable(error.file)} is not a valid convcalc spec:"]
    for problem in error.problems:
        where = printable(error.file)
        if problem.line is not None:
            where += f":{problem.line}:{problem.column}"
        path = f"{printable(format_path(problem.path))}: " if problem.path else ""
        lines.append(f"  - {where}: {path}{printable(problem.message)}")
    return "\n".join(lines) + "\n"
