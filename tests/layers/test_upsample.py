"""upsample with the corners aligned (PyTorch's align_corners=True, nn.UpsamplingBilinear2d): its receptive field,
every export against TensorFlow's own ResizeBilinear(align_corners=True) and a NumPy definition, the Keras import
of convcalc's registered layer, and the ONNX import of what PyTorch's exporters write; and the bilinear field of
a half-pixel resize by an odd whole factor."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc.analysis import LayerFacts, NetworkFacts
from convcalc.cli import app
from tests import optional
from tests.helpers import analyze_spec, exported_by_pytorch, spec_findings

ALIGNED = {"interpolation": "bilinear", "align_corners": True}


def _resized(resize: dict[str, Any], shape: tuple[int, int, int] = (5, 7, 3)) -> dict[str, Any]:
    """A conv (so the field has a size and a jump to resample) then the resize named "up"."""
    return {
        "input": list(shape),
        "layers": [
            {"type": "conv", "filters": shape[2], "kernel": 3, "padding": 1, "name": "conv"},
            {"type": "upsample", **ALIGNED, **resize, "name": "up"},
        ],
    }


def _layer(net: NetworkFacts, name: str) -> LayerFacts:
    return next(layer for layer in net.layers if layer.name == name)


def test_aligned_corners_keep_the_first_centre_and_stretch_the_grid() -> None:
    net = analyze_spec(_resized({"factor": 2}))
    conv, up = _layer(net, "conv"), _layer(net, "up")
    assert str(up.output_shape) == "10×14×3" and up.params == up.macs == 0
    # Output i sits at input i·(5 − 1)/(10 − 1) = 4i/9 on the rows, i·6/13 on the columns: not a whole pixel, so
    # two neighbours are read (r + j); the first output sits on the first input, where it was.
    assert (up.rf_rows.size, up.rf_rows.jump, up.rf_rows.start) == (4, Fraction(4, 9), conv.rf_rows.start)
    assert (up.rf_cols.size, up.rf_cols.jump, up.rf_cols.start) == (4, Fraction(6, 13), conv.rf_cols.start)
    # A factor multiplies the sizes by f whatever the centres (CC301's stride chain reads sizes); a size does not.
    assert up.spec.grid_step(None) == (Fraction(1, 2), Fraction(1, 2))
    assert _layer(analyze_spec(_resized({"size": [10, 14]})), "up").spec.grid_step(None) == (1, 1)
    assert up.spec.notation(None) == "×2 bilinear align_corners"


def test_aligned_corners_by_a_whole_step_read_one_pixel() -> None:
    down = _layer(analyze_spec(_resized({"size": [3, 4]}, (9, 7, 2))), "up")
    assert (down.rf_rows.size, down.rf_rows.jump) == (3, 4)  # x = 4i: every output on a pixel
    assert (down.rf_cols.size, down.rf_cols.jump) == (3, 2)
    single = _layer(analyze_spec(_resized({"size": [4, 4]}, (1, 1, 2))), "up")
    assert (single.rf_rows.size, single.rf_rows.jump) == (3, Fraction(1, 4))  # copies of one pixel, no zero step


def test_a_half_pixel_bilinear_resize_by_an_odd_whole_factor_reads_one_pixel() -> None:
    def up(rows: int, out: int) -> LayerFacts:
        spec = _resized({"size": [out, out], "align_corners": False}, (rows, rows, 2))
        return _layer(analyze_spec(spec), "up")

    # x = i·s + (s − 1)/2: whole for s = 3 (99 → 33), between two pixels for s = 2 (98 → 49) and s = 1/2.
    assert up(99, 33).rf_rows.size == 3
    assert up(98, 49).rf_rows.size == 4
    assert up(4, 8).rf_rows.size == 4
    assert up(8, 8).rf_rows.size == 3


def test_aligned_corners_need_bilinear_interpolation(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    spec = {"input": [4, 4, 1], "layers": [{"type": "upsample", "factor": 2, "align_corners": True}]}
    path.write_text(json.dumps(spec))
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert "layers[0]" in result.output and "align_corners needs interpolation 'bilinear'" in result.output
    assert "Traceback" not in result.output


def _reference(x: Any, height: int, width: int) -> Any:
    """Bilinear resizing of NHWC ``x`` to height×width with the corners aligned, in float64: output i reads
    x = i·(in − 1)/(out − 1) and its two neighbours on each axis."""
    import numpy as np

    def taps(size: int, out: int) -> Any:
        scale = (size - 1) / (out - 1) if out > 1 else 0.0
        matrix = np.zeros((out, size))
        for i in range(out):
            position = i * scale
            low = int(np.floor(position))
            high = min(low + 1, size - 1)
            matrix[i, low] += 1 - (position - low)
            matrix[i, high] += position - low
        return matrix

    rows, cols = taps(x.shape[1], height), taps(x.shape[2], width)
    return np.einsum("ih,nhwc,jw->nijc", rows, x.astype("float64"), cols)


CASES = [((5, 7, 3), {"factor": 2}), ((6, 4, 2), {"factor": [3, 2]}), ((9, 7, 2), {"size": [4, 11]})]


@pytest.mark.tensorflow
@pytest.mark.parametrize(("shape", "resize"), CASES)
def test_the_keras_and_tf_nn_exports_are_tensorflow_s_resize_bilinear(
    shape: tuple[int, int, int], resize: dict[str, Any]
) -> None:
    optional.keras()
    import numpy as np
    import tensorflow as tf

    from convcalc.export.codegen import keras_source, tfnn_source
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from tests.export.test_differential import load_module

    spec = {"input": list(shape), "layers": [{**_resized(resize, shape)["layers"][1]}]}
    facts = analyze_spec(spec)
    height, width = facts.output_shape.height, facts.output_shape.width
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    oracle = tf.raw_ops.ResizeBilinear(images=x, size=[height, width], align_corners=True, half_pixel_centers=False)
    np.testing.assert_allclose(np.asarray(oracle), _reference(x, height, width), rtol=1e-5, atol=1e-5)
    plan = plan_export(facts)
    model = build_model(plan)
    assert model.get_layer("up").__class__.__name__ == "CornerAlignedResizing"
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(oracle), rtol=1e-5, atol=1e-5)
    generated = load_module(tfnn_source(plan), "generated_nn").Network()
    np.testing.assert_allclose(np.asarray(generated(x)), np.asarray(oracle), rtol=1e-5, atol=1e-5)
    written = load_module(keras_source(plan), "generated_keras").build_model()
    np.testing.assert_allclose(np.asarray(written(x)), np.asarray(oracle), rtol=1e-5, atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize(("shape", "resize"), CASES)
def test_the_pytorch_export_is_the_definition(shape: tuple[int, int, int], resize: dict[str, Any]) -> None:
    torch = optional.torch()
    import numpy as np

    from convcalc.export.torch_plan import plan_torch
    from convcalc.export.torch_verify import build_module

    spec = {"input": list(shape), "layers": [{**_resized(resize, shape)["layers"][1]}]}
    facts = analyze_spec(spec)
    module = build_module(plan_torch(facts)).double()
    x = np.random.default_rng(0).normal(size=(2, *shape))
    out = module(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).detach().numpy().transpose(0, 2, 3, 1)
    expected = _reference(x, facts.output_shape.height, facts.output_shape.width)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.tensorflow
def test_the_keras_import_reads_the_registered_layer_back(tmp_path: Path) -> None:
    optional.keras()
    from tests.test_keras_import_cli import keras_round_trip

    spec = _resized({"factor": 2}, (6, 6, 4))
    back = keras_round_trip(spec, tmp_path)
    up = {layer["name"]: layer for layer in back["layers"]}["up"]
    assert up == {"type": "upsample", "size": [12, 12], **ALIGNED, "name": "up"}
    before, after = _layer(analyze_spec(spec), "up"), _layer(analyze_spec(back), "up")
    assert (after.output_shape, after.rf_rows, after.rf_cols) == (before.output_shape, before.rf_rows, before.rf_cols)


@pytest.mark.tensorflow
def test_a_hand_edited_registered_layer_is_refused_by_its_field() -> None:
    optional.keras()
    from convcalc.export.keras_build import build_model
    from convcalc.export.plan import plan_export
    from convcalc.importers.keras import spec_from_keras_config
    from convcalc.loading import SpecError

    config = json.loads(build_model(plan_export(analyze_spec(_resized({"factor": 2})))).to_json())
    [resize] = [layer for layer in config["config"]["layers"] if layer["class_name"] == "CornerAlignedResizing"]
    resize["config"]["width"] = "abc"
    with pytest.raises(SpecError, match="width must be an integer ≥ 1"):
        spec_from_keras_config(config)


# --- ONNX --------------------------------------------------------------------------------------------------


def _onnx_resize(tmp_path: Path, mode: str, transform: str, scale: float = 2.0, antialias: int = 0) -> Any:
    optional.onnx()
    from onnx import TensorProto, helper

    from convcalc.importers.onnx import read_onnx_file

    options = {"antialias": antialias} if antialias else {}
    node = helper.make_node(
        "Resize", ["x", "", "scales"], ["y"], name="up", mode=mode, coordinate_transformation_mode=transform, **options
    )
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, scale, scale])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[scales],
    )
    path = tmp_path / f"{mode}_{transform}_{scale}_{antialias}.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString())
    return read_onnx_file(str(path))


def test_onnx_resize_with_aligned_corners(tmp_path: Path) -> None:
    from convcalc.loading import SpecError

    layers = _onnx_resize(tmp_path, "linear", "align_corners").spec["layers"]
    assert layers == [
        {"type": "upsample", "factor": 2, "interpolation": "bilinear", "align_corners": True, "name": "up"}
    ]
    assert _onnx_resize(tmp_path, "linear", "pytorch_half_pixel").spec["layers"][0].get("align_corners") is None
    with pytest.raises(SpecError, match="coordinate_transformation_mode 'asymmetric'"):
        _onnx_resize(tmp_path, "linear", "asymmetric")
    # TF1's resize_nearest_neighbor(align_corners=True), as tf2onnx writes it: not convcalc's nearest.
    with pytest.raises(SpecError, match="nearest with coordinate_transformation_mode 'align_corners'"):
        _onnx_resize(tmp_path, "nearest", "align_corners")


def test_onnx_antialiased_resizes_that_filter_are_refused(tmp_path: Path) -> None:
    from convcalc.loading import SpecError

    # Upsampling with half-pixel centres, the antialias filter is the plain bilinear one (PyTorch's values agree).
    assert _onnx_resize(tmp_path, "linear", "pytorch_half_pixel", antialias=1).spec["layers"][0]["factor"] == 2
    for transform, scale in (("pytorch_half_pixel", 0.6), ("align_corners", 2.0)):
        with pytest.raises(SpecError, match="antialias=1"):
            _onnx_resize(tmp_path, "linear", transform, scale=scale, antialias=1)


DECODER_EXPORTS = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch import nn
from convcalc import check
from tests.helpers import imported_three_ways


class Decoder(nn.Module):
    # DeepLabV3+'s decoder as segmentation_models_pytorch writes it: the coarse features upsampled by
    # nn.UpsamplingBilinear2d (corners aligned), concatenated with the fine ones, and a resize to a size.
    def __init__(self):
        super().__init__()
        self.fine, self.coarse = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 3, stride=4, padding=1)
        self.up = nn.UpsamplingBilinear2d(scale_factor=4)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        y = self.head(torch.cat([self.fine(x), self.up(self.coarse(x))], dim=1))
        return nn.functional.interpolate(y, size=(20, 12), mode="bilinear", align_corners=True)


model = Decoder().eval()
results = {"parameters": sum(p.numel() for p in model.parameters())}
for exporter, spec, facts in imported_three_ways(model, torch.zeros(1, 3, 16, 16), sys.argv[1], "aligned"):
    results[exporter] = {
        "upsamples": [
            {key: layer.get(key) for key in ("factor", "size", "interpolation", "align_corners")}
            for layer in spec["layers"] if layer["type"] == "upsample"
        ],
        "trainable": facts.total_trainable_params,
        "output": str(facts.output_shape),
    }
results["module"] = check(model, input=(16, 16, 3)).checked.facts.total_trainable_params
print(json.dumps(results))
"""


