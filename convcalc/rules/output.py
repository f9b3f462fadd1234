"""How a network ends: CC103 (not 1×1×classes), CC305 (a ReLU on the logits), CC307 (not a vector)."""

from __future__ import annotations

from collections.abc import Iterator

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.findings import Edit, Fix, Severity
from convcalc.layers.base import UNIT_STEP
from convcalc.rules.base import Hit, Settings, rule
from convcalc.rules.fixing import pair_value, rewindow
from convcalc.rules.graph import kind_of, output_head, reaching_output
from convcalc.text import value_text


@rule(
    "CC103",
    "output-not-classes",
    Severity.ERROR,
    summary="`classes` is set but the last volume is not 1×1×classes.",
    bad={"input": [4, 4, 1], "classes": 10, "layers": [{"type": "conv", "filters": 10, "kernel": 3}]},
    good={"input": [4, 4, 1], "classes": 10, "layers": [{"type": "conv", "filters": 10, "kernel": 4}]},
)
def output_not_classes(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    When the spec declares `classes: n`, checks that the network ends in a 1×1×n volume — one score per class.

    ## Why is this bad
    A classifier's last layer must produce exactly one value per class; anything else fails at the loss
    ("logits and labels must have the same first dimension") or silently trains the wrong thing.

    ## Use instead
    End in `{"type": "fc", "units": n}`, or in a conv whose kernel covers the whole remaining volume with
    K = n filters (the FC ⇔ CONV equivalence).
    """
    classes = net.network.classes
    if classes is None or not net.layers:
        return
    last = net.layers[-1]
    if last.input_shape.empty:
        return
    out = last.output_shape
    if (out.height, out.width, out.depth) != (1, 1, classes):
        yield Hit(last.index, f"the network ends in {out}, not 1×1×{classes} (classes = {classes})", _classes_fix(net))


def _classes_fix(net: NetworkFacts) -> tuple[Fix, ...]:
    """The logits layer (the last with weights, on the output path) with one unit or filter per class, where
    the output is already a vector: fc's units, a conv's filters."""
    logits, after = output_head(net)
    classes = net.network.classes
    last = net.layers[-1]
    out = last.output_shape
    if classes is None:
        return ()
    if (out.height, out.width) != (1, 1):
        # A last conv over its whole input (FC ⇔ CONV) with one filter per class.
        whole = _whole_volume_fix(last) if last.type == "conv" else None
        if whole is None:
            return ()
        changes = {**whole.set, "filters": classes}
        return (
            Fix(
                f"{whole.title.split(' → ')[0]}, K={classes} → 1×1×{classes} (conv over the whole volume)",
                last.path,
                changes,
            ),
        )
    if logits is None:
        return ()
    if any(layer.output_shape.depth != logits.output_shape.depth for layer in after):
        return ()  # something after the logits changes the depth (a flatten of a volume): no one-field fix
    field = "units" if logits.type == "fc" else "filters" if hasattr(logits.spec, "filters") else None
    if field is None:
        return ()
    return (Fix(f"{logits.name}: {field}={classes} → 1×1×{classes}", logits.path, {field: classes}),)


@rule(
    "CC305",
    "relu-after-logits",
    Severity.WARNING,
    summary="A ReLU after the last layer with weights clips the class scores (logits).",
    bad={
        "input": [8, 8, 1],
        "layers": [{"type": "fc", "units": 16}, {"type": "relu"}, {"type": "fc", "units": 10}, {"type": "relu"}],
    },
    good={"input": [8, 8, 1], "layers": [{"type": "fc", "units": 16}, {"type": "relu"}, {"type": "fc", "units": 10}]},
)
def relu_after_logits(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    Finds the network's output path — from the last layer back through single-input layers without
    weights to the last conv or fc layer, the logits — and flags a ReLU (a `relu`, or an `activation` of
    kind relu or relu6) on it. ReLUs inside branches that end in a merge are not logits; a final softmax
    turns logits into probabilities on purpose and is not flagged.

    ## Why is this bad
    The last layer with weights produces the class scores (logits) that softmax or a cross-entropy loss
    expects; they must be free to be negative. A ReLU clips them to ≥ 0, so every negative score becomes a
    tie at 0 and its gradient dies. CS231n's pattern ends in FC, not FC → RELU.

    ## Use instead
    End in the fc (or conv) layer itself (or in a softmax).
    """
    last, after = output_head(net)
    if last is None:
        return
    relu = next((layer for layer in after if kind_of(layer) in ("relu", "relu6")), None)
    if relu is not None:
        name = "ReLU6" if kind_of(relu) == "relu6" else "ReLU"
        bound = "to [0, 6]" if name == "ReLU6" else "to ≥ 0"
        # Removing it is safe where no layer names it (the next layer then reads what it read).
        # Remove every ReLU on the output path, where no layer names them (the next layer reads what they read).
        relus = [layer for layer in after if kind_of(layer) in ("relu", "relu6")]
        named = {name for layer in net.layers for name in layer.spec.inputs or ()}
        fixes: tuple[Fix, ...] = ()
        if not any(layer.spec.name in named for layer in relus):
            gone = ", ".join(layer.name for layer in relus)
            also = tuple(Edit(layer.path, remove=True) for layer in relus[1:])
            fixes = (Fix(f"remove {gone}: the logits stay free", relu.path, remove=True, also=also),)
        yield Hit(
            relu.index,
            f"a {name} after {last.label}, the last layer with weights: it clips its {last.output_shape} scores"
            f" (logits) {bound}, where softmax and the loss expect any real value",
            fixes,
        )


def _whole_volume_fix(layer: LayerFacts) -> Fix | None:
    """Make the last conv or pool cover its whole input (FC ⇔ CONV, or a global pool), checked by re-computing."""
    if layer.window is None:
        return None
    shape = layer.input_shape
    kernel = (shape.height, shape.width)
    new = rewindow(layer, kernel=kernel, stride=(1, 1), padding=(0, 0))
    out = new.output(layer.output_shape.depth)
    if (out.height, out.width) != (1, 1):
        return None
    what = "conv over the whole volume" if layer.type == "conv" else "global pool"
    return Fix(
        f"F={value_text(pair_value(*kernel))} → {out} ({what})",
        layer.path,
        {"kernel": pair_value(*kernel), "stride": 1, "padding": 0},
    )


def _resamples(reached: list[LayerFacts]) -> bool:
    """Whether a layer on the way to the output (``reached``) moves the volume to another grid (a stride, a pool,
    an upsampling, a reshape to a new volume: a generator's): not padding, nor a layer that sees the whole input (a
    squeeze-and-excite gate's global pool, an auxiliary head), nor a dead end."""
    return any(
        layer.traits.new_grid or (not layer.traits.whole_input and layer.spec.grid_step(layer.window) != UNIT_STEP)
        for layer in reached
    )


def _upsamples_into_output(reached: list[LayerFacts]) -> bool:
    """Whether the output is finer than a map it is made from: a layer that makes the grid finer (an upsampling,
    a strided transposed conv, a depth_to_space) and a map coarser than the output (not a 1×1 context vector: a
    pooled global context broadcast back is no decoder) both on the way to the output; a decoder, which a
    classifier does not have."""
    out = reached[-1].output_shape
    coarser = any(
        (shape.height, shape.width) not in ((1, 1), (out.height, out.width))
        and shape.height <= out.height
        and shape.width <= out.width
        for shape in (layer.output_shape for layer in reached)
    )
    # the shapes first: they are plain numbers, and most networks have no coarser map on the way
    return coarser and any(min(layer.spec.grid_step(layer.window)) < 1 for layer in reached)


@rule(
    "CC307",
    "output-not-vector",
    Severity.WARNING,
    summary="The network does not end in a 1×1×n volume of class scores.",
    bad={"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}]},
    good={"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 4, "kernel": 8}]},
)
def output_not_vector(net: NetworkFacts, settings: Settings) -> Iterator[Hit]:
    """
    ## What it does
    When the spec does not declare `classes`, checks that the last volume is 1×1×n (CC103 checks the
    count when `classes` is set). A network that moves to another grid (a stride, a pool, an upsampling, a
    reshape; not padding, nor a squeeze-and-excite gate) and comes back to the input's size or larger, or to its
    grid (one output per input pixel, however many: the original U-Net's unpadded convs end smaller than its
    input), or that upsamples anything it outputs (a heatmap at a quarter of the input's size, fused from coarser
    maps: HRNet, a stacked hourglass, CenterNet), predicts densely by design and is not flagged: an encoder-decoder
    (U-Net, DeepLab, LRASPP: a score per pixel), a super-resolution network (ESPCN's depth_to_space), a pose or
    keypoint network, or a generator (a vector reshaped into an image). Nor is a map of one score per position
    (a depth of 1), taken for a score map by design: a PatchGAN discriminator's real-or-fake per patch, a crowd
    counter's density map. (A binary classifier that lost its pooling looks the same and goes unreported.)

    ## Why is this bad
    A classifier ends in one score per class, a 1×1×n volume. A network that ends in a smaller H×W×D volume
    than its input, or one that never leaves its input's grid, is most likely unfinished: a classification
    head is missing.

    ## Use instead
    End in `{"type": "fc", "units": n}`, or in a conv whose kernel covers the whole remaining volume.
    """
    if net.network.classes is not None or not net.layers:
        return
    last = net.layers[-1]
    out = last.output_shape
    if last.input_shape.empty or out.empty or (out.height, out.width) == (1, 1):
        return
    size = (net.input_shape.height, net.input_shape.width)
    # On the input's grid by its field's jump, unless a whole-input context (a global pool broadcast back) is
    # merged in, whose field stands for no grid
    on_path = reaching_output(net)
    reached = [layer for layer in net.layers if layer.index in on_path]  # in order, ending with the last
    context = any(layer.traits.whole_input for layer in reached)
    on_grid = not context and max(last.rf_rows.jump, last.rf_cols.jump) <= 1
    back = (out.height >= size[0] and out.width >= size[1]) or on_grid
    if (back and _resamples(reached)) or _upsamples_into_output(reached):
        return  # down and back up (or up), to the input's size or grid, or partly: a dense prediction
    if out.depth == 1:
        return  # one score per position: a map of scores by design (PatchGAN, a density map)
    fix = _whole_volume_fix(last)
    yield Hit(
        last.index,
        f"the network ends in {out}, not a 1×1×n vector of class scores",
        () if fix is None else (fix,),
    )
