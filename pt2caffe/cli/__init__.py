"""The command line: ``pt2caffe run | check | lint | import | add-priorbox | doctor``.

Every failure prints one line (``pt2caffe: error: ...``) and exits 1; ``--verbose`` adds the detail. The
line is cut at errors.MESSAGE_LIMIT characters and has no terminal colour codes (torch puts some in its
messages).
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from ..check.drawing import parse_formats
from ..errors import Pt2CaffeError, one_line
from ..runtimes.backends import BACKENDS
from ..runtimes.docker import DEFAULT_IMAGE


def _shape_argument(text: str) -> str:
    """--input-shape's value, checked while parsing (a malformed one is a usage error, exit 2); an ONNX
    model's input may be named (``NAME=N,C,H,W``)."""
    from ..frontends.torch.shapes import parse_shape  # imports torch: only when the option is given

    try:
        parse_shape(text.rpartition("=")[2])
    except Pt2CaffeError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _entry_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entry", default="build_model", help="function in MODEL.py that returns the nn.Module")


def _common_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-shape", action="append", metavar="[NAME=]N,C,H,W", type=_shape_argument,
                        help="shape of one model input; repeat for several inputs (default: INPUT_SHAPE in MODEL.py, "
                             "or an ONNX file's declared dims; NAME= picks an ONNX input by name); for 'run', more "
                             "groups of one shape per input write one net per group")
    _entry_argument(parser)
    parser.add_argument("--unsafe-pickle", action="store_true",
                        help="allow WEIGHTS.pth to be a whole pickled model (runs code from the file: trust it)")
    parser.add_argument("--non-strict", action="store_true",
                        help="load the matching weights even if some keys are missing or unexpected")


def _graph_formats(text: str) -> list[str]:
    """--graph-format's value, checked while parsing: a typo fails before anything is done or written."""
    try:
        return parse_formats(text)
    except Pt2CaffeError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _graph_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--graph", action="store_true",
                        help=f"{what} with graphviz (plain .dot when graphviz's 'dot' is missing)")
    parser.add_argument("--graph-format", type=_graph_formats, default="svg", metavar="svg,png",
                        help="picture format(s) for --graph: svg (default), png or svg,png")


def _run_parser(commands) -> None:
    parser = commands.add_parser(
        "run", help="trace MODEL.py (or read MODEL.onnx) and export an exact Caffe net",
        description="Trace the model once, lower every op to layers of the target Caffe and write "
                    "OUTDIR/NAME.prototxt, NAME.caffemodel and the conversion report NAME.json. MODEL.onnx: an ONNX "
                    "file (its weights inside, external data beside it) instead of MODEL.py WEIGHTS.pth.")
    parser.add_argument("model", metavar="MODEL.py|MODEL.onnx")
    parser.add_argument("weights", metavar="WEIGHTS.pth", nargs="?", help="the weights of MODEL.py (none for MODEL.onnx)")
    _common_model_arguments(parser)
    parser.add_argument("-o", "--outdir", help="output directory (default: the model file's directory)")
    parser.add_argument("--name", help="file and net name (default: the model's class name, or the ONNX file's name)")
    parser.add_argument("--ssd", metavar="CONFIG",
                        help="append PriorBox + DetectionOutput from an SSD config: ssd.yml, config.py:voc (a dict "
                             "with ssd.pytorch keys) or a pytorch-ssd config module config.py")
    _target_argument(parser, "the toolchain or runtime the export is for: its forms obey that target's rules, "
                             "or the export fails naming the op and the rule (default: portable, reported only)")
    _graph_argument(parser, "also draw the net")
    parser.set_defaults(handler="pt2caffe.cli.run:main")


def _target_argument(parser: argparse.ArgumentParser, what: str, **kwargs) -> None:
    from ..net.targets import TARGETS

    parser.add_argument("--target", choices=sorted(TARGETS), help=what, **kwargs)


def _lint_parser(commands) -> None:
    parser = commands.add_parser(
        "lint", help="check a prototxt against a target's published rules",
        description="Infer the blob shapes of NET.prototxt as Caffe does and report every layer that breaks a rule "
                    "of the target, with the rule and its source; exit 1 when anything does.")
    parser.add_argument("prototxt", metavar="NET.prototxt")
    _target_argument(parser, "the toolchain or runtime whose rules apply", required=True)
    parser.set_defaults(handler="pt2caffe.cli.lint:main")


def _check_parser(commands) -> None:
    parser = commands.add_parser(
        "check", help="compare every Caffe blob with PyTorch, layer by layer",
        description="Run the PyTorch model and the Caffe net on the same input and compare every blob "
                    "that has a PyTorch counterpart; name the first layer out of tolerance.")
    parser.add_argument("sources", nargs="+", metavar="NAME.json | MODEL.py WEIGHTS.pth | MODEL.onnx",
                        help="the report written by 'run', the model file and its weights, or the ONNX file")
    _common_model_arguments(parser)
    parser.add_argument("--prototxt", help="the Caffe net (default: from NAME.json)")
    parser.add_argument("--caffemodel", help="the Caffe weights (default: from NAME.json)")
    parser.add_argument("--input", metavar="FILE.npy|IMAGE", help="input data (default: random, non-zero)")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="Caffe runtime: the reference pycaffe (default when built), OpenCV's dnn, MNN, "
                             "pycaffe inside the Docker image, or Rockchip's RKNN simulator (its outputs, judged "
                             "against the model's ONNX through RKNN; scripts/install_rknn.sh)")
    parser.add_argument("--docker-image", default=DEFAULT_IMAGE, metavar="IMAGE",
                        help=f"image for --backend docker (default: {DEFAULT_IMAGE})")
    parser.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance")
    parser.add_argument("--rtol", type=float, default=1e-4, help="tolerance relative to the blob's max |value|")
    parser.add_argument("--json", metavar="OUT.json", help="write the comparison as JSON")
    parser.add_argument("--all", action="store_true", help="print every compared blob, not just the first divergence")
    _graph_argument(parser, "draw the net coloured by verdict")
    parser.set_defaults(handler="pt2caffe.check.command:main")


