"""Checking many files in one run: each file's outcome made in worker processes, handed back in order.

``check`` turns every file into an :class:`Outcome`: its share of the report (the format's ``part``, see
:mod:`convcalc.report`), what it writes on stderr, and whether it fails. With one job the outcomes are made
in this process; with more, in a pool of processes, and the main process takes them in the order the files
were given. Either way the same function makes each outcome and the same code writes them, so the output,
stderr and exit code of ``--jobs N`` are byte for byte those of ``--jobs 1``.

The configs are resolved here, in the main process, file by file, so each config file is still read once
per run; a config error stops the run at that file as it would in one process.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from convcalc.config import LintConfig
    from convcalc.importers.keras import InputSize
    from convcalc.report.common import RenderOptions


class Outcome(NamedTuple):
    """One file after checking: its part of the report (None: it could not be read), its stderr text, and
    whether a finding reached its config's ``fail-on``; or the config error that stops the run there."""

    part: Any = None
    stderr: str = ""
    fails: bool = False
    config_error: str | None = None


class Request(NamedTuple):
    """What ``check`` asks of every file: the command line's settings and ``--config``, the ``--input`` of a
    model file, and the report's format and options."""

    settings: Mapping[str, Any]
    config_file: str | None
    input_size: InputSize | None
    output_format: str
    options: RenderOptions


class _Task(NamedTuple):
    file: str
    config: LintConfig
    request: Request


def default_jobs() -> int:
    """The CPUs this process may run on (its affinity where the platform says, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on this platform
        return os.cpu_count() or 1


def _outcome(task: _Task) -> Outcome:
    from convcalc.checking import check_configured
    from convcalc.loading import SpecError
    from convcalc.report import part_renderer
    from convcalc.report.common import spec_error_text
    from convcalc.text import printable

    try:
        checked = check_configured(task.file, task.config, task.request.input_size)
    except SpecError as error:
        return Outcome(stderr=spec_error_text(error))
    note = ""
    if checked.spec.unchecked_fixes:
        note = (
            f"note: {printable(task.file)}: {checked.spec.unchecked_fixes:,} findings shown without fixes: each fix"
            f" is checked by re-analysing all {len(checked.spec.facts.layers):,} layers, and that budget ran out\n"
        )
    render_part, _ = part_renderer(task.request.output_format)
    return Outcome(render_part(checked.spec, task.request.options), note, checked.fails)


def _tasks(files: Sequence[str], request: Request) -> tuple[list[_Task], str | None]:
    """A task per file up to the first whose config is invalid, and that config's error."""
    from convcalc.config import ConfigError, ConfigFiles, resolve_config

    configs = ConfigFiles()  # each config file read once, however many specs share it
    tasks: list[_Task] = []
    for file in files:
        try:
            config = resolve_config(file, config_file=request.config_file, files=configs, **request.settings)
        except ConfigError as error:
            return tasks, str(error)
        tasks.append(_Task(file, config, request))
    return tasks, None


def _leave_signals_to_the_main() -> None:
    """A worker ignores Ctrl-C (SIGINT, which the terminal sends to every process of the command): the main
    process stops the pool and exits 130 as one process would, where each worker would print its traceback.
    SIGTERM ends a worker at once and in silence (:func:`_workers_end_with_this_process` sends it)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def _workers_end_with_this_process(workers: Collection[BaseProcess]) -> Iterator[None]:
    """While the pool runs, SIGTERM (``kill``, a CI's timeout) ends its workers first, then this process by the
    same signal, as it ends one process. Left to itself, SIGTERM ended this process alone, and each worker
    printed a ``BrokenPipeError`` traceback on finding the result pipe closed.

    Only where SIGTERM has its default action, and in the main thread (the only one that may set a handler):
    a program that calls this and handles SIGTERM itself keeps its handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def end(signum: int, frame: object) -> None:
        for worker in workers:  # one that has ended already is left alone
            worker.terminate()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, end)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def check_files(files: Sequence[str], request: Request, jobs: int) -> Iterator[Outcome]:
    """Each file's outcome, in the order given, made in ``jobs`` processes (1: this one). After a file whose
    config is invalid comes a last outcome holding that error, and no more."""
    tasks, config_error = _tasks(files, request)
    jobs = min(jobs, len(tasks))
    if jobs <= 1:
        yield from map(_outcome, tasks)
    else:
        import multiprocessing

        # fork where the platform has it safely (Linux): the workers start with convcalc already imported.
        method = "fork" if sys.platform == "linux" else None
        others = set(multiprocessing.active_children())
        with multiprocessing.get_context(method).Pool(jobs, initializer=_leave_signals_to_the_main) as pool:
            workers = set(multiprocessing.active_children()) - others
            with _workers_end_with_this_process(workers):
                yield from pool.imap(_outcome, tasks, chunksize=max(1, min(8, len(tasks) // (4 * jobs))))
    if config_error is not None:
        yield Outcome(config_error=config_error)
