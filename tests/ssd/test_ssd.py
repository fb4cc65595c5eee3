"""SSD export: ssd.yml validation, ``run --ssd``, ``add-priorbox``, and VGG16-SSD300 against PyTorch.

The SSD300 (examples/ssd) is exported once per session with deterministic weights built by
examples/ssd/make_weights.py, and run once in pycaffe and once in OpenCV for all comparisons.
Config errors and add-priorbox use the tiny model in tests/data/tiny_ssd.py (fast to trace).
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from helpers import relative_error
from pt2caffe.net import caffe_pb2
from pt2caffe.runtimes import launch
from pt2caffe.cli import main as cli
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.lowering.registry import is_atomic
from pt2caffe.runtimes.launch import run_opencv, run_pycaffe
from pt2caffe.net.proto import read_prototxt
from pt2caffe.ssd import load_config
from pt2caffe.frontends.torch.trace import trace

EXAMPLE = Path(__file__).parents[2] / "examples" / "ssd"
TINY = Path(__file__).parents[1] / "data" / "tiny_ssd.py"


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tiny = load_module(TINY, "tiny_ssd_for_tests")


def write_config(path: Path, base: dict, **changes) -> str:
    """``base`` with ``changes`` (a None value removes the key) as YAML at ``path``."""
    config = {key: value for key, value in {**base, **changes}.items() if value is not None}
    path.write_text(yaml.safe_dump(config))
    return str(path)


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = cli([str(arg) for arg in argv])
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, expected: str) -> None:
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pt2caffe: error: "), err
    assert expected in lines[0], lines[0]


# --- the tiny model: config errors, clip, fractional sizes, add-priorbox ------------------------------

@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.pth"
    torch.save(tiny.build_model().state_dict(), path)
    return path


BAD_CONFIGS = {
    "list lengths": ({"min_sizes": [6, 12, 20]}, "min_sizes has 3 entries, feature_maps has 4"),
    "sources length": ({"sources": ["L2Norm", "extras.0"]}, "feature_maps has 4 entries, sources has 2"),
    "unknown source": ({"sources": ["L2Norm", "extras.0", "extras.9", "extras.2"]}, "unknown source 'extras.9'"),
    "source in the wrong place": ({"sources": ["L2Norm", "extras.1", "extras.0", "extras.2"]},
                                  "sources[1] 'extras.1' is not the feature map that loc.1 reads"),
    "feature map size": ({"feature_maps": [8, 4, 3, 1]}, "feature_maps[2] is 3, but source 2 (extras.1) is 2×2"),
    "num_classes vs conf head": ({"num_classes": 5}, "num_classes 5 does not match the conf head: conf.0 has 16 "
                                                     "channels = 4 × 4 for 4 priors per cell"),
    "aspect ratios vs loc head": ({"aspect_ratios": [[2, 3], [2, 3], [2], [2]]},
                                  "aspect_ratios[0] gives 6 priors per cell (2 + 2 × 2), but loc.0 has 16 channels"),
    "non-positive size": ({"min_sizes": [6, 0, 20, 26]}, "min_sizes[1] must be a positive number, got 0"),
    "max not above min": ({"max_sizes": [12, 20, 20, 32]}, "max_sizes[2] (20) must be larger than min_sizes[2] (20)"),
    "duplicate ratio": ({"aspect_ratios": [[2, 0.5], [2, 3], [2], [2]]}, "aspect_ratios[0] repeats 0.5"),
    "unknown key": ({"min_size": 3}, "unknown key 'min_size' (did you mean min_sizes?)"),
    "missing key": ({"steps": None}, "missing key steps"),
    "variance": ({"variance": [0.1]}, "variance must be two numbers"),
    "detection value": ({"detection": {"nms_thresh": 0}}, "detection.nms_thresh must be a number in (0, 1]"),
    "clip value": ({"clip": "corners"}, "clip must be true, false or 'caffe' (Caffe's corner clip), got 'corners'"),
    "keep_top_k": ({"detection": {"keep_top_k": 0}}, "detection.keep_top_k must be -1 (no cut) or a positive integer"),
    "image size": ({"min_dim": 64}, "min_dim is 64, but the image input data is 32×32"),
}


@pytest.mark.parametrize("changes,expected", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config_is_one_line_and_nothing_is_written(tmp_path, tiny_weights, capsys, changes, expected):
    config = write_config(tmp_path / "ssd.yml", tiny.CONFIG, **changes)
    out = tmp_path / "out"
    code, err = run_cli(["run", TINY, tiny_weights, "--ssd", config, "-o", out], capsys)
    assert_one_line_error(code, err, f"{config}: {expected}")
    assert not out.exists()


def test_clip_true_counts_the_priors_the_clamp_changes(tmp_path):
    """ssd.pytorch's own VOC config: the clamp of (cx, cy, w, h) changes 134 of 8732 priors (w or h > 1)."""
    from pt2caffe.ssd.priors import clamp_changes
    config = write_config(tmp_path / "voc.yml", yaml.safe_load((EXAMPLE / "ssd.yml").read_text()), clip=True)
    changed, largest = clamp_changes(load_config(config))
    assert changed == 134 and 0.1 < largest < 0.13


