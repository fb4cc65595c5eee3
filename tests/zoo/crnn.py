"""CRNN text-line recogniser, laid out as the common PyTorch CRNN ports are: a VGG-style CNN whose last poolings
are 2×2 windows with stride (2, 1) and padding (0, 1) (they halve the height and keep the width), a final 2×2
convolution that leaves a height of 1, the feature map read as a sequence over the width
(``squeeze(2).permute(2, 0, 1)``: (T, N, C)), two bidirectional LSTM stages each with a Linear over the T·N rows,
and CTC logits (T, N, classes). Widths reduced (16..64 channels, 32 hidden); 32×64 grey input → T = 17, batch 2."""

import torch.nn as nn

INPUT_SHAPE = (2, 1, 32, 64)


class BidirectionalLSTM(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.rnn = nn.LSTM(n_in, n_hidden, bidirectional=True)
        self.embedding = nn.Linear(n_hidden * 2, n_out)

    def forward(self, x):
        recurrent, _ = self.rnn(x)
        steps, batch, width = recurrent.size()
        rows = self.embedding(recurrent.view(steps * batch, width))
        return rows.view(steps, batch, -1)


def _conv(cin, cout, kernel=3, padding=1, bn=False):
    layers = [nn.Conv2d(cin, cout, kernel, 1, padding)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    return layers + [nn.ReLU(True)]


class CRNN(nn.Module):
    def __init__(self, channels=1, classes=11, hidden=32):
        super().__init__()
        self.cnn = nn.Sequential(
            *_conv(channels, 16), nn.MaxPool2d(2, 2),
            *_conv(16, 32), nn.MaxPool2d(2, 2),
            *_conv(32, 64, bn=True), *_conv(64, 64), nn.MaxPool2d((2, 2), (2, 1), (0, 1)),
            *_conv(64, 64, bn=True), nn.MaxPool2d((2, 2), (2, 1), (0, 1)),
            *_conv(64, 64, kernel=2, padding=0, bn=True))
        self.rnn = nn.Sequential(BidirectionalLSTM(64, hidden, hidden), BidirectionalLSTM(hidden, hidden, classes))

    def forward(self, image):
        conv = self.cnn(image)
        assert conv.size(2) == 1, "the CNN must collapse the height to 1"
        sequence = conv.squeeze(2).permute(2, 0, 1)  # (T, N, C)
        return self.rnn(sequence)


def build_model() -> nn.Module:
    return CRNN()
