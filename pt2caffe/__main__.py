"""``python -m pt2caffe`` and the ``pt2caffe`` console script: the command line with Ctrl-C answered in one
line from the first moment.

While the command starts (argument parsing, then numpy and torch imported with the command's module) a
Ctrl-C ends the process at once with ``pt2caffe: interrupted`` and exit code 130: a KeyboardInterrupt raised
inside a C extension's initialisation is not recoverable (torch's turns into ``std::terminate``, SIGABRT,
exit 134; numpy's into a misleading ImportError), and nothing is written yet. Once the command runs, Ctrl-C
is Python's KeyboardInterrupt again, which ``pt2caffe.cli.main`` turns into the same line after the
command's cleanup. After the command returns, Ctrl-C no longer changes the exit code.
"""
import os
import signal
import sys


def _interrupted_while_starting(signum, frame) -> None:
    os.write(2, b"pt2caffe: interrupted\n")
    os._exit(130)


def entry() -> int:
    """The console script (setup.py ``entry_points``)."""
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    from .cli import main

    code = main(started=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(entry())