def test_pytorch_s_aligned_corners_as_its_exporters_write_them(tmp_path: Path) -> None:
    results = exported_by_pytorch(DECODER_EXPORTS, str(tmp_path))
    parameters = results["parameters"]
    assert parameters == (4 * 27 + 4) * 2 + 2 * 8 + 2
    for exporter in ("default", "dynamo", "torchscript"):
        result = results[exporter]
        assert result["upsamples"] == [
            {"factor": 4, "size": None, "interpolation": "bilinear", "align_corners": True},
            {"factor": None, "size": [20, 12], "interpolation": "bilinear", "align_corners": True},
        ], (exporter, result)
        assert (result["trainable"], result["output"]) == (parameters, "20×12×2"), (exporter, result)
    assert results["module"] == parameters


@pytest.mark.parametrize(("size", "misaligned"), [(513, False), (512, True)])
def test_corner_aligned_decoders_align_on_deeplab_s_odd_crop_only(size: int, misaligned: bool) -> None:
    """DeepLab resizes with the corners aligned on 513×513 crops: 2^n·k + 1 rows, where (in − 1)/(out − 1) of
    the coarse step is exactly the fine step. On 512 the upsampled grid is stretched against the fine one."""

    def down(rows: int) -> int:
        return (rows - 3 + 2) // 2 + 1

    fine = down(down(size))
    spec = {
        "input": [size, size, 3],
        "layers": [
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "stride": 2},
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "stride": 2, "name": "fine"},
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "stride": 2},
            {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "stride": 2, "name": "coarse"},
            {"type": "upsample", "size": [fine, fine], **ALIGNED, "name": "up"},
            {"type": "concat", "inputs": ["fine", "up"], "name": "cat"},
        ],
    }
    found = [finding for finding in spec_findings(spec) if finding.code == "CC309"]
    assert bool(found) == misaligned, found
    if misaligned:
        assert "jump 4×4 vs" in found[0].message
