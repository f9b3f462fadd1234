"""Speed of `convcalc check` as a user meets it: whole processes, measured as ratios within one run.

The goals (issue 16), each a ratio, since the machines here are shared and noisy:

- a cold `check examples/vgg16.json` (table, bytecode cached) ≤ 2.0× the import floor of its own dependencies
  (`python -c "import pydantic, rich, typer"`), peak memory ≤ 40 MiB, and ≥ 25× faster than Keras building
  VGG16 and calling `summary()` (run when TensorFlow is installed; the table says so when it is not);
- 500 ResNet-50 specs in one `check` call (each a distinct file: its own name and class count) ≤ 6× one cold
  ResNet-50 check, with `--jobs` at its default (the number of CPUs);
- a 10,000-layer spec with `--format json` ≤ 2× a cold VGG16 check, and the cost per layer flat from 1,000 to
  100,000 layers. 100,000 is past the spec limit (10,000 layers), so that row is measured in one process
  through the pipeline's API: the layers validated, then analysis, rules, fix checks and the JSON report.

Beside the floor, a least program (``LEAST_PROGRAM``) does what a cold check cannot skip with these dependencies:
a typer command that validates VGG16's layers with four small pydantic models and prints a line for each. It
imports no convcalc code, so its ratio to the floor is what the dependencies cost once they are used (pydantic
imports its model machinery only when a first model is defined, so the floor leaves it out); convcalc's ratio
to it is what convcalc's own code costs.

Every process runs this tree's code (`python -m convcalc`, PYTHONPATH set to it) with the bytecode cache on.
The quick commands (the floor and the two cold checks) are run in turn, round after round, so that a burst of
load hits them alike; each figure is the median of its rounds. The heavy ones (the 500 specs, the 10,000
layers) and then Keras's have rounds of their own, after them: run between the quick ones, the exit of a
process that held a lot of memory slowed the command after it (the floor, which opened each round, by up to a
third, which flattered the cold-start ratio). Prints a table of figures and ratios; asserts nothing.

Run: python benchmarks/bench_check.py [--runs 5] [--no-keras]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A cold *process*, not a cold bytecode cache: an installed package has its .pyc files, so the cache may be
# written (some sandboxes set PYTHONDONTWRITEBYTECODE, which would recompile convcalc on every run).
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
CONVCALC = [sys.executable, "-m", "convcalc"]
MANY = 500
LEAST_PROGRAM = """\
import json
from typing import Literal, Optional

import typer
from pydantic import BaseModel, ConfigDict


class Layer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Optional[str] = None


class Conv(Layer):
    type: Literal["conv"]
    filters: int
    kernel: int
    stride: int = 1
    padding: int = 0


class Relu(Layer):
    type: Literal["relu"]


class Pool(Layer):
    type: Literal["pool"]
    kernel: int = 2
    stride: Optional[int] = None


class FC(Layer):
    type: Literal["fc"]
    units: int


app = typer.Typer()


@app.command()
def check(file: str) -> None:
    kinds = {"conv": Conv, "relu": Relu, "pool": Pool, "fc": FC}
    with open(file) as handle:
        layers = [kinds[layer["type"]].model_validate(layer) for layer in json.load(handle)["layers"]]
    for index, layer in enumerate(layers):
        print(f"{index:>3} {layer.type:<5} {layer.name or ''}")


@app.callback()
def main() -> None:
    pass


