"""Resizing (interpolate / Upsample in every mode) and pixel (un)shuffle against real Caffe and OpenCV."""
import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, layer_types, random_inputs, relative_error
from portability import assert_portable
from pt2caffe.conversion import convert
from pt2caffe.lowering.ops.resize import resize_matrix
from pt2caffe.net.proto import read_prototxt
from pt2caffe.runtimes.launch import run_mnn, run_opencv, run_pycaffe

RUNNERS_ALL = {"pycaffe": run_pycaffe, "opencv": run_opencv, "mnn": run_mnn}

CASES = {  # name: interpolate keyword arguments
    "nearest_x2": dict(scale_factor=2, mode="nearest"),
    "nearest_x3": dict(scale_factor=3, mode="nearest"),
    "nearest_x2_x3": dict(scale_factor=(2, 3), mode="nearest"),
    "nearest_x1.5": dict(scale_factor=1.5, mode="nearest"),
    "nearest_x0.5": dict(scale_factor=0.5, mode="nearest"),
    "nearest_size": dict(size=(13, 5), mode="nearest"),
    "nearest_size_x3": dict(size=(21, 27), mode="nearest"),  # an integer factor given as a size
    "nearest_recompute": dict(scale_factor=1.7, mode="nearest", recompute_scale_factor=True),
    "nearest_exact_x1.5": dict(scale_factor=1.5, mode="nearest-exact"),
    "nearest_exact_size": dict(size=(11, 4), mode="nearest-exact"),
    "bilinear_x2": dict(scale_factor=2, mode="bilinear", align_corners=False),
    "bilinear_x2_ac": dict(scale_factor=2, mode="bilinear", align_corners=True),
    "bilinear_x3": dict(scale_factor=3, mode="bilinear", align_corners=False),
    "bilinear_x1.5_ac": dict(scale_factor=1.5, mode="bilinear", align_corners=True),
    "bilinear_x0.5": dict(scale_factor=0.5, mode="bilinear", align_corners=False),
    "bilinear_x1.7": dict(scale_factor=1.7, mode="bilinear", align_corners=False),
    "bilinear_x1.7_recompute": dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True),
    "bilinear_size_odd": dict(size=(13, 5), mode="bilinear", align_corners=False),
    "bilinear_size_odd_ac": dict(size=(13, 5), mode="bilinear", align_corners=True),
    "bilinear_antialias_down": dict(scale_factor=0.5, mode="bilinear", antialias=True),
    "bicubic_x2": dict(scale_factor=2, mode="bicubic", align_corners=False),
    "bicubic_size_ac": dict(size=(10, 17), mode="bicubic", align_corners=True),
    "area_down": dict(size=(3, 4), mode="area"),
}


@pytest.mark.parametrize("name", CASES)
def test_resize_matrices_are_torch_s(name):
    """y = M_H · x · M_Wᵀ with the matrices the converter emits reproduces F.interpolate."""
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64)
    want = F.interpolate(x.float(), **CASES[name]).double()
    op = convert(Lambda(lambda self, t: F.interpolate(t, **CASES[name])), [x.float()]).graph.ops[0]
    rows, cols = (resize_matrix(op, tuple(x.shape), axis) for axis in (2, 3))
    got = torch.einsum("ih,nchw,jw->ncij", torch.from_numpy(rows), x, torch.from_numpy(cols))
    assert got.shape == want.shape
    assert torch.allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_interpolate(tmp_path, name):
    model = Lambda(lambda self, x: F.interpolate(x, **CASES[name]))
    export_and_compare(model, random_inputs([(1, 3, 7, 9)]), tmp_path)


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_interpolate_larger_map_goes_separable(tmp_path, mode):
    """Above the Kronecker limit: one matrix per axis, W first (it grows less): an InnerProduct on the
    (rows, W) view (Reshape + Flatten), then H as the channels of a view, a 1×1 Convolution."""
    model = Lambda(lambda self, x: F.interpolate(x, size=(50, 45), mode=mode))
    export_and_compare(model, random_inputs([(1, 2, 33, 40)]), tmp_path)
    assert layer_types(tmp_path)[1:] == ["Reshape", "Flatten", "InnerProduct", "Reshape", "Reshape", "Convolution",
                                         "Reshape"]
    assert_portable(tmp_path)


