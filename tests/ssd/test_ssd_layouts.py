"""SSD from the two repository layouts, clip true and false, batch 1 and 2, in pycaffe and OpenCV.

* ssd.pytorch layout: tests/data/tiny_ssd.py (``loc``/``conf`` ModuleLists, forward returning
  ``(loc, conf, priors)``), configs as ssd.yml and as ``config.py:NAME``;
* pytorch-ssd layout: examples/mobilenet_ssd (MobileNetV1-SSD-Lite, ``regression_headers`` /
  ``classification_headers`` of Sequentials, container sources, forward returning
  ``(confidences, locations)``), config as a pytorch-ssd module.

Expected values come from the repository-style code written in the examples (ssd.pytorch's
PriorBox/Detect in examples/ssd/model.py, pytorch-ssd's generate_ssd_priors/hard_nms in
examples/mobilenet_ssd/vision), never from pt2caffe.ssd.
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pt2caffe.cli import main as cli
from pt2caffe.runtimes.launch import run_opencv, run_pycaffe
from pt2caffe.net.proto import read_prototxt
from pt2caffe.ssd import load_config

ROOT = Path(__file__).parents[2]
TINY = Path(__file__).parents[1] / "data" / "tiny_ssd.py"
MOBILE = ROOT / "examples" / "mobilenet_ssd"
MOBILE_CONFIG = MOBILE / "vision" / "ssd" / "config" / "mobilenetv1_ssd_config.py"
ENGINES = {"pycaffe": run_pycaffe, "opencv": run_opencv}
TOLERANCE = 1e-4


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tiny = load_module(TINY, "tiny_ssd_for_layout_tests")


def run_ok(argv) -> None:
    assert cli([str(arg) for arg in argv]) == 0


def caffe_rows(array: np.ndarray) -> np.ndarray:
    """Detection rows of either runtime in Caffe's order (OpenCV sorts by score and pads with zero rows)."""
    rows = array.reshape(-1, 7).astype(np.float64)
    rows = rows[(rows[:, 1] >= 0) & (rows[:, 2] > 0)]
    return rows[np.lexsort((-rows[:, 2], rows[:, 1], rows[:, 0]))]


def assert_same_detections(got: np.ndarray, expected: np.ndarray) -> dict:
    got, expected = caffe_rows(got), caffe_rows(np.asarray(expected, dtype=np.float64))
    assert len(expected) > 0 and got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_array_equal(got[:, :2], expected[:, :2])  # images and labels
    scores, boxes = np.abs(got[:, 2] - expected[:, 2]).max(), np.abs(got[:, 3:] - expected[:, 3:]).max()
    assert scores <= TOLERANCE and boxes <= TOLERANCE, (scores, boxes)
    return {"rows": len(got), "score": float(scores), "box": float(boxes)}


def assert_priors(runtime_priors: np.ndarray, corners: np.ndarray, variance) -> float:
    priors = runtime_priors.reshape(2, -1)
    gap = float(np.abs(priors[0] - corners.reshape(-1)).max())
    assert gap <= 1e-6
    np.testing.assert_allclose(priors[1], np.tile(np.repeat(variance, 2), len(corners)), rtol=1e-6)
    return gap


# --- ssd.pytorch layout ----------------------------------------------------------------------------

def tiny_images(batch: int) -> np.ndarray:
    return torch.cat([tiny.example.example_input(seed)[:, :, :32, :32] for seed in range(1, batch + 1)]).numpy()


@pytest.fixture(scope="module", params=[False, True], ids=["clip-false", "clip-true"])
def tiny_export(request, tmp_path_factory):
    """The tiny ssd.pytorch net returning (loc, conf, priors), exported with a config.py:NAME dict."""
    clip, directory = request.param, tmp_path_factory.mktemp("tiny_layout")
    torch.save(tiny.build_model().state_dict(), directory / "tiny.pth")
    detection = {key: value for key, value in tiny.CONFIG["detection"].items() if key != "keep_top_k"}
    # ssd.pytorch's data/config.py style: a dict with tuples and training keys, pasted as it is
    (directory / "config.py").write_text(f"tiny = {dict(tiny.CONFIG, clip=clip, detection=detection, name='TINY', lr_steps=(80, 100), max_iter=120)!r}\n")
    entry = "build_train_phase_clip" if clip else "build_train_phase"
    run_ok(["run", TINY, directory / "tiny.pth", "--entry", entry, "--ssd", f"{directory / 'config.py'}:tiny",
            "-o", directory])
    return {"clip": clip, "dir": directory, "prototxt": str(directory / "TinySSD.prototxt"),
            "caffemodel": str(directory / "TinySSD.caffemodel"), "model": getattr(tiny, entry)()}


