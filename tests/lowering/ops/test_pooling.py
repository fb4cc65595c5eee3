"""Pooling against real Caffe: every rounding and padding case PyTorch has."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, layer_types, random_inputs
from pt2caffe.conversion import convert
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.net.shapes.windows import pooled_extent

CASES = [  # (input H×W, kernel, stride, padding, ceil_mode)
    (112, 3, 2, 1, False),  # ResNet stem: 56 in torch, 57 in Caffe
    (15, 3, 2, 0, False),
    (15, 3, 2, 0, True),
    (7, 2, 2, 0, False),  # k2 s2 on an odd size
    (7, 2, 2, 0, True),
    (13, 3, 2, 1, True),
    (10, 3, 3, 1, True),
    (9, (3, 2), (2, 1), (1, 0), False),
    # ceil mode with kernel < padding + stride: a last window can start at or past H + p; PyTorch drops it,
    # Caffe keeps it when there is no padding, MNN always (one row/column more, cropped away)
    (10, 3, 3, 1, True),  # MNN: 5 columns on a width of 11, Caffe and PyTorch 4
    (16, 1, 2, 0, True),  # Caffe 9×9, PyTorch 8×9 (the case)
    (15, (1, 2), (3, 3), (0, 0), True),
    (11, 2, 3, 0, True),
    (9, (3, 1), (2, 2), (1, 0), True),
]


@pytest.mark.parametrize("size,kernel,stride,padding,ceil", CASES)
def test_max_pool(tmp_path, size, kernel, stride, padding, ceil):
    model = nn.Sequential(nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil))
    export_and_compare(model, random_inputs([(1, 3, size, size + 1)]), tmp_path)


@pytest.mark.parametrize("size,kernel,stride,padding,ceil", CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool(tmp_path, size, kernel, stride, padding, ceil, count_include_pad):
    model = nn.Sequential(nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil, count_include_pad=count_include_pad))
    export_and_compare(model, random_inputs([(1, 3, size, size)]), tmp_path)


def test_stem_pool_is_cropped_not_repadded(tmp_path):
    """112 → 56 in floor mode: Caffe's 57th row is dropped, the padding stays 1."""
    assert pooled_extent(112, 3, 2, 1) == 57
    export_and_compare(nn.Sequential(nn.MaxPool2d(3, 2, 1)), random_inputs([(1, 2, 112, 112)]), tmp_path)
    text = (tmp_path / "net.prototxt").read_text()
    assert "pad: 1" in text and "pad_h" not in text and 'type: "Crop"' in text  # x2paddle reads only pad


DILATED = [  # (input H×W, kernel, stride, padding, dilation): stride and padding multiples of the dilation
    ((17, 16), 3, 2, 0, 2),
    ((17, 16), 5, 2, 2, 2),
    ((21, 13), (3, 2), (3, 2), 0, (3, 2)),
    ((40, 9), (5, 1), (4, 1), (2, 0), (2, 1)),  # a 1-D dilated pooling as ONNX's front end pools it
]


@pytest.mark.parametrize("size,kernel,stride,padding,dilation", DILATED)
def test_dilated_max_pool(tmp_path, size, kernel, stride, padding, dilation):
    model = nn.Sequential(nn.MaxPool2d(kernel, stride, padding, dilation))
    export_and_compare(model, random_inputs([(1, 3) + size]), tmp_path)
    assert layer_types(tmp_path).count("Pooling") == 2


@pytest.mark.parametrize("stride,padding,ceil", [(3, 0, False), (2, 1, False), (2, 0, True)])
def test_dilated_max_pool_refused(stride, padding, ceil):
    model = nn.Sequential(nn.MaxPool2d(3, stride, padding, dilation=2, ceil_mode=ceil))
    with pytest.raises(Pt2CaffeError, match="no dilation: dilation \\[2, 2\\] is lowered in floor mode"):
        convert(model, random_inputs([(1, 3, 15, 15)]), probe_sizes=False)