def reference_priors(config: dict) -> np.ndarray:
    """ssd.pytorch's priors (the example's PriorBox, with its clip) in corner form, as Caffe's first channel."""
    example = tiny.example
    return example.point_form(example.PriorBox(config).forward()).numpy().reshape(-1)


def export_tiny(tmp_path, weights, capsys, **changes) -> tuple[str, str, str]:
    """Run --ssd on the tiny model with CONFIG + ``changes``; the prototxt, caffemodel and stderr."""
    config = write_config(tmp_path / "ssd.yml", tiny.CONFIG, **changes)
    code, err = run_cli(["run", TINY, weights, "--ssd", config, "-o", tmp_path], capsys)
    assert code == 0, err
    return str(tmp_path / "TinySSD.prototxt"), str(tmp_path / "TinySSD.caffemodel"), err


def tiny_priors(prototxt: str, caffemodel: str, engine) -> np.ndarray:
    feeds = {"data": tiny.example.example_input(0)[:, :, :32, :32].numpy()}
    return engine(prototxt, caffemodel, feeds, ["mbox_priorbox"])["mbox_priorbox"].reshape(2, -1)[0]


@pytest.mark.parametrize("clip", [True, "caffe"])
def test_clip_in_pycaffe_and_opencv(tmp_path, tiny_weights, capsys, clip):
    """clip: true is ssd.pytorch's clamp (PriorBox without clip + the exact clamp), clip: caffe PriorBox's own."""
    changes = {"min_sizes": [6, 12, 20, 26], "max_sizes": [12, 20, 26, 40], "clip": clip}
    prototxt, caffemodel, _ = export_tiny(tmp_path, tiny_weights, capsys, **changes)
    params = [layer.prior_box_param for layer in read_prototxt(prototxt).layer if layer.type == "PriorBox"]
    assert all(p.clip is (clip == "caffe") and not p.HasField("img_size") for p in params)
    if clip is True:
        expected = reference_priors({**tiny.CONFIG, **changes})
    else:
        unclamped = tiny.example.PriorBox({**tiny.CONFIG, **changes, "clip": False}).forward()
        expected = tiny.example.point_form(unclamped).clamp(0, 1).numpy().reshape(-1)
    for engine in (run_pycaffe, run_opencv):
        assert np.abs(tiny_priors(prototxt, caffemodel, engine) - expected).max() <= 1e-6


