"""Layers whose shapes come from their own parameters or the data: Input, DummyData, Parameter, the data
layers, Embed, the recurrent layers, the losses, PriorBox, DetectionOutput, Filter.

Sources (stock SSD Caffe, src/caffe/layers/ and include/caffe/layers/): input_layer.cpp, dummy_data_layer.cpp,
parameter_layer.hpp, embed_layer.cpp, recurrent_layer.cpp + lstm_layer.cpp + rnn_layer.cpp (outputs "h"/"o"
(T, N, num_output), exposed hidden states (1, N, num_output)), lstm_unit_layer.cpp, loss_layer.cpp (a 0-D
loss), softmax_loss_layer.cpp, accuracy_layer.cpp, prior_box_layer.cpp, detection_output_layer.cpp (Reshape
gives (1, 1, 1, 7); Forward reshapes to the number of detections: None here), filter_layer.cpp.
"""
from __future__ import annotations

from .rules import Out, Refusal, canonical, check, count, legacy, rule

DATA_LAYERS = frozenset("Data ImageData HDF5Data MemoryData WindowData AnnotatedData VideoData Python".split())
LOSSES = frozenset(("SoftmaxWithLoss EuclideanLoss SigmoidCrossEntropyLoss HingeLoss InfogainLoss "
                    "MultinomialLogisticLoss ContrastiveLoss SmoothL1Loss MultiBoxLoss").split())


def blob_shape(proto) -> tuple:
    """A BlobShape message as a tuple of extents."""
    return tuple(int(d) for d in proto.dim)


@rule("Input")
def input_layer(p, bottoms):
    """input_param.shape once, once per top, or not at all (then the caller must give the shapes)."""
    shapes, tops = [blob_shape(s) for s in p.input_param.shape], len(p.top)
    check(len(shapes) in (0, 1, tops), f"must specify 'shape' once, once per top blob, or not at all: {tops} tops "
                                       f"vs. {len(shapes)} shapes")
    if not shapes:
        raise Refusal(f"no shape for {', '.join(p.top)}: give the input shapes")
    return [shapes[0 if len(shapes) == 1 else i] for i in range(tops)]


@rule("DummyData")
def dummy_data(p, bottoms):
    d, tops = p.dummy_data_param, len(p.top)
    legacy_dims = [list(d.num), list(d.channels), list(d.height), list(d.width)]
    if any(legacy_dims):
        check(not d.shape, "both shape and legacy fields were specified")
        check(all(len(v) in (1, tops) for v in legacy_dims), "give num, channels, height and width once or once per "
                                                             "top blob")
        return [tuple(v[0 if len(v) == 1 else i] for v in legacy_dims) for i in range(tops)]
    check(len(d.shape) in (1, tops), f"must specify 'shape' once, or once per top blob ({tops})")
    return [blob_shape(d.shape[0 if len(d.shape) == 1 else i]) for i in range(tops)]


@rule("Parameter")
def parameter(p, bottoms):
    shape = blob_shape(p.parameter_param.shape)
    return Out([shape], [shape])


@rule(*DATA_LAYERS)
def data_layer(p, bottoms):
    raise Refusal(f"a {p.type} layer's tops get their shapes from its data source: give the shapes of "
                  f"{', '.join(p.top)}")


@rule("Embed")
def embed(p, bottoms):
    """Top: the bottom's shape + (num_output); weights (input_dim, num_output), bias (num_output)."""
    e = p.embed_param
    check(e.num_output > 0, "EmbedLayer num_output must be positive")
    check(e.input_dim > 0, "EmbedLayer input_dim must be positive")
    return Out([tuple(bottoms[0]) + (e.num_output,)], [(e.input_dim, e.num_output)] + ([(e.num_output,)] if
                                                                                       e.bias_term else []))


