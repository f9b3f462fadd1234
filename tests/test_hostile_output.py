"""Hostile output conditions: undecodable file names, strict or ASCII streams, failed and concurrent writes.

Every format writes a file name's undecodable bytes without a UnicodeEncodeError, to a strict UTF-8 pipe and
to ``-o``; a stream that cannot encode a character gets its backslash escape; ``-o`` (check, draw, export,
``.keras``) replaces the target whole or not at all: a failed write leaves the old file and no temporary file,
and two writers never splice their documents. A closed stdout is a usage error where output goes there (exit
2), and a closed stderr changes no exit code.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from convcalc import cli_options
from convcalc.cli import app
from convcalc.cli_options import replace_file, write_output, write_stream
from convcalc.report import FORMATS
from tests.helpers import EXAMPLES

runner = CliRunner()
UNDECODABLE = os.fsdecode(b"bad\xff\xfe.json")  # "bad\udcff\udcfe.json": how Python sees these argv bytes
MISMATCH = (EXAMPLES / "stride_mismatch.json").read_text(encoding="utf-8")
"""A spec with error findings in every format (exit 1)."""


def convcalc(*args: str, cwd: Path, encoding: str = "utf-8", **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": encoding, "COLUMNS": "200", "PYTHONUTF8": "0"}
    return subprocess.run(
        [sys.executable, "-m", "convcalc", *args], cwd=cwd, env=env, capture_output=True, timeout=60, **kwargs
    )


def leftovers(folder: Path, *expected: str) -> list[str]:
    """What else is in ``folder``: temporary files a write left behind."""
    return sorted(name for name in os.listdir(folder) if name not in expected)


# --- undecodable file names, strict and narrow streams ------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_an_undecodable_file_name_reaches_a_strict_utf8_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    (tmp_path / UNDECODABLE).write_text(MISMATCH, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "-f", fmt, UNDECODABLE])  # its stdout encodes strict UTF-8
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    out = result.stdout_bytes.decode("utf-8")  # strict: valid UTF-8
    if fmt == "json":
        assert json.loads(out)["file"] == "bad\\udcff\\udcfe.json"  # the visible escape, as printable shows it
    elif fmt == "sarif":
        location = json.loads(out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "bad%FF%FE.json"  # the name's own bytes
    elif fmt != "markdown":  # Markdown's heading is the spec's name; it shows no file name
        assert "bad\\udcff\\udcfe.json" in out


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_an_undecodable_file_name_is_written_to_an_output_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    (tmp_path / UNDECODABLE).write_text(MISMATCH, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    target = os.fsdecode(b"report\xff.out")
    (tmp_path / target).write_text("old\n")
    result = runner.invoke(app, ["check", "-f", fmt, UNDECODABLE, "-o", target])
    assert result.exit_code == 1 and result.stderr == "", result.stderr
    text = (tmp_path / target).read_bytes().decode("utf-8")
    assert text.strip() and text != "old\n"
    if fmt in ("json", "sarif"):
        json.loads(text)
    assert leftovers(tmp_path, UNDECODABLE, target) == []


def test_argv_bytes_reach_a_strict_utf8_pipe_and_a_file(tmp_path: Path) -> None:
    # A real process: the name arrives as bytes in argv, stdout is a pipe with PYTHONIOENCODING=utf-8.
    (tmp_path / UNDECODABLE).write_text(MISMATCH, encoding="utf-8")
    process = convcalc("check", "-f", "json", UNDECODABLE, cwd=tmp_path)
    assert process.returncode == 1 and process.stderr == b"", process.stderr.decode()
    assert json.loads(process.stdout.decode("utf-8"))["file"] == "bad\\udcff\\udcfe.json"
    process = convcalc("check", "-f", "sarif", UNDECODABLE, "-o", UNDECODABLE + ".sarif", cwd=tmp_path)
    assert process.returncode == 1 and process.stderr == b"", process.stderr.decode()
    assert "bad%FF%FE.json" in json.dumps(json.loads((tmp_path / (UNDECODABLE + ".sarif")).read_bytes()))


def test_an_ascii_terminal_gets_escapes_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / UNDECODABLE).write_text(MISMATCH, encoding="utf-8")
    for args, code in ((["check", UNDECODABLE], 1), (["rules"], 0), (["calc", "-i", "7x7x1", "-F", "3", "-K", "1"], 0)):
        process = convcalc(*args, cwd=tmp_path, encoding="ascii")
        assert process.returncode == code and b"Traceback" not in process.stderr, process.stderr.decode()
        process.stdout.decode("ascii")
    assert b"\\u2192" in convcalc("check", UNDECODABLE, cwd=tmp_path, encoding="ascii").stdout  # the arrow


def closing(descriptor: int) -> Any:
    """A ``preexec_fn`` that starts the child with ``descriptor`` closed, as a shell's ``1>&-`` or ``2>&-``."""
    return lambda: os.close(descriptor)


