"""GRU sequence classifier: batch-first per-step features (N, T, F), a two-layer GRU (dropout between the layers,
inactive in eval), the last step's output through Dropout + Linear to class logits. 12 steps of 16 features,
24 hidden, 5 classes, batch 3."""

import torch.nn as nn

INPUT_SHAPE = (3, 12, 16)


class GRUClassifier(nn.Module):
    def __init__(self, features=16, hidden=24, classes=5):
        super().__init__()
        self.gru = nn.GRU(features, hidden, num_layers=2, batch_first=True, dropout=0.2)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(hidden, classes))

    def forward(self, x):
        output, _ = self.gru(x)
        return self.head(output[:, -1, :])


def build_model() -> nn.Module:
    return GRUClassifier()
