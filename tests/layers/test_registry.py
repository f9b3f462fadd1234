"""convcalc.layers: every registered kind answers every question, and an incomplete kind is refused.

One walk over the registry, so a new kind is tested as soon as it is listed.
"""

from __future__ import annotations

import ast
import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from convcalc.analysis import LayerFacts, analyze
from convcalc.export.plan import plan_export
from convcalc.layers import (
    KIND_HOMES,
    KINDS,
    LAYER_MODELS,
    REGISTRY,
    TYPE_NAMES,
    Computed,
    Conv,
    IncompleteKindError,
    KindHome,
    LayerSpec,
    Registry,
    Shape,
    Traits,
    kind_of_type,
    missing_capabilities,
    registry_of,
)
from convcalc.spec import Network

KIND_IDS = [kind.kind_name for kind in KINDS]
PACKAGE = Path(__file__).resolve().parents[2] / "convcalc"


def example_layer(kind: type[LayerSpec]) -> LayerFacts:
    """The kind's own example, analysed on an 8×8×4 input."""
    net = analyze(Network.model_validate({"input": [8, 8, 4], "layers": [dict(kind.example)]}))
    return net.layers[0]


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_every_kind_declares_every_capability(kind: type[LayerSpec]) -> None:
    assert missing_capabilities(kind) == []
    assert isinstance(kind.traits, Traits)
    assert kind.drawing in ("volume", "bar", "merge", "inside", "prefix")
    for name in kind.type_names():
        assert LAYER_MODELS[name] is kind


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_the_spec_the_analysis_and_the_notation_know_every_kind(kind: type[LayerSpec]) -> None:
    layer = example_layer(kind)
    assert type(layer.spec) is kind
    assert layer.type == kind.kind_name
    assert not layer.output_shape.empty
    assert isinstance(layer.spec.notation(layer.window), str)
    assert layer.spec.caption()
    assert all(step > 0 for step in layer.spec.grid_step(layer.window))
    assert isinstance(layer.spec.is_nonlinear(), bool)
    # The kernels TensorFlow holds add up to the weights convcalc counts (a batchnorm's γ is no kernel).
    kernels = layer.spec.weight_shapes(layer.input_shape)
    assert sum(math.prod(shape) for shape in kernels) == (layer.weights if kind.traits.weighted else 0)
    if kind.traits.keeps_shape:
        assert layer.output_shape == layer.input_shape
    if kind.traits.whole_input:
        assert (layer.output_shape.height, layer.output_shape.width) == (1, 1)
    if not kind.traits.weighted and not kind.macs_of_activations:
        assert layer.macs == 0


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_every_kind_exports_to_keras_and_imports_back(kind: type[LayerSpec]) -> None:
    layer = example_layer(kind)
    plan = plan_export(analyze(Network.model_validate({"input": [8, 8, 4], "layers": [dict(kind.example)]})))
    for op in plan.ops:
        assert op.layer in REGISTRY.keras_ops, f"no kind declares the tf.nn code of {op.layer}"
    main = plan.layers[0].main.layer
    assert main in REGISTRY.keras_readers, f"the Keras import cannot read back {main}, which {kind.__name__} exports"
    # A kind exported as a pattern of other kinds' layers is read back by their readers, which name it.
    named = (f"{reader.__name__} {reader.__doc__}" for reader in REGISTRY.keras_readers.values())
    assert kind.keras_readers or any(kind.kind_name in text for text in named)
    assert layer.spec.tensorflow_problem(layer.input_shape, layer.output_shape) is None


def test_every_keras_op_a_kind_declares_is_named_once() -> None:
    owners: dict[str, str] = {}
    for kind in KINDS:
        for name in (*kind.keras_ops, *kind.keras_readers):
            owners.setdefault(name, kind.__name__)
    assert set(REGISTRY.keras_ops) | set(REGISTRY.keras_readers) == set(owners)


