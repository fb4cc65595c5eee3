"""The models of the deploy benchmark (scripts/deploy_benchmark.py), at deployment size, deterministic weights.

Each entry: name → (builder, input shape). Built from the test zoo's layers (tests/zoo) and the SSD example
(examples/ssd), widened to the sizes people deploy; BatchNorm statistics are randomised so that no layer is
an identity.
"""
from __future__ import annotations

import importlib.util
import os
import sys

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from benchmark import resnet50  # noqa: E402
from tests.zoo import crnn as zoo_crnn  # noqa: E402
from tests.zoo import shufflenetv2 as zoo_shufflenet  # noqa: E402
from tests.zoo import vit_tiny as zoo_vit  # noqa: E402


class ViTTiny(zoo_vit.VisionTransformer):
    """ViT-tiny: 224×224, patch 16 (196 + 1 tokens), width 192, depth 6, 3 heads, MLP ×4."""

    def __init__(self):
        nn.Module.__init__(self)
        self.patch_embed = zoo_vit.PatchEmbed(16, 3, 192)
        self.cls_token = nn.Parameter(torch.randn(1, 1, 192) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 197, 192) * 0.02)
        self.blocks = nn.Sequential(*[zoo_vit.Block(192, 3, mlp_ratio=4.0) for _ in range(6)])
        self.norm = nn.LayerNorm(192, eps=1e-6)
        self.head = nn.Linear(192, 1000)


class Encoder(nn.Module):
    """nn.TransformerEncoder: 4 post-norm layers, d 256, 4 heads, FF 1024, sequences of 64 steps × 64 features."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(64, 256)
        layer = nn.TransformerEncoderLayer(256, 4, dim_feedforward=1024, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 4, norm=nn.LayerNorm(256), enable_nested_tensor=False)
        self.head = nn.Linear(256, 10)
        # nn.TransformerEncoder deep-copies its layer: equal weights, which the ONNX route stores once. A
        # trained encoder's layers differ, so every layer gets its own values here.
        for name, parameter in self.encoder.named_parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)
            else:
                scale = "norm" in name and name.endswith("weight")  # LayerNorm's γ about 1, the rest about 0
                nn.init.uniform_(parameter, 0.9 if scale else -0.1, 1.1 if scale else 0.1)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x)))


def _conv_bn_relu6(cin, cout, kernel, stride, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = [_conv_bn_relu6(cin, hidden, 1, 1)] if expand != 1 else []
        layers += [_conv_bn_relu6(hidden, hidden, 3, stride, hidden), nn.Conv2d(hidden, cout, 1, bias=False),
                   nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0 as torchvision lays it out (t, c, n, s settings of the paper), 224×224, 1000 classes."""

    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))

    def __init__(self):
        super().__init__()
        features, cin = [_conv_bn_relu6(3, 32, 3, 2)], 32
        for expand, cout, repeats, stride in self.SETTINGS:
            for index in range(repeats):
                features.append(InvertedResidual(cin, cout, stride if index == 0 else 1, expand))
                cin = cout
        self.features = nn.Sequential(*features, _conv_bn_relu6(cin, 1280, 1, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

    def forward(self, x):
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


def _ssd300():
    """The SSD example's VGG16-SSD300 body (loc and conf; the PriorBox/DetectionOutput head has no ONNX twin)."""
    spec = importlib.util.spec_from_file_location("ssd_example_model", os.path.join(ROOT, "examples/ssd/model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model()


MODELS = {
    "ResNet-50": (resnet50, (1, 3, 224, 224)),
    "MobileNetV2": (MobileNetV2, (1, 3, 224, 224)),
    "ShuffleNetV2": (zoo_shufflenet.build_model, (1, 3, 224, 224)),
    "ViT-tiny": (ViTTiny, (1, 3, 224, 224)),
    "TransformerEncoder": (Encoder, (1, 64, 64)),
    "CRNN": (lambda: zoo_crnn.CRNN(hidden=256), (1, 1, 32, 128)),
    "SSD300": (_ssd300, (1, 3, 300, 300)),
}


def build(name: str, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """The model ``name`` in eval mode with seeded weights, and its input (uniform in [−1, 1))."""
    make, shape = MODELS[name]
    torch.manual_seed(seed)
    model = make()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval(), torch.rand(shape) * 2 - 1
