"""Checks of proto/caffe.proto and of its generated bindings pt2caffe/net/caffe_pb2.py.

* The committed module is exactly what scripts/gen_proto.sh generates.
* Our schema agrees, field by field (name, number, type, label, default), with
  the reference build's pycaffe ``caffe_pb2`` — stock SSD Caffe (weiliu89/caffe,
  branch ssd, 4817bf8b), built by scripts/build_caffe.sh.  The reference
  descriptors are read in a child process, so the two descriptor sets never meet
  in this process.  What we declare beyond stock is listed (empty) and asserted.
* A small SSD-style net survives text and binary round trips, and its bytes
  and text mean the same to the reference's bindings.

The reference tests fail, never skip, when the reference Caffe is not built: the
project's test command builds it (``bash scripts/build_caffe.sh``).
"""
from __future__ import annotations

import base64
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, text_format

from pt2caffe.net import caffe_pb2

ROOT = Path(__file__).resolve().parents[2]
GEN_SCRIPT = ROOT / "scripts" / "gen_proto.sh"
COMMITTED_MODULE = ROOT / "pt2caffe" / "net" / "caffe_pb2.py"

# Fields and messages pt2caffe declares beyond stock SSD Caffe: none. The default (and only)
# target is stock SSD Caffe, so a field it lacks can never be written.
DECLARED_BEYOND_STOCK: set[str] = set()

# ---------------------------------------------------------------------------
# Descriptor → plain comparable data
# ---------------------------------------------------------------------------

_F = descriptor_pb2.FieldDescriptorProto
_FLOAT_TYPES = {_F.TYPE_FLOAT, _F.TYPE_DOUBLE}
_INT_TYPES = {
    _F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_UINT32, _F.TYPE_UINT64, _F.TYPE_SINT32,
    _F.TYPE_SINT64, _F.TYPE_FIXED32, _F.TYPE_FIXED64, _F.TYPE_SFIXED32, _F.TYPE_SFIXED64,
}


def _default(field: descriptor_pb2.FieldDescriptorProto):
    """The field's declared default as a Python value (None if it declares none)."""
    if not field.HasField("default_value"):
        return None
    text = field.default_value
    if field.type == _F.TYPE_FLOAT:
        return struct.unpack("<f", struct.pack("<f", float(text)))[0]
    if field.type in _FLOAT_TYPES:
        return float(text)
    if field.type in _INT_TYPES:
        return int(text)
    if field.type == _F.TYPE_BOOL:
        return text == "true"
    return text  # string, bytes (escaped text) and enum (value name)


def schema_of(file_proto: descriptor_pb2.FileDescriptorProto) -> tuple[dict, dict]:
    """(messages, enums) of a .proto file, keyed by names without the package.

    messages: {"Outer.Inner": {field name: {number, type, label, type_name, default, has_default}}}
    enums:    {"Outer.Enum": {value name: number}}
    """
    prefix = "." + file_proto.package + "." if file_proto.package else "."
    messages: dict[str, dict] = {}
    enums: dict[str, dict] = {}

    def local(type_name: str) -> str:
        return type_name[len(prefix):] if type_name.startswith(prefix) else type_name.lstrip(".")

    def walk_enum(enum, scope):
        enums[scope + enum.name] = {value.name: value.number for value in enum.value}

    def walk_message(message, scope):
        name = scope + message.name
        messages[name] = {
            field.name: {
                "number": field.number,
                "type": _F.Type.Name(field.type),
                "label": _F.Label.Name(field.label),
                "type_name": local(field.type_name) if field.type_name else "",
                "default": _default(field),
                "has_default": field.HasField("default_value"),
            }
            for field in message.field
        }
        for nested in message.nested_type:
            walk_message(nested, name + ".")
        for enum in message.enum_type:
            walk_enum(enum, name + ".")

    for message in file_proto.message_type:
        walk_message(message, "")
    for enum in file_proto.enum_type:
        walk_enum(enum, "")
    return messages, enums