class _HalfKind(LayerSpec):
    """A kind with a model and traits but no shape arithmetic: it must not count as an identity."""

    type: Literal["half"]

    kind_name = "half"
    traits = Traits(
        weighted=False,
        convolution=False,
        mixes_channels=False,
        keeps_shape=False,
        merge=False,
        whole_input=False,
        pooling=False,
    )
    drawing = "volume"
    example = {"type": "half"}  # noqa: RUF012
    keras_readers = {}  # noqa: RUF012
    keras_ops = {}  # noqa: RUF012

    def notation(self, window: Any) -> str:
        return ""


def test_an_incomplete_kind_is_refused_by_name() -> None:
    missing = missing_capabilities(_HalfKind)
    assert "compute" in missing and "receptive_field" in missing and "to_keras" in missing
    assert "to_torch" in missing  # a kind that forgets its PyTorch mapping is named too
    assert "notation" not in missing
    with pytest.raises(IncompleteKindError, match=r"_HalfKind does not declare: compute, receptive_field"):
        Registry([*KINDS, _HalfKind])
    # And calling a capability it lacks raises rather than passing the volume through.
    with pytest.raises(NotImplementedError, match="compute"):
        _HalfKind(type="half").compute(Shape(8, 8, 4), [Shape(8, 8, 4)])


def test_a_type_or_keras_class_claimed_twice_is_refused() -> None:
    with pytest.raises(IncompleteKindError, match="type 'conv' is claimed twice"):
        Registry([Conv, Conv])

    class Shadow(Conv):
        type: Literal["shadow"]  # type: ignore[assignment]

    with pytest.raises(IncompleteKindError, match="'Conv2D' is claimed twice"):
        Registry([Conv, Shadow])


def test_computed_defaults_are_only_zero_counts() -> None:
    # The only defaults a kind inherits are "no parameters, no MACs": the shape is always its own answer.
    assert Computed(Shape(1, 1, 1)).weights == 0
    with pytest.raises(TypeError):
        Computed()  # type: ignore[call-arg]


KIND_WORDS = {
    "depthwise": "Depthwise",
    "separable": "Separable",
    "conv_transpose": "ConvTranspose",
    "global_pool": "GlobalPool",
    "zero_padding": "ZeroPadding",
    "batchnorm": "BatchNorm",
}


@pytest.mark.parametrize("kind", sorted(KIND_WORDS))
def test_a_kind_is_named_in_few_source_files(kind: str) -> None:
    # One home per kind: its module, the registry, arithmetic for its formula, and at most one more.
    pattern = re.compile(rf"\b({kind}|{KIND_WORDS[kind]})\b")
    naming = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if pattern.search(p.read_text()))
    assert len(naming) <= 4, naming


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_per_channel_filters_agree_with_the_weights(kind: type[LayerSpec]) -> None:
    # "all": as many weights as one F×F filter per output channel (no channel mixing); "first": a per-channel
    # F×F before a part that mixes channels; a kind without a convolution has none.
    layer = example_layer(kind)
    answer = layer.spec.per_channel_filters(layer.input_shape.depth)
    if not layer.traits.convolution:
        assert answer == "none"
    elif answer == "all":
        window = layer.window
        assert window is not None and layer.weights == math.prod(window.kernel) * layer.output_shape.depth


def test_a_conv_with_one_group_per_channel_filters_per_channel() -> None:
    def answer(layer: dict[str, Any]) -> str:
        facts = analyze(Network.model_validate({"input": [8, 8, 4], "layers": [layer]})).layers[0]
        return facts.spec.per_channel_filters(facts.input_shape.depth)

    assert answer({"type": "conv", "filters": 8, "kernel": 3, "groups": 4}) == "all"
    assert answer({"type": "conv", "filters": 8, "kernel": 3, "groups": 2}) == "none"
    assert answer({"type": "conv", "filters": 8, "kernel": 3}) == "none"
    assert answer({"type": "depthwise", "kernel": 3, "multiplier": 2}) == "all"
    assert answer({"type": "separable", "filters": 8, "kernel": 3}) == "first"


