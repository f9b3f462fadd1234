"""Every keras.applications model through `convcalc import`: totals, trainable counts and every layer's shape.

Each application is built with ``weights=None`` (nothing is downloaded) and its architecture JSON
(``model.to_json()``) goes through the same code path as ``convcalc import`` (``spec_from_keras_config``), then
the analysis ``check`` reports. Keras's ``count_params()``, its trainable weights and the output shape of every
layer and operation are compared with convcalc's. MobileNetV3 is built at 224×224 (its default input has no
fixed size). Prints a table: one row per model, with the first problems of any that fails.

``--cache DIR`` keeps each model's JSON and Keras's facts in ``DIR/<name>.json`` and reads them from there next
time, so a rerun after a change to convcalc builds nothing (building all of them takes minutes of CPU).

Run: python benchmarks/keras_applications.py [--only NAME ...] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convcalc.analysis import NetworkFacts, Shape  # noqa: E402
from convcalc.checking import check_loaded  # noqa: E402
from convcalc.findings import Severity  # noqa: E402
from convcalc.importers.keras import spec_from_keras_config  # noqa: E402
from convcalc.loading import LoadedSpec, SourceMap, SpecError, validate  # noqa: E402
from convcalc.text import tally  # noqa: E402

FIXED_INPUT = {"input_shape": (224, 224, 3)}
APPLICATIONS: dict[str, dict[str, Any]] = {
    **{f"ConvNeXt{size}": {} for size in ("Tiny", "Small", "Base", "Large", "XLarge")},
    **{f"DenseNet{depth}": {} for depth in (121, 169, 201)},
    **{f"EfficientNetB{k}": {} for k in range(8)},
    **{f"EfficientNetV2{size}": {} for size in ("B0", "B1", "B2", "B3", "S", "M", "L")},
    "InceptionResNetV2": {},
    "InceptionV3": {},
    "MobileNet": {},
    "MobileNetV2": {},
    "MobileNetV3Small": FIXED_INPUT,
    "MobileNetV3Large": FIXED_INPUT,
    "NASNetMobile": {},
    "NASNetLarge": {},
    **{f"ResNet{depth}{v2}": {} for v2 in ("", "V2") for depth in (50, 101, 152)},
    "VGG16": {},
    "VGG19": {},
    "Xception": {},
}
"""Every application in keras.applications (Keras 3.15), with what it is built with besides weights=None."""

SHOWN_PROBLEMS = 3


# ---------------------------------------------------------------- Keras's facts


def keras_facts(name: str) -> dict[str, Any]:
    """Build one application and record its JSON, its counts and every layer's or operation's output shape."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    started = time.perf_counter()
    model = getattr(keras.applications, name)(weights=None, **APPLICATIONS[name])
    built = time.perf_counter() - started
    facts = {
        "name": name,
        "config": json.loads(model.to_json()),
        "params": model.count_params(),
        "trainable": sum(math.prod(w.shape) for w in model.trainable_weights),
        "shapes": _shapes(model, ""),
        "build_seconds": round(built, 1),
    }
    keras.backend.clear_session()
    return facts


def _shapes(model: Any, prefix: str) -> dict[str, list[int | None]]:
    """Output shape of each layer and operation, by the spec name convcalc gives it; nested models inlined."""
    shapes: dict[str, list[int | None]] = {}
    # A Functional model lists its operations (x + y included); a Sequential one only its layers.
    for operation in getattr(model, "operations", None) or model.layers:
        if type(operation).__name__ == "InputLayer":
            continue
        if hasattr(operation, "layers"):
            shapes.update(_shapes(operation, f"{prefix}{operation.name}/"))
            continue
        shapes[prefix + operation.name] = list(operation.output.shape)
    return shapes


def cached_facts(name: str, cache: Path | None) -> dict[str, Any]:
    path = cache / f"{name}.json" if cache else None
    if path is not None and path.exists():
        facts: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return facts
    facts = keras_facts(name)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(facts), encoding="utf-8")
    return facts


# ---------------------------------------------------------------- convcalc's side


