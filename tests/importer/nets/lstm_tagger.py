"""The sequence tagger of tests/data/caffe_nets/lstm_tagger.prototxt as a PyTorch user writes it: one
two-layer nn.LSTM (time-major, zero initial state) and a Linear applied to every step."""
from torch import nn

INPUT_SHAPE = (6, 2, 5)


class Tagger(nn.Module):
    def __init__(self, features=5, hidden=7, tags=3):
        super().__init__()
        self.rnn = nn.LSTM(features, hidden, num_layers=2)
        self.tags = nn.Linear(hidden, tags)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.tags(out)


def build_model():
    return Tagger()
