"""Whether a checked spec may go to TensorFlow: error findings, ``--force``, and size limits (no TensorFlow here).

Everything is decided from convcalc's own figures before TensorFlow is imported, so an absurd spec is refused
in milliseconds instead of exhausting memory in Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from convcalc.checked import CheckedSpec
from convcalc.export.plan import unbuildable, unsupported
from convcalc.findings import EXIT_FINDINGS, EXIT_USAGE, Severity
from convcalc.memory import parse_quantity
from convcalc.text import human_bytes, printable


def parse_size(text: str) -> int:
    """A byte count from ``4GiB``, ``500MB``, ``1.5GiB`` or plain ``1048576``; raises ValueError otherwise.

    >>> parse_size("4GiB"), parse_size("500 MB"), parse_size("1024")
    (4294967296, 500000000, 1024)
    """
    return parse_quantity(text, byte_units=True)


@dataclass(frozen=True)
class Limits:
    """The largest spec that may be handed to TensorFlow."""

    max_param_bytes: int
    max_activation_bytes: int
    """For the whole batch that will run: per example (the figure ``convcalc check`` prints) × ``batch``."""
    batch: int = 1
    """Examples TensorFlow will hold at once (verify's ``--batch-size``; export builds without running)."""


@dataclass(frozen=True)
class Decision:
    """Go ahead (``exit_code`` None) or stop with that code; ``messages`` are stderr lines either way."""

    exit_code: int | None
    messages: list[str] = field(default_factory=list)
    show_findings: bool = False


def decide(
    checked: CheckedSpec,
    *,
    force: bool,
    limits: Limits,
    verb: str,
    ignored: tuple[str, ...] = (),
    framework: str = "TensorFlow",
) -> Decision:
    """Decide whether ``checked`` may be built; ``verb`` (``exported``, ``verified``) and the ``framework`` that
    builds it (``TensorFlow``, ``PyTorch``) go into the messages.

    A layer the export cannot map stops it (exit 2); error findings stop it (exit 1) unless ``force``; a layer
    with no output stops it even then (the framework cannot build it); parameter or activation memory over the
    limits stops it (exit 2). ``ignored`` rule codes neither stop it nor count (CC108, TensorFlow's own
    refusals, for the PyTorch export).
    """
    file = printable(checked.file)
    facts = checked.facts
    reasons = unsupported(facts)
    if reasons:
        return Decision(EXIT_USAGE, [f"error: {file}: not {verb}: {printable(reason)}" for reason in reasons[:10]])
    errors = [f for f in checked.findings if f.severity is Severity.ERROR and f.code not in ignored]
    if errors and not force:
        count = f"{len(errors)} error finding{'s' if len(errors) != 1 else ''}"
        return Decision(
            EXIT_FINDINGS,
            [
                f"error: {file}: not {verb}: {count}; fix the spec, or pass --force to build what {framework}"
                " would build (floored sizes)"
            ],
            show_findings=True,
        )
    cannot = unbuildable(facts, skip=ignored)
    if cannot:
        return Decision(
            EXIT_FINDINGS,
            [
                f"error: {file}: not {verb}: {printable(cannot[0])}; {framework} cannot build it, even with --force",
                *(f"  also: {printable(reason)}" for reason in cannot[1:10]),
            ],
            show_findings=True,
        )
    budgets = (
        ("parameter memory", "float32", facts.param_bytes, limits.max_param_bytes, "--max-param-bytes"),
        (
            "activation memory",
            "float32, per example" if limits.batch == 1 else f"float32, {limits.batch} examples",
            facts.activation_bytes * limits.batch,
            limits.max_activation_bytes,
            "--max-activation-bytes" if limits.batch == 1 else "--max-activation-bytes or lower --batch-size",
        ),
    )
    for what, unit, size, limit, option in budgets:
        if size > limit:
            return Decision(
                EXIT_USAGE,
                [
                    f"error: {file}: not {verb}: {what} is {human_bytes(size)} ({unit}), over the limit of"
                    f" {human_bytes(limit)}; raise {option} to go ahead"
                ],
            )
    messages = []
    if errors:
        messages.append(
            f"warning: {file}: --force: building what {framework} builds despite {len(errors)} error"
            f" finding{'s' if len(errors) != 1 else ''}:"
        )
        for layer in facts.layers:
            window = layer.window
            if window is not None and not window.same and not window.fits:
                messages.append(
                    f"  {printable(layer.label)}: floored to {layer.output_shape}"
                    f" (S does not divide W − F + 2P; {framework} drops what no window reaches)"
                )
        classes = facts.network.classes
        if classes is not None and tuple(facts.output_shape) != (1, 1, classes):
            messages.append(
                f"  the network ends in {facts.output_shape}, not 1×1×{classes}: the generated training step"
                " regresses random targets instead of classifying"
            )
    return Decision(None, messages, show_findings=bool(errors))
