"""Run an exported SSD net on an image array and print its detections, in pycaffe or OpenCV's dnn.

    python examples/ssd/detect.py NET.prototxt NET.caffemodel INPUT.npy [--opencv]

INPUT.npy holds the (N, 3, H, W) network input, already preprocessed as the model expects.
Rows are [image, label, score, xmin, ymin, xmax, ymax] (coordinates relative to the image).
pycaffe: put the reference Caffe on PYTHONPATH (``pt2caffe doctor`` says where it is).
"""
import argparse
import os

import numpy as np


def caffe_detections(prototxt: str, caffemodel: str, images: np.ndarray) -> np.ndarray:
    os.environ.setdefault("GLOG_minloglevel", "2")  # before caffe is imported: no net dump on stderr
    import caffe

    caffe.set_mode_cpu()
    net = caffe.Net(prototxt, caffe.TEST, weights=caffemodel)
    net.blobs["data"].reshape(*images.shape)
    net.blobs["data"].data[...] = images
    return net.forward()["detection_out"].reshape(-1, 7)


def opencv_detections(prototxt: str, caffemodel: str, images: np.ndarray) -> np.ndarray:
    import cv2

    net = cv2.dnn.readNetFromCaffe(prototxt, caffemodel)
    net.setInput(images)
    rows = net.forward("detection_out").reshape(-1, 7)
    return rows[rows[:, 2] > 0]  # OpenCV pads with zero rows up to keep_top_k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prototxt")
    parser.add_argument("caffemodel")
    parser.add_argument("input", metavar="INPUT.npy")
    parser.add_argument("--opencv", action="store_true", help="run in OpenCV's dnn instead of pycaffe")
    args = parser.parse_args()
    images = np.load(args.input).astype(np.float32)
    run = opencv_detections if args.opencv else caffe_detections
    rows = run(args.prototxt, args.caffemodel, images)
    rows = rows[np.lexsort((-rows[:, 2], rows[:, 1], rows[:, 0]))]  # image, label, descending score
    np.set_printoptions(precision=4, suppress=True)
    print(rows)


if __name__ == "__main__":
    main()