@rule("LSTM", "RNN")
def recurrent(p, bottoms):
    """x (T, N, …), cont (T, N), optional x_static (N, …) and, with expose_hidden, the initial states;
    tops: (T, N, num_output) and, with expose_hidden, the final states (1, N, num_output)."""
    x, cont = bottoms[0], bottoms[1]
    check(len(x) >= 2, "bottom[0] must have at least 2 axes -- (#timesteps, #streams, ...)")
    check(len(cont) == 2 and tuple(cont) == tuple(x[:2]), f"bottom[1] must be (#timesteps, #streams) = {list(x[:2])}, "
                                                          f"got {list(cont)}")
    outputs, states = p.recurrent_param.num_output, (2 if p.type == "LSTM" else 1)
    check(outputs > 0, "num_output must be positive")
    hidden = states if p.recurrent_param.expose_hidden else 0
    check(2 + hidden <= len(bottoms) <= 3 + hidden, f"{len(bottoms)} bottoms")
    check(len(p.top) == 1 + hidden, f"{len(p.top)} tops for {1 + hidden} outputs")
    return [(x[0], x[1], outputs)] + [(1, x[1], outputs)] * hidden


@rule("LSTMUnit")
def lstm_unit(p, bottoms):
    """c_prev (1, N, D), gates (1, N, 4D), cont (1, N) → c and h, both c_prev's shape."""
    check(len(bottoms) == 3, "LSTMUnit takes c_prev, x and cont")
    c = bottoms[0]
    check(tuple(bottoms[1][:2]) == tuple(c[:2]) and bottoms[1][2] == 4 * c[2], f"gates {list(bottoms[1])} for "
                                                                              f"states {list(c)}")
    return [c, c]


@rule(*LOSSES)
def loss(p, bottoms):
    """A 0-D loss; SoftmaxWithLoss's second top is the bottom's shape."""
    check(len(bottoms) >= 2 and bottoms[0][:1] == bottoms[1][:1], "the data and label should have the same first "
                                                                  "dimension")
    return [()] + [bottoms[0]] * (len(p.top) - 1)


@rule("Accuracy")
def accuracy(p, bottoms):
    axis = canonical(bottoms[0], p.accuracy_param.axis)
    return [(), (bottoms[0][axis],)][:len(p.top)]


def prior_count(q) -> int:
    """Priors per cell (prior_box_layer.cpp LayerSetUp): aspect ratios 1 and each new ar (and 1/ar with flip,
    a ratio within 1e-6 of one already listed is skipped), per min_size, plus one per max_size."""
    ratios = [1.0]
    for ratio in q.aspect_ratio:
        if all(abs(ratio - known) >= 1e-6 for known in ratios):
            ratios += [ratio, 1.0 / ratio] if q.flip else [ratio]
    check(len(q.min_size) > 0, "must provide min_size")
    check(not q.max_size or len(q.max_size) == len(q.min_size), "one max_size per min_size")
    return len(ratios) * len(q.min_size) + len(q.max_size)


@rule("PriorBox")
def prior_box(p, bottoms):
    """(1, 2, H·W·priors·4) from bottom[0]'s legacy height and width."""
    shape = bottoms[0]
    extent = legacy(shape, 2) * legacy(shape, 3) * prior_count(p.prior_box_param) * 4
    check(extent > 0, "no priors")
    return [(1, 2, extent)]


@rule("DetectionOutput")
def detection_output(p, bottoms):
    """(1, 1, detections, 7); priors = bottom[2]'s legacy height / 4 must match loc and conf channels."""
    d = p.detection_output_param
    check(d.HasField("num_classes"), "must specify num_classes")
    loc, conf, priors = bottoms[0], bottoms[1], bottoms[2]
    check(legacy(loc, 0) == legacy(conf, 0), f"loc {list(loc)} and conf {list(conf)} differ in batch")
    count_priors = legacy(priors, 2) // 4
    loc_classes = 1 if d.share_location else d.num_classes
    check(count_priors * loc_classes * 4 == legacy(loc, 1), f"number of priors ({count_priors}) must match number "
                                                            f"of location predictions ({list(loc)})")
    check(count_priors * d.num_classes == legacy(conf, 1), f"number of priors ({count_priors}) must match number of "
                                                           f"confidence predictions ({list(conf)})")
    return [(1, 1, None, 7)]


@rule("Filter")
def filter_(p, bottoms):
    """Each data bottom keeps the items its selector (last bottom) marks: a count only the data decides."""
    selector = bottoms[-1]
    check(count(selector, 1) == 1,
          f"selector blob dimensions must be singletons (1), except the first: {list(selector)}")
    check(len(p.top) == len(bottoms) - 1, "one top per data bottom")
    for b in bottoms[:-1]:
        check(b[0] == selector[0], "each bottom should have the same 0th dimension as the selector blob")
    return [(None,) + tuple(b[1:]) for b in bottoms[:-1]]