def test_kind_homes_say_where_every_kind_lives() -> None:
    # The registry is made from KIND_HOMES, and each line is held to its class: the module it lives in, the
    # `type` values its literal admits (in the union's order) and what the MACs convention says of it.
    assert registry_of(KIND_HOMES).kinds == KINDS
    assert [(kind.__module__.rsplit(".", 1)[1], kind.__name__) for kind in KINDS] == [
        (home.module, home.name) for home in KIND_HOMES
    ]
    assert [(kind.kind_name, kind.traits.weighted, kind.macs_of_activations) for kind in KINDS] == [
        (home.kind_name, home.weighted, home.macs_of_activations) for home in KIND_HOMES
    ]
    assert tuple(LAYER_MODELS) == TYPE_NAMES
    assert all(kind_of_type(name) is LAYER_MODELS[name] for name in TYPE_NAMES)
    assert kind_of_type("Conv") is None and kind_of_type("nope") is None


@pytest.mark.parametrize(
    ("home", "message"),
    [
        (KindHome("conv", "Conv", ("conv", "conv2d")), r"does not match Conv, which lives in convcalc\.layers\.conv"),
        # What the JSON's macs_convention says of a kind without importing it is the class's, too.
        (KindHome("conv", "Conv", ("conv",)), r"does not match Conv.* weighted=True"),
        (KindHome("attention", "AttentionPool", ("attention_pool",)), r"macs_of_activations=True"),
        (KindHome("pool", "Pool", ("pool",), weighted=True), r"does not match Pool.* weighted=False"),
        (KindHome("dense", "Conv", ("conv",)), r"convcalc\.layers\.dense defines no Conv"),
        (KindHome("convs", "Conv", ("conv",)), r"there is no module convcalc\.layers\.convs"),
    ],
)
def test_a_home_that_contradicts_its_kind_is_refused(home: KindHome, message: str) -> None:
    with pytest.raises(IncompleteKindError, match=message):
        registry_of([home])


LAZY_PROBE = """
import json, sys
from convcalc.checking import check_file
from convcalc.report import FORMATS, renderer
from convcalc.report.common import RenderOptions

spec = check_file(sys.argv[1]).spec
for name in FORMATS:
    renderer(name)([spec], RenderOptions())
print(json.dumps(sorted(name.rsplit(".", 1)[1] for name in sys.modules if name.startswith("convcalc.layers."))))
"""
INFRASTRUCTURE = {"base", "fields", "keras", "onnx", "pytorch", "tfnn", "volume", "windowed"}


CONV_ONLY = {"input": [8, 8, 3], "layers": [{"type": "conv", "filters": 4, "kernel": 3}]}


@pytest.mark.parametrize(
    ("example", "families"),
    [
        ("vgg16.json", {"conv", "dense", "elementwise", "pool"}),
        ("resnet50.json", {"conv", "dense", "elementwise", "pool", "norm", "merge", "padding"}),
        # A conv's module builds on the activations' (the activation a Keras conv carries is read as one).
        (CONV_ONLY, {"conv", "elementwise"}),
    ],
)
def test_a_check_imports_only_the_kinds_its_spec_uses(
    example: str | dict[str, Any], families: set[str], tmp_path: Path
) -> None:
    # Each kind's pydantic class costs a cold start ~0.5 ms: a check and its report, in every format, import
    # only the modules of the spec's kinds and of those they build on (a module-level import of another kind's
    # module would undo that; the JSON's `macs_convention`, which names every weighted kind, reads KIND_HOMES).
    if isinstance(example, str):
        file = PACKAGE.parent / "examples" / example
    else:
        file = tmp_path / "spec.json"
        file.write_text(json.dumps(example))
    done = subprocess.run([sys.executable, "-c", LAZY_PROBE, str(file)], capture_output=True, text=True, check=True)
    assert set(json.loads(done.stdout.splitlines()[-1])) == INFRASTRUCTURE | families


API_PROBE = """
import json, sys
import convcalc
convcalc.check(sys.argv[1]).table()
print(json.dumps(sorted(name.rsplit(".", 1)[1] for name in sys.modules if name.startswith("convcalc.layers."))))
"""


