"""Write torchvision's classification CNNs as convcalc specs (examples/torchvision/*.json).

Each function follows the torchvision model of the same name layer by layer (PyTorch's conv → batchnorm →
activation order, bias-free convs before a batchnorm, torchvision's paddings), so that its figures can be
checked against torchvision's published ones: the trainable parameters (``num_params``, what
``sum(p.numel() for p in model.parameters())`` gives) and the multiply-accumulates (torchvision's GFLOPS,
which count conv and linear multiply-adds). The JSON files are committed; a test checks that running this
script reproduces them byte for byte, and the figures against the published ones.

These are the networks a linter has to pass without false alarms: every one of them trains.

Run: python examples/generate_torchvision.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent / "torchvision"
Layer = dict[str, Any]
MERGES = ("add", "concat", "multiply")
"""Kinds that always name their inputs, even when one of them is the previous layer."""


def spec_text(spec: dict[str, Any]) -> str:
    """One key per line at the top, one layer per line: easy to read and to diff."""
    head = {key: value for key, value in spec.items() if key != "layers"}
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()]
    layers = ",\n".join(f"    {json.dumps(layer)}" for layer in spec["layers"])
    return "{\n" + "\n".join(lines) + '\n  "layers": [\n' + layers + "\n  ]\n}\n"


class Net:
    """A spec under construction: each layer reads the previous one unless told otherwise."""

    def __init__(self, name: str, size: int = 224, classes: int = 1000) -> None:
        self.name, self.size, self.classes = name, size, classes
        self.layers: list[Layer] = []
        self.last = "input"

    def add(self, layer: Layer, reads: list[str] | None = None) -> str:
        """Append a named layer; it reads ``reads`` (or the previous layer). Returns its name."""
        sources = reads if reads is not None else [self.last]
        previous = self.layers[-1]["name"] if self.layers else "input"
        if sources != [previous] or layer["type"] in MERGES:
            layer = {**layer, "inputs": sources}
        self.layers.append(layer)
        self.last = layer["name"]
        return self.last

    @staticmethod
    def conv_layer(
        name: str,
        filters: int | None,
        kernel: int | list[int],
        stride: int,
        padding: int | list[int] | None,
        groups: int,
        bias: bool,
    ) -> Layer:
        """A conv (a depthwise conv, PyTorch's groups = channels, when ``filters`` is None), padding (F − 1)/2
        unless given."""
        layer: Layer = {"type": "conv" if filters is not None else "depthwise", "name": name}
        if filters is not None:
            layer["filters"] = filters
        layer["kernel"] = kernel
        if stride != 1:
            layer["stride"] = stride
        side = kernel if isinstance(kernel, int) else max(kernel)
        pad = padding if padding is not None else (side - 1) // 2
        if pad:
            layer["padding"] = pad
        if groups != 1:
            layer["groups"] = groups
        if not bias:
            layer["bias"] = False
        return layer

    def conv(
        self,
        name: str,
        filters: int | None,
        kernel: int | list[int],
        stride: int = 1,
        padding: int | list[int] | None = None,
        *,
        groups: int = 1,
        bias: bool = False,
        bn: bool = True,
        act: str | None = "relu",
        reads: list[str] | None = None,
    ) -> str:
        """torchvision's Conv2dNormActivation: conv (depthwise when ``filters`` is None), batchnorm, activation,
        named after the conv with suffixes."""
        self.add(self.conv_layer(name, filters, kernel, stride, padding, groups, bias), reads)
        if bn:
            self.add({"type": "batchnorm", "name": f"{name}.bn"})
        if act is not None:
            self.activation(f"{name}.{act}", act)
        return self.last

    def depthwise(self, name: str, kernel: int, stride: int = 1, act: str | None = "relu") -> str:
        """A depthwise conv in PyTorch's form: a conv with groups = channels (bias-free), batchnorm, activation."""
        return self.conv(name, None, kernel, stride, act=act)

    def activation(self, name: str, kind: str) -> str:
        """A ReLU (convcalc's own kind) or any other activation."""
        if kind == "relu":
            return self.add({"type": "relu", "name": name})
        return self.add({"type": "activation", "name": name, "kind": kind})

    def cna(
        self,
        p: str,
        filters: int | None,
        kernel: int,
        stride: int = 1,
        padding: int | None = None,
        *,
        groups: int = 1,
        act: str | None = "relu",
        reads: list[str] | None = None,
    ) -> str:
        """torchvision's Conv2dNormActivation under its own module names: the conv ``p.0`` (bias-free; depthwise
        when ``filters`` is None), the batchnorm ``p.1``, the activation ``p.2``."""
        self.add(self.conv_layer(f"{p}.0", filters, kernel, stride, padding, groups, False), reads)
        self.add({"type": "batchnorm", "name": f"{p}.1"})
        if act is not None:
            self.activation(f"{p}.2", act)
        return self.last

    def squeeze_excite(self, p: str, channels: int, squeeze: int, act: str, gate: str) -> str:
        """torchvision's SqueezeExcitation ``p``: global average pool, 1×1 conv to ``squeeze`` channels,
        ``act``, 1×1 conv back to ``channels``, the ``gate`` activation, and the gate times the input (the
        multiply carries the module's name: it is the module's output)."""
        source = self.last
        self.add({"type": "global_pool", "name": f"{p}.avgpool"})
        self.add({"type": "conv", "name": f"{p}.fc1", "filters": squeeze, "kernel": 1})
        self.activation(f"{p}.activation", act)
        self.add({"type": "conv", "name": f"{p}.fc2", "filters": channels, "kernel": 1})
        gated = self.activation(f"{p}.scale_activation", gate)
        return self.add({"type": "multiply", "name": p}, [gated, source])

    def pool(self, name: str, kernel: int, stride: int, padding: int = 0, mode: str = "max", ceil: bool = False) -> str:
        """A max or avg pool; ``ceil`` is PyTorch's ceil_mode (the output size rounds up)."""
        layer: Layer = {"type": "pool", "name": name, "mode": mode, "kernel": kernel, "stride": stride}
        if padding:
            layer["padding"] = padding
        if ceil:
            layer["ceil_mode"] = True
        return self.add(layer)

    def head(self, dropout: float | None = None, units: int | None = None) -> None:
        """Global average pooling (adaptive 1×1), an optional dropout, the classifier."""
        self.add({"type": "global_pool", "name": "avgpool"})
        if dropout:
            self.add({"type": "dropout", "name": "dropout", "rate": dropout})
        self.add({"type": "fc", "name": "fc", "units": units or self.classes})

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input": [self.size, self.size, 3],
            "classes": self.classes,
            "layers": self.layers,
        }


