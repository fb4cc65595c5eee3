"""F.grid_sample (pt2caffe/lowering/ops/sampling.py) against real Caffe, OpenCV and MNN: bilinear with zeros and
border padding, align_corners both ways, a grid partly off the image; a TPS spatial transformer as scene-text
recognisers rectify their input with; the modes that are not exact are refused by name."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, random_inputs
from pt2caffe.conversion import convert
from pt2caffe.errors import Pt2CaffeError


@pytest.mark.parametrize("padding", ["zeros", "border"])
@pytest.mark.parametrize("align", [False, True])
def test_grid_from_the_input(tmp_path, padding, align):
    """A spatial transformer's shape: the grid is computed from the image (tanh · 1.5: some points off it)."""
    def sample(self, x):
        grid = torch.tanh(self.where(F.avg_pool2d(x, 2)) * 1.5).permute(0, 2, 3, 1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=align)
    export_and_compare(Lambda(sample, where=nn.Conv2d(3, 2, 3, padding=1)), random_inputs([(2, 3, 12, 16)]),
                       tmp_path)


class ThinPlateSpline(nn.Module):
    """A TPS spatial transformer (Shi et al., RARE; as scene-text recognisers such as clovaai's
    deep-text-recognition-benchmark rectify their input): a small localisation net predicts F fiducial points,
    the TPS grid is P̂·Δ⁻¹·[C'; 0] from constant matrices, then F.grid_sample with border padding."""

    def __init__(self, fiducials=10, size=(8, 24), channels=1):
        super().__init__()
        self.size = size
        self.localize = nn.Sequential(nn.Conv2d(channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 32), nn.ReLU(),
                                      nn.Linear(32, fiducials * 2))
        base = self._fiducials(fiducials)
        with torch.no_grad():  # start at the base points, as the papers initialise
            self.localize[-1].weight.mul_(0.1)
            self.localize[-1].bias.copy_(base.flatten())
        self.register_buffer("inverse", torch.linalg.inv(self._delta(base)))
        self.register_buffer("lifted", self._lifted(base, size))

    @staticmethod
    def _fiducials(count):
        x = torch.linspace(-1.0, 1.0, count // 2)
        return torch.cat([torch.stack([x, -torch.ones_like(x)], 1), torch.stack([x, torch.ones_like(x)], 1)])

    @staticmethod
    def _radial(distance_squared):
        return distance_squared * torch.log(distance_squared.clamp_min(1e-12)) / 2  # r² log r

    def _delta(self, base):
        """Δ = [[1, C, R(C, C)], [0, 1ᵀ], [0, Cᵀ]]: the TPS system for the base points C (F × 2)."""
        count = base.shape[0]
        fit = torch.cat([torch.ones(count, 1), base, self._radial(torch.cdist(base, base) ** 2)], 1)
        constraints = torch.cat([torch.zeros(3, 3), torch.cat([torch.ones(count, 1), base], 1).T], 1)
        return torch.cat([fit, constraints], 0)

    def _lifted(self, base, size):
        h, w = size
        ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h * 2 - 1, (torch.arange(w) + 0.5) / w * 2 - 1,
                                indexing="ij")
        points = torch.stack([xs.flatten(), ys.flatten()], 1)
        return torch.cat([torch.ones(len(points), 1), points, self._radial(torch.cdist(points, base) ** 2)], 1)

    def forward(self, image):
        batch = image.size(0)
        moved = self.localize(image).view(batch, -1, 2)
        padded = torch.cat([moved, torch.zeros(batch, 3, 2)], 1)
        transform = torch.bmm(self.inverse.repeat(batch, 1, 1), padded)
        grid = torch.bmm(self.lifted.repeat(batch, 1, 1), transform).reshape(batch, *self.size, 2)
        return F.grid_sample(image, grid, padding_mode="border", align_corners=True)


def test_tps_spatial_transformer(tmp_path):
    export_and_compare(ThinPlateSpline().eval(), random_inputs([(2, 1, 16, 48)]), tmp_path)


@pytest.mark.parametrize("options", [{"mode": "nearest"}, {"mode": "bicubic"}, {"padding_mode": "reflection"}])
def test_modes_that_are_not_exact_are_refused(options):
    model = Lambda(lambda self, x, g: F.grid_sample(x, g, align_corners=False, **options))
    with pytest.raises(Pt2CaffeError, match="grid_sample in .*only bilinear sampling"):
        convert(model, random_inputs([(1, 2, 5, 6), (1, 3, 4, 2)]))
