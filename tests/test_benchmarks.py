"""The benchmarks' own claims about what they run (their timings are printed, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _bench_check() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_check
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return bench_check


def test_least_program_does_a_checks_least_work_without_convcalc(tmp_path: Path) -> None:
    # The comparator of the cold-start goal: it validates every layer of examples/vgg16.json with pydantic and
    # prints a line for each, through a typer command, and imports no convcalc code.
    program = tmp_path / "least.py"
    program.write_text(_bench_check().LEAST_PROGRAM)
    spec = json.loads((ROOT / "examples" / "vgg16.json").read_text())
    # Run as the benchmark runs it, with an exit hook that reports the convcalc modules loaded (typer's command
    # ends by raising SystemExit, after which only exit hooks run).
    probe = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: sys.stderr.write(repr(sorted(m for m in sys.modules if m.startswith('convcalc')))))\n"
        "sys.argv = ['least', 'check', 'examples/vgg16.json']\n"
        f"runpy.run_path({str(program)!r}, run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines] == [layer["type"] for layer in spec["layers"]]
    names = [[layer["name"]] if "name" in layer else [] for layer in spec["layers"]]
    assert [line.split()[2:] for line in lines] == names
    assert done.stderr == "[]"


def test_least_program_refuses_what_pydantic_refuses(tmp_path: Path) -> None:
    # It validates for real: a layer with a field its model lacks fails there, as convcalc's check refuses it.
    program = tmp_path / "least.py"
    program.write_text(_bench_check().LEAST_PROGRAM)
    spec = json.loads((ROOT / "examples" / "vgg16.json").read_text())
    spec["layers"][0]["kernal"] = 3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec))
    command = [sys.executable, str(program), "check", str(bad)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "kernal" in done.stderr
