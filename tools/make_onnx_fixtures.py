"""Regenerate tests/fixtures/onnx/: torchvision classifiers exported to ONNX, kept as graphs without weights.

Needs torch, torchvision and onnx (the test suite needs only onnx). Each model is built with ``weights=None``
(GoogLeNet and Inception v3 without their training-only auxiliary heads, as published) and exported at
1×3×224×224 (Inception v3: 299×299) three ways: the TorchScript exporter (``dynamo=False``, its defaults: batchnorm
folded into the convs in eval mode), the dynamo exporter with its default optimizer, and the dynamo exporter
with ``optimize=False`` (batchnorm kept). The float initializers are then rewritten as external data in a file
that is never written (``weights.absent``): their ``dims`` stay, their bytes go, so each fixture is a few KiB.
Integer initializers (shape constants) and scalars stay inline: they are plumbing, and shape inference needs
them.

Beside the ``.onnx`` files, ``oracle.json`` holds, per fixture, the figures the tests compare convcalc with,
all computed here from the full model (never by convcalc):

- ``torch_params``: ``sum(p.numel() for p in model.parameters())``;
- ``published``: torchvision's ``num_params`` and GFLOPS (``_ops``, multiply-accumulates) for the model;
- ``layer_params``: the weights each node computes with, once per input that reads them (following Identity,
  skipping shape plumbing, integer tensors and scalars);
- ``shapes``: ``onnx.shape_inference`` of the full model, the first output's shape of every node.

Usage: python tools/make_onnx_fixtures.py [MODEL ...]   (default: every model in MODELS)
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "onnx"
ORACLE = FIXTURES / "oracle.json"
MODELS = (
    "resnet18",
    "mobilenet_v2",
    "squeezenet1_1",
    "googlenet",
    "densenet121",
    "alexnet",
    "vgg16",
    "resnet50",
    "resnext50_32x4d",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "mnasnet1_0",
    "shufflenet_v2_x1_0",
    "regnet_y_400mf",
    "convnext_tiny",
    "inception_v3",
)
BUILD: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
}
"""Constructor options: the auxiliary classifiers are training-only heads outside the published parameter count."""
SIZES = {"inception_v3": 299}
"""Input sizes other than 224 (the size torchvision's GFLOPS are published at)."""
VARIANTS: dict[str, dict[str, Any]] = {
    "torchscript": {"dynamo": False},
    "dynamo": {"dynamo": True},
    "dynamo-unoptimized": {"dynamo": True, "optimize": False},
}
ABSENT = "weights.absent"
"""Where the stripped initializers say their bytes are: a file that does not exist, inside the fixtures' folder."""
FLOAT_TYPES = {1, 10, 11, 16}  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
PLUMBING = {"Shape", "Expand", "CastLike", "Cast", "Constant", "Identity", "Concat", "Reshape", "Unsqueeze"}
"""Ops whose initializer inputs are not weights (they read a weight's shape, or a shape constant)."""


def numel(dims: Any) -> int:
    count = 1
    for size in dims:
        count *= int(size)
    return count


def layer_params(model: Any) -> int:
    """The weights each node computes with: float initializers of ≥ 2 values, once per input that reads them
    (a batchnorm of an untrained model reads one tensor of ones as scale and variance), through Identity."""
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}
    total = 0
    for node in graph.node:
        if node.op_type in PLUMBING:
            continue
        for name in node.input:
            while name in alias:
                name = alias[name]
            tensor = initializers.get(name)
            if tensor is not None and tensor.data_type in FLOAT_TYPES and numel(tensor.dims) > 1:
                total += numel(tensor.dims)
    return total


def inferred_shapes(model: Any) -> dict[str, list[int | str]]:
    """The first output's shape of every named node, by onnx.shape_inference on the full model."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    graph = inferred.graph
    known: dict[str, list[int | str]] = {}
    for info in [*graph.value_info, *graph.output, *graph.input]:
        dims = info.type.tensor_type.shape.dim
        known[info.name] = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]
    return {node.name: known[node.output[0]] for node in graph.node if node.output and node.output[0] in known}


FX_NODE = "pkg.torch.onnx.fx_node"
"""The dynamo exporter's record of each node's PyTorch call: what tells a buffer (a fixed filter) from a weight."""


def strip(model: Any, keep: tuple[str, ...] = (FX_NODE,)) -> None:
    """Float initializers of ≥ 2 values become external data in a file that is never written; dims stay. Of the
    nodes' metadata only the keys in ``keep`` stay."""
    from onnx import TensorProto

    for tensor in model.graph.initializer:
        if tensor.data_type not in FLOAT_TYPES or numel(tensor.dims) < 2:
            continue
        size = numel(tensor.dims) * {1: 4, 10: 2, 11: 8, 16: 2}[tensor.data_type]
        tensor.ClearField("raw_data")
        for field in ("float_data", "double_data", "int32_data"):
            tensor.ClearField(field)
        tensor.data_location = TensorProto.EXTERNAL
        del tensor.external_data[:]
        for key, value in (("location", ABSENT), ("offset", "0"), ("length", str(size))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    # The dynamo exporter records stack traces and FX names on every node and value: not the architecture, but
    # for the call's record, whose lifted inputs say which weights are buffers.
    graph = model.graph
    for item in [*graph.node, *graph.value_info, *graph.input, *graph.output, *graph.initializer]:
        kept = [(entry.key, entry.value) for entry in item.metadata_props if entry.key in keep]
        del item.metadata_props[:]
        for key, value in kept:
            entry = item.metadata_props.add()
            entry.key, entry.value = key, value
        item.doc_string = ""
    del model.metadata_props[:]
    graph.doc_string = model.doc_string = ""


def export(name: str, variant: str, options: dict[str, Any]) -> dict[str, Any]:
    import onnx
    import torch
    import torchvision

    model = torchvision.models.get_model(name, weights=None, **BUILD.get(name, {})).eval()
    size = SIZES.get(name, 224)
    example = (torch.randn(1, 3, size, size),)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        torch.onnx.export(model, example, str(path), **options)
        full = onnx.load(str(path))
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    figures = {
        "model": name,
        "exporter": variant,
        "torch_params": sum(p.numel() for p in model.parameters()),
        "published": {"num_params": meta["num_params"], "gflops": meta["_ops"]},
        "layer_params": layer_params(full),
        "shapes": inferred_shapes(full),
    }
    strip(full)
    target = FIXTURES / f"{name}.{variant}.onnx"
    onnx.save(full, str(target))
    print(f"{target.relative_to(ROOT)}: {target.stat().st_size:,} bytes, {len(full.graph.node)} nodes", flush=True)
    return figures


def main(argv: list[str]) -> int:
    names = argv or list(MODELS)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    oracle = json.loads(ORACLE.read_text(encoding="utf-8")) if ORACLE.exists() else {}
    for name in names:
        for variant, options in VARIANTS.items():
            oracle[f"{name}.{variant}"] = export(name, variant, options)
            ORACLE.write_text(json.dumps(oracle, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
