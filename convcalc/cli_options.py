"""What every command shares: the settings options, the one pipeline, usage errors and writing output.

Typer only here (cheap to import); the pipeline, the renderers and the frameworks load inside the functions.

Output never half-happens: a file named by ``-o`` is written whole to a temporary file in its folder and then
renamed over the target (:func:`replace_file`), so a failed write leaves the old file as it was and two runs
writing one file leave one whole document; and text that a stream cannot encode (a strict UTF-8 pipe, an
ASCII terminal) is written with backslash escapes instead of failing (:func:`write_stream`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import os
import shutil
import stat
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TextIO

import typer

from convcalc.findings import EXIT_USAGE
from convcalc.loading import SpecError

if TYPE_CHECKING:
    from convcalc.checking import Checked
    from convcalc.config import ConfigFiles


MIN_WIDTH = 40
"""The narrowest table convcalc renders (``--width``'s minimum)."""


def print_spec_error(error: SpecError) -> None:
    """Bullets on stderr: ``file:line:col: layers[3].stride: must be ≥ 1 (got -1)``."""
    from convcalc.report.common import spec_error_text

    sys.stderr.write(spec_error_text(error))


def usage_error(message: str) -> NoReturn:
    from convcalc.text import printable

    sys.stderr.write(f"error: {printable(message)}\n")
    raise typer.Exit(EXIT_USAGE)


def output_file(output: str | None) -> str | None:
    """The file an ``--output``/``-o`` names; None for standard output (no option, or ``-o -`` as elsewhere: a
    file called "-" is ``-o ./-``)."""
    return None if output == "-" else output


def write_output(text: str, output: str | None = None) -> None:
    """``text`` to standard output, or to the file ``output`` as UTF-8, replaced whole (:func:`replace_file`).

    A character that UTF-8 cannot carry (a lone surrogate from an undecodable file name) is written as its
    backslash escape (``\\udcff``) rather than failing; a file that cannot be written is a usage error (exit 2).
    """
    if output is None:
        if sys.stdout is None:  # started with descriptor 1 closed (``>&-``): Python's stand-in is None
            usage_error("standard output is closed: there is nowhere to write to (redirect it, or give -o FILE)")
        write_stream(sys.stdout, text)
        return
    data = text.encode("utf-8", "backslashreplace")
    replace_file(output, lambda temporary: _write_bytes(temporary, data))


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # not a FIFO or a terminal
            os.fsync(handle.fileno())  # on disk before the rename makes it the target


def write_stream(stream: TextIO, text: str) -> None:
    """Write ``text`` to a text stream; what its encoding cannot carry (a lone surrogate on strict UTF-8, an
    arrow on an ASCII terminal) is written as a backslash escape instead of raising UnicodeEncodeError."""
    try:
        stream.write(text)
    except UnicodeEncodeError:  # raised before anything is written: a text stream encodes the whole string
        encoding = getattr(stream, "encoding", None) or "utf-8"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))


def replace_file(output: str, write: Callable[[str], None], suffix: str = ".tmp") -> None:
    """Make ``output`` the file that ``write(path)`` writes at a temporary path, or leave it as it was.

    The temporary file is made in the target's folder (named ``.<name>.<random><suffix>``: give the suffix a
    writer insists on, ``.keras``) and renamed over the target in one step, so readers and concurrent
    writers see the old document or a whole new one, never a truncated or spliced one. It gets the target's
    permissions (a new file: the umask's). A symlink is written through; a target that is not a regular file
    (``/dev/stdout``, a FIFO) is written in place. Any failure removes the temporary file; an OSError is a
    usage error (exit 2) naming the file.
    """
    try:
        _replace_file(output, write, suffix)
    except OSError as exc:
        usage_error(f"cannot write {output}: {exc.strerror or exc}")


