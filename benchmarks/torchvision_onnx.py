"""Every torchvision classifier through ONNX: its published parameters and GFLOPS, and what the linter says.

Each model of ``torchvision.models`` (classification) is built with ``weights=None`` (nothing is downloaded;
GoogLeNet and Inception v3 without their training-only auxiliary heads, as published), exported at its
weights' crop size with ``torch.onnx.export(dynamo=True, optimize=False)`` (batchnorm kept, so the trainable
count is PyTorch's), stripped of its weight bytes as tools/make_onnx_fixtures.py strips the test fixtures, and
checked the way ``convcalc check model.onnx`` checks it. Compared:

- convcalc's trainable parameters with ``sum(p.numel() for p in model.parameters())`` and torchvision's
  published ``num_params`` (Inception v3's includes its auxiliary head, 3,326,696, which the export leaves out);
- convcalc's total with the weights each ONNX node uses (``layer_params``, worked out from the graph alone);
- convcalc's MACs with torchvision's published GFLOPS (``_ops``), to its three decimals;
- and the findings, by severity and rule code.

The vision transformers (ViT, Swin, MaxViT) are not CNNs: convcalc refuses them, naming the first nodes it
cannot model, and the table says so.

Needs torch, torchvision, onnx and onnxscript besides convcalc; the test suite needs none of them.
``--cache DIR`` keeps each stripped export and PyTorch's figures in ``DIR`` and reuses them.

Run: python benchmarks/torchvision_onnx.py [--only NAME ...] [--cache DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import warnings
from contextlib import redirect_stdout
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import make_onnx_fixtures as fixtures  # noqa: E402

from convcalc.checking import check_loaded, load_any  # noqa: E402
from convcalc.findings import Severity  # noqa: E402
from convcalc.loading import SpecError  # noqa: E402
from convcalc.text import tally  # noqa: E402

AUXILIARY = {"inception_v3": 3_326_696}
"""Parameters of a training-only auxiliary head that torchvision's published count includes."""
TRANSFORMERS = ("vit_", "swin_", "maxvit_")
"""Models that are not CNNs: refused, as convcalc models convolutional networks."""


# ---------------------------------------------------------------- PyTorch's side


def export(name: str, folder: Path) -> dict[str, Any]:
    """Export one model to ``folder/<name>.onnx`` (stripped) and return PyTorch's and torchvision's figures."""
    import onnx
    import torch
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    size = weights.transforms().crop_size[0]
    build = dict(fixtures.BUILD.get(name, {}))
    if name.startswith("vit_"):
        build["image_size"] = size  # built for 224 unless told (vit_h_14's weights read 518×518)
    model = torchvision.models.get_model(name, weights=None, **build).eval()
    # The exporter reports its progress on stdout, where the table goes.
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        path = Path(scratch) / "model.onnx"
        torch.onnx.export(model, (torch.randn(1, 3, size, size),), str(path), dynamo=True, optimize=False)
        full = onnx.load(str(path))
    figures = {
        "name": name,
        "size": size,
        "torch_params": sum(p.numel() for p in model.parameters()),
        "published_params": weights.meta["num_params"],
        "published_gflops": weights.meta["_ops"],
        "layer_params": fixtures.layer_params(full),
    }
    fixtures.strip(full)
    onnx.save(full, str(folder / f"{name}.onnx"))
    return figures


def cached_figures(name: str, folder: Path) -> dict[str, Any]:
    path = folder / f"{name}.figures.json"
    if path.exists() and (folder / f"{name}.onnx").exists():
        figures: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return figures
    figures = export(name, folder)
    path.write_text(json.dumps(figures), encoding="utf-8")
    return figures


# ---------------------------------------------------------------- convcalc's side


class Row(NamedTuple):
    name: str
    size: int
    figures: dict[str, Any]
    trainable: int | None = None
    total: int | None = None
    gmacs: float | None = None
    errors: str = "—"
    """Its errors by rule code (CC101 ×2, …)."""
    warnings: str = "—"
    refusal: str = ""

    @property
    def verdict(self) -> str:
        if self.trainable is None:
            return "refused (not a CNN)" if self.name.startswith(TRANSFORMERS) else "refused"
        published = self.figures["published_params"] - AUXILIARY.get(self.name, 0)
        same = (
            self.trainable == self.figures["torch_params"] == published
            and self.total == self.figures["layer_params"]
            and self.gmacs == self.figures["published_gflops"]
        )
        return "✓" if same else "✗"


def compare(figures: dict[str, Any], folder: Path) -> Row:
    name = figures["name"]
    try:
        checked = check_loaded(load_any(str(folder / f"{name}.onnx")))
    except SpecError as error:
        return Row(name, figures["size"], figures, refusal=str(error.problems[0].message))
    facts = checked.facts
    return Row(
        name,
        figures["size"],
        figures,
        facts.total_trainable_params,
        facts.total_params,
        round(facts.total_macs / 1e9, 3),
        tally(f.code for f in checked.findings if f.severity is Severity.ERROR),
        tally(f.code for f in checked.findings if f.severity is Severity.WARNING),
    )


# ---------------------------------------------------------------- the table


def table(rows: list[Row]) -> str:
    header = (
        "model",
        "input",
        "params: torchvision / convcalc trainable",
        "GFLOPS: torchvision / convcalc G MACs",
        "errors",
        "warnings",
        "verdict",
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        published = f"{r.figures['published_params']:,}"
        if r.name in AUXILIARY:
            published += f" (− {AUXILIARY[r.name]:,} auxiliary)"
        trainable = "—" if r.trainable is None else f"{r.trainable:,}"
        gmacs = "—" if r.gmacs is None else f"{r.gmacs:.3f}"
        cells = (
            f"`{r.name}`",
            str(r.size),
            f"{published} / {trainable}",
            f"{r.figures['published_gflops']:.3f} / {gmacs}",
            r.errors,
            r.warnings,
            r.verdict,
        )
        lines.append("| " + " | ".join(cells) + " |")
    for r in rows:
        if r.refusal:
            lines.append(f"- {r.name}: {r.refusal}")
        elif r.verdict == "✗":
            lines.append(f"- {r.name}: total {r.total:,}, the nodes' weights {r.figures['layer_params']:,}")
    return "\n".join(lines)


def main() -> int:
    import torch
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=names, help="one model (repeatable)")
    parser.add_argument("--cache", type=Path, help="keep each stripped export and its figures here, and reuse them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.cache or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for name in args.only or names:
            rows.append(compare(cached_figures(name, folder), folder))
            print(f"{name}: {rows[-1].verdict}", file=sys.stderr, flush=True)
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {date.today()}, {machine}")
    print(table(rows))
    return 0 if all(r.verdict in ("✓", "refused (not a CNN)") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
