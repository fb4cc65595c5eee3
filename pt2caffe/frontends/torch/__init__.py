"""The PyTorch front end: loads MODEL.py and its weights and records one run of the model as an op
graph (pt2caffe.graph). It knows torch, not Caffe."""
