"""What every command shares: the settings options, the one pipeline, usage errors and writing output.

Typer only here (cheap to import); the pipeline, the renderers and the frameworks load inside the functions.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from convcalc.findings import EXIT_USAGE
from convcalc.loading import SpecError

if TYPE_CHECKING:
    from convcalc.checking import Checked


def print_spec_error(error: SpecError) -> None:
    """Bullets on stderr: ``file:line:col: layers[3].stride: must be ≥ 1 (got -1)``."""
    from convcalc.report.common import spec_error_text

    sys.stderr.write(spec_error_text(error))


def usage_error(message: str) -> NoReturn:
    from convcalc.text import printable

    sys.stderr.write(f"error: {printable(message)}\n")
    raise typer.Exit(EXIT_USAGE)


def write_output(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        usage_error(f"cannot write {output}: {exc.strerror or exc}")


def lint_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command every setting of :data:`convcalc.config.SETTINGS` as an option, and ``--config``.

    The command receives them as one ``settings`` mapping (Python names, None when not given) and
    ``config_file``; the options are generated from the settings table, so a new setting needs no CLI code.
    """
    from convcalc.config import SETTINGS

    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name not in ("settings", "config_file")]
    extra = []
    for setting in SETTINGS:
        option = typer.Option(
            f"--{setting.key}", help=setting.help, metavar=setting.metavar, min=1 if setting.integer else None
        )
        kind: Any = list[str] | None if setting.repeatable else int | None if setting.integer else str | None
        extra.append(
            inspect.Parameter(
                setting.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind, option]
            )
        )
    config_option = typer.Option(
        "--config", metavar="FILE", help="A convcalc.toml or pyproject.toml to use instead of searching."
    )
    extra.append(
        inspect.Parameter(
            "config_file", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[str | None, config_option]
        )
    )
    names = [setting.name for setting in SETTINGS]

    @functools.wraps(command)
    def with_settings(**kwargs: Any) -> None:
        settings = {name: kwargs.pop(name) for name in names}
        command(**kwargs, settings=settings)

    with_settings.__signature__ = signature.replace(parameters=[*kept, *extra])  # type: ignore[attr-defined]
    return with_settings


def checked_or_exit(file: str, settings: dict[str, Any], config_file: str | None) -> Checked | None:
    """The pipeline every command shares (:func:`convcalc.checking.check_file`); a bad config is a usage error
    (exit 2 now), a bad spec prints its problems and gives None."""
    from convcalc.checking import check_file
    from convcalc.config import ConfigError

    try:
        return check_file(file, settings, config_file)
    except ConfigError as error:
        usage_error(str(error))
    except SpecError as error:
        print_spec_error(error)
        return None