# --- AlexNet ---------------------------------------------------------------------------------------------


def alexnet() -> dict[str, Any]:
    """torchvision's alexnet (the one-tower variant of the paper, 64/192/384/256/256 filters)."""
    net = Net("alexnet")
    net.conv("features.0", 64, 11, 4, 2, bias=True, bn=False)
    net.pool("features.2", 3, 2)
    net.conv("features.3", 192, 5, 1, 2, bias=True, bn=False)
    net.pool("features.5", 3, 2)
    net.conv("features.6", 384, 3, 1, 1, bias=True, bn=False)
    net.conv("features.8", 256, 3, 1, 1, bias=True, bn=False)
    net.conv("features.10", 256, 3, 1, 1, bias=True, bn=False)
    net.pool("features.12", 3, 2)  # 6×6×256; the adaptive 6×6 average pool is the identity here
    net.add({"type": "flatten", "name": "flatten"})
    for index, units in ((1, 4096), (4, 4096)):
        net.add({"type": "dropout", "name": f"classifier.{index - 1}", "rate": 0.5})
        net.add({"type": "fc", "name": f"classifier.{index}", "units": units})
        net.add({"type": "relu", "name": f"classifier.{index + 1}"})
    net.add({"type": "fc", "name": "classifier.6", "units": 1000})
    return net.spec()


# --- ResNet, ResNeXt, Wide ResNet ----------------------------------------------------------------------------


def resnet(name: str, bottleneck: bool, blocks: tuple[int, ...], groups: int = 1, width: int = 64) -> dict[str, Any]:
    """torchvision's ResNet family: the stride on the 3×3 conv (v1.5), a 1×1 projection on the shortcut
    where the shape changes, ReLU after the add."""
    net = Net(name)
    net.conv("conv1", 64, 7, 2, 3)
    net.pool("maxpool", 3, 2, 1)
    channels = 64
    for stage, count in enumerate(blocks, start=1):
        planes = 64 * 2 ** (stage - 1)
        for block in range(count):
            stride = 2 if stage > 1 and block == 0 else 1
            p = f"layer{stage}.{block}"
            source = net.last
            out = planes * 4 if bottleneck else planes
            if bottleneck:
                mid = int(planes * (width / 64.0)) * groups
                net.conv(f"{p}.conv1", mid, 1, reads=[source])
                net.conv(f"{p}.conv2", mid, 3, stride, 1, groups=groups)
                main = net.conv(f"{p}.conv3", out, 1, act=None)
            else:
                net.conv(f"{p}.conv1", planes, 3, stride, 1, reads=[source])
                main = net.conv(f"{p}.conv2", planes, 3, 1, 1, act=None)
            shortcut = source
            if stride != 1 or channels != out:
                shortcut = net.conv(f"{p}.downsample", out, 1, stride, 0, act=None, reads=[source])
            net.add({"type": "add", "name": f"{p}.add"}, [main, shortcut])
            net.add({"type": "relu", "name": f"{p}.relu"})
            channels = out
    net.head()
    return net.spec()


# --- DenseNet --------------------------------------------------------------------------------------------


