"""The one exception type users see: its message is a single line naming the problem and where."""
from __future__ import annotations

import re
import reprlib

MESSAGE_LIMIT = 2000  # characters of one error line; a longer text is cut (see one_line)

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8
_REPR.maxlevel = 3
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Pt2CaffeError(Exception):
    """A problem in the user's input (model, weights, config, files) or in the target Caffe.

    The CLI prints ``str(error)`` as one line and exits non-zero; ``detail`` holds
    extra text shown only with ``--verbose``.
    """

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


def short(value) -> str:
    """A bounded repr of a user's value for an error message (about 60 characters per item, 8 items, 3
    levels deep): built piece by piece, so a huge list is never turned into one huge string."""
    return _REPR.repr(value)


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` as one line: whitespace runs (newlines too) become one space, terminal colour codes go,
    and anything past ``limit`` characters is replaced by " …"."""
    text = " ".join(ANSI_ESCAPE.sub("", text[:limit * 2]).split())
    return text if len(text) <= limit else text[:limit] + " …"