app()
"""
"""The least a cold check of examples/vgg16.json can do with typer and pydantic (see the module's docstring)."""


def deep_spec(n_layers: int) -> dict[str, object]:
    """A plain deep stack: conv 3×3 same + relu pairs on 32×32×3, then fc to 10 classes."""
    layers: list[dict[str, object]] = []
    while len(layers) < n_layers - 1:
        layers.append({"type": "conv", "filters": 16, "kernel": 3, "padding": 1})
        layers.append({"type": "relu"})
    layers = layers[: n_layers - 1]
    layers.append({"type": "fc", "units": 10})
    return {"name": f"deep-{n_layers}", "input": [32, 32, 3], "classes": 10, "layers": layers}


def many_resnets(folder: Path, count: int) -> list[str]:
    """``count`` distinct ResNet-50 specs (each its own name and class count), as file names."""
    base = json.loads((ROOT / "examples" / "resnet50.json").read_text())
    files = []
    for i in range(count):
        spec = dict(base, name=f"resnet50-{i}", classes=1000 + i)
        layers = list(spec["layers"])
        last_fc = max(j for j, layer in enumerate(layers) if layer["type"] == "fc")
        layers[last_fc] = dict(layers[last_fc], units=1000 + i)
        spec["layers"] = layers
        path = folder / f"resnet50_{i:03}.json"
        path.write_text(json.dumps(spec))
        files.append(str(path))
    return files


@dataclass
class Timed:
    """One command's runs: wall seconds, CPU seconds (the process's and its workers'), and the process's peak
    resident memory (its own, not its workers')."""

    command: list[str]
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    peak_bytes: int = 0

    def run(self) -> None:
        start = time.perf_counter()
        process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=ENV
        )
        _, status, usage = os.wait4(process.pid, 0)
        self.seconds.append(time.perf_counter() - start)
        self.cpu_seconds.append(usage.ru_utime + usage.ru_stime)  # with the workers it waited for
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4
        if process.returncode not in (0, 1):  # 1: findings; anything else would time a failure
            raise SystemExit(f"exit {process.returncode}: {' '.join(self.command)[:300]}")
        self.peak_bytes = max(self.peak_bytes, usage.ru_maxrss * 1024)  # KiB on Linux

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_seconds)


def measure(commands: dict[str, list[str]], rounds: dict[str, int]) -> dict[str, Timed]:
    """Every command once (a warm-up: the bytecode cache), then round after round, each command in turn."""
    timed = {name: Timed(command) for name, command in commands.items()}
    for command in commands.values():
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=ENV, check=False)
    for round_ in range(max(rounds.values())):
        for name, entry in timed.items():
            if round_ < rounds[name]:
                entry.run()
    return timed


def keras_vgg16_command() -> list[str] | None:
    """A process that builds VGG16 in Keras (no weights) and prints its summary; None without TensorFlow."""
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        return None
    code = "import keras; keras.applications.VGG16(weights=None).summary()"
    return [sys.executable, "-c", code]


def per_layer_seconds(n_layers: int) -> float:
    """In one process: validate the layers of ``deep_spec(n_layers)``, then check and render as JSON (the whole
    pipeline but the file's parsing), per layer. Past MAX_LAYERS the network is assembled without the limit."""
    sys.path.insert(0, str(ROOT))
    from pydantic import TypeAdapter

    from convcalc.checking import check_loaded
    from convcalc.config import LintConfig
    from convcalc.loading import LoadedSpec, SourceMap
    from convcalc.report.json_report import render
    from convcalc.spec import AnyLayer, InputShape, Network

    spec = deep_spec(n_layers)
    adapter: TypeAdapter[list[AnyLayer]] = TypeAdapter(list[AnyLayer])

    def run() -> None:
        layers = adapter.validate_python(spec["layers"])
        network = Network.model_construct(
            name=spec["name"], input=InputShape.model_validate(spec["input"]), classes=10, layers=layers, ignore=()
        )
        render([check_loaded(LoadedSpec("deep.json", network, SourceMap()), LintConfig())])

    return best_of(run, 3 if n_layers < 100_000 else 1) / n_layers


def per_layer_row(label: str) -> None:
    per_layer = {n: per_layer_seconds(n) for n in (1_000, 10_000, 100_000)}
    scale = " / ".join(f"{seconds * 1e6:.0f}" for seconds in per_layer.values())
    flat = per_layer[100_000] / per_layer[1_000]
    row(label, scale, "", f"{flat:.2f}× 100k vs 1k", "flat (≈ 1×)")


