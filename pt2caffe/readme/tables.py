"""Generated tables in a text file (the README): the part between two marker lines is rewritten."""
from __future__ import annotations

from typing import Callable


def with_block(text: str, begin: str, end: str, body: str) -> str:
    """``text`` with what stands between the ``begin`` and ``end`` markers replaced by ``body``.

    Raises ValueError when a marker is missing."""
    start, stop = text.index(begin) + len(begin), text.index(end)
    return text[:start] + "\n" + body + "\n" + text[stop:]


def block_writer(begin: str, end: str, body: Callable[[], str]) -> Callable[[str], str]:
    """``transform(text)``: the text with what stands between the markers replaced by ``body()``."""
    return lambda text: with_block(text, begin, end, body())


def rewrite(path: str, transform: Callable[[str], str]) -> None:
    """Replace the UTF-8 file at ``path`` by ``transform`` of its content."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(transform(text))