def test_the_python_api_imports_only_the_kinds_its_spec_uses_too() -> None:
    # convcalc.check and its Report: the constructors (convcalc.Conv …), which need every kind, are made on first use.
    file = PACKAGE.parent / "examples" / "vgg16.json"
    done = subprocess.run([sys.executable, "-c", API_PROBE, str(file)], capture_output=True, text=True, check=True)
    assert set(json.loads(done.stdout.splitlines()[-1])) == INFRASTRUCTURE | {"conv", "dense", "elementwise", "pool"}


NETWORK_PROBES = [
    # convcalc.building's subclass first: it resolves the inherited annotation in its own module.
    """
from convcalc import Conv, Network
assert Network(input=(8, 8, 3), layers=[Conv(filters=4, kernel=3)]).layers[0].filters == 4
""",
    """
from convcalc.spec import Network, json_schema
network = Network.model_validate({"input": [8, 8, 3], "layers": [{"type": "conv", "filters": 4, "kernel": 3}]})
dumped = network.model_dump(mode="json", exclude_defaults=True)
assert dumped["layers"] == [{"type": "conv", "filters": 4, "kernel": [3, 3]}], dumped
from convcalc import Conv, Network as Built
assert Built(input=(8, 8, 3), layers=[Conv(filters=4, kernel=3)]).layers[0].filters == 4
""",
    """
from convcalc.spec import json_schema
assert len(json_schema()["$defs"]) > 40
""",
    """
from convcalc.spec import Network
Network(input=[8, 8, 3], layers=[{"type": "relu"}]).model_dump()
""",
    # Inside other schemas, where pydantic builds Network's inline: a TypeAdapter, a model's field.
    """
from pydantic import BaseModel, TypeAdapter
import convcalc
data = {"input": [8, 8, 3], "layers": [{"type": "relu"}]}
assert TypeAdapter(convcalc.Network).validate_python(data).layers[0].type == "relu"
class Job(BaseModel):
    network: convcalc.Network
assert Job.model_validate({"network": data}).network.layers[0].type == "relu"
""",
    """
from pydantic import TypeAdapter
from convcalc.spec import Network
TypeAdapter(list[Network]).validate_python([{"input": [8, 8, 3], "layers": [{"type": "relu"}]}])
""",
    # pydantic's own idiom: a subclass's forward reference, defined in the caller's scope, then model_rebuild().
    """
from pydantic import BaseModel
from convcalc.spec import Network
def build():
    class Mine(Network):
        extra: "Extra"
    class Extra(BaseModel):
        x: int
    Mine.model_rebuild()
    return Mine.model_validate({"input": [8, 8, 3], "layers": [{"type": "relu"}], "extra": {"x": 1}})
assert build().extra.x == 1
""",
]


@pytest.mark.parametrize("probe", NETWORK_PROBES)
def test_the_network_model_completes_itself_in_a_fresh_process(probe: str) -> None:
    # Until something asks for the union of every kind, Network's `layers` is a forward reference; pydantic's
    # first validation, dump or schema makes the union (Network.model_rebuild), whatever comes first.
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _type_literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, literal) of every string compared with ``….type`` or looked up by it (``{"fc": …}.get(x.type)``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(side, ast.Attribute) and side.attr == "type" for side in sides):
                for side in sides:
                    items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                    for item in items:
                        if isinstance(item, ast.Constant) and isinstance(item.value, str):
                            yield node.lineno, item.value
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Dict)
            and any(isinstance(arg, ast.Attribute) and arg.attr == "type" for arg in node.args)
        ):
            for key in node.func.value.keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    yield node.lineno, key.value


def test_the_rules_name_kinds_that_exist() -> None:
    # Rules tell kinds apart by `layer.type` (a string, so that a check imports only its spec's kinds): a
    # misspelt kind would silently turn a rule off.
    names = {kind.kind_name for kind in KINDS}
    found = {
        (str(path.relative_to(PACKAGE)), line, literal)
        for path in sorted((PACKAGE / "rules").glob("*.py"))
        for line, literal in _type_literals(ast.parse(path.read_text()))
    }
    assert len(found) > 20  # the walk sees them
    assert [site for site in found if site[2] not in names] == []
