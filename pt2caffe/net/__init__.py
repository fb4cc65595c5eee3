"""The Caffe net as data and as files: the builder (layers, blobs, weights) checked against the target
dialect, its outputs settled for every runtime, the input sizes it is valid for, and its prototxt,
caffemodel and report files."""