ON_H = ["Reshape", "Convolution", "Reshape"]  # H as the channels of a (−1, H, W, 1) view
ON_W = ["Reshape", "Flatten", "InnerProduct", "Reshape"]  # W as the columns of a (rows, W) view


@pytest.mark.parametrize("size,first_view,types", [((16, 96), [-1, 64, 64, 1], ON_H + ON_W),
                                                   ((96, 16), [-1, 64], ON_W + ON_H)],
                         ids=["height_shrinks", "width_shrinks"])
def test_axis_that_shrinks_goes_first(tmp_path, size, first_view, types):
    """The first matrix applied (16 outputs) shrinks its axis: H, the channels of a (−1, 64, W, 1) view
    (1×1 Convolution), or W, the columns of a (−1, 64) view (InnerProduct)."""
    model = Lambda(lambda self, x: F.interpolate(x, size=size, mode="bilinear"))
    export_and_compare(model, random_inputs([(2, 3, 64, 64)]), tmp_path)
    layers = [layer for layer in read_prototxt(str(tmp_path / "net.prototxt")).layer
              if "/size_guard_axis" not in layer.name]  # as layer_types: without the input-size guards
    assert [layer.type for layer in layers[1:]] == types
    assert list(layers[1].reshape_param.shape.dim) == first_view
    first = next(layer for layer in layers if layer.type in ("Convolution", "InnerProduct"))
    assert (first.convolution_param.num_output or first.inner_product_param.num_output) == 16
    assert_portable(tmp_path)


@pytest.mark.parametrize("module", [nn.Upsample(scale_factor=2), nn.Upsample(size=(9, 12), mode="bilinear"),
                                    nn.UpsamplingNearest2d(scale_factor=3), nn.UpsamplingBilinear2d(scale_factor=2)],
                         ids=["Upsample", "Upsample_bilinear", "UpsamplingNearest2d", "UpsamplingBilinear2d"])
def test_upsample_modules(tmp_path, module):
    export_and_compare(nn.Sequential(module), random_inputs([(1, 3, 6, 5)]), tmp_path)


@pytest.mark.filterwarnings("ignore:`nn.functional.upsample")
@pytest.mark.parametrize("function", [F.upsample, F.upsample_nearest, F.upsample_bilinear])
def test_deprecated_upsample_functions(tmp_path, function):
    export_and_compare(Lambda(lambda self, x: function(x, scale_factor=2)), random_inputs([(1, 3, 6, 5)]), tmp_path)


def test_nearest_integer_factor_is_one_deconvolution(tmp_path):
    model = Lambda(lambda self, x: F.interpolate(x, scale_factor=(2, 3)))
    export_and_compare(model, random_inputs([(1, 4, 40, 50)]), tmp_path)
    assert layer_types(tmp_path) == ["Input", "Deconvolution"]


def test_same_size_is_no_layer(tmp_path):
    model = Lambda(lambda self, x: F.interpolate(x, size=(6, 5), mode="bilinear") * 2)
    export_and_compare(model, random_inputs([(1, 3, 6, 5)]), tmp_path)
    assert layer_types(tmp_path) == ["Input", "Scale"]  # the ×2 (a Scale on 4-D blobs: MNN runs Power as pow)


@pytest.mark.parametrize("shape,kwargs", [
    ((1, 3, 10), dict(scale_factor=2.5, mode="linear")),
    ((1, 3, 10), dict(size=7, mode="nearest")),
    ((1, 2, 3, 4, 5), dict(scale_factor=2, mode="trilinear", align_corners=True)),
], ids=["linear_1d", "nearest_1d", "trilinear_3d"])
def test_other_ranks(tmp_path, shape, kwargs):
    export_and_compare(Lambda(lambda self, x: F.interpolate(x, **kwargs)), random_inputs([shape]), tmp_path)


