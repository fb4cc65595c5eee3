"""A two-layer ``nn.TransformerEncoder`` (post-norm ``nn.TransformerEncoderLayer``, batch_first=True, ReLU
feed-forward, final LayerNorm) between a linear input projection and a linear head, as in sequence
classifiers/taggers. In eval mode under ``torch.no_grad()`` PyTorch runs its fused fast path
(``_transformer_encoder_layer_fwd``); the export traces the plain path. Sequences of 10 steps with 12
features, batch 2."""

import torch.nn as nn

INPUT_SHAPE = (2, 10, 12)


class SequenceEncoder(nn.Module):
    def __init__(self, features=12, d_model=32, heads=4, layers=2, classes=5):
        super().__init__()
        self.embed = nn.Linear(features, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x)))


def build_model() -> nn.Module:
    return SequenceEncoder()
