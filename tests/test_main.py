"""``python -m pt2caffe`` / the console script (pt2caffe/__main__.py): Ctrl-C at any moment of a `run` is one
line, exit code 130, and no partial output."""
import os
import signal
import subprocess
import sys
import time

import pytest

MODEL_PY = """
from torch import nn
INPUT_SHAPE = (1, 3, 16, 16)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x).relu()


def build_model():
    return TinyNet()
"""

# The console entry point, announcing on stderr when it has taken over SIGINT (its first act).
ANNOUNCING = '''
import signal, sys
real_signal, announced = signal.signal, []

def announcing(signum, handler):
    previous = real_signal(signum, handler)
    if signum == signal.SIGINT and not announced:
        announced.append(True)
        sys.stderr.write("entered\\n")
        sys.stderr.flush()
    return previous

signal.signal = announcing
import pt2caffe.__main__ as program
sys.exit(program.entry())
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import torch

    root = tmp_path_factory.mktemp("interrupted")
    (root / "model.py").write_text(MODEL_PY)
    namespace = {}
    exec(compile(MODEL_PY, "model.py", "exec"), namespace)
    torch.save(namespace["build_model"]().state_dict(), root / "weights.pth")
    return root


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.3, 1.0, 3.0])
def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(project, delay):
    """0 s lands in argument parsing or the numpy/torch imports (where a KeyboardInterrupt used to abort
    the process inside torch's C++ initialisation, exit 134, or print a traceback), later ones in loading,
    tracing or writing; a run that finished first exits 0 with its files."""
    out = project / f"out{delay}"
    child = subprocess.Popen([sys.executable, "-c", ANNOUNCING, "run", str(project / "model.py"),
                              str(project / "weights.pth"), "-o", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stderr.readline() == "entered\n"
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=300)
    written = sorted(os.listdir(out)) if out.exists() else []
    if child.returncode == 0:
        assert written == ["TinyNet.caffemodel", "TinyNet.json", "TinyNet.prototxt"]
    else:
        assert (child.returncode, err, written) == (130, "pt2caffe: interrupted\n", [])