def _replace_file(output: str, write: Callable[[str], None], suffix: str) -> None:
    target = os.path.realpath(output)
    try:
        mode: int | None = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), output)
        write(target)
        return
    folder, name = os.path.split(target)
    import tempfile

    handle, temporary = tempfile.mkstemp(prefix=f".{name[:100]}.", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        os.chmod(temporary, stat.S_IMODE(mode) if mode is not None else 0o666 & ~_umask())
        write(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def output_width(requested: int | None, terminal: bool) -> int:
    """The width to render at: ``--width``, else ``COLUMNS`` (also in a pipe or CI), else the terminal's, else
    100 (a pipe, a file: wide enough for the main columns, narrow enough for a log viewer)."""
    from convcalc.report.common import DEFAULT_WIDTH

    if requested is not None:
        return requested
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= MIN_WIDTH:
        return int(columns)
    if terminal:
        return max(MIN_WIDTH, shutil.get_terminal_size().columns)
    return DEFAULT_WIDTH


def stdout_is_terminal() -> bool:
    """Whether standard output is a terminal (not where it is closed: :func:`write_output` refuses that)."""
    return sys.stdout is not None and sys.stdout.isatty()


def wants_color(terminal: bool) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set to anything (no-color.org)."""
    return terminal and not os.environ.get("NO_COLOR")


def progress(message: str) -> contextlib.AbstractContextManager[object]:
    """A spinner with ``message`` on stderr while a slow step runs (importing TensorFlow, building, running a
    model, reading a big file) — on a terminal only: a pipe or a CI log gets nothing."""
    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, emoji=False).status(message)


MODEL_INPUT = "model_input"
"""The ``--input`` option of the commands that read model files, carried with the settings."""
ModelInput = Annotated[
    str | None,
    typer.Option(
        "--input",
        metavar="HxW[xD]",
        help="For a model file without a fixed input size: the size to check it at, e.g. 224x224.",
    ),
]


def dimensions(text: str) -> list[int] | None:
    """Sizes as the options write them, ``224x224x3`` (or ``×`` or ``,`` between them), each a plain decimal
    of at most 10 digits; None when any part is not (an empty one, a sign, other digits).

    >>> dimensions("227×227,3"), dimensions("3"), dimensions("10xx"), dimensions("-1")
    ([227, 227, 3], [3], None, None)
    """
    parts = text.replace("×", "x").replace(",", "x").lower().split("x")
    if all(part.isascii() and part.isdigit() and len(part) <= 10 for part in parts):
        return [int(part) for part in parts]
    return None


def model_input_size(text: str | None) -> tuple[int, int, int | None] | None:
    """``--input 224x224`` → (224, 224, None); ``224x224x3`` → (224, 224, 3); a usage error otherwise."""
    if text is None:
        return None
    from convcalc.layers.fields import MAX_SIZE

    sizes = dimensions(text)
    if sizes is not None and len(sizes) in (2, 3) and all(1 <= size <= MAX_SIZE for size in sizes):
        return (sizes[0], sizes[1], sizes[2] if len(sizes) == 3 else None)
    usage_error(f"--input: expected HxW or HxWxD with sizes from 1 to {MAX_SIZE:,}, like 224x224 (got {text!r})")


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
    extra.append(inspect.Parameter(MODEL_INPUT, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ModelInput))
    config_option = typer.Option(
        "--config", metavar="FILE", help="A convcalc.toml or pyproject.toml to use instead of searching."
    )
    extra.append(
        inspect.Parameter(
            "config_file", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[str | None, config_option]
        )
    )
    names = [setting.name for setting in SETTINGS] + [MODEL_INPUT]

    @functools.wraps(command)
    def with_settings(**kwargs: Any) -> None:
        settings = {name: kwargs.pop(name) for name in names}
        command(**kwargs, settings=settings)

    with_settings.__signature__ = signature.replace(parameters=[*kept, *extra])  # type: ignore[attr-defined]
    return with_settings


def checked_or_exit(
    file: str, settings: dict[str, Any], config_file: str | None, files: ConfigFiles | None = None
) -> Checked | None:
    """The pipeline every command shares (:func:`convcalc.checking.check_file`); a bad config is a usage error
    (exit 2 now), a bad spec prints its problems and gives None. ``files``: the run's config files, read once
    for all its specs. ``settings`` may carry the ``--input`` of a model file (:data:`MODEL_INPUT`)."""
    from convcalc.checking import check_file
    from convcalc.config import ConfigError

    settings = dict(settings)
    input_size = model_input_size(settings.pop(MODEL_INPUT, None))
    try:
        return check_file(file, settings, config_file, files, input_size)
    except ConfigError as error:
        usage_error(str(error))
    except SpecError as error:
        print_spec_error(error)
        return None
