"""``pt2caffe check``: run PyTorch and Caffe on the same input and compare every mapped blob.

The mapping Caffe blob ↔ traced value comes from the conversion report (its "blobs", in net
order): from NAME.json, or from converting the model again in memory when MODEL.py and
WEIGHTS.pth (or MODEL.onnx) are given with the net's files. Tracing the model again with capture on reproduces the same value
indices, so each Caffe blob is compared with ``graph.values[row["value"]].tensor``. A blob
passes when max|caffe − torch| ≤ atol + rtol·max|torch|; the first blob that does not is where
the export (or the edited prototxt / caffemodel) goes wrong.

When Caffe cannot even set the net up (an unknown layer, a shape it refuses), the net is cut
before the layer it dies on (found by bisection over prefixes of the net) so that everything
before it is still compared, and the crash is reported with that layer's name.

With ``--backend mnn`` a blob that MNN's converter fused away (its layer merged into another)
cannot be read: it is "not kept", which does not fail the check unless it is a net output
(a blob no layer reads), which must be there.

The parts: :mod:`.subject` (what is checked: report, files, export id), :mod:`.torch_side` (the model,
its input and every traced tensor), :mod:`.run` (the Caffe side, with crash recovery), :mod:`.compare`
(the maths, the noise floor of :mod:`.noise`), :mod:`.detections` (an SSD head's priors and detections),
:mod:`.table` (what is printed), :mod:`.drawing`, and :mod:`.command` (``main``).
"""
