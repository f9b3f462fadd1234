"""Every torchvision classifier and segmentation model through ONNX: its published parameters and GFLOPS, and
what the linter says.

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

The segmentation models (``torchvision.models.segmentation``: FCN, DeepLabV3, LRASPP) are built the same way,
with ``weights_backbone=None`` and without their auxiliary classifier (a training-only head, and a second
output), exported at their weights' resize size (520×520) returning the ``"out"`` scores; torchvision publishes
their parameters and GFLOPS with that head, so its share (PyTorch's parameters, and ``FlopCounterMode``'s
multiply-adds with and without it) comes off the published figures.

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


def segmentation_models() -> list[str]:
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models.segmentation))


def export(name: str, folder: Path) -> dict[str, Any]:
    """Export one model to ``folder/<name>.onnx`` (stripped) and return PyTorch's and torchvision's figures."""
    import onnx
    import torch
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    segmenting = name in segmentation_models()
    size = weights.transforms().resize_size[0] if segmenting else weights.transforms().crop_size[0]
    build = dict(fixtures.BUILD.get(name, {}))
    if name.startswith("vit_"):
        build["image_size"] = size  # built for 224 unless told (vit_h_14's weights read 518×518)
    auxiliary = {"params": AUXILIARY.get(name, 0), "gmacs": 0.0}
    if segmenting:
        build.update(weights_backbone=None, aux_loss=False)
        auxiliary = _auxiliary_head(name, size)
    model = torchvision.models.get_model(name, weights=None, **build).eval()
    exported = _scores(model) if segmenting else model
    # The exporter reports its progress on stdout, where the table goes.
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        path = Path(scratch) / "model.onnx"
        torch.onnx.export(exported, (torch.randn(1, 3, size, size),), str(path), dynamo=True, optimize=False)
        full = onnx.load(str(path))
    figures = {
        "name": name,
        "size": size,
        "torch_params": sum(p.numel() for p in model.parameters()),
        "published_params": weights.meta["num_params"],
        "published_gflops": weights.meta["_ops"],
        "auxiliary_params": auxiliary["params"],
        "auxiliary_gmacs": auxiliary["gmacs"],
        "layer_params": fixtures.layer_params(full),
    }
    fixtures.strip(full)
    onnx.save(full, str(folder / f"{name}.onnx"))
    return figures


def _auxiliary_head(name: str, size: int) -> dict[str, Any]:
    """The parameters and G multiply-adds (PyTorch's FlopCounterMode, at ``size``) of a segmentation model's
    auxiliary classifier: the model with it less the model without it (LRASPP has none)."""
    import torch
    import torchvision
    from torch.utils.flop_counter import FlopCounterMode

    figures = []
    for aux_loss in (False, True):
        try:
            model = torchvision.models.get_model(name, weights=None, weights_backbone=None, aux_loss=aux_loss).eval()
        except NotImplementedError:  # LRASPP: "This model does not use auxiliary loss"
            return {"params": 0, "gmacs": 0.0}
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.randn(1, 3, size, size))
        figures.append((sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2))
    (params, macs), (params_aux, macs_aux) = figures
    return {"params": params_aux - params, "gmacs": (macs_aux - macs) / 1e9}


def _scores(model: Any) -> Any:
    """A segmentation model returning its ``"out"`` scores alone (torchvision's return a dict with them)."""
    import torch

    class Scores(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> Any:
            return self.model(x)["out"]

    return Scores()


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
        published = self.figures["published_params"] - self.auxiliary
        same = (
            self.checked.trainable == self.figures["torch_params"] == published
            and self.checked.total == self.figures["layer_params"]
            and self.gmacs == self.published_gmacs
        )
        return "✓" if same else "✗"

    @property
    def auxiliary(self) -> int:
        """The parameters of an auxiliary head that the published count includes and the export leaves out."""
        return int(self.figures.get("auxiliary_params", AUXILIARY.get(self.name, 0)))

    @property
    def published_gmacs(self) -> float:
        """torchvision's GFLOPS less an auxiliary head's G multiply-adds, to its three decimals."""
        return round(self.figures["published_gflops"] - self.figures.get("auxiliary_gmacs", 0.0), 3)


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
        if r.auxiliary:
            published += f" (− {r.auxiliary:,} auxiliary)"
        gflops = f"{r.figures['published_gflops']:.3f}"
        if r.figures.get("auxiliary_gmacs"):
            gflops += f" (− {r.figures['auxiliary_gmacs']:.3f} auxiliary)"
        return (
            f"`{r.name}`",
            str(r.figures["size"]),
            f"{published} / {count_or_dash(r.checked.trainable)}",
            f"{gflops} / {count_or_dash(r.gmacs, '{:.3f}'.format)}",
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

    names = [*torchvision.models.list_models(module=torchvision.models), *segmentation_models()]
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
