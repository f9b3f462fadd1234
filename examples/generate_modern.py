"""Write the modern example specs (ResNet, MobileNet, Inception, U-Net, two-tower AlexNet).

They are long and regular, so they are generated; the JSON files are committed, and a test checks that
running this script reproduces them byte for byte. Each mirrors a published architecture so that its
figures can be checked: resnet50.json and mobilenet_v1.json follow keras.applications layer by layer,
resnet18.json follows torchvision's resnet18.

Run: python examples/generate_modern.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
Layer = dict[str, Any]


def spec_text(spec: dict[str, Any]) -> str:
    """One key per line at the top, one layer per line: easy to read and to diff."""
    head = {key: value for key, value in spec.items() if key != "layers"}
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()]
    layers = ",\n".join(f"    {json.dumps(layer)}" for layer in spec["layers"])
    return "{\n" + "\n".join(lines) + '\n  "layers": [\n' + layers + "\n  ]\n}\n"


def conv(name: str, filters: int, kernel: int, stride: int = 1, padding: Any = "same", **extra: Any) -> Layer:
    layer: Layer = {"type": "conv", "name": name, "filters": filters, "kernel": kernel}
    if stride != 1:
        layer["stride"] = stride
    layer["padding"] = padding
    layer.update(extra)
    return layer


def bn(name: str) -> Layer:
    return {"type": "batchnorm", "name": name}


def act(name: str, kind: str = "relu", inputs: list[str] | None = None) -> Layer:
    layer: Layer = {"type": "activation", "name": name, "kind": kind}
    if inputs:
        layer["inputs"] = inputs
    return layer


def resnet18() -> dict[str, Any]:
    """torchvision's resnet18: basic blocks, bias-free convs, stride on the first 3×3 of a stage."""
    layers: list[Layer] = [
        conv("conv1", 64, 7, 2, 3, bias=False),
        bn("bn1"),
        act("relu1"),
        {"type": "pool", "name": "maxpool", "kernel": 3, "stride": 2, "padding": 1},
    ]
    previous = "maxpool"
    for stage, filters in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            p = f"layer{stage}.{block}"
            first = conv(f"{p}.conv1", filters, 3, stride, 1, bias=False)
            first["inputs"] = [previous]
            layers += [first, bn(f"{p}.bn1"), act(f"{p}.relu1"), conv(f"{p}.conv2", filters, 3, 1, 1, bias=False)]
            layers.append(bn(f"{p}.bn2"))
            shortcut = previous
            if stride != 1:
                down = conv(f"{p}.downsample", filters, 1, stride, 0, bias=False)
                down["inputs"] = [previous]
                layers += [down, bn(f"{p}.downsample.bn")]
                shortcut = f"{p}.downsample.bn"
            layers.append({"type": "add", "name": f"{p}.add", "inputs": [f"{p}.bn2", shortcut]})
            layers.append(act(f"{p}.relu"))
            previous = f"{p}.relu"
    layers += [{"type": "global_pool", "name": "avgpool"}, {"type": "fc", "name": "fc", "units": 1000}]
    return {"name": "resnet18", "input": [224, 224, 3], "classes": 1000, "layers": layers}


def resnet50() -> dict[str, Any]:
    """keras.applications.ResNet50 (v1): bottlenecks with the stride on the first 1×1 conv."""
    layers: list[Layer] = [
        {"type": "zero_padding", "name": "conv1_pad", "padding": 3},
        conv("conv1_conv", 64, 7, 2, "valid"),
        bn("conv1_bn"),
        act("conv1_relu"),
        {"type": "zero_padding", "name": "pool1_pad", "padding": 1},
        {"type": "pool", "name": "pool1_pool", "kernel": 3, "stride": 2},
    ]
    previous = "pool1_pool"
    for stage, (filters, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=2):
        for block in range(1, blocks + 1):
            p = f"conv{stage}_block{block}"
            stride = 2 if stage > 2 and block == 1 else 1
            if block == 1:
                shortcut = conv(f"{p}_0_conv", 4 * filters, 1, stride, "valid")
                shortcut["inputs"] = [previous]
                layers += [shortcut, bn(f"{p}_0_bn")]
            first = conv(f"{p}_1_conv", filters, 1, stride, "valid")
            first["inputs"] = [previous]
            layers += [first, bn(f"{p}_1_bn"), act(f"{p}_1_relu")]
            layers += [conv(f"{p}_2_conv", filters, 3), bn(f"{p}_2_bn"), act(f"{p}_2_relu")]
            layers += [conv(f"{p}_3_conv", 4 * filters, 1, 1, "valid"), bn(f"{p}_3_bn")]
            identity = f"{p}_0_bn" if block == 1 else previous
            layers.append({"type": "add", "name": f"{p}_add", "inputs": [identity, f"{p}_3_bn"]})
            layers.append(act(f"{p}_out"))
            previous = f"{p}_out"
    layers += [
        {"type": "global_pool", "name": "avg_pool"},
        {"type": "fc", "name": "predictions", "units": 1000},
        act("predictions_softmax", "softmax"),
    ]
    return {"name": "resnet50", "input": [224, 224, 3], "classes": 1000, "layers": layers}