@pytest.mark.parametrize(
    "args",
    [
        ["check", "stride_mismatch.json"],
        ["check", "-f", "json", "stride_mismatch.json"],
        ["rules"],
        ["calc", "-i", "7x7x1", "-F", "3", "-K", "1"],
        ["--version"],
    ],
    ids=["check", "check-json", "rules", "calc", "version"],
)
def test_a_closed_stdout_is_a_usage_error_not_a_traceback(tmp_path: Path, args: list[str]) -> None:
    # Python starts with sys.stdout None where descriptor 1 is closed: asking it whether it is a terminal was an
    # AttributeError's traceback (exit 1), though the report could not be written at all.
    (tmp_path / "stride_mismatch.json").write_text(MISMATCH, encoding="utf-8")
    process = convcalc(*args, cwd=tmp_path, preexec_fn=closing(1))
    assert process.returncode == 2, process.stderr.decode()
    assert process.stderr.decode() == (
        "error: standard output is closed: there is nowhere to write to (redirect it, or give -o FILE)\n"
    )


def test_a_closed_stdout_is_no_matter_when_the_report_goes_to_a_file(tmp_path: Path) -> None:
    (tmp_path / "stride_mismatch.json").write_text(MISMATCH, encoding="utf-8")
    process = convcalc("check", "-o", "report.txt", "stride_mismatch.json", cwd=tmp_path, preexec_fn=closing(1))
    assert (process.returncode, process.stderr) == (1, b"")  # CC101's error, reported in the file
    assert "CC101" in (tmp_path / "report.txt").read_text(encoding="utf-8")


def test_a_closed_descriptor_is_held_on_the_null_device(tmp_path: Path) -> None:
    # Descriptor 1 closed would go to the next file opened (an -o report's temporary file), and what a library
    # writes to descriptor 1 would land in the report.
    code = (
        "import os, sys\n"
        "from convcalc.__main__ import _stand_in_for_closed_streams\n"
        "assert sys.stdout is None\n"
        "_stand_in_for_closed_streams()\n"
        "assert sys.stdout is None and os.write(1, b'lost') == 4\n"
        "with open('report.txt', 'w') as report:\n"
        "    assert report.fileno() > 2, report.fileno()\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=60, preexec_fn=closing(1)
    )
    assert process.returncode == 0, process.stderr.decode()


def test_a_closed_stderr_keeps_the_exit_codes_and_the_report(tmp_path: Path) -> None:
    # With sys.stderr None, writing a message was an AttributeError with nowhere to go: a spec error exited 1.
    (tmp_path / "stride_mismatch.json").write_text(MISMATCH, encoding="utf-8")
    (tmp_path / "broken.json").write_text('{"input": [8, 8, 1], "layers": [{"type": "conv"}]}', encoding="utf-8")
    process = convcalc("check", "stride_mismatch.json", cwd=tmp_path, preexec_fn=closing(2))
    assert process.returncode == 1 and b"CC101" in process.stdout
    process = convcalc("check", "broken.json", cwd=tmp_path, preexec_fn=closing(2))
    assert (process.returncode, process.stdout) == (2, b"")
    process = convcalc("check", "stride_mismatch.json", "broken.json", cwd=tmp_path, preexec_fn=closing(2))
    assert process.returncode == 2 and b"CC101" in process.stdout  # the readable spec's report, then exit 2


class StrictAscii:
    """A text stream that refuses what ASCII cannot encode, as a terminal with LANG=C does."""

    encoding = "ascii"

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        text.encode(self.encoding)
        self.parts.append(text)
        return len(text)


def test_write_stream_escapes_what_the_stream_cannot_encode() -> None:
    stream = StrictAscii()
    write_stream(stream, "3×3 → bad\udcff\n")  # type: ignore[arg-type]
    assert stream.parts == ["3\\xd73 \\u2192 bad\\udcff\n"]


# --- replaced whole or not at all ----------------------------------------------------------------------


def failing_halfway(data: bytes) -> Any:
    """A writer that writes half of ``data`` and then finds the disk full."""

    def write(path: str) -> None:
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.json"
    target.write_text("old report\n")
    with pytest.raises(typer.Exit) as stopped:
        replace_file(str(target), failing_halfway(b"new report " * 100))
    assert stopped.value.exit_code == 2
    assert capsys.readouterr().err == f"error: cannot write {target}: No space left on device\n"
    assert target.read_text() == "old report\n"
    assert leftovers(tmp_path, "report.json") == []


def test_an_exception_in_the_writer_leaves_no_temporary_file(tmp_path: Path) -> None:
    def broken(path: str) -> None:
        Path(path).write_text("partial")
        raise ValueError("the writer broke")

    with pytest.raises(ValueError, match="broke"):
        replace_file(str(tmp_path / "model.keras"), broken, suffix=".keras")
    assert leftovers(tmp_path) == []


