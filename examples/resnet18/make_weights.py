"""Write deterministic (seeded) ResNet-18 weights as a plain state_dict: ``resnet18.pth``.

    python examples/resnet18/make_weights.py [OUTPUT.pth] [--seed N]

Nothing is downloaded.  Conv / linear weights ~ N(0, 1/fan_in), biases ~ N(0, 0.05^2);
BatchNorm running_mean ~ N(0, 0.1^2), running_var ~ U(0.5, 2), weight ~ U(0.5, 1.5),
bias ~ N(0, 0.1^2) -- so the exported Caffe model is checked against non-trivial BN statistics.
"""

import argparse
import math
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from model import build_model  # noqa: E402

DEFAULT_OUTPUT = os.path.join(HERE, "resnet18.pth")


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        t.copy_(torch.empty(t.shape, dtype=torch.float64).normal_(mean, std, generator=g).to(t.dtype))

    def uniform(t, low, high):
        t.copy_(torch.empty(t.shape, dtype=torch.float64).uniform_(low, high, generator=g).to(t.dtype))

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                normal(m.weight, 1.0 / math.sqrt(math.prod(m.weight.shape[1:])))
                if m.bias is not None:
                    normal(m.bias, 0.05)
            elif isinstance(m, nn.BatchNorm2d):
                normal(m.running_mean, 0.1)
                uniform(m.running_var, 0.5, 2.0)
                uniform(m.weight, 0.5, 1.5)
                normal(m.bias, 0.1)
    return model.eval()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=DEFAULT_OUTPUT, help=f"where to write (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    model = randomize(build_model(), args.seed)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(model.state_dict(), args.output)
    print(f"wrote {args.output} ({sum(p.numel() for p in model.parameters()):,} parameters, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
