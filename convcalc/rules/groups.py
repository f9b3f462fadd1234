"""CC104: a grouped conv whose groups do not divide its channels and filters; CC109: a group_norm whose groups
do not divide its depth."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.arithmetic import divisors
from convcalc.findings import Fix, Severity
from convcalc.rules.base import Hit, Settings, layer_rule
from convcalc.rules.fixing import regroup_fixes

if TYPE_CHECKING:
    from convcalc.layers import Conv, GroupNorm


@layer_rule(
    "CC104",
    "groups-do-not-divide",
    Severity.ERROR,
    summary="A grouped conv's groups must divide both its input depth D and its filters K.",
    bad={"input": [8, 8, 6], "layers": [{"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "groups": 4}]},
    good={"input": [8, 8, 6], "layers": [{"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "groups": 2}]},
    tensorflow_refuses=True,
)
def groups_do_not_divide(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
    """
    ## What it does
    Checks that a conv with `groups: g` splits its input channels and its filters into g equal groups:
    g must divide D and K.

    ## Why is this bad
    Each group convolves D/g input channels into K/g filters; TensorFlow refuses a layer where either
    division leaves a remainder ("The number of input channels is not divisible by the number of groups").

    ## Use instead
    A group count that divides both (AlexNet's two towers: groups = 2 with D = 96 and K = 256).
    """
    if layer.type != "conv" or layer.input_shape.empty:
        return None
    spec = cast("Conv", layer.spec)
    if spec.groups == 1:
        return None
    depth, filters, groups = layer.input_shape.depth, spec.filters, spec.groups
    if depth % groups == 0 and filters % groups == 0:
        return None
    both = math.gcd(depth, filters)
    nearest = sorted(divisors(both), key=lambda g: (abs(g - groups), g))
    fixes = tuple(
        Fix(f"groups={g} → {depth // g} channels and {filters // g} filters per group", layer.path, {"groups": g})
        for g in nearest[:2]
    )
    return Hit(
        layer.index,
        f"groups = {groups} must divide the input depth D = {depth} (remainder {depth % groups}) and the"
        f" filters K = {filters} (remainder {filters % groups}); TensorFlow refuses this layer",
        fixes,
    )


@layer_rule(
    "CC109",
    "norm-groups-do-not-divide",
    Severity.ERROR,
    summary="A group_norm's groups must divide the depth D of its input.",
    bad={"input": [8, 8, 6], "layers": [{"type": "group_norm", "groups": 4}]},
    good={"input": [8, 8, 6], "layers": [{"type": "group_norm", "groups": 3}]},
    tensorflow_refuses=True,
)
def norm_groups_do_not_divide(net: NetworkFacts, layer: LayerFacts, settings: Settings) -> Hit | None:
    """
    ## What it does
    Checks that a `group_norm` with `groups: G` cuts its input's D channels into G equal groups: G must
    divide D.

    ## Why is this bad
    Each group is normalised over H, W and its D/G channels; Keras refuses the layer when it is built
    ("Number of groups (4) must be a multiple of the number of channels (6)"), and so does PyTorch's GroupNorm.

    ## Use instead
    A group count that divides D (32 groups for 64, 128 … channels, as in the paper; 1 is layer normalisation
    over H, W and D, D is instance normalisation).
    """
    if layer.type != "group_norm" or layer.input_shape.empty:
        return None
    spec = cast("GroupNorm", layer.spec)
    depth, groups = layer.input_shape.depth, spec.groups
    if depth % groups == 0:
        return None
    nearest = sorted(divisors(depth), key=lambda g: (abs(g - groups), -g))
    fixes = regroup_fixes(layer, depth, nearest)
    return Hit(
        layer.index,
        f"groups = {groups} must divide the input depth D = {depth} ({depth} = {depth // groups}·{groups}"
        f" + {depth % groups}); TensorFlow refuses this layer",
        fixes,
    )