def test_two_writers_never_splice(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    first = json.dumps({"writer": "first", "rows": list(range(2000))}).encode()
    second = json.dumps({"writer": "second", "rows": list(range(10))}).encode()

    def slow_first(path: str) -> None:
        # The first writer is halfway when the second writes its whole document (the pre-commit race).
        with open(path, "wb") as handle:
            handle.write(first[: len(first) // 2])
            handle.flush()
            write_output(second.decode(), str(target))
            assert json.loads(target.read_bytes()) == json.loads(second)
            handle.write(first[len(first) // 2 :])

    replace_file(str(target), slow_first)
    assert target.read_bytes() == first  # whole, not the second document with the first's tail
    assert leftovers(tmp_path, "report.json") == []


@pytest.mark.slow
def test_concurrent_processes_leave_one_whole_document(tmp_path: Path) -> None:
    (tmp_path / "net.json").write_text((EXAMPLES / "resnet50.json").read_text())
    (tmp_path / "small.json").write_text((EXAMPLES / "lenet5.json").read_text())
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "convcalc", "check", "-f", "json", name, "-o", "out.json", "--exit-zero"],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
        )
        for name in ("net.json", "small.json") * 3
    ]
    for process in runs:
        assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    assert json.loads((tmp_path / "out.json").read_text())["file"] in ("net.json", "small.json")
    assert leftovers(tmp_path, "net.json", "small.json", "out.json") == []


def test_the_replacement_keeps_the_targets_permissions(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old")
    target.chmod(0o640)
    write_output("new", str(target))
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.md"
    write_output("new", str(fresh))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to("real.json")
    write_output("new", str(tmp_path / "link.json"))
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_text() == "new"


def test_a_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_output("through the pipe\n", str(fifo))
    reader.join(timeout=10)
    assert received == [b"through the pipe\n"] and stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_directory_target_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(EXAMPLES / "lenet5.json"), "-o", str(tmp_path)])
    assert result.exit_code == 2 and f"cannot write {tmp_path}: Is a directory" in result.stderr
    assert leftovers(tmp_path) == []


def test_check_under_a_file_size_limit_keeps_the_old_report(tmp_path: Path) -> None:
    # `ulimit -f`: the report does not fit; Python ignores SIGXFSZ, so the write fails with EFBIG.
    (tmp_path / "net.json").write_text((EXAMPLES / "resnet50.json").read_text())
    (tmp_path / "out.json").write_text("old report\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, 16_384))

    process = convcalc("check", "-f", "json", "net.json", "-o", "out.json", cwd=tmp_path, preexec_fn=limit)
    assert process.returncode == 2, process.stderr.decode()
    assert process.stderr.decode().startswith("error: cannot write out.json: File too large")
    assert (tmp_path / "out.json").read_text() == "old report\n"
    assert leftovers(tmp_path, "net.json", "out.json") == []


def half_then_disk_full(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize(
    "args",
    [
        ["check", "{spec}", "-o", "{out}"],
        ["check", "{spec}", "-f", "html", "-o", "{out}"],
        ["draw", "{spec}", "-o", "{out}"],
    ],
)
def test_every_command_that_writes_a_file_replaces_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    out = tmp_path / ("old.svg" if args[0] == "draw" else "old.txt")
    out.write_text("old\n")
    monkeypatch.setattr(cli_options, "_write_bytes", half_then_disk_full)
    spec = str(EXAMPLES / "lenet5.json")
    result = runner.invoke(app, [arg.format(spec=spec, out=out) for arg in args])
    assert result.exit_code == 2 and "No space left on device" in result.stderr
    assert out.read_text() == "old\n" and leftovers(tmp_path, out.name) == []


@pytest.mark.parametrize("target", ["python", "tf-nn", "torch"])
def test_export_replaces_its_file_whole(
    keras: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    out = tmp_path / "model.py"
    out.write_text("old\n")
    monkeypatch.setattr(cli_options, "_write_bytes", half_then_disk_full)
    result = runner.invoke(app, ["export", str(EXAMPLES / "lenet5.json"), "--to", target, "-o", str(out)])
    assert result.exit_code == 2 and "No space left on device" in result.stderr
    assert out.read_text() == "old\n" and leftovers(tmp_path, "model.py") == []
    monkeypatch.undo()
    result = runner.invoke(app, ["export", str(EXAMPLES / "lenet5.json"), "--to", target, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() != "old\n" and leftovers(tmp_path, "model.py") == []


def test_a_keras_file_is_saved_whole_or_not_at_all(keras: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "model.keras"
    out.write_bytes(b"old model")
    saves: list[str] = []

    def save_halfway(model: Any, path: str, *args: Any, **kwargs: Any) -> None:
        saves.append(path)
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(keras.Model, "save", save_halfway)
    result = runner.invoke(app, ["export", str(EXAMPLES / "lenet5.json"), "--to", "keras", "-o", str(out)])
    assert result.exit_code == 2 and f"cannot write {out}: No space left on device" in result.stderr
    assert out.read_bytes() == b"old model" and leftovers(tmp_path, "model.keras") == []
    assert saves and Path(saves[0]).parent == tmp_path and saves[0].endswith(".keras") and saves[0] != str(out)
    monkeypatch.undo()
    result = runner.invoke(app, ["export", str(EXAMPLES / "lenet5.json"), "--to", "keras", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:2] == b"PK" and leftovers(tmp_path, "model.keras") == []
