"""Front ends: each turns a model in its own format into the op graph of pt2caffe.graph, which lowering
reads. ``torch/`` records a PyTorch model's run."""