def test_fractional_sizes_are_scaled_for_caffe_versions_that_cast_them_to_int(tmp_path, tiny_weights, capsys):
    changes = {"min_sizes": [2.5, 4, 8, 16], "max_sizes": [3, 6.5, 12, 24]}
    prototxt, caffemodel, err = export_tiny(tmp_path, tiny_weights, capsys, **changes)
    params = [layer.prior_box_param for layer in read_prototxt(prototxt).layer if layer.type == "PriorBox"]
    assert [(p.min_size[0], p.max_size[0], p.img_size, p.step) for p in params][:2] == [(5, 6, 64, 8), (8, 13, 64, 16)]
    assert "multiplied by 2 (img_size 64)" in err and "OpenCV ignores img_size" in err
    expected = reference_priors({**tiny.CONFIG, **changes})
    assert np.abs(tiny_priors(prototxt, caffemodel, run_pycaffe) - expected).max() <= 1e-6


def test_add_priorbox_on_a_plain_export_equals_run_ssd(tmp_path, tiny_weights, capsys):
    plain, full = tmp_path / "plain", tmp_path / "full"
    assert run_cli(["run", TINY, tiny_weights, "-o", plain], capsys)[0] == 0
    config = write_config(tmp_path / "ssd.yml", tiny.CONFIG)
    assert run_cli(["run", TINY, tiny_weights, "--ssd", config, "-o", full], capsys)[0] == 0
    outputs = json.loads((plain / "TinySSD.json").read_text())["outputs"]
    assert [o["name"] for o in outputs] == ["cat", "cat_1"]
    add_config = write_config(tmp_path / "add.yml", tiny.CONFIG, prototxt="plain/TinySSD.prototxt",
                              sources=["L2Norm", "relu", "relu_1", "relu_2"])
    code, err = run_cli(["add-priorbox", add_config, "--loc", "cat", "--conf", "cat_1",
                         "-o", tmp_path / "head.prototxt"], capsys)
    assert code == 0, err
    feeds = {"data": tiny.example.example_input(1)[:, :, :32, :32].numpy()}
    names = ["mbox_priorbox", "detection_out"]
    added = run_pycaffe(str(tmp_path / "head.prototxt"), str(plain / "TinySSD.caffemodel"), feeds, names)
    exported = run_pycaffe(str(full / "TinySSD.prototxt"), str(full / "TinySSD.caffemodel"), feeds, names)
    assert added["detection_out"].shape[2] == tiny.CONFIG["detection"]["keep_top_k"]  # the cut is exercised
    for name in names:
        np.testing.assert_array_equal(added[name], exported[name])
    assert np.abs(added["mbox_priorbox"][0, 0] - reference_priors(tiny.CONFIG)).max() <= 1e-6


def test_add_priorbox_without_pycaffe_flattens_a_per_prior_loc(tmp_path, tiny_weights, capsys, monkeypatch):
    """When the shape probe cannot run, loc's shape is unknown: its Flatten is still written, so that
    DetectionOutput gets (N, P·4) from a per-prior (N, P, 4) loc, and the detections are run --ssd's."""
    plain, full = tmp_path / "plain", tmp_path / "full"
    assert run_cli(["run", TINY, tiny_weights, "--entry", "build_train_phase", "-o", plain], capsys)[0] == 0
    assert run_cli(["run", TINY, tiny_weights, "--ssd", write_config(tmp_path / "ssd.yml", tiny.CONFIG),
                    "-o", full], capsys)[0] == 0
    add_config = write_config(tmp_path / "add.yml", tiny.CONFIG, prototxt="plain/TinySSD.prototxt",
                              sources=["L2Norm", "relu", "relu_1", "relu_2"])

    def no_caffe(*args, **kwargs):
        raise Pt2CaffeError("reference Caffe not found")

    monkeypatch.setattr(launch, "run_pycaffe", no_caffe)
    code, err = run_cli(["add-priorbox", add_config, "--loc", "view_8", "--conf", "view_9",
                         "-o", tmp_path / "head.prototxt"], capsys)
    assert code == 0, err
    assert err == "pt2caffe: note: feature map sizes and loc/conf sizes not checked (reference Caffe not found)\n"
    feeds = {"data": tiny.example.example_input(1)[:, :, :32, :32].numpy()}
    added = run_pycaffe(str(tmp_path / "head.prototxt"), str(plain / "TinySSD.caffemodel"), feeds, ["detection_out"])
    exported = run_pycaffe(str(full / "TinySSD.prototxt"), str(full / "TinySSD.caffemodel"), feeds, ["detection_out"])
    assert added["detection_out"].shape[2] > 0
    np.testing.assert_array_equal(added["detection_out"], exported["detection_out"])