def test_tiny_export_has_no_parameter_layer_and_a_finite_keep_top_k(tiny_export):
    layers = read_prototxt(tiny_export["prototxt"]).layer
    types = [layer.type for layer in layers]
    assert "Parameter" not in types and "Silence" not in types and types.count("PriorBox") == 4
    count = sum(f * f * (2 + 2 * len(r)) for f, r in zip(tiny.CONFIG["feature_maps"], tiny.CONFIG["aspect_ratios"]))
    det = layers[-1].detection_output_param
    assert det.keep_top_k == 3 * min(tiny.CONFIG["detection"]["top_k"], count)  # (classes − 1) × min(top_k, P)
    assert ("mbox_priorbox_clamped" in [layer.name for layer in layers]) is tiny_export["clip"]
    report = json.loads((tiny_export["dir"] / "TinySSD.json").read_text())
    assert report["outputs"] == [{"name": "detection_out", "shape": [1, 1, -1, 7], "torch": None}]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("batch", [1, 2])
def test_tiny_priors_and_detections_equal_ssd_pytorch(tiny_export, engine, batch):
    model, images = tiny_export["model"], tiny_images(batch)
    example = tiny.example
    with torch.no_grad():
        loc, conf, priors = model(torch.from_numpy(images))
        detect = example.Detect(4, 0, tiny.CONFIG["detection"]["top_k"], tiny.CONFIG["detection"]["conf_thresh"],
                                tiny.CONFIG["detection"]["nms_thresh"], tiny.CONFIG["variance"])
        expected = example.detections_as_caffe(detect(loc, torch.softmax(conf, -1), priors), keep_top_k=-1)
    got = ENGINES[engine](tiny_export["prototxt"], tiny_export["caffemodel"], {"data": images},
                          ["mbox_priorbox", "detection_out"])
    assert_priors(got["mbox_priorbox"], example.point_form(priors).numpy(), tiny.CONFIG["variance"])
    assert_same_detections(got["detection_out"], expected)
    if batch == 2:
        assert set(caffe_rows(got["detection_out"])[:, 0]) == {0, 1}


def test_clip_true_changes_priors_that_caffe_clip_would_get_wrong():
    """The tiny net's clamp (what the clip-true export must reproduce) is not PriorBox's corner clip."""
    center = tiny.build_train_phase_clip().priors
    unclamped = tiny.example.PriorBox({**tiny.CONFIG, "clip": False}).forward()
    corner_clip = tiny.example.point_form(unclamped).clamp(0, 1)
    assert (tiny.example.point_form(center) - corner_clip).abs().max() > 0.01
    assert not torch.equal(center, unclamped)


@pytest.mark.parametrize("engine", ENGINES)
def test_check_runs_detection_output_in_both_runtimes(tiny_export, engine, capsys):
    code = cli(["check", str(tiny_export["dir"] / "TinySSD.json"), "--backend", engine])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "SSD OK: priors max|diff|" in out and "PyTorch decode + NMS" in out


def test_check_fails_when_detection_output_is_wrong(tiny_export, tmp_path, capsys):
    """A prototxt whose DetectionOutput keeps other boxes (NMS threshold 0.01) must not pass."""
    text = Path(tiny_export["prototxt"]).read_text().replace("nms_threshold: 0.45", "nms_threshold: 0.01")
    (tmp_path / "bad.prototxt").write_text(text)
    code = cli(["check", str(tiny_export["dir"] / "TinySSD.json"), "--prototxt", str(tmp_path / "bad.prototxt")])
    out = capsys.readouterr().out
    assert code == 1 and "SSD FAIL" in out and "not in the PyTorch decode" in out + "missing from the runtime"


# --- pytorch-ssd layout ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mobile_example(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mobilenet_ssd")
    sys.path.insert(0, str(MOBILE))
    try:
        make_weights = load_module(MOBILE / "make_weights.py", "mobilenet_ssd_make_weights_for_tests")
        state = make_weights.make_state_dict()
    finally:
        sys.path.remove(str(MOBILE))
    torch.save(state, directory / "weights.pth")
    return {"dir": directory, "state": state, "example": make_weights.example,
            "box_utils": make_weights.box_utils, "config": make_weights.config}


def unclamped_config_module(path: Path, config) -> str:
    """pytorch-ssd's config written out with ``clamp = False`` (a module outside any package)."""
    specs = ", ".join(f"SSDSpec({s.feature_map_size}, {s.shrinkage}, SSDBoxSizes({s.box_sizes.min}, "
                      f"{s.box_sizes.max}), {list(s.aspect_ratios)})" for s in config.specs)
    path.write_text("import collections\n"
                    "SSDBoxSizes = collections.namedtuple('SSDBoxSizes', ['min', 'max'])\n"
                    "SSDSpec = collections.namedtuple('SSDSpec', ['feature_map_size', 'shrinkage', 'box_sizes', "
                    "'aspect_ratios'])\n"
                    f"image_size = {config.image_size}\ncenter_variance = {config.center_variance}\n"
                    f"size_variance = {config.size_variance}\niou_threshold = {config.iou_threshold}\n"
                    f"specs = [{specs}]\nclamp = False\n")
    return str(path)


