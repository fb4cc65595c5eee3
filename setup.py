"""Packaging for pt2caffe. The reference Caffe used by the tests is built by scripts/build_caffe.sh."""

from setuptools import find_packages, setup

setup(
    name="pt2caffe",
    version="0.1.0",
    description="Export PyTorch models to Caffe prototxt + caffemodel and check them in real Caffe",
    packages=find_packages(include=["pt2caffe", "pt2caffe.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.0,<3",
        "numpy",
        "protobuf>=3.20",
        "pyyaml",
        "graphviz",
        "onnx>=1.14",  # the ONNX front end reads .onnx files with it
    ],
    extras_require={
        "onnx": ["onnxruntime"],  # check's independent reference for ONNX exports
        "test": ["pytest", "opencv-python-headless<5", "six", "mnn==3.6.1", "onnxruntime"],
        # scripts/deploy_benchmark.py: the ONNX route (torch.onnx.export + onnxsim) in the same runtimes
        "benchmark": ["onnxsim>=0.4", "opencv-python-headless<5", "mnn==3.6.1"],
    },
    entry_points={"console_scripts": ["pt2caffe = pt2caffe.__main__:entry"]},
)