def test_per_prior_outputs_are_flattened_for_detection_output(tmp_path, tiny_weights, capsys):
    """A forward whose other branch returns (N, P, 4), (N, P, classes) and the priors gets the same detections."""
    config = write_config(tmp_path / "ssd.yml", tiny.CONFIG)
    feeds = {"data": tiny.example.example_input(1)[:, :, :32, :32].numpy()}
    detections = []
    for entry in ("build_model", "build_train_phase"):
        out = tmp_path / entry
        code, err = run_cli(["run", TINY, tiny_weights, "--entry", entry, "--ssd", config, "-o", out], capsys)
        assert code == 0, err
        caffe = run_pycaffe(str(out / "TinySSD.prototxt"), str(out / "TinySSD.caffemodel"), feeds, ["detection_out"])
        detections.append(caffe["detection_out"])
    assert "mbox_loc_flatten" in (tmp_path / "build_train_phase" / "TinySSD.prototxt").read_text()
    np.testing.assert_array_equal(*detections)


def test_add_priorbox_errors_write_nothing(tmp_path, tiny_weights, capsys):
    assert run_cli(["run", TINY, tiny_weights, "--ssd", write_config(tmp_path / "ssd.yml", tiny.CONFIG),
                    "-o", tmp_path], capsys)[0] == 0
    prototxt, output = tmp_path / "TinySSD.prototxt", tmp_path / "head.prototxt"
    cases = [
        (["L2Norm", "relu", "nope", "relu_2"], "cat", prototxt, "sources[2]: no blob named 'nope'"),
        (["L2Norm", "relu", "relu_1", "relu_2"], "cat", prototxt, "already has a PriorBox layer"),
        (None, "cat", prototxt, "add-priorbox needs sources"),
    ]
    for sources, loc, net, expected in cases:
        config = write_config(tmp_path / "add.yml", tiny.CONFIG, sources=sources)
        code, err = run_cli(["add-priorbox", config, "--prototxt", net, "--loc", loc, "--conf", "cat_1",
                             "-o", output], capsys)
        assert_one_line_error(code, err, expected)
        assert not output.exists()


# --- VGG16-SSD300 against PyTorch --------------------------------------------------------------------

@pytest.fixture(scope="session")
def ssd300(tmp_path_factory):
    """Export examples/ssd with `pt2caffe run --ssd`, run it once in pycaffe and OpenCV, and the PyTorch side."""
    directory = tmp_path_factory.mktemp("ssd300")
    make_weights = load_module(EXAMPLE / "make_weights.py", "ssd_make_weights_for_tests")
    example = make_weights.ssd_model
    state, _ = make_weights.make_state_dict()
    torch.save(state, directory / "ssd300.pth")
    code = cli(["run", str(EXAMPLE / "model.py"), str(directory / "ssd300.pth"), "--ssd", str(EXAMPLE / "ssd.yml"),
                "-o", str(directory)])
    assert code == 0
    report = json.loads((directory / "SSD.json").read_text())
    model = example.build_model("export")
    model.load_state_dict(state)
    image = example.example_input(0)
    graph = trace(model, [image], capture=True, is_atomic=is_atomic)
    model.phase = "test"
    with torch.no_grad():
        detections = example.detections_as_caffe(model(image), keep_top_k=example.VOC_CFG["detection"]["keep_top_k"])
    prototxt, caffemodel = str(directory / "SSD.prototxt"), str(directory / "SSD.caffemodel")
    heads = ["mbox_priorbox", "detection_out"]
    feeds = {"data": image.numpy()}
    return {
        "report": report, "prototxt": prototxt, "example": example,
        "torch": {row["blob"]: graph.values[row["value"]].tensor.numpy() for row in report["blobs"]},
        "detections": detections,
        "priors": example.point_form(example.PriorBox(example.VOC_CFG).forward()).numpy().reshape(-1),
        "caffe": run_pycaffe(prototxt, caffemodel, feeds, [row["blob"] for row in report["blobs"]] + heads),
        "opencv": run_opencv(prototxt, caffemodel, feeds, heads),
    }


