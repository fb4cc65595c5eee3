"""Pure-PyTorch model zoo used by the exporter's tests.

Every module ``tests/zoo/<name>.py`` defines ``build_model() -> nn.Module`` and either
``INPUT_SHAPE = (N, C, H, W)`` or, for multi-input models, ``INPUT_SHAPES = [...]``.
Widths and input sizes are reduced to keep CI fast; the structure (op types, kernel /
stride / padding / dilation / ceil_mode patterns, branches, odd sizes) follows the
real architectures.  Nothing here imports torchvision.

``randomize`` gives every model deterministic, non-trivial weights (including BatchNorm
running statistics), ``load`` builds + randomizes a zoo model by name.
"""

from __future__ import annotations

import importlib
import math
from typing import List, Tuple

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd

# Group 1: classification models, needed first.
GROUP1 = [
    "resnet18",
    "resnet50",
    "vgg",
    "mobilenetv2",
    "squeezenet",
    "se_block",
    "inception_block",
    "ops_mix",
]

# Group 2: coverage models.
GROUP2 = [
    "mobilenetv3_large",
    "efficientnet_b0",
    "shufflenetv2",
    "ghostnet",
    "regnet",
    "densenet121",
    "densenet_deep",  # ~500 tiny layers: meant for the tracing speed test
    "inception_v3",
    "xception",
    "dla34",
    "hrnet",
    "unet",
    "unet_ac",
    "unet_stride",
    "deeplabv3",
    "pspnet",
    "centernet",
    "yolo",
    "multi_io",
]

# Group 3: attention models (products of two activations, softmax, MultiheadAttention, GELU).
ATTENTION = [
    "nonlocal_block",
    "vit_tiny",
    "transformer_encoder",
]

# Recurrent models (issue 10): LSTM, GRU and a cell loop.
RECURRENT = [
    "crnn",
    "gru_classifier",
    "lstm_decoder",
]

# Constructs other converters refuse (issue 10): strided slicing, index assignment, constant operands,
# 3-D pooling over channels, unpooling with indices.
CONSTRUCTS = [
    "yolov5_stem",
    "yolov3_head",
    "enet",
    "segnet",
    "lprnet",
]

# Zoo models a runtime cannot run, with the reason (tests list them as exceptions, which must still fail).
# Measured: MNN 3.6.1 runs these nets but returns empty (0, 0, 0, 0) outputs once MAX Pooling's second top
# (the argmax mask that MaxUnpool2d needs) is read; pycaffe and OpenCV compute them exactly.
UNPOOLING_IN_MNN = "MNN 3.6.1 gives an empty output for a net that reads MAX Pooling's argmax mask (second top)"
RUNTIME_EXCEPTIONS = {"enet": {"mnn": UNPOOLING_IN_MNN}, "segnet": {"mnn": UNPOOLING_IN_MNN}}

ZOO = GROUP1 + GROUP2 + ATTENTION + RECURRENT + CONSTRUCTS

Shape = Tuple[int, ...]

# std of the weights of a layer = _WEIGHT_GAIN / sqrt(fan_in).  Gain 1 (LeCun / Kaiming-linear)
# rather than sqrt(2): BatchNorm in eval mode does not renormalise (its running stats are random),
# so with the ReLU gain residual / dense sums grow block after block (ResNet-50 outputs ~260,
# Xception ~8e4); with gain 1 every zoo output stays within about 0.1 .. 5.
_WEIGHT_GAIN = 1.0
_BIAS_STD = 0.05


def _normal_(t: torch.Tensor, g: torch.Generator, mean: float, std: float) -> None:
    t.copy_(torch.empty(t.shape, dtype=torch.float64).normal_(mean, std, generator=g).to(t.dtype))


def _uniform_(t: torch.Tensor, g: torch.Generator, low: float, high: float) -> None:
    t.copy_(torch.empty(t.shape, dtype=torch.float64).uniform_(low, high, generator=g).to(t.dtype))


