"""``python -m convcalc`` works like the ``convcalc`` command (both enter here)."""

import gc
import os
import signal
import sys
import time
import types
from collections.abc import Callable

EXIT_USAGE = 2  # convcalc.findings' value; importing that module here would defeat the check below
EXIT_INTERRUPTED = 130  # what a shell reports for a command Ctrl-C ended, and what typer exits with


def main() -> None:
    _stop_at_the_first_interrupt()
    _stand_in_for_closed_streams()
    try:
        _run()
    except KeyboardInterrupt:  # before typer's command runs (it exits 130 itself): while importing, say
        raise SystemExit(EXIT_INTERRUPTED) from None


def _stop_at_the_first_interrupt() -> None:
    """Ctrl-C stops the command; further presses in the next second are ignored while it stops.

    Python raises KeyboardInterrupt at every press, and one that comes while the command stops breaks into
    its clean-up: the workers of ``check --jobs`` being ended, or Python's own exit joining a thread, which
    then prints "Exception ignored in: <module 'threading'>" and a traceback (one run in four when two
    presses came 5 ms apart). Stopping takes milliseconds, so such a press has nothing left to do; one that
    comes later stops the command again (a first one that some library swallowed, or a slow stop). Only where
    SIGINT has Python's own handler: an ignored SIGINT (a background job, ``nohup``) stays so."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, Interrupts())


def _stand_in_for_closed_streams() -> None:
    """Python sets ``sys.stdout`` or ``sys.stderr`` to None when it starts with descriptor 1 or 2 closed (``>&-``,
    ``2>&-``), and that descriptor goes to the next file opened: an ``-o`` report's temporary file would take what
    a library writes to descriptor 1. Each closed one is held on the null device. A closed stderr then takes
    messages there (writing them raised AttributeError, with nowhere to go, and a spec error exited 1, not 2);
    a closed stdout stays None, and output meant for it is refused where it is written
    (``convcalc.cli_options.write_output``)."""
    for descriptor, stream in ((1, sys.stdout), (2, sys.stderr)):
        if stream is None and not _is_open(descriptor):
            null = os.open(os.devnull, os.O_WRONLY)
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115  # the process's stderr, left open


def _is_open(descriptor: int) -> bool:
    try:
        os.fstat(descriptor)
    except OSError:
        return False
    return True


class Interrupts:
    """The SIGINT handler of a command: KeyboardInterrupt, but not again within :data:`GRACE_SECONDS`."""

    GRACE_SECONDS = 1.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last: float | None = None

    def __call__(self, signum: int, frame: object) -> None:
        now = self.clock()
        if self.last is not None and now - self.last < self.GRACE_SECONDS:
            return  # the command is stopping
        self.last = now
        raise KeyboardInterrupt


def _run() -> None:
    # Importing pydantic, rich and typer allocates a lot and frees little: the cyclic collector would only
    # cost start-up time there. It is back on before the command runs, so no other module has to know.
    gc.disable()
    # pydantic scans every installed package's entry points for plugins when the first model is built
    # (tens of ms beside TensorFlow); the CLI uses none. Set the variable yourself to keep plugins on.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _skip_plugin_discovery()
    try:
        from convcalc.cli import main as cli_main
    except ModuleNotFoundError as missing:
        if (missing.name or "convcalc").split(".")[0] == "convcalc":
            raise  # a broken install of convcalc itself, not a missing dependency
        # Run from a source tree by an interpreter that lacks the dependencies: say what to install.
        sys.stderr.write(
            f"error: convcalc needs the package {missing.name!r}, which this Python lacks;"
            " install convcalc with its dependencies: pip install -e .\n"
        )
        raise SystemExit(EXIT_USAGE) from None

    settle_collector()
    gc.enable()
    cli_main()


FIRST_GENERATION = 10_000
"""Allocations between the collector's young-generation passes while a command runs (CPython's default: 700)."""


def settle_collector() -> None:
    """Set the cyclic garbage collector for a command, once everything it needs is imported.

    A command allocates little but may build Keras models (cycles), so the collector stays on, but over what
    the command makes: the modules' objects live as long as the process, and walking them in every full
    collection cost a VGG16 check 11 ms and a ResNet-50 20 ms (``gc.freeze`` moves them out of reach). A check
    builds one large acyclic record, every layer's facts, freed by reference counting; collecting every 700
    allocations walked it again and again as it grew: 52 / 59 / 75 µs a layer at 1,000 / 10,000 / 100,000
    layers, against 51 / 46 / 48 with the collector off. Every 10,000 (:data:`FIRST_GENERATION`): 52 / 49 / 55;
    a ResNet-50 among 40 in one process 18.8 → 18.0 ms; a cold VGG16 check unchanged.
    """
    gc.freeze()
    gc.set_threshold(FIRST_GENERATION)


# The values with which pydantic's get_plugins() returns no plugins without looking for any.
_ALL_PLUGINS_OFF = ("__all__", "1", "true")


def _skip_plugin_discovery() -> None:
    """Answer pydantic's plugin lookup with "none" when PYDANTIC_DISABLE_PLUGINS turns them all off.

    pydantic answers the same itself, but the module that holds its answer imports ``importlib.metadata`` (and
    with it ``email``, ``zipfile``, ``csv``, ``socket``) to look for plugins it then does not look for: 20 ms of
    a 0.3 s check. Only with every plugin off, and only where pydantic has not loaded that module yet; the
    entry point is this one function (tests/test_cli.py pins that it still behaves as pydantic's).
    """
    name = "pydantic.plugin._loader"
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in _ALL_PLUGINS_OFF or name in sys.modules:
        return
    loader = types.ModuleType(name, "pydantic's plugin loader while every plugin is off: there are none.")
    loader.get_plugins = tuple  # type: ignore[attr-defined]  # get_plugins() == ()
    sys.modules[name] = loader


if __name__ == "__main__":
    main()
