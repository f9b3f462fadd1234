"""A crop whose bounds the module computes from shapes (the original U-Net's crop of its skip connections): the
TorchScript export without constant folding, which ``convcalc.check(module)`` makes, writes them as shape
arithmetic that ONNX's shape inference cannot follow past the first Slice; the import takes the slice's size from
the bounds it reads. The parameters are PyTorch's, the output its shape, and CC307 is quiet on the dense
prediction."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import exported_by_pytorch

UNET = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
import torch.nn.functional as F
from torch import nn
from convcalc import check


def double(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3), nn.ReLU(), nn.Conv2d(o, o, 3), nn.ReLU())


class UNet(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.down1, self.down2, self.bottom = double(1, c), double(c, 2 * c), double(2 * c, 4 * c)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, 2), double(4 * c, 2 * c)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * c, c, 2, 2), double(2 * c, c)
        self.scores = nn.Conv2d(c, 2, 1)

    @staticmethod
    def crop(x, like):
        top, left = (x.shape[2] - like.shape[2]) // 2, (x.shape[3] - like.shape[3]) // 2
        return x[:, :, top : top + like.shape[2], left : left + like.shape[3]]

    def forward(self, x):
        a = self.down1(x)
        b = self.down2(F.max_pool2d(a, 2))
        u = self.up2(self.bottom(F.max_pool2d(b, 2)))
        u = self.up1(self.dec2(torch.cat([self.crop(b, u), u], 1)))
        return self.scores(self.dec1(torch.cat([self.crop(a, u), u], 1)))


model = UNet().eval()
out = model(torch.zeros(1, 1, 188, 188))
checked = check(model, input=(188, 188, 1)).checked
facts = checked.facts
shape = facts.output_shape
print(json.dumps({
    "parameters": sum(p.numel() for p in model.parameters()),
    "shape": list(out.shape[1:]),
    "convcalc": [facts.total_trainable_params, [shape.depth, shape.height, shape.width]],
    "croppings": sum(layer.spec.type == "cropping" for layer in facts.layers),
    "codes": sorted({finding.code for finding in checked.findings}),
}))
"""


def test_the_original_u_net_through_check_module(tmp_path: Path) -> None:
    outcome = exported_by_pytorch(UNET, str(tmp_path))
    assert outcome["convcalc"] == [outcome["parameters"], outcome["shape"]]
    assert outcome["croppings"] >= 2  # each skip connection's crop, read (one per axis where written apart)
    assert "CC307" not in outcome["codes"]
