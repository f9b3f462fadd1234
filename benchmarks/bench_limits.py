"""Time and peak memory of `convcalc check` on the largest inputs the limits admit, and on the ones just past.

The goal (issue 11): every input the limits admit is answered in ≤ 10 s and ≤ 2 GiB, and every input they
refuse is refused at once. Each case is built in a temporary folder from the limits themselves
(convcalc.spec.MAX_LAYERS, convcalc.loading.MAX_*, convcalc.importers.keras.MAX_*), run as a whole process
(`--format json` and the default table, output discarded), and measured with os.wait4: wall time (median of
--runs) and the child's peak resident memory (largest of the runs). Each run is capped at 8 GiB of address
space and 120 s, so a regression cannot take the machine down. Prints a table; asserts nothing (machines
here are shared and noisy).

Run: python benchmarks/bench_limits.py [--runs 3] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convcalc.importers.keras import MAX_ARCHIVE_MEMBERS, MAX_CONFIG_BYTES  # noqa: E402
from convcalc.loading import MAX_INPUTS, MAX_KEYS, MAX_LIST_ITEMS, MAX_SPEC_BYTES, MAX_STRING  # noqa: E402
from convcalc.spec import MAX_LAYERS  # noqa: E402

GOAL_SECONDS = 10.0
GOAL_BYTES = 2 * 1024**3
REFUSE_SECONDS = 2.0
"""'At once': a refused input costs about a cold start (the limits are checked before the expensive work)."""
GUARD_BYTES = 8 * 1024**3
GUARD_SECONDS = 120

Spec = dict[str, object]


def conv_relu(n: int) -> list[dict[str, object]]:
    layers: list[dict[str, object]] = []
    while len(layers) < n:
        layers += [{"type": "conv", "filters": 16, "kernel": 3, "padding": 1}, {"type": "relu"}]
    return layers[:n]


def dump(spec: object) -> str:
    return json.dumps(spec, separators=(",", ":"))


def fill(head: list[dict[str, object]], make: Callable[[int], dict[str, object]], top: Spec) -> str:
    """The spec ``top`` whose layers are ``head`` then ``make(i)`` for as long as MAX_LAYERS, MAX_INPUTS and
    MAX_SPEC_BYTES all admit."""
    layers = list(head)
    size = len(dump({**top, "layers": layers}))
    edges = sum(len(layer.get("inputs", ())) for layer in layers)  # type: ignore[arg-type]
    while len(layers) < MAX_LAYERS:
        layer = make(len(layers))
        cost = len(dump(layer)) + 1
        reads = len(layer.get("inputs", ()))  # type: ignore[arg-type]
        if size + cost > MAX_SPEC_BYTES or edges + reads > MAX_INPUTS:
            break
        layers.append(layer)
        size += cost
        edges += reads
    return dump({**top, "layers": layers})


def chain() -> str:
    return dump({"input": [32, 32, 3], "layers": conv_relu(MAX_LAYERS)})


def named_chain() -> str:
    layers = conv_relu(MAX_LAYERS)
    for i, layer in enumerate(layers):
        layer["name"] = f"layer{i}"
        layer["inputs"] = [f"layer{i - 1}" if i else "input"]
    return dump({"input": [32, 32, 3], "layers": layers})


def distinct() -> str:
    """No two layers alike, so the table folds nothing: a row for every layer."""
    layers: list[dict[str, object]] = []
    for i in range(MAX_LAYERS // 2):
        layers += [
            {"type": "conv", "filters": 1 + i % 1000, "kernel": 3, "padding": 1, "name": f"conv{i}"},
            {"type": "relu", "name": f"relu{i}"},
        ]
    return dump({"input": [32, 32, 3], "layers": layers})


def long_names() -> str:
    def name(i: int) -> str:
        return f"{i:x}".rjust(200, "n")  # 200 characters, the longest a name may be

    def make(i: int) -> dict[str, object]:
        return {"type": "relu", "name": name(i), "inputs": [name(i - 1) if i else "input"]}

    return fill([], make, {"input": [32, 32, 3]})


def wide_merges(kind: str) -> Callable[[], str]:
    def build() -> str:
        branches = [{"type": "relu", "name": f"b{i}", "inputs": ["input"]} for i in range(MAX_LIST_ITEMS)]
        reads = [f"b{i}" for i in range(MAX_LIST_ITEMS)]
        return fill(branches, lambda i: {"type": kind, "inputs": reads}, {"input": [8, 8, 1]})

    return build


def long_named_merges() -> str:
    """Adds of MAX_LIST_ITEMS branches named with 200 characters: the longest `from` lists."""
    names = [f"{i:x}".rjust(200, "n") for i in range(MAX_LIST_ITEMS)]
    branches = [{"type": "relu", "name": name, "inputs": ["input"]} for name in names]
    return fill(branches, lambda i: {"type": "add", "inputs": names}, {"input": [8, 8, 1]})


def dense_adds() -> str:
    """Each layer adds the (up to) MAX_LIST_ITEMS layers before it: the most paths through a graph."""
    head: list[dict[str, object]] = [{"type": "relu", "name": "l0"}, {"type": "relu", "name": "l1"}]

    def make(i: int) -> dict[str, object]:
        return {"type": "add", "name": f"l{i}", "inputs": [f"l{j}" for j in range(max(0, i - MAX_LIST_ITEMS), i)]}

    return fill(head, make, {"input": [8, 8, 4]})


def ladder() -> str:
    """Every layer adds the two before it: a deep graph whose path count grows like Fibonacci's."""

    def make(i: int) -> dict[str, object]:
        return {"type": "add", "name": f"l{i}", "inputs": [f"l{i - 1}", f"l{i - 2}"]}

    head: list[dict[str, object]] = [
        {"type": "conv", "filters": 4, "kernel": 3, "padding": 1, "name": "l0"},
        {"type": "relu", "name": "l1"},
    ]
    return fill(head, make, {"input": [8, 8, 4]})


