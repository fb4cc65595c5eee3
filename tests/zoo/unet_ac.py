"""U-Net variant with bilinear upsampling align_corners=True (the classic U-Net code's setting);
otherwise identical to ``unet``: widths 8..128, odd non-square 75x61 input with F.pad before cat."""

import torch.nn as nn

from .unet import UNet

INPUT_SHAPE = (1, 3, 75, 61)


def build_model() -> nn.Module:
    return UNet(align_corners=True)
