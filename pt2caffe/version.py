"""The package version: what ``pt2caffe.__version__`` and every conversion report's "pt2caffe" field say."""
__version__ = "0.1.0"
