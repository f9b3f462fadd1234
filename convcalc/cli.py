"""The command line: thin typer commands that parse options, call the layers below and pick a renderer."""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from convcalc import __version__
from convcalc.cli_options import (
    MIN_WIDTH,
    MODEL_INPUT,
    ModelInput,
    checked_or_exit,
    dimensions,
    lint_options,
    model_input_size,
    output_file,
    output_width,
    print_spec_error,
    progress,
    stdout_is_terminal,
    usage_error,
    wants_color,
    write_output,
)
from convcalc.findings import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, Severity
from convcalc.layers.fields import MAX_SIZE
from convcalc.loading import SpecError

if TYPE_CHECKING:
    pass


def _typer() -> typer.Typer:
    return typer.Typer(
        name="convcalc",
        help="CNN shape and parameter calculator with static analysis.",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
    )


_app = _typer()
"""The app, its export and verify commands registered when first needed (:func:`app_for`, or ``app``)."""


class OutputFormat(str, Enum):
    """What ``check`` writes."""

    table = "table"
    json = "json"
    markdown = "markdown"
    sarif = "sarif"
    github = "github"
    html = "html"


class RulesFormat(str, Enum):
    """What ``rules`` writes."""

    table = "table"
    json = "json"
    markdown = "markdown"


class CalculatorFormat(str, Enum):
    """What ``calc`` and ``solve`` write."""

    table = "table"
    json = "json"


def _argument_metavar_only(self: typer.core.TyperArgument, ctx: Any) -> str | None:
    return None if self.metavar is not None else typer.core.TyperArgument.display_type(self, ctx)


# Typer's help prints an argument's Python type (``FILE <list[str]>``) even beside its metavar; convcalc names
# every argument with a metavar a reader understands, so the help shows that alone.
typer.core.TyperArgument.display_type_rich = _argument_metavar_only  # type: ignore[method-assign,assignment]


def _version(value: bool) -> None:
    if value:
        write_output(f"convcalc {__version__}\n")
        raise typer.Exit()


@_app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """CNN shape and parameter calculator with static analysis."""


