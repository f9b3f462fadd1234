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
from collections.abc import Iterator, Mapping, Sequence
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
    process stops the run and exits 130 as one process would, where each worker would print its traceback.
    SIGTERM a worker takes as the main process does (a run may start with it ignored), except the handler
    :data:`_END_WORKERS_FIRST`, which it inherits by the fork: it takes SIGTERM's default then."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held since the fork (_interrupts_held): now ignored, let it in
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if signal.getsignal(signal.SIGTERM) is _END_WORKERS_FIRST:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT back from this thread while it starts the workers, and deliver it after.

    A worker is a fork of this process and starts with its SIGINT handler; a press before the worker's
    initializer ignores SIGINT made it print a KeyboardInterrupt traceback. A fork inherits the held mask and
    none of the pending signals, so the worker sees no press until it ignores them (its initializer lets them
    in). A press held here is delivered when this ends, and stops the run as usual. Where the platform cannot
    hold signals (no ``pthread_sigmask``), nothing is held."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # the mask as it is
    try:
        # Inside the try: blocking runs the handlers of signals already pending, which may raise.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


class _EndWorkersFirst:
    """The SIGTERM handler while pools run: it ends their workers, then this process by the same signal, as
    SIGTERM ends one process. Left to the default, SIGTERM (``kill``, a CI's timeout) ended this process alone,
    and each worker printed a ``BrokenPipeError`` traceback on finding the result pipe closed.

    ``spared`` are the processes this one had started before the first pool: every later child is a worker."""

    def __init__(self) -> None:
        self.pools = 0
        self.spared: set[BaseProcess] = set()

    def __call__(self, signum: int, frame: object) -> None:
        import signal

        _kill_children_but(self.spared)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


_END_WORKERS_FIRST = _EndWorkersFirst()


def _kill_children_but(spared: set[BaseProcess]) -> None:
    """SIGKILL every child process but ``spared`` (the workers: they may ignore SIGTERM, as the run does)."""
    import multiprocessing

    for child in multiprocessing.active_children():
        if child not in spared:
            child.kill()


@contextlib.contextmanager
def _workers_end_with_this_process() -> Iterator[None]:
    """Handle SIGTERM with :data:`_END_WORKERS_FIRST` while a pool runs; pools may nest or interleave.

    Only in the main thread (the only one that may set a handler), and only where SIGTERM has its default
    action: a program that ignores or handles SIGTERM keeps its way, and so do its workers, which inherit it.
    The default comes back when the last pool is done, unless the program has set a handler of its own since."""
    import multiprocessing
    import signal
    import threading

    handler = _END_WORKERS_FIRST
    current = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or current not in (signal.SIG_DFL, handler):
        yield
        return
    if handler.pools == 0:
        handler.spared = set(multiprocessing.active_children())
    handler.pools += 1
    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        handler.pools -= 1
        main = threading.current_thread() is threading.main_thread()  # a generator may be closed elsewhere
        if handler.pools == 0 and main and signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _outcomes_in_a_pool(tasks: list[_Task], jobs: int) -> Iterator[Outcome]:
    """The tasks' outcomes, in order, made by ``jobs`` worker processes. Should a worker die before the end (the
    out-of-memory killer), the rest is made here, the same way: a ``ProcessPoolExecutor`` says so where a
    ``multiprocessing.Pool`` waits forever. The workers leave on their own when the run ends, never by SIGTERM,
    which they may ignore as the main process does."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # fork where the platform has it safely (Linux): the workers start with convcalc already imported.
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    others = set(multiprocessing.active_children())
    size = max(1, min(8, len(tasks) // (4 * jobs)))
    chunks = [tasks[start : start + size] for start in range(0, len(tasks), size)]
    executor = ProcessPoolExecutor(jobs, mp_context=context, initializer=_leave_signals_to_the_main)
    done = 0
    try:
        # Futures rather than executor.map, whose iterator cancels the rest when the run stops, and that races
        # with the executor failing them once the workers are gone (Python 3.11: InvalidStateError).
        with _interrupts_held():  # the first submit forks the workers
            futures = [executor.submit(_chunk_outcomes, chunk) for chunk in chunks]
        for future in futures:
            for outcome in future.result():
                done += 1
                yield outcome
    except BrokenProcessPool:
        pass  # a worker died: what it was making is made below
    except BaseException:
        # The run stops here (Ctrl-C, a closed output, an error): the workers' files are not wanted. They end
        # now, or the exit would wait for every chunk already sent to them; the executor then finds its pool
        # broken and stops at once.
        _kill_children_but(others)
        _end_the_result_pipe(executor)
        raise
    finally:
        executor.shutdown()
    yield from map(_outcome, tasks[done:])  # what a dead worker was making, if one died


def _end_the_result_pipe(executor: Any) -> None:
    """Close this process's copy of the pipe the workers send their results on, once they are dead: a worker
    killed in the middle of a long result left the executor reading the rest of it forever (its shutdown, and
    Python's exit, then wait for that reader). With no writer left the reader meets the end of the pipe, and
    the executor finds its pool broken. (The executor's ``_result_queue``, private: where a Python lacks it,
    nothing is closed.)"""
    writer = getattr(getattr(executor, "_result_queue", None), "_writer", None)
    if writer is not None:
        writer.close()


def _chunk_outcomes(chunk: list[_Task]) -> list[Outcome]:
    return [_outcome(task) for task in chunk]


def check_files(files: Sequence[str], request: Request, jobs: int) -> Iterator[Outcome]:
    """Each file's outcome, in the order given, made in ``jobs`` processes (1: this one). After a file whose
    config is invalid comes a last outcome holding that error, and no more."""
    tasks, config_error = _tasks(files, request)
    jobs = min(jobs, len(tasks))
    if jobs <= 1:
        yield from map(_outcome, tasks)
    else:
        # The handler first: the workers fork with it, and take SIGTERM's default again (their initializer).
        with _workers_end_with_this_process():
            yield from _outcomes_in_a_pool(tasks, jobs)
    if config_error is not None:
        yield Outcome(config_error=config_error)
