"""pt2caffe.runtimes.launch against the real reference Caffe and OpenCV, on a hand-written SSD head.

These tests need the Caffe that `bash scripts/build_caffe.sh` builds (scripts/test.sh does it
first). They do not skip without it: they fail with the error telling to build it.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from pt2caffe.runtimes import launch, reference_caffe, worker
from pt2caffe.errors import Pt2CaffeError

SSD_HEAD = str(Path(__file__).parents[1] / "data" / "ssd_head.prototxt")
NUM_CLASSES = 3


@pytest.fixture(scope="module")
def ssd_inputs():
    rng = np.random.default_rng(0)
    return {
        "data": rng.standard_normal((1, 3, 32, 32)).astype(np.float32),
        "feat": rng.standard_normal((1, 28, 4, 4)).astype(np.float32),
    }


@pytest.fixture(scope="module")
def caffe_out(ssd_inputs):
    return launch.run_pycaffe(SSD_HEAD, None, ssd_inputs)


@pytest.fixture(scope="module")
def opencv_out(ssd_inputs):
    return launch.run_opencv(SSD_HEAD, None, ssd_inputs, ["priors", "detection_out"])


def expected_priors(feature_hw, image_hw, min_size, max_size, aspect_ratios, step, offset,
                    variances):
    """PriorBox from its definition: per cell (row-major) the min-size box, the
    sqrt(min*max) box, then each aspect ratio ar and its flip 1/ar; corner form, normalised
    by the image size; the second channel repeats the four variances."""
    ratios = [r for ar in aspect_ratios for r in (ar, 1.0 / ar)]
    sizes = [(min_size, min_size), (math.sqrt(min_size * max_size),) * 2]
    sizes += [(min_size * math.sqrt(r), min_size / math.sqrt(r)) for r in ratios]
    boxes = []
    for row in range(feature_hw[0]):
        for col in range(feature_hw[1]):
            cx, cy = (col + offset) * step, (row + offset) * step
            for w, h in sizes:
                boxes.append([(cx - w / 2) / image_hw[1], (cy - h / 2) / image_hw[0],
                              (cx + w / 2) / image_hw[1], (cy + h / 2) / image_hw[0]])
    coords = np.array(boxes, dtype=np.float64).reshape(-1)
    return np.stack([coords, np.tile(variances, len(boxes))])[None]


PRIORS = expected_priors((4, 4), (32, 32), 8, 16, [2.0], step=6, offset=0.5,
                         variances=[0.1, 0.1, 0.2, 0.2])


@pytest.mark.parametrize("engine", ["caffe", "opencv"])
def test_priorbox_matches_its_definition(engine, caffe_out, opencv_out):
    priors = {"caffe": caffe_out, "opencv": opencv_out}[engine]["priors"]
    assert priors.shape == (1, 2, 4 * 4 * 4 * 4)
    np.testing.assert_allclose(priors, PRIORS, rtol=0, atol=1e-6)


def test_detection_output_format(caffe_out):
    det = caffe_out["detection_out"]
    assert det.ndim == 4 and det.shape[:2] == (1, 1) and det.shape[3] == 7
    assert 1 <= det.shape[2] <= 20  # keep_top_k
    rows = det[0, 0]
    assert np.all(rows[:, 0] == 0)  # image id
    assert set(rows[:, 1].astype(int)) <= set(range(1, NUM_CLASSES))  # background 0 dropped
    assert np.all((rows[:, 2] >= 0.01) & (rows[:, 2] <= 1))  # confidence_threshold
    assert np.all(rows[:, 3] < rows[:, 5]) and np.all(rows[:, 4] < rows[:, 6])


def by_label_then_score(det):
    rows = det[0, 0]
    return rows[np.lexsort((-rows[:, 2], rows[:, 1]))]


def test_pycaffe_and_opencv_agree_on_detections(caffe_out, opencv_out):
    caffe_det, opencv_det = caffe_out["detection_out"], opencv_out["detection_out"]
    assert opencv_det.shape == caffe_det.shape
    # Same detections; Caffe lists them grouped by label, OpenCV by descending score overall.
    np.testing.assert_array_equal(caffe_det[0, 0], by_label_then_score(caffe_det))
    np.testing.assert_allclose(by_label_then_score(opencv_det), caffe_det[0, 0],
                               rtol=0, atol=1e-5)
    np.testing.assert_array_equal(opencv_det[0, 0, :, 2], np.sort(opencv_det[0, 0, :, 2])[::-1])


def test_pycaffe_returns_every_blob_when_none_are_named(caffe_out, ssd_inputs):
    assert {"data", "feat", "loc", "conf", "priors", "detection_out"} <= set(caffe_out)
    np.testing.assert_array_equal(caffe_out["feat"], ssd_inputs["feat"])
    assert caffe_out["loc"].shape == (1, 64 * 4)
    conf = caffe_out["conf"].reshape(64, NUM_CLASSES)
    np.testing.assert_allclose(conf.sum(axis=1), 1, atol=1e-6)


def test_opencv_returns_the_network_outputs_when_none_are_named(ssd_inputs):
    out = launch.run_opencv(SSD_HEAD, None, ssd_inputs)
    assert list(out) == ["detection_out"]


def test_named_blobs_only(ssd_inputs):
    out = launch.run_pycaffe(SSD_HEAD, None, ssd_inputs, blobs=["conf"])
    assert list(out) == ["conf"]


IN_PLACE_NET = """
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 dim: 3 dim: 3 } } }
layer { name: "scale1" type: "Power" bottom: "data" top: "s" power_param { scale: 2 shift: -0.5 } }
layer { name: "relu1" type: "ReLU" bottom: "s" top: "s" }
layer { name: "split" type: "Slice" bottom: "s" top: "part0" top: "part1" slice_param { axis: 1 slice_point: 1 } }
"""


def test_blobs_by_name_when_layer_names_differ_from_tops(tmp_path):
    """'s' is written by scale1, then in place by relu1: after forward it holds the ReLU's output, in
    pycaffe and in OpenCV, through the check backends and run_opencv; 'data' only the Input layer writes."""
    from pt2caffe.runtimes import backends

    net = tmp_path / "in_place.prototxt"
    net.write_text(IN_PLACE_NET)
    data = np.random.default_rng(0).standard_normal((1, 2, 3, 3)).astype(np.float32)
    expected = {"data": data, "s": np.maximum(2 * data - 0.5, 0)}
    expected.update(part0=expected["s"][:, :1], part1=expected["s"][:, 1:])
    for backend in ("pycaffe", "opencv"):
        got = backends.run_net(backend, str(net), None, {"data": data}, list(expected))
        assert list(got) == list(expected)
        for name, array in expected.items():
            np.testing.assert_allclose(got[name], array, rtol=0, atol=1e-6, err_msg=f"{backend} {name}")
    got = launch.run_opencv(str(net), None, {"data": data}, ["s", "part1"])
    np.testing.assert_allclose(got["s"], expected["s"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["part1"], expected["part1"], rtol=0, atol=1e-6)


BROKEN_NET = """
layer {{ name: "input" type: "Input" top: "data" input_param {{ shape {{ dim: 1 dim: 3 dim: 8 dim: 8 }} }} }}
layer {{ name: "bad" type: "{type}" bottom: "data" top: "out" {param} }}
"""


def write_net(tmp_path, type_, param=""):
    path = tmp_path / "net.prototxt"
    path.write_text(BROKEN_NET.format(type=type_, param=param))
    return str(path)


def single_line_error(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message and len(message) < 300, message
    assert excinfo.value.detail  # the full log stays available
    return message


def test_unknown_layer_type_is_one_clear_error_and_we_survive(tmp_path):
    net = write_net(tmp_path, "Foo")
    with pytest.raises(Pt2CaffeError) as excinfo:
        launch.run_pycaffe(net, None, {"data": np.zeros((1, 3, 8, 8))})
    message = single_line_error(excinfo)
    assert message.startswith(f"Caffe failed to load {net}: ")
    assert message.endswith(": Unknown layer type: Foo")  # without the list of known types


def test_unknown_field_is_one_clear_error(tmp_path):
    net = write_net(tmp_path, "Pooling", 'pooling_param { pool: MAX kernel_size: 2 round_mode: CEIL }')
    with pytest.raises(Pt2CaffeError) as excinfo:
        launch.run_pycaffe(net, None, {"data": np.zeros((1, 3, 8, 8))})
    message = single_line_error(excinfo)
    assert message.startswith(f"Caffe failed to load {net}: ")
    assert 'Message type "caffe.PoolingParameter" has no field named "round_mode"' in message


def test_input_that_does_not_fit_the_net_fails_at_run(ssd_inputs):
    inputs = dict(ssd_inputs, feat=np.zeros((1, 22, 4, 4), np.float32))  # conf: 6, not 12
    with pytest.raises(Pt2CaffeError) as excinfo:
        launch.run_pycaffe(SSD_HEAD, None, inputs)
    assert single_line_error(excinfo).startswith(
        f"Caffe failed to run {SSD_HEAD}: Number of priors must match number of "
        "confidence predictions.")


def test_opencv_unknown_layer_is_one_clear_error(tmp_path):
    net = write_net(tmp_path, "Foo")
    with pytest.raises(Pt2CaffeError) as excinfo:
        launch.run_opencv(net, None, {"data": np.zeros((1, 3, 8, 8))})
    # OpenCV creates the layers on the first forward pass, so the failure comes at "run".
    assert single_line_error(excinfo) == \
        f'OpenCV failed to run {net}: Can\'t create layer "bad" of type "Foo" in function \'getLayerInstance\''


def test_missing_files_are_reported_before_running(tmp_path):
    with pytest.raises(Pt2CaffeError, match="prototxt not found"):
        launch.run_pycaffe(str(tmp_path / "none.prototxt"), None, {})
    with pytest.raises(Pt2CaffeError, match="caffemodel not found"):
        launch.run_opencv(SSD_HEAD, str(tmp_path / "none.caffemodel"), {})


def test_missing_build_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setenv("PT2CAFFE_CAFFE_HOME", str(tmp_path / "no-caffe"))
    with pytest.raises(Pt2CaffeError, match=r"bash scripts/build_caffe\.sh"):
        reference_caffe.caffe_pythonpath()
    monkeypatch.delenv("PT2CAFFE_CAFFE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))  # no pointer file there
    with pytest.raises(Pt2CaffeError, match=r"not built .*bash scripts/build_caffe\.sh"):
        reference_caffe.caffe_pythonpath()


def test_own_pycaffe_replaces_the_reference(tmp_path, monkeypatch, ssd_inputs):
    monkeypatch.setenv("PT2CAFFE_PYCAFFE", str(tmp_path))
    with pytest.raises(Pt2CaffeError, match=r"PT2CAFFE_PYCAFFE=.* holds no caffe package"):
        reference_caffe.caffe_pythonpath()
    reference = Path(reference_caffe.caffe_home()) / "python"
    monkeypatch.setenv("PT2CAFFE_PYCAFFE", str(reference))
    assert reference_caffe.caffe_pythonpath() == str(reference)
    assert reference_caffe.caffe_description() == "your own pycaffe (PT2CAFFE_PYCAFFE)"
    assert "detection_out" in launch.run_pycaffe(SSD_HEAD, None, ssd_inputs)


def test_caffe_pythonpath_holds_pycaffe():
    path = Path(reference_caffe.caffe_pythonpath())
    assert (path / "caffe" / "__init__.py").is_file() and (path / "caffe" / "_caffe.so").exists()


def test_blob_names_with_any_character_round_trip(tmp_path):
    arrays = {"conv1/relu": np.arange(3.0), "a.b:0": np.ones((2, 2)), "names": np.zeros(1)}
    worker.save_arrays(tmp_path / "x.npz", arrays)
    back = worker.load_arrays(tmp_path / "x.npz")
    assert list(back) == list(arrays)
    for name in arrays:
        np.testing.assert_array_equal(back[name], arrays[name])


def test_failure_reason_prefers_the_parse_error_then_the_fatal_line():
    log = (
        "[libprotobuf ERROR google/protobuf/text_format.cc:335] Error parsing text-format "
        'caffe.NetParameter: 3:60: Message type "caffe.LayerParameter" has no field named "x".\n'
        "F1121 21:35:00.123456  4242 upgrade_proto.cpp:88] Check failed: "
        "ReadProtoFromTextFile(param_file, param) Failed to parse NetParameter file: n.prototxt\n"
        "*** Check failure stack trace: ***\n"
    )
    assert launch.failure_reason(log).endswith('has no field named "x".')
    fatal = ("W1121 warning\nF20261121 21:35:00.123456  4242 layer_factory.hpp:81] Check failed: "
             "registry.count(type) == 1 (0 vs. 1) Unknown layer type: Foo (known types: A, B)\n")
    assert launch.failure_reason(fatal) == "Unknown layer type: Foo"
    sizes = "F1121 21:35:00.123456 42 x.cpp:9] Check failed: a == b (64 vs. 256) Must match.\n"
    assert launch.failure_reason(sizes) == "Must match. (64 vs. 256)"
    bare = "F1121 21:35:00.123456 42 x.cpp:9] Check failed: a == b (0 vs. 1) \n"
    assert launch.failure_reason(bare) == "Check failed: a == b (0 vs. 1)"
    opencv = ("##pt2caffe-error error: OpenCV(4.14.0) /io/x.cpp:108: error: (-2:Unspecified "
              "error) Can't create layer \"bad\" of type \"Foo\" in function 'f'\n")
    assert launch.failure_reason(opencv) == "Can't create layer \"bad\" of type \"Foo\" in function 'f'"
    assert launch.failure_reason("nothing useful\n") == ""


def test_opencv_backend_refuses_an_uncut_detection_output(tmp_path):
    """keep_top_k -1 makes OpenCV 4.14 corrupt its heap: the check backend says so instead of crashing."""
    from pt2caffe.runtimes import backends

    net = tmp_path / "uncut.prototxt"
    net.write_text(Path(SSD_HEAD).read_text().replace("keep_top_k: 20", "keep_top_k: -1"))
    assert "keep_top_k: -1" in net.read_text()
    with pytest.raises(Pt2CaffeError, match="keep_top_k -1"):
        backends.run_net("opencv", str(net), None, {}, ["detection_out"])
