"""Child process for random_graph_runs: many exported nets in one pycaffe (the import is the slow part).

    python pycaffe_batch.py JOBS.json START

JOBS.json lists {"prefix", "blobs"}; from job START on, each net PREFIX.prototxt + .caffemodel runs on
PREFIX.in.npz and its blobs go to PREFIX.out.npz (b0, b1, … in the order of "blobs"); "done I" is printed
after job I, so the parent knows where a net that aborts Caffe stopped the child.
"""
import json
import os
import sys

os.environ.setdefault("GLOG_minloglevel", "2")

import caffe  # noqa: E402
import numpy as np  # noqa: E402


def main(jobs_path, start):
    caffe.set_mode_cpu()
    with open(jobs_path) as handle:
        jobs = json.load(handle)
    for position in range(start, len(jobs)):
        prefix = jobs[position]["prefix"]
        net = caffe.Net(prefix + ".prototxt", caffe.TEST, weights=prefix + ".caffemodel")
        with np.load(prefix + ".in.npz") as inputs:
            for name in inputs.files:
                net.blobs[name].reshape(*inputs[name].shape)
                net.blobs[name].data[...] = inputs[name]
        net.forward()
        np.savez(prefix + ".out.npz", **{f"b{i}": net.blobs[blob].data for i, blob in enumerate(jobs[position]["blobs"])})
        print(f"done {position}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
