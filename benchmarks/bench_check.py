"""Speed of `convcalc check`, whole processes, as a user meets it.

Targets (the core issue): a cold `convcalc check examples/vgg16.json` ≤ 0.25 s wall (median of 5);
a generated 10,000-layer spec ≤ 1 s with --format json and ≤ 3 s as the default table; cost linear
in layers. Side by side, when TensorFlow is installed: building the same network in Keras and calling
model.summary(). Prints figures and ratios; asserts nothing (machines here are shared and noisy).

Run: python benchmarks/bench_check.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def deep_spec(n_layers: int) -> dict[str, object]:
    """A plain deep stack: conv 3×3 same + relu pairs on 32×32×3, then fc to 10 classes."""
    layers: list[dict[str, object]] = []
    while len(layers) < n_layers - 1:
        layers.append({"type": "conv", "filters": 16, "kernel": 3, "padding": 1})
        layers.append({"type": "relu"})
    layers = layers[: n_layers - 1]
    layers.append({"type": "fc", "units": 10})
    return {"name": f"deep-{n_layers}", "input": [32, 32, 3], "classes": 10, "layers": layers}


def convcalc_command() -> list[str]:
    script = Path(sys.executable).with_name("convcalc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "convcalc"]


# A cold *process*, not a cold bytecode cache: an installed package has its .pyc files, so the cache may be
# written (some sandboxes set PYTHONDONTWRITEBYTECODE, which would recompile convcalc on every run).
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def wall(command: list[str], runs: int) -> float:
    """Median wall time of whole-process runs after one warm-up run, output discarded."""
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd=ROOT, env=ENV)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd=ROOT, env=ENV)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def keras_summary_seconds(spec_file: Path, runs: int) -> float | None:
    """Median wall time of a process that builds the spec in Keras and prints model.summary()."""
    code = (
        "import sys, json; from convcalc.export.keras_build import build_keras_model; "
        "from convcalc.loading import load_spec; "
        "m = build_keras_model(load_spec(sys.argv[1]).network); m.summary()"
    )
    try:
        import importlib.util

        if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("convcalc.export") is None:
            return None
    except ModuleNotFoundError:
        return None
    return wall([sys.executable, "-c", code, str(spec_file)], runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keras", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    command = convcalc_command()
    tmp = Path(tempfile.mkdtemp(prefix="convcalc-bench-"))
    try:
        vgg = ROOT / "examples" / "vgg16.json"
        cold = wall([*command, "check", str(vgg)], args.runs)
        print(f"cold `convcalc check examples/vgg16.json` (table): {cold:.3f} s median of {args.runs}  target ≤ 0.25 s")
        cold_json = wall([*command, "check", str(vgg), "--format", "json"], args.runs)
        print(f"cold `convcalc check examples/vgg16.json --format json`: {cold_json:.3f} s")
        baseline = wall([sys.executable, "-c", "pass"], args.runs)
        print(f"  (a bare `python -c pass` on this machine: {baseline:.3f} s)")

        sizes = (1_000, 5_000, 10_000)  # 10,000 is the layer limit (convcalc.spec.MAX_LAYERS)
        json_times: dict[int, float] = {}
        table_times: dict[int, float] = {}
        for n in sizes:
            spec_file = tmp / f"deep{n}.json"
            spec_file.write_text(json.dumps(deep_spec(n)))
            json_times[n] = wall([*command, "check", str(spec_file), "--format", "json"], max(3, args.runs // 2))
            table_times[n] = wall([*command, "check", str(spec_file)], max(3, args.runs // 2))
            all_rows = wall([*command, "check", str(spec_file), "--all"], 1) if n <= 10_000 else float("nan")
            print(
                f"{n:>6,} layers: --format json {json_times[n]:.3f} s   table (folded) {table_times[n]:.3f} s"
                f"   table --all {all_rows:.3f} s" + ("   targets: json ≤ 1 s, table ≤ 3 s" if n == 10_000 else "")
            )
        for label, times in (("json", json_times), ("table", table_times)):
            per_1k = (times[5_000] - times[1_000]) / 4
            per_1k_hi = (times[10_000] - times[5_000]) / 5
            ratio = per_1k_hi / per_1k if per_1k else float("nan")
            print(
                f"linearity ({label}): +{per_1k:.3f} s per 1,000 layers from 1k→5k,"
                f" +{per_1k_hi:.3f} s per 1,000 from 5k→10k (ratio {ratio:.2f})"
            )

        if args.keras:
            keras_vgg = keras_summary_seconds(vgg, 3)
            if keras_vgg is None:
                print("Keras side skipped: TensorFlow or convcalc's export extra is not installed")
            else:
                speedup = keras_vgg / cold
                print(f"Keras: build VGG16 + model.summary(): {keras_vgg:.3f} s  → convcalc is {speedup:.1f}× faster")
                deep = tmp / "deep1000.json"
                keras_deep = keras_summary_seconds(deep, 1)
                if keras_deep is not None:
                    print(
                        f"Keras: build 1,000 layers + model.summary(): {keras_deep:.3f} s"
                        f"  → convcalc (json) is {keras_deep / json_times[1_000]:.1f}× faster"
                    )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
