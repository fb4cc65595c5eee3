"""Finding the sizes a net is valid for (pt2caffe.net.probes) and the guards of a stride rule
(pt2caffe.net.guards); the runtimes' side of both is in test_input_sizes.py."""
import math

import pytest
import torch
import torch.nn.functional as F

from helpers import Lambda, random_inputs
from pt2caffe.conversion import convert
from pt2caffe.net.guards import guard_multiples
from pt2caffe.net.builder import NetBuilder
from pt2caffe.net.dialect import STOCK_SSD
from pt2caffe.net.probes import stride_probes
from pt2caffe.net.sizes import InputSizes


def skip_net(depth: int):
    """depth × (max-pool 2/2) down, as many nearest ×2 up, each added to the skip of its size: H and W must
    be multiples of 2**depth."""
    def forward(self, x):
        skips = [x]
        for _ in range(depth):
            skips.append(F.max_pool2d(skips[-1], 2))
        y = skips.pop()
        for _ in range(depth):
            y = F.interpolate(y, scale_factor=2) + skips.pop()
        return y
    return Lambda(forward)


@pytest.mark.parametrize("depth, shape, stride", [(3, (1, 2, 48, 40), 8), (2, (1, 2, 24, 36), 4), (1, (1, 2, 6, 10), 2)])
def test_the_stride_of_a_skip_net_is_found(depth, shape, stride):
    (sizes,) = convert(skip_net(depth), random_inputs([shape])).sizes
    assert (sizes.fixed, sizes.multiple) == ([1], {2: stride, 3: stride})


def test_a_net_fixed_by_its_weights_stays_fixed():
    """An adaptive pooling's matrices differ at every size: no stride makes the net the same."""
    model = Lambda(lambda self, x: F.adaptive_avg_pool2d(x, 3) * 2)
    (sizes,) = convert(model, random_inputs([(1, 2, 16, 16)])).sizes
    assert (sizes.fixed, sizes.multiple) == ([1, 2, 3], {})


@pytest.mark.parametrize("k, g", [(16, 16), (8, 16), (4, 48), (3, 48)])
def test_stride_probes_are_multiples_of_k_and_of_no_larger_divisor(k, g):
    shapes = [(1, 3, 64, 48)]
    probes = stride_probes(shapes, range(2, 4), k, g)
    assert len(probes) == 2 and probes[0] != probes[1]
    for (shape,) in probes:
        assert shape[:2] == (1, 3) and shape[2:] != (64, 48)
        assert all(math.gcd(size, g) == k for size in shape[2:]), shape


@pytest.mark.parametrize("multiple, shape, steps", [
    ({2: 16, 3: 16}, (1, 3, 64, 48), [[0, -1, 48, 0], [0, -1, 1, 0], [0, 0, -1, 16], [0, 0, 1, -1], [0, 3, -1, 0]]),
    ({2: 8}, (1, 4, 64, 48), [[0, -1, 32, 0], [0, 4, -1, 0]]),
    ({3: 4}, (1, 3, 64, 48), [[0, -1, 1, 0], [0, 0, -1, 4], [0, 0, 1, -1], [0, 3, -1, 0]]),
    ({2: 5}, (2, 6, 35), [[0, -1, 30], [0, 6, -1]]),
])
def test_guards_of_a_stride_rule(multiple, shape, steps):
    """The Reshape chain (pt2caffe.net.guards): each step is exact at every valid size (numpy reshape with
    Caffe's 0 = copy, −1 = infer), ends at the input's shape, and cannot be formed at an invalid one."""
    net = NetBuilder("n", STOCK_SSD)
    layers = guard_multiples(net, InputSizes("data", shape, [1], [], multiple), "data")
    assert [layer.params["reshape_param"]["shape"]["dim"] for layer in layers] == steps
    assert all("/size_guard_axis" in layer.name for layer in layers)
    sizes = InputSizes("data", shape, [1], [], multiple)
    for grown in ([shape[0] + 1, *shape[1:]], [*shape[:2], *(d + k for d, k in zip(shape[2:], (16, 16)))],
                  [*shape[:2], *(d + 1 for d in shape[2:])]):
        array = torch.arange(math.prod(grown)).reshape(grown).numpy()
        try:
            out = array
            for dims in steps:
                out = out.reshape([out.shape[i] if d == 0 else d for i, d in enumerate(dims)])
        except ValueError:
            assert not sizes.accepts(tuple(grown)), grown
            continue
        assert sizes.accepts(tuple(grown)) and (out == array).all(), grown
