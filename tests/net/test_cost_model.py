"""The deploy cost model ranks alternative forms the way the runtimes did when measured (issue 21), and the
footprint adds up bytes per op family; no runtime runs here (the figures quoted are the measurements)."""
import numpy as np
import pytest

from pt2caffe.net.builder import NetBuilder, Weight
from pt2caffe.net.cost import Cost, estimate
from pt2caffe.net.dialect import STOCK_SSD
from pt2caffe.net.footprint import blowup_notes, cost_report, footprint


def _net(build):
    net = NetBuilder("t", STOCK_SSD)
    build(net)
    return net.layers


def _ones(*shape):
    return Weight(np.ones(shape, np.float32))


def _linear_as_rows_conv(net):
    """(1, 197, 192) → 768 as a 1×1 Convolution on the (197, 192, 1, 1) view: a GEMV per row in OpenCV."""
    x = net.input("data", (1, 197, 192))
    rows = net.layer("rows", "Reshape", [x], [(197, 192, 1, 1)], {"reshape_param": {"shape": {"dim": [-1, 192, 1, 1]}}})[0]
    net.layer("conv", "Convolution", [rows], [(197, 768, 1, 1)], {"convolution_param": {"num_output": 768}},
              [_ones(768, 192, 1, 1)])


def _linear_as_inner_product(net):
    x = net.input("data", (1, 197, 192))
    rows = net.layer("rows", "Reshape", [x], [(197, 192)], {"reshape_param": {"shape": {"dim": [-1, 192]}}})[0]
    flat = net.layer("flat", "Flatten", [rows], [(197, 192)], {})[0]
    net.layer("ip", "InnerProduct", [flat], [(197, 768)], {"inner_product_param": {"num_output": 768}},
              [_ones(768, 192)])


def test_linear_on_rows_ranks_as_measured():
    """OpenCV: 9.0 ms as a Convolution on one-pixel rows, 1.2 ms as one InnerProduct; MNN 0.6 ms both."""
    conv, ip = _net(_linear_as_rows_conv), _net(_linear_as_inner_product)
    assert estimate(conv, "opencv").time_us > 3 * estimate(ip, "opencv").time_us
    assert estimate(conv, "portable").score > estimate(ip, "portable").score


def _affine(layer_type):
    def build(net):
        x = net.input("data", (1, 32, 112, 112))
        if layer_type == "Power":
            net.layer("shift", "Power", [x], [x.shape], {"power_param": {"shift": -6.0}})
        else:
            net.layer("shift", "Scale", [x], [x.shape], {"scale_param": {"bias_term": True}},
                      [_ones(32), Weight(np.full(32, -6.0, np.float32))])
    return build


def test_mnn_pays_for_power_as_pow():
    """MNN's converter turns every Power into an elementwise pow (~6.8 ns per value, a Scale ~0.1 ns)."""
    power, scale = _net(_affine("Power")), _net(_affine("Scale"))
    assert estimate(power, "mnn").time_us > 10 * estimate(scale, "mnn").time_us
    assert estimate(power, "portable").score > estimate(scale, "portable").score


def _product_terms(kind):
    """One chunk of a ViT-tiny QKᵀ (T 3, K 64, 16 rows, N 197): the terms by a two-bottom Scale (no copy of
    A) or by a depthwise Deconvolution copy of A and Eltwise PROD."""
    def build(net):
        b_rows = net.input("b_rows", (3, 64, 16, 197))
        a_chunk = net.input("a_chunk", (3, 64, 16))
        if kind == "scale2":
            terms = net.layer("terms", "Scale", [b_rows, a_chunk], [b_rows.shape], {"scale_param": {"axis": 0}})[0]
        else:
            column = net.layer("col", "Reshape", [a_chunk], [(3, 64, 16, 1)], {})[0]
            wide = net.layer("wide", "Deconvolution", [column], [(3, 64, 16, 197)],
                             {"convolution_param": {"num_output": 64, "group": 64, "kernel_h": 1, "kernel_w": 197}},
                             [_ones(64, 1, 1, 197)])[0]
            terms = net.layer("terms", "Eltwise", [wide, b_rows], [b_rows.shape], {"eltwise_param": {"operation": "PROD"}})[0]
        net.layer("sum", "Convolution", [terms], [(3, 1, 16, 197)], {"convolution_param": {"num_output": 1}},
                  [_ones(1, 64, 1, 1)])
    return _net(build)


def test_products_rank_per_runtime():
    """Measured per ViT QKᵀ: OpenCV 5.7 ms with the two-bottom Scale vs 33 ms with Deconvolution copies;
    MNN cannot load the two-bottom Scale at all (its converter crashes)."""
    scale2, deconv = _product_terms("scale2"), _product_terms("deconv")
    assert estimate(scale2, "opencv").time_us < estimate(deconv, "opencv").time_us / 3
    assert estimate(scale2, "mnn").time_us > 100 * estimate(deconv, "mnn").time_us
    assert estimate(scale2, "portable").score > estimate(deconv, "portable").score


def test_portable_is_the_sum_and_unknown_targets_are_generic():
    layers = _net(_linear_as_inner_product)
    parts = sum(estimate(layers, runtime).time_us for runtime in ("pycaffe", "opencv", "mnn"))
    assert estimate(layers, "portable").time_us == pytest.approx(parts)
    assert estimate(layers, "nnie").time_us == pytest.approx(estimate(layers, "generic").time_us)


def test_weights_count_in_the_score():
    cost = Cost(time_us=100.0, weight_bytes=1 << 20, blob_bytes=0, layers=1)
    assert cost.score == pytest.approx(100.0 + 1e-4 * (1 << 20))


def test_footprint_adds_up_per_family():
    layers = _net(_linear_as_inner_product)
    for layer in layers[1:]:
        layer.op = "linear"
    found = footprint(layers, lambda kind: {"linear": "linear"}[kind])
    assert (found.total.layers, found.total.weight_bytes) == (3, 768 * 192 * 4)
    assert found.total.blob_bytes == 197 * 768 * 4  # the Reshape and Flatten tops are views
    assert found.families["linear"].layers == 3


def test_blowup_notes_name_the_op():
    layers = _net(_linear_as_inner_product)
    for layer in layers[1:]:
        layer.op, layer.module, layer.source = "linear", "encoder.fc", "model.py:12"
    notes = blowup_notes(layers, lambda kind: kind, parameter_bytes=1000, activation_bytes=1000)
    assert len(notes) == 2
    assert notes[0].startswith("cost: the net's weights are ") and "linear in encoder.fc (model.py:12)" in notes[0]
    assert "the model's activations" in notes[1]
    assert blowup_notes(layers, lambda kind: kind, parameter_bytes=10 ** 9, activation_bytes=10 ** 9) == []


def test_cost_report_keys():
    layers = _net(_linear_as_inner_product)
    report = cost_report(layers, lambda kind: kind or "net", parameter_bytes=5, activation_bytes=7)
    assert set(report) == {"layers", "weight_bytes", "blob_bytes", "parameter_bytes", "activation_bytes",
                           "estimated_ms", "families"}
    assert set(report["estimated_ms"]) == {"pycaffe", "opencv", "mnn"}