def _priorbox_parser(commands) -> None:
    parser = commands.add_parser(
        "add-priorbox", help="append PriorBox + DetectionOutput (SSD) to an existing prototxt",
        description="Read an SSD config (ssd.pytorch keys) and append one PriorBox per source, the conf "
                    "Softmax and DetectionOutput to a deploy prototxt. The caffemodel needs no change.")
    parser.add_argument("config", metavar="CONFIG", help="ssd.yml, config.py:NAME or a pytorch-ssd config module")
    parser.add_argument("--prototxt", help="input prototxt (default: 'prototxt' in the config)")
    parser.add_argument("--loc", help="blob with the flat box regressions (default: from the config)")
    parser.add_argument("--conf", help="blob with the flat class scores (default: from the config)")
    parser.add_argument("-o", "--output", help="output prototxt (default: 'output' in the config)")
    parser.set_defaults(handler="pt2caffe.ssd:main")


def _import_parser(commands) -> None:
    parser = commands.add_parser(
        "import", help="load a Caffe model's weights into your PyTorch definition, exactly",
        description="Pair the layers of NET.prototxt with the model of MODEL.py by data flow, undo Caffe's "
                    "conventions, prove on one input that both compute the same numbers, and write OUT.pth "
                    "(a state_dict for load_state_dict(strict=True)) and OUT.map.txt (where each key came from).")
    parser.add_argument("prototxt", metavar="NET.prototxt")
    parser.add_argument("caffemodel", metavar="NET.caffemodel")
    parser.add_argument("model", metavar="MODEL.py")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.pth", help="the state_dict to write")
    _entry_argument(parser)
    parser.add_argument("--input-shape", action="append", metavar="N,C,H,W", type=_shape_argument,
                        help="shape of one model input; repeat for several inputs (default: INPUT_SHAPE in MODEL.py)")
    parser.add_argument("--map", metavar="MAP.txt",
                        help="pairings to use: lines 'KEY <- CAFFE_LAYER' (an edited OUT.map.txt, or only some lines)")
    parser.add_argument("--input", metavar="FILE.npy|IMAGE", help="input data for the proof (default: random, non-zero)")
    parser.set_defaults(handler="pt2caffe.cli.import_model:main")


def _caffe_worker_parser(commands) -> None:
    """Hidden: what ``check --backend docker`` runs inside the container (no help, so not listed)."""
    parser = commands.add_parser("_caffe-worker", description="Run a net in pycaffe: a request from "
                                 "REQUEST.json and INPUTS.npz, the blobs to OUTPUTS.npz.")
    parser.add_argument("request", metavar="REQUEST.json")
    parser.add_argument("inputs", metavar="INPUTS.npz")
    parser.add_argument("outputs", metavar="OUTPUTS.npz")
    parser.set_defaults(handler="pt2caffe.runtimes.docker:worker_main")


def _doctor_parser(commands) -> None:
    parser = commands.add_parser("doctor", help="say where the reference Caffe is and how to import it")
    parser.set_defaults(handler="pt2caffe.cli.doctor:main")


VERBOSE_HELP = "show the detail behind an error"


def build_parser() -> argparse.ArgumentParser:
    """The parser; ``--verbose`` goes before or after the command (each command's copy has no default of its
    own, so it does not reset the first)."""
    parser = argparse.ArgumentParser(prog="pt2caffe", description="Export PyTorch models to Caffe, exactly.")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_run_parser, _check_parser, _lint_parser, _import_parser, _priorbox_parser, _doctor_parser,
                _caffe_worker_parser):
        add(commands)
    for command in commands.choices.values():
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return parser


def _handler(spec: str):
    import importlib

    module_name, function = spec.split(":")
    return getattr(importlib.import_module(module_name), function)


def _unexpected(error: BaseException) -> Pt2CaffeError:
    """A failure no handler foresaw, as one line (the traceback goes to --verbose)."""
    import traceback

    detail = "".join(traceback.format_exception(error))
    if isinstance(error, MemoryError):
        return Pt2CaffeError("out of memory (a smaller --input-shape or model may fit)", detail)
    if isinstance(error, OSError) and error.strerror:
        where = f" {error.filename}" if error.filename else ""
        return Pt2CaffeError(f"input/output error{where}: {error.strerror}", detail)
    return Pt2CaffeError(f"internal error: {type(error).__name__}: {error} (run with --verbose for the traceback "
                         "and please report it)", detail)


def main(argv: list[str] | None = None, *, started: Callable[[], object] | None = None) -> int:
    """Parse ``argv``, import the command's module, call ``started()`` (the console entry point's cue that
    the start-up imports are done: pt2caffe.__main__), run the command. Every failure is one line on stderr
    and exit code 1 (2 for bad arguments, from argparse; 130 for Ctrl-C)."""
    verbose = False
    try:
        args = build_parser().parse_args(argv)
        verbose = args.verbose
        handler = _handler(args.handler)
        if started is not None:
            started()
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("pt2caffe: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the last line of defence: never a traceback
        failure = error if isinstance(error, Pt2CaffeError) else _unexpected(error)
        print(f"pt2caffe: error: {one_line(str(failure))}", file=sys.stderr)
        if verbose and failure.detail:
            print(failure.detail, file=sys.stderr)
        return 1
