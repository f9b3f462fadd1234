"""Cost (info): where the parameters and the memory go, and what the whole image reaches.

Advice rather than mistakes: each message puts a number on the cost and on the usual alternative.
"""

from __future__ import annotations

from collections.abc import Iterator

from convcalc.analysis import BYTES_PER_FLOAT32, LayerFacts, NetworkFacts, Shape
from convcalc.findings import Severity
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.graph import only_producer, sliding_conv
from convcalc.text import human_bytes


def _fc_volume(net: NetworkFacts, fc: LayerFacts) -> Shape:
    """The volume an fc layer really reads: back through a flatten (and ReLUs, activations, dropout,
    normalisation) to the H×W×D it came from."""
    layer = only_producer(net, fc)
    while layer is not None and layer.traits.keeps_shape:
        layer = only_producer(net, layer)
    if layer is not None and layer.type == "flatten":
        return layer.input_shape
    return fc.input_shape


@rule(
    "CC401",
    "fc-dominates-params",
    Severity.INFO,
    summary="The fc layers hold more than half of all parameters.",
    bad={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "fc", "units": 64},
        ],
    },
    good={
        "input": [8, 8, 4],
        "layers": [
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "pool", "mode": "avg", "kernel": 8},
            {"type": "fc", "units": 10},
        ],
    },
)
def fc_dominates_params(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Reports conv networks whose fc layers hold more than half of the parameters, at the first fc layer that
    reads a spatial volume (directly or through a flatten): its FC ⇔ CONV form and what global average
    pooling before it would save. Where every fc layer already reads a 1×1 volume (after global pooling),
    there is nothing to pool: the message says so.

    ## Why is this bad
    CS231n on VGG16: most of its 138M parameters (about 89 %) sit in the fc layers, most of those in the
    first one over 7×7×512. An fc layer over H×W×D is a conv with F = H×W and K = units, giving 1×1×units
    with the same parameters; averaging the volume to 1×1×D first (global average pooling, as in
    GoogLeNet and ResNet) cuts its weights by a factor H·W at little loss in accuracy.

    ## Use instead
    `{"type": "pool", "mode": "avg", "kernel": [H, W]}` before the first fc layer, or fewer fc units.
    """
    fcs = [layer for layer in net.layers if layer.type == "fc"]
    fc_params = sum(layer.params for layer in fcs)
    total = net.total_params
    if not fcs or 2 * fc_params <= total or not any(layer.traits.convolution for layer in net.layers):
        return  # without convs (softmax regression, an MLP) the fc layers are all there is
    volumes = [(layer, _fc_volume(net, layer)) for layer in fcs]
    fc, volume = next(((layer, v) for layer, v in volumes if v.height * v.width > 1), volumes[0])
    message = f"fc layers hold {fc_params:,} of {total:,} parameters ({100 * fc_params / total:.1f} %)"
    if volume.height * volume.width > 1:
        units = fc.output_shape.depth
        side = str(volume.height) if volume.height == volume.width else f"{volume.height}×{volume.width}"
        saving = (volume.height * volume.width - 1) * volume.depth * units
        message += (
            f". This fc over {volume} is a conv with F = {side}, K = {units} giving 1×1×{units} (the same"
            f" {fc.params:,} params); global average pooling to 1×1×{volume.depth} before it would save"
            f" ({volume.height}·{volume.width} − 1)·{volume.depth}·{units} = {saving:,} params"
            f" ({total - saving:,} in total)"
        )
    else:
        message += (
            f"; they read 1×1 volumes already (global pooling or a flattened 1×1), so only fewer units"
            f" would shrink them: {fc.label} maps {fc.input_shape.depth:,} values to {fc.output_shape.depth:,}"
        )
    yield Hit(fc.index, message)


def _last_spatial(net: NetworkFacts) -> tuple[LayerFacts | None, list[str]]:
    """The output's last spatial layer and, in order, what after it sees the whole image.

    Walks back from the last layer through its inputs: past fc, flatten and global pooling (which see the
    whole image) and layers that do not change the field (activations, normalisation, dropout, zero padding,
    merges of 1×1 volumes), to a conv or pool window, a transposed conv, or a merge
    whose output is still H×W > 1 (the analysis gives a merge the largest field of its inputs).
    """
    whole: list[str] = []
    layer: LayerFacts | None = net.layers[-1] if net.layers else None
    while layer is not None:
        out = layer.output_shape
        if layer.window is not None or layer.traits.convolution or (layer.traits.merge and out.height * out.width > 1):
            return layer, whole[::-1]
        if layer.type == "fc" and "the fc layers" not in whole:
            whole.append("the fc layers")
        elif layer.traits.pooling and layer.traits.whole_input:
            whole.append("the global pooling")
        sources = [net.layers[source] for source in layer.inputs if source >= 0]
        layer = max(sources, key=lambda other: other.rf_rows.size * other.rf_cols.size, default=None)
    return None, whole


@rule(
    "CC402",
    "receptive-field-too-small",
    Severity.INFO,
    summary="The last conv/pool layer's receptive field does not cover the input.",
    bad={"input": [32, 32, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}]},
    good={
        "input": [8, 8, 1],
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "pool", "kernel": 2, "stride": 2},
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
        ],
    },
)
def receptive_field_too_small(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Compares the receptive field of the output's last spatial volume with the input size: walking back
    from the last layer through fc, flatten and global pooling, the last conv or pool window, transposed
    conv, or merge that still has H×W > 1 (a merge sees the largest field of its branches).

    ## Why is this bad
    The receptive field grows by (F − 1)·jump per layer; when the last spatial layer's units still see
    less than the whole image, no conv feature can relate opposite corners, and only the fc layers (if any)
    combine the parts. CS231n's stacks of 3×3 convs and pools exist to grow it.

    ## Use instead
    More conv layers or pools (each 3×3 conv adds 2 jumps, each pool doubles the jump), or larger strides.
    """
    last, whole = _last_spatial(net)
    if last is None or last.input_shape.empty:
        return
    height, width = net.input_shape.height, net.input_shape.width
    rows, cols = last.rf_rows.size, last.rf_cols.size
    if rows >= height and cols >= width:
        return
    if whole:
        verb = "sees" if whole == ["the global pooling"] else "see"
        seen = f"only {' and '.join(whole)} after it {verb} the whole image"
    else:
        seen = "no layer sees the whole image"
    yield Hit(
        last.index,
        f"the last {last.type} layer's units see {rows}×{cols} input pixels, less than the {height}×{width} input: "
        + seen,
    )


@rule(
    "CC403",
    "activation-memory-over-budget",
    Severity.INFO,
    summary="The activations of one example take more memory than the budget.",
    bad={"input": [4096, 4096, 3], "layers": [{"type": "conv", "filters": 16, "kernel": 3, "padding": 1}]},
    good={"input": [224, 224, 3], "layers": [{"type": "conv", "filters": 16, "kernel": 3, "padding": 1}]},
)
def activation_memory_over_budget(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Adds up every volume of one example (the input included, float32) and compares it with the activation
    budget (`activation_budget_bytes`, 512 MiB by default). The finding is about the whole network; the
    message names the largest volume.

    ## Why is this bad
    CS231n: the activations, not the parameters, usually bound the batch size on a GPU, and the first
    conv layers at full resolution hold most of them (VGG16: about 24M values, 93 MB per image forward,
    twice that with the backward pass).

    ## Use instead
    Downsample earlier (a stride-2 first conv or an early pool), fewer filters at full resolution, or a
    smaller input.
    """
    budget = settings.activation_budget_bytes
    if net.activation_bytes <= budget:
        return
    biggest = max(net.layers, key=lambda layer: layer.output_shape.values)
    name, shape = (
        ("the input", net.input_shape)
        if net.input_shape.values >= biggest.output_shape.values
        else (f"{biggest.label}'s output", biggest.output_shape)
    )
    yield Hit(
        None,
        f"activations take {human_bytes(net.activation_bytes)} per example ({net.activation_values:,} float32 values,"
        f" the input included), over the {human_bytes(budget)} budget; the largest volume is {name}, {shape}"
        f" ({human_bytes(shape.values * BYTES_PER_FLOAT32)})",
    )


@rule(
    "CC404",
    "pool-replaceable-by-stride",
    Severity.INFO,
    summary="A stride-2 pool after a conv could be a stride-2 conv (the All Convolutional Net).",
    bad={
        "input": [28, 28, 1],
        "layers": [
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "pool", "kernel": 2, "stride": 2},
        ],
    },
    good={
        "input": [28, 28, 1],
        "layers": [{"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "padding": 1}, {"type": "relu"}],
    },
    default_enabled=False,
)
def pool_replaceable_by_stride(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Reports max and avg pools with S=2 that read a conv (through a ReLU, an activation, normalisation or
    dropout), with the conv that could replace them and what it costs. Off by default: pooling is not wrong.

    ## Why is this bad
    Springenberg et al., "Striving for Simplicity: The All Convolutional Net": a pool is a fixed conv; a
    conv with the pool's F and S and K = D learns the downsampling instead, and matched or beat max pooling
    on CIFAR-10, at the price of the conv's parameters. CS231n notes the trend away from pooling layers.

    ## Use instead
    `{"type": "conv", "filters": D, "kernel": F, "stride": 2}` in place of the pool, or S=2 in the conv before
    it and no pool.
    """
    for layer in net.layers:
        window = layer.window
        if layer.type != "pool" or window is None:
            continue  # before the walk to the producing conv, which costs a search of the inputs
        mode = getattr(layer.spec, "mode", None)
        previous = only_producer(net, layer)
        while previous is not None and previous.traits.keeps_shape:
            previous = only_producer(net, previous)  # conv → (norm →) ReLU → pool reads the conv
        if (
            mode in ("max", "avg")
            and window.stride == (2, 2)
            and previous is not None
            and sliding_conv(previous)
            and not layer.input_shape.empty
            and window.has_output
        ):
            kh, kw = window.kernel
            side = str(kh) if kh == kw else f"{kh}×{kw}"
            depth = layer.input_shape.depth
            added = kh * kw * depth * depth + depth
            yield Hit(
                layer.index,
                f"this {mode} pool (F = {side}, S = 2) after {previous.label} could be a conv with F = {side},"
                f" S = 2, K = {depth} on the same {layer.input_shape}: the same {layer.output_shape} output, learned,"
                f" for {kh}·{kw}·{depth}·{depth} + {depth} = {added:,} more params (Springenberg et al.)",
            )