def _our_file_proto() -> descriptor_pb2.FileDescriptorProto:
    return descriptor_pb2.FileDescriptorProto.FromString(caffe_pb2.DESCRIPTOR.serialized_pb)


OUR_MESSAGES, OUR_ENUMS = schema_of(_our_file_proto())

# ---------------------------------------------------------------------------
# The reference build, seen only from child processes
# ---------------------------------------------------------------------------


def _reference_env() -> dict[str, str]:
    """Environment for a child process that imports the reference pycaffe."""
    from pt2caffe.errors import Pt2CaffeError
    from pt2caffe.runtimes.reference_caffe import caffe_pythonpath

    try:
        path = caffe_pythonpath()
    except Pt2CaffeError as error:
        pytest.fail(f"reference Caffe unavailable: {error}")
    env = dict(os.environ)
    env["PYTHONPATH"] = path
    env.setdefault("GLOG_minloglevel", "2")
    return env


def _run_with_reference(code: str, stdin: bytes = b"") -> bytes:
    """Run Python ``code`` in a child with the reference pycaffe importable; its stdout.

    The child gets the path of our generated module as argv[1].
    """
    env = _reference_env()
    command = [sys.executable, "-c", code, str(COMMITTED_MODULE)]
    proc = subprocess.run(command, input=stdin, capture_output=True, env=env, timeout=300)
    if proc.returncode != 0 and b"Descriptors cannot be created directly" in proc.stderr:
        # Bindings from an old protoc: only the pure-Python protobuf backend loads them.
        env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
        proc = subprocess.run(command, input=stdin, capture_output=True, env=env, timeout=300)
    assert proc.returncode == 0, (
        f"child process using the reference pycaffe failed (exit {proc.returncode}):\n"
        + proc.stderr.decode(errors="replace")
    )
    # pycaffe may print on import; the payload follows the last marker.
    _, marker, payload = proc.stdout.rpartition(_MARKER.encode())
    assert marker, f"child process printed no result:\n{proc.stdout.decode(errors='replace')}"
    return payload


_MARKER = "@@pt2caffe-result@@"

_DUMP_REFERENCE_DESCRIPTOR = f"""
import base64, sys
from caffe.proto import caffe_pb2
sys.stdout.write("{_MARKER}" + base64.b64encode(caffe_pb2.DESCRIPTOR.serialized_pb).decode("ascii"))
"""


@pytest.fixture(scope="module")
def reference_schema() -> tuple[dict, dict]:
    encoded = _run_with_reference(_DUMP_REFERENCE_DESCRIPTOR)
    file_proto = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(encoded))
    return schema_of(file_proto)


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


