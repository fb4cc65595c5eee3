"""A deployment target: a name, what it is, and its rules."""
from __future__ import annotations

from dataclasses import dataclass

from .rules import Rule


@dataclass(frozen=True)
class Target:
    """``name`` is what ``--target`` takes; ``what`` says which runtime or toolchain; ``rules`` are checked
    by pt2caffe.net.targets.lint.lint; ``checked_by`` names the runtime that proves it here (or None:
    lint only)."""

    name: str
    what: str
    rules: tuple[Rule, ...]
    checked_by: str | None = None