def _fan_in(module: nn.Module, weight: torch.Tensor) -> float:
    if isinstance(module, _ConvTransposeNd):
        # weight: (in, out / groups, *k); every output pixel sees about
        # (in / groups) * prod(k) / prod(stride) inputs.
        per_group_in = weight.shape[0] / module.groups
        taps = math.prod(weight.shape[2:]) / math.prod(module.stride)
        return max(1.0, per_group_in * taps)
    if weight.dim() < 2:
        return 1.0
    return float(math.prod(weight.shape[1:]))


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Fill every parameter and BatchNorm statistic of ``model`` deterministically.

    * conv / linear weights ~ N(0, 1 / fan_in) (fan_in per group; for transposed convs
      divided by the stride area), biases ~ N(0, 0.05^2)
    * BatchNorm: running_mean ~ N(0, 0.1^2), running_var ~ U(0.5, 2),
      weight ~ U(0.5, 1.5), bias ~ N(0, 0.1^2)
    * GroupNorm / LayerNorm / InstanceNorm affine params like BatchNorm's
    * PReLU slopes ~ U(0.05, 0.4)
    * any other parameter: Kaiming-like for ndim >= 2, else N(0, 0.05^2)

    Returns ``model.eval()``.
    """
    g = torch.Generator().manual_seed(seed)
    done = set()
    with torch.no_grad():
        for module in model.modules():
            own = dict(module.named_parameters(recurse=False))
            if isinstance(module, (_ConvNd, nn.Linear, nn.Bilinear)):
                w = own.get("weight")
                if w is not None:
                    _normal_(w, g, 0.0, _WEIGHT_GAIN / math.sqrt(_fan_in(module, w)))
                b = own.get("bias")
                if b is not None:
                    _normal_(b, g, 0.0, _BIAS_STD)
            elif isinstance(module, _NormBase):  # BatchNorm*d, InstanceNorm*d
                if module.running_mean is not None:
                    _normal_(module.running_mean, g, 0.0, 0.1)
                if module.running_var is not None:
                    _uniform_(module.running_var, g, 0.5, 2.0)
                if "weight" in own:
                    _uniform_(own["weight"], g, 0.5, 1.5)
                if "bias" in own:
                    _normal_(own["bias"], g, 0.0, 0.1)
            elif isinstance(module, (nn.GroupNorm, nn.LayerNorm)):
                if "weight" in own:
                    _uniform_(own["weight"], g, 0.5, 1.5)
                if "bias" in own:
                    _normal_(own["bias"], g, 0.0, 0.1)
            elif isinstance(module, nn.PReLU):
                _uniform_(own["weight"], g, 0.05, 0.4)
            else:
                continue
            done.update(id(p) for p in own.values())
        for _, p in model.named_parameters():
            if id(p) in done:
                continue
            if p.dim() >= 2:
                _normal_(p, g, 0.0, _WEIGHT_GAIN / math.sqrt(math.prod(p.shape[1:])))
            else:
                _normal_(p, g, 0.0, _BIAS_STD)
            done.add(id(p))
    return model.eval()


def module(name: str):
    """The zoo module ``tests.zoo.<name>``."""
    return importlib.import_module(f".{name}", __name__)


def input_shapes(name: str) -> List[Shape]:
    """The input shapes of zoo model ``name`` as a list (one entry per input)."""
    mod = module(name)
    if hasattr(mod, "INPUT_SHAPES"):
        return [tuple(s) for s in mod.INPUT_SHAPES]
    return [tuple(mod.INPUT_SHAPE)]


def load(name: str, seed: int = 0) -> Tuple[nn.Module, List[Shape]]:
    """Build zoo model ``name`` with randomized weights (eval mode) and its input shapes."""
    mod = module(name)
    model = randomize(mod.build_model(), seed)
    return model, input_shapes(name)


def example_inputs(shapes: List[Shape], seed: int = 0) -> List[torch.Tensor]:
    """Deterministic ``randn`` inputs for the given shapes."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(tuple(s), generator=g) for s in shapes]