@dataclass
class Row:
    model: str
    keras_params: int
    keras_trainable: int
    params: int | None = None
    trainable: int | None = None
    compared: int = 0
    """Keras layers and operations whose output shape was compared: all but those that leave no spec layer
    (a linear Activation)."""
    operations: int = 0
    mismatches: int = 0
    problems: tuple[str, ...] = ()
    errors: str = "—"
    """What the linter finds, by rule code (CC101 ×2, …)."""
    warnings: str = "—"

    @property
    def verdict(self) -> str:
        if self.params is None:
            return "refused"
        same = (self.params, self.trainable) == (self.keras_params, self.keras_trainable)
        return "✓" if same and not self.mismatches else "✗"


def _volume(shape: list[int | None]) -> Shape | None:
    dims = shape[1:]
    if not all(isinstance(d, int) for d in dims) or len(dims) not in (1, 3):
        return None
    return Shape(1, 1, dims[0]) if len(dims) == 1 else Shape(*dims)  # type: ignore[arg-type]


def compare(facts: dict[str, Any]) -> Row:
    """Import the JSON as `convcalc import` does and compare the analysis with Keras's facts."""
    row = Row(facts["name"], facts["params"], facts["trainable"], operations=len(facts["shapes"]))
    file = f"{facts['name']}.json"
    try:
        spec = spec_from_keras_config(facts["config"], file)
        checked = check_loaded(LoadedSpec(file, validate(file, json.loads(json.dumps(spec))), SourceMap()))
    except SpecError as exc:
        row.problems = tuple(str(p.message) for p in exc.problems)
        return row
    network: NetworkFacts = checked.facts
    row.params, row.trainable = network.total_params, network.total_trainable_params
    row.errors = tally(f.code for f in checked.findings if f.severity is Severity.ERROR)
    row.warnings = tally(f.code for f in checked.findings if f.severity is Severity.WARNING)
    by_name = {layer.name: layer for layer in network.layers}
    problems = []
    for name, shape in facts["shapes"].items():
        expected = _volume(shape)
        ours = by_name.get(name)
        if ours is None or expected is None:
            continue  # a layer that leaves no spec layer (a linear activation), or a shape convcalc does not hold
        row.compared += 1
        if ours.output_shape != expected:
            row.mismatches += 1
            problems.append(f"{name}: Keras {expected}, convcalc {ours.output_shape}")
    row.problems = tuple(problems)
    return row


# ---------------------------------------------------------------- the table


def table(rows: list[Row]) -> str:
    header = (
        "model",
        "Keras params",
        "convcalc params",
        "trainable: Keras / convcalc",
        "layers compared",
        "shape ✗",
        "errors",
        "warnings",
        "verdict",
    )
    cells = [
        (
            r.model,
            f"{r.keras_params:,}",
            "—" if r.params is None else f"{r.params:,}",
            f"{r.keras_trainable:,} / " + ("—" if r.trainable is None else f"{r.trainable:,}"),
            f"{r.compared} of {r.operations}",
            str(r.mismatches),
            r.errors,
            r.warnings,
            r.verdict,
        )
        for r in rows
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    for r in rows:
        for problem in r.problems[:SHOWN_PROBLEMS]:
            lines.append(f"- {r.model}: {problem}")
        if len(r.problems) > SHOWN_PROBLEMS:
            lines.append(f"- {r.model}: … and {len(r.problems) - SHOWN_PROBLEMS} more")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(APPLICATIONS), help="one application (repeatable)")
    parser.add_argument("--cache", type=Path, help="keep each model's JSON and facts here, and reuse them")
    parser.add_argument("--build-only", action="store_true", help="build and cache the models, compare nothing")
    args = parser.parse_args()
    names = args.only or list(APPLICATIONS)
    rows = []
    for name in names:
        facts = cached_facts(name, args.cache)
        if not args.build_only:
            rows.append(compare(facts))
        print(f"{name}: built", file=sys.stderr, flush=True) if args.build_only else None
    if args.build_only:
        return 0
    import keras

    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"Keras {keras.__version__}, {date.today()}, {machine}")
    print(table(rows))
    return 0 if all(r.verdict == "✓" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
