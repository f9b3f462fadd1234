"""The command line: thin typer commands that parse options, call the layers below and pick a renderer."""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated

import typer

from convcalc import __version__
from convcalc.findings import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, Severity
from convcalc.loading import SpecError, format_path

app = typer.Typer(
    name="convcalc",
    help="CNN shape and parameter calculator with static analysis.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"convcalc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """CNN shape and parameter calculator with static analysis."""


def print_spec_error(error: SpecError) -> None:
    """Bullets on stderr: ``file:line:col: layers[3].stride: must be ≥ 1 (got -1)``."""
    from convcalc.report.common import printable

    lines = [f"error: {printable(error.file)} is not a valid convcalc spec:"]
    for problem in error.problems:
        where = printable(error.file)
        if problem.line is not None:
            where += f":{problem.line}:{problem.column}"
        path = f"{printable(format_path(problem.path))}: " if problem.path else ""
        lines.append(f"  - {where}: {path}{printable(problem.message)}")
    sys.stderr.write("\n".join(lines) + "\n")


@app.command()
def check(
    specs: Annotated[list[str], typer.Argument(help="Spec files (JSON).", show_default=False)],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = OutputFormat.table,
    show_all: Annotated[
        bool, typer.Option("--all", help="Print every layer; by default runs of repeated layers fold into one row.")
    ] = False,
    width: Annotated[int | None, typer.Option("--width", min=40, help="Table width in characters.")] = None,
) -> None:
    """Compute every volume and parameter count of each spec and report what does not fit.

    Exit 0 when no error is found, 1 when any error is found, 2 when a spec cannot be read or validated.
    """
    from convcalc.checking import check_loaded, worst_severity
    from convcalc.loading import load_spec

    results = []
    failed = False
    for file in specs:
        try:
            loaded = load_spec(file)
        except SpecError as error:
            print_spec_error(error)
            failed = True
            continue
        results.append(check_loaded(loaded))
    if results:
        if output_format is OutputFormat.json:
            from convcalc.report import json_report

            sys.stdout.write(json_report.render(results))
        elif output_format is OutputFormat.markdown:
            from convcalc.report import markdown

            sys.stdout.write(markdown.render(results, fold=not show_all))
        else:
            from convcalc.report import table

            table.render(results, sys.stdout, fold=not show_all, width=width)
    if failed:
        raise typer.Exit(EXIT_USAGE)
    worst = worst_severity(f for checked in results for f in checked.findings)
    raise typer.Exit(EXIT_FINDINGS if worst is Severity.ERROR else EXIT_OK)


@app.command()
def schema() -> None:
    """Print the JSON Schema of spec files (for editors: completion and validation)."""
    from convcalc.spec import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")


def _register_optional_commands() -> None:
    from convcalc.export.commands import register

    register(app)


_register_optional_commands()


def main() -> None:
    """Entry point of the ``convcalc`` console script."""
    app()
