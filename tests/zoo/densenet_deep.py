"""Deep DenseNet-style net for the tracing speed test: 3 dense blocks x 24 bottleneck layers (each
cat + BN + ReLU + conv1x1 + BN + ReLU + conv3x3: ~7 ops), growth 3, bn_size 4, 8 init features,
halving transitions -- about 520 traced ops with tiny channels (<= 128), 1x3x32x32 input."""

import torch.nn as nn

from .densenet121 import DenseNet

INPUT_SHAPE = (1, 3, 32, 32)


def build_model() -> nn.Module:
    return DenseNet(growth=3, blocks=(24, 24, 24), init_features=8, bn_size=4, num_classes=10,
                    stem_kernel=3, stem_pool=False)
