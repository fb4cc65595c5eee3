"""Indices as values (pt2caffe/lowering/ops/selection.py): argmax/argmin, max with its indices, one-hot vectors,
scatter into zeros, embedding lookups, and the greedy decoders that feed them back — against real Caffe,
OpenCV and MNN."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, random_inputs

CASES = {
    "argmax over channels": lambda m, x: torch.argmax(x, 1).float(),
    "argmin over W, keepdim": lambda m, x: torch.argmin(x, 3, keepdim=True).float(),
    "argmax of each flattened row": lambda m, x: torch.argmax(x.flatten(1), 1).float(),
    "max with its indices": lambda m, x: x.max(2)[0] + x.max(2)[1],
    "min with its indices": lambda m, x: x.min(1, keepdim=True)[1].float(),
    "one_hot of an argmax": lambda m, x: F.one_hot(x.argmax(1), 5).float(),
    "scatter of ones into zeros": lambda m, x: torch.zeros(2, 5).scatter_(1, x[:, :, 0, :].argmax(1), 1.0),
    "scatter of a number": lambda m, x: torch.zeros(2, 5).scatter(1, x[:, :, 0, 0].argmax(1, keepdim=True), 2.5),
    "embedding of an argmax": lambda m, x: m.table(x[:, :, 1, 2].argmax(1)),
}


@pytest.mark.parametrize("name", CASES)
def test_selection(tmp_path, name):
    fn = CASES[name]
    export_and_compare(Lambda(lambda self, x: fn(self, x), table=nn.Embedding(5, 3)), random_inputs([(2, 5, 3, 4)]),
                       tmp_path)


def test_ties_pick_the_first_maximum_as_pytorch(tmp_path):
    """Equal values: PyTorch's index is the first one's (Caffe's ArgMax layer would take the last)."""
    x = torch.tensor([[[[1.0, 3.0, 3.0, -2.0]], [[0.5, 0.5, 0.5, 0.5]]]])
    export_and_compare(Lambda(lambda self, t: torch.argmax(t, 3).float()), [x], tmp_path)


class GreedyDecoder(nn.Module):
    """An attention-OCR-style greedy decoder (as clovaai's deep-text-recognition-benchmark's Attention
    predicts at test time): each step's argmax becomes the next step's one-hot input."""

    def __init__(self, feedback: str, classes=7, hidden=12, steps=4):
        super().__init__()
        self.cell = nn.GRUCell(6 + (4 if feedback == "embedding" else classes), hidden)
        self.embed = nn.Embedding(classes, 4)
        self.generator = nn.Linear(hidden, classes)
        self.feedback, self.classes, self.steps = feedback, classes, steps

    def _onehot(self, char):
        if self.feedback == "scatter":
            return torch.zeros(char.size(0), self.classes).scatter_(1, char.unsqueeze(1), 1)
        if self.feedback == "one_hot":
            return F.one_hot(char, self.classes).float()
        return self.embed(char)

    def forward(self, context):
        hidden = torch.zeros(context.size(0), self.cell.hidden_size)
        char = torch.zeros(context.size(0), dtype=torch.long)  # [GO]
        scores = []
        for _ in range(self.steps):
            hidden = self.cell(torch.cat([context, self._onehot(char)], 1), hidden)
            scores.append(self.generator(hidden))
            _, char = scores[-1].max(1)
        return torch.stack(scores, 1), char.float()


@pytest.mark.parametrize("feedback", ["scatter", "one_hot", "embedding"])
def test_greedy_decoder_feeds_its_argmax_back(tmp_path, feedback):
    export_and_compare(GreedyDecoder(feedback), random_inputs([(3, 6)]), tmp_path)


def test_segmentation_head_exports_its_argmax_map(tmp_path):
    """BiSeNetV2's export head: logits → argmax over the classes → an integer map."""
    head = nn.Conv2d(4, 3, 1)
    export_and_compare(Lambda(lambda self, x: self.head(x).argmax(dim=1).int(), head=head),
                       random_inputs([(1, 4, 6, 8)]), tmp_path)
