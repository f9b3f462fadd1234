"""torchvision's classification CNNs written as specs (examples/torchvision/): their figures against the
published ones, and a linter that passes them without false alarms."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from convcalc.checking import check_loaded
from convcalc.findings import Severity
from convcalc.loading import load_spec
from convcalc.text import tally
from tests.helpers import EXAMPLES, check_spec

TORCHVISION = EXAMPLES / "torchvision"

# torchvision's published figures, the weights' meta (``Weights.meta``): num_params, and GFLOPS (``_ops``) as
# multiply-adds of convs and linear layers (convcalc's MACs), to the three decimals of the meta (the docs'
# table rounds them to two).
PUBLISHED = {
    "alexnet": (61_100_840, 0.714),
    "resnet18": (11_689_512, 1.814),
    "resnet34": (21_797_672, 3.664),
    "resnet50": (25_557_032, 4.089),
    "resnet101": (44_549_160, 7.801),
    "resnet152": (60_192_808, 11.514),
    "resnext50_32x4d": (25_028_904, 4.230),
    "wide_resnet50_2": (68_883_240, 11.398),
    "densenet121": (7_978_856, 2.834),
    "mobilenet_v2": (3_504_872, 0.301),
    "mnasnet1_0": (4_383_312, 0.314),
    "regnet_x_400mf": (5_495_976, 0.414),
    "googlenet": (6_624_904, 1.498),
    "inception_v3": (27_161_264, 5.713),
    "squeezenet1_1": (1_235_496, 0.349),
    "efficientnet_b0": (5_288_548, 0.386),
    "efficientnet_v2_s": (21_458_488, 8.366),
    "mobilenet_v3_large": (5_483_032, 0.217),
    "regnet_y_400mf": (4_344_144, 0.402),
    "shufflenet_v2_x1_0": (2_278_604, 0.145),
    "convnext_tiny": (28_589_128, 4.456),
}

# What the linter says about each, reviewed: no error (SqueezeNet 1.1 excepted, below), at most five
# warnings, each true. CC201: a stem or branch kernel larger than 3×3 (ResNet-C, Inception v3's own paper
# factorise them); CC205: 1×1, S=2 projection shortcuts read 1 pixel in 4 (what ResNet-D fixed); CC202 and
# CC302: Inception v3's unpadded stem; CC305: SqueezeNet's classifier conv is followed by a ReLU.
WARNINGS = {
    "alexnet": {"CC201": 2},
    "resnet18": {"CC201": 1, "CC205": 3},
    "resnet34": {"CC201": 1, "CC205": 3},
    "resnet50": {"CC201": 1, "CC205": 3},
    "resnet101": {"CC201": 1, "CC205": 3},
    "resnet152": {"CC201": 1, "CC205": 3},
    "resnext50_32x4d": {"CC201": 1, "CC205": 3},
    "wide_resnet50_2": {"CC201": 1, "CC205": 3},
    "densenet121": {"CC201": 1},
    "mobilenet_v2": {},
    "mnasnet1_0": {},
    "regnet_x_400mf": {"CC205": 4},
    "googlenet": {"CC201": 1},
    "inception_v3": {"CC201": 3, "CC202": 1, "CC302": 1},
    "squeezenet1_1": {"CC302": 1, "CC305": 1},
    "regnet_y_400mf": {"CC205": 4},
    "shufflenet_v2_x1_0": {},
    "efficientnet_b0": {},
    # EfficientNetV2's 1×1 projections feed the next Fused-MBConv's 3×3 expansion: a linear bottleneck (CC303).
    "efficientnet_v2_s": {},
    # MobileNetV3's expansion-1 block projects 16 → 16 before the next expansion: a linear bottleneck (CC303).
    "mobilenet_v3_large": {},
    # ConvNeXt's patchify stem and downsamplers (F = S, no padding) pass CC201/CC207, and its projections
    # feeding the next block's depthwise conv pass CC303 (a factorised conv, linear by design).
    "convnext_tiny": {},
}
# SqueezeNet 1.1's stem, 3×3 with S=2 and no padding on 224: (224 − 3)/2 + 1 = 111.5 leaves the last input
# row and column unread. That is real input (the paper's network reads 227×227, where it fits), so it stays
# CC101's error.
ERRORS = {"squeezenet1_1": {"CC101": 1}}


def test_the_generator_reproduces_the_committed_specs(tmp_path) -> None:
    script = EXAMPLES / "generate_torchvision.py"
    source = script.read_text(encoding="utf-8").replace(
        'HERE = Path(__file__).resolve().parent / "torchvision"', f"HERE = Path({str(tmp_path)!r})"
    )
    (tmp_path / "generate.py").write_text(source, encoding="utf-8")
    subprocess.run([sys.executable, str(tmp_path / "generate.py")], check=True, capture_output=True)
    for name in PUBLISHED:
        assert (tmp_path / f"{name}.json").read_bytes() == (TORCHVISION / f"{name}.json").read_bytes(), name


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_figures_are_torchvisions(name: str, tmp_path) -> None:
    checked = check_spec(json.loads((TORCHVISION / f"{name}.json").read_text()), tmp_path)
    params, gflops = PUBLISHED[name]
    facts = checked.facts
    assert facts.total_trainable_params == params
    # torchvision counts the auxiliary classifier's parameters but runs (and times) the model in eval mode.
    macs = facts.total_macs - sum(layer.macs for layer in facts.layers if layer.name.startswith("AuxLogits"))
    assert round(macs / 1e9, 3) == gflops


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_linter_passes_them_without_false_alarms(name: str, tmp_path) -> None:
    checked = check_spec(json.loads((TORCHVISION / f"{name}.json").read_text()), tmp_path)
    by_severity: dict[Severity, Counter[str]] = {severity: Counter() for severity in Severity}
    for finding in checked.findings:
        by_severity[finding.severity][finding.code] += 1
    assert dict(by_severity[Severity.ERROR]) == ERRORS.get(name, {})
    assert dict(by_severity[Severity.WARNING]) == WARNINGS[name]
    assert sum(by_severity[Severity.WARNING].values()) <= 5


def famous_table() -> str:
    """The README's table of the torchvision specs: figures and findings as convcalc reports them."""

    rows = [
        "| network | trainable params (= torchvision) | G MACs (= torchvision's GFLOPS) | errors | warnings |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(PUBLISHED):
        checked = check_loaded(load_spec(str(TORCHVISION / f"{name}.json")))
        facts = checked.facts
        macs = facts.total_macs - sum(layer.macs for layer in facts.layers if layer.name.startswith("AuxLogits"))
        errors = tally(f.code for f in checked.findings if f.severity is Severity.ERROR)
        warnings = tally(f.code for f in checked.findings if f.severity is Severity.WARNING)
        rows.append(f"| `{name}` | {facts.total_trainable_params:,} | {macs / 1e9:.3f} | {errors} | {warnings} |")
    return "\n".join(rows) + "\n"


def test_the_readme_table_is_what_convcalc_reports() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    assert famous_table() in readme