def densenet121() -> dict[str, Any]:
    """torchvision's densenet121: growth 32, bottleneck 4·32, blocks (6, 12, 24, 16), BN → ReLU → conv layers
    concatenated onto the block's input, transitions halving the channels and the size."""
    net = Net("densenet121")
    net.conv("features.conv0", 64, 7, 2, 3)
    net.pool("features.pool0", 3, 2, 1)
    channels = 64
    for index, count in enumerate((6, 12, 24, 16), start=1):
        for layer in range(1, count + 1):
            p = f"features.denseblock{index}.denselayer{layer}"
            features = net.last
            net.add({"type": "batchnorm", "name": f"{p}.norm1"})
            net.add({"type": "relu", "name": f"{p}.relu1"})
            net.conv(f"{p}.conv1", 4 * 32, 1, bn=False, act=None)
            net.add({"type": "batchnorm", "name": f"{p}.norm2"})
            net.add({"type": "relu", "name": f"{p}.relu2"})
            new = net.conv(f"{p}.conv2", 32, 3, 1, 1, bn=False, act=None)
            net.add({"type": "concat", "name": f"{p}.concat"}, [features, new])
            channels += 32
        if index < 4:
            p = f"features.transition{index}"
            net.add({"type": "batchnorm", "name": f"{p}.norm"})
            net.add({"type": "relu", "name": f"{p}.relu"})
            channels //= 2
            net.conv(f"{p}.conv", channels, 1, bn=False, act=None)
            net.pool(f"{p}.pool", 2, 2, mode="avg")
    net.add({"type": "batchnorm", "name": "features.norm5"})
    net.add({"type": "relu", "name": "features.relu5"})
    net.add({"type": "global_pool", "name": "avgpool"})
    net.add({"type": "fc", "name": "classifier", "units": 1000})
    return net.spec()


# --- MobileNetV2, MNASNet --------------------------------------------------------------------------------------


def inverted_residual(
    net: Net, p: str, channels: int, out: int, kernel: int, stride: int, expand: int, act: str
) -> None:
    """An inverted residual block: 1×1 expansion, depthwise F×F, linear 1×1 projection, add when shapes match."""
    source = net.last
    if expand != 1:
        net.conv(f"{p}.expand", channels * expand, 1, act=act)
    net.depthwise(f"{p}.dw", kernel, stride, act=act)
    project = net.conv(f"{p}.project", out, 1, act=None)
    if stride == 1 and channels == out:
        net.add({"type": "add", "name": f"{p}.add"}, [source, project])


def mobilenet_v2() -> dict[str, Any]:
    """torchvision's mobilenet_v2 (width 1.0): inverted residuals with ReLU6 and linear bottlenecks."""
    net = Net("mobilenet_v2")
    net.conv("features.0", 32, 3, 2, act="relu6")
    channels, index = 32, 1
    for expand, out, repeats, stride in (
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ):  # fmt: skip
        for repeat in range(repeats):
            inverted_residual(net, f"features.{index}", channels, out, 3, stride if repeat == 0 else 1, expand, "relu6")
            channels, index = out, index + 1
    net.conv(f"features.{index}", 1280, 1, act="relu6")
    net.add({"type": "global_pool", "name": "avgpool"})
    net.add({"type": "dropout", "name": "classifier.0", "rate": 0.2})
    net.add({"type": "fc", "name": "classifier.1", "units": 1000})
    return net.spec()


def mnasnet1_0() -> dict[str, Any]:
    """torchvision's mnasnet1_0: MNASNet-B1 with depth multiplier 1.0 (3×3 and 5×5 inverted residuals)."""
    net = Net("mnasnet1_0")
    net.conv("layers.0", 32, 3, 2)
    net.depthwise("layers.3", 3, 1)
    net.conv("layers.6", 16, 1, act=None)
    channels, index = 16, 8
    for out, kernel, stride, expand, repeats in (
        (24, 3, 2, 3, 3), (40, 5, 2, 3, 3), (80, 5, 2, 6, 3), (96, 3, 1, 6, 2), (192, 5, 2, 6, 4), (320, 3, 1, 6, 1),
    ):  # fmt: skip
        for repeat in range(repeats):
            p = f"layers.{index}.{repeat}"
            inverted_residual(net, p, channels, out, kernel, stride if repeat == 0 else 1, expand, "relu")
            channels = out
        index += 1
    net.conv("layers.14", 1280, 1)
    net.add({"type": "global_pool", "name": "avgpool"})
    net.add({"type": "dropout", "name": "classifier.0", "rate": 0.2})
    net.add({"type": "fc", "name": "classifier.1", "units": 1000})
    return net.spec()


# --- RegNet --------------------------------------------------------------------------------------------------


