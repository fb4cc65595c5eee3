"""Write the layer graph of OpenPose's BODY_25 pose network as a Caffe deploy prototxt.

The graph (layer names, types, connections, convolution sizes) is that of CMU's
models/pose/body_25/pose_deploy.prototxt; that file's licence does not allow redistribution,
so this script writes an equivalent one from the architecture's description.
Usage: python make_openpose_body25.py OUT.prototxt
"""
import sys

from google.protobuf import text_format

from pt2caffe.net import caffe_pb2


def _layer(net, name, kind, bottoms, top):
    layer = net.layer.add(name=name, type=kind, top=[top])
    layer.bottom.extend(bottoms)
    return layer


def _conv(net, name, bottom, outputs, kernel, activation=None, act_name=None):
    layer = _layer(net, name, "Convolution", [bottom], name)
    layer.convolution_param.num_output = outputs
    layer.convolution_param.pad.append(kernel // 2)
    layer.convolution_param.kernel_size.append(kernel)
    if activation:
        _layer(net, act_name, activation, [name], name)
    return name


def _stage(net, stage, branch, bottom, width, mid, outputs):
    for block in range(1, 6):
        parts = []
        for i in range(3):
            name = f"Mconv{block}_stage{stage}_{branch}_{i}"
            parts.append(_conv(net, name, parts[-1] if parts else bottom, width, 3, "PReLU",
                               f"Mprelu{block}_stage{stage}_{branch}_{i}"))
        bottom = f"Mconv{block}_stage{stage}_{branch}_concat"
        _layer(net, bottom, "Concat", parts, bottom).concat_param.axis = 1
    six = _conv(net, f"Mconv6_stage{stage}_{branch}", bottom, mid, 1, "PReLU", f"Mprelu6_stage{stage}_{branch}")
    return _conv(net, f"Mconv7_stage{stage}_{branch}", six, outputs, 1)


def body25() -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name="OpenPose - BODY_25", input=["image"], input_dim=[1, 3, 16, 16])
    bottom = "image"
    vgg = [("conv1_1", 64), ("conv1_2", 64), "pool1_stage1", ("conv2_1", 128), ("conv2_2", 128), "pool2_stage1",
           ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("conv3_4", 256), "pool3_stage1", ("conv4_1", 512)]
    for item in vgg:
        if isinstance(item, str):
            pool = _layer(net, item, "Pooling", [bottom], item)
            pool.pooling_param.pool = caffe_pb2.PoolingParameter.MAX
            pool.pooling_param.kernel_size, pool.pooling_param.stride = 2, 2
            bottom = item
        else:
            bottom = _conv(net, item[0], bottom, item[1], 3, "ReLU", "relu" + item[0][4:])
    for name, outputs in (("conv4_2", 512), ("conv4_3_CPM", 256), ("conv4_4_CPM", 128)):
        bottom = _conv(net, name, bottom, outputs, 3, "PReLU", "prelu" + name[4:])
    features = bottom
    paf = _stage(net, 0, "L2", features, 96, 256, 52)
    for stage in (1, 2, 3):
        joined = f"concat_stage{stage}_L2"
        _layer(net, joined, "Concat", [features, paf], joined).concat_param.axis = 1
        paf = _stage(net, stage, "L2", joined, 128, 512, 52)
    _layer(net, "concat_stage0_L1", "Concat", [features, paf], "concat_stage0_L1").concat_param.axis = 1
    heat = _stage(net, 0, "L1", "concat_stage0_L1", 96, 256, 26)
    _layer(net, "concat_stage1_L1", "Concat", [features, heat, paf], "concat_stage1_L1").concat_param.axis = 1
    heat = _stage(net, 1, "L1", "concat_stage1_L1", 128, 512, 26)
    _layer(net, "net_output", "Concat", [heat, paf], "net_output").concat_param.axis = 1
    return net


if __name__ == "__main__":
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        handle.write(text_format.MessageToString(body25()))