@_app.command()
@lint_options
def check(
    specs: Annotated[list[str], typer.Argument(metavar="FILE", help="Spec files (JSON) or Keras model files.")],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = OutputFormat.table,
    exit_zero: Annotated[
        bool, typer.Option("--exit-zero", help="Exit 0 even with findings (invalid input still exits 2).")
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Print every layer; by default runs of repeated layers fold into one row.")
    ] = False,
    width: Annotated[
        int | None,
        typer.Option(
            "--width",
            min=MIN_WIDTH,
            metavar="N",
            help="Table width in characters (default: COLUMNS, the terminal's, or 100).",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the report to this file (-: standard output)."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            metavar="N",
            help="Check the files in N processes (default: the number of CPUs; 1: in this one); same output.",
        ),
    ] = None,
    config_file: str | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Compute every volume and parameter count of each spec and lint the architecture.

    Exit 0 when no finding reaches --fail-on (default: error), 1 when one does, 2 when a spec cannot be
    read or validated or an option is wrong.
    """
    from convcalc.jobs import Request, check_files, default_jobs
    from convcalc.report import part_renderer
    from convcalc.report.common import RenderOptions

    settings = dict(settings or {})
    input_size = model_input_size(settings.pop(MODEL_INPUT, None))
    output = output_file(output)
    terminal = output is None and stdout_is_terminal()
    options = RenderOptions(
        fold=not show_all,
        width=output_width(width, terminal),
        color=wants_color(terminal),
        as_list=len(specs) > 1,
    )
    parts = []
    failed = False
    over_threshold = False  # each spec is judged by its own config's fail-on
    request = Request(settings, config_file, input_size, output_format.value, options)
    for outcome in check_files(specs, request, jobs or default_jobs()):
        sys.stderr.write(outcome.stderr)
        if outcome.config_error is not None:
            usage_error(outcome.config_error)
        if outcome.part is None:
            failed = True
            continue
        over_threshold = over_threshold or outcome.fails
        parts.append(outcome.part)
    if parts:
        _, join = part_renderer(output_format.value)
        write_output(join(parts, options), output)
    if failed:
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(EXIT_FINDINGS if over_threshold and not exit_zero else EXIT_OK)


@_app.command()
def rules(
    code: Annotated[
        str | None, typer.Argument(metavar="CODE", help="A rule code (CC201) to explain; omit to list every rule.")
    ] = None,
    output_format: Annotated[
        RulesFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = RulesFormat.table,
) -> None:
    """List the lint rules, or explain one: rationale and a bad and a good example."""
    from convcalc.report import rule_docs

    width = output_width(None, stdout_is_terminal())
    if code is None:
        write_output(rule_docs.render_list(output_format.value, width))
        return
    from convcalc.rules import REGISTRY

    rule = REGISTRY.get(code.strip().upper())
    if rule is None:
        usage_error(f"unknown rule code {code!r}; known: {', '.join(sorted(REGISTRY))}")
    write_output(rule_docs.render_rule(rule, output_format.value, width))


def _parse_volume(text: str) -> tuple[int, int, int]:
    values = dimensions(text)
    if values is not None and len(values) == 2:
        typer.echo(f"note: --input {text} has no depth; assuming 1 (write e.g. {text}x3)", err=True)
        values.append(1)
    if values is None or len(values) != 3:
        usage_error(f"--input: expected HxWxD like 227x227x3 (got {text!r})")
    return values[0], values[1], values[2]


def _parse_pair(text: str, option: str) -> Any:
    if text in ("same", "valid"):
        return text
    values = dimensions(text)
    if values is None or len(values) > 2:
        usage_error(f"{option}: expected an integer or h,w (got {text!r})")
    return values[0] if len(values) == 1 else values


@_app.command()
def calc(
    input_volume: Annotated[
        str, typer.Option("--input", "-i", metavar="HxWxD", help="The input volume, e.g. 227x227x3.")
    ],
    kernel: Annotated[str, typer.Option("--kernel", "-F", metavar="F", help="F: an int or h,w.")],
    stride: Annotated[str, typer.Option("--stride", "-S", metavar="S", help="S: an int or h,w.")] = "1",
    padding: Annotated[str, typer.Option("--padding", "-P", metavar="P", help="P: an int, h,w, same or valid.")] = "0",
    filters: Annotated[
        int | None, typer.Option("--filters", "-K", metavar="K", help="K: a conv layer with K filters.")
    ] = None,
    pool: Annotated[
        str | None, typer.Option("--pool", metavar="MODE", help="A pool layer instead: max, avg or l2.")
    ] = None,
    ceil_mode: Annotated[
        bool, typer.Option("--ceil-mode", help="With --pool: round (W − F + 2P)/S + 1 up (PyTorch's ceil_mode).")
    ] = False,
    no_bias: Annotated[bool, typer.Option("--no-bias", help="Conv without biases.")] = False,
    output_format: Annotated[
        CalculatorFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = CalculatorFormat.table,
) -> None:
    """One conv or pool layer from the command line: output volume, formula with numbers, parameters, findings."""
    from convcalc.loading import validate

    if (filters is None) == (pool is None):
        usage_error("give exactly one of --filters K (a conv layer) or --pool max|avg|l2 (a pool layer)")
    if ceil_mode and pool is None:
        usage_error("--ceil-mode applies to a pool layer (--pool max|avg|l2); a conv always rounds down")
    height, width, depth = _parse_volume(input_volume)
    layer: dict[str, Any] = {"kernel": _parse_pair(kernel, "--kernel"), "stride": _parse_pair(stride, "--stride")}
    layer["padding"] = _parse_pair(padding, "--padding")
    if filters is not None:
        layer.update(type="conv", filters=filters, bias=not no_bias)
    else:
        layer.update(type="pool", mode=pool)
        if ceil_mode:
            layer["ceil_mode"] = True
    data = {"input": [height, width, depth], "layers": [layer]}
    from convcalc.checking import check_loaded, fails
    from convcalc.config import LintConfig
    from convcalc.loading import LoadedSpec, SourceMap
    from convcalc.report import calc_report

    # One layer has no architecture to judge: only the shape and magic-number rules apply.
    config = LintConfig(select=("CC1", "CC2"))
    try:
        # A layer whose figures pass convcalc's limit (weights past 2^63) is refused by the analysis.
        checked = check_loaded(LoadedSpec("command line", validate("command line", data), SourceMap()), config)
    except SpecError as error:
        print_spec_error(error)
        raise typer.Exit(EXIT_USAGE) from None
    write_output(calc_report.render(checked, output_format.value))
    raise typer.Exit(EXIT_FINDINGS if fails(checked.findings, Severity.ERROR) else EXIT_OK)


@_app.command()
def solve(
    spec: Annotated[
        str | None,
        typer.Argument(metavar="FILE", help="A spec: list the input sizes near its own for which every layer fits."),
    ] = None,
    in_size: Annotated[
        int | None, typer.Option("--in", min=1, max=MAX_SIZE, metavar="N", help="Input size W along one axis.")
    ] = None,
    out_size: Annotated[
        int | None, typer.Option("--out", min=1, max=MAX_SIZE, metavar="N", help="Wanted output size.")
    ] = None,
    kernel: Annotated[
        int | None, typer.Option("--kernel", "-F", min=1, max=MAX_SIZE, metavar="N", help="Fix F.")
    ] = None,
    stride: Annotated[
        int | None, typer.Option("--stride", "-S", min=1, max=MAX_SIZE, metavar="N", help="Fix S.")
    ] = None,
    padding: Annotated[
        int | None, typer.Option("--padding", "-P", min=0, max=MAX_SIZE, metavar="N", help="Fix P.")
    ] = None,
    max_kernel: Annotated[
        int, typer.Option("--max-kernel", min=1, max=4096, metavar="N", help="Search F up to this.")
    ] = 15,
    max_stride: Annotated[
        int, typer.Option("--max-stride", min=1, max=4096, metavar="N", help="Search S up to this.")
    ] = 8,
    count: Annotated[
        int, typer.Option("--count", min=1, max=100, metavar="N", help="With a spec: how many sizes per axis.")
    ] = 3,
    output_format: Annotated[
        CalculatorFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = CalculatorFormat.table,
    model_input: ModelInput = None,
) -> None:
    """The inverse calculator: every (F, S, P) that turns --in into --out exactly, magic numbers first;
    or, for a spec, the input sizes nearest to its own for which every layer fits."""
    from convcalc import solver

    if spec is not None:
        if in_size is not None or out_size is not None:
            usage_error("give either a spec or --in/--out, not both")
        checked = checked_or_exit(spec, {MODEL_INPUT: model_input}, None)
        if checked is None:
            raise typer.Exit(EXIT_USAGE)
        facts = checked.spec.facts
        heights, widths = solver.fitting_input_sizes(facts, count=count)
        if output_format is CalculatorFormat.json:
            write_output(json.dumps({"heights": heights, "widths": widths}) + "\n")
        else:
            net = facts.network.input
            write_output(
                f"input {net.height}×{net.width}×{net.channels}: every layer fits with height in"
                f" {heights or 'none nearby'} and width in {widths or 'none nearby'} (nearest first)\n"
            )
        raise typer.Exit(EXIT_OK if heights and widths else EXIT_FINDINGS)
    if in_size is None or out_size is None:
        usage_error("give --in and --out (sizes along one axis), or a spec file")
    bounds = solver.Bounds(max_kernel=max(max_kernel, kernel or 0), max_stride=max(max_stride, stride or 0))
    found = solver.solve_window(in_size, out_size, kernel=kernel, stride=stride, padding=padding, bounds=bounds)
    if output_format is CalculatorFormat.json:
        payload = [{"kernel": f, "stride": s, "padding": p} for f, s, p in found]
        write_output(json.dumps(payload) + "\n")
    elif not found:
        write_output(f"no F ≤ {bounds.max_kernel}, S ≤ {bounds.max_stride}, P < F turns {in_size} into {out_size}\n")
    else:
        write_output(f"(W − F + 2P)/S + 1 = {out_size} for W = {in_size}:\n")
        for f, s, p in found:
            magic = "  (magic numbers)" if (f, s, p) in solver.MAGIC else ""
            write_output(f"  F={f} S={s} P={p}   ({in_size} − {f} + {2 * p})/{s} + 1 = {out_size}{magic}\n")
    raise typer.Exit(EXIT_OK if found else EXIT_FINDINGS)


@_app.command()
@lint_options
def draw(
    spec: Annotated[str, typer.Argument(metavar="FILE", help="A spec file (JSON) or Keras model file.")],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the SVG here (default, or -: standard output)."),
    ] = None,
    config_file: str | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Draw the network as a row of H×W×D volumes (SVG), the way CNN courses do.

    Layers with error findings are outlined in red, warnings in amber. Exit 0 when drawn, 2 when the spec
    cannot be read or the output is not an .svg file.
    """
    output = output_file(output)
    if output is not None and not output.lower().endswith(".svg"):
        usage_error(f"--output: convcalc draws SVG only; name the file *.svg (got {output!r})")
    checked = checked_or_exit(spec, settings or {}, config_file)
    if checked is None:
        raise typer.Exit(EXIT_USAGE)
    from convcalc.draw import draw_svg

    write_output(draw_svg(checked.spec), output)


@_app.command("import")
def import_model(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL", help="A Keras model (.keras archive or a model.to_json() file) or an ONNX model (.onnx)."
        ),
    ],
    output: Annotated[
        str | None, typer.Option("--output", "-o", metavar="FILE", help="Write the spec here (default, or -: stdout).")
    ] = None,
    model_input: ModelInput = None,
) -> None:
    """Convert a Keras or ONNX model's architecture into a convcalc spec, reading it as data.

    Nothing from the file is executed and no weights are loaded (model files are programs: TensorFlow's
    security policy). A layer kind or op convcalc cannot model is named, with exit 2, never silently skipped.
    """
    from convcalc.importers.keras import is_keras_file, spec_from_keras_file
    from convcalc.importers.onnx import is_onnx_file, read_onnx_file
    from convcalc.loading import open_regular
    from convcalc.text import printable

    onnx = is_onnx_file(model)
    if not onnx and not is_keras_file(model):
        try:  # say why a file cannot be read at all (missing, a directory, a pipe) before what it is not
            with open_regular(model, "model file"):
                pass
        except SpecError as error:
            usage_error(f"{printable(model)}: {'; '.join(printable(p.message) for p in error.problems)}")
        usage_error(
            f"{printable(model)}: not a Keras model file (.keras archive or model.to_json() output) or an ONNX model"
        )
    input_size = model_input_size(model_input)
    try:
        with progress(f"reading {printable(model)} as data…"):
            if onnx:
                imported = read_onnx_file(model, input_size)
                spec = imported.spec
                for note in imported.notes:
                    typer.echo(f"{printable(model)}: note: {printable(note)}", err=True)
            else:
                spec = spec_from_keras_file(model, input_size)
    except SpecError as error:
        print_spec_error(error)
        raise typer.Exit(EXIT_USAGE) from None
    from convcalc.report.json_report import spec_json

    write_output(spec_json(spec), output_file(output))