def test_divisor_override(tmp_path):
    model = Lambda(lambda self, x: F.avg_pool2d(x, 3, 2, 1, divisor_override=4))
    export_and_compare(model, random_inputs([(1, 2, 11, 11)]), tmp_path)


@pytest.mark.parametrize("output", [1, (1, 1), 2, (3, 4)])
def test_adaptive_pools(tmp_path, output):
    model = Lambda(lambda self, x: (F.adaptive_avg_pool2d(x, output), F.adaptive_max_pool2d(x, output)))
    export_and_compare(model, random_inputs([(1, 4, 12, 12)]), tmp_path)


def test_floor_mode_is_a_crop_not_a_ceil_mode_field(tmp_path):
    export_and_compare(nn.Sequential(nn.MaxPool2d(3, 2)), random_inputs([(1, 2, 16, 16)]), tmp_path)
    assert "ceil_mode" not in (tmp_path / "net.prototxt").read_text()
    assert layer_types(tmp_path) == ["Input", "Pooling", "Convolution", "Crop"]


UNEVEN_ADAPTIVE = [  # (input H×W, output): windows of unequal lengths on at least one axis
    ((13, 13), 5), ((13, 13), (4, 5)), ((12, 12), 5), ((7, 9), (3, 4)),
    ((12, 10), (4, 3)),  # one axis even, the other not
    ((5, 6), (7, 9)),  # more outputs than inputs
    ((40, 33), (6, 7)),  # above the Kronecker limit: separable
]


@pytest.mark.parametrize("size,output", UNEVEN_ADAPTIVE)
def test_uneven_adaptive_pools(tmp_path, size, output):
    model = Lambda(lambda self, x: (F.adaptive_avg_pool2d(x, output), F.adaptive_max_pool2d(x, output)))
    export_and_compare(model, random_inputs([(1, 3) + size]), tmp_path)


def test_uneven_adaptive_pool_modules(tmp_path):
    model = nn.Sequential(nn.AdaptiveMaxPool2d((5, None)), nn.AdaptiveAvgPool2d((None, 4)))
    export_and_compare(model, random_inputs([(1, 2, 13, 11)]), tmp_path)


def test_uneven_adaptive_max_layers(tmp_path):
    """12 → 5 has windows of 3 and 4 along each axis: two Poolings per axis, one selection matrix (both axes
    at once: an InnerProduct on the (rows, H·W) view)."""
    export_and_compare(Lambda(lambda self, x: F.adaptive_max_pool2d(x, 5)), random_inputs([(1, 2, 12, 12)]), tmp_path)
    assert layer_types(tmp_path) == ["Input", "Pooling", "Pooling", "Concat", "Pooling", "Pooling", "Concat",
                                     "Reshape", "Flatten", "InnerProduct", "Reshape"]


@pytest.mark.parametrize("output", [2, 3, 6])
def test_pyramid_pooling_windows_are_one_pooling(tmp_path, output):
    """PSPNet's 13 → 2, 3, 6: overlapping windows of one length and step (k7 s6, k5 s4, k3 s2)."""
    model = Lambda(lambda self, x: (F.adaptive_avg_pool2d(x, output), F.adaptive_max_pool2d(x, output)))
    export_and_compare(model, random_inputs([(1, 2, 13, 13)]), tmp_path)
    assert layer_types(tmp_path) == ["Input", "Pooling", "Pooling"]


def test_adaptive_windows_match_torch():
    import torch
    from pt2caffe.lowering.ops.pooling import adaptive_windows
    for size in range(1, 15):
        for out in range(1, 15):
            line = torch.arange(size, dtype=torch.float32).reshape(1, 1, size)
            starts = F.adaptive_max_pool1d(-line, out).neg().reshape(-1).tolist()
            stops = F.adaptive_max_pool1d(line, out).reshape(-1).add(1).tolist()
            assert adaptive_windows(size, out) == list(zip(map(int, starts), map(int, stops)))


