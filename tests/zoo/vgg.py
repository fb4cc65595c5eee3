"""VGG-11 style (conv3x3 p1 stacks + ReLU, maxpool 2/2, Linear classifier with Dropout after
view(N, -1)); widths reduced 4x (16..128), classifier 512 -> 128 -> 128 -> 10, 64x64 input."""

import torch.nn as nn

INPUT_SHAPE = (1, 3, 64, 64)

CFG = [16, "M", 32, "M", 64, 64, "M", 128, 128, "M", 128, 128, "M"]


class VGG(nn.Module):
    def __init__(self, cfg=CFG, num_classes=10, spatial=2):
        super().__init__()
        layers = []
        cin = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(cin, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(cin * spatial * spatial, 128),
            nn.ReLU(True),
            nn.Dropout(0.5),
            nn.Linear(128, 128),
            nn.ReLU(True),
            nn.Dropout(0.5),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)


def build_model() -> nn.Module:
    return VGG()
