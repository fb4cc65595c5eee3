"""A small PyTorch net exported to ONNX by torch.onnx (TorchScript exporter, opset 13), the ONNX file the
check and command-line tests export to Caffe."""
import warnings

import torch
from torch import nn


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return torch.softmax(self.head(x.mean((2, 3))), 1)


def small_onnx(path, *, dynamic_batch: bool = False, size: int = 16) -> str:
    """Write the net (deterministic weights, randomised BatchNorm statistics) to ``path``; input ``image``
    1×3×size×size (the batch symbolic with ``dynamic_batch``), output ``scores`` (1×5)."""
    torch.manual_seed(0)
    model = Small().eval()
    model.bn1.running_mean.uniform_(-0.5, 0.5)
    model.bn1.running_var.uniform_(0.5, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.rand(1, 3, size, size),), str(path), input_names=["image"], output_names=["scores"],
                          opset_version=13, dynamo=False,
                          dynamic_axes={"image": {0: "batch"}} if dynamic_batch else None)
    return str(path)