@pytest.fixture(scope="module", params=[True, False], ids=["clamp-true", "clamp-false"])
def mobile_export(request, mobile_example):
    clamp, directory = request.param, mobile_example["dir"] / f"clamp_{request.param}"
    config = MOBILE_CONFIG if clamp else unclamped_config_module(mobile_example["dir"] / "unclamped.py",
                                                                 mobile_example["config"])
    run_ok(["run", MOBILE / "model.py", mobile_example["dir"] / "weights.pth", "--ssd", config, "-o", directory])
    return {"clamp": clamp, "prototxt": str(directory / "SSD.prototxt"), "caffemodel": str(directory / "SSD.caffemodel"),
            "report": json.loads((directory / "SSD.json").read_text())}


def test_mobile_heads_and_sources_found_by_what_they_compute(mobile_export):
    report = mobile_export["report"]
    priorboxes = [layer for layer in report["layers"] if layer["type"] == "PriorBox"]
    assert [layer["bottoms"][0] for layer in priorboxes][:2] == ["base_net.11.5", "base_net.13.5"]
    assert report["ssd"]["num_classes"] == 21 and report["ssd"]["prior_count"] == 3000
    assert report["ssd"]["clamp_changes"] == 153  # of 3000 priors, what a Caffe export without the clamp gets wrong


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("batch", [1, 2])
def test_mobile_priors_and_detections_equal_pytorch_ssd(mobile_example, mobile_export, engine, batch):
    example, box_utils, config = mobile_example["example"], mobile_example["box_utils"], mobile_example["config"]
    net = example.build_test_model()
    net.load_state_dict(mobile_example["state"])
    net.priors = box_utils.generate_ssd_priors(config.specs, config.image_size, clamp=mobile_export["clamp"])
    images = torch.cat([example.example_input(seed) for seed in range(batch)])
    with torch.no_grad():
        scores, boxes = net(images)
    predict = sys.modules[type(net).__module__].predict
    expected = predict(scores, boxes).numpy()
    got = ENGINES[engine](mobile_export["prototxt"], mobile_export["caffemodel"], {"data": images.numpy()},
                          ["mbox_priorbox", "detection_out"])
    assert_priors(got["mbox_priorbox"], box_utils.center_form_to_corner_form(net.priors).numpy(),
                  [config.center_variance, config.size_variance])
    assert_same_detections(got["detection_out"], expected)


# --- configs in the user's own form ------------------------------------------------------------------

def test_pytorch_ssd_module_maps_to_ssd_pytorch_keys():
    config = load_config(str(MOBILE_CONFIG))
    assert (config.dialect, config.min_dim, config.feature_maps, config.steps) == \
        ("pytorch-ssd", 300, [19, 10, 5, 3, 2, 1], [16, 32, 64, 100, 150, 300])
    assert (config.min_sizes[0], config.max_sizes[-1], config.aspect_ratios[0]) == (60, 330, [2, 3])
    assert (config.variance, config.clip, config.detection["nms_thresh"]) == ([0.1, 0.2], True, 0.45)
    assert config.num_classes is None  # read from the conf head at export


def write_package_config(root: Path, body: str) -> str:
    """A config module inside a package tree that imports its helpers absolutely (pytorch-ssd's layout)."""
    for package in ("vision", "vision/utils", "vision/ssd", "vision/ssd/config"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "vision" / "utils" / "box_utils.py").write_text((MOBILE / "vision" / "utils" / "box_utils.py").read_text())
    path = root / "vision" / "ssd" / "config" / "my_config.py"
    path.write_text("from vision.utils.box_utils import SSDSpec, SSDBoxSizes, generate_ssd_priors\n" + body)
    return str(path)


GOOD_BODY = ("image_size = 300\ncenter_variance = 0.1\nsize_variance = 0.2\n"
             "specs = [SSDSpec(19, 16, SSDBoxSizes(60, 105), [2, 3]), SSDSpec(10, 32, SSDBoxSizes(105, 150), [2, 3])]\n")

PYTORCH_SSD_ERRORS = {
    "max below min": (GOOD_BODY.replace("SSDBoxSizes(105, 150)", "SSDBoxSizes(105, 90)"),
                      "specs[1].box_sizes.max (90) must be larger than specs[1].box_sizes.min (105)"),
    "missing variance": (GOOD_BODY.replace("size_variance = 0.2\n", ""), "missing size_variance"),
    "bad shrinkage": (GOOD_BODY.replace("SSDSpec(10, 32,", "SSDSpec(10, -32,"),
                      "specs[1].shrinkage must be a positive number, got -32"),
    "priors from another clamp": (GOOD_BODY + "clamp = True\npriors = generate_ssd_priors(specs, 300, clamp=False)\n",
                                  "priors differ from generate_ssd_priors(specs, image_size, clamp=True) by up to"),
    "bad clamp": (GOOD_BODY + "clamp = 'corners'\n", "clamp must be true, false or 'caffe'"),
}


