"""convcalc.jobs: `check --jobs N` writes byte for byte what `--jobs 1` writes, in every format."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.jobs import _interrupts_held, _leave_signals_to_the_main, default_jobs
from convcalc.report import FORMATS
from tests.helpers import EXAMPLES, sequential

runner = CliRunner()


def _check(*args: str) -> tuple[str, str, int]:
    result = runner.invoke(app, ["check", *args], env={"COLUMNS": "120"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.stdout, result.stderr, result.exit_code


def _budget_spec(folder: Path) -> str:
    """A 3,000-layer spec with misfits enough that its fixes run out of the fix budget (a note on stderr)."""
    layers: list[dict[str, object]] = []
    for _ in range(12):
        layers += [
            {"type": "conv", "filters": 2, "kernel": 2, "padding": 1},
            {"type": "pool", "kernel": 3, "stride": 2},
        ]
    layers += [{"type": "relu"}] * (3000 - len(layers))
    path = folder / "budget.json"
    path.write_text(json.dumps({"input": [101, 101, 1], "layers": layers}))
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Good specs, specs with errors, and two that cannot be read."""
    folder = tmp_path_factory.mktemp("jobs")
    (folder / "bad.json").write_text('{"input": [10, 10, 3], "layers": [{"type": "conv", "filters": 4, "stride": -1}]}')
    (folder / "junk.json").write_text("not json")
    return [
        str(EXAMPLES / "vgg16.json"),
        str(folder / "bad.json"),
        str(EXAMPLES / "stride_mismatch.json"),
        str(EXAMPLES / "resnet18.json"),
        str(folder / "junk.json"),
        str(EXAMPLES / "inception_block.json"),
    ]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_jobs_write_what_one_process_writes(files: list[str], fmt: str) -> None:
    one = _check(*files, "--format", fmt, "--jobs", "1")
    assert one[2] == 2  # the unreadable specs
    assert "bad.json is not a valid convcalc spec" in one[1] and "junk.json" in one[1]
    assert one[1].index("bad.json") < one[1].index("junk.json")
    assert _check(*files, "--format", fmt, "--jobs", "3") == one


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_jobs_hand_back_a_model_files_report(tmp_path: Path, fmt: str) -> None:
    # A model file has no spec text, so its record holds the default SourceMap: that must cross from a worker
    # to the main process too (the HTML report's part is the whole record).
    model = tmp_path / "model.json"
    conv = {"class_name": "Conv2D", "config": {"name": "conv", "filters": 4, "kernel_size": [3, 3]}}
    model.write_text(json.dumps(sequential([conv])))
    specs = [str(model), str(EXAMPLES / "lenet5.json")]
    one = _check(*specs, "--format", fmt, "--jobs", "1")
    assert one[2] == 0 and one[1] == ""
    assert _check(*specs, "--format", fmt, "--jobs", "2") == one


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_workers_note_keeps_its_place_among_the_errors(files: list[str], fmt: str) -> None:
    # The budget's note comes from a worker, like the errors: each file's stderr stays in the file's place.
    specs = [*files[:3], _budget_spec(Path(files[1]).parent), *files[3:]]
    one = _check(*specs, "--format", fmt, "--jobs", "1")
    assert "findings shown without fixes" in one[1]
    assert one[1].index("bad.json") < one[1].index("budget.json") < one[1].index("junk.json")
    assert _check(*specs, "--format", fmt, "--jobs", "3") == one


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_jobs_exit_codes_match(fmt: str) -> None:
    clean = [str(EXAMPLES / "vgg16.json"), str(EXAMPLES / "lenet5.json")]
    errors = [*clean, str(EXAMPLES / "stride_mismatch.json")]
    for specs, code in ((clean, 0), (errors, 1)):
        one = _check(*specs, "--format", fmt, "--jobs", "1")
        assert one[2] == code
        assert _check(*specs, "--format", fmt, "--jobs", "2") == one
        assert _check(*specs, "--format", fmt) == one  # the default: every CPU


