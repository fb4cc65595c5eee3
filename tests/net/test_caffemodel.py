"""pt2caffe.net.caffemodel: blob data set in bulk reads back as protobuf's own field, other fields untouched."""
import numpy as np

from pt2caffe.net import caffe_pb2
from pt2caffe.net.caffemodel import set_blob_data


def test_set_blob_data_replaces_the_values_and_keeps_the_shape():
    blob = caffe_pb2.BlobProto()
    blob.shape.dim.extend([2, 3])
    blob.data.extend([9.0] * 4)
    values = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    set_blob_data(blob, values)
    again = caffe_pb2.BlobProto.FromString(blob.SerializeToString())
    assert list(again.shape.dim) == [2, 3]
    assert np.array_equal(np.asarray(again.data, np.float32), values.astype(np.float32).ravel())
