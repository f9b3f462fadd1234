"""Layers that slice or reorder a volume: CC111 (a split outside the depth), CC112 (shuffle groups that do not
divide the depth), CC113 (a crop that leaves nothing), CC114 (blocks of pixels that do not divide the volume),
CC115 (a reshape to another count of values)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.arithmetic import divisors
from convcalc.findings import Fix, Severity
from convcalc.rules.base import Hit, Settings, layer_rule
from convcalc.rules.fixing import regroup_fixes
from convcalc.text import plural

if TYPE_CHECKING:
    from convcalc.layers import ChannelShuffle, Cropping, DepthToSpace, Reshape, SpaceToDepth, Split


@layer_rule(
    "CC111",
    "split-outside-depth",
    Severity.ERROR,
    summary="A split asks for channels the volume does not have: parts that do not divide D, or a stop past D.",
    bad={"input": [8, 8, 6], "layers": [{"type": "split", "parts": 4, "part": 0}]},
    good={"input": [8, 8, 6], "layers": [{"type": "split", "parts": 2, "part": 0}]},
)
def split_outside_depth(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
    """
    ## What it does
    Checks that a `split` into `parts` equal parts divides the input depth D, and that a split by
    `start`/`stop` ends at or before channel D.

    ## Why is this bad
    Equal parts of a depth n does not divide are not equal: PyTorch's `chunk` makes the last one smaller,
    a slice of ⌊D/n⌋ channels (what convcalc counts and exports) drops the rest. Channels past D do not
    exist: TensorFlow's slicing clamps silently to fewer channels than the spec says. Either way the
    network is not the one written down.

    ## Use instead
    A part count that divides D (ShuffleNetV2 splits in two), or a stop ≤ D.
    """
    if layer.type != "split" or layer.input_shape.empty:
        return None
    spec = cast("Split", layer.spec)
    depth = layer.input_shape.depth
    if spec.parts is not None and spec.part is not None:
        if depth % spec.parts == 0:
            return None
        parts, part = spec.parts, spec.part
        near = sorted((g for g in divisors(depth) if g > part and g > 1), key=lambda g: (abs(g - parts), g))
        fixes = tuple(Fix(f"parts={g} → {depth // g} channels each", layer.path, {"parts": g}) for g in near[:2])
        return Hit(
            layer.index,
            f"parts = {spec.parts} must divide the input depth D = {depth} (remainder {depth % spec.parts}):"
            f" part {spec.part} would be {depth // spec.parts} of {depth} channels, and the last"
            f" {depth % spec.parts} belong to no part",
            fixes,
        )
    elif spec.start is not None and spec.stop is not None and spec.stop > depth:
        fixes = (Fix(f"stop={depth} → channels [{spec.start}, {depth})", layer.path, {"stop": depth}),)
        return Hit(
            layer.index,
            f"channels [{spec.start}, {spec.stop}) reach past the input depth D = {depth} by"
            f" {spec.stop - depth}: only {max(depth - spec.start, 0)} exist",
            fixes if spec.start < depth else (),
        )
    return None


@layer_rule(
    "CC112",
    "shuffle-groups-do-not-divide",
    Severity.ERROR,
    summary="A channel shuffle's groups must divide the input depth D.",
    bad={"input": [8, 8, 6], "layers": [{"type": "channel_shuffle", "groups": 4}]},
    good={"input": [8, 8, 6], "layers": [{"type": "channel_shuffle", "groups": 3}]},
    tensorflow_refuses=True,
)
def shuffle_groups_do_not_divide(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
    """
    ## What it does
    Checks that `channel_shuffle` with `groups: g` splits the depth D into g groups of D/g channels.

    ## Why is this bad
    The shuffle reshapes H×W×D into H×W×g×(D/g) and swaps the last two axes; when g does not divide D
    there is no such shape, and TensorFlow refuses the reshape ("The total size of the tensor must be
    unchanged").

    ## Use instead
    The group count of the grouped convs around it (ShuffleNet v1), or 2 (ShuffleNetV2), dividing D.
    """
    if layer.type != "channel_shuffle" or layer.input_shape.empty:
        return None
    spec = cast("ChannelShuffle", layer.spec)
    depth, groups = layer.input_shape.depth, spec.groups
    if depth % groups == 0:
        return None
    near = sorted((g for g in divisors(depth) if g > 1), key=lambda g: (abs(g - groups), g))
    fixes = regroup_fixes(layer, depth, near)
    return Hit(
        layer.index,
        f"groups = {groups} must divide the input depth D = {depth} (remainder {depth % groups});"
        " TensorFlow cannot reshape the channels into equal groups",
        fixes,
    )


@layer_rule(
    "CC113",
    "crop-leaves-nothing",
    Severity.ERROR,
    summary="A cropping removes every row or every column of its input.",
    bad={"input": [4, 4, 3], "layers": [{"type": "cropping", "crop": 2}]},
    good={"input": [4, 4, 3], "layers": [{"type": "cropping", "crop": 1}]},
    tensorflow_refuses=True,
)
def crop_leaves_nothing(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
    """
    ## What it does
    Checks that a `cropping` leaves at least one row and one column: top + bottom < H and
    left + right < W.

    ## Why is this bad
    There is no output; Keras refuses the layer ("Values in `cropping` argument should be smaller than the
    corresponding spatial dimension"). Usually the crop was sized for a larger input (a U-Net skip
    connection cropped for another input size).

    ## Use instead
    A crop of the difference between the two sizes that must meet, half on each side.
    """
    if layer.type != "cropping" or layer.input_shape.empty:
        return None
    spec = cast("Cropping", layer.spec)
    top, bottom, left, right = spec.crop
    shape = layer.input_shape
    problems = []
    if top + bottom >= shape.height:
        problems.append(f"top + bottom = {top} + {bottom} = {top + bottom} rows of H = {shape.height}")
    if left + right >= shape.width:
        problems.append(f"left + right = {left} + {right} = {left + right} columns of W = {shape.width}")
    if problems:
        return Hit(layer.index, f"the crop removes {' and '.join(problems)}: nothing is left of {shape}")
    return None


@layer_rule(
    "CC114",
    "block-does-not-divide",
    Severity.ERROR,
    summary="A depth_to_space block r whose r² does not divide D, or a space_to_depth block that does not divide H×W.",
    bad={"input": [9, 9, 8], "layers": [{"type": "space_to_depth", "block": 2}]},
    good={"input": [9, 9, 8], "layers": [{"type": "space_to_depth", "block": 3}]},
    tensorflow_refuses=True,
)
def block_does_not_divide(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
    """
    ## What it does
    Checks that a `depth_to_space` with `block: r` finds r² channels for every output channel (r² divides the
    input depth D), and that a `space_to_depth` with `block: r` cuts H and W into whole r×r blocks (r divides
    both).

    ## Why is this bad
    Each r×r block of pixels on one side is the r²·C channels of one pixel on the other. Without whole blocks
    there is no such rearrangement: TensorFlow refuses it ("Input depth must be divisible by block_size *
    block_size", "Image width … should be divisible by block_size") and so does PyTorch's pixel shuffle;
    what convcalc counts (the floor) leaves out the rest.

    ## Use instead
    For sub-pixel upsampling by r, a conv with r²·C filters before the depth_to_space (ESPCN); for a
    space_to_depth, an input whose H and W the block divides, or a block that divides them.
    """
    shape = layer.input_shape
    if layer.type not in ("depth_to_space", "space_to_depth") or shape.empty:
        return None
    spec = cast("DepthToSpace | SpaceToDepth", layer.spec)
    r = spec.block
    if layer.type == "depth_to_space":
        if shape.depth % (r * r) == 0:
            return None
        return Hit(
            layer.index,
            f"block r = {r} needs r² = {r * r} channels per output channel, and the input depth D = {shape.depth}"
            f" leaves {shape.depth % (r * r)} over",
            _block_fixes(layer, r, [b for b in divisors(shape.depth) if b > 1 and shape.depth % (b * b) == 0]),
        )
    if shape.height % r == 0 and shape.width % r == 0:
        return None
    axes = [("H", shape.height, "row"), ("W", shape.width, "column")]
    sizes = " and ".join(f"{what} = {size}" for what, size, _ in axes if size % r)
    left = " and ".join(plural(size % r, unit) for _, size, unit in axes if size % r)
    return Hit(
        layer.index,
        f"block r = {r} does not divide {sizes}: the last {left} left in no block",
        _block_fixes(layer, r, [b for b in divisors(shape.height) if b > 1 and shape.width % b == 0]),
    )


def _block_fixes(layer: LayerFacts, r: int, blocks: list[int]) -> tuple[Fix, ...]:
    """Up to two of the block sizes that divide, nearest the block r given."""
    nearest = sorted(blocks, key=lambda b: (abs(b - r), b))[:2]
    return tuple(Fix(f"block={b}", layer.path, {"block": b}) for b in nearest)


@layer_rule(
    "CC115",
    "reshape-changes-size",
    Severity.ERROR,
    summary="A reshape to a volume h×w×d that does not hold as many values as its input, H·W·D.",
    bad={"input": [1, 1, 64], "layers": [{"type": "fc", "units": 784}, {"type": "reshape", "shape": [7, 7, 32]}]},
    good={"input": [1, 1, 64], "layers": [{"type": "fc", "units": 784}, {"type": "reshape", "shape": [7, 7, 16]}]},
    tensorflow_refuses=True,
)
def reshape_changes_size(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
    """
    ## What it does
    Checks that a `reshape` to `shape` [h, w, d] keeps the count of its input: h·w·d = H·W·D.

    ## Why is this bad
    A reshape only rearranges values. TensorFlow refuses another count ("Input to reshape is a tensor with 784
    values, but the requested shape has 1568"), and so does PyTorch's `view`: the network cannot be built,
    and what convcalc counts after it is a volume that cannot exist. It is most often a generator's Dense
    sized for another volume (7·7·128 units for a [7, 7, 256] reshape).

    ## Use instead
    A shape whose product is the input's count: the depth H·W·D/(h·w) where h·w divides it, or the Dense's
    units set to h·w·d.
    """
    shape = layer.input_shape
    if layer.type != "reshape" or shape.empty:
        return None
    spec = cast("Reshape", layer.spec)
    height, width, depth = spec.shape
    if height * width * depth == shape.values:
        return None
    fixes: tuple[Fix, ...] = ()
    if shape.values % (height * width) == 0:
        fitting = [height, width, shape.values // (height * width)]
        fixes = (Fix(f"shape={fitting} → {'×'.join(map(str, fitting))}", layer.path, {"shape": fitting}),)
    return Hit(
        layer.index,
        f"shape {height}×{width}×{depth} holds {height * width * depth:,} values, its input {shape}"
        f" {shape.values:,}: a reshape keeps the count",
        fixes,
    )