def regnet(name: str, depths: tuple[int, ...], widths: tuple[int, ...], group_width: int, se: bool) -> dict[str, Any]:
    """torchvision's RegNet family (bottleneck multiplier 1): the stages' depths and widths are what BlockParams
    derives from the model's w_0, w_a, w_m; each block is 1×1, grouped 3×3 (stride 2 in a stage's first block),
    for RegNetY squeeze-and-excitation to a quarter of the block's input width (se_ratio 0.25), linear 1×1,
    added to the input (through a 1×1 projection where the shape changes), ReLU."""
    net = Net(name)
    net.cna("stem", 32, 3, 2)
    channels = 32
    for stage, (depth, width) in enumerate(zip(depths, widths, strict=True), start=1):
        for block in range(depth):
            p = f"trunk_output.block{stage}.block{stage}-{block}"
            stride = 2 if block == 0 else 1
            source = net.last
            net.cna(f"{p}.f.a", width, 1, reads=[source])
            net.cna(f"{p}.f.b", width, 3, stride, groups=width // group_width)
            if se:
                net.squeeze_excite(f"{p}.f.se", width, channels // 4, "relu", "sigmoid")
            main = net.cna(f"{p}.f.c", width, 1, act=None)
            shortcut = source
            if stride != 1 or channels != width:
                shortcut = net.cna(f"{p}.proj", width, 1, stride, act=None, reads=[source])
            net.add({"type": "add", "name": f"{p}.add"}, [main, shortcut])
            net.activation(f"{p}.activation", "relu")
            channels = width
    net.head()
    return net.spec()


# --- GoogLeNet, Inception v3 ---------------------------------------------------------------------------------


def googlenet() -> dict[str, Any]:
    """torchvision's googlenet without the auxiliary classifiers (what its published figures count); its
    "5×5" branch is a 3×3 conv, as in torchvision; ceil_mode pools."""
    net = Net("googlenet")
    net.conv("conv1", 64, 7, 2, 3)
    net.pool("maxpool1", 3, 2, ceil=True)
    net.conv("conv2", 64, 1)
    net.conv("conv3", 192, 3, 1, 1)
    net.pool("maxpool2", 3, 2, ceil=True)

    def inception(p: str, ch1: int, ch3r: int, ch3: int, ch5r: int, ch5: int, pool: int) -> None:
        source = net.last
        b1 = net.conv(f"{p}.branch1", ch1, 1, reads=[source])
        net.conv(f"{p}.branch2.0", ch3r, 1, reads=[source])
        b2 = net.conv(f"{p}.branch2.1", ch3, 3, 1, 1)
        net.conv(f"{p}.branch3.0", ch5r, 1, reads=[source])
        b3 = net.conv(f"{p}.branch3.1", ch5, 3, 1, 1)
        net.add({"type": "pool", "name": f"{p}.branch4.0", "kernel": 3, "stride": 1, "padding": 1}, [source])
        b4 = net.conv(f"{p}.branch4.1", pool, 1)
        net.add({"type": "concat", "name": f"{p}.concat"}, [b1, b2, b3, b4])

    inception("inception3a", 64, 96, 128, 16, 32, 32)
    inception("inception3b", 128, 128, 192, 32, 96, 64)
    net.pool("maxpool3", 3, 2, ceil=True)
    inception("inception4a", 192, 96, 208, 16, 48, 64)
    inception("inception4b", 160, 112, 224, 24, 64, 64)
    inception("inception4c", 128, 128, 256, 24, 64, 64)
    inception("inception4d", 112, 144, 288, 32, 64, 64)
    inception("inception4e", 256, 160, 320, 32, 128, 128)
    net.pool("maxpool4", 2, 2, ceil=True)
    inception("inception5a", 256, 160, 320, 32, 128, 128)
    inception("inception5b", 384, 192, 384, 48, 128, 128)
    net.head(dropout=0.2)
    return net.spec()


def avg_3x3(name: str) -> Layer:
    """The size-keeping 3×3 average pool of Inception v3's pool branches."""
    return {"type": "pool", "name": name, "mode": "avg", "kernel": 3, "stride": 1, "padding": 1}


def inception_v3() -> dict[str, Any]:
    """torchvision's inception_v3 at 299×299 with its auxiliary classifier (its published figures include it),
    factorised 1×7 / 7×1 convs, batchnorm eps 0.001."""
    net = Net("inception_v3", size=299)
    net.conv("Conv2d_1a_3x3", 32, 3, 2, 0)
    net.conv("Conv2d_2a_3x3", 32, 3, 1, 0)
    net.conv("Conv2d_2b_3x3", 64, 3, 1, 1)
    net.pool("maxpool1", 3, 2)
    net.conv("Conv2d_3b_1x1", 80, 1)
    net.conv("Conv2d_4a_3x3", 192, 3, 1, 0)
    net.pool("maxpool2", 3, 2)

    def block_a(p: str, pool: int) -> None:
        source = net.last
        b1 = net.conv(f"{p}.branch1x1", 64, 1, reads=[source])
        net.conv(f"{p}.branch5x5_1", 48, 1, reads=[source])
        b5 = net.conv(f"{p}.branch5x5_2", 64, 5, 1, 2)
        net.conv(f"{p}.branch3x3dbl_1", 64, 1, reads=[source])
        net.conv(f"{p}.branch3x3dbl_2", 96, 3, 1, 1)
        b3 = net.conv(f"{p}.branch3x3dbl_3", 96, 3, 1, 1)
        net.add(avg_3x3(f"{p}.branch_pool.0"), [source])
        bp = net.conv(f"{p}.branch_pool", pool, 1)
        net.add({"type": "concat", "name": f"{p}.concat"}, [b1, b5, b3, bp])

    def block_b(p: str) -> None:
        source = net.last
        b3 = net.conv(f"{p}.branch3x3", 384, 3, 2, 0, reads=[source])
        net.conv(f"{p}.branch3x3dbl_1", 64, 1, reads=[source])
        net.conv(f"{p}.branch3x3dbl_2", 96, 3, 1, 1)
        bd = net.conv(f"{p}.branch3x3dbl_3", 96, 3, 2, 0)
        bp = net.add({"type": "pool", "name": f"{p}.branch_pool", "kernel": 3, "stride": 2}, [source])
        net.add({"type": "concat", "name": f"{p}.concat"}, [b3, bd, bp])

    def block_c(p: str, c7: int) -> None:
        source = net.last
        b1 = net.conv(f"{p}.branch1x1", 192, 1, reads=[source])
        net.conv(f"{p}.branch7x7_1", c7, 1, reads=[source])
        net.conv(f"{p}.branch7x7_2", c7, [1, 7], 1, [0, 3])
        b7 = net.conv(f"{p}.branch7x7_3", 192, [7, 1], 1, [3, 0])
        net.conv(f"{p}.branch7x7dbl_1", c7, 1, reads=[source])
        net.conv(f"{p}.branch7x7dbl_2", c7, [7, 1], 1, [3, 0])
        net.conv(f"{p}.branch7x7dbl_3", c7, [1, 7], 1, [0, 3])
        net.conv(f"{p}.branch7x7dbl_4", c7, [7, 1], 1, [3, 0])
        bd = net.conv(f"{p}.branch7x7dbl_5", 192, [1, 7], 1, [0, 3])
        net.add(avg_3x3(f"{p}.branch_pool.0"), [source])
        bp = net.conv(f"{p}.branch_pool", 192, 1)
        net.add({"type": "concat", "name": f"{p}.concat"}, [b1, b7, bd, bp])

    def block_d(p: str) -> None:
        source = net.last
        net.conv(f"{p}.branch3x3_1", 192, 1, reads=[source])
        b3 = net.conv(f"{p}.branch3x3_2", 320, 3, 2, 0)
        net.conv(f"{p}.branch7x7x3_1", 192, 1, reads=[source])
        net.conv(f"{p}.branch7x7x3_2", 192, [1, 7], 1, [0, 3])
        net.conv(f"{p}.branch7x7x3_3", 192, [7, 1], 1, [3, 0])
        b7 = net.conv(f"{p}.branch7x7x3_4", 192, 3, 2, 0)
        bp = net.add({"type": "pool", "name": f"{p}.branch_pool", "kernel": 3, "stride": 2}, [source])
        net.add({"type": "concat", "name": f"{p}.concat"}, [b3, b7, bp])

    def block_e(p: str) -> None:
        source = net.last
        b1 = net.conv(f"{p}.branch1x1", 320, 1, reads=[source])
        s3 = net.conv(f"{p}.branch3x3_1", 384, 1, reads=[source])
        a = net.conv(f"{p}.branch3x3_2a", 384, [1, 3], 1, [0, 1], reads=[s3])
        b = net.conv(f"{p}.branch3x3_2b", 384, [3, 1], 1, [1, 0], reads=[s3])
        net.conv(f"{p}.branch3x3dbl_1", 448, 1, reads=[source])
        d = net.conv(f"{p}.branch3x3dbl_2", 384, 3, 1, 1)
        da = net.conv(f"{p}.branch3x3dbl_3a", 384, [1, 3], 1, [0, 1], reads=[d])
        db = net.conv(f"{p}.branch3x3dbl_3b", 384, [3, 1], 1, [1, 0], reads=[d])
        net.add(avg_3x3(f"{p}.branch_pool.0"), [source])
        bp = net.conv(f"{p}.branch_pool", 192, 1)
        net.add({"type": "concat", "name": f"{p}.concat"}, [b1, a, b, da, db, bp])

    block_a("Mixed_5b", 32)
    block_a("Mixed_5c", 64)
    block_a("Mixed_5d", 64)
    block_b("Mixed_6a")
    for p, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        block_c(p, c7)
    mixed_6e = net.last
    # The auxiliary classifier on Mixed_6e's 17×17×768 (trained with, so counted by torchvision's figures).
    net.add({"type": "pool", "name": "AuxLogits.pool", "mode": "avg", "kernel": 5, "stride": 3}, [mixed_6e])
    net.conv("AuxLogits.conv0", 128, 1)
    net.conv("AuxLogits.conv1", 768, 5, 1, 0)
    net.add({"type": "global_pool", "name": "AuxLogits.avgpool"})
    # A training-only head: its output feeds a second loss, not the network's output (so nothing reads it).
    net.layers.append({**net.layers.pop(), "ignore": ["CC308"]})
    net.add({"type": "fc", "name": "AuxLogits.fc", "units": 1000, "ignore": ["CC308"]})
    net.last = mixed_6e
    block_d("Mixed_7a")
    block_e("Mixed_7b")
    block_e("Mixed_7c")
    net.add({"type": "global_pool", "name": "avgpool"})
    net.add({"type": "dropout", "name": "dropout", "rate": 0.5})
    net.add({"type": "fc", "name": "fc", "units": 1000})
    return net.spec()


# --- SqueezeNet ------------------------------------------------------------------------------------------------


def squeezenet1_1() -> dict[str, Any]:
    """torchvision's squeezenet1_1: fire modules (1×1 squeeze, 1×1 and 3×3 expands concatenated), ceil_mode
    pools, a 1×1 conv classifier followed by ReLU and global average pooling."""
    net = Net("squeezenet1_1")
    net.conv("features.0", 64, 3, 2, 0, bias=True, bn=False)
    net.pool("features.2", 3, 2, ceil=True)

    def fire(p: str, squeeze: int, expand: int) -> None:
        net.conv(f"{p}.squeeze", squeeze, 1, bias=True, bn=False)
        s = net.last
        e1 = net.conv(f"{p}.expand1x1", expand, 1, bias=True, bn=False, reads=[s])
        e3 = net.conv(f"{p}.expand3x3", expand, 3, 1, 1, bias=True, bn=False, reads=[s])
        net.add({"type": "concat", "name": f"{p}.concat"}, [e1, e3])

    fire("features.3", 16, 64)
    fire("features.4", 16, 64)
    net.pool("features.5", 3, 2, ceil=True)
    fire("features.6", 32, 128)
    fire("features.7", 32, 128)
    net.pool("features.8", 3, 2, ceil=True)
    fire("features.9", 48, 192)
    fire("features.10", 48, 192)
    fire("features.11", 64, 256)
    fire("features.12", 64, 256)
    net.add({"type": "dropout", "name": "classifier.0", "rate": 0.5})
    net.conv("classifier.1", 1000, 1, bias=True, bn=False)
    net.add({"type": "global_pool", "name": "classifier.3"})
    return net.spec()


# --- EfficientNet, MobileNetV3: inverted residuals with squeeze-and-excitation -----------------------------------
# These and the networks below are written under torchvision's module names (the state_dict's keys less
# ".weight"); the layers that are functions in torchvision (add, multiply, split, concat, shuffle) carry the name
# of the module whose output they are, or a name of their own.


def make_divisible(value: int, divisor: int = 8) -> int:
    """torchvision's _make_divisible: the nearest multiple of ``divisor``, never more than 10% below ``value``."""
    rounded = max(divisor, (value + divisor // 2) // divisor * divisor)
    return rounded + divisor if 10 * rounded < 9 * value else rounded


class SqueezeExcite(NamedTuple):
    """A squeeze-and-excitation block's squeezed channels, activation and gate."""

    squeeze: int
    act: str
    gate: str


def mbconv(
    net: Net,
    p: str,
    channels: int,
    expanded: int,
    out: int,
    kernel: int,
    stride: int,
    act: str,
    se: SqueezeExcite | None,
) -> None:
    """torchvision's MBConv and MobileNetV3 InvertedResidual ``p``: a 1×1 expansion (unless ``expanded`` is the
    input's ``channels``), a depthwise F×F, squeeze-and-excitation, a linear 1×1 projection (``p.block.0``,
    ``.1``, …), added to the input when the shape is kept (the add carries the block's name)."""
    source, part = net.last, 0
    if expanded != channels:
        net.cna(f"{p}.block.0", expanded, 1, act=act)
        part = 1
    net.cna(f"{p}.block.{part}", None, kernel, stride, act=act)
    if se is not None:
        part += 1
        net.squeeze_excite(f"{p}.block.{part}", expanded, *se)
    project = net.cna(f"{p}.block.{part + 1}", out, 1, act=None)
    if stride == 1 and channels == out:
        net.add({"type": "add", "name": p}, [project, source])


def efficientnet_b0() -> dict[str, Any]:
    """torchvision's efficientnet_b0: MBConv blocks (1×1 expansion, depthwise F×F, squeeze-and-excitation to a
    quarter of the block's input channels, linear 1×1 projection) with SiLU; stochastic depth is the identity at
    inference and has no parameters, so it is left out."""
    net = Net("efficientnet_b0")
    net.cna("features.0", 32, 3, 2, act="silu")
    for stage, (expand, kernel, stride, first, out, repeats) in enumerate(
        ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
         (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)),
        start=1,
    ):  # fmt: skip
        for block in range(repeats):
            channels = first if block == 0 else out
            excite = SqueezeExcite(max(1, channels // 4), "silu", "sigmoid")
            step = stride if block == 0 else 1
            mbconv(
                net,
                f"features.{stage}.{block}",
                channels,
                make_divisible(channels * expand),
                out,
                kernel,
                step,
                "silu",
                excite,
            )
    net.cna("features.8", 1280, 1, act="silu")
    net.add({"type": "global_pool", "name": "avgpool"})
    net.add({"type": "dropout", "name": "classifier.0", "rate": 0.2})
    net.add({"type": "fc", "name": "classifier.1", "units": 1000})
    return net.spec()


def fused_mbconv(net: Net, p: str, channels: int, expanded: int, out: int, kernel: int, stride: int) -> None:
    """torchvision's FusedMBConv ``p`` (EfficientNetV2): the 1×1 expansion and the depthwise F×F of an MBConv
    fused into one full F×F conv (``p.block.0``), then a linear 1×1 projection (``p.block.1``); without
    expansion the F×F conv alone, to ``out`` channels. Added to the input when the shape is kept."""
    source = net.last
    if expanded != channels:
        net.cna(f"{p}.block.0", expanded, kernel, stride, act="silu")
        last = net.cna(f"{p}.block.1", out, 1, act=None)
    else:
        last = net.cna(f"{p}.block.0", out, kernel, stride, act="silu")
    if stride == 1 and channels == out:
        net.add({"type": "add", "name": p}, [last, source])


def efficientnet_v2_s() -> dict[str, Any]:
    """torchvision's efficientnet_v2_s at its 384×384 crop: three stages of Fused-MBConv blocks, then MBConv
    blocks with squeeze-and-excitation to a quarter of the block's input channels, SiLU throughout; the 1×1
    projections are linear (a linear bottleneck feeding the next block's expansion, F×F in a Fused-MBConv)."""
    net = Net("efficientnet_v2_s", size=384)
    net.cna("features.0", 24, 3, 2, act="silu")
    for stage, (fused, expand, stride, first, out, repeats) in enumerate(
        ((True, 1, 1, 24, 24, 2), (True, 4, 2, 24, 48, 4), (True, 4, 2, 48, 64, 4),
         (False, 4, 2, 64, 128, 6), (False, 6, 1, 128, 160, 9), (False, 6, 2, 160, 256, 15)),
        start=1,
    ):  # fmt: skip
        for block in range(repeats):
            channels = first if block == 0 else out
            step = stride if block == 0 else 1
            expanded = make_divisible(channels * expand)
            p = f"features.{stage}.{block}"
            if fused:
                fused_mbconv(net, p, channels, expanded, out, 3, step)
            else:
                excite = SqueezeExcite(max(1, channels // 4), "silu", "sigmoid")
                mbconv(net, p, channels, expanded, out, 3, step, "silu", excite)
    net.cna("features.7", 1280, 1, act="silu")
    net.add({"type": "global_pool", "name": "avgpool"})
    net.add({"type": "dropout", "name": "classifier.0", "rate": 0.2})
    net.add({"type": "fc", "name": "classifier.1", "units": 1000})
    return net.spec()


def mobilenet_v3_large() -> dict[str, Any]:
    """torchvision's mobilenet_v3_large: inverted residuals with ReLU or hard swish, squeeze-and-excitation (to
    a quarter of the expanded channels, rounded to a multiple of 8, hard sigmoid gate) in some blocks, and a
    1280-unit hidden layer in the classifier."""
    net = Net("mobilenet_v3_large")
    net.cna("features.0", 16, 3, 2, act="hard_swish")
    for index, (channels, kernel, expanded, out, se, act, stride) in enumerate(
        ((16, 3, 16, 16, False, "relu", 1), (16, 3, 64, 24, False, "relu", 2), (24, 3, 72, 24, False, "relu", 1),
         (24, 5, 72, 40, True, "relu", 2), (40, 5, 120, 40, True, "relu", 1), (40, 5, 120, 40, True, "relu", 1),
         (40, 3, 240, 80, False, "hard_swish", 2), (80, 3, 200, 80, False, "hard_swish", 1),
         (80, 3, 184, 80, False, "hard_swish", 1), (80, 3, 184, 80, False, "hard_swish", 1),
         (80, 3, 480, 112, True, "hard_swish", 1), (112, 3, 672, 112, True, "hard_swish", 1),
         (112, 5, 672, 160, True, "hard_swish", 2), (160, 5, 960, 160, True, "hard_swish", 1),
         (160, 5, 960, 160, True, "hard_swish", 1)),
        start=1,
    ):  # fmt: skip
        excite = SqueezeExcite(make_divisible(expanded // 4), "relu", "hard_sigmoid") if se else None
        mbconv(net, f"features.{index}", channels, expanded, out, kernel, stride, act, excite)
    net.cna("features.16", 960, 1, act="hard_swish")
    net.add({"type": "global_pool", "name": "avgpool"})
    net.add({"type": "fc", "name": "classifier.0", "units": 1280})
    net.activation("classifier.1", "hard_swish")
    net.add({"type": "dropout", "name": "classifier.2", "rate": 0.2})
    net.add({"type": "fc", "name": "classifier.3", "units": 1000})
    return net.spec()


# --- ShuffleNetV2 --------------------------------------------------------------------------------------------


def shufflenet_v2_x1_0() -> dict[str, Any]:
    """torchvision's shufflenet_v2_x1_0: stages of (4, 8, 4) blocks, (116, 232, 464) channels. A block of
    stride 2 runs two branches on its whole input; a block of stride 1 splits the channels in half, keeps the
    first and runs the branch on the second; then concat and a channel shuffle in 2 groups."""
    net = Net("shufflenet_v2_x1_0")

    def depthwise(name: str, stride: int) -> str:
        return net.add(net.conv_layer(name, None, 3, stride, 1, 1, False))

    def pointwise(name: str, filters: int, reads: str | None = None) -> str:
        return net.add(net.conv_layer(name, filters, 1, 1, 0, 1, False), None if reads is None else [reads])

    def branch(p: str, half: int, stride: int, reads: str) -> str:
        """torchvision's branch2: 1×1 conv, batchnorm, ReLU, depthwise 3×3, batchnorm, 1×1 conv, batchnorm, ReLU."""
        pointwise(f"{p}.0", half, reads)
        net.add({"type": "batchnorm", "name": f"{p}.1"})
        net.add({"type": "relu", "name": f"{p}.2"})
        depthwise(f"{p}.3", stride)
        net.add({"type": "batchnorm", "name": f"{p}.4"})
        pointwise(f"{p}.5", half)
        net.add({"type": "batchnorm", "name": f"{p}.6"})
        return net.add({"type": "relu", "name": f"{p}.7"})

    net.add(net.conv_layer("conv1.0", 24, 3, 2, 1, 1, False))
    net.add({"type": "batchnorm", "name": "conv1.1"})
    net.add({"type": "relu", "name": "conv1.2"})
    net.pool("maxpool", 3, 2, 1)
    for stage, (repeats, out) in enumerate(zip((4, 8, 4), (116, 232, 464), strict=True), start=2):
        half = out // 2
        for block in range(repeats):
            p, source = f"stage{stage}.{block}", net.last
            if block == 0:
                depthwise(f"{p}.branch1.0", 2)
                net.add({"type": "batchnorm", "name": f"{p}.branch1.1"})
                pointwise(f"{p}.branch1.2", half)
                net.add({"type": "batchnorm", "name": f"{p}.branch1.3"})
                kept = net.add({"type": "relu", "name": f"{p}.branch1.4"})
                branched = branch(f"{p}.branch2", half, 2, source)
            else:
                kept = net.add({"type": "split", "name": f"{p}.x1", "parts": 2, "part": 0}, [source])
                halved = net.add({"type": "split", "name": f"{p}.x2", "parts": 2, "part": 1}, [source])
                branched = branch(f"{p}.branch2", half, 1, halved)
            net.add({"type": "concat", "name": f"{p}.cat"}, [kept, branched])
            net.add({"type": "channel_shuffle", "name": p, "groups": 2})
    pointwise("conv5.0", 1024)
    net.add({"type": "batchnorm", "name": "conv5.1"})
    net.add({"type": "relu", "name": "conv5.2"})
    net.add({"type": "global_pool", "name": "globalpool"})
    net.add({"type": "fc", "name": "fc", "units": 1000})
    return net.spec()


# --- ConvNeXt ------------------------------------------------------------------------------------------------


def convnext_tiny() -> dict[str, Any]:
    """torchvision's convnext_tiny: a 4×4, S=4 patchify stem, stages of (3, 3, 9, 3) blocks at (96, 192, 384, 768)
    channels, each block a depthwise 7×7 conv, LayerNorm, Linear to 4× the channels, GELU, Linear back, a
    learned per-channel layer scale, added to the block's input; LayerNorm and a 2×2, S=2 conv between stages.
    torchvision runs the block's Linear layers on a channels-last permute: a Linear on the channels of every
    pixel is a 1×1 conv with the same parameters and MACs, and the permutes move no number, so they are left
    out, and so is stochastic depth (the identity at inference, no parameters)."""
    net = Net("convnext_tiny")
    net.add({"type": "conv", "name": "features.0.0", "filters": 96, "kernel": 4, "stride": 4})
    net.add({"type": "layer_norm", "name": "features.0.1"})
    index = 1
    for dim, out, repeats in ((96, 192, 3), (192, 384, 3), (384, 768, 9), (768, None, 3)):
        for block in range(repeats):
            p, source = f"features.{index}.{block}", net.last
            net.add({"type": "depthwise", "name": f"{p}.block.0", "kernel": 7, "padding": 3})
            net.add({"type": "layer_norm", "name": f"{p}.block.2"})
            net.add({"type": "conv", "name": f"{p}.block.3", "filters": 4 * dim, "kernel": 1})
            net.activation(f"{p}.block.4", "gelu")
            net.add({"type": "conv", "name": f"{p}.block.5", "filters": dim, "kernel": 1})
            scaled = net.add({"type": "scale", "name": f"{p}.layer_scale"})
            net.add({"type": "add", "name": p}, [scaled, source])
        index += 1
        if out is not None:
            net.add({"type": "layer_norm", "name": f"features.{index}.0"})
            net.add({"type": "conv", "name": f"features.{index}.1", "filters": out, "kernel": 2, "stride": 2})
            index += 1
    net.add({"type": "global_pool", "name": "avgpool"})
    net.add({"type": "layer_norm", "name": "classifier.0"})
    net.add({"type": "flatten", "name": "classifier.1"})
    net.add({"type": "fc", "name": "classifier.2", "units": 1000})
    return net.spec()


EXAMPLES = {
    "alexnet": alexnet,
    "resnet18": lambda: resnet("resnet18", False, (2, 2, 2, 2)),
    "resnet34": lambda: resnet("resnet34", False, (3, 4, 6, 3)),
    "resnet50": lambda: resnet("resnet50", True, (3, 4, 6, 3)),
    "resnet101": lambda: resnet("resnet101", True, (3, 4, 23, 3)),
    "resnet152": lambda: resnet("resnet152", True, (3, 8, 36, 3)),
    "resnext50_32x4d": lambda: resnet("resnext50_32x4d", True, (3, 4, 6, 3), groups=32, width=4),
    "wide_resnet50_2": lambda: resnet("wide_resnet50_2", True, (3, 4, 6, 3), width=128),
    "densenet121": densenet121,
    "mobilenet_v2": mobilenet_v2,
    "mnasnet1_0": mnasnet1_0,
    "regnet_x_400mf": lambda: regnet("regnet_x_400mf", (1, 2, 7, 12), (32, 64, 160, 400), 16, se=False),
    "googlenet": googlenet,
    "inception_v3": inception_v3,
    "squeezenet1_1": squeezenet1_1,
    "efficientnet_b0": efficientnet_b0,
    "efficientnet_v2_s": efficientnet_v2_s,
    "mobilenet_v3_large": mobilenet_v3_large,
    "regnet_y_400mf": lambda: regnet("regnet_y_400mf", (1, 3, 6, 6), (48, 104, 208, 440), 8, se=True),
    "shufflenet_v2_x1_0": shufflenet_v2_x1_0,
    "convnext_tiny": convnext_tiny,
}


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, build in EXAMPLES.items():
        (HERE / f"{name}.json").write_text(spec_text(build()), encoding="utf-8")
        print(f"wrote examples/torchvision/{name}.json")


if __name__ == "__main__":
    main()