def findings() -> str:
    """Every layer draws five warnings (large, even kernel; padding past the kernel that changes the size; an
    unused branch), each with a fix: the most output per layer."""
    layer = {"type": "conv", "filters": 8, "kernel": 4, "padding": 5, "inputs": ["input"]}
    return fill([], lambda i: layer, {"input": [32, 32, 3]})


def ignore_lists(known: bool) -> Callable[[], str]:
    """Every layer silences MAX_LIST_ITEMS rule codes: real ones, or ones that do not exist (each a problem)."""

    def build() -> str:
        from convcalc.rules import REGISTRY

        pool = sorted(REGISTRY) if known else [f"CC{900 + i % 100}" for i in range(100)]
        codes = [pool[i % len(pool)] for i in range(MAX_LIST_ITEMS)]
        return fill([], lambda i: {"type": "relu", "ignore": codes}, {"input": [8, 8, 1], "ignore": codes})

    return build


def every_layer_wrong() -> str:
    junk = {f"junk{k}": k for k in range(MAX_KEYS - 1)}
    return fill([], lambda i: {"type": "relu", **junk}, {"input": [8, 8, 1]})


KERAS_INPUT = {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 32, 32, 3]}}


def keras_model(layers: list[dict[str, object]]) -> str:
    head = {**KERAS_INPUT, "config": {**KERAS_INPUT["config"], "name": "in"}}  # type: ignore[dict-item]
    return dump({"module": "keras", "class_name": "Sequential", "config": {"name": "big", "layers": [head, *layers]}})