@pytest.mark.parametrize("body,expected", PYTORCH_SSD_ERRORS.values(), ids=PYTORCH_SSD_ERRORS.keys())
def test_pytorch_ssd_config_errors_name_the_users_key(tmp_path, capsys, body, expected):
    path = write_package_config(tmp_path, body)
    out = tmp_path / "out"
    code = cli(["run", str(TINY), "unused.pth", "--ssd", path, "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and expected in err[0], err
    assert not out.exists()


def test_pytorch_ssd_priors_tell_the_clamp(tmp_path):
    path = write_package_config(tmp_path, GOOD_BODY + "priors = generate_ssd_priors(specs, image_size, clamp=False)\n")
    assert load_config(path).clip is False


def test_ssd_pytorch_dict_in_a_python_file(tmp_path):
    path = tmp_path / "config.py"
    path.write_text("voc = {'num_classes': 21, 'lr_steps': (80000, 100000, 120000), 'max_iter': 120000,\n"
                    " 'feature_maps': [38, 19, 10, 5, 3, 1], 'min_dim': 300, 'steps': [8, 16, 32, 64, 100, 300],\n"
                    " 'min_sizes': [30, 60, 111, 162, 213, 264], 'max_sizes': [60, 111, 162, 213, 264, 315],\n"
                    " 'aspect_ratios': [[2], [2, 3], [2, 3], [2, 3], [2], [2]], 'variance': [0.1, 0.2],\n"
                    " 'clip': True, 'name': 'VOC'}\n")
    config = load_config(f"{path}:voc")
    assert (config.prior_count, config.clip, config.num_classes) == (8732, True, 21)
    for spec, expected in ((f"{path}:coco", "has no dict named coco (found: voc)"),
                           (str(path), "no specs in")):
        with pytest.raises(Exception, match=expected.replace("(", r"\(").replace(")", r"\)")):
            load_config(spec)


def test_swapped_loc_and_conf_names_are_one_line(tmp_path, capsys):
    weights = tmp_path / "tiny.pth"
    torch.save(tiny.build_model().state_dict(), weights)
    config = tmp_path / "ssd.yml"
    config.write_text(yaml.safe_dump(dict(tiny.CONFIG, num_classes=5, loc="cat_1", conf="cat")))
    model = tmp_path / "five.py"
    model.write_text(f"import importlib.util\nspec = importlib.util.spec_from_file_location('t5', {str(TINY)!r})\n"
                     "tiny = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(tiny)\n"
                     "INPUT_SHAPE = tiny.INPUT_SHAPE\n"
                     "def build_model():\n    import torch\n    torch.manual_seed(0)\n"
                     "    return tiny.TinySSD(num_classes=5).eval()\n")
    torch.save(load_module(model, "five_for_tests").build_model().state_dict(), weights)
    code = cli(["run", str(model), str(weights), "--ssd", str(config), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "loc and conf look swapped: loc (blob cat_1) has 1860 = 372 × 5 values per image, conf (blob cat) " \
           "1488 = 372 × 4" in err[0]


def test_container_sources_are_their_last_ops_output(mobile_example, tmp_path, capsys):
    """pytorch-ssd's heads read whole Sequentials: sources may name them (base_net.11 = its last op's output)."""
    containers = ["base_net.11", "base_net.13", "extras.0", "extras.1", "extras.2", "extras.3"]
    path = unclamped_config_module(tmp_path / "with_sources.py", mobile_example["config"])
    with open(path, "a") as handle:
        handle.write(f"sources = {containers!r}\n")
    run_ok(["run", MOBILE / "model.py", mobile_example["dir"] / "weights.pth", "--ssd", path, "-o", tmp_path / "ok"])
    layers = read_prototxt(str(tmp_path / "ok" / "SSD.prototxt")).layer
    assert [layer.name for layer in layers if layer.type == "PriorBox"][:2] == \
        ["base_net.11_mbox_priorbox", "base_net.13_mbox_priorbox"]
    with open(path, "a") as handle:
        handle.write(f"sources = {['base_net.10', *containers[1:]]!r}\n")
    code = cli(["run", str(MOBILE / "model.py"), str(mobile_example["dir"] / "weights.pth"), "--ssd", path,
                "-o", str(tmp_path / "bad")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "sources[0] 'base_net.10' is not the feature map that regression_headers.0.2 reads" in err[0], err
    assert not (tmp_path / "bad").exists()