def test_committed_module_matches_generator(tmp_path):
    if shutil.which("protoc") is None:
        pytest.fail(
            "protoc is not installed; the project's setup installs Debian's protobuf-compiler "
            "(apt-get install protobuf-compiler), which scripts/gen_proto.sh needs"
        )
    out = tmp_path / "caffe_pb2.py"
    proc = subprocess.run(["bash", str(GEN_SCRIPT), str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, f"scripts/gen_proto.sh failed:\n{proc.stderr}"
    assert out.read_bytes() == COMMITTED_MODULE.read_bytes(), (
        "pt2caffe/net/caffe_pb2.py differs from what proto/caffe.proto generates: "
        "run `bash scripts/gen_proto.sh` and commit the result"
    )


def test_module_identity():
    """Our package and registered file name keep us apart from pycaffe's caffe_pb2."""
    assert caffe_pb2.DESCRIPTOR.package == "pt2caffe.caffe"
    assert caffe_pb2.DESCRIPTOR.name == "pt2caffe/net/caffe.proto"
    assert caffe_pb2.NetParameter.DESCRIPTOR.full_name == "pt2caffe.caffe.NetParameter"
    assert not caffe_pb2.DESCRIPTOR.dependencies


def test_declared_inventory():
    """The messages the exporter and readers rely on are all declared."""
    required = {
        "NetParameter", "LayerParameter", "BlobProto", "BlobShape", "BlobProtoVector",
        "NetState", "NetStateRule", "ParamSpec", "FillerParameter", "TransformationParameter",
        "LossParameter", "ConvolutionParameter", "PoolingParameter", "InnerProductParameter",
        "BatchNormParameter", "ScaleParameter", "BiasParameter", "EltwiseParameter",
        "ConcatParameter", "SliceParameter", "CropParameter", "ReshapeParameter",
        "FlattenParameter", "PermuteParameter", "NormalizeParameter", "PriorBoxParameter",
        "DetectionOutputParameter", "NonMaximumSuppressionParameter", "SaveOutputParameter",
        "PowerParameter", "ReLUParameter", "PReLUParameter", "ELUParameter", "SoftmaxParameter",
        "ReductionParameter", "LRNParameter", "MVNParameter", "TileParameter", "InputParameter",
        "DummyDataParameter", "DropoutParameter", "ThresholdParameter", "ExpParameter",
        "LogParameter", "ArgMaxParameter", "EmbedParameter", "SPPParameter",
        "ParameterParameter", "SigmoidParameter", "TanHParameter", "AccuracyParameter",
        "DataParameter", "ImageDataParameter", "V1LayerParameter", "V0LayerParameter",
    }
    assert required <= set(OUR_MESSAGES), sorted(required - set(OUR_MESSAGES))


# ---------------------------------------------------------------------------
# Schema against the reference build
# ---------------------------------------------------------------------------


def beyond_stock(ours: dict, reference: dict) -> set[str]:
    """Messages ("Name") and fields ("Name.field") declared by us but absent from the reference."""
    extra = {message for message in ours if message not in reference}
    extra |= {f"{message}.{field}" for message, fields in ours.items() if message in reference
              for field in fields if field not in reference[message]}
    return extra


def test_declared_beyond_stock_is_exactly_the_list(reference_schema):
    ref_messages, ref_enums = reference_schema
    extra = beyond_stock(OUR_MESSAGES, ref_messages) | beyond_stock(OUR_ENUMS, ref_enums)
    assert extra == DECLARED_BEYOND_STOCK


def test_every_declared_field_matches_reference(reference_schema):
    ref_messages, _ = reference_schema
    problems = []
    for message, fields in sorted(OUR_MESSAGES.items()):
        for name, ours in sorted(fields.items()):
            theirs = ref_messages.get(message, {}).get(name)
            if theirs is not None and theirs != ours:
                diff = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
                problems.append(f"{message}.{name}: (ours, reference) differ in {diff}")
    assert not problems, "schema differs from stock SSD Caffe:\n" + "\n".join(problems)


def test_every_declared_enum_matches_reference(reference_schema):
    _, ref_enums = reference_schema
    problems = [f"enum {enum}.{name} = {number}: reference has {ref_enums[enum].get(name)}"
                for enum, values in sorted(OUR_ENUMS.items()) if enum in ref_enums
                for name, number in values.items() if ref_enums[enum].get(name) != number]
    assert not problems, "\n".join(problems)


def test_layer_parameter_covers_every_stock_layer_field(reference_schema):
    """Every LayerParameter field of stock SSD Caffe is declared, so any stock net parses."""
    missing = set(reference_schema[0]["LayerParameter"]) - set(OUR_MESSAGES["LayerParameter"])
    assert not missing, f"stock LayerParameter fields not declared by us: {sorted(missing)}"


# ---------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------


def _ssd_head_net() -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name="ssd_head")
    data = net.layer.add(name="data", type="Input", top=["data"])
    data.input_param.shape.add(dim=[1, 3, 32, 32])

    conv = net.layer.add(name="conv_loc", type="Convolution", bottom=["data"], top=["conv_loc"])
    conv.convolution_param.num_output = 8
    conv.convolution_param.kernel_size.append(3)
    conv.convolution_param.pad.append(1)
    conv.convolution_param.stride.append(1)
    conv.convolution_param.weight_filler.type = "xavier"
    conv.param.add(lr_mult=1.0, decay_mult=1.0)
    conv.param.add(lr_mult=2.0, decay_mult=0.0)
    conv.include.add(phase=caffe_pb2.TEST)
    weights = conv.blobs.add()
    weights.shape.dim.extend([8, 3, 3, 3])
    weights.data.extend([0.25 * (i % 7) - 0.5 for i in range(8 * 3 * 3 * 3)])
    bias = conv.blobs.add()
    bias.shape.dim.append(8)
    bias.data.extend([0.125] * 8)

    prior = net.layer.add(name="priors", type="PriorBox", bottom=["conv_loc", "data"], top=["priors"])
    p = prior.prior_box_param
    p.min_size.append(30.0)
    p.max_size.append(60.0)
    p.aspect_ratio.extend([2.0, 3.0])
    p.flip = True
    p.clip = False
    p.variance.extend([0.1, 0.1, 0.2, 0.2])
    p.step = 8.0
    p.offset = 0.5

    det = net.layer.add(name="detection_out", type="DetectionOutput",
                        bottom=["conv_loc", "conf", "priors"], top=["detection_out"])
    d = det.detection_output_param
    d.num_classes = 21
    d.share_location = True
    d.background_label_id = 0
    d.nms_param.nms_threshold = 0.45
    d.nms_param.top_k = 400
    d.code_type = caffe_pb2.PriorBoxParameter.CENTER_SIZE
    d.keep_top_k = 200
    d.confidence_threshold = 0.01
    return net


def test_round_trip_text_and_binary():
    net = _ssd_head_net()

    text = text_format.MessageToString(net)
    assert "code_type: CENTER_SIZE" in text
    assert text_format.Parse(text, caffe_pb2.NetParameter()) == net

    wire = net.SerializeToString()
    again = caffe_pb2.NetParameter.FromString(wire)
    assert again == net
    assert again.SerializeToString() == wire
    # A few wire facts that Caffe depends on: layer = 100, blobs = 7, packed data = 5.
    assert wire.startswith(b"\x0a\x08ssd_head")  # name = 1
    assert b"\xa2\x06" in wire  # tag of NetParameter.layer (100, length-delimited)
    layer_wire = net.layer[1].SerializeToString()
    blob_wire = net.layer[1].blobs[1].SerializeToString()
    assert b"\x3a" + bytes([len(blob_wire)]) + blob_wire in layer_wire  # LayerParameter.blobs = 7
    # BlobProto: data = 5 (packed, 8 floats = 32 bytes), then shape = 7 holding dim = 1 (packed).
    packed = struct.pack("<8f", *[0.125] * 8)
    assert blob_wire == b"\x2a\x20" + packed + b"\x3a\x03\x0a\x01\x08"


_FOREIGN_DEPLOY_PROTOTXT = """
name: "VGG_VOC0712_SSD_300x300_deploy"
input: "data"
input_shape { dim: 1 dim: 3 dim: 300 dim: 300 }
layer {
  name: "conv1_1" type: "Convolution" bottom: "data" top: "conv1_1"
  param { lr_mult: 1 decay_mult: 1 }
  param { lr_mult: 2 decay_mult: 0 }
  convolution_param {
    num_output: 64 pad: 1 kernel_size: 3
    weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0 }
  }
}
layer { name: "relu1_1" type: "ReLU" bottom: "conv1_1" top: "conv1_1" }
layer {
  name: "pool1" type: "Pooling" bottom: "conv1_1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 }
}
layer {
  name: "conv4_3_norm" type: "Normalize" bottom: "pool1" top: "conv4_3_norm"
  norm_param { across_spatial: false scale_filler { type: "constant" value: 20 } channel_shared: false }
}
layer {
  name: "conv4_3_norm_mbox_loc_perm" type: "Permute" bottom: "conv4_3_norm" top: "perm"
  permute_param { order: 0 order: 2 order: 3 order: 1 }
}
layer {
  name: "flat" type: "Flatten" bottom: "perm" top: "flat" flatten_param { axis: 1 }
}
layer {
  name: "mbox_priorbox" type: "PriorBox" bottom: "conv4_3_norm" bottom: "data" top: "mbox_priorbox"
  prior_box_param {
    min_size: 30.0 max_size: 60.0 aspect_ratio: 2 flip: true clip: false
    variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 step: 8 offset: 0.5
  }
}
layer {
  name: "mbox_conf_reshape" type: "Reshape" bottom: "flat" top: "conf_reshape"
  reshape_param { shape { dim: 0 dim: -1 dim: 21 } }
}
layer {
  name: "mbox_conf_softmax" type: "Softmax" bottom: "conf_reshape" top: "conf_softmax"
  softmax_param { axis: 2 }
}
layer {
  name: "detection_out" type: "DetectionOutput"
  bottom: "flat" bottom: "conf_softmax" bottom: "mbox_priorbox" top: "detection_out"
  include { phase: TEST }
  propagate_down: false
  loss_weight: 0
  transform_param { mean_value: 104 mean_value: 117 mean_value: 123 }
  detection_output_param {
    num_classes: 21 share_location: true background_label_id: 0
    nms_param { nms_threshold: 0.45 top_k: 400 }
    save_output_param { label_map_file: "labelmap_voc.prototxt" }
    code_type: CENTER_SIZE keep_top_k: 200 confidence_threshold: 0.01
  }
}
layers { name: "legacy" type: RELU bottom: "x" top: "x" }
"""


def test_foreign_deploy_prototxt_parses():
    net = text_format.Parse(_FOREIGN_DEPLOY_PROTOTXT, caffe_pb2.NetParameter())
    assert [layer.type for layer in net.layer][-1] == "DetectionOutput"
    det = net.layer[-1]
    assert det.include[0].phase == caffe_pb2.TEST
    assert det.detection_output_param.code_type == caffe_pb2.PriorBoxParameter.CENTER_SIZE
    assert net.layers[0].type == caffe_pb2.V1LayerParameter.RELU
    assert text_format.Parse(text_format.MessageToString(net), caffe_pb2.NetParameter()) == net


_REFERENCE_READS_OUR_BYTES = f"""
import base64, importlib.util, sys
from caffe.proto import caffe_pb2
from google.protobuf import text_format
# Both descriptor sets must coexist in one process.  Our module is loaded by path
# so that the pt2caffe package (and torch) stay out of this pycaffe process.
spec = importlib.util.spec_from_file_location("pt2caffe_caffe_pb2", sys.argv[1])
ours = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ours)
wire = sys.stdin.buffer.read()
net = caffe_pb2.NetParameter.FromString(wire)
again = caffe_pb2.NetParameter()
text_format.Parse(text_format.MessageToString(net), again)
sys.stdout.write("{_MARKER}" + base64.b64encode(again.SerializeToString()).decode("ascii") + "\\n")
sys.stdout.write(text_format.MessageToString(net))
assert ours.NetParameter.DESCRIPTOR.full_name == "pt2caffe.caffe.NetParameter"
"""


def test_reference_reads_our_bytes_and_text(reference_schema):
    """Bytes we write mean the same to the reference bindings, field for field."""
    net = _ssd_head_net()
    out = _run_with_reference(_REFERENCE_READS_OUR_BYTES, stdin=net.SerializeToString())
    encoded, _, text = out.decode().partition("\n")
    assert base64.b64decode(encoded) == net.SerializeToString()
    assert text == text_format.MessageToString(net)