def keras_config() -> str:
    """A model.to_json() of MAX_LAYERS Conv2D layers, each padded with settings convcalc ignores (an
    initializer's config) so that the file is as large as MAX_CONFIG_BYTES admits."""
    count = MAX_LAYERS * 2 // 3  # every other one becomes two spec layers (conv, relu)
    fluff = max(0, MAX_CONFIG_BYTES // count - 400)
    layers: list[dict[str, object]] = [
        {
            "module": "keras.layers",
            "class_name": "Conv2D",
            "config": {
                "name": f"c{i}",
                "filters": 8,
                "kernel_size": [3, 3],
                "strides": [1, 1],
                "padding": "same",
                "activation": "relu" if i % 2 else "linear",
                "use_bias": True,
                "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None, "note": "x" * fluff}},
            },
        }
        for i in range(count)
    ]
    return keras_model(layers)


def keras_too_many_layers() -> str:
    """As many of the smallest Keras layers (ReLU) as MAX_CONFIG_BYTES admits: far past MAX_LAYERS."""
    relu = {"module": "keras.layers", "class_name": "ReLU", "config": {"name": "r"}}
    count = MAX_CONFIG_BYTES // (len(dump(relu)) + 8)
    return keras_model([{**relu, "config": {"name": f"r{i}"}} for i in range(count)])


def archive(members: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        config = {
            "module": "keras",
            "class_name": "Sequential",
            "config": {
                "name": "m",
                "layers": [
                    {
                        "module": "keras.layers",
                        "class_name": "InputLayer",
                        "config": {"name": "in", "batch_shape": [None, 8, 8, 1]},
                    },
                    {"module": "keras.layers", "class_name": "ReLU", "config": {"name": "r"}},
                ],
            },
        }
        with zipfile.ZipFile(path, "w") as zipped:
            zipped.writestr("config.json", dump(config))
            for i in range(members - 1):
                zipped.writestr(f"assets/{i}", "")

    return write


def too_many_layers() -> str:
    return dump({"input": [32, 32, 3], "layers": conv_relu(MAX_LAYERS + 1)})


def too_big_file() -> str:
    text = dump({"input": [32, 32, 3], "layers": conv_relu(10)})
    return text[:-1] + " " * (MAX_SPEC_BYTES + 1 - len(text)) + "}"


def too_long_string() -> str:
    return dump({"input": [8, 8, 1], "layers": [{"type": "relu", "name": "n" * (MAX_STRING + 1)}]})


def too_long_string_in_big_file() -> str:
    text = dump({"input": [8, 8, 1], "layers": [{"type": "relu", "junk": ""}]})
    return text.replace('""', '"' + "x" * (MAX_SPEC_BYTES - len(text)) + '"')


def too_many_inputs() -> str:
    branches = [{"type": "relu", "name": f"b{i}", "inputs": ["input"]} for i in range(MAX_LIST_ITEMS + 1)]
    merge = {"type": "concat", "inputs": [f"b{i}" for i in range(MAX_LIST_ITEMS + 1)]}
    return dump({"input": [8, 8, 1], "layers": [*branches, merge]})


def too_many_keys() -> str:
    return dump({"input": [8, 8, 1], "layers": [{"type": "relu", **{f"k{i}": i for i in range(MAX_KEYS)}}]})


def keras_config_too_big() -> str:
    text = keras_config()
    return text[:-1] + " " * (MAX_CONFIG_BYTES + 1 - len(text)) + "}"


def too_many_inputs_in_all() -> str:
    branches = [{"type": "relu", "name": f"b{i}", "inputs": ["input"]} for i in range(MAX_LIST_ITEMS)]
    reads = [f"b{i}" for i in range(MAX_LIST_ITEMS)]
    merges = [{"type": "add", "inputs": reads} for _ in range(MAX_INPUTS // MAX_LIST_ITEMS)]
    return dump({"input": [8, 8, 1], "layers": [*branches, *merges]})


@dataclass(frozen=True)
class Case:
    name: str
    admitted: bool
    build: Callable[[], str] | None = None
    write: Callable[[Path], None] | None = None
    suffix: str = ".json"
    exits: tuple[int, ...] = ()
    """The exit codes that answer it: 0 or 1 for an admitted spec (findings or none), 2 for a refused one."""

    @property
    def expected_exits(self) -> tuple[int, ...]:
        return self.exits or ((0, 1) if self.admitted else (2,))


CASES = [
    Case(f"chain of {MAX_LAYERS:,} conv/relu", True, chain),
    Case(f"{MAX_LAYERS:,} layers, each named and read by name", True, named_chain),
    Case(f"{MAX_LAYERS:,} distinct layers: nothing folds", True, distinct),
    Case("200-character names, each read by name", True, long_names),
    Case(f"{MAX_LAYERS:,} convs with five warnings each", True, findings),
    Case(f"concats of {MAX_LIST_ITEMS:,} inputs, to {MAX_INPUTS:,} inputs", True, wide_merges("concat")),
    Case(f"adds of {MAX_LIST_ITEMS:,} inputs, to {MAX_INPUTS:,} inputs", True, wide_merges("add")),
    Case(f"adds of {MAX_LIST_ITEMS:,} inputs named with 200 characters", True, long_named_merges),
    Case(f"each layer adds the {MAX_LIST_ITEMS:,} before it", True, dense_adds),
    Case("ladder: each layer adds the two before it", True, ladder),
    Case(f"ignore lists of {MAX_LIST_ITEMS:,} codes, to the size limit", True, ignore_lists(known=True)),
    Case(f"ignore lists of {MAX_LIST_ITEMS:,} unknown codes", True, ignore_lists(known=False), exits=(2,)),
    Case(f"layers with {MAX_KEYS - 1} unknown fields each", True, every_layer_wrong, exits=(2,)),
    Case(f"model.to_json(): {MAX_LAYERS:,} spec layers, to the size limit", True, keras_config),
    Case(f".keras with {MAX_ARCHIVE_MEMBERS:,} members", True, write=archive(MAX_ARCHIVE_MEMBERS), suffix=".keras"),
    Case(f"{MAX_LAYERS + 1:,} layers", False, too_many_layers),
    Case(f"{MAX_SPEC_BYTES + 1:,} bytes", False, too_big_file),
    Case(f"a name of {MAX_STRING + 1:,} characters", False, too_long_string),
    Case("one string filling the size limit", False, too_long_string_in_big_file),
    Case(f"a concat of {MAX_LIST_ITEMS + 1:,} inputs", False, too_many_inputs),
    Case(f"{MAX_INPUTS + MAX_LIST_ITEMS:,} inputs in all", False, too_many_inputs_in_all),
    Case(f"a layer with {MAX_KEYS:,} unknown fields", False, too_many_keys),
    Case("model.to_json() of Keras ReLUs, to the size limit", False, keras_too_many_layers),
    Case(f"model.to_json() of {MAX_CONFIG_BYTES + 1:,} bytes", False, keras_config_too_big),
    Case(
        f".keras with {MAX_ARCHIVE_MEMBERS + 1:,} members",
        False,
        write=archive(MAX_ARCHIVE_MEMBERS + 1),
        suffix=".keras",
    ),
    Case(".keras with 1,000,000 members", False, write=archive(1_000_000), suffix=".keras"),
]


def convcalc_command() -> list[str]:
    script = Path(sys.executable).with_name("convcalc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "convcalc"]


def _guard() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (GUARD_BYTES, GUARD_BYTES))


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_bytes: int
    exit_code: int
    last_line: str


def run_once(command: list[str], stderr_file: Path) -> Run:
    """One whole process: wall time, peak resident memory (from wait4, this child only) and exit code."""
    with open(stderr_file, "wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT, preexec_fn=_guard)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > GUARD_SECONDS:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = stderr_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return Run(seconds, usage.ru_maxrss * 1024, process.returncode, lines[-1].strip() if lines else "")


def measure(command: list[str], runs: int, stderr_file: Path) -> Run:
    results = [run_once(command, stderr_file) for _ in range(runs)]
    return Run(
        statistics.median(r.seconds for r in results),
        max(r.peak_bytes for r in results),
        results[-1].exit_code,
        results[-1].last_line,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="run only the cases whose name contains one of these")
    args = parser.parse_args()
    command = convcalc_command()
    tmp = Path(tempfile.mkdtemp(prefix="convcalc-limits-"))
    print(
        f"limits: {MAX_LAYERS:,} layers, {MAX_INPUTS:,} inputs in all, {MAX_SPEC_BYTES:,} bytes, strings of"
        f" {MAX_STRING:,} characters, lists of {MAX_LIST_ITEMS:,} items, {MAX_KEYS} keys per object;"
        f" .keras: {MAX_ARCHIVE_MEMBERS:,} members, config of {MAX_CONFIG_BYTES:,} bytes"
    )
    print(f"goal: admitted ≤ {GOAL_SECONDS:g} s and ≤ {GOAL_BYTES / 2**30:g} GiB; refused ≤ {REFUSE_SECONDS:g} s")
    print(f"median of {args.runs} runs; peak = largest resident memory of the runs\n")
    baseline = measure([sys.executable, "-c", "import convcalc.cli"], args.runs, tmp / "stderr")
    print(f"{'(import convcalc.cli alone)':<67} {baseline.seconds:6.2f} s {baseline.peak_bytes / 2**20:7.0f} MiB\n")
    try:
        for case in CASES:
            if args.only and not any(word in case.name for word in args.only):
                continue
            path = tmp / f"case{case.suffix}"
            if case.write is not None:
                case.write(path)
            else:
                assert case.build is not None
                path.write_text(case.build(), encoding="utf-8")
            size = path.stat().st_size
            formats = (
                (("json", ["--format", "json"]), ("table", [])) if case.admitted else (("json", ["--format", "json"]),)
            )
            for label, options in formats:
                result = measure([*command, "check", str(path), *options], args.runs, tmp / "stderr")
                goal = GOAL_SECONDS if case.admitted else REFUSE_SECONDS
                ok = result.seconds <= goal and result.peak_bytes <= GOAL_BYTES
                verdict = "ok" if ok and result.exit_code in case.expected_exits else "MISSED"
                tag = "admitted" if case.admitted else "refused "
                print(
                    f"{tag} {case.name:<58} {label:<5} {size / 2**20:6.1f} MiB  {result.seconds:6.2f} s"
                    f" {result.peak_bytes / 2**20:7.0f} MiB  exit {result.exit_code}  {verdict}"
                )
                if not case.admitted or result.exit_code == 2:
                    print(f"         {result.last_line[:150]}")
            path.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
