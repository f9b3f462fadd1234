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
import sys
import tempfile
import warnings
from contextlib import redirect_stdout
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import make_onnx_fixtures as fixtures  # noqa: E402
from onnx_zoo import Checked, count_or_dash, machine, markdown_table, run  # noqa: E402

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


# ---------------------------------------------------------------- convcalc's side


class Row(NamedTuple):
    name: str
    figures: dict[str, Any]
    checked: Checked

    @property
    def gmacs(self) -> float | None:
        """convcalc's MACs in G, to torchvision's three decimals."""
        return None if self.checked.macs is None else round(self.checked.macs / 1e9, 3)

    @property
    def verdict(self) -> str:
        if self.checked.trainable is None:
            return "refused (not a CNN)" if self.name.startswith(TRANSFORMERS) else "refused"
        published = self.figures["published_params"] - AUXILIARY.get(self.name, 0)
        same = (
            self.checked.trainable == self.figures["torch_params"] == published
            and self.checked.total == self.figures["layer_params"]
            and self.gmacs == self.figures["published_gflops"]
        )
        return "✓" if same else "✗"


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

    def cells(r: Row) -> tuple[str, ...]:
        published = f"{r.figures['published_params']:,}"
        if r.name in AUXILIARY:
            published += f" (− {AUXILIARY[r.name]:,} auxiliary)"
        return (
            f"`{r.name}`",
            str(r.figures["size"]),
            f"{published} / {count_or_dash(r.checked.trainable)}",
            f"{r.figures['published_gflops']:.3f} / {count_or_dash(r.gmacs, '{:.3f}'.format)}",
            r.checked.errors,
            r.checked.warnings,
            r.verdict,
        )

    lines = markdown_table(header, map(cells, rows))
    for r in rows:
        if r.checked.refusal:
            lines.append(f"- {r.name}: {r.checked.refusal}")
        elif r.verdict == "✗":
            lines.append(f"- {r.name}: total {r.checked.total:,}, the nodes' weights {r.figures['layer_params']:,}")
    return "\n".join(lines)


def main() -> int:
    import torch
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=names, help="one model (repeatable)")
    parser.add_argument("--cache", type=Path, help="keep each stripped export and its figures here, and reuse them")
    args = parser.parse_args()
    rows = run(args.only or names, args.cache, export, Row)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {date.today()}, {machine()}")
    print(table(rows))
    return 0 if all(r.verdict in ("✓", "refused (not a CNN)") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