def best_of(work: Callable[[], None], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def row(label: str, seconds: str, cpu: str = "", ratio: str = "", goal: str = "") -> None:
    print(f"{label:<44} {seconds:>10} {cpu:>8}  {ratio:<34} {goal}")


def ratio_text(timed: dict[str, Timed], over: str, under: str, what: str) -> str:
    """``3.10× floor (CPU 2.90×)``: the wall ratio the goals are written in, and the CPU ratio beside it, which a
    burst of other work on a shared machine moves less (for --jobs runs it adds up the workers' CPU)."""
    wall = timed[over].median / timed[under].median
    cpu = timed[over].cpu_median / timed[under].cpu_median
    return f"{wall:.2f}× {what} (CPU {cpu:.2f}×)"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds of the quick commands (default 5)")
    parser.add_argument("--keras", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="convcalc-bench-"))
    try:
        deep = tmp / "deep10000.json"
        deep.write_text(json.dumps(deep_spec(10_000)))
        least = tmp / "least.py"
        least.write_text(LEAST_PROGRAM)
        quick = {
            "floor": [sys.executable, "-c", "import pydantic, rich, typer"],
            "least": [sys.executable, str(least), "check", "examples/vgg16.json"],
            "vgg": [*CONVCALC, "check", "examples/vgg16.json"],
            "resnet": [*CONVCALC, "check", "examples/resnet50.json"],
        }
        heavy = {
            "many": [*CONVCALC, "check", *many_resnets(tmp, MANY)],
            "deep": [*CONVCALC, "check", str(deep), "--format", "json"],
        }
        rounds = {name: args.runs for name in [*quick, *heavy]} | {"many": max(1, args.runs // 2)}
        keras = keras_vgg16_command() if args.keras else None
        print(f"convcalc bench_check — {datetime.date.today()}, {machine()}")
        print(f"load average before: {load()}")
        timed = measure(quick, rounds)
        # The heavy commands' rounds come after the quick ones': interleaved, the exit of a process that held
        # 100 MB (or a pool of them) slowed the command after it, the floor most, which opened each round.
        timed |= measure(heavy, rounds)
        if keras is not None:
            # Its rounds come after the others': a process that maps 2 GB and exits slowed the next short
            # commands by 10–30% here (the floor and a cold check, measured interleaved with it and without).
            timed |= measure({"keras": keras}, {"keras": max(1, min(3, args.runs))})
        t = {name: entry.median for name, entry in timed.items()}
        print(f"load average after:  {load()}   (medians of {args.runs} rounds; 500 specs: {rounds['many']})\n")
        c = {name: f"{entry.cpu_median:.3f}" for name, entry in timed.items()}
        row("measure", "wall s", "CPU s", "ratio", "goal")
        row("import floor: `import pydantic, rich, typer`", f"{t['floor']:.3f}", c["floor"])
        row(
            "cold check vgg16 (table)",
            f"{t['vgg']:.3f}",
            c["vgg"],
            ratio_text(timed, "vgg", "floor", "floor"),
            "≤ 2.0×",
        )
        row("  its peak memory", f"{timed['vgg'].peak_bytes / 2**20:.0f} MiB", "", "", "≤ 40 MiB")
        row(
            "least program: typer + 4 pydantic models",
            f"{t['least']:.3f}",
            c["least"],
            ratio_text(timed, "least", "floor", "floor"),
        )
        row("  cold check vgg16 over it", "", "", ratio_text(timed, "vgg", "least", "least"))
        if keras is None:
            why = "TensorFlow not installed" if args.keras else "--no-keras"
            row("Keras VGG16 + summary()", "skipped", "", why, "≥ 25×")
        else:
            cpu = timed["keras"].cpu_median / timed["vgg"].cpu_median
            faster = f"convcalc {t['keras'] / t['vgg']:.1f}× faster (CPU {cpu:.1f}×)"
            row("Keras VGG16 + summary()", f"{t['keras']:.3f}", c["keras"], faster, "≥ 25×")
            row("  its peak memory", f"{timed['keras'].peak_bytes / 2**20:.0f} MiB")
        row("cold check resnet50 (table)", f"{t['resnet']:.3f}", c["resnet"])
        row(
            f"{MANY} resnet50 specs, one call (table)",
            f"{t['many']:.3f}",
            c["many"],
            ratio_text(timed, "many", "resnet", "resnet50"),
            "≤ 6×",
        )
        row(
            "10,000 layers --format json",
            f"{t['deep']:.3f}",
            c["deep"],
            ratio_text(timed, "deep", "vgg", "vgg16"),
            "≤ 2×",
        )
        # In this process, with the garbage collector set as `convcalc` sets it for a command, then as Python
        # leaves it (what a notebook or a program that calls convcalc.check gets).
        from convcalc.__main__ import settle_collector

        per_layer_seconds(1_000)  # imports the pipeline first, as a command has when it settles the collector
        default_thresholds = gc.get_threshold()
        settle_collector()
        per_layer_row("µs per layer at 1k / 10k / 100k (in-process)")
        gc.unfreeze()
        gc.set_threshold(*default_thresholds)
        per_layer_row("  the same with Python's default collector")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