def _types(path) -> list[str]:
    from pt2caffe.net.proto import read_prototxt
    return [layer.type for layer in read_prototxt(str(path)).layer if "/size_guard_axis" not in layer.name]


@pytest.mark.parametrize("factor", [2, 3])
def test_pixel_shuffle(tmp_path, factor):
    """Two exact forms, both proved: the 6-D view + Permute (the cost model's pick by default) and, where the
    target refuses Permutes other than (0, 2, 3, 1) and blobs above 4-D (nnie), one-hot weights."""
    model = nn.Sequential(nn.PixelShuffle(factor), nn.PixelUnshuffle(factor), nn.PixelShuffle(factor))
    export_and_compare(model, random_inputs([(1, 2 * factor ** 2, 5, 4)]), tmp_path, targets=("nnie",))
    assert layer_types(tmp_path).count("Permute") == 3
    assert _types(tmp_path / "net_nnie.prototxt") == ["Input", "Deconvolution", "Convolution", "Deconvolution"]


def test_pixel_unshuffle(tmp_path):
    export_and_compare(nn.Sequential(nn.PixelUnshuffle(2)), random_inputs([(1, 3, 6, 8)]), tmp_path,
                       targets=("nnie",))
    assert layer_types(tmp_path).count("Permute") == 1
    assert _types(tmp_path / "net_nnie.prototxt") == ["Input", "Convolution"]


def test_pixel_shuffle_of_a_5d_tensor(tmp_path):
    """Leading axes beyond the batch: the 6-D view form (a 4-D layer cannot take the tensor)."""
    export_and_compare(nn.Sequential(nn.PixelShuffle(2)), random_inputs([(2, 3, 8, 3, 4)]), tmp_path)
    assert layer_types(tmp_path).count("Permute") == 1


BILINEAR_X2_LAYERS = ["Deconvolution"] + ["Pooling", "Pooling", "Power", "Pooling", "Eltwise"] * 2


def test_bilinear_x2_64_channels(tmp_path):
    """The size a decoder sees: the size-free form (no matrix: 64 × 2 × 2 weights of ¼)."""
    errors = export_and_compare(nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear")),
                                random_inputs([(1, 64, 64, 64)]), tmp_path)
    assert layer_types(tmp_path)[1:] == BILINEAR_X2_LAYERS
    assert_portable(tmp_path)
    assert max(errors.values()) < 1e-6
    assert (tmp_path / "net.caffemodel").stat().st_size < 2_000


def test_bilinear_x2_is_one_net_at_every_size(tmp_path):
    """Exported at 7×9, the same net is exact at other sizes (odd, even, 1, another batch) in pycaffe, OpenCV
    and MNN, and the report says so."""
    model = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"))
    export_and_compare(model, random_inputs([(1, 3, 7, 9)]), tmp_path)
    report = json.loads((tmp_path / "net.json").read_text())
    assert report["input_sizes"][0]["free_axes"] == [0, 2, 3]
    assert layer_types(tmp_path)[1:] == BILINEAR_X2_LAYERS
    files = str(tmp_path / "net.prototxt"), str(tmp_path / "net.caffemodel")
    for shape in [(2, 3, 5, 12), (1, 3, 1, 6), (1, 3, 16, 16)]:
        x = torch.rand(shape) * 2 - 1
        want = F.interpolate(x.double(), scale_factor=2, mode="bilinear", align_corners=False).numpy()
        for runtime, run in RUNNERS_ALL.items():
            (output,) = [entry["name"] for entry in report["outputs"]]
            value = run(*files, {"data": x.numpy()}, [output])[output]
            assert relative_error(value.reshape(want.shape), want) < 1e-6, (runtime, shape)