@_app.command()
def schema() -> None:
    """Print the JSON Schema of spec files (for editors: completion and validation)."""
    from convcalc.spec import json_schema

    write_output(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")


def _register_optional_commands() -> None:
    """Add the export and verify commands, once: their module builds its commands' options when imported (a few
    ms), which a run of another command does not need."""
    if not any(_command_name(command) in OPTIONAL_COMMANDS for command in _app.registered_commands):
        from convcalc.export.commands import register

        register(_app)


OPTIONAL_COMMANDS = ("export", "verify")
"""The commands :mod:`convcalc.export.commands` registers, after every other."""


def __getattr__(name: str) -> typer.Typer:
    """``app``: the whole app, every command registered (PEP 562; for tests and programs that invoke it)."""
    if name == "app":
        _register_optional_commands()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command_name(command: typer.models.CommandInfo) -> str:
    return command.name or typer.main.get_command_name(getattr(command.callback, "__name__", ""))


def _named(args: list[str]) -> list[typer.models.CommandInfo]:
    return [command for command in _app.registered_commands if args and _command_name(command) == args[0]]


def app_for(args: list[str]) -> typer.Typer:
    """The app to run ``args`` with: the root and only the command they name, when they name one.

    Typer turns every command's options into click parameters on each run (about 15 ms for all of them, 2 for
    ``check``); a run uses one. Help, usage errors and output are the same, since they name the command alone.
    Without a command name (``--help``, ``--version``, a typo) the whole app runs, listing every command. The
    export and verify commands are registered only for a run that names one of them or needs the whole app.
    """
    named = _named(args)
    if len(named) != 1:
        _register_optional_commands()  # export or verify, or the whole app (which lists every command)
        named = _named(args)
        if len(named) != 1:
            return _app
    one = _typer()
    one.registered_callback = _app.registered_callback
    one.registered_commands = named
    return one


def main() -> None:
    """Entry point of the ``convcalc`` console script."""
    app_for(sys.argv[1:])()
