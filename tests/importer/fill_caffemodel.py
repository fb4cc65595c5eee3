"""Run under pycaffe (a child process): give a deploy net seeded random weights and save the caffemodel.

Usage: python fill_caffemodel.py NET.prototxt OUT.caffemodel SEED
Values as a trained net holds them: BatchNorm's blobs are stored multiplied by a scale factor
(batch_norm_layer.cpp accumulates it; trained nets hold about 999.98), variances positive, Scale γ
around 1, PReLU slopes in [0, 0.5], Normalize scales around 10, weights N(0, 1/fan-in), biases small.
"""
import sys

import numpy as np

import caffe


def fill(net, rng) -> None:
    kinds = {name: layer.type for name, layer in zip(net._layer_names, net.layers)}
    for name, blobs in net.params.items():
        kind = kinds[name]
        for i, blob in enumerate(blobs):
            shape = blob.data.shape
            if kind == "BatchNorm":
                blob.data[...] = [rng.uniform(-1, 1, shape), rng.uniform(0.5, 2, shape), np.ones(shape)][i] * 999.98
            elif kind == "Scale" and i == 0:
                blob.data[...] = rng.uniform(0.5, 1.5, shape)
            elif kind == "PReLU":
                blob.data[...] = rng.uniform(0, 0.5, shape)
            elif kind == "Normalize":
                blob.data[...] = rng.uniform(5, 20, shape)
            elif blob.data.ndim > 1:
                blob.data[...] = rng.normal(0, 1 / np.sqrt(np.prod(shape) / shape[0]), shape)
            else:
                blob.data[...] = rng.uniform(-0.1, 0.1, shape)


if __name__ == "__main__":
    prototxt, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    caffe.set_mode_cpu()
    net = caffe.Net(prototxt, caffe.TEST)
    fill(net, np.random.RandomState(seed))
    net.save(out)
