"""A sample of timm's CNNs through ONNX: PyTorch's parameters and multiply-adds, and what the linter says.

Each model of the list below (the smallest of each family of CNNs in timm, plus a few attention models to show
what convcalc refuses) is built with ``timm.create_model(name, pretrained=False)`` (nothing is downloaded) at its
default input size, exported with ``torch.onnx.export(dynamo=True, optimize=False)`` (batchnorm kept), stripped
of its weight bytes as tools/make_onnx_fixtures.py strips the test fixtures, and checked the way ``convcalc check
model.onnx`` checks it. Compared:

- convcalc's trainable parameters with ``sum(p.numel() for p in model.parameters())``;
- convcalc's MACs with PyTorch's own FLOP counter (``torch.utils.flop_counter.FlopCounterMode``: convolutions,
  linear layers and matrix products, two FLOPs per multiply-add);
- and the findings, by severity and rule code.

A model convcalc cannot read is refused by name (the first node it cannot model): the table says so.

Needs torch, timm, onnx and onnxscript besides convcalc; the test suite needs none of them. ``--cache DIR`` keeps
each stripped export and PyTorch's figures in ``DIR`` and reuses them.

Run: python benchmarks/timm_onnx.py [--only NAME ...] [--cache DIR]
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

MODELS = (
    "resnet18",
    "resnet50",
    "resnet50d",
    "resnet26t",
    "resnet10t",
    "resnet33ts",
    "resnetv2_50",
    "resnetv2_50x1_bit",
    "seresnext26d_32x4d",
    "legacy_seresnet18",
    "skresnet18",
    "ecaresnet26t",
    "resnest14d",
    "res2net50_26w_4s",
    "regnetx_002",
    "regnety_002",
    "regnetz_005",
    "efficientnet_b0",
    "tf_efficientnet_b0",
    "efficientnetv2_rw_t",
    "tf_efficientnetv2_b0",
    "mixnet_s",
    "tf_mixnet_s",
    "mobilenetv1_100",
    "mobilenetv2_035",
    "mobilenetv3_small_050",
    "mobilenetv3_large_100",
    "tf_mobilenetv3_small_minimal_100",
    "mobilenetv4_conv_small",
    "mobilenetv4_hybrid_medium",
    "mnasnet_small",
    "fbnetc_100",
    "spnasnet_100",
    "hardcorenas_a",
    "tinynet_e",
    "lcnet_050",
    "ghostnet_050",
    "ghostnetv2_100",
    "repghostnet_050",
    "rexnet_100",
    "hrnet_w18_small",
    "dla34",
    "dla46_c",
    "dla60x_c",
    "dpn48b",
    "dpn68",
    "densenet121",
    "densenetblur121d",
    "ese_vovnet19b_dw",
    "vovnet39a",
    "cspresnet50",
    "cspdarknet53",
    "cs3darknet_focus_s",
    "cspnext_tiny",
    "darknet17",
    "sedarknet21",
    "tresnet_m",
    "nf_resnet26",
    "nf_regnet_b0",
    "dm_nfnet_f0",
    "selecsls42b",
    "gernet_s",
    "resnetaa50",
    "resnetblur18",
    "gcresnet33ts",
    "convnext_atto",
    "convnextv2_atto",
    "inception_next_atto",
    "repvgg_a0",
    "mobileone_s0",
    "repvit_m0_9",
    "fastvit_t8",
    "efficientvit_b0",
    "efficientvit_m0",
    "hgnet_tiny",
    "hgnetv2_b0",
    "legacy_xception",
    "xception41",
    "xception41p",
    "inception_v3",
    "inception_v4",
    "inception_resnet_v2",
    "nasnetalarge",
    "pnasnet5large",
    "poolformer_s12",
    "starnet_s1",
    "fasternet_t0",
    "rdnet_tiny",
    "mambaout_femto",
)


# ---------------------------------------------------------------- PyTorch's side


def export(name: str, folder: Path) -> dict[str, Any]:
    """Export one model to ``folder/<name>.onnx`` (stripped) and return PyTorch's figures."""
    import onnx
    import timm
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = timm.create_model(name, pretrained=False).eval()
    size = tuple(timm.data.resolve_data_config({}, model=model)["input_size"])
    sample = torch.randn(1, *size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(sample)
    # The exporter reports its progress on stdout, where the table goes.
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        path = Path(scratch) / "model.onnx"
        torch.onnx.export(model, (sample,), str(path), dynamo=True, optimize=False)
        full = onnx.load(str(path))
    figures = {
        "name": name,
        "input_size": list(size),
        "torch_params": sum(p.numel() for p in model.parameters()),
        "torch_flops": counter.get_total_flops(),
        "layer_params": fixtures.layer_params(full),
        "export": "ok",
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
    def verdict(self) -> str:
        trainable, macs = self.checked.trainable, self.checked.macs
        if trainable is None or macs is None:
            return "refused"
        same = trainable == self.figures["torch_params"] and 2 * macs == self.figures["torch_flops"]
        return "✓" if same else "✗"


# ---------------------------------------------------------------- the table


def table(rows: list[Row]) -> str:
    header = (
        "model",
        "input",
        "params: PyTorch / convcalc",
        "G MACs: PyTorch / convcalc",
        "errors",
        "warnings",
        "verdict",
    )

    def cells(r: Row) -> tuple[str, ...]:
        depth, height, width = r.figures["input_size"]
        return (
            f"`{r.name}`",
            f"{height}×{width}×{depth}",
            f"{r.figures['torch_params']:,} / {count_or_dash(r.checked.trainable)}",
            f"{r.figures['torch_flops'] / 2e9:.3f} / {count_or_dash(r.checked.macs, lambda macs: f'{macs / 1e9:.3f}')}",
            r.checked.errors,
            r.checked.warnings,
            r.verdict,
        )

    lines = markdown_table(header, map(cells, rows))
    refused = [f"- `{r.name}`: {r.checked.refusal}" for r in rows if r.checked.refusal]
    lines += ["", *refused] if refused else []
    imported = [r for r in rows if r.checked.trainable is not None]
    same = sum(r.verdict == "✓" for r in imported)
    lines.append(f"\n{len(imported)} of {len(rows)} import; {same} of them equal PyTorch's parameters and MACs.")
    return "\n".join(lines)


def main() -> int:
    import timm
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=MODELS, help="one model (repeatable)")
    parser.add_argument("--cache", type=Path, help="keep each stripped export and its figures here, and reuse them")
    args = parser.parse_args()
    rows = run(args.only or MODELS, args.cache, export, Row)
    print(f"torch {torch.__version__}, timm {timm.__version__}, {date.today()}, {machine()}")
    print(table(rows))
    return 0 if all(r.verdict != "✗" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