def test_a_bad_config_stops_the_run_there_with_any_jobs(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # the config search stops at the repository root
    (tmp_path / "convcalc.toml").write_text("bogus = 1\n")
    spec = tmp_path / "spec.json"
    spec.write_text((EXAMPLES / "lenet5.json").read_text())
    specs = [str(tmp_path.parent / "missing.json"), str(spec), str(EXAMPLES / "vgg16.json")]
    one = _check(*specs, "--jobs", "1")
    assert one[0] == "" and one[2] == 2
    assert "missing.json" in one[1] and "bogus" in one[1]
    assert _check(*specs, "--jobs", "2") == one


def test_jobs_must_be_positive() -> None:
    assert _check(str(EXAMPLES / "vgg16.json"), "--jobs", "0")[2] == 2
    assert default_jobs() >= 1


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


def _started_with_two_workers(process: subprocess.Popen[str]) -> list[int]:
    """The two workers' pids, once they have started and are well into the files."""
    deadline = time.monotonic() + 30
    while len(_children(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = [int(pid) for pid in _children(process.pid)]
    assert len(workers) == 2, "the workers never started"
    time.sleep(0.2)
    return workers


def _ended(pid: int) -> bool:
    """Gone, or a zombie that its new parent has yet to reap."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _all_end(pids: list[int]) -> bool:
    """Whether every process ends within 10 s: a killed process closes its pipes before it is a zombie."""
    deadline = time.monotonic() + 10
    while not all(_ended(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    return all(_ended(pid) for pid in pids)


LINUX_CHILDREN = pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="needs Linux's /proc/PID/task/PID/children to see the workers start",
)
MANY_FILES = [str(EXAMPLES / "resnet50.json")] * 400


@LINUX_CHILDREN
@pytest.mark.parametrize(("presses", "apart"), [(1, 0.0), (2, 0.0), (2, 0.005), (2, 0.02)])
def test_ctrl_c_stops_the_workers_as_quietly_as_one_process(presses: int, apart: float) -> None:
    # The terminal sends SIGINT to every process of the command; each worker used to print its traceback. A
    # second press while the run stops must not interrupt the executor's shutdown or Python's exit
    # (tracebacks, lost workers; 14 runs in 60 printed one, when the presses came 0-80 ms apart).
    with subprocess.Popen(
        [sys.executable, "-m", "convcalc", "check", *MANY_FILES, "--jobs", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a foreground job has it
    ) as process:
        workers = _started_with_two_workers(process)
        for _ in range(presses):
            os.killpg(process.pid, signal.SIGINT)
            time.sleep(apart)
        _, stderr = process.communicate(timeout=30)
    # A second press may find the exit under way: the process then ends by SIGINT itself (a shell says 130).
    assert process.returncode in ((130,) if presses == 1 else (130, -signal.SIGINT))
    assert stderr == ""
    assert _all_end(workers)


def _a_worker_started_while_interrupts_are_held() -> None:
    os.kill(os.getpid(), signal.SIGINT)  # as if the terminal's press came before the initializer
    _leave_signals_to_the_main()
    time.sleep(0.05)


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="this platform cannot hold signals back")
def test_a_press_while_the_workers_start_waits_for_the_main_process_and_misses_the_workers() -> None:
    # A worker forked while the main process holds SIGINT back inherits the hold: the press it gets before its
    # initializer ignores SIGINT used to raise KeyboardInterrupt there (a traceback). The main process gets
    # its own press when the hold ends.
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    with pytest.raises(KeyboardInterrupt):
        with _interrupts_held():
            worker = fork.Process(target=_a_worker_started_while_interrupts_are_held)
            worker.start()
            worker.join(30)
            assert worker.exitcode == 0
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # held: nothing is raised here
        pytest.fail("the held press was not delivered")  # pragma: no cover
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


@LINUX_CHILDREN
def test_sigterm_to_the_main_process_ends_the_workers_too() -> None:
    # A CI's timeout or `kill` signals the main process alone. It used to die by itself, leaving each worker
    # to print a BrokenPipeError traceback on finding the result pipe closed. Now it ends them, then dies of
    # the same signal, as one process does.
    with subprocess.Popen(
        [sys.executable, "-m", "convcalc", "check", *MANY_FILES, "--jobs", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # the workers hold it open: communicate() waits for them too
        text=True,
    ) as process:
        workers = _started_with_two_workers(process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert (process.returncode, stderr) == (-signal.SIGTERM, "")
    assert _all_end(workers)


def _sigterm_handlers_seen(jobs: int) -> list[object]:
    """SIGTERM's handler while each of two files' outcomes is handed over, and after the run."""
    from convcalc.jobs import Request, check_files
    from convcalc.report.common import RenderOptions

    request = Request({}, None, None, "json", RenderOptions())
    seen = [signal.getsignal(signal.SIGTERM) for _ in check_files([str(EXAMPLES / "lenet5.json")] * 2, request, jobs)]
    return [*seen, signal.getsignal(signal.SIGTERM)]


def test_the_sigterm_handler_lives_as_long_as_the_pool() -> None:
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    during_one, during_other, after = _sigterm_handlers_seen(jobs=2)
    assert during_one == during_other != signal.SIG_DFL
    assert after == signal.SIG_DFL
    assert _sigterm_handlers_seen(jobs=1) == [signal.SIG_DFL] * 3  # one process dies of it as it is


def test_a_programs_own_sigterm_handler_is_kept() -> None:
    def own(signum: int, frame: object) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, own)
    try:
        assert _sigterm_handlers_seen(jobs=2) == [own] * 3
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_jobs_run_in_a_thread_that_may_not_set_handlers() -> None:
    # Only the main thread may set a signal handler (signal.signal raises ValueError elsewhere).
    import threading

    seen: list[list[object]] = []
    thread = threading.Thread(target=lambda: seen.append(_sigterm_handlers_seen(jobs=2)))
    thread.start()
    thread.join(timeout=60)
    assert seen == [[signal.SIG_DFL] * 3]


# The handler's bookkeeping, on its own: several pools in one process at once (forking while another pool's
# threads run could deadlock a test) and a generator closed in another thread.


def test_interleaved_runs_share_the_handler_until_the_last_ends() -> None:
    from convcalc.jobs import _workers_end_with_this_process

    first, second = _workers_end_with_this_process(), _workers_end_with_this_process()
    first.__enter__()
    second.__enter__()
    handler = signal.getsignal(signal.SIGTERM)
    assert handler != signal.SIG_DFL
    first.__exit__(None, None, None)
    assert signal.getsignal(signal.SIGTERM) is handler  # the second pool's workers are still covered
    second.__exit__(None, None, None)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_handler_set_during_a_run_is_kept_and_an_end_elsewhere_is_quiet() -> None:
    import threading

    from convcalc.jobs import _workers_end_with_this_process

    def own(signum: int, frame: object) -> None:
        pass

    run = _workers_end_with_this_process()
    run.__enter__()
    previous = signal.signal(signal.SIGTERM, own)  # the program's own, set while the run is suspended
    try:
        run.__exit__(None, None, None)
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)
    elsewhere = _workers_end_with_this_process()
    elsewhere.__enter__()
    errors: list[BaseException] = []

    def end() -> None:
        try:
            elsewhere.__exit__(None, None, None)  # only the main thread may set a handler: it stays
        except BaseException as error:  # reported below
            errors.append(error)

    thread = threading.Thread(target=end)
    thread.start()
    thread.join(timeout=60)
    assert errors == []
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("the run hung waiting for what a dead worker was making")


@LINUX_CHILDREN
@pytest.mark.parametrize("how", ["SIGTERM to a group that ignores it", "SIGKILL to one worker"])
def test_a_run_whose_worker_dies_still_reports_every_file(how: str, tmp_path: Path) -> None:
    # A service manager may start convcalc with SIGTERM ignored and signal its whole group: the workers ignore
    # it too (a pool ended them by SIGTERM, and waited forever for one that ignored it). The out-of-memory
    # killer may take a worker: a pool waited forever for its files; the main process makes them itself, and
    # the report is the one --jobs 1 writes. Each file is slow (2,000 layers) and its part small (one
    # annotation): a chunk of them comes back in one write to the result pipe, which a kill cannot cut in half
    # (a worker killed in the middle of a long write leaves Python's executor waiting for the rest).
    layers: list[dict[str, object]] = [{"type": "conv", "filters": 8, "kernel": 7, "padding": 3}]
    layers += [{"type": "conv", "filters": 8, "kernel": 3, "padding": 1}, {"type": "relu"}] * 1000
    files = []
    for i in range(48):
        files.append(str(tmp_path / f"deep_{i:02}.json"))
        Path(files[-1]).write_text(json.dumps({"input": [16, 16, 3], "layers": layers}), encoding="utf-8")
    command = [sys.executable, "-m", "convcalc", "check", *files, "--format", "github", "--select", "CC201"]
    expected = subprocess.run([*command, "--jobs", "1"], capture_output=True, text=True, timeout=300).stdout
    assert expected.count("title=CC201") == len(files)
    ignore = how.startswith("SIGTERM")
    with subprocess.Popen(
        [*command, "--jobs", "2", "--exit-zero"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN)) if ignore else None,
    ) as process:
        workers = _started_with_two_workers(process)
        if ignore:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            os.kill(workers[0], signal.SIGKILL)
        stdout, stderr = _finish(process)
    assert (process.returncode, stderr) == (0, "")
    assert stdout == expected
