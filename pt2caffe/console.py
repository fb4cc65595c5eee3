"""Progress for long work: one status line on stderr, rewritten in place, only on a terminal.

When stderr is not a TTY (CI, pipes, log files) nothing is written at all, so logs hold only
the results.
"""
from __future__ import annotations

import shutil
import sys
import time


class Progress:
    def __init__(self, stream=None, *, interval: float = 0.1):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval  # seconds between two updates of a counter
        self._shown = 0  # length of the line on screen
        self._last = 0.0

    def step(self, message: str) -> None:
        """Show what is being done now."""
        self._show(message)

    def count(self, message: str, done: int, total: int) -> None:
        """Show ``message done/total``, at most every ``interval`` seconds and at the end."""
        now = time.monotonic()
        if done == total or now - self._last >= self.interval:
            self._last = now
            self._show(f"{message} {done}/{total}")

    def clear(self) -> None:
        """Remove the status line (before printing results)."""
        self._show("")

    def _show(self, text: str) -> None:
        if not self.enabled:
            return
        text = text[:shutil.get_terminal_size().columns - 1]  # a wrapped line cannot be rewritten
        self.stream.write("\r" + text.ljust(self._shown) + ("\r" if not text else ""))
        self.stream.flush()
        self._shown = len(text)


def print_note(text: str, progress: Progress | None = None) -> None:
    """``pt2caffe: note: TEXT`` on stderr (after clearing ``progress``'s status line): something the user should
    know that does not stop the command."""
    if progress is not None:
        progress.clear()
    print(f"pt2caffe: note: {text}", file=sys.stderr)
