"""``pt2caffe doctor``: where the reference Caffe is, how to import it, and what else is available."""
from __future__ import annotations

import shutil
import subprocess
import sys

from ..runtimes.launch import worker_environment
from ..runtimes.reference_caffe import caffe_description, caffe_pythonpath


def _import_check() -> str:
    """Import pycaffe in a child process (a broken build must not take this one down), in the
    environment that run_pycaffe gives its worker."""
    code = "import caffe, os; print(os.path.dirname(caffe.__file__))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=worker_environment("caffe"))
    if result.returncode == 0:
        return f"ok ({result.stdout.strip()})"
    return "FAILED: " + (result.stderr.strip().splitlines() or ["no output"])[-1]


def _opencv_version() -> str:
    try:
        import cv2
    except ImportError:
        return "not installed (pip install 'opencv-python-headless<5' for the opencv backend)"
    return cv2.__version__


def main(args) -> int:
    pythonpath = caffe_pythonpath()  # one clear error if Caffe is not built
    status = _import_check()
    print(f"reference Caffe: {pythonpath}")
    print(f"built from:      {caffe_description()}")
    print(f"import caffe:    {status}")
    print(f"OpenCV dnn:      {_opencv_version()}")
    print(f"graphviz dot:    {shutil.which('dot') or 'not found (drawings are written as .dot)'}")
    print("to use pycaffe yourself:")
    print(f"  export PYTHONPATH={pythonpath}${{PYTHONPATH:+:$PYTHONPATH}}")
    return 0 if status.startswith("ok") else 1