def test_ssd300_prototxt_is_a_stock_ssd_deploy_net(ssd300):
    layers = read_prototxt(ssd300["prototxt"]).layer
    types = [layer.type for layer in layers]
    assert types.count("Normalize") == 1 and types.count("PriorBox") == 6 and types[-1] == "DetectionOutput"
    assert "Silence" not in types
    norm = next(layer.norm_param for layer in layers if layer.type == "Normalize")
    assert (norm.across_spatial, norm.channel_shared) == (False, False)
    steps = [layer.prior_box_param.step for layer in layers if layer.type == "PriorBox"]
    assert steps == [8, 16, 32, 64, 100, 300]
    assert all(layer.prior_box_param.HasField("clip") for layer in layers if layer.type == "PriorBox")
    det = layers[-1].detection_output_param
    assert det.code_type == caffe_pb2.PriorBoxParameter.CENTER_SIZE
    assert det.HasField("nms_param") and det.keep_top_k == 200 and det.num_classes == 21
    assert ssd300["report"]["outputs"] == [{"name": "detection_out", "shape": [1, 1, -1, 7], "torch": None}]


def test_ssd300_blobs_match_pytorch(ssd300):
    errors = {name: relative_error(ssd300["caffe"][name], reference) for name, reference in ssd300["torch"].items()}
    assert len(errors) > 60 and {"L2Norm", "cat", "cat_1"} <= set(errors)
    assert max(errors.values()) <= 1e-4, sorted(errors.items(), key=lambda item: -item[1])[:3]


@pytest.mark.parametrize("engine", ["caffe", "opencv"])
def test_ssd300_priors_equal_ssd_pytorch(ssd300, engine):
    priors = ssd300[engine]["mbox_priorbox"].reshape(2, -1)
    assert np.abs(priors[0] - ssd300["priors"]).max() <= 1e-6
    np.testing.assert_allclose(priors[1], np.tile([0.1, 0.1, 0.2, 0.2], 8732), rtol=1e-6)


def by_label_then_score(rows: np.ndarray) -> np.ndarray:
    """OpenCV orders all detections by score and pads to keep_top_k with zero rows; Caffe groups by label."""
    rows = rows[rows[:, 2] > 0]
    return rows[np.lexsort((-rows[:, 2], rows[:, 1]))]


@pytest.mark.parametrize("engine", ["caffe", "opencv"])
def test_ssd300_detections_equal_ssd_pytorch(ssd300, engine):
    got, expected = ssd300[engine]["detection_out"][0, 0], ssd300["detections"]
    if engine == "opencv":
        got = by_label_then_score(got)
    assert len(expected) == 8 and got.shape == expected.shape
    np.testing.assert_array_equal(got[:, :2], expected[:, :2])  # image ids, labels (Caffe: in this order)
    assert np.abs(got[:, 2] - expected[:, 2]).max() <= 1e-4  # scores
    assert np.abs(got[:, 3:] - expected[:, 3:]).max() <= 1e-4  # boxes
