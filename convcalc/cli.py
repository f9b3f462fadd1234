"""The command line: thin typer commands that parse options, call the layers below and pick a renderer."""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated, Any, NoReturn

import typer

from convcalc import __version__
from convcalc.findings import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, Severity
from convcalc.loading import SpecError

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
    sarif = "sarif"
    github = "github"
    html = "html"


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
    from convcalc.report.common import spec_error_text

    sys.stderr.write(spec_error_text(error))


def _usage_error(message: str) -> NoReturn:
    from convcalc.report.common import printable

    sys.stderr.write(f"error: {printable(message)}\n")
    raise typer.Exit(EXIT_USAGE)


def _write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        _usage_error(f"cannot write {output}: {exc.strerror or exc}")


@app.command()
def check(
    specs: Annotated[list[str], typer.Argument(help="Spec files (JSON).", show_default=False)],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = OutputFormat.table,
    select: Annotated[
        list[str] | None,
        typer.Option("--select", help="Only these rule codes or prefixes (CC2, CC301); repeat or comma-separate."),
    ] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="Skip these rule codes or prefixes; repeat or comma-separate.")
    ] = None,
    fail_on: Annotated[
        str | None, typer.Option("--fail-on", help="Exit 1 on findings at or above: error (default), warning, info.")
    ] = None,
    exit_zero: Annotated[
        bool, typer.Option("--exit-zero", help="Exit 0 even with findings (invalid input still exits 2).")
    ] = False,
    config_file: Annotated[
        str | None, typer.Option("--config", help="A convcalc.toml or pyproject.toml to use instead of searching.")
    ] = None,
    max_params: Annotated[
        str | None, typer.Option("--max-params", help="CC405 gate: total parameters, e.g. 25M.")
    ] = None,
    max_macs: Annotated[str | None, typer.Option("--max-macs", help="CC405 gate: MACs per example, e.g. 4G.")] = None,
    max_memory: Annotated[
        str | None, typer.Option("--max-memory", help="CC405 gate: training memory at --batch, e.g. 8GiB.")
    ] = None,
    batch: Annotated[
        int | None, typer.Option("--batch", min=1, help="Batch size for the training-memory estimate (default 1).")
    ] = None,
    dtype: Annotated[
        str | None, typer.Option("--dtype", help="float32 (default), float16 or bfloat16 for the memory estimate.")
    ] = None,
    activation_budget_mib: Annotated[
        int | None, typer.Option("--activation-budget-mib", min=1, help="CC403 budget: activation memory per example.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Print every layer; by default runs of repeated layers fold into one row.")
    ] = False,
    width: Annotated[int | None, typer.Option("--width", min=40, help="Table width in characters.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write the report to this file.")] = None,
) -> None:
    """Compute every volume and parameter count of each spec and lint the architecture.

    Exit 0 when no finding reaches --fail-on (default: error), 1 when one does, 2 when a spec cannot be
    read or validated or an option is wrong.
    """
    from convcalc.checking import check_loaded, fails, load_any
    from convcalc.config import ConfigError, resolve_config

    results = []
    failed = False
    over_threshold = False  # each spec is judged by its own config's fail-on
    for file in specs:
        try:
            config = resolve_config(
                file,
                select=select,
                ignore=ignore,
                fail_on=fail_on,
                activation_budget_mib=activation_budget_mib,
                config_file=config_file,
                max_params=max_params,
                max_macs=max_macs,
                max_memory=max_memory,
                batch=batch,
                dtype=dtype,
            )
            checked = check_loaded(load_any(file), config)
        except ConfigError as error:
            _usage_error(str(error))
        except SpecError as error:
            print_spec_error(error)
            failed = True
            continue
        over_threshold = over_threshold or fails(checked.findings, config.fail_on)
        results.append(checked)
    if results:
        text = _render(
            results, output_format, fold=not show_all, width=width, to_file=output is not None, many=len(specs) > 1
        )
        _write(text, output)
    if failed:
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(EXIT_FINDINGS if over_threshold and not exit_zero else EXIT_OK)


def _render(
    results: list[Any], output_format: OutputFormat, *, fold: bool, width: int | None, to_file: bool, many: bool
) -> str:
    if output_format is OutputFormat.json:
        from convcalc.report import json_report

        return json_report.render(results, as_list=many)
    if output_format is OutputFormat.markdown:
        from convcalc.report import markdown

        return markdown.render(results, fold=fold)
    if output_format is OutputFormat.sarif:
        from convcalc.report import sarif

        return sarif.render(results)
    if output_format is OutputFormat.github:
        from convcalc.report import github

        return github.render(results)
    if output_format is OutputFormat.html:
        from convcalc.report import html

        return html.render(results)
    import io

    from convcalc.report import table

    if not to_file:
        table.render(results, sys.stdout, fold=fold, width=width)
        return ""
    buffer = io.StringIO()
    table.render(results, buffer, fold=fold, width=width or 160)
    return buffer.getvalue()


