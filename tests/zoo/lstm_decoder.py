"""Image-to-sequence decoder with nn.LSTMCell stepped in a Python loop (the seq2seq / captioning pattern without
attention): a small CNN ending in a fully connected layer encodes the image to a feature vector, which sets the
initial h and c (Linear + tanh) and the first input; each step feeds the previous prediction with the feature
vector to the cell and predicts the next output with a Linear; the eight predictions are stacked to
(N, steps, outputs). 32×32 RGB input, batch 2."""

import torch
import torch.nn as nn

INPUT_SHAPE = (2, 3, 32, 32)


class LSTMDecoder(nn.Module):
    def __init__(self, features=32, hidden=24, outputs=6, steps=8):
        super().__init__()
        self.steps = steps
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, features, 3, 2, 1, bias=False), nn.BatchNorm2d(features), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(features, features), nn.ReLU(inplace=True))
        self.init_h = nn.Linear(features, hidden)
        self.init_c = nn.Linear(features, hidden)
        self.start = nn.Linear(features, outputs)
        self.cell = nn.LSTMCell(outputs + features, hidden)
        self.predict = nn.Linear(hidden, outputs)

    def forward(self, image):
        feature = self.encoder(image)
        h, c = torch.tanh(self.init_h(feature)), torch.tanh(self.init_c(feature))
        prediction = self.start(feature)
        predictions = []
        for _ in range(self.steps):
            h, c = self.cell(torch.cat([prediction, feature], 1), (h, c))
            prediction = self.predict(h)
            predictions.append(prediction)
        return torch.stack(predictions, 1)


def build_model() -> nn.Module:
    return LSTMDecoder()
