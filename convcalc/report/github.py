"""GitHub Actions workflow annotations: ``::error file=…,line=…,col=…,title=…::message``."""

from __future__ import annotations

from collections.abc import Sequence

from convcalc.checked import CheckedSpec
from convcalc.findings import Severity
from convcalc.report.common import DEFAULT_OPTIONS, RenderOptions
from convcalc.text import printable

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """Escape a message so that spec text cannot end the annotation or start another workflow command.

    >>> escape_data("50%\\n::set-env name=X::1")
    '50%25%0A::set-env name=X::1'
    """
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value (file, title): also ``:`` and ``,``, which separate properties.

    >>> escape_property("a,b:c")
    'a%2Cb%3Ac'
    """
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(results: Sequence[CheckedSpec], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """One workflow command per finding. Spec text is shown as :func:`convcalc.text.printable` shows it in
    every human format (ESC, BEL, backspace, bidi controls, U+2028 escaped), then escaped for the command."""
    return join([part(checked, options) for checked in results], options)


def join(parts: Sequence[list[str]], options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """The specs' workflow commands in order."""
    lines = [line for lines in parts for line in lines]
    return "\n".join(lines) + ("\n" if lines else "")


def part(checked: CheckedSpec, options: RenderOptions = DEFAULT_OPTIONS) -> list[str]:
    """One workflow command per finding of one spec."""
    lines = []
    for finding in checked.findings:
        line, column = checked.position(finding) or (1, 1)
        properties = (
            f"file={escape_property(printable(checked.file))},line={line},col={column},"
            f"title={escape_property(printable(f'{finding.code} {finding.rule}'))}"
        )
        message = printable(f"{checked.layer_label(finding)}: {finding.message}")
        if finding.fixes:
            message += "\nfixes: " + "; ".join(printable(fix.title) for fix in finding.fixes)
        lines.append(f"::{COMMANDS[finding.severity]} {properties}::{escape_data(message)}")
    return lines