@app.command()
def rules(
    code: Annotated[str | None, typer.Argument(help="A rule code (CC201) to explain; omit to list every rule.")] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table, json or markdown.", case_sensitive=False)
    ] = OutputFormat.table,
) -> None:
    """List the lint rules, or explain one: rationale and a bad and a good example."""
    from convcalc.report import rule_docs

    if code is None:
        sys.stdout.write(rule_docs.render_list(output_format.value))
        return
    from convcalc.rules import REGISTRY

    rule = REGISTRY.get(code.strip().upper())
    if rule is None:
        _usage_error(f"unknown rule code {code!r}; known: {', '.join(sorted(REGISTRY))}")
    sys.stdout.write(rule_docs.render_rule(rule, output_format.value))


def _parse_volume(text: str) -> tuple[int, int, int]:
    parts = [p for p in text.replace("×", "x").replace(",", "x").lower().split("x") if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        _usage_error(f"--input: expected HxWxD like 227x227x3 (got {text!r})")
    if len(values) == 2:
        values.append(1)
    if len(values) != 3:
        _usage_error(f"--input: expected HxWxD like 227x227x3 (got {text!r})")
    return values[0], values[1], values[2]


def _parse_pair(text: str, option: str) -> Any:
    if text in ("same", "valid"):
        return text
    parts = text.replace("×", "x").replace(",", "x").lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        _usage_error(f"{option}: expected an integer or h,w (got {text!r})")
    return values[0] if len(values) == 1 else values


@app.command()
def calc(
    input_volume: Annotated[str, typer.Option("--input", "-i", help="The input volume HxWxD, e.g. 227x227x3.")],
    kernel: Annotated[str, typer.Option("--kernel", "-F", help="F: an int or h,w.")],
    stride: Annotated[str, typer.Option("--stride", "-S", help="S: an int or h,w.")] = "1",
    padding: Annotated[str, typer.Option("--padding", "-P", help="P: an int, h,w, same or valid.")] = "0",
    filters: Annotated[int | None, typer.Option("--filters", "-K", help="K: a conv layer with K filters.")] = None,
    pool: Annotated[str | None, typer.Option("--pool", help="A pool layer instead: max, avg or l2.")] = None,
    no_bias: Annotated[bool, typer.Option("--no-bias", help="Conv without biases.")] = False,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table or json.")] = OutputFormat.table,
) -> None:
    """One conv or pool layer from the command line: output volume, formula with numbers, parameters, findings."""
    from convcalc.loading import validate

    if (filters is None) == (pool is None):
        _usage_error("give exactly one of --filters K (a conv layer) or --pool max|avg|l2 (a pool layer)")
    height, width, depth = _parse_volume(input_volume)
    layer: dict[str, Any] = {"kernel": _parse_pair(kernel, "--kernel"), "stride": _parse_pair(stride, "--stride")}
    layer["padding"] = _parse_pair(padding, "--padding")
    if filters is not None:
        layer.update(type="conv", filters=filters, bias=not no_bias)
    else:
        layer.update(type="pool", mode=pool)
    data = {"input": [height, width, depth], "layers": [layer]}
    try:
        network = validate("command line", data)
    except SpecError as error:
        print_spec_error(error)
        raise typer.Exit(EXIT_USAGE) from None
    from convcalc.checking import check_loaded, fails
    from convcalc.config import LintConfig
    from convcalc.loading import LoadedSpec, SourceMap
    from convcalc.report import calc_report

    # One layer has no architecture to judge: only the shape and magic-number rules apply.
    config = LintConfig(select=("CC1", "CC2"))
    checked = check_loaded(LoadedSpec("command line", network, SourceMap()), config)
    sys.stdout.write(calc_report.render(checked, output_format.value))
    raise typer.Exit(EXIT_FINDINGS if fails(checked.findings, Severity.ERROR) else EXIT_OK)


@app.command()
def solve(
    spec: Annotated[
        str | None, typer.Argument(help="A spec: list the input sizes near its own for which every layer fits.")
    ] = None,
    in_size: Annotated[int | None, typer.Option("--in", min=1, help="Input size W along one axis.")] = None,
    out_size: Annotated[int | None, typer.Option("--out", min=1, help="Wanted output size.")] = None,
    kernel: Annotated[int | None, typer.Option("--kernel", "-F", min=1, help="Fix F.")] = None,
    stride: Annotated[int | None, typer.Option("--stride", "-S", min=1, help="Fix S.")] = None,
    padding: Annotated[int | None, typer.Option("--padding", "-P", min=0, help="Fix P.")] = None,
    max_kernel: Annotated[int, typer.Option("--max-kernel", min=1, help="Search F up to this.")] = 15,
    max_stride: Annotated[int, typer.Option("--max-stride", min=1, help="Search S up to this.")] = 8,
    count: Annotated[int, typer.Option("--count", min=1, help="With a spec: how many sizes per axis.")] = 3,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table or json.")] = OutputFormat.table,
) -> None:
    """The inverse calculator: every (F, S, P) that turns --in into --out exactly, magic numbers first;
    or, for a spec, the input sizes nearest to its own for which every layer fits."""
    from convcalc import solver

    if spec is not None:
        if in_size is not None or out_size is not None:
            _usage_error("give either a spec or --in/--out, not both")
        from convcalc.analysis import analyze
        from convcalc.checking import load_any

        try:
            loaded = load_any(spec)
        except SpecError as error:
            print_spec_error(error)
            raise typer.Exit(EXIT_USAGE) from None
        heights, widths = solver.fitting_input_sizes(analyze(loaded.network), count=count)
        if output_format is OutputFormat.json:
            sys.stdout.write(json.dumps({"heights": heights, "widths": widths}) + "\n")
        else:
            net = loaded.network.input
            sys.stdout.write(
                f"input {net.height}×{net.width}×{net.channels}: every layer fits with height in"
                f" {heights or 'none nearby'} and width in {widths or 'none nearby'} (nearest first)\n"
            )
        raise typer.Exit(EXIT_OK if heights and widths else EXIT_FINDINGS)
    if in_size is None or out_size is None:
        _usage_error("give --in and --out (sizes along one axis), or a spec file")
    bounds = solver.Bounds(max_kernel=max(max_kernel, kernel or 0), max_stride=max(max_stride, stride or 0))
    found = solver.solve_window(in_size, out_size, kernel=kernel, stride=stride, padding=padding, bounds=bounds)
    if output_format is OutputFormat.json:
        payload = [{"kernel": f, "stride": s, "padding": p} for f, s, p in found]
        sys.stdout.write(json.dumps(payload) + "\n")
    elif not found:
        sys.stdout.write(
            f"no F ≤ {bounds.max_kernel}, S ≤ {bounds.max_stride}, P < F turns {in_size} into {out_size}\n"
        )
    else:
        sys.stdout.write(f"(W − F + 2P)/S + 1 = {out_size} for W = {in_size}:\n")
        for f, s, p in found:
            magic = "  (magic numbers)" if (f, s, p) in solver.MAGIC else ""
            sys.stdout.write(f"  F={f} S={s} P={p}   ({in_size} − {f} + {2 * p})/{s} + 1 = {out_size}{magic}\n")
    raise typer.Exit(EXIT_OK if found else EXIT_FINDINGS)


@app.command()
def draw(
    spec: Annotated[str, typer.Argument(help="A spec file (JSON).", show_default=False)],
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write the SVG here (default: standard output).")
    ] = None,
) -> None:
    """Draw the network as a row of H×W×D volumes (SVG), the way CNN courses do.

    Layers with error findings are outlined in red, warnings in amber. Exit 0 when drawn, 2 when the spec
    cannot be read or the output is not an .svg file.
    """
    from convcalc.checking import check_loaded, load_any
    from convcalc.config import ConfigError, resolve_config

    if output is not None and not output.lower().endswith(".svg"):
        _usage_error(f"--output: convcalc draws SVG only; name the file *.svg (got {output!r})")
    try:
        checked = check_loaded(load_any(spec), resolve_config(spec))
    except ConfigError as error:
        _usage_error(str(error))
    except SpecError as error:
        print_spec_error(error)
        raise typer.Exit(EXIT_USAGE) from None
    from convcalc.draw import draw_svg

    _write(draw_svg(checked), output)


@app.command("import")
def import_model(
    model: Annotated[str, typer.Argument(help="A Keras model: .keras archive or a model.to_json() file.")],
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write the spec here (default: stdout).")] = None,
) -> None:
    """Convert a Keras model's architecture into a convcalc spec, reading it as data.

    Nothing from the file is executed and no weights are loaded (model files are programs: TensorFlow's
    security policy). A layer kind convcalc cannot model is named, with exit 2, never silently skipped.
    """
    from convcalc.importers.keras import is_keras_file, spec_from_keras_file

    if not is_keras_file(model):
        _usage_error(f"{model}: not a Keras model file (.keras archive or model.to_json() output)")
    try:
        spec = spec_from_keras_file(model)
    except SpecError as error:
        print_spec_error(error)
        raise typer.Exit(EXIT_USAGE) from None
    from convcalc.report.json_report import spec_json

    _write(spec_json(spec), output)


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