def mobilenet_v1() -> dict[str, Any]:
    """keras.applications.MobileNet (alpha 1.0, 224): depthwise 3×3 + pointwise 1×1 blocks, ReLU6."""
    layers: list[Layer] = [
        {"type": "zero_padding", "name": "conv1_pad", "padding": [[0, 1], [0, 1]]},
        conv("conv1", 32, 3, 2, "valid", bias=False),
        bn("conv1_bn"),
        act("conv1_relu", "relu6"),
    ]
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for block, (filters, stride) in enumerate(plan, start=1):
        if stride == 2:
            layers.append({"type": "zero_padding", "name": f"conv_pad_{block}", "padding": [[0, 1], [0, 1]]})
        depthwise: Layer = {"type": "depthwise", "name": f"conv_dw_{block}", "kernel": 3}
        if stride == 2:
            depthwise["stride"] = 2
        depthwise.update(padding="valid" if stride == 2 else "same", bias=False)
        layers += [depthwise, bn(f"conv_dw_{block}_bn"), act(f"conv_dw_{block}_relu", "relu6")]
        layers += [conv(f"conv_pw_{block}", filters, 1, 1, "same", bias=False), bn(f"conv_pw_{block}_bn")]
        layers.append(act(f"conv_pw_{block}_relu", "relu6"))
    layers += [
        {"type": "global_pool", "name": "global_average_pooling2d"},
        {"type": "dropout", "name": "dropout", "rate": 0.001},
        conv("conv_preds", 1000, 1),
        act("predictions", "softmax"),
    ]
    return {"name": "mobilenet-v1", "input": [224, 224, 3], "classes": 1000, "layers": layers}


def inception_block() -> dict[str, Any]:
    """GoogLeNet's inception (3a): four branches on 28×28×192, concatenated to 28×28×256."""

    def branch_conv(name: str, filters: int, kernel: int, source: str) -> list[Layer]:
        layer = conv(name, filters, kernel)
        layer["inputs"] = [source]
        return [layer, {"type": "relu", "name": f"{name}_relu"}]

    layers = [
        *branch_conv("b1_1x1", 64, 1, "input"),
        *branch_conv("b2_reduce", 96, 1, "input"),
        *branch_conv("b2_3x3", 128, 3, "b2_reduce_relu"),
        *branch_conv("b3_reduce", 16, 1, "input"),
        *branch_conv("b3_5x5", 32, 5, "b3_reduce_relu"),
        {"type": "pool", "name": "b4_pool", "kernel": 3, "stride": 1, "padding": "same", "inputs": ["input"]},
        *branch_conv("b4_proj", 32, 1, "b4_pool"),
        {"type": "concat", "name": "output", "inputs": ["b1_1x1_relu", "b2_3x3_relu", "b3_5x5_relu", "b4_proj_relu"]},
    ]
    # A block, not a classifier: it ends in a volume on purpose.
    return {"name": "inception-3a", "input": [28, 28, 192], "ignore": ["CC307"], "layers": layers}


def unet_small() -> dict[str, Any]:
    """A small U-Net: two 2× downsamplings, transposed-conv upsampling, skip connections by concat."""

    def double(prefix: str, filters: int, source: str | None = None) -> list[Layer]:
        first = conv(f"{prefix}_conv1", filters, 3, 1, 1)
        if source:
            first["inputs"] = [source]
        return [first, {"type": "relu"}, conv(f"{prefix}_conv2", filters, 3, 1, 1), {"type": "relu", "name": prefix}]

    layers: list[Layer] = [
        *double("enc1", 16),
        {"type": "pool", "name": "down1", "kernel": 2},
        *double("enc2", 32),
        {"type": "pool", "name": "down2", "kernel": 2},
        *double("bottleneck", 64),
        {"type": "conv_transpose", "name": "up2", "filters": 32, "kernel": 2, "stride": 2},
        {"type": "concat", "name": "skip2", "inputs": ["up2", "enc2"]},
        *double("dec2", 32),
        {"type": "conv_transpose", "name": "up1", "filters": 16, "kernel": 2, "stride": 2},
        {"type": "concat", "name": "skip1", "inputs": ["up1", "enc1"]},
        *double("dec1", 16),
        conv("logits", 2, 1, 1, 0),
    ]
    # Segmentation: one score per pixel and class, a volume on purpose, which CC307 recognises (down and back up).
    return {"name": "unet-small", "input": [64, 64, 1], "layers": layers}


def alexnet_two_tower() -> dict[str, Any]:
    """AlexNet as published: conv2, conv4 and conv5 split over two GPUs (groups = 2), and local response
    normalisation after the first two ReLUs (the paper's k = 2, n = 5, α = 10⁻⁴, β = 0.75, its α on the sum
    itself: 5·10⁻⁴ divided by n, as convcalc writes it)."""
    spec: dict[str, Any] = json.loads((HERE / "alexnet.json").read_text(encoding="utf-8"))
    layers: list[Layer] = []
    for layer in spec["layers"]:
        if layer.get("name") in ("conv2", "conv4", "conv5"):
            layer["groups"] = 2
        if layer.get("name") in ("pool1", "pool2"):
            norm = {"type": "local_response_norm", "size": 5, "alpha": 5e-4, "beta": 0.75, "bias": 2}
            layers.append({**norm, "name": "norm" + layer["name"][-1]})
        layers.append(layer)
    spec["name"] = "alexnet-two-tower"
    spec["layers"] = layers
    return spec


EXAMPLES = {
    "resnet18.json": resnet18,
    "resnet50.json": resnet50,
    "mobilenet_v1.json": mobilenet_v1,
    "inception_block.json": inception_block,
    "unet_small.json": unet_small,
    "alexnet_two_tower.json": alexnet_two_tower,
}


def main() -> None:
    for name, build in EXAMPLES.items():
        (HERE / name).write_text(spec_text(build()), encoding="utf-8")
        print(f"wrote examples/{name}")


if __name__ == "__main__":
    main()
