"""The ``export`` and ``verify`` commands, registered on the main typer app.

Cheap to import: only typer here; the pipeline and TensorFlow load inside the commands.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from convcalc.cli_options import (
    checked_or_exit,
    lint_options,
    output_file,
    output_width,
    progress,
    replace_file,
    stdout_is_terminal,
    wants_color,
    write_output,
    write_stream,
)

if TYPE_CHECKING:
    from convcalc.config import ConfigFiles
    from convcalc.export.gate import Limits
    from convcalc.export.plan import ExportPlan
    from convcalc.export.torch_plan import TorchPlan


class Target(str, Enum):
    python = "python"
    keras = "keras"
    tf_nn = "tf-nn"
    torch = "torch"


class VerifyFramework(str, Enum):
    keras = "keras"
    torch = "torch"


_SIZE_HELP = "Refuse specs over this {what} (float32), before TensorFlow is touched: bytes, or e.g. 500MB, 4GiB."


def _size(text: str) -> int:
    from convcalc.export.gate import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Go ahead despite error findings: build what the framework builds (sizes that do not fit floored).",
    ),
]
MaxParamBytes = Annotated[
    str,
    typer.Option(
        "--max-param-bytes", metavar="BYTES", help=_SIZE_HELP.format(what="parameter memory"), show_default=True
    ),
]
MaxActivationBytes = Annotated[
    str,
    typer.Option(
        "--max-activation-bytes",
        metavar="BYTES",
        help=_SIZE_HELP.format(what="activation memory per example"),
        show_default=True,
    ),
]


def _fail(message: str, code: int) -> typer.Exit:
    sys.stderr.write(message + "\n")
    return typer.Exit(code)


def _prepare(
    file: str,
    *,
    force: bool,
    limits: Limits,
    verb: str,
    settings: dict[str, Any],
    config_file: str | None,
    files: ConfigFiles | None = None,
    torch: bool = False,
) -> ExportPlan | TorchPlan | int:
    """Load, check and gate one spec: its export plan (PyTorch's with ``torch``), or the exit code to stop with
    (messages printed)."""
    from convcalc.export.gate import decide
    from convcalc.export.plan import UnbuildableError, plan_export
    from convcalc.export.torch_plan import TF_ONLY_RULES, plan_torch
    from convcalc.findings import EXIT_USAGE

    # The same pipeline and findings as `convcalc check` (model files and the project's config included).
    result = checked_or_exit(file, settings, config_file, files)
    if result is None:
        return EXIT_USAGE
    checked = result.spec
    ignored = TF_ONLY_RULES if torch else ()
    decision = decide(
        checked, force=force, limits=limits, verb=verb, ignored=ignored, framework="PyTorch" if torch else "TensorFlow"
    )
    if decision.show_findings:
        from convcalc.findings import Severity
        from convcalc.report.table import findings_lines

        # Only what blocks the export; `convcalc check` shows the warnings and advice.
        errors = [f for f in checked.findings if f.severity is Severity.ERROR and f.code not in ignored]
        for line in findings_lines(checked._replace(findings=errors), color=wants_color(sys.stderr.isatty())):
            write_stream(sys.stderr, line + "\n")
    for message in decision.messages:
        sys.stderr.write(message + "\n")
    if decision.exit_code is not None:
        return decision.exit_code
    if not torch:
        return plan_export(checked.facts)
    try:
        return plan_torch(checked.facts)
    except UnbuildableError as error:
        from convcalc.text import printable

        sys.stderr.write(f"error: {printable(file)}: not {verb} for PyTorch: {printable(str(error))}\n")
        return EXIT_USAGE


def _require_torch() -> None:
    from convcalc.export.torch_verify import missing_torch
    from convcalc.findings import EXIT_USAGE

    missing = missing_torch()
    if missing is not None:
        raise _fail(f"error: {missing}", EXIT_USAGE)


def _require_tensorflow() -> None:
    from convcalc.export.runtime import missing_requirement
    from convcalc.findings import EXIT_USAGE

    missing = missing_requirement()
    if missing is not None:
        raise _fail(f"error: {missing}", EXIT_USAGE)


@lint_options
def export(
    spec: Annotated[str, typer.Argument(metavar="FILE", help="Spec file (JSON) or Keras model file.")],
    to: Annotated[
        Target,
        typer.Option(
            "--to",
            help="python: Keras 3 functional code; keras: a .keras file; tf-nn: low-level tf.nn code in a tf.Module;"
            " torch: a PyTorch nn.Module.",
            case_sensitive=False,
        ),
    ] = Target.python,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="File to write (python, tf-nn and torch go to stdout without it).",
            show_default=False,
        ),
    ] = None,
    force: ForceOption = False,
    max_param_bytes: MaxParamBytes = "4GiB",
    max_activation_bytes: MaxActivationBytes = "4GiB",
    config_file: str | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Export a spec as a runnable model: Keras code, a .keras file, tf.nn code, or PyTorch code.

    A spec with error findings is not exported (exit 1) unless --force. Exit 2 when the spec cannot be read,
    is over the size limits, has a layer PyTorch cannot compute (--to torch), the output cannot be written, or
    TensorFlow is not installed (--to keras). The code targets are text: they need no framework installed.
    """
    from convcalc.export.gate import Limits
    from convcalc.export.plan import ExportPlan as ExportPlanType
    from convcalc.findings import EXIT_OK, EXIT_USAGE
    from convcalc.text import plural, printable

    limits = Limits(_size(max_param_bytes), _size(max_activation_bytes))
    output = output_file(output)
    if to is Target.keras and (output is None or not output.endswith(".keras")):
        got = "no -o" if output is None else f"-o {printable(output)}"
        raise _fail(f"error: --to keras writes a Keras 3 file, whose name must end in .keras (got {got})", EXIT_USAGE)
    plan = _prepare(
        spec,
        force=force,
        limits=limits,
        verb="exported",
        settings=settings or {},
        config_file=config_file,
        torch=to is Target.torch,
    )
    if isinstance(plan, int):
        raise typer.Exit(plan)
    if not isinstance(plan, ExportPlanType):
        from convcalc.export.torch_codegen import torch_source

        write_output(torch_source(plan), output)
        what, ops = "PyTorch code", plural(len(plan.steps), "PyTorch step")
    elif to is Target.keras:
        assert output is not None
        _require_tensorflow()  # only building the model needs TensorFlow; the code targets are text
        with progress(f"building {printable(plan.model_name)} in Keras and saving it…"):
            what = _save_keras(plan, output)
        ops = plural(len(plan.ops), "Keras layer")
    else:
        from convcalc.export.codegen import keras_source, tfnn_source

        source = keras_source(plan) if to is Target.python else tfnn_source(plan)
        what = "Keras 3 code" if to is Target.python else "tf.nn code"
        ops = plural(len(plan.ops), "Keras layer" if to is Target.python else "tf.nn operation")
        write_output(source, output)  # a file is replaced whole: a failed write leaves the old one
    where = "stdout" if output is None else printable(output)
    facts = plan.facts
    sys.stderr.write(
        f"wrote {where}: {plan.model_name} as {what}: {plural(len(facts.layers), 'spec layer')} → {ops},"
        f" {facts.total_params:,} params\n"
    )
    raise typer.Exit(EXIT_OK)


def _save_keras(plan: ExportPlan, output: str) -> str:
    """Build the plan and save it as a ``.keras`` file; a sentence about what was written and how to load it.

    Keras writes a temporary ``.keras`` in the same folder, renamed over the target once whole
    (:func:`~convcalc.cli_options.replace_file`): a failed save leaves the old file as it was."""
    from convcalc.export.keras_build import build_model

    model = build_model(plan)
    replace_file(output, model.save, suffix=".keras")
    if plan.custom_layers:
        sys.stderr.write(
            f"note: the model uses convcalc's {', '.join(plan.custom_layers)}; to load it, pass"
            " custom_objects=convcalc.export.runtime.custom_objects() to keras.saving.load_model\n"
        )
    return "a Keras 3 file (loads with keras.saving.load_model in safe mode)"


@lint_options
def verify(
    specs: Annotated[list[str], typer.Argument(metavar="FILE", help="Spec files (JSON) or Keras model files.")],
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=1024, metavar="N", help="Examples in the random batch.")
    ] = 2,
    framework: Annotated[
        VerifyFramework,
        typer.Option(
            "--framework", case_sensitive=False, help="keras: build it in Keras on TensorFlow; torch: in PyTorch."
        ),
    ] = VerifyFramework.keras,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**32 - 1, metavar="N", help="Seed for the weights and the batch.")
    ] = 0,
    force: ForceOption = False,
    max_param_bytes: MaxParamBytes = "4GiB",
    max_activation_bytes: MaxActivationBytes = "4GiB",
    width: Annotated[
        int | None,
        typer.Option(
            "--width", min=60, metavar="N", help="Table width in characters (default: COLUMNS, the terminal's, or 100)."
        ),
    ] = None,
    config_file: str | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Build each spec in Keras (or PyTorch), run a random batch through it, and compare every layer with convcalc.

    Exit 0 when every output volume and parameter count agrees with the framework, 1 on any mismatch (or error
    findings without --force), 2 when a spec cannot be read, is over the size limits, or the framework is
    missing.
    """
    from convcalc.export.gate import Limits
    from convcalc.findings import EXIT_FINDINGS, EXIT_OK
    from convcalc.text import printable

    # The batch runs at once: gate its activations, not one example's, before TensorFlow is touched.
    limits = Limits(_size(max_param_bytes), _size(max_activation_bytes), batch=batch_size)
    from convcalc.config import ConfigFiles

    torch = framework is VerifyFramework.torch
    worst = EXIT_OK
    files = ConfigFiles()  # each config file read once, however many specs share it
    for file in specs:
        plan = _prepare(
            file,
            force=force,
            limits=limits,
            verb="verified",
            settings=settings or {},
            config_file=config_file,
            files=files,
            torch=torch,
        )
        if isinstance(plan, int):
            worst = max(worst, plan)
            continue
        from convcalc.export.verify import Table, keras_table, render

        table: Table
        if torch:
            from convcalc.export.plan import ExportPlan as ExportPlanType

            _require_torch()
            from convcalc.export.torch_verify import verify_torch

            assert not isinstance(plan, ExportPlanType)
            with progress(f"verifying {printable(file)}: building and running it in PyTorch…"):
                table = verify_torch(plan, batch=batch_size, seed=seed)
        else:
            _require_tensorflow()
            from convcalc.export.plan import ExportPlan as ExportPlanType
            from convcalc.export.verify import verify_plan

            assert isinstance(plan, ExportPlanType)
            with progress(f"verifying {printable(file)}: building and running it in TensorFlow…"):
                table = keras_table(verify_plan(plan, batch=batch_size, seed=seed))
        terminal = stdout_is_terminal()
        write_output(render(file, table, output_width(width, terminal), wants_color(terminal)))
        if table.mismatches:
            worst = max(worst, EXIT_FINDINGS)
    raise typer.Exit(worst)


def register(app: typer.Typer) -> None:
    """Add the export/verify commands to ``app``."""
    app.command()(export)
    app.command()(verify)
