"""Caffe models with seeded random weights, made once per session in pycaffe (a child process)."""
import os
import subprocess
import sys

import pytest

from pt2caffe.runtimes.launch import worker_environment

HERE = os.path.dirname(os.path.abspath(__file__))
NETS = os.path.join(HERE, "..", "data", "caffe_nets")


def make_caffemodel(prototxt: str, out: str, seed: int = 1) -> str:
    """``out``: the net with the weights fill_caffemodel.py gives it (pycaffe, child process)."""
    done = subprocess.run([sys.executable, os.path.join(HERE, "fill_caffemodel.py"), prototxt, out, str(seed)],
                          env=worker_environment("caffe"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def caffe_model(tmp_path_factory):
    """name → (prototxt, caffemodel) of a public net in tests/data/caffe_nets, made on first use."""
    made = {}
    folder = tmp_path_factory.mktemp("caffe_nets")

    def get(name: str):
        if name not in made:
            prototxt = os.path.join(NETS, f"{name}.prototxt")
            made[name] = (prototxt, make_caffemodel(prototxt, str(folder / f"{name}.caffemodel")))
        return made[name]
    return get