POOL3D = {  # 4-D inputs pool across channels (PyTorch reads them as one unbatched C×D×H×W volume)
    "lprnet_channels_stride2": (nn.MaxPool3d((1, 3, 3), (2, 1, 2)), (2, 8, 9, 12)),
    "lprnet_channels_stride4": (nn.MaxPool3d((1, 3, 3), (4, 1, 2)), (2, 16, 9, 12)),
    "window_over_channels": (nn.MaxPool3d(3, 2, padding=1), (2, 8, 9, 12)),
    "avg_not_counting_padding": (nn.AvgPool3d((2, 3, 3), (2, 1, 1), (1, 1, 1), count_include_pad=False), (2, 8, 9, 12)),
    "avg_divisor_override": (nn.AvgPool3d(2, 2, divisor_override=3), (2, 8, 6, 6)),
    "avg_ceil_mode": (nn.AvgPool3d(3, 2, ceil_mode=True), (2, 8, 8, 8)),
    "five_d": (nn.MaxPool3d(2, 2), (2, 3, 4, 6, 6)),
}


@pytest.mark.parametrize("name", POOL3D)
def test_pool3d(tmp_path, name):
    module, shape = POOL3D[name]
    export_and_compare(nn.Sequential(module), random_inputs([shape]), tmp_path)


# Measured: MNN 3.6.1 runs the net but returns an empty (0, 0, 0, 0) output once MAX Pooling's second top (the
# argmax mask) is used; pycaffe and OpenCV compute it.
MNN_NO_MASK = "MNN 3.6.1 gives an empty output for a net that reads MAX Pooling's argmax mask (second top)"


class EncoderDecoder(nn.Module):
    """SegNet's pattern: pool with indices, more layers, unpool to the size before pooling."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.mid = nn.Conv2d(4, 4, 3, padding=1)
        self.unpool = nn.MaxUnpool2d(2, 2)

    def forward(self, x):
        y = self.conv(x).relu()
        pooled, indices = self.pool(y)
        return self.unpool(self.mid(pooled), indices, output_size=y.size())


@pytest.mark.parametrize("shape", [(2, 3, 8, 10), (2, 3, 9, 11)], ids=["even", "odd"])
def test_max_unpool(tmp_path, shape):
    export_and_compare(EncoderDecoder(), random_inputs([shape]), tmp_path, exceptions={"mnn": MNN_NO_MASK})


@pytest.fixture
def one_thread():
    """PyTorch's CPU max_unpool is a race between threads where windows picked one position (ops/unpooling.py);
    with one thread it is the sequential result the export computes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


OVERLAPPING = {  # pooling (kernel, stride, padding, ceil_mode), unpooling (kernel, stride, padding), input
    "ENet (pytorchcv): k3 s2 p1, unpooled by MaxUnpool2d(2)": ((3, 2, 1, False), (2, 2, 0), (2, 4, 16, 12)),
    "k3 s1 p1: every position in up to 9 windows": ((3, 1, 1, False), (3, 1, 1), (1, 3, 9, 8)),
    "k3 s2, ceil mode": ((3, 2, 0, True), (3, 2, 0), (1, 2, 11, 9)),
    "k(3, 2) s(2, 1) p(1, 0)": (((3, 2), (2, 1), (1, 0), False), ((3, 2), (2, 1), (1, 0)), (1, 2, 9, 7)),
}


@pytest.mark.parametrize("case", OVERLAPPING)
def test_max_unpool_of_overlapping_windows(tmp_path, one_thread, case):
    (kernel, stride, padding, ceil), unpooling, shape = OVERLAPPING[case]

    def pool_unpool(self, x):
        pooled, indices = F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil, return_indices=True)
        return F.max_unpool2d(self.mid(pooled), indices, *unpooling, output_size=x.shape[2:])

    model = Lambda(pool_unpool, mid=nn.Conv2d(shape[1], shape[1], 1))
    inputs = random_inputs([shape])
    pooled, indices = F.max_pool2d(inputs[0], kernel, stride, padding, ceil_mode=ceil, return_indices=True)
    assert len(indices.unique()) < indices.numel()  # windows picked one position: the last one's value stays
    export_and_compare(model, inputs, tmp_path, exceptions={"mnn": MNN_NO_MASK})
